import ArgumentParser
import Tasker

struct Prune: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Remove what creates that were killed half-way left behind.",
    discussion: """
      A create killed before it printed an ID leaves a half-made directory; list and prune
      remove it (prune says how many). Tasks themselves are never touched: use rm.

      Examples:
        tasker prune
      """)

  @OptionGroup var state: StateOptions

  func run() async throws {
    let manager = try await state.manager()
    let removed = manager.prune()
    print("removed \(removed) half-made task\(removed == 1 ? "" : "s")")
  }
}
