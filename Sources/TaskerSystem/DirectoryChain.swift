import Glibc

/// The open directories from the root of a tree walk down to the one being worked in, holding
/// at most `window` descriptors whatever the depth.
///
/// A walk acts relative to descriptors (a path would follow a symlink swapped in for a
/// directory, and a deep tree's paths exceed PATH_MAX), but one descriptor per level runs out
/// at RLIMIT_NOFILE: a task that nests deeper than that would make its own removal fail. So the
/// chain keeps the root's descriptor and those of the deepest `window - 1` levels; of each level
/// in between it keeps only the name and the (device, inode) it had when it was opened.
///
/// Why that stays safe against a concurrent attacker: every level below the root is opened
/// relative to its parent's descriptor with `O_NOFOLLOW | O_DIRECTORY`, so it is a directory
/// that was in the tree, never a symlink's target. Going back up to a level whose descriptor
/// was closed reopens it as `..` of the child (`..` is never a symlink) and checks that it is
/// the same (device, inode). If a directory of the chain was moved meanwhile, its `..` is
/// somewhere else, the check fails and the walk stops with `ESTALE` rather than act on a
/// directory outside the tree. Going up to a level still held needs no lookup at all.
package struct DirectoryChain: ~Copyable {
  private struct Level {
    /// -1 while closed (a level between the root and the deepest `window - 1`).
    var fd: Int32
    let device: UInt64
    let inode: UInt64
    /// The level's name in its parent, NUL-terminated (empty for the root).
    let name: [CChar]
  }

  private var levels: [Level]
  /// Levels `1..<firstHeld` are closed; the root and `firstHeld...` are open.
  private var firstHeld = 1
  private let rootPath: String
  /// The most descriptors the chain holds at once (at least 2). The default, 30, keeps a copy
  /// (two chains, a listing, a file being copied and its copy, a `..` being checked) within 64.
  package let window: Int

  /// A chain whose root is the open directory `fd` (which it takes and closes), shown as `path`
  /// in errors.
  package init(root fd: Int32, path: String, window: Int = 30) throws(SystemError) {
    rootPath = path
    self.window = max(window, 2)
    var info = stat()
    if fstat(fd, &info) != 0 {
      let code = errno
      close(fd)
      throw SystemError("fstat", path: path, errno: code)
    }
    levels = [Level(fd: fd, device: UInt64(info.st_dev), inode: UInt64(info.st_ino), name: [])]
  }

  deinit {
    for level in levels where level.fd >= 0 { close(level.fd) }
  }

  /// The descriptor of the deepest directory (always open).
  package var fd: Int32 { levels[levels.count - 1].fd }

  /// How many levels below the root the deepest directory is.
  package var depth: Int { levels.count - 1 }

  /// The root's descriptor (always open).
  package var rootFD: Int32 { levels[0].fd }

  /// The deepest directory's name in its parent, NUL-terminated (empty at the root).
  package var name: [CChar] { levels[levels.count - 1].name }

  /// The deepest directory's path, for messages only (it may exceed PATH_MAX).
  package var path: String { path(of: nil) }

  /// The path of `name` inside the deepest directory, for messages only.
  package func path(of name: [CChar]?) -> String {
    var text = rootPath
    for level in levels.dropFirst() { text += "/" + display(level.name) }
    if let name { text += "/" + display(name) }
    return text
  }

  /// Opens the directory `name` (NUL-terminated) of the deepest directory, never following a
  /// symlink, and makes it the deepest; the shallowest held level beyond the window is closed.
  package mutating func descend(into name: [CChar]) throws(SystemError) {
    let parent = fd
    let child = try retryingSyscall("openat", path: path(of: name)) {
      openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    }
    var info = stat()
    if fstat(child, &info) != 0 {
      let code = errno
      close(child)
      throw SystemError("fstat", path: path(of: name), errno: code)
    }
    levels.append(Level(fd: child, device: UInt64(info.st_dev), inode: UInt64(info.st_ino), name: name))
    while 1 + levels.count - firstHeld > window && firstHeld < levels.count - 1 {
      close(levels[firstHeld].fd)
      levels[firstHeld].fd = -1
      firstHeld += 1
    }
  }

  /// Closes the deepest directory and makes its parent the deepest, reopening the parent as
  /// `..` (checked to be the same directory) if its descriptor was closed. At the root it does
  /// nothing.
  package mutating func ascend() throws(SystemError) {
    guard levels.count > 1 else { return }
    let child = levels[levels.count - 1]
    let top = levels.count - 2
    if levels[top].fd < 0 {
      let parent = try retryingSyscall("openat", path: path + "/..") {
        openat(child.fd, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
      }
      var info = stat()
      if fstat(parent, &info) != 0 {
        let code = errno
        close(parent)
        throw SystemError("fstat", path: path + "/..", errno: code)
      }
      guard UInt64(info.st_dev) == levels[top].device && UInt64(info.st_ino) == levels[top].inode else {
        // The directory was moved out from under the walk: stop rather than act elsewhere.
        close(parent)
        throw SystemError("openat", path: path + "/..", errno: ESTALE)
      }
      levels[top].fd = parent
      firstHeld = top
    }
    close(child.fd)
    levels.removeLast()
  }

  /// The path of `name` inside the deepest directory relative to the root, NUL-terminated.
  package func relativePath(of name: [CChar]) -> [CChar] {
    var bytes: [CChar] = []
    for level in levels.dropFirst() { bytes += level.name.dropLast() + [47] }
    return bytes + name
  }

  private func display(_ name: [CChar]) -> String {
    String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }
}

/// The names in the open directory `fd`, without `.` and `..`, each NUL-terminated and as the
/// kernel gave its bytes (a name that is not UTF-8 must be found again by `*at` calls), with
/// its `d_type`. `fd` stays open; its offset is left at the end.
package func directoryListing(of fd: Int32, path: @autoclosure () -> String) throws(SystemError) -> [(
  name: [CChar], type: UInt8
)] {
  let listing = try retryingSyscall("dup", path: path()) { dup(fd) }
  guard let dir = fdopendir(listing) else {
    let code = errno
    close(listing)
    throw SystemError("fdopendir", path: path(), errno: code)
  }
  defer { closedir(dir) }
  rewinddir(dir)
  var names: [(name: [CChar], type: UInt8)] = []
  while true {
    errno = 0
    guard let entry = readdir(dir) else {
      if errno != 0 { throw SystemError("readdir", path: path(), errno: errno) }
      return names
    }
    let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
      Array(raw.bindMemory(to: CChar.self).prefix { $0 != 0 }) + [0]
    }
    if name == [46, 0] || name == [46, 46, 0] { continue }
    names.append((name, entry.pointee.d_type))
  }
}
