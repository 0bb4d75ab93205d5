import Glibc
import TaskerImage
import TaskerSystem

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Layered (OCI) images by their config's digest (the image ID, as docker and podman name an
/// image), and the references that resolved to them:
///
///     <root>/images/oci/<config hex>/image.json   `LayeredImage`
///     <root>/images/refs/<key>.json                `LayeredImageStore.Reference`
///     <root>/images/refs/<key>.lock                one pull of a reference at a time
///
/// The layers themselves are in the `LayerStore`.
public struct LayeredImageStore: Sendable {
  public let directory: String

  public init(stateRoot: String) { directory = stateRoot + "/images" }

  /// What a reference (for one platform) last resolved to.
  struct Reference: Codable {
    var reference: String
    var platform: String
    var configDigest: String
  }

  func prepare() throws(TaskerError) {
    for path in [directory, directory + "/oci", directory + "/refs"] where mkdir(path, 0o700) != 0 && errno != EEXIST {
      let error = SystemError("mkdir", path: path, errno: errno)
      throw TaskerError(.system, "cannot create the image store: \(error)", cause: error)
    }
  }

  func imagePath(_ configHex: String) -> String { directory + "/oci/" + configHex + "/image.json" }

  public func image(configHex: String) -> LayeredImage? {
    // The record holds the config (up to maxDocumentBytes, escaped in JSON): a bound well above it.
    (try? readFileBytes(imagePath(configHex), limit: 64 << 20)).flatMap {
      try? JSONDecoder.tasker.decode(LayeredImage.self, from: Data($0))
    }
  }

  /// Every image record, newest first.
  public func list() -> [LayeredImage] {
    directoryEntries(directory + "/oci").filter { $0.utf8.count == 64 }.compactMap { image(configHex: $0) }
      .sorted { $0.pulledAt > $1.pulledAt }
  }

  static func key(_ reference: String, platform: Platform) -> String {
    // FNV-1a as ImageCache.key: the record holds the reference, so a collision is a miss.
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in (reference + " " + platform.description).utf8 {
      hash ^= UInt64(byte)
      hash = hash &* 0x100_0000_01b3
    }
    let text = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - text.count) + text
  }

  func lockReference(_ reference: String, platform: Platform) throws(TaskerError) -> Int32 {
    try prepare()
    return try StoreLock.exclusive(directory + "/refs/" + Self.key(reference, platform: platform) + ".lock")
  }

  /// The image `reference` last resolved to for `platform`, if its record is still here.
  func known(_ reference: String, platform: Platform) -> LayeredImage? {
    let path = directory + "/refs/" + Self.key(reference, platform: platform) + ".json"
    guard let bytes = try? readFileBytes(path),
      let record = try? JSONDecoder.tasker.decode(Reference.self, from: Data(bytes)),
      record.reference == reference, record.platform == platform.description
    else { return nil }
    return image(configHex: String(record.configDigest.dropFirst("sha256:".count)))
  }

  /// Writes the image's record (the references it already had kept) and the reference's.
  func save(_ image: LayeredImage, reference: String, platform: Platform) throws {
    try prepare()
    var merged = image
    let hex = image.id.hex
    if let existing = self.image(configHex: hex) {
      merged.references = existing.references
      if !merged.references.contains(reference) { merged.references.append(reference) }
    }
    let folder = directory + "/oci/" + hex
    if mkdir(folder, 0o700) != 0 && errno != EEXIST { throw SystemError("mkdir", path: folder, errno: errno) }
    try writeFileAtomically(imagePath(hex), Array(JSONEncoder.tasker.encode(merged)), mode: 0o600)
    let record = Reference(reference: reference, platform: platform.description, configDigest: image.id.description)
    try writeFileAtomically(
      directory + "/refs/" + Self.key(reference, platform: platform) + ".json",
      Array(JSONEncoder.tasker.encode(record)), mode: 0o600)
  }

  /// Holds a shared lock on an image's record while a create sets a task up on it (until the
  /// task's record names it): prune takes it exclusively, without waiting, before it removes
  /// the record.
  func lockShared(_ id: Digest) -> Int32? {
    let fd = open(directory + "/oci/" + id.hex + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return nil }
    while flock(fd, LOCK_SH) != 0 && errno == EINTR {}
    return fd
  }

  /// Removes the image records no task uses (`inUse`: config digests `sha256:...`, read again
  /// once an image's lock is held, for a create that finished meanwhile), and the reference
  /// records left pointing at nothing. Returns the image IDs removed.
  func prune(inUse: () -> Set<String>) -> [String] {
    var removed: [String] = []
    var used = inUse()
    for hex in directoryEntries(directory + "/oci") where hex.utf8.count == 64 {
      guard !used.contains("sha256:" + hex) else { continue }
      let folder = directory + "/oci/" + hex
      let lock = open(folder + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
      guard lock >= 0 else { continue }
      defer { close(lock) }
      guard flock(lock, LOCK_EX | LOCK_NB) == 0 else { continue }
      used = inUse()
      guard !used.contains("sha256:" + hex) else { continue }
      let trash = directory + "/oci/.removed-" + hex + "-" + randomHex(bytes: 4)
      if rename(folder, trash) == 0 {
        try? removeTree(trash)
        removed.append("sha256:" + hex)
      }
    }
    // The lock files of references never recorded (a pull that failed).
    for name in directoryEntries(directory + "/refs") where name.hasSuffix(".lock") {
      let key = String(name.dropLast(5))
      let lockPath = directory + "/refs/" + name
      guard !pathExists(directory + "/refs/" + key + ".json") else { continue }
      let lock = open(lockPath, O_RDWR | O_CLOEXEC)
      guard lock >= 0 else { continue }
      defer { close(lock) }
      guard flock(lock, LOCK_EX | LOCK_NB) == 0, !pathExists(directory + "/refs/" + key + ".json") else { continue }
      unlink(lockPath)
    }
    for name in directoryEntries(directory + "/refs") where name.hasSuffix(".json") {
      let key = String(name.dropLast(5))
      let lockPath = directory + "/refs/" + key + ".lock"
      let lock = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
      guard lock >= 0 else { continue }
      defer { close(lock) }
      guard flock(lock, LOCK_EX | LOCK_NB) == 0 else { continue }
      let path = directory + "/refs/" + name
      guard let bytes = try? readFileBytes(path),
        let record = try? JSONDecoder.tasker.decode(Reference.self, from: Data(bytes))
      else {
        unlink(path)
        continue
      }
      if image(configHex: String(record.configDigest.dropFirst("sha256:".count))) == nil {
        unlink(path)
        unlink(lockPath)
      }
    }
    return removed
  }
}

/// A layered image as tasker keeps it: enough to make a task's root (the layers, bottom first)
/// and its defaults (the config), and for `tasker images`.
public struct LayeredImage: Codable, Equatable, Sendable {
  /// The references pulled to it (`docker://host/repo:tag`, `oci:/path:tag`, ...).
  public var references: [String]
  public var manifestDigest: Digest
  /// The image ID.
  public var id: Digest
  public var config: ImageConfig
  /// The layers' diff_ids, bottom first.
  public var diffIDs: [Digest]
  /// The layers' blobs as the manifest names them (compressed digests and sizes).
  public var layers: [Descriptor]
  public var platform: String
  public var pulledAt: Date
}
