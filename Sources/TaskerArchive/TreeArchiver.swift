import CArchive
import CTaskerShim
import Glibc
import TaskerSystem

/// Writes a directory tree as a tar archive (POSIX pax, what `tasker create` reads): owners,
/// modes, modification times, extended attributes, symlinks (as links, never followed),
/// hardlinks (one copy, the others linked to it), device nodes and FIFOs; sockets are skipped.
/// A file with holes is written as a sparse member (GNU sparse 1.0 in pax), with its data only.
/// Every member is opened relative to its parent's descriptor with `O_NOFOLLOW`, so a symlink
/// in the tree (or one swapped in while it is read) never leads the walk outside it, and the
/// walk stays on the root's file system.
public enum TreeArchiver {
  /// Why the tree could not be written.
  public struct Failure: Error, Sendable, CustomStringConvertible {
    public var description: String
  }

  /// Writes the tree below the open directory `root` to `output` (members named relative to
  /// it, without a leading `./`). Returns the names of the files left out because another
  /// process holds a lease on them (`fcntl(F_SETLEASE)`): waiting for the holder could take
  /// forever.
  @discardableResult
  public static func write(root: Int32, to output: Int32) throws(Failure) -> [String] {
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
    return walker.skipped
  }

  static func message(_ archive: OpaquePointer) -> String {
    archive_error_string(archive).map { String(cString: $0) } ?? "archive error"
  }

  /// Linux's SEEK_DATA and SEEK_HOLE (behind _GNU_SOURCE, so not imported).
  private static let seekData: Int32 = 3
  private static let seekHole: Int32 = 4

  private struct Walker {
    let archive: OpaquePointer
    let device: UInt
    /// The first name each (inode) with several links was written under.
    var linked: [UInt: [CChar]] = [:]
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    /// Files not written because another process holds a lease on them.
    var skipped: [String] = []
    /// Zeros for the holes of sparse files (made at the first).
    var zero: [UInt8] = []

    init(archive: OpaquePointer, device: UInt) {
      self.archive = archive
      self.device = device
    }

    /// Names are bytes (NUL-terminated), as the file system has them: not every name is UTF-8.
    mutating func directory(_ fd: Int32, prefix: [CChar]) throws(Failure) {
      guard let stream = fdopendir(dup(fd)) else { throw failure("opendir", prefix + [0], errno) }
      defer { closedir(stream) }
      var names: [[CChar]] = []
      while true {
        // readdir's NULL is the end or an error (an overlay's lower layer the user may not
        // read fails here, not at open): errno tells them apart.
        errno = 0
        guard let entry = readdir(stream) else {
          if errno != 0 { throw failure("readdir", prefix + [0], errno) }
          break
        }
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
        if info.st_nlink > 1, let first = linked[info.st_ino] {
          archive_entry_set_hardlink(entry, first)
          archive_entry_set_size(entry, 0)
          try header(entry, path)
          return
        }
        fd = openat(parent, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        if fd < 0, errno == EWOULDBLOCK {
          // Another process holds a lease on it (fcntl F_SETLEASE): opening without O_NONBLOCK
          // would wait for the holder to give it up, for as long as it likes. Skipped, said.
          skipped.append(shown(path))
          return
        }
        guard fd >= 0 else { throw failure("openat", path, errno) }
        var opened = stat()
        // The file read is the one looked at (not something renamed over it meanwhile).
        guard fstat(fd, &opened) == 0, opened.st_ino == info.st_ino, opened.st_mode & S_IFMT == S_IFREG else {
          throw Failure(description: "\"\(shown(path))\" changed while it was read")
        }
        if info.st_nlink > 1 { linked[info.st_ino] = path }
        let size = Int64(opened.st_size)
        archive_entry_set_size(entry, size)
        let regions = try dataRegions(fd, opened, path)
        let sparse = regions.count != 1 || regions[0] != (0, size)
        if sparse {
          // Only the data goes in the archive (a GNU sparse member): a hole costs nothing.
          if regions.isEmpty { archive_entry_sparse_add_entry(entry, size, 0) }
          for (offset, length) in regions { archive_entry_sparse_add_entry(entry, offset, length) }
        }
        try attributes(fd, entry, path)
        try header(entry, path)
        // The archive is handed the file from its start to the end of its last data: the writer
        // drops the bytes of each hole without looking at them, and pads what follows itself.
        // The writer puts the sparse map out at the first write, so a file of one hole needs one.
        if sparse { try data(buffer, 0) }
        var position: Int64 = 0
        for (offset, length) in regions {
          if offset > position { try zeros(offset - position, path) }
          try copy(fd, from: offset, count: length, path)
          position = offset + length
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

    /// The data regions (offset, length) of the open regular file `fd`, in order, found with
    /// SEEK_DATA and SEEK_HOLE; the whole file when it has no holes or its file system cannot
    /// tell.
    func dataRegions(_ fd: Int32, _ info: stat, _ path: [CChar]) throws(Failure) -> [(Int64, Int64)] {
      let size = Int64(info.st_size)
      // Fewer blocks than the size needs: perhaps holes.
      guard size > 0, Int64(info.st_blocks) * 512 < size else { return [(0, size)] }
      var regions: [(Int64, Int64)] = []
      var position: Int64 = 0
      while position < size {
        let start = Int64(lseek(fd, off_t(position), TreeArchiver.seekData))
        if start < 0 {
          if errno == ENXIO { break }  // only a hole from here to the end
          if errno == EINVAL && regions.isEmpty { return [(0, size)] }  // no hole support
          throw failure("lseek", path, errno)
        }
        if start >= size { break }
        var hole = Int64(lseek(fd, off_t(start), TreeArchiver.seekHole))
        guard hole >= 0 else { throw failure("lseek", path, errno) }
        hole = min(hole, size)
        regions.append((start, hole - start))
        position = hole
      }
      return regions
    }

    /// `count` bytes of the file from `offset`; zeros in place of what it no longer has (a file
    /// that shrank while it was read), as the header promised.
    mutating func copy(_ fd: Int32, from offset: Int64, count: Int64, _ path: [CChar]) throws(Failure) {
      var position = offset
      let end = offset + count
      while position < end {
        let want = Int(min(Int64(buffer.count), end - position))
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(position)) }
        if n < 0, errno == EINTR { continue }
        guard n >= 0 else { throw failure("read", path, errno) }
        let chunk = n == 0 ? want : n
        if n == 0 { for i in 0..<chunk { buffer[i] = 0 } }
        try data(buffer, chunk)
        position += Int64(chunk)
      }
    }

    /// A hole of `count` bytes, for the writer to pass over.
    mutating func zeros(_ count: Int64, _ path: [CChar]) throws(Failure) {
      if zero.isEmpty { zero = [UInt8](repeating: 0, count: 1 << 20) }
      var left = count
      while left > 0 {
        let chunk = Int(min(Int64(zero.count), left))
        try data(zero, chunk)
        left -= Int64(chunk)
      }
    }

    func data(_ bytes: [UInt8], _ count: Int) throws(Failure) {
      let written = bytes.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, count) }
      guard written == count else { throw Failure(description: TreeArchiver.message(archive)) }
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
