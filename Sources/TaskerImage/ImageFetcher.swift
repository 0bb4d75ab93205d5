import Glibc
import TaskerArchive
import TaskerSystem

/// Streams an image from where it lives into a directory: download (or read), SHA-256, and
/// extraction happen in one pass, and no copy of the archive is ever written.
public struct ImageFetcher: Sendable {
  /// What to check and how to extract.
  public var extraction: ExtractionOptions
  /// Seconds without a byte before a download fails.
  public var stallSeconds: Int
  /// The tasker-unpack executable that decompresses and extracts, confined
  /// (`ConfinedExtractor`); nil extracts in this process (tests, the fuzz harness).
  public var unpacker: String?

  public init(
    extraction: ExtractionOptions = ExtractionOptions(), stallSeconds: Int = 30, unpacker: String? = nil
  ) {
    self.extraction = extraction
    self.stallSeconds = stallSeconds
    self.unpacker = unpacker
  }

  /// What one fetch did.
  public struct Result: Sendable {
    /// The SHA-256 of the archive's bytes, as 64 hex digits.
    public var sha256: String
    public var summary: ExtractionSummary
  }

  /// Validates a `--sha256` argument: 64 hex digits, returned lowercased.
  public static func normalizedChecksum(_ text: String) throws(ImageError) -> String {
    let lower = text.lowercased()
    guard lower.utf8.count == 64, lower.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
    else { throw .invalidChecksum(text) }
    return lower
  }

  /// Fetches `location` and extracts it into the directory `rootFD`. With `expectedSHA256`, the
  /// whole stream is read and checked; a mismatch throws (the caller removes the directory).
  public func fetch(_ location: ImageLocation, into rootFD: Int32, expectedSHA256: String?)
    throws -> Result
  {
    switch location {
    case .http(let url):
      let source = try HTTPSource(url: url, stallSeconds: stallSeconds)
      return try extract(from: source, into: rootFD, expectedSHA256: expectedSHA256)
    case .file(let path):
      let fd = open(path, O_RDONLY | O_CLOEXEC)
      if fd < 0 { throw ImageError.file(SystemError("open", path: path, errno: errno)) }
      defer { close(fd) }
      var info = stat()
      if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
        throw ImageError.file(SystemError("read", path: path, errno: EISDIR))
      }
      let source = FileDescriptorSource(fd: fd, path: path)
      return try extract(from: source, into: rootFD, expectedSHA256: expectedSHA256)
    }
  }

  /// Extracts the archive `source` gives into the directory `rootFD`, hashing every byte.
  public func extract(from source: any ByteSource, into rootFD: Int32, expectedSHA256: String?)
    throws -> Result
  {
    let hashing = SHA256Source(source)
    let summary: ExtractionSummary
    if let unpacker {
      // Hashing here, over the raw bytes; decompressing and writing in the confined child.
      summary = try ConfinedExtractor(helperPath: unpacker, options: extraction).extract(from: hashing, into: rootFD)
        .summary
    } else {
      // Decompression runs on a thread of its own, ahead of the writer.
      let decompressing = try DecompressingSource(hashing)
      defer { decompressing.finish() }
      summary = try Extractor(rootFD: rootFD, options: extraction).extract(from: decompressing)
    }
    // The archive may end before the stream does (zero blocks, padding): the digest is of
    // every byte, so that it matches what sha256sum says of the file.
    _ = try hashing.drain(limit: extraction.limits.maxBytes)
    let actual = hashing.hexDigest()
    if let expectedSHA256, actual != expectedSHA256.lowercased() {
      throw ImageError.checksumMismatch(expected: expectedSHA256.lowercased(), actual: actual)
    }
    return Result(sha256: actual, summary: summary)
  }
}
