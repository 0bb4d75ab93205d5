import ArgumentParser
import Tasker

struct Logs: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print what a task wrote: its stdout on stdout, its stderr on stderr.",
    discussion: """
      Logs stay readable after the task ends, until rm. --follow keeps printing until the task ends.

      Examples:
        tasker logs 3f9c2a7b1e04
        tasker logs --follow web
      """)

  @OptionGroup var state: StateOptions

  @Flag(name: [.short, .long], help: "Keep printing new output until the task ends.")
  var follow = false

  @Argument(help: "The task's ID, unique ID prefix, or name.", completion: .taskIDs)
  var id: String

  func run() async throws {
    let manager = try await state.manager()
    try await reportingErrors { try await manager.copyLogs(of: id, follow: follow) }
  }
}
