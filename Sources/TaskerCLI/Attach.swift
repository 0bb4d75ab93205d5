import ArgumentParser
import Glibc
import Tasker
import TaskerSystem

struct Attach: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Connect tasker's stdin, stdout and stderr to a running task made with -i or -t.",
    discussion: """
      Output from now on is shown (what came before is in tasker logs); with -i the task's stdin is fed from tasker's. On a terminal, ctrl-p,ctrl-q detaches (the task goes on and attach exits 0); --detach-keys changes the sequence ("" for none). When the task ends, attach exits with its exit code. Ctrl-C, SIGTERM, SIGHUP and SIGQUIT are passed on to it.

      Examples:
        ID=$(tasker create -it ./rootfs.tar.gz /bin/sh)
        tasker attach $ID
      """)

  @OptionGroup var state: StateOptions

  @Option(
    name: .customLong("detach-keys"),
    help: ArgumentHelp("The keys that detach (podman's notation; \"\" for none).", valueName: "keys"))
  var detachKeys = "ctrl-p,ctrl-q"

  @Argument(help: "The task's ID, unique ID prefix, or name.", completion: .taskIDs)
  var id: String

  func validate() throws {
    if TaskAttachment.parseDetachKeys(detachKeys) == nil {
      throw ValidationError("invalid --detach-keys \"\(detachKeys)\": use ctrl-X or single characters, comma-separated")
    }
  }

  func run() async throws {
    let manager = try await state.manager()
    let attachment = try await reportingErrors { try manager.attach(to: id) }
    let forwarding = SignalForwarding(manager: manager, id: attachment.id.rawValue)
    defer { forwarding.stop() }
    signal(SIGPIPE, SIG_IGN)
    let ending: TaskAttachment.Ending
    do {
      ending = try AttachSession.relay(
        attachment, passInput: attachment.interactive, detachKeys: TaskAttachment.parseDetachKeys(detachKeys) ?? [])
    } catch {
      printError("attach to task \(attachment.id): \(error)")
      throw ExitCode(1)
    }
    if ending == .detached { return }
    let final = try await reportingErrors { try await manager.wait(for: attachment.id.rawValue) }
    throw ExitCode(AttachSession.exitCode(of: final, id: attachment.id))
  }
}
