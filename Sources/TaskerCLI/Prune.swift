import ArgumentParser
import Tasker

struct Prune: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Remove cached images no task uses, and what killed creates left behind.",
    discussion: """
      Removes every cached image (see tasker images) that no task uses, the layers no remaining image has, and the remains of creates killed before they printed an ID (list removes those too). Tasks themselves are never touched: use rm. A layer a create or a pull is using is left for the next prune.

      Examples:
        tasker prune
      """)

  @OptionGroup var state: StateOptions

  func run() async throws {
    let manager = try await state.manager()
    let pruned = manager.prune()
    let tasks = pruned.abandonedTasks
    let images = pruned.images.count + pruned.layeredImages.count
    let layers = pruned.layers.count
    print(
      "removed \(tasks) half-made task\(tasks == 1 ? "" : "s"), \(images) unused image\(images == 1 ? "" : "s"), "
        + "\(layers) unused layer\(layers == 1 ? "" : "s")")
  }
}
