#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// What the layout sources share once a document's bytes are in hand: decoding, and the checks
/// a manifest and its config must pass before a `ResolvedImage` is made of them.
enum LayoutDocuments {
  /// `bytes` decoded as `T`; what does not decode is one line naming `what`.
  static func decode<T: Decodable>(_ type: T.Type, _ bytes: [UInt8], what: String) throws(ImageError) -> T {
    do {
      return try JSONDecoder().decode(T.self, from: Data(bytes))
    } catch {
      throw .format("\(what) is not a valid document: \(Self.reason(error))")
    }
  }

  /// A refusal of the media types tasker does not read, or nil when `type` is an index or a
  /// manifest.
  static func unsupported(_ type: String, what: String) -> ImageError? {
    if MediaType.isIndex(type) || MediaType.isManifest(type) { return nil }
    if type == MediaType.dockerSchema1 || type == MediaType.dockerSchema1Signed {
      return .format("\(what) is a Docker schema 1 manifest, which tasker does not read (push it again as schema 2)")
    }
    return .format("\(what) has media type \"\(type)\", which is neither an image index nor a manifest")
  }

  /// Refuses a config for another platform than `platform` (os and architecture; a config that
  /// names neither is taken as it is), and one whose layers do not match the manifest's.
  static func check(
    _ config: ImageConfig, manifest: ImageManifest, platform: Platform, reference: String
  ) throws(ImageError) {
    if let os = config.os, let architecture = config.architecture,
      os != platform.os || architecture != platform.architecture
    {
      throw .platform(
        "\(reference) is an image for \(os)/\(architecture), not \(platform): choose it with --platform \(os)/\(architecture)"
      )
    }
    guard config.rootfs.diff_ids.count == manifest.layers.count else {
      throw .format(
        "\(reference): its manifest has \(manifest.layers.count) layers but its config names"
          + " \(config.rootfs.diff_ids.count) (rootfs.diff_ids)")
    }
  }

  private static func reason(_ error: any Error) -> String {
    guard let decoding = error as? DecodingError else { return String(describing: error) }
    switch decoding {
    case .dataCorrupted(let context), .typeMismatch(_, let context), .valueNotFound(_, let context):
      return path(context.codingPath) + context.debugDescription
    case .keyNotFound(let key, let context):
      return path(context.codingPath + [key]) + "missing"
    @unknown default:
      return String(describing: error)
    }
  }

  private static func path(_ keys: [any CodingKey]) -> String {
    keys.isEmpty ? "" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".") + ": "
  }
}
