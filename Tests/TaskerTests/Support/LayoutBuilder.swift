import Glibc
import TaskerImage

/// Writes OCI image layouts for tests, by hand (the JSON is written as text, not with the
/// library's Codable types, so that the tests do not read back what the library wrote).
struct LayoutBuilder {
  let path: String

  /// Makes `path` (which must not exist) with `blobs/sha256/` and an `oci-layout` of `version`.
  init(path: String, version: String = "1.0.0") throws {
    self.path = path
    try makeDirectory(path)
    try makeDirectory(path + "/blobs")
    try makeDirectory(path + "/blobs/sha256")
    try writeFile(path + "/oci-layout", Array("{\"imageLayoutVersion\":\"\(version)\"}".utf8))
  }

  /// Stores `bytes` as a blob; its digest.
  @discardableResult
  func blob(_ bytes: [UInt8]) throws -> String {
    let hex = sha256Hex(bytes)
    try writeFile(blobPath(hex), bytes)
    return "sha256:" + hex
  }

  func blobPath(_ digest: String) -> String {
    path + "/blobs/sha256/" + (digest.hasPrefix("sha256:") ? String(digest.dropFirst(7)) : digest)
  }

  /// A descriptor as JSON.
  static func descriptor(
    _ mediaType: String, _ digest: String, _ size: Int, platform: (String, String, String?)? = nil,
    name: String? = nil
  ) -> String {
    var fields = ["\"mediaType\":\"\(mediaType)\"", "\"digest\":\"\(digest)\"", "\"size\":\(size)"]
    if let (os, architecture, variant) = platform {
      fields.append(
        "\"platform\":{\"os\":\"\(os)\",\"architecture\":\"\(architecture)\""
          + (variant.map { ",\"variant\":\"\($0)\"" } ?? "") + "}")
    }
    if let name { fields.append("\"annotations\":{\"org.opencontainers.image.ref.name\":\"\(name)\"}") }
    return "{" + fields.joined(separator: ",") + "}"
  }

  /// An image of `layers` (uncompressed tars) for os/architecture with `Cmd`: its config, its
  /// manifest; returns the manifest's digest and size, and the config's bytes.
  func image(layers: [[UInt8]], architecture: String = "amd64", cmd: [String]) throws -> (
    digest: String, size: Int, config: [UInt8]
  ) {
    let diffIDs = layers.map { "\"sha256:" + sha256Hex($0) + "\"" }.joined(separator: ",")
    let command = cmd.map { "\"\($0)\"" }.joined(separator: ",")
    let config = Array(
      ("{\"architecture\":\"\(architecture)\",\"os\":\"linux\",\"config\":{\"Cmd\":[\(command)]},"
        + "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\(diffIDs)]}}").utf8)
    let configDigest = try blob(config)
    var layerDescriptors: [String] = []
    for layer in layers {
      layerDescriptors.append(Self.descriptor(MediaType.ociLayer, try blob(layer), layer.count))
    }
    let manifest = Array(
      ("{\"schemaVersion\":2,\"mediaType\":\"\(MediaType.ociManifest)\",\"config\":"
        + Self.descriptor(MediaType.ociConfig, configDigest, config.count) + ",\"layers\":["
        + layerDescriptors.joined(separator: ",") + "]}").utf8)
    return (try blob(manifest), manifest.count, config)
  }

  /// An index of `entries` (descriptors as JSON) as a blob; its digest and size.
  func index(_ entries: [String]) throws -> (digest: String, size: Int) {
    let bytes = Self.indexBytes(entries)
    return (try blob(bytes), bytes.count)
  }

  /// `index.json` listing `entries`.
  func writeIndex(_ entries: [String]) throws {
    try writeFile(path + "/index.json", Self.indexBytes(entries))
  }

  static func indexBytes(_ entries: [String]) -> [UInt8] {
    Array(
      ("{\"schemaVersion\":2,\"mediaType\":\"\(MediaType.ociIndex)\",\"manifests\":["
        + entries.joined(separator: ",") + "]}").utf8)
  }

  /// A small uncompressed layer tar holding `files`, written at `scratch` and returned.
  static func layer(at scratch: String, _ files: [(String, String)]) throws -> [UInt8] {
    let tar = try TarBuilder(path: scratch)
    for (name, contents) in files { try tar.file(name, contents) }
    try tar.finish()
    defer { unlink(scratch) }
    return try readFile(scratch)
  }

  /// The layout's files as a tar at `archive` (members named `./...`, as skopeo writes them).
  /// `extra` members are written first (a docker 25 archive's manifest.json). With
  /// `extendedHeaders`, each blob's member has a header of more than one block before its data
  /// (a name of over 255 bytes: a pax record or a GNU long-name member, and a pax xattr record).
  func pack(
    into archive: String, format: ArchiveFormat = .pax, compression: Compression = .none,
    extra: [(String, [UInt8])] = [], extendedHeaders: Bool = false
  ) throws {
    let tar = try TarBuilder(path: archive, format: format, compression: compression)
    for (name, bytes) in extra { try tar.file(name, bytes: bytes) }
    try tar.directory("./")
    try tar.file("./oci-layout", bytes: readFile(path + "/oci-layout"))
    try tar.file("./index.json", bytes: readFile(path + "/index.json"))
    try tar.directory("./blobs/")
    try tar.directory("./blobs/sha256/")
    for name in directoryEntries(path + "/blobs/sha256") {
      let bytes = try readFile(path + "/blobs/sha256/" + name)
      guard extendedHeaders else {
        try tar.file("./blobs/sha256/" + name, bytes: bytes)
        continue
      }
      // `.` components are dropped when the name is read, as a leading `./` is.
      let long = "./blobs/" + String(repeating: "./", count: 100) + "sha256/" + name
      try tar.add(
        ArchiveMember(
          name: Array(long.utf8), kind: .file(bytes), mode: 0o644, xattrs: [("user.test", Array("x".utf8))]))
    }
    try tar.finish()
  }
}
