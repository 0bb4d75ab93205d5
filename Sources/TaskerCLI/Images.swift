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

      Layered images (docker://, oci:, oci-archive:, docker-archive:) follow in a table of their own: REFERENCE, ID (the config's digest), DIGEST (the manifest's), SIZE (of their layers' files), LAYERS (how many, and how many another image shares), TASKS, PULLED. With --json they are objects with "id".

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

  struct LayeredRow: Encodable {
    var references: [String]
    var id: String
    var manifestDigest: String
    var platform: String
    var bytes: UInt64
    var layers: [String]
    var sharedLayers: Int
    var tasks: Int
    var pulledAt: Date
  }

  /// A tarball image's row or a layered image's, in one JSON array.
  enum AnyRow: Encodable {
    case tarball(Row)
    case layered(LayeredRow)
    func encode(to encoder: any Encoder) throws {
      switch self {
      case .tarball(let row): try row.encode(to: encoder)
      case .layered(let row): try row.encode(to: encoder)
      }
    }
  }

  func run() async throws {
    let manager = try await state.manager()
    let images = manager.images()
    let layered = manager.layeredImages()
    if quiet {
      for image in images { print(image.entry.digest) }
      for image in layered { print(image.image.id) }
    } else if json {
      let tarballs = images.map {
        AnyRow.tarball(
          Row(
            digest: $0.entry.digest, source: $0.entry.source, bytes: $0.entry.bytes, entries: $0.entry.entries,
            tasks: $0.tasks, pulledAt: $0.entry.pulledAt))
      }
      let layers = layered.map {
        AnyRow.layered(
          LayeredRow(
            references: $0.image.references, id: $0.image.id.description,
            manifestDigest: $0.image.manifestDigest.description, platform: $0.image.platform, bytes: $0.bytes,
            layers: $0.image.diffIDs.map(\.description), sharedLayers: $0.sharedLayers, tasks: $0.tasks,
            pulledAt: $0.image.pulledAt))
      }
      print(TaskerJSON.encode(tarballs + layers))
    } else if images.isEmpty && !layered.isEmpty {
      print(Self.layeredTable(layered), terminator: "")
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
      if !layered.isEmpty { print("\n" + Self.layeredTable(layered), terminator: "") }
    }
  }

  /// One row per reference of each layered image.
  static func layeredTable(_ images: [TaskManager.LayeredImageRow], now: Date = Date()) -> String {
    var rows = [["REFERENCE", "ID", "DIGEST", "SIZE", "LAYERS", "TASKS", "PULLED"]]
    for row in images {
      let layers = "\(row.image.diffIDs.count)" + (row.sharedLayers > 0 ? " (\(row.sharedLayers) shared)" : "")
      for reference in row.image.references {
        rows.append([
          reference, String(row.image.id.hex.prefix(12)), String(row.image.manifestDigest.hex.prefix(12)),
          humanBytes(row.bytes), layers, String(row.tasks), relativeTime(from: row.image.pulledAt, to: now),
        ])
      }
    }
    return alignedTable(rows)
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
