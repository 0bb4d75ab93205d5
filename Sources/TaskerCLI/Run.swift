import ArgumentParser
import Dispatch
import Glibc
import Tasker
import TaskerSystem

struct Run: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Create a task, stream its output, and exit with its exit code.",
    discussion: """
      Takes the options of create. The task's stdout and stderr are copied to tasker's as they
      come (and kept in its logs); Ctrl-C, SIGTERM, SIGHUP and SIGQUIT are passed on to the
      task. The exit code is the task's, or 128+N when signal N killed it; 125, 126 and 127
      mean the task could not be started.

      Examples:
        tasker run ./rootfs.tar.gz "echo hello"
        tasker run --env NAME=world http://127.0.0.1:8000/rootfs.tar.gz -- /bin/sh -c 'echo hello $NAME'
      """)

  @OptionGroup var state: StateOptions
  @OptionGroup var options: CreateOptions

  @Flag(name: .long, help: "Remove the task (record, logs, directory) once it has ended.")
  var rm = false

  func run() async throws {
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
