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

  @Option(
    name: [.short, .customLong("time")], parsing: .unconditional,
    help: ArgumentHelp("Seconds to wait before SIGKILL (default 10).", valueName: "seconds"))
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
        print(try await manager.stop(id, timeoutSeconds: time))
      } catch {
        printError(error.message)
        failed = true
      }
    }
    if failed { throw ExitCode(1) }
  }
}
