import CArchive
import Glibc

/// The container format a `TarBuilder` writes.
enum ArchiveFormat: Sendable {
  /// POSIX ustar, with pax extended headers only where a member needs one (long names).
  case pax
  /// GNU tar (long names as `././@LongLink` members).
  case gnutar
  /// Zip and cpio (newc): never accepted by the extractor; written to check that they are refused.
  case zip
  case cpio
}

/// The compression filter a `TarBuilder` puts around the archive.
enum Compression: String, CaseIterable, Sendable, CustomStringConvertible {
  case none, gzip, bzip2, xz, zstd

  var description: String { rawValue }
}

/// What one archive member is.
enum MemberKind: Sendable {
  /// A regular file with these bytes.
  case file([UInt8])
  /// A regular file of `size` zero bytes, streamed to the writer in 1 MiB chunks (for bombs).
  case zeros(size: Int)
  /// A sparse regular file of logical size `size` whose only data are `segments`.
  case sparse(size: Int, segments: [(offset: Int, bytes: [UInt8])])
  case directory
  /// A symlink whose target is stored verbatim.
  case symlink([UInt8])
  /// A hardlink to another member, the target name stored verbatim.
  case hardlink([UInt8])
  case characterDevice(major: UInt32, minor: UInt32)
  case blockDevice(major: UInt32, minor: UInt32)
  case fifo
}

/// One member to write. The name is raw bytes and is never checked or normalised, so that
/// tests can build hostile archives (`../x`, `/abs`, 4096-byte names, non-UTF-8 bytes).
struct ArchiveMember: Sendable {
  var name: [UInt8]
  var kind: MemberKind
  var mode: mode_t
  var uid: Int64 = 0
  var gid: Int64 = 0
  var mtime: Int = TarBuilder.defaultMTime
  /// Extended attributes (pax `SCHILY.xattr.*` records).
  var xattrs: [(name: String, value: [UInt8])] = []

  init(
    name: [UInt8], kind: MemberKind, mode: mode_t, uid: Int64 = 0, gid: Int64 = 0, mtime: Int? = nil,
    xattrs: [(name: String, value: [UInt8])] = []
  ) {
    self.name = name
    self.kind = kind
    self.mode = mode
    self.uid = uid
    self.gid = gid
    self.mtime = mtime ?? TarBuilder.defaultMTime
    self.xattrs = xattrs
  }
}

/// A failure of libarchive's writer while a test builds an archive.
struct ArchiveWriteError: Error, CustomStringConvertible {
  var operation: String
  var message: String

  var description: String { "\(operation): \(message)" }
}

/// Writes tar (or zip) archives with libarchive's write API, member by member, exactly as told.
///
/// ```
/// let tar = try TarBuilder(path: "/tmp/x.tar.gz", compression: .gzip)
/// try tar.directory("./etc/")
/// try tar.file("./etc/hostname", "jail\n")
/// try tar.symlink("evil", target: "/")
/// try tar.finish()
/// ```
final class TarBuilder {
  /// 2009-02-13 23:31:30 UTC: an mtime no test run happens at.
  static let defaultMTime = 1_234_567_890

  let path: String
  private let archive: OpaquePointer
  private var finished = false

  init(
    path: String, format: ArchiveFormat = .pax, compression: Compression = .none,
    compressionLevel: Int? = nil
  ) throws {
    guard let archive = archive_write_new() else {
      throw ArchiveWriteError(operation: "archive_write_new", message: "out of memory")
    }
    self.archive = archive
    self.path = path
    do {
      switch format {
      case .pax: try check("archive_write_set_format_pax_restricted", archive_write_set_format_pax_restricted(archive))
      case .gnutar: try check("archive_write_set_format_gnutar", archive_write_set_format_gnutar(archive))
      case .zip: try check("archive_write_set_format_zip", archive_write_set_format_zip(archive))
      case .cpio: try check("archive_write_set_format_cpio_newc", archive_write_set_format_cpio_newc(archive))
      }
      switch compression {
      case .none: try check("archive_write_add_filter_none", archive_write_add_filter_none(archive))
      case .gzip: try check("archive_write_add_filter_gzip", archive_write_add_filter_gzip(archive))
      case .bzip2: try check("archive_write_add_filter_bzip2", archive_write_add_filter_bzip2(archive))
      case .xz: try check("archive_write_add_filter_xz", archive_write_add_filter_xz(archive))
      case .zstd: try check("archive_write_add_filter_zstd", archive_write_add_filter_zstd(archive))
      }
      if let compressionLevel, compression != .none {
        try check(
          "archive_write_set_filter_option",
          archive_write_set_filter_option(archive, nil, "compression-level", String(compressionLevel)))
      }
      try check("archive_write_open_filename", archive_write_open_filename(archive, path))
    } catch {
      archive_write_free(archive)
      throw error
    }
  }

  deinit {
    // A builder abandoned by a failing test still releases libarchive's state.
    archive_write_free(archive)
  }

  // MARK: - Members

  /// Writes one member: its header, then its data.
  func add(_ member: ArchiveMember) throws {
    precondition(!finished, "TarBuilder used after finish()")
    guard let entry = archive_entry_new() else {
      throw ArchiveWriteError(operation: "archive_entry_new", message: "out of memory")
    }
    defer { archive_entry_free(entry) }
    member.name.withCCharPointer { archive_entry_set_pathname(entry, $0) }
    archive_entry_set_perm(entry, member.mode)
    archive_entry_set_uid(entry, member.uid)
    archive_entry_set_gid(entry, member.gid)
    archive_entry_set_mtime(entry, member.mtime, 0)
    for xattr in member.xattrs {
      xattr.value.withUnsafeBytes { archive_entry_xattr_add_entry(entry, xattr.name, $0.baseAddress, $0.count) }
    }
    switch member.kind {
    case .file(let bytes):
      archive_entry_set_filetype(entry, UInt32(Glibc.S_IFREG))
      archive_entry_set_size(entry, Int64(bytes.count))
    case .zeros(let size):
      archive_entry_set_filetype(entry, UInt32(Glibc.S_IFREG))
      archive_entry_set_size(entry, Int64(size))
    case .sparse(let size, let parts):
      archive_entry_set_filetype(entry, UInt32(Glibc.S_IFREG))
      archive_entry_set_size(entry, Int64(size))
      for part in parts {
        archive_entry_sparse_add_entry(entry, Int64(part.offset), Int64(part.bytes.count))
      }
    case .directory:
      archive_entry_set_filetype(entry, UInt32(Glibc.S_IFDIR))
      archive_entry_set_size(entry, 0)
    case .symlink(let target):
      archive_entry_set_filetype(entry, UInt32(Glibc.S_IFLNK))
      archive_entry_set_size(entry, 0)
      target.withCCharPointer { archive_entry_set_symlink(entry, $0) }
    case .hardlink(let target):
      // A hardlink is a regular-file header whose link name is the earlier member.
      archive_entry_set_filetype(entry, UInt32(Glibc.S_IFREG))
      archive_entry_set_size(entry, 0)
      target.withCCharPointer { archive_entry_set_hardlink(entry, $0) }
    case .characterDevice(let major, let minor):
      archive_entry_set_filetype(entry, UInt32(Glibc.S_IFCHR))
      archive_entry_set_size(entry, 0)
      archive_entry_set_rdevmajor(entry, dev_t(major))
      archive_entry_set_rdevminor(entry, dev_t(minor))
    case .blockDevice(let major, let minor):
      archive_entry_set_filetype(entry, UInt32(Glibc.S_IFBLK))
      archive_entry_set_size(entry, 0)
      archive_entry_set_rdevmajor(entry, dev_t(major))
      archive_entry_set_rdevminor(entry, dev_t(minor))
    case .fifo:
      archive_entry_set_filetype(entry, UInt32(Glibc.S_IFIFO))
      archive_entry_set_size(entry, 0)
    }
    try check("archive_write_header", archive_write_header(archive, entry))
    switch member.kind {
    case .file(let bytes):
      try write(bytes)
    case .zeros(let size):
      try writeZeros(size)
    case .sparse(let size, let parts):
      // libarchive takes the whole logical content and drops what falls in the holes.
      var position = 0
      for part in parts.sorted(by: { $0.offset < $1.offset }) {
        try writeZeros(part.offset - position)
        try write(part.bytes)
        position = part.offset + part.bytes.count
      }
      try writeZeros(size - position)
    default:
      break
    }
  }

  /// A regular file holding `contents` (UTF-8).
  func file(_ name: String, _ contents: String = "", mode: mode_t = 0o644, mtime: Int? = nil) throws {
    try add(ArchiveMember(name: Array(name.utf8), kind: .file(Array(contents.utf8)), mode: mode, mtime: mtime))
  }

  /// A regular file holding `bytes`.
  func file(_ name: String, bytes: [UInt8], mode: mode_t = 0o644, mtime: Int? = nil) throws {
    try add(ArchiveMember(name: Array(name.utf8), kind: .file(bytes), mode: mode, mtime: mtime))
  }

  /// A regular file of `size` zero bytes, streamed (never held in memory).
  func zeros(_ name: String, size: Int, mode: mode_t = 0o644) throws {
    try add(ArchiveMember(name: Array(name.utf8), kind: .zeros(size: size), mode: mode))
  }

  func directory(_ name: String, mode: mode_t = 0o755, mtime: Int? = nil) throws {
    try add(ArchiveMember(name: Array(name.utf8), kind: .directory, mode: mode, mtime: mtime))
  }

  func symlink(_ name: String, target: String, mtime: Int? = nil) throws {
    try add(ArchiveMember(name: Array(name.utf8), kind: .symlink(Array(target.utf8)), mode: 0o777, mtime: mtime))
  }

  func hardlink(_ name: String, target: String) throws {
    try add(ArchiveMember(name: Array(name.utf8), kind: .hardlink(Array(target.utf8)), mode: 0o644))
  }

  func characterDevice(_ name: String, major: UInt32, minor: UInt32) throws {
    try add(
      ArchiveMember(name: Array(name.utf8), kind: .characterDevice(major: major, minor: minor), mode: 0o666))
  }

  /// Writes the end-of-archive marker and flushes the compressor; the file is then complete.
  func finish() throws {
    precondition(!finished, "TarBuilder.finish() called twice")
    finished = true
    try check("archive_write_close", archive_write_close(archive))
  }

  // MARK: - Data

  private func write(_ bytes: [UInt8]) throws {
    guard !bytes.isEmpty else { return }
    let written = bytes.withUnsafeBytes { archive_write_data(archive, $0.baseAddress, $0.count) }
    if written != bytes.count {
      throw ArchiveWriteError(operation: "archive_write_data", message: errorMessage())
    }
  }

  private func writeZeros(_ count: Int) throws {
    let chunk = [UInt8](repeating: 0, count: 1 << 20)
    var remaining = count
    try chunk.withUnsafeBytes { buffer in
      while remaining > 0 {
        let size = min(remaining, buffer.count)
        let written = archive_write_data(archive, buffer.baseAddress, size)
        if written != size {
          throw ArchiveWriteError(operation: "archive_write_data", message: errorMessage())
        }
        remaining -= size
      }
    }
  }

  private func check(_ operation: String, _ status: Int32) throws {
    if status < ARCHIVE_WARN {
      throw ArchiveWriteError(operation: operation, message: errorMessage())
    }
  }

  private func errorMessage() -> String {
    guard let message = archive_error_string(archive) else { return "unknown libarchive error" }
    return String(cString: message)
  }
}

extension Array where Element == UInt8 {
  /// Calls `body` with these bytes as a NUL-terminated C string (no check for embedded NULs).
  func withCCharPointer<R>(_ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
    let terminated = map { CChar(bitPattern: $0) } + [0]
    return try terminated.withUnsafeBufferPointer { buffer in
      guard let base = buffer.baseAddress else { preconditionFailure("a non-empty array has storage") }
      return try body(base)
    }
  }
}
