import CTaskerShim
import Glibc
import TaskerArchive
import TaskerImage
import TaskerSystem

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The layers of layered (OCI) images, each unpacked once, kept by its diff_id (the SHA-256 of
/// its uncompressed tar stream), whichever images and whichever compressions bring it — the
/// layout of containerd's overlay snapshotter, a directory per layer that is one lower layer
/// of a task's overlay:
///
///     <root>/layers/<diff-id hex>/diff         the layer's tree, whiteouts as overlayfs's markers
///     <root>/layers/<diff-id hex>/layer.json   `LayerStore.Record`
///     <root>/layers/locks/<diff-id hex>.lock   one unpack of a layer at a time (held only while
///                                               unpacking, so no pull waits on another's use)
///     <root>/layers/locks/<diff-id hex>.use    shared by every pull and create using the layer
///                                               until a record names it; prune takes it
///                                               exclusively without waiting
///     <root>/layers/.tmp-<pid>-<start>-*       an unpack in progress
public struct LayerStore: Sendable {
  public let directory: String

  public init(stateRoot: String) { directory = stateRoot + "/layers" }

  /// What a layer is.
  public struct Record: Codable, Equatable, Sendable {
    /// `sha256:...` of the uncompressed stream.
    public var diffID: String
    /// The compressed blobs (`sha256:...`) seen to unpack to it.
    public var compressedDigests: [String]
    /// Bytes of file content.
    public var size: UInt64
    /// Members of the tar stream.
    public var entries: Int
    public var unpackedAt: Date
    /// Files whose owner a rootless unpack could not map (no subordinate ids): the user's.
    public var unmappedOwners: Int?
  }

  public func diffPath(_ diffID: Digest) -> String { directory + "/" + diffID.hex + "/diff" }

  /// The files of these layers whose owner their rootless unpack could not map.
  func unmappedOwners(_ diffIDs: [Digest]) -> Int {
    diffIDs.reduce(0) { $0 + (record($1)?.unmappedOwners ?? 0) }
  }

  func recordPath(_ hex: String) -> String { directory + "/" + hex + "/layer.json" }

  public func record(_ diffID: Digest) -> Record? {
    (try? readFileBytes(recordPath(diffID.hex))).flatMap {
      try? JSONDecoder.tasker.decode(Record.self, from: Data($0))
    }
  }

  func prepare() throws(TaskerError) {
    for path in [directory, directory + "/locks"] where mkdir(path, 0o700) != 0 && errno != EEXIST {
      let error = SystemError("mkdir", path: path, errno: errno)
      throw TaskerError(.system, "cannot create the layer store: \(error)", cause: error)
    }
  }

  /// The layer `diffID`, unpacked from `descriptor`'s blob unless it is here already. Holds the
  /// layer's unpack lock while it works: a second pull of the layer waits, then finds it.
  /// Returns the record, whether this call unpacked it, and the layer's use lock (shared: prune
  /// leaves the layer alone until the caller closes it, once a record names the layer).
  func obtain(
    _ descriptor: Descriptor, diffID: Digest, from source: any ImageSource, extractor: ConfinedExtractor,
    progress: (@Sendable (Int64) -> Void)?
  ) throws -> (record: Record, unpacked: Bool, lock: Int32) {
    try prepare()
    // The use lock first, so that prune cannot take the layer between its unpack and its use.
    let use = try StoreLock.take(directory + "/locks/" + diffID.hex + ".use", LOCK_SH)
    var succeeded = false
    defer { if !succeeded { close(use) } }
    let lock = try StoreLock.take(directory + "/locks/" + diffID.hex + ".lock", LOCK_EX)
    defer { close(lock) }
    if var record = record(diffID) {
      if !record.compressedDigests.contains(descriptor.digest.description) {
        record.compressedDigests.append(descriptor.digest.description)
        try? writeFileAtomically(recordPath(diffID.hex), Array(JSONEncoder.tasker.encode(record)), mode: 0o600)
      }
      succeeded = true
      return (record, false, use)
    }
    let me = getpid()
    let temporary = directory + "/.tmp-\(me)-\(ProcessStat.read(pid: me)?.startTime ?? 0)-" + randomHex(bytes: 6)
    try retryingSyscall("mkdir", path: temporary) { mkdir(temporary, 0o700) }
    var keep = false
    defer { if !keep { try? removeTree(temporary) } }
    try retryingSyscall("mkdir", path: temporary + "/diff") { mkdir(temporary + "/diff", 0o755) }
    let rootFD = try retryingSyscall("open", path: temporary) {
      open(temporary + "/diff", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    }
    defer { close(rootFD) }
    let blob = try source.openBlob(descriptor)
    let counting = CountingSource(blob) { progress?($0) }
    var options = extractor
    options.options.layer = true
    let (summary, _) = try options.extract(from: counting, into: rootFD)
    // The child stops at the archive's end; the rest of the blob is read so that the source
    // checks the compressed digest over every byte (it throws on a mismatch).
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    defer { buffer.deallocate() }
    while try counting.read(into: buffer) > 0 {}
    guard let reported = summary.diffID else {
      throw ImageError.format("tasker-unpack gave no diff_id for layer \(descriptor.digest)")
    }
    guard reported == diffID.hex else {
      throw ImageError.digestMismatch(
        what: "layer \(descriptor.digest) (uncompressed)", expected: diffID.description, actual: "sha256:" + reported)
    }
    // Opaque directories: the marker tasker-unpack may not write (it holds no CAP_SYS_ADMIN).
    try LayerMarkers.markOpaque(
      rootFD: rootFD, directories: summary.opaqueDirectories, attribute: UserNamespace.overlayAttributePrefix + "opaque"
    )
    let record = Record(
      diffID: diffID.description, compressedDigests: [descriptor.digest.description], size: summary.bytes,
      entries: summary.entries, unpackedAt: Date(),
      unmappedOwners: summary.unmappedOwners > 0 ? summary.unmappedOwners : nil)
    try writeFileAtomically(temporary + "/layer.json", Array(JSONEncoder.tasker.encode(record)), mode: 0o600)
    let final = directory + "/" + diffID.hex
    if tasker_rename_noreplace(temporary, final) != 0 {
      // Under the unpack lock nobody else renames the layer in, and a layer comes in with its
      // layer.json: a directory already there is damage, said as an error, not a race.
      throw SystemError("rename", path: final, errno: errno)
    }
    keep = true
    succeeded = true
    return (record, true, use)
  }

  /// The use locks (shared) of layers a create mounts, held until its record names its image:
  /// prune takes a layer's use lock exclusively, without waiting, before it removes it.
  func lockShared(_ diffIDs: [Digest]) -> [Int32] {
    if (try? prepare()) == nil { return [] }
    return diffIDs.compactMap { diffID in try? StoreLock.take(directory + "/locks/" + diffID.hex + ".use", LOCK_SH) }
  }

  /// Every layer here, by diff_id hex.
  public func list() -> [String: Record] {
    var result: [String: Record] = [:]
    for name in directoryEntries(directory) where name.utf8.count == 64 {
      if let digest = try? Digest(hex: name), let record = record(digest) { result[name] = record }
    }
    return result
  }

  /// Removes the layers no image record names (`inUse`: diff_id hexes), and unpacks whose
  /// process died. Returns the diff_ids removed.
  func prune(inUse: @autoclosure () -> Set<String>) -> [String] {
    var named = inUse()
    var removed: [String] = []
    for name in directoryEntries(directory) {
      if removeStagingOfTheDead(name, in: directory) { continue }
      guard name.utf8.count == 64, !named.contains(name) else { continue }
      let lockPath = directory + "/locks/" + name + ".use"
      let lock = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
      guard lock >= 0 else { continue }
      defer { close(lock) }
      // In use by a pull or a create: left alone.
      guard flock(lock, LOCK_EX | LOCK_NB) == 0 else { continue }
      // A pull may have named it between the first look and the lock.
      named = inUse()
      if named.contains(name) { continue }
      let trash = directory + "/.tmp-0-0-removed-" + name
      if rename(directory + "/" + name, trash) == 0 {
        try? removeTree(trash)
        removed.append("sha256:" + name)
        // While held: a pull that opened it before takes the new file (StoreLock.take).
        unlink(lockPath)
        unlink(directory + "/locks/" + name + ".lock")
      }
    }
    // The lock files of layers that are not here (a failed unpack leaves its lock file), each
    // removed while held, so that a pull that opened it before takes the new one.
    for name in directoryEntries(directory + "/locks") where name.hasSuffix(".lock") || name.hasSuffix(".use") {
      let hex = String(name.prefix { $0 != "." })
      guard !pathExists(directory + "/" + hex) else { continue }
      let lockPath = directory + "/locks/" + name
      let lock = open(lockPath, O_RDWR | O_CLOEXEC)
      guard lock >= 0 else { continue }
      defer { close(lock) }
      guard flock(lock, LOCK_EX | LOCK_NB) == 0, !pathExists(directory + "/" + hex) else { continue }
      unlink(lockPath)
    }
    return removed
  }
}

/// A lock file taken (`LOCK_EX` or `LOCK_SH`), taken again if prune replaced the file meanwhile.
enum StoreLock {
  static func exclusive(_ path: String) throws(TaskerError) -> Int32 { try take(path, LOCK_EX) }

  static func take(_ path: String, _ operation: Int32) throws(TaskerError) -> Int32 {
    while true {
      let lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
      guard lock >= 0 else {
        let error = SystemError("open", path: path, errno: errno)
        throw TaskerError(.system, "cannot lock \(path): \(error)", cause: error)
      }
      while flock(lock, operation) != 0 && errno == EINTR {}
      var held = stat()
      var named = stat()
      if fstat(lock, &held) == 0 && stat(path, &named) == 0 && held.st_dev == named.st_dev
        && held.st_ino == named.st_ino
      {
        return lock
      }
      close(lock)
    }
  }
}
