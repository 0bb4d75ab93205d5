import ArgumentParser
import Tasker

struct HealthCheck: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "health_check",
    abstract: "Say whether a task's process exists, and its kernel state.",
    discussion: """
      Prints "exists: True" and "status: <state>" (running, sleeping, disk-sleep, stopped, zombie, ...) while the command's process exists, "exists: False" and "status: None" once it has ended. An unknown ID is an error.

      Examples:
        tasker health_check 3f9c2a7b1e04
        tasker status --json 3f9c2a7b1e04
      """,
    aliases: ["status"])

  @OptionGroup var state: StateOptions

  @Flag(name: .long, help: "Print one JSON object (id, exists, status, pid, exitCode, signal, ...).")
  var json = false

  @Argument(help: "The task's ID, unique ID prefix, or name.", completion: .taskIDs)
  var id: String

  func run() async throws {
    let manager = try await state.manager()
    let status = try await reportingErrors { try manager.status(of: id) }
    print(json ? TaskerJSON.encode(status) : status.healthCheckText)
  }
}
