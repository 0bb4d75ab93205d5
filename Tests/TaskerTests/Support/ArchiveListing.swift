import CArchive
import Glibc

/// One member as libarchive reads it back, names as raw bytes.
struct ListedMember: Equatable {
  var name: [UInt8]
  var type: mode_t
  var mode: mode_t
  var size: Int64
  var symlink: [UInt8]?
  var hardlink: [UInt8]?
}

/// Lists an archive's members with libarchive's reader (every format and filter it knows),
/// so that tests can prove a hostile name was written verbatim. Also returns the compression
/// filter libarchive detected (e.g. "gzip", "none").
func listArchive(_ path: String) throws -> (filter: String, members: [ListedMember]) {
  guard let archive = archive_read_new() else {
    throw ArchiveWriteError(operation: "archive_read_new", message: "out of memory")
  }
  defer { archive_read_free(archive) }
  archive_read_support_format_all(archive)
  archive_read_support_filter_all(archive)
  if archive_read_open_filename(archive, path, 64 * 1024) != ARCHIVE_OK {
    throw ArchiveWriteError(operation: "archive_read_open_filename", message: readError(archive))
  }
  var members: [ListedMember] = []
  while true {
    var entry: OpaquePointer?
    let status = archive_read_next_header(archive, &entry)
    if status == ARCHIVE_EOF { break }
    guard status >= ARCHIVE_WARN, let entry else {
      throw ArchiveWriteError(operation: "archive_read_next_header", message: readError(archive))
    }
    members.append(
      ListedMember(
        name: cBytes(archive_entry_pathname(entry)) ?? [], type: mode_t(archive_entry_filetype(entry)),
        mode: mode_t(archive_entry_perm(entry)), size: archive_entry_size(entry),
        symlink: cBytes(archive_entry_symlink(entry)), hardlink: cBytes(archive_entry_hardlink(entry))))
  }
  let filter = archive_filter_name(archive, 0).map { String(cString: $0) } ?? "?"
  return (filter, members)
}

private func cBytes(_ pointer: UnsafePointer<CChar>?) -> [UInt8]? {
  guard let pointer else { return nil }
  return UnsafeBufferPointer(start: pointer, count: strlen(pointer)).map { UInt8(bitPattern: $0) }
}

private func readError(_ archive: OpaquePointer) -> String {
  archive_error_string(archive).map { String(cString: $0) } ?? "unknown libarchive error"
}
