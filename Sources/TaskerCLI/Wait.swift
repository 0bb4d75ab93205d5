import ArgumentParser
import Tasker

struct Wait: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Wait for a task to end; exit with its exit code.",
    discussion: """
      The exit code is the task's, or 128+N when signal N killed it. A task that already ended returns at once.

      Examples:
        tasker wait 3f9c2a7b1e04; echo "exited with $?"
      """)

  @OptionGroup var state: StateOptions

  @Argument(help: "The task's ID, unique ID prefix, or name.", completion: .taskIDs)
  var id: String

  func run() async throws {
    let manager = try await state.manager()
    let final = try await reportingErrors { try await manager.wait(for: id) }
    guard let code = final.shellExitStatus else {
      printError("task \(final.id) ended without a recorded exit status")
      throw ExitCode(125)
    }
    throw ExitCode(code)
  }
}
