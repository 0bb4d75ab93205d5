import ArgumentParser
import Glibc
import Tasker
import TaskerSystem

@main
struct TaskerCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tasker",
    abstract: "Run commands in jails made from root filesystem images fetched by URL.",
    discussion: """
      Examples:
        ID=$(tasker create http://127.0.0.1:8000/rootfs.tar.gz "sleep 30")
        tasker health_check $ID
        tasker send_signal $ID SIGINT
        tasker run ./rootfs.tar.zst "echo hello"
        tasker run -it ./rootfs.tar.zst /bin/sh
        tasker attach $ID
        tasker --root /srv/tasker list
        tasker logs --follow $ID
        tasker wait $ID
        tasker rm --force $ID

      State lives under --root (default /var/lib/tasker; for a user other than root $XDG_DATA_HOME/tasker, ~/.local/share/tasker); task directories are made in the download path (default: the current directory). Both options go before the command or after it (--download-path after it only for create and run).

      Shell completions (task IDs and names too):
        tasker --generate-completion-script bash|zsh|fish
      """,
    version: "tasker " + TaskerVersion.current,
    subcommands: [
      Create.self, Run.self, Exec.self, Attach.self, HealthCheck.self, SendSignal.self, Stop.self, Restart.self,
      List.self, Stats.self, Logs.self, Wait.self, Remove.self, Export.self, Pull.self, Images.self, Prune.self,
      Volume.self, Login.self, Logout.self,
    ]
  )

  // The global options, declared here for the help and the completion scripts only: main()
  // takes them off the command line before argument-parser sees it (it does not hand a
  // parent's options to its subcommands) and passes them on as `globalOptions` says; a
  // subcommand is parsed under `TaskerSubcommands`, which does not have them.
  @Option(
    name: .long,
    help: ArgumentHelp(
      "State root: task records and logs (env TASKER_ROOT; default /var/lib/tasker, for other users ~/.local/share/tasker).",
      valueName: "path"))
  var root: String?

  @Option(
    name: .customLong("download-path"),
    help: ArgumentHelp(
      "Where create and run make task directories (env TASKER_DOWNLOAD_PATH; default: the current directory).",
      valueName: "path"))
  var downloadPath: String?

  /// The global options (given before the command), each with the environment variable that
  /// carries it to every command: there it stands above `TASKER_ROOT` and the configuration
  /// file, and below the command's own `--root` (see TaskerSettings). One given before a
  /// command that does not use it (`--download-path` before `list`) is accepted, as the
  /// environment variable would be.
  static let globalOptions = ["root": "TASKER_ROOT", "download-path": "TASKER_DOWNLOAD_PATH"]

  /// Like argument-parser's own main, but a usage error is one line on stderr (the usage is one
  /// `--help` away), so every failure of tasker looks the same to a script and to a person.
  static func main() async {
    var arguments = Array(CommandLine.arguments.dropFirst())
    do {
      try takeGlobalOptions(from: &arguments)
      try checkCommandName(arguments)
      if let script = try completionScript(arguments) {
        print(script, terminator: script.hasSuffix("\n") ? "" : "\n")
        return
      }
      // A subcommand is parsed under a root without the global options: argument-parser lets
      // a parent's option appear after the subcommand, and would take the command's own
      // `--root` for the parent's (which nothing reads).
      let root: any ParsableCommand.Type =
        arguments.first.map { !$0.hasPrefix("-") && $0 != "help" } ?? false ? TaskerSubcommands.self : Self.self
      var command = try root.parseAsRoot(arguments)
      if command is any MakesTasks, geteuid() != 0 {
        do {
          try UserNamespace.enter()
        } catch {
          throw TaskerError(.startFailed, error.description, cause: error)
        }
      }
      if var asyncCommand = command as? any AsyncParsableCommand {
        try await asyncCommand.run()
      } else {
        try command.run()
      }
    } catch {
      let code = exitCode(for: error)
      if code == .success { exit(withError: error) }  // --help, --version: printed as usual
      let message = message(for: error)
      if !message.isEmpty {
        let hint = code == .validationFailure ? " (see tasker --help)" : ""
        printError(message.split(separator: "\n").joined(separator: " ") + hint)
      }
      exit(withError: ExitCode(code.rawValue))
    }
  }

  /// Takes `--root` and `--download-path` off the front of the command line into the
  /// environment.
  static func takeGlobalOptions(from arguments: inout [String]) throws {
    let taken: [LeadingOptions.Taken]
    do {
      taken = try LeadingOptions.take(from: &arguments, valued: Set(globalOptions.keys))
    } catch {
      throw ValidationError(error.message)
    }
    for option in taken {
      if let variable = globalOptions[option.name], let value = option.value { setenv(variable, value, 1) }
    }
  }

  /// Every name a subcommand answers to: names and aliases.
  static var commandNames: Set<String> {
    var names: Set<String> = ["help"]
    for command in configuration.subcommands {
      names.insert(command._commandName)
      names.formUnion(command.configuration.aliases)
    }
    return names
  }

  /// `tasker nosuch` and `tasker help nosuch` are errors (argument-parser's help would print
  /// the main help and succeed).
  static func checkCommandName(_ arguments: [String]) throws {
    guard let first = arguments.first, !first.hasPrefix("-") else { return }
    let names = commandNames
    for word in first == "help" ? arguments.prefix(2) : [first] where !names.contains(word) {
      throw ValidationError("unknown command \"\(word)\"")
    }
  }
}

/// A command that makes or removes what a task's jail is made of (roots, mounts, image files
/// with their owners): run by a user other than root, it runs in a user namespace of its own
/// (see `UserNamespace`), entered before the command starts any thread. The commands that only
/// read records or signal a task stay in the user's own namespace: the user owns their tasks'
/// namespaces from there.
protocol MakesTasks {}

extension Create: MakesTasks {}
extension Run: MakesTasks {}
extension Restart: MakesTasks {}
extension Pull: MakesTasks {}
extension Remove: MakesTasks {}
extension Prune: MakesTasks {}
extension VolumeCreate: MakesTasks {}
extension VolumeRemove: MakesTasks {}
extension Export: MakesTasks {}

/// tasker's commands under a root without options of its own: what a subcommand's command line
/// is parsed with (see `TaskerCommand.main`).
struct TaskerSubcommands: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: TaskerCommand.configuration.commandName, abstract: TaskerCommand.configuration.abstract,
    version: TaskerCommand.configuration.version, subcommands: TaskerCommand.configuration.subcommands)
}
