import TaskerArchive

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// `docker-archive:FILE[:NAME:TAG]`: what `docker save` (and `skopeo copy ... docker-archive:`)
/// writes, read in place like an oci-archive (`TarMembers`).
///
/// Its `manifest.json` (`[{Config, RepoTags, Layers}]`) names members, not digests, so the
/// image's manifest is made here: a Docker schema 2 manifest whose digests and sizes are those
/// of the members' bytes, hashed when the archive is opened. Docker 25 and later write an OCI
/// layout inside and name its `blobs/sha256/...` in manifest.json: the same code reads both.
public struct DockerArchiveSource: ImageSource {
  private let files: TarMembers
  private let image: ResolvedImage
  /// Each blob's member in the archive.
  private let members: [Digest: String]

  /// One image of manifest.json.
  private struct Entry: Decodable {
    var config: String
    var repoTags: [String]?
    var layers: [String]

    enum CodingKeys: String, CodingKey {
      case config = "Config"
      case repoTags = "RepoTags"
      case layers = "Layers"
    }
  }

  /// Indexes the archive at the absolute `path`, chooses the image `name` (NAME:TAG, matched as
  /// docker normalises names: `busybox` is `docker.io/library/busybox:latest`; none: the only
  /// image) and hashes its config and layers.
  public init(path: String, name: String?) throws(ImageError) {
    try self.init(path: path, name: name, willHash: { _ in })
  }

  /// `willHash` is told each layer member before it is read to its end (tests count them).
  init(path: String, name: String?, willHash: (String) -> Void) throws(ImageError) {
    let label = "docker-archive:" + path
    let reference = label + (name.map { ":" + $0 } ?? "")
    files = try TarMembers(path: path, label: label, followingLinks: true)
    guard let bytes = try files.read("manifest.json", limit: Self.maxDocumentBytes) else {
      throw .format("\(label) is not a docker archive: it has no manifest.json")
    }
    let entries = try LayoutDocuments.decode([Entry].self, bytes, what: "manifest.json of \(label)")
    let entry = try Self.choose(entries, name: name, label: label)

    let configPath = try Self.member(entry.config, role: "config", label: label)
    guard let configBytes = try files.read(configPath, limit: Self.maxDocumentBytes) else {
      throw .format("\(label): its manifest.json names config \"\(entry.config)\", which the archive does not hold")
    }
    let configDigest = try Digest(hex: sha256Hex(configBytes))
    if let named = Self.digestInName(configPath), named != configDigest {
      throw .digestMismatch(
        what: "config \(entry.config) of \(reference)", expected: named.description, actual: configDigest.description)
    }
    let config = try LayoutDocuments.decode(
      ImageConfig.self, configBytes, what: "config \(entry.config) of \(reference)")
    guard config.rootfs.diff_ids.count == entry.layers.count else {
      throw .format(
        "\(reference): its manifest.json names \(entry.layers.count) layers but its config"
          + " \(config.rootfs.diff_ids.count) (rootfs.diff_ids)")
    }

    var members = [configDigest: configPath]
    var layers: [Descriptor] = []
    // A member manifest.json lists many times is hashed once: hashing it at each listing made
    // a small archive that lists one layer a thousand times cost a thousand reads of it.
    var hashed: [String: (digest: Digest, size: Int64, magic: [UInt8])] = [:]
    for (layer, diffID) in zip(entry.layers, config.rootfs.diff_ids) {
      let layerPath = try Self.member(layer, role: "layer", label: label)
      let (digest, size, magic): (Digest, Int64, [UInt8])
      if let known = hashed[layerPath] {
        (digest, size, magic) = known
      } else {
        guard let source = try files.open(layerPath) else {
          throw .format("\(label): its manifest.json names layer \"\(layer)\", which the archive does not hold")
        }
        willHash(layerPath)
        (digest, size, magic) = try Self.hash(source, what: "layer \(layer) of \(label)")
        hashed[layerPath] = (digest, size, magic)
      }
      let mediaType: String
      switch TarMembers.compression(magic) {
      case "gzip": mediaType = MediaType.dockerLayerGzip
      case "zstd": mediaType = MediaType.ociLayerZstd
      case nil:
        // An uncompressed layer's digest is its diff_id: a mismatch is known now.
        guard digest == diffID else {
          throw .digestMismatch(
            what: "layer \(layer) of \(reference)", expected: diffID.description + " (its config's diff_id)",
            actual: digest.description)
        }
        mediaType = MediaType.dockerLayer
      case let other?:
        throw .format("layer \(layer) of \(reference) is compressed with \(other), which docker images never are")
      }
      members[digest] = layerPath
      layers.append(Descriptor(mediaType: mediaType, digest: digest, size: size))
    }

    let manifest = ImageManifest(
      schemaVersion: 2, mediaType: MediaType.dockerManifest,
      config: Descriptor(mediaType: MediaType.dockerConfig, digest: configDigest, size: Int64(configBytes.count)),
      layers: layers)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    guard let manifestBytes = try? encoder.encode(manifest) else {
      throw .format("\(reference): its manifest could not be encoded")
    }
    image = ResolvedImage(
      reference: reference, manifestDigest: try Digest(hex: sha256Hex(Array(manifestBytes))), manifest: manifest,
      configDigest: configDigest, config: config, configBytes: configBytes)
    self.members = members
  }

  public func resolve(platform: Platform) throws(ImageError) -> ResolvedImage {
    try LayoutDocuments.check(image.config, manifest: image.manifest, platform: platform, reference: image.reference)
    return image
  }

  public func openBlob(_ descriptor: Descriptor) throws(ImageError) -> any ByteSource {
    let what = "blob \(descriptor.digest) of \(image.reference)"
    guard let path = members[descriptor.digest], let source = try files.open(path) else {
      throw .format("\(what) is not in the archive")
    }
    return VerifyingSource(source, expected: descriptor.digest, size: descriptor.size, what: what)
  }

  /// The entry `name` chooses (none: the only one).
  private static func choose(_ entries: [Entry], name: String?, label: String) throws(ImageError) -> Entry {
    let tags = entries.flatMap { $0.repoTags ?? [] }
    let listed = tags.isEmpty ? "it names none" : "it has " + tags.map { "\"\($0)\"" }.joined(separator: ", ")
    guard let name else {
      guard entries.count == 1 else {
        if entries.isEmpty { throw .format("\(label) holds no image (its manifest.json is empty)") }
        throw .format("\(label) holds \(entries.count) images: name one as NAME:TAG after a colon (\(listed))")
      }
      return entries[0]
    }
    let wanted = try RegistryReference(parsing: name, whole: label + ":" + name)
    func same(_ tag: String) -> Bool {
      guard let other = try? RegistryReference(parsing: tag) else { return false }
      return other.host == wanted.host && other.repository == wanted.repository
        && (other.tag ?? "latest") == (wanted.tag ?? "latest")
    }
    guard let entry = entries.first(where: { ($0.repoTags ?? []).contains(where: same) }) else {
      throw .format("\(label) has no image named \"\(name)\" (\(listed))")
    }
    return entry
  }

  /// The archive's member that manifest.json's `name` names, only inside the archive.
  private static func member(_ name: String, role: String, label: String) throws(ImageError) -> String {
    do {
      let path = try MemberPath(Array(name.utf8))
      guard !path.isRoot else { throw MemberPath.Refusal.empty }
      return String(decoding: path.relative, as: UTF8.self)
    } catch {
      throw .format("\(label): its manifest.json names \(role) \"\(name)\": \(error), refused")
    }
  }

  /// The digest a member's name states: `blobs/sha256/HEX` or `HEX.json`.
  private static func digestInName(_ path: String) -> Digest? {
    let leaf = path.split(separator: "/").last.map(String.init) ?? path
    if path.hasPrefix("blobs/sha256/") { return try? Digest(hex: leaf) }
    if leaf.hasSuffix(".json") { return try? Digest(hex: String(leaf.dropLast(5))) }
    return nil
  }

  /// The digest, size and first bytes of a stream read to its end.
  private static func hash(_ source: any ByteSource, what: String) throws(ImageError) -> (Digest, Int64, [UInt8]) {
    let hashing = SHA256Source(source)
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    var size: Int64 = 0
    var magic: [UInt8] = []
    while true {
      let n: Int
      do {
        n = try buffer.withUnsafeMutableBytes { try hashing.read(into: $0) }
      } catch let error as ImageError {
        throw error
      } catch {
        throw .format("cannot read \(what): \(error)")
      }
      if n == 0 { break }
      if magic.count < 6 { magic += buffer[0..<min(n, 6 - magic.count)] }
      size += Int64(n)
    }
    return (try Digest(hex: hashing.hexDigest()), size, magic)
  }
}
