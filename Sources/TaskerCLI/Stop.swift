import ArgumentParser
import Tasker

struct Stop: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Stop tasks: their stop signal, then SIGKILL after a timeout.",
    discussion: """
      Sends each task's stop signal (create's --stop-signal, default SIGTERM) to its command, and SIGKILL to everything the task started if it has not ended after --time seconds. Returns once the end is recorded; a restart policy does not start it again. Prints each ID. A task that has already ended is not an error.

      Examples:
        tasker stop 3f9c2a7b1e04
        tasker stop -t 2 web 81c0
      """)

  @OptionGroup var state: StateOptions

  @OptionGroup var stop: StopOptions

  func run() async throws {
    let manager = try await state.manager()
    try await reportEach(stop.ids) { (id) throws(TaskerError) in
      try await manager.stop(id, timeoutSeconds: stop.time).rawValue
    }
  }
}
