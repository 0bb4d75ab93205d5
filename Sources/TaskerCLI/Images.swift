import ArgumentParser
import Tasker

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

struct Images: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "List the image cache.",
    discussion: """
      Each image is fetched once, kept under the state root by the SHA-256 of its archive, and shared (copy-on-write) by every task made from it. Columns: DIGEST, SIZE (extracted), FILES, TASKS (using it), PULLED, SOURCE. tasker prune removes the images no task uses.

      Examples:
        tasker images
        tasker images --json
      """)

  @OptionGroup var state: StateOptions

  @Flag(name: .long, help: "Print a JSON array.")
  var json = false

  @Flag(name: [.short, .long], help: "Print the digests only.")
  var quiet = false

  struct Row: Encodable {
    var digest: String
    var source: String
    var bytes: UInt64
    var entries: Int
    var tasks: Int
    var pulledAt: Date
  }

  func run() async throws {
    let manager = try await state.manager()
    let images = manager.images()
    if quiet {
      for image in images { print(image.entry.digest) }
    } else if json {
      print(
        TaskerJSON.encode(
          images.map {
            Row(
              digest: $0.entry.digest, source: $0.entry.source, bytes: $0.entry.bytes, entries: $0.entry.entries,
              tasks: $0.tasks, pulledAt: $0.entry.pulledAt)
          }))
    } else {
      let now = Date()
      var rows = [["DIGEST", "SIZE", "FILES", "TASKS", "PULLED", "SOURCE"]]
      for image in images {
        rows.append([
          String(image.entry.digest.prefix(12)), humanBytes(image.entry.bytes), String(image.entry.entries),
          String(image.tasks), relativeTime(from: image.entry.pulledAt, to: now), image.entry.source,
        ])
      }
      print(alignedTable(rows), terminator: "")
    }
  }
}

/// 1.5 KiB, 12.3 MiB, 2.0 GiB.
func humanBytes(_ bytes: UInt64) -> String {
  let units = ["B", "KiB", "MiB", "GiB", "TiB"]
  var value = Double(bytes)
  var unit = 0
  while value >= 1024 && unit < units.count - 1 {
    value /= 1024
    unit += 1
  }
  if unit == 0 { return "\(bytes) B" }
  let tenths = Int((value * 10).rounded())
  return "\(tenths / 10).\(tenths % 10) \(units[unit])"
}
