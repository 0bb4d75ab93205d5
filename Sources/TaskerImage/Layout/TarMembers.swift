import CArchive
import CTaskerShim
import Glibc
import TaskerArchive
import TaskerSystem

/// The regular files of an uncompressed tar (an `oci-archive:` or a `docker save` output), read
/// in place: the archive is indexed once (name → offset and size of the data), then each member
/// is served with `pread` from that offset, so nothing of the archive is copied to disk.
///
/// libarchive reads the headers (ustar, pax, GNU long names); the data's offset is its filter
/// position right after the header (`archive_filter_bytes`), since libarchive hands out no data
/// offsets. A wrong offset could only make a member's bytes differ from its digest, and every
/// member tasker serves is checked against one.
///
/// Names are taken as the safe extractor takes them (`MemberPath`: `./` and `.` dropped);
/// absolute names and `..` are never served. Only regular files are served (a hard link or a
/// directory is not a document or a blob); a symlink only when `followingLinks` (docker-archive)
/// and only to another member. A name held twice is refused: tar's "the last one wins" would
/// let an appended member replace a document without a trace.
final class TarMembers: LayoutFiles {
  let label: String
  private let file: OpenFile
  private let members: [String: (offset: Int64, size: Int64)]
  /// The symlinks' targets, by name (read only when `followingLinks`).
  private let links: [String: String]
  private let followingLinks: Bool
  /// Links are followed this many at most (a loop ends there).
  static let maxLinks = 8

  /// Opens and indexes the archive at `path`; a compressed one is refused (it cannot be read
  /// in place: `gunzip` it first). `followingLinks`: a symlink member stands for the member it
  /// names (`docker save` writes a layer that an image repeats as a link to its first copy).
  init(path: String, label: String, followingLinks: Bool = false) throws(ImageError) {
    self.label = label
    self.followingLinks = followingLinks
    let fd = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
    guard fd >= 0 else {
      let code = errno
      if code == ENOENT { throw .format("\(label): no such file") }
      throw .file(SystemError("open", path: path, errno: code))
    }
    file = OpenFile(fd)
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw .file(SystemError("fstat", path: path, errno: errno)) }
    guard info.st_mode & S_IFMT == S_IFREG else { throw .format("\(label): not a regular file") }
    var magic = [UInt8](repeating: 0, count: 6)
    let got = magic.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 6, 0) }
    if got >= 4, let compression = Self.compression(magic) {
      throw .format(
        "\(label) is compressed (\(compression)): tasker reads an archive in place, so it must be a plain tar"
          + " (decompress it first)")
    }
    (members, links) = try Self.index(fd: fd, fileSize: Int64(info.st_size), label: label)
  }

  func read(_ path: String, limit: Int) throws(ImageError) -> [UInt8]? {
    guard let member = try member(path) else { return nil }
    guard member.size <= limit else { throw .format("\(path) of \(label) is larger than \(limit) bytes: refused") }
    var bytes = [UInt8](repeating: 0, count: Int(member.size))
    var done = 0
    let fd = file.fd
    while done < bytes.count {
      let n = bytes.withUnsafeMutableBytes { buffer in
        pread(fd, buffer.baseAddress.map { $0 + done }, buffer.count - done, off_t(member.offset) + off_t(done))
      }
      if n < 0 {
        if errno == EINTR { continue }
        throw .file(SystemError("pread", path: path, errno: errno))
      }
      guard n > 0 else { throw .format("\(label) is truncated in \(path)") }
      done += n
    }
    return bytes
  }

  func open(_ path: String) throws(ImageError) -> (any ByteSource)? {
    guard let member = try member(path) else { return nil }
    return FileRangeSource(file, offset: member.offset, length: member.size, what: path)
  }

  /// The regular file `path` names, through links when they are followed; nil when none.
  private func member(_ path: String) throws(ImageError) -> (offset: Int64, size: Int64)? {
    var name = path
    for _ in 0...Self.maxLinks {
      if let member = members[name] { return member }
      guard followingLinks, let target = links[name] else { return nil }
      guard let next = Self.join(name, target) else {
        throw .format("\(path) of \(label) is a link to \"\(target)\", outside the archive: refused")
      }
      name = next
    }
    throw .format("\(path) of \(label) is a chain of more than \(Self.maxLinks) links: refused")
  }

  /// `target` of the link `name`, as a member's name; nil when it leaves the archive (absolute,
  /// or more `..` than there are directories above the link).
  static func join(_ name: String, _ target: String) -> String? {
    guard !target.hasPrefix("/") else { return nil }
    var components = name.split(separator: "/").dropLast().map(String.init)
    for part in target.split(separator: "/") where part != "." {
      if part == ".." {
        guard !components.isEmpty else { return nil }
        components.removeLast()
      } else {
        components.append(String(part))
      }
    }
    return components.isEmpty ? nil : components.joined(separator: "/")
  }

  /// The compression named by the first bytes of a file, nil for none known.
  static func compression(_ magic: [UInt8]) -> String? {
    if magic.starts(with: [0x1f, 0x8b]) { return "gzip" }
    if magic.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) { return "zstd" }
    if magic.starts(with: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) { return "xz" }
    if magic.starts(with: Array("BZh".utf8)) { return "bzip2" }
    return nil
  }

  private static func index(fd: Int32, fileSize: Int64, label: String) throws(ImageError) -> (
    [String: (offset: Int64, size: Int64)], [String: String]
  ) {
    guard let archive = archive_read_new() else { throw .format("\(label): libarchive could not start") }
    defer { archive_read_free(archive) }
    func failure(_ what: String) -> ImageError {
      let reason = archive_error_string(archive).map { String(cString: $0) } ?? "unknown error"
      return .format("\(label) is not a readable tar archive (\(what): \(reason))")
    }
    archive_read_support_format_tar(archive)
    guard archive_read_open_fd(archive, fd, 64 << 10) == ARCHIVE_OK else { throw failure("open") }
    var members: [String: (offset: Int64, size: Int64)] = [:]
    var links: [String: String] = [:]
    var entry: OpaquePointer?
    while true {
      let status = archive_read_next_header(archive, &entry)
      if status == ARCHIVE_EOF { break }
      guard status == ARCHIVE_OK || status == ARCHIVE_WARN, let entry else { throw failure("header") }
      let offset = archive_filter_bytes(archive, 0)
      let size = archive_entry_size(entry)
      let type = archive_entry_filetype(entry)
      if type == S_IFREG || type == S_IFLNK, archive_entry_hardlink(entry) == nil,
        let name = archive_entry_pathname(entry),
        let path = try? MemberPath(Array(String(cString: name).utf8)), !path.isRoot
      {
        let key = String(decoding: path.relative, as: UTF8.self)
        guard members[key] == nil, links[key] == nil else {
          throw .format("\(label) holds \"\(key)\" twice: refused (which one is meant is ambiguous)")
        }
        guard offset >= 0, size >= 0, offset <= fileSize, size <= fileSize - offset else {
          throw .format("\(label) is truncated: \"\(key)\" ends past the end of the file")
        }
        if type == S_IFLNK {
          links[key] = archive_entry_symlink(entry).map { String(cString: $0) } ?? ""
        } else {
          members[key] = (offset, size)
        }
      }
      guard archive_read_data_skip(archive) == ARCHIVE_OK else { throw failure("data") }
    }
    return (members, links)
  }
}
