import CTaskerShim
import Dispatch
import Glibc
import Tasker
import TaskerSystem

/// The terminal settings to put back however tasker exits (`exit` runs atexit handlers; the
/// signals tasker handles never kill it: see SignalForwarding).
nonisolated(unsafe) private var terminalToRestore: TerminalMode?
nonisolated(unsafe) private var restoreRegistered = false

/// One session between tasker's own stdin, stdout and stderr and an attached task
/// (`run -i/-t`, `attach`).
enum AttachSession {
  /// Relays until the task ends or the detach keys are typed. With a terminal task and a
  /// terminal on tasker's stdin (and input passed), tasker's terminal is raw meanwhile (restored
  /// on every way out), and its size is sent at the start and on every SIGWINCH.
  static func relay(_ attachment: TaskAttachment, passInput: Bool, detachKeys: [UInt8]) throws(SystemError)
    -> TaskAttachment.Ending
  {
    let stdinIsTerminal = TerminalMode.isTerminal(STDIN_FILENO)
    var raw: TerminalMode?
    if attachment.terminal, passInput, stdinIsTerminal, let mode = TerminalMode.current(of: STDIN_FILENO) {
      terminalToRestore = mode
      if !restoreRegistered {
        restoreRegistered = true
        atexit { terminalToRestore?.restore() }
      }
      try mode.makeRaw()
      raw = mode
    }
    defer {
      raw?.restore()
      terminalToRestore = nil
    }
    var wake: [Int32] = [-1, -1]
    var winch: (any DispatchSourceSignal)?
    if attachment.terminal, let size = terminalSize() {
      attachment.resize(rows: size.rows, columns: size.columns)
      if tasker_pipe_cloexec(&wake) == 0 {
        let writeEnd = wake[1]
        signal(SIGWINCH, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGWINCH, queue: .global())
        source.setEventHandler { _ = write(writeEnd, "w", 1) }
        source.resume()
        winch = source
      }
    }
    defer {
      winch?.cancel()
      for fd in wake where fd >= 0 { close(fd) }
    }
    return try attachment.relay(
      input: passInput ? STDIN_FILENO : nil, stdout: STDOUT_FILENO, stderr: STDERR_FILENO,
      detachKeys: stdinIsTerminal ? detachKeys : [], wake: wake[0] >= 0 ? wake[0] : nil
    ) {
      if let size = terminalSize() { attachment.resize(rows: size.rows, columns: size.columns) }
    }
  }

  private static func terminalSize() -> (rows: Int, columns: Int)? {
    TerminalMode.size(of: STDIN_FILENO) ?? TerminalMode.size(of: STDOUT_FILENO)
  }

  /// The exit code `run` and `attach` give for how a session ended, once the task's status is
  /// known.
  static func exitCode(of status: TaskStatus, id: TaskID) -> Int32 {
    guard let code = status.shellExitStatus else {
      printError("task \(id) ended without a recorded exit status")
      return 125
    }
    return code
  }
}
