import ArgumentParser
import Dispatch
import Glibc
import Tasker
import TaskerSystem

struct Run: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Create a task, stream its output, and exit with its exit code.",
    discussion: """
      Takes the options of create. The task's stdout and stderr are copied to tasker's as they come (and kept in its logs); Ctrl-C, SIGTERM, SIGHUP and SIGQUIT are passed on to the task. The exit code is the task's, or 128+N when signal N killed it; 125, 126 and 127 mean the task could not be started.

      -i passes tasker's stdin to the task (its EOF closes the task's stdin); -t gives the task a pseudo-terminal, and with -i on a terminal tasker's terminal is raw until the task ends (Ctrl-C is then a byte the task's terminal turns into SIGINT). On a terminal, ctrl-p,ctrl-q (--detach-keys) detaches: the task goes on, run exits 0.

      Examples:
        tasker run ./rootfs.tar.gz "echo hello"
        tasker run -it ./rootfs.tar.gz /bin/sh
        echo hi | tasker run -i ./rootfs.tar.gz cat
        tasker run --rm --env NAME=world ./rootfs.tar.gz -- /bin/sh -c 'echo $NAME'
      """)

  @OptionGroup var state: StateOptions
  @OptionGroup var options: CreateOptions

  @Flag(name: .long, help: "Remove the task (record, logs, directory) once it has ended.")
  var rm = false

  @Option(
    name: .customLong("detach-keys"),
    help: ArgumentHelp("With -i or -t: the keys that detach (podman's notation; \"\" for none).", valueName: "keys"))
  var detachKeys = "ctrl-p,ctrl-q"

  /// Shells that, with stdin at /dev/null, end at once.
  static let shells: Set<String> = ["sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "fish", "csh", "tcsh"]

  func validate() throws {
    try options.checkPlacement(in: Self.self)
    if TaskAttachment.parseDetachKeys(detachKeys) == nil {
      throw ValidationError("invalid --detach-keys \"\(detachKeys)\": use ctrl-X or single characters, comma-separated")
    }
  }

  func run() async throws {
    if options.interactive || options.tty { return try await runAttached() }
    // `tasker run IMAGE /bin/sh` at a terminal: the shell reads EOF and ends at once.
    if TerminalMode.isTerminal(STDIN_FILENO), let words = try? options.commandWords(), words.count == 1,
      let program = words[0].split(separator: "/").last, Self.shells.contains(String(program))
    {
      printError(
        "warning: the command's stdin is /dev/null, so this shell ends at once: use -it for an interactive one")
    }
    let (manager, handle) = try await options.createTask(state: state)
    let forwarding = SignalForwarding(
      manager: manager, id: handle.id.rawValue, endingForGood: options.restart.map { $0 != "no" } ?? false)
    defer { forwarding.stop() }
    // A reader that goes away (`tasker run ... | head -1`) must end the task as a pipeline
    // would, not leave it writing to its log forever: tasker takes EPIPE instead of dying of
    // SIGPIPE, passes SIGPIPE on to the task, and exits as a process killed by it would.
    signal(SIGPIPE, SIG_IGN)
    let final: TaskStatus
    do {
      final = try await manager.copyLogs(of: handle.id.rawValue, follow: true)
    } catch  where (error.cause as? SystemError)?.errno == EPIPE {
      try? manager.signal(handle.id.rawValue, signal: SIGPIPE)
      throw ExitCode(128 + SIGPIPE)
    } catch {
      printError(error.message)
      throw ExitCode(1)
    }
    if final.oomKilled { printError("task \(handle.id) ran out of memory: the kernel's OOM killer ended it") }
    if rm { _ = try? await manager.remove(handle.id.rawValue, force: true) }
    guard let code = final.shellExitStatus else {
      printError("task \(handle.id) ended without a recorded exit status")
      throw ExitCode(125)
    }
    throw ExitCode(code)
  }
}

extension Run {
  /// `run -i`, `run -t`: the task's streams through its attach socket.
  func runAttached() async throws {
    let (manager, handle) = try await options.createTask(state: state)
    let id = handle.id.rawValue
    let forwarding = SignalForwarding(manager: manager, id: id)
    defer { forwarding.stop() }
    signal(SIGPIPE, SIG_IGN)
    let ending: TaskAttachment.Ending
    var missedEverything = false  // the task ended before this run was let in
    do {
      let attachment = try manager.attach(to: id, replay: true)
      ending = try AttachSession.relay(
        attachment, passInput: options.interactive, detachKeys: TaskAttachment.parseDetachKeys(detachKeys) ?? [])
      missedEverything = ending == .lost && !attachment.heardFromSupervisor
    } catch let error as TaskerError where error.code == .notRunning {
      ending = .lost
      missedEverything = true
    } catch let error as SystemError where error.errno == EPIPE {
      try? manager.signal(id, signal: SIGPIPE)
      throw ExitCode(128 + SIGPIPE)
    } catch {
      printError("task \(handle.id): \(error)")
      throw ExitCode(1)
    }
    if ending == .detached { return }
    let final = try await reportingErrors { try await manager.wait(for: id) }
    // Ended before tasker could connect, or while its connection waited to be accepted: what
    // it wrote is in its logs.
    if missedEverything { _ = try? await manager.copyLogs(of: id, follow: false) }
    if rm { _ = try? await manager.remove(id, force: true) }
    throw ExitCode(AttachSession.exitCode(of: final, id: handle.id))
  }
}

/// Passes the signals a user sends to `tasker run` (Ctrl-C and friends) on to the task.
final class SignalForwarding {
  static let forwarded: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT]
  private let sources: [any DispatchSourceSignal]

  /// With `endingForGood`, a restart policy does not start the task again after the signal.
  init(manager: TaskManager, id: String, endingForGood: Bool = false) {
    sources = Self.forwarded.map { number in
      // The default action would end tasker and leave the task running unwatched.
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler {
        if endingForGood { try? manager.preventRestart(id) }
        try? manager.signal(id, signal: number)
      }
      source.resume()
      return source
    }
  }

  func stop() {
    for source in sources { source.cancel() }
  }
}
