import Glibc
import TaskerArchive
import TaskerImage

/// Everything observable about a directory tree, for byte-for-byte before/after comparisons:
/// each path's type, mode, owner, size, link count, times, content and symlink target, and
/// (with `identity`) its device, inode and ctime, so that a replaced file, a new hardlink to
/// a file or a `chmod` to the same mode all show as a change. Symlinks are never followed.
struct TreeSnapshot: Equatable, CustomStringConvertible {
  /// What one path is.
  struct Node: Equatable, CustomStringConvertible {
    enum Content: Equatable {
      case none
      /// Files up to 1 MiB are kept whole.
      case bytes([UInt8])
      /// Larger files: size and SHA-256.
      case digest(String)
    }

    var type: mode_t
    var mode: mode_t
    var uid: uid_t
    var gid: gid_t
    var size: Int64
    var links: UInt
    var mtime: [Int]
    var content: Content
    var linkTarget: String?
    /// Device, inode and ctime (seconds, nanoseconds); empty without `identity`.
    var identity: [UInt64]

    var description: String {
      let kind: String
      switch type {
      case S_IFDIR: kind = "dir"
      case S_IFREG: kind = "file"
      case S_IFLNK: kind = "symlink -> \(linkTarget ?? "?")"
      default: kind = "type \(String(type, radix: 8))"
      }
      let base = "\(kind) mode \(String(mode, radix: 8)) size \(size) links \(links) mtime \(mtime)"
      return identity.isEmpty ? base : base + " dev/ino/ctime \(identity)"
    }
  }

  /// Nodes by path relative to the snapshot's root (`.` for the root itself).
  var nodes: [String: Node]

  /// Snapshots `path` and everything below it. `excluding` names relative paths that are
  /// skipped with all they contain.
  init(_ path: String, excluding: Set<String> = [], identity: Bool = true) throws {
    nodes = [:]
    try visit(path, relative: ".", excluding: excluding, identity: identity)
  }

  private mutating func visit(_ path: String, relative: String, excluding: Set<String>, identity: Bool) throws {
    if excluding.contains(relative) { return }
    var info = stat()
    if lstat(path, &info) != 0 { throw SetupError("lstat", path) }
    let type = info.st_mode & S_IFMT
    var content = Node.Content.none
    if type == S_IFREG {
      content = info.st_size <= 1 << 20 ? .bytes(try readFile(path)) : .digest(try sha256(ofFile: path))
    }
    nodes[relative] = Node(
      type: type, mode: info.st_mode & 0o7777, uid: info.st_uid, gid: info.st_gid, size: Int64(info.st_size),
      links: UInt(info.st_nlink), mtime: [info.st_mtim.tv_sec, info.st_mtim.tv_nsec], content: content,
      linkTarget: type == S_IFLNK ? linkTarget(path) : nil,
      identity: identity
        ? [
          UInt64(info.st_dev), UInt64(info.st_ino), UInt64(bitPattern: Int64(info.st_ctim.tv_sec)),
          UInt64(bitPattern: Int64(info.st_ctim.tv_nsec)),
        ] : [])
    if type == S_IFDIR {
      for name in directoryEntries(path) {
        try visit(
          path + "/" + name, relative: relative == "." ? name : relative + "/" + name, excluding: excluding,
          identity: identity)
      }
    }
  }

  /// The paths added, removed or changed between `self` (before) and `after`, for messages.
  func changes(to after: TreeSnapshot) -> [String] {
    var result: [String] = []
    for (path, node) in nodes.sorted(by: { $0.key < $1.key }) {
      guard let other = after.nodes[path] else {
        result.append("removed \(path)")
        continue
      }
      if other != node { result.append("changed \(path): \(node) -> \(other)") }
    }
    for path in after.nodes.keys.sorted() where nodes[path] == nil {
      result.append("added \(path): \(after.nodes[path].map(String.init(describing:)) ?? "")")
    }
    return result
  }

  var description: String {
    nodes.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "\n")
  }
}

/// The SHA-256 of a file's bytes (lowercase hex), computed with the library's `SHA256Source`.
func sha256(ofFile path: String) throws -> String {
  let fd = open(path, O_RDONLY | O_CLOEXEC)
  if fd < 0 { throw SetupError("open", path) }
  defer { close(fd) }
  let hashing = SHA256Source(FileDescriptorSource(fd: fd, path: path))
  _ = try hashing.drain(limit: .max)
  return hashing.hexDigest()
}
