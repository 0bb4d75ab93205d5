import ArgumentParser

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
        tasker list
        tasker logs --follow $ID
        tasker wait $ID
        tasker rm --force $ID

      State lives under --root (default /var/lib/tasker); task directories are made in the
      download path (default: the current directory). Shell completions:
      tasker --generate-completion-script bash|zsh|fish
      """,
    subcommands: [
      Create.self, Run.self, HealthCheck.self, SendSignal.self, List.self, Logs.self, Wait.self, Remove.self,
      Images.self, Prune.self, Stop.self, Restart.self, Exec.self, Stats.self, Export.self,
    ]
  )

  /// Like argument-parser's own main, but a usage error is one line on stderr (the usage is one
  /// `--help` away), so every failure of tasker looks the same to a script and to a person.
  static func main() async {
    do {
      var command = try parseAsRoot()
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
}
