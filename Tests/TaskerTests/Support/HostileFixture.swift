import Glibc
import TaskerArchive
import Testing

/// Extracts the archive file at `archive` into the existing directory `root` with a fresh
/// `Extractor`. Setup failures throw; the extractor's own outcome is returned.
func extractArchive(
  _ archive: String, into root: String, options: ExtractionOptions = ExtractionOptions()
) throws -> Result<ExtractionSummary, ArchiveError> {
  let rootFD = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
  if rootFD < 0 { throw SetupError("open", root) }
  defer { close(rootFD) }
  let fd = open(archive, O_RDONLY | O_CLOEXEC)
  if fd < 0 { throw SetupError("open", archive) }
  defer { close(fd) }
  let source = FileDescriptorSource(fd: fd, path: archive)
  let extractor = Extractor(rootFD: rootFD, options: options)
  return Result { () throws(ArchiveError) -> ExtractionSummary in try extractor.extract(from: source) }
}

/// A temporary tree around an extraction root, to prove that a hostile archive writes nothing
/// outside it:
///
/// ```
/// <base>/sentinel/file            "sentinel\n"
/// <base>/sentinel/sub/inner       "inner\n"
/// <base>/sentinel/link -> file
/// <base>/download/other-file      "other\n"
/// <base>/download/root/           the extractor's root
/// <base>/archive                  the archive under test (not part of the snapshots)
/// ```
struct HostileFixture {
  let base: String

  var root: String { base + "/download/root" }
  var download: String { base + "/download" }
  var sentinel: String { base + "/sentinel" }
  var archive: String { base + "/archive" }

  /// Builds the tree in a new temporary directory, has `build` write the archive, extracts it
  /// and checks that everything outside the root is unchanged (content, metadata, inode, link
  /// count, ctime). `check` then looks at the outcome and at the root.
  static func run(
    compression: Compression = .none, compressionLevel: Int? = nil, format: ArchiveFormat = .pax,
    options: ExtractionOptions = ExtractionOptions(),
    sourceLocation: SourceLocation = #_sourceLocation,
    build: (TarBuilder, HostileFixture) throws -> Void,
    check: (Result<ExtractionSummary, ArchiveError>, HostileFixture) throws -> Void
  ) throws {
    try run(options: options, sourceLocation: sourceLocation, check: check) { fixture in
      let builder = try TarBuilder(
        path: fixture.archive, format: format, compression: compression, compressionLevel: compressionLevel)
      try build(builder, fixture)
      try builder.finish()
    }
  }

  /// The same with an archive of raw bytes (garbage, truncated streams, an empty file).
  static func run(
    options: ExtractionOptions = ExtractionOptions(),
    sourceLocation: SourceLocation = #_sourceLocation,
    rawArchive: [UInt8],
    check: (Result<ExtractionSummary, ArchiveError>, HostileFixture) throws -> Void
  ) throws {
    try run(options: options, sourceLocation: sourceLocation, check: check) { fixture in
      try writeFile(fixture.archive, rawArchive)
    }
  }

  private static func run(
    options: ExtractionOptions, sourceLocation: SourceLocation,
    check: (Result<ExtractionSummary, ArchiveError>, HostileFixture) throws -> Void,
    writeArchive: (HostileFixture) throws -> Void
  ) throws {
    try withTemporaryDirectory { base in
      let fixture = HostileFixture(base: base)
      try fixture.populate()
      try writeArchive(fixture)

      let before = try fixture.snapshotOutsideRoot()
      let result = try extractArchive(fixture.archive, into: fixture.root, options: options)
      let after = try fixture.snapshotOutsideRoot()
      let changes = before.changes(to: after)
      #expect(changes.isEmpty, "changed outside the root: \(changes)", sourceLocation: sourceLocation)
      try check(result, fixture)
    }
  }

  /// `pattern` with `$SENTINEL` replaced by the sentinel directory's absolute path.
  func expand(_ pattern: String) -> String {
    pattern.replacing("$SENTINEL", with: sentinel)
  }

  /// Everything below `base` except the root and the archive.
  func snapshotOutsideRoot() throws -> TreeSnapshot {
    try TreeSnapshot(base, excluding: ["download/root", "archive"])
  }

  private func populate() throws {
    try makeDirectory(sentinel)
    try writeFile(sentinel + "/file", Array("sentinel\n".utf8))
    try makeDirectory(sentinel + "/sub")
    try writeFile(sentinel + "/sub/inner", Array("inner\n".utf8))
    if symlink("file", sentinel + "/link") != 0 { throw SetupError("symlink", sentinel + "/link") }
    try makeDirectory(download)
    try writeFile(download + "/other-file", Array("other\n".utf8))
    try makeDirectory(root)
  }
}

/// Every (device, inode) of a non-directory below `path`, symlinks not followed.
func inodes(under path: String) -> [String: [UInt64]] {
  var result: [String: [UInt64]] = [:]
  guard let info = fileStatus(path) else { return result }
  if fileType(info) == S_IFDIR {
    for name in directoryEntries(path) {
      result.merge(inodes(under: path + "/" + name)) { first, _ in first }
    }
  } else {
    result[path] = [UInt64(info.st_dev), UInt64(info.st_ino)]
  }
  return result
}

extension Result {
  /// The error, or nil on success.
  var failure: Failure? {
    if case .failure(let error) = self { return error }
    return nil
  }
}
