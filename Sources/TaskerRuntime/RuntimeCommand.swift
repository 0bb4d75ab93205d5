import ArgumentParser
import Foundation
import Glibc
import Tasker

/// `tasker-runtime`: an OCI runtime with runc's command line, as containerd's runc shim (and
/// go-runc) drive it. Global options come before the command, as with runc:
///
///     tasker-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND ...
///
/// Errors are one line on stderr and, with --log, a line in the log file (JSON with
/// --log-format json, which is how the shim reads them); the exit status is 1, as runc's.
@main
struct RuntimeCommand {
  static func main() {
    var arguments = Array(CommandLine.arguments.dropFirst())
    do {
      globals = try Globals.parse(&arguments)
    } catch {
      fail(error)
    }
    if globals.debug { globals.log(level: "debug", "tasker-runtime " + arguments.joined(separator: " ")) }
    if arguments.first == "--version" || arguments.first == "-v" || arguments.first == "version" {
      print("tasker-runtime version \(Globals.version)\nspec: 1.0.2")
      return
    }
    if arguments.isEmpty || arguments.first == "--help" || arguments.first == "-h" || arguments.first == "help" {
      print(Globals.usage)
      return
    }
    let verb = arguments.removeFirst()
    guard let command = verbs[verb] else { fail(TaskerError(.invalidArgument, "unknown command \"\(verb)\"")) }
    // Containers of a user other than root are tasker's own (a user namespace per command, see
    // the README's Rootless); this runtime is containerd's, which runs as root.
    if geteuid() != 0, !["spec", "features"].contains(verb) {
      fail(
        TaskerError(
          .invalidArgument,
          "\(verb) needs root: tasker-runtime is containerd's OCI runtime and runs as root; as another user, use "
            + "tasker create/run (rootless)"))
    }
    do {
      var parsed = try command.parseAsRoot(arguments.map { Globals.doubleDash($0) })
      try parsed.run()
    } catch {
      let code = command.exitCode(for: error)
      if code == .success {
        command.exit(withError: error)
      }
      if let exit = error as? ExitCode { Glibc.exit(exit.rawValue) }
      if error is TaskerError { fail(error) }
      let message = command.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)"
      fail(TaskerError(.invalidArgument, message))
    }
  }

  static let verbs: [String: any ParsableCommand.Type] = [
    "create": Create.self, "start": Start.self, "run": Run.self, "state": State.self, "kill": Kill.self,
    "delete": Delete.self, "exec": Exec.self, "ps": Ps.self, "list": List.self, "pause": Pause.self,
    "resume": Resume.self, "update": Update.self, "features": Features.self, "spec": Spec.self,
  ]

  nonisolated(unsafe) static var globals = Globals()

  static var runtime: ContainerRuntime { ContainerRuntime(root: globals.root, supervisorPath: globals.supervisorPath) }

  /// One line on stderr (and in the log), exit status 1.
  static func fail(_ error: any Error) -> Never {
    let message = (error as? TaskerError)?.message ?? "\(error)"
    globals.log(level: "error", message)
    FileHandle.standardError.write(Data("tasker-runtime: \(message)\n".utf8))
    Glibc.exit(1)
  }
}

/// Options before the command.
struct Globals {
  static let version = TaskerVersion.current
  var root =
    getuid() == 0
    ? "/run/tasker-runtime"
    : (ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"].map { $0 + "/tasker-runtime" }
      ?? "/tmp/tasker-runtime-\(getuid())")
  var logFile: String?
  var logFormat = "text"
  var debug = false
  /// tasker-supervisor, next to this program (or TASKER_SUPERVISOR).
  var supervisorPath: String = {
    if let path = ProcessInfo.processInfo.environment["TASKER_SUPERVISOR"] { return path }
    let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return (me as NSString).deletingLastPathComponent + "/tasker-supervisor"
  }()

  static let usage = """
    usage: tasker-runtime [--root DIR] [--log FILE] [--log-format text|json] [--debug] COMMAND [ARGS...]

    An OCI runtime with runc's command line (containerd's runc shim drives it).

    commands:
      create --bundle DIR [--pid-file F] [--console-socket S] [--no-pivot] [--preserve-fds N] ID
      start ID                      release a created container
      run --bundle DIR [--detach] [--pid-file F] ID
      state ID                      the container's state (JSON)
      kill [--all] ID [SIGNAL]      signal the container's process (default SIGTERM)
      delete [--force] ID
      exec [--process F | ARGS...] [--tty] [--console-socket S] [--pid-file F] [--detach]
           [--cwd D] [--env K=V]... [--user UID[:GID]] ID
      ps [--format table|json] ID   the container's processes
      list [--format table|json] [--quiet]
      pause ID | resume ID          freeze and thaw the container's cgroup
      update --resources FILE|- ID  new cgroup limits (linux.resources JSON)
      features                      what this runtime supports (JSON)
      spec [--rootless] [--bundle DIR]   write a default config.json
      --version
    """

  /// Takes the global options off the front of `arguments`; any other option before the
  /// command is an error.
  static func parse(_ arguments: inout [String]) throws -> Globals {
    var globals = Globals()
    let taken = try LeadingOptions.take(
      from: &arguments, valued: ["root", "log", "log-format", "rootless", "criu"], flags: ["debug", "systemd-cgroup"],
      singleDash: true)
    for option in taken {
      switch option.name {
      case "root": globals.root = option.value ?? globals.root
      case "log": globals.logFile = option.value
      case "log-format":
        globals.logFormat = option.value ?? ""
        guard ["text", "json"].contains(globals.logFormat) else {
          throw TaskerError(.invalidArgument, "--log-format must be text or json")
        }
      case "debug": globals.debug = true
      case "systemd-cgroup":
        throw TaskerError(
          .invalidArgument,
          "--systemd-cgroup: tasker-runtime manages cgroups itself (cgroupfs); systemd's driver is not supported")
      default: break  // --rootless, --criu: runc's, with nothing to do here
      }
    }
    if let first = arguments.first, first.hasPrefix("-"), !["--version", "-v", "--help", "-h"].contains(first) {
      throw TaskerError(.invalidArgument, "unknown global option \(first)")
    }
    return globals
  }

  /// go's flag package takes `-bundle` for `--bundle`; argument-parser wants two dashes. Only
  /// runc's own option names are rewritten (a command's `-exec` stays as it is).
  static func doubleDash(_ argument: String) -> String {
    guard argument.hasPrefix("-"), !argument.hasPrefix("--") else { return argument }
    let name = argument.dropFirst().prefix { $0 != "=" }
    return longOptions.contains(String(name)) ? "-" + argument : argument
  }

  static let longOptions: Set<String> = [
    "bundle", "pid-file", "console-socket", "no-pivot", "no-new-keyring", "preserve-fds", "detach", "process",
    "tty", "cwd", "env", "user", "format", "force", "all", "resources", "rootless", "quiet", "keep", "additional-gids",
    "cap", "no-new-privs", "process-label", "apparmor", "cgroup", "pidfd-socket",
  ]

  func log(level: String, _ message: String) {
    guard let logFile else { return }
    let time = ISO8601DateFormatter().string(from: Date())
    let line: String
    if logFormat == "json" {
      let object = ["level": level, "msg": message, "time": time]
      let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
      line = String(decoding: data, as: UTF8.self) + "\n"
    } else {
      line = "time=\"\(time)\" level=\(level) msg=\"\(message.replacingOccurrences(of: "\"", with: "\\\""))\"\n"
    }
    let fd = open(logFile, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return }
    defer { close(fd) }
    let bytes = Array(line.utf8)
    _ = write(fd, bytes, bytes.count)
  }
}
