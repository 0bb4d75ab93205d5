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

  @Option(
    name: [.short, .customLong("time")], parsing: .unconditional,
    help: ArgumentHelp("Seconds to wait before SIGKILL when stopping (default 10).", valueName: "seconds"))
  var time: Int = 10

  @Argument(help: "IDs, unique ID prefixes, or names.", completion: .taskIDs)
  var ids: [String]

  func validate() throws {
    if ids.isEmpty { throw ValidationError("give at least one task ID") }
    if time < 0 { throw ValidationError("--time must not be negative") }
  }

  func run() async throws {
    let manager = try await state.manager()
    var failed = false
    for id in ids {
      do {
        print(try await manager.restart(id, timeoutSeconds: time))
      } catch {
        printError(error.message)
        failed = true
      }
    }
    if failed { throw ExitCode(1) }
  }
}
