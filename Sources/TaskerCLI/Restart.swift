import ArgumentParser
import Tasker

struct Restart: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Stop tasks if they run, and start their commands again in the same root.",
    discussion: """
      Stops each task as stop does, then starts the same command with the same options and ID over the same root: what the task wrote is still there. Prints each ID.

      Examples:
        tasker restart web
      """)

  @OptionGroup var state: StateOptions

  @OptionGroup var stop: StopOptions

  func run() async throws {
    let manager = try await state.manager()
    try await reportEach(stop.ids) { (id) throws(TaskerError) in
      try await manager.restart(id, timeoutSeconds: stop.time).rawValue
    }
  }
}
