import ArgumentParser
import Tasker
import TaskerSystem

struct SendSignal: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "send_signal",
    abstract: "Send a signal to a task's command.",
    discussion: """
      SIGNAL is a name with or without SIG (SIGINT, INT) or a number (2). The signal has its default effect unless the command handles it. A task that has ended is an error.

      Examples:
        tasker send_signal 3f9c2a7b1e04 SIGINT
        tasker kill 3f9c2a7b1e04 9
      """,
    aliases: ["kill"])

  @OptionGroup var state: StateOptions

  @Argument(help: "The task's ID, unique ID prefix, or name.", completion: .taskIDs)
  var id: String

  @Argument(help: "The signal: SIGINT, INT or 2.")
  var signal: String

  func validate() throws {
    if Signals.parse(signal) == nil { throw ValidationError("unknown signal \"\(signal)\"") }
  }

  func run() async throws {
    guard let number = Signals.parse(signal) else { throw ValidationError("unknown signal \"\(signal)\"") }
    let manager = try await state.manager()
    try await reportingErrors { try manager.signal(id, signal: number) }
  }
}
