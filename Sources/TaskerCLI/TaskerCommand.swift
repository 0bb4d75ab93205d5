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
      Prune.self,
    ]
  )
}
