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

/// When a create may use the cache and when it must fetch.
public enum PullPolicy: String, Codable, Sendable, CaseIterable {
  /// Fetch the image again, whatever the cache holds.
  case always
  /// Use the cached image if its source has not changed (http: the server answers 304 to the
  /// validators it gave; files: same size, mtime and inode); fetch otherwise. The default.
  case missing
  /// Use the cache only; an image never fetched is an error.
  case never
}

/// Images extracted once, kept by the SHA-256 of their archive, under the state root:
///
///     <root>/images/<sha256>/rootfs        the extracted tree (overlayfs lower layer)
///     <root>/images/<sha256>/image.json    what it is, where it came from
///     <root>/images/<sha256>/lock          shared-locked by each create using it (see prune)
///     <root>/images/sources/<key>.json     a location's last digest and validators
///     <root>/images/locks/<key>.lock       one fetch per location at a time
///     <root>/images/.tmp-<pid>-<start>-*   an extraction in progress
public struct ImageCache: Sendable {
  public let directory: String

  public init(stateRoot: String) { directory = stateRoot + "/images" }

  /// A cached image, as `tasker images` shows it.
  public struct Entry: Codable, Equatable, Sendable {
    public var digest: String
    public var source: String
    public var entries: Int
    public var bytes: UInt64
    public var pulledAt: Date
  }

  /// What a location last resolved to.
  struct SourceRecord: Codable {
    var location: String
    var digest: String
    var validators: HTTPValidators?
    var size: Int64?
    var modified: Int64?
    var inode: UInt64?
    var device: UInt64?
  }

  /// The result of `acquire`.
  public struct Acquired: Sendable {
    public var digest: String
    public var rootfs: String
    public var skippedUnsafe: [String]
    /// Extended attributes the archive carried that were not written.
    public var skippedAttributes: [SkippedAttribute] = []
    /// Whether bytes were fetched (false: the cache served it).
    public var fetched: Bool
    /// Files whose owner a rootless extraction could not map (no subordinate ids): the user's.
    public var unmappedOwners = 0
  }

  public func rootfs(of digest: String) -> String { directory + "/" + digest + "/rootfs" }

  func prepare() throws(TaskerError) {
    for path in [directory, directory + "/sources", directory + "/locks"]
    where mkdir(path, 0o700) != 0 && errno != EEXIST {
      let error = SystemError("mkdir", path: path, errno: errno)
      throw TaskerError(.system, "cannot create the image cache: \(error)", cause: error)
    }
  }

  /// The image of `location`, from the cache or fetched into it. Holds the location's lock
  /// while it works, so concurrent creates of one location fetch it once.
  func acquire(
    _ location: ImageLocation, pull: PullPolicy, expectedSHA256: String?, fetcher: ImageFetcher,
    progress: (@Sendable (Int64, Int64?) -> Void)?
  ) throws(TaskerError) -> Acquired {
    try prepare()
    // Content-addressed: an image asked for by digest that is here needs no source at all.
    if let expectedSHA256, pull != .always, pathExists(rootfs(of: expectedSHA256)) {
      return Acquired(digest: expectedSHA256, rootfs: rootfs(of: expectedSHA256), skippedUnsafe: [], fetched: false)
    }
    let key = Self.key(location)
    let lockPath = directory + "/locks/" + key + ".lock"
    let lock = try lockLocation(lockPath)
    defer { close(lock) }

    let recordPath = directory + "/sources/" + key + ".json"
    let known = (try? readFileBytes(recordPath)).flatMap {
      try? JSONDecoder().decode(SourceRecord.self, from: Data($0))
    }
    .flatMap { $0.location == location.description && pathExists(rootfs(of: $0.digest)) ? $0 : nil }
    func cached(_ record: SourceRecord) throws(TaskerError) -> Acquired {
      if let expectedSHA256, record.digest != expectedSHA256 {
        throw TaskerError(
          .image, "image checksum mismatch: expected sha256 \(expectedSHA256), got \(record.digest)",
          cause: ImageError.checksumMismatch(expected: expectedSHA256, actual: record.digest))
      }
      return Acquired(digest: record.digest, rootfs: rootfs(of: record.digest), skippedUnsafe: [], fetched: false)
    }
    if pull == .never {
      guard let known else {
        throw TaskerError(.image, "image not in the cache (and --pull never): \(location)")
      }
      return try cached(known)
    }

    do {
      switch location {
      case .file(let path):
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw ImageError.file(SystemError("open", path: path, errno: errno)) }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) != S_IFDIR else {
          throw ImageError.file(SystemError("read", path: path, errno: EISDIR))
        }
        let modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        var record = SourceRecord(
          location: location.description, digest: "", size: Int64(info.st_size), modified: modified,
          inode: UInt64(info.st_ino), device: UInt64(info.st_dev))
        if pull == .missing, let known, known.size == record.size, known.modified == record.modified,
          known.inode == record.inode, known.device == record.device
        {
          return try cached(known)
        }
        let total = Int64(info.st_size)
        let source = CountingSource(FileDescriptorSource(fd: fd, path: path)) { progress?($0, total) }
        let result = try store(from: source, fetcher: fetcher, expectedSHA256: expectedSHA256, origin: location)
        record.digest = result.digest
        try? writeFileAtomically(recordPath, Array(JSONEncoder().encode(record)), mode: 0o600)
        return result
      case .http(let url):
        let source = try HTTPSource(
          url: url, stallSeconds: fetcher.stallSeconds, validators: pull == .missing ? known?.validators : nil)
        if let known, try !source.hasBody() { return try cached(known) }
        let counting = CountingSource(source) { _ in
          let state = source.progress
          progress?(state.received, state.total)
        }
        let result = try store(from: counting, fetcher: fetcher, expectedSHA256: expectedSHA256, origin: location)
        let validators = source.validators
        let record = SourceRecord(
          location: location.description, digest: result.digest, validators: validators.isEmpty ? nil : validators)
        try? writeFileAtomically(recordPath, Array(JSONEncoder().encode(record)), mode: 0o600)
        return result
      }
    } catch {
      throw TaskerError.image(error)
    }
  }

  /// Opens and locks a location's lock file. `prune` removes lock files (holding the lock), so
  /// a lock taken on a file that is no longer the one at that path is taken again.
  private func lockLocation(_ path: String) throws(TaskerError) -> Int32 {
    while true {
      let lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
      guard lock >= 0 else {
        let error = SystemError("open", path: path, errno: errno)
        throw TaskerError(.system, "cannot lock the image cache: \(error)", cause: error)
      }
      while flock(lock, LOCK_EX) != 0 && errno == EINTR {}
      if Self.isStillAt(path, lock) { return lock }
      close(lock)
    }
  }

  /// Whether the open file `fd` is the one `path` names now.
  private static func isStillAt(_ path: String, _ fd: Int32) -> Bool {
    var held = stat()
    var named = stat()
    return fstat(fd, &held) == 0 && stat(path, &named) == 0 && held.st_dev == named.st_dev
      && held.st_ino == named.st_ino
  }

  /// Extracts into a temporary directory, then moves it into place under its digest (or
  /// drops it, if another create got there first with the same bytes).
  private func store(from source: any ByteSource, fetcher: ImageFetcher, expectedSHA256: String?, origin: ImageLocation)
    throws -> Acquired
  {
    let me = getpid()
    let temporary = directory + "/.tmp-\(me)-\(ProcessStat.read(pid: me)?.startTime ?? 0)-" + randomHex(bytes: 6)
    try retryingSyscall("mkdir", path: temporary) { mkdir(temporary, 0o700) }
    var keep = false
    defer { if !keep { try? removeTree(temporary) } }
    try retryingSyscall("mkdir", path: temporary + "/rootfs") { mkdir(temporary + "/rootfs", 0o755) }
    let rootFD = try retryingSyscall("open", path: temporary) {
      open(temporary + "/rootfs", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    }
    let result: ImageFetcher.Result
    do {
      defer { close(rootFD) }
      result = try fetcher.extract(from: source, into: rootFD, expectedSHA256: expectedSHA256)
    }
    let entry = Entry(
      digest: result.sha256, source: origin.description, entries: result.summary.entries, bytes: result.summary.bytes,
      pulledAt: Date())
    try writeFileAtomically(temporary + "/image.json", Array(JSONEncoder.tasker.encode(entry)), mode: 0o600)
    let final = directory + "/" + result.sha256
    if tasker_rename_noreplace(temporary, final) == 0 {
      keep = true
    } else if errno != EEXIST && errno != ENOTEMPTY {
      throw SystemError("rename", path: final, errno: errno)
    }
    return Acquired(
      digest: result.sha256, rootfs: rootfs(of: result.sha256), skippedUnsafe: result.summary.skippedUnsafe,
      skippedAttributes: result.summary.skippedAttributes, fetched: true,
      unmappedOwners: result.summary.unmappedOwners)
  }

  /// Holds a shared lock on an image while a create sets a task up on it: `prune` takes the
  /// lock exclusively before it removes an image, so it never pulls one from under a create.
  func lockShared(_ digest: String) -> Int32 {
    let fd = open(directory + "/" + digest + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    if fd >= 0 { while flock(fd, LOCK_SH) != 0 && errno == EINTR {} }
    return fd
  }

  /// Every cached image.
  public func list() -> [Entry] {
    directoryEntries(directory).filter { $0.utf8.count == 64 }.compactMap { digest in
      (try? readFileBytes(directory + "/" + digest + "/image.json")).flatMap {
        try? JSONDecoder.tasker.decode(Entry.self, from: Data($0))
      }
    }.sorted { $0.pulledAt > $1.pulledAt }
  }

  /// Removes the images no task uses (and extractions whose process died). Returns the digests
  /// removed.
  func prune(inUse: Set<String>) -> [String] {
    var removed: [String] = []
    for name in directoryEntries(directory) {
      if removeStagingOfTheDead(name, in: directory) { continue }
      guard name.utf8.count == 64, !inUse.contains(name) else { continue }
      let lock = open(directory + "/" + name + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
      guard lock >= 0 else { continue }
      defer { close(lock) }
      guard flock(lock, LOCK_EX | LOCK_NB) == 0 else { continue }
      // Renamed away first: a create that looks it up now finds nothing, not half a tree.
      let trash = directory + "/.tmp-0-0-removed-" + name
      if rename(directory + "/" + name, trash) == 0 {
        try? removeTree(trash)
        removed.append(name)
      }
    }
    pruneLocations()
    return removed
  }

  /// Removes the lock file and source record of every location whose image is not cached (a
  /// failed fetch leaves its lock file, a pruned image its record). Each under the location's
  /// lock, taken without waiting: a location another process is fetching is left alone.
  private func pruneLocations() {
    let locks = directoryEntries(directory + "/locks").filter { $0.hasSuffix(".lock") }.map { $0.dropLast(5) }
    let records = directoryEntries(directory + "/sources").filter { $0.hasSuffix(".json") }.map { $0.dropLast(5) }
    for key in Set(locks + records) {
      let lockPath = directory + "/locks/" + key + ".lock"
      let recordPath = directory + "/sources/" + key + ".json"
      let lock = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
      guard lock >= 0 else { continue }
      defer { close(lock) }
      guard flock(lock, LOCK_EX | LOCK_NB) == 0, Self.isStillAt(lockPath, lock) else { continue }
      let record = (try? readFileBytes(recordPath)).flatMap {
        try? JSONDecoder().decode(SourceRecord.self, from: Data($0))
      }
      if let record, pathExists(rootfs(of: record.digest)) { continue }
      unlink(recordPath)
      // While it is held: a create that opened this file before retries on the new one.
      unlink(lockPath)
    }
  }

  /// A file name for a location: FNV-1a, hand-rolled because a file name needs no
  /// cryptographic hash and this keeps libcrypto out of a cached create's path. The record
  /// inside holds the location itself, so a collision is a cache miss, never a wrong image.
  static func key(_ location: ImageLocation) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in location.description.utf8 {
      hash ^= UInt64(byte)
      hash = hash &* 0x100_0000_01b3
    }
    let text = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - text.count) + text
  }
}

/// Passes a source through, telling `report` how many bytes have gone by.
final class CountingSource: ByteSource {
  private let upstream: any ByteSource
  private let report: (Int64) -> Void
  private var count: Int64 = 0

  init(_ upstream: any ByteSource, report: @escaping (Int64) -> Void) {
    self.upstream = upstream
    self.report = report
  }

  func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    let n = try upstream.read(into: buffer)
    count += Int64(n)
    report(count)
    return n
  }
}

/// A staging entry (`.tmp-<pid>-<start>-...`) of the image cache or the layer store: whether
/// `name` is one; if its process is gone it is removed (a live one's is left alone).
func removeStagingOfTheDead(_ name: String, in directory: String) -> Bool {
  guard name.hasPrefix(".tmp-") else { return false }
  let parts = name.split(separator: "-")
  if parts.count >= 4, let pid = Int32(parts[1]), let start = UInt64(parts[2]), isAlive(pid: pid, startTime: start) {
    return true
  }
  try? removeTree(directory + "/" + name)
  return true
}

extension TaskerError {
  /// An image's failure as the library reports it: a `TaskerError` as it is, the image's and the
  /// archive's errors by their description.
  static func image(_ error: any Error) -> TaskerError {
    switch error {
    case let error as TaskerError: return error
    case let error as ImageError: return TaskerError(.image, error.description, cause: error)
    case let error as ArchiveError: return TaskerError(.image, error.description, cause: error)
    default: return TaskerError(.image, String(describing: error), cause: SendableDescription(error))
    }
  }
}
