import CArchive
import CTaskerShim
import Glibc
import TaskerSystem

/// Writes a directory tree as a tar archive (POSIX pax, what `tasker create` reads): owners,
/// modes, modification times, extended attributes, symlinks (as links, never followed),
/// hardlinks (one copy, the others linked to it), device nodes and FIFOs; sockets are skipped.
/// Every member is opened relative to its parent's descriptor with `O_NOFOLLOW`, so a symlink
/// in the tree (or one swapped in while it is read) never leads the walk outside it, and the
/// walk stays on the root's file system.
public enum TreeArchiver {
  /// Why the tree could not be written.
  public struct Failure: Error, Sendable, CustomStringConvertible {
    public var description: String
  }

  /// Writes the tree below the open directory `root` to `output` (members named relative to
  /// it, without a leading `./`).
  public static func write(root: Int32, to output: Int32) throws(Failure) {
    guard let archive = archive_write_new() else { throw Failure(description: "cannot start the archive") }
    defer { archive_write_free(archive) }
    guard archive_write_set_format_pax_restricted(archive) == ARCHIVE_OK,
      archive_write_open_fd(archive, output) == ARCHIVE_OK
    else { throw Failure(description: message(archive)) }
    var info = stat()
    guard fstat(root, &info) == 0 else {
      throw Failure(description: "\(SystemError("fstat", path: "the root", errno: errno))")
    }
    var walker = Walker(archive: archive, device: info.st_dev)
    try walker.directory(root, prefix: [])
    guard archive_write_close(archive) == ARCHIVE_OK else { throw Failure(description: message(archive)) }
  }

  static func message(_ archive: OpaquePointer) -> String {
    archive_error_string(archive).map { String(cString: $0) } ?? "archive error"
  }

  private struct Walker {
    let archive: OpaquePointer
    let device: UInt
    /// The first name each (inode) with several links was written under.
    var linked: [UInt: [CChar]] = [:]
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)

    init(archive: OpaquePointer, device: UInt) {
      self.archive = archive
      self.device = device
    }

    /// Names are bytes (NUL-terminated), as the file system has them: not every name is UTF-8.
    mutating func directory(_ fd: Int32, prefix: [CChar]) throws(Failure) {
      guard let stream = fdopendir(dup(fd)) else { throw failure("opendir", prefix + [0], errno) }
      defer { closedir(stream) }
      var names: [[CChar]] = []
      while let entry = readdir(stream) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
          Array(raw.bindMemory(to: CChar.self).prefix { $0 != 0 })
        }
        if name != [46] && name != [46, 46] { names.append(name) }
      }
      for name in names.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
        try member(parent: fd, name: name + [0], path: prefix + name + [0])
      }
    }

    mutating func member(parent: Int32, name: [CChar], path: [CChar]) throws(Failure) {
      var info = stat()
      guard fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
        if errno == ENOENT { return }  // gone while the tree was read
        throw failure("fstatat", path, errno)
      }
      let type = info.st_mode & S_IFMT
      if type == S_IFSOCK { return }
      guard let entry = archive_entry_new() else { throw Failure(description: "out of memory") }
      defer { archive_entry_free(entry) }
      archive_entry_set_pathname(entry, path)
      archive_entry_set_perm(entry, info.st_mode & 0o7777)
      archive_entry_set_uid(entry, Int64(info.st_uid))
      archive_entry_set_gid(entry, Int64(info.st_gid))
      archive_entry_set_mtime(entry, info.st_mtim.tv_sec, info.st_mtim.tv_nsec)
      archive_entry_set_filetype(entry, UInt32(type))
      var fd: Int32 = -1
      defer { if fd >= 0 { close(fd) } }
      switch type {
      case S_IFDIR:
        // Another file system mounted here is not the task's root.
        if info.st_dev != device { return }
        fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw failure("openat", path, errno) }
        try attributes(fd, entry, path)
        try header(entry, path)
        try directory(fd, prefix: path.dropLast() + [47])
        return
      case S_IFLNK:
        var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlinkat(parent, name, &target, target.count - 1)
        guard n >= 0 else { throw failure("readlinkat", path, errno) }
        target[n] = 0
        archive_entry_set_symlink(entry, target)
      case S_IFREG:
        if info.st_nlink > 1 {
          if let first = linked[info.st_ino] {
            archive_entry_set_hardlink(entry, first)
            archive_entry_set_size(entry, 0)
            try header(entry, path)
            return
          }
          linked[info.st_ino] = path
        }
        fd = openat(parent, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw failure("openat", path, errno) }
        var opened = stat()
        // The file read is the one looked at (not something renamed over it meanwhile).
        guard fstat(fd, &opened) == 0, opened.st_ino == info.st_ino, opened.st_mode & S_IFMT == S_IFREG else {
          throw Failure(description: "\"\(shown(path))\" changed while it was read")
        }
        archive_entry_set_size(entry, Int64(opened.st_size))
        try attributes(fd, entry, path)
        try header(entry, path)
        var left = Int64(opened.st_size)
        while left > 0 {
          let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, min($0.count, Int(left))) }
          if n < 0, errno == EINTR { continue }
          guard n >= 0 else { throw failure("read", path, errno) }
          // A file that shrank while it was read: the rest is zeros, as the header promised.
          let chunk = n == 0 ? min(buffer.count, Int(left)) : n
          if n == 0 { for i in 0..<chunk { buffer[i] = 0 } }
          let written = buffer.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, chunk) }
          guard written == chunk else { throw Failure(description: TreeArchiver.message(archive)) }
          left -= Int64(chunk)
        }
        return
      case S_IFCHR, S_IFBLK:
        // glibc's major() and minor() (macros, not visible from Swift).
        let rdev = UInt64(info.st_rdev)
        archive_entry_set_rdevmajor(entry, UInt(((rdev >> 8) & 0xfff) | ((rdev >> 32) & ~0xfff)))
        archive_entry_set_rdevminor(entry, UInt((rdev & 0xff) | ((rdev >> 12) & ~0xff)))
      default:
        break  // a FIFO: its type is all there is
      }
      try header(entry, path)
    }

    func header(_ entry: OpaquePointer, _ path: [CChar]) throws(Failure) {
      let rc = archive_write_header(archive, entry)
      guard rc == ARCHIVE_OK || rc == ARCHIVE_WARN else {
        throw Failure(description: "\"\(shown(path))\": \(TreeArchiver.message(archive))")
      }
    }

    /// The extended attributes of the open file `fd`.
    func attributes(_ fd: Int32, _ entry: OpaquePointer, _ path: [CChar]) throws(Failure) {
      let size = flistxattr(fd, nil, 0)
      if size < 0 {
        if errno == ENOTSUP { return }
        throw failure("flistxattr", path, errno)
      }
      if size == 0 { return }
      var names = [CChar](repeating: 0, count: size)
      let got = flistxattr(fd, &names, size)
      guard got >= 0 else { throw failure("flistxattr", path, errno) }
      var start = 0
      while start < got {
        let end = names[start..<got].firstIndex(of: 0) ?? got
        let name = Array(names[start..<end]) + [0]
        start = end + 1
        let length = fgetxattr(fd, name, nil, 0)
        guard length >= 0 else { continue }  // removed meanwhile
        var value = [UInt8](repeating: 0, count: length)
        let read = fgetxattr(fd, name, &value, length)
        guard read >= 0 else { continue }
        archive_entry_xattr_add_entry(entry, name, value, read)
      }
    }

    func failure(_ call: String, _ path: [CChar], _ code: Int32) -> Failure {
      Failure(description: "\(SystemError(call, path: shown(path), errno: code))")
    }

    /// A member's name for a message (invalid UTF-8 shown as U+FFFD).
    func shown(_ path: [CChar]) -> String {
      let bytes = path.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
      return bytes.isEmpty ? "/" : String(decoding: bytes, as: UTF8.self)
    }
  }
}
