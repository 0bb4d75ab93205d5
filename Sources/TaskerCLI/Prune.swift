import ArgumentParser
import Tasker

struct Prune: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Remove cached images no task uses, and what killed creates left behind.",
    discussion: """
      Removes every cached image (see tasker images) that no task uses, and the remains of creates killed before they printed an ID (list removes those too). Tasks themselves are never touched: use rm.

      Examples:
        tasker prune
      """)

  @OptionGroup var state: StateOptions

  func run() async throws {
    let manager = try await state.manager()
    let pruned = manager.prune()
    let tasks = pruned.abandonedTasks
    let images = pruned.images.count
    print("removed \(tasks) half-made task\(tasks == 1 ? "" : "s"), \(images) unused image\(images == 1 ? "" : "s")")
  }
}
