import ArgumentParser
import CTaskerShim
import Dispatch
import Glibc
import Tasker
import TaskerSystem

struct Exec: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run a command in a running task.",
    usage: "tasker exec [<options>] <id> <COMMAND> ...",
    discussion: """
      The command runs in every namespace and cgroup of the task, with the task's capabilities, seccomp filter and no_new_privs, in its root; it ends with the task and is no task of its own. Exits with the command's exit code (128+N for signal N; 125, 126, 127 when it could not be started). Its stdin is /dev/null unless -i. With -t it gets a terminal made inside the task, relayed by tasker (raw mode on tasker's own terminal while it runs); without -t, no descriptor of tasker's is handed into the task: its stdin (with -i), stdout and stderr are relayed through pipes. --user takes UID[:GID] or NAME[:GROUP], looked up in the task's /etc/passwd and /etc/group; without it, the task's own user.

      Examples:
        tasker exec web cat /etc/hostname
        tasker exec -it web sh
        tasker exec --env DEBUG=1 --workdir /tmp --user 1000:1000 web id
      """)

  @OptionGroup var state: StateOptions

  @Flag(name: [.short, .long], help: "Keep stdin open: the command reads tasker's stdin.")
  var interactive = false

  @Flag(name: [.short, .long], help: "Give the command a terminal (made inside the task).")
  var tty = false

  @Option(
    name: [.short, .long], parsing: .singleValue,
    help: ArgumentHelp("Set an environment variable (repeatable).", valueName: "K=V"))
  var env: [String] = []

  @Option(name: [.short, .long], help: ArgumentHelp("Working directory inside the task.", valueName: "dir"))
  var workdir: String?

  @Option(
    name: [.short, .long],
    help: ArgumentHelp("The user: UID[:GID] or NAME[:GROUP] (default: the task's own).", valueName: "user"))
  var user: String?

  @Argument(help: "The task's ID, unique ID prefix, or name.", completion: .taskIDs)
  var id: String

  @Argument(parsing: .captureForPassthrough, help: ArgumentHelp("The command and its arguments.", valueName: "COMMAND"))
  var command: [String] = []

  func validate() throws {
    if words.isEmpty { throw ValidationError("missing COMMAND") }
    _ = try environmentEntries()
  }

  /// As create's `--env`: `K=V` as it is, a bare `K` from tasker's own environment, `K*` every
  /// variable whose name starts with K.
  private func environmentEntries() throws -> [String] {
    let own = TaskerSettings.currentEnvironment()
    return try env.flatMap { entry in try CreateOptions.expand(entry, from: own) { "--env: \($0)" } }
  }

  private var words: [String] { command.first == "--" ? Array(command.dropFirst()) : command }

  func run() async throws {
    let manager = try await state.manager()
    var exec = TaskExec(command: words)
    exec.environment = try environmentEntries()
    exec.workdir = workdir
    exec.user = user
    // The process is left to us when its supervisor exits: we wait for it.
    _ = tasker_become_subreaper()
    signal(SIGPIPE, SIG_IGN)
    let relay = try ExecRelay(interactive: interactive, tty: tty)
    defer { relay.restoreTerminal() }
    if tty {
      exec.terminal = relay.windowSize
      exec.consoleSocket = relay.consoleSocket
    }
    exec.stdio = relay.childStdio
    let pid = try await reportingErrors(exitCode: createExitCode) { try manager.exec(id, exec) }
    relay.started()
    let status = relay.run(until: pid)
    relay.restoreTerminal()
    throw ExitCode(status)
  }
}

/// tasker exec's side of the process's stdio. A descriptor of a terminal of the host never goes
/// into the task (a process there could read it, or push input into it with TIOCSTI): with -t
/// the process gets a terminal of the task's own devpts, whose master this relays; without,
/// every stream of tasker's is replaced by a pipe this relays. Nothing of tasker's own is
/// handed over, files and pipes included: root in the task could reopen a descriptor the
/// process holds (`/proc/PID/fd/1`, read-write with CAP_DAC_OVERRIDE) and keep a host file the
/// user redirected into for good.
final class ExecRelay {
  /// What becomes the process's 0, 1 and 2.
  private(set) var childStdio: (Int32, Int32, Int32) = (-1, STDOUT_FILENO, STDERR_FILENO)
  /// Our end of the console socket (with -t) and the end the supervisor gets.
  private var console: (ours: Int32, theirs: Int32) = (-1, -1)
  var consoleSocket: Int32 { console.theirs }
  private var savedTerminal: termios?
  private let tty: Bool
  /// (from, to): bytes read on `from` are written to `to`; -1 to closes `from`'s partner.
  private var copies: [(from: Int32, to: Int32)] = []
  /// Ends of pipes that are the child's: closed here once it has them.
  private var childEnds: [Int32] = []
  private var windowSource: (any DispatchSourceSignal)?

  init(interactive: Bool, tty: Bool) throws {
    self.tty = tty
    if tty {
      var pair: [Int32] = [-1, -1]
      guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
        printError("cannot make the console socket: \(SystemError.describe(errno))")
        throw ExitCode(125)
      }
      console = (pair[0], pair[1])
      let devnull = open("/dev/null", O_RDWR | O_CLOEXEC)
      childStdio = (devnull, devnull, devnull)  // the terminal replaces them inside the task
      childEnds = [devnull]
      return
    }
    if interactive {
      childStdio.0 = try pipeInto(from: STDIN_FILENO)
    } else {
      let devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)
      childStdio.0 = devnull
      childEnds.append(devnull)
    }
    childStdio.1 = try pipeOut(to: STDOUT_FILENO)
    childStdio.2 = try pipeOut(to: STDERR_FILENO)
  }

  /// The size of tasker's terminal, for the one made inside the task.
  var windowSize: JailPlan.Terminal? {
    var rows: UInt16 = 0
    var columns: UInt16 = 0
    guard
      tasker_window_size(STDIN_FILENO, &rows, &columns) == 0 || tasker_window_size(STDOUT_FILENO, &rows, &columns) == 0
    else { return JailPlan.Terminal(rows: 24, columns: 80) }
    return JailPlan.Terminal(rows: Int(rows), columns: Int(columns))
  }

  private func pipeInto(from source: Int32) throws -> Int32 {
    var fds: [Int32] = [-1, -1]
    guard tasker_pipe_cloexec(&fds) == 0 else { throw ExitCode(125) }
    copies.append((source, fds[1]))
    childEnds.append(fds[0])
    return fds[0]
  }

  private func pipeOut(to destination: Int32) throws -> Int32 {
    var fds: [Int32] = [-1, -1]
    guard tasker_pipe_cloexec(&fds) == 0 else { throw ExitCode(125) }
    copies.append((fds[0], destination))
    childEnds.append(fds[1])
    return fds[1]
  }

  /// Once the process runs: our copies of its ends go (so its end of a pipe is the only one),
  /// and with -t the master arrives and tasker's terminal goes raw.
  func started() {
    for fd in childEnds { close(fd) }
    childEnds = []
    guard tty else { return }
    close(console.theirs)
    let master = tasker_receive_fd(console.ours)
    close(console.ours)
    guard master >= 0 else { return }
    if isatty(STDIN_FILENO) == 1 {
      var current = termios()
      if tcgetattr(STDIN_FILENO, &current) == 0 {
        savedTerminal = current
        var raw = current
        cfmakeraw(&raw)
        tcsetattr(STDIN_FILENO, TCSANOW, &raw)
      }
    }
    copies = [(STDIN_FILENO, master), (master, STDOUT_FILENO)]
    // The terminal's size follows tasker's.
    let source = DispatchSource.makeSignalSource(signal: SIGWINCH, queue: .global())
    signal(SIGWINCH, SIG_IGN)
    source.setEventHandler {
      var rows: UInt16 = 0
      var columns: UInt16 = 0
      if tasker_window_size(STDIN_FILENO, &rows, &columns) == 0 { _ = tasker_set_window_size(master, rows, columns) }
    }
    source.resume()
    windowSource = source
  }

  /// Copies until the process has ended and its output is drained; returns its exit status
  /// (128+N for signal N). Signals tasker gets (Ctrl-C without -t, SIGTERM, SIGHUP) are passed on.
  func run(until pid: Int32) -> Int32 {
    let forwarding = [SIGINT, SIGTERM, SIGHUP, SIGQUIT].map { number in
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler { kill(pid, number) }
      source.resume()
      return source
    }
    defer { for source in forwarding { source.cancel() } }
    var buffer = [UInt8](repeating: 0, count: 16 * 1024)
    var open = copies
    var exitStatus: Int32?
    while true {
      if exitStatus == nil {
        var status: Int32 = 0
        let done = waitpid(pid, &status, WNOHANG)
        if done == pid {
          exitStatus = status & 0x7f == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        } else if done < 0, errno == ECHILD {
          exitStatus = 255
        }
      }
      // Once it has ended, only what it left in the pipes (or the terminal) is copied.
      let outputs = open.filter { $0.from != STDIN_FILENO }
      if exitStatus != nil, outputs.isEmpty { break }
      var polled = (exitStatus == nil ? open : outputs).map { pollfd(fd: $0.from, events: Int16(POLLIN), revents: 0) }
      let ready = poll(&polled, nfds_t(polled.count), exitStatus == nil ? 50 : 100)
      if ready == 0, exitStatus != nil { break }
      if ready < 0 { continue }
      for entry in polled where entry.revents != 0 {
        guard let index = open.firstIndex(where: { $0.from == entry.fd }) else { continue }
        let n = read(entry.fd, &buffer, buffer.count)
        if n <= 0 {
          // EOF (or EIO on a terminal whose process is gone): the direction is done; our end
          // of stdin's pipe closes, so the process sees EOF.
          if open[index].from == STDIN_FILENO, open[index].to != STDIN_FILENO, !tty { close(open[index].to) }
          open.remove(at: index)
          continue
        }
        var offset = 0
        while offset < n {
          let written = buffer[offset..<n].withUnsafeBytes { write(open[index].to, $0.baseAddress, $0.count) }
          if written <= 0 { break }
          offset += written
        }
      }
    }
    return exitStatus ?? 255
  }

  /// Puts tasker's terminal back as it was (every exit path calls this; twice is harmless).
  func restoreTerminal() {
    windowSource?.cancel()
    if var saved = savedTerminal {
      tcsetattr(STDIN_FILENO, TCSANOW, &saved)
      savedTerminal = nil
    }
  }
}
