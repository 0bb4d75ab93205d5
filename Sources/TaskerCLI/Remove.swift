import ArgumentParser
import Tasker

struct Remove: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "rm",
    abstract: "Remove tasks: record, logs and directory.",
    discussion: """
      A running task is refused unless --force, which first kills it and every process it started. Prints each removed ID.

      Examples:
        tasker rm 3f9c2a7b1e04
        tasker rm --force web 81c0
      """)

  @OptionGroup var state: StateOptions

  @Flag(name: [.short, .long], help: "Kill a running task (and all it started) first.")
  var force = false

  @Argument(help: "IDs, unique ID prefixes, or names.", completion: .taskIDs)
  var ids: [String]

  func validate() throws {
    if ids.isEmpty { throw ValidationError("give at least one task ID") }
  }

  func run() async throws {
    let manager = try await state.manager()
    try await reportEach(ids) { (id) throws(TaskerError) in try await manager.remove(id, force: force).rawValue }
  }
}
