import Foundation
import Glibc
import TaskerArchive
import TaskerImage
import TaskerSystem
import Testing

@Suite struct ImageFetcherTests {
  /// A gzip-compressed image with a couple of files.
  private static func writeImage(_ path: String, compression: Compression = .gzip) throws {
    let tar = try TarBuilder(path: path, compression: compression)
    try tar.directory("./etc/")
    try tar.file("./etc/hostname", "fetched\n")
    try tar.file("./bin/sh", "#!\n", mode: 0o755)
    try tar.finish()
  }

  /// Fetches `location` into a new directory `<dir>/root`.
  private static func fetch(
    _ location: ImageLocation, dir: String, expectedSHA256: String?, fetcher: ImageFetcher = ImageFetcher()
  ) throws -> ImageFetcher.Result {
    let root = dir + "/root"
    try makeDirectory(root)
    let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if fd < 0 { throw SetupError("open", root) }
    defer { close(fd) }
    return try fetcher.fetch(location, into: fd, expectedSHA256: expectedSHA256)
  }

  @Test func fetchesALocalFileIntoADirectory() throws {
    try withTemporaryDirectory { dir in
      let archive = dir + "/image.tar.gz"
      try Self.writeImage(archive)
      let result = try Self.fetch(.file(archive), dir: dir, expectedSHA256: nil)
      #expect(result.summary.entries == 3)
      #expect(try readFile(dir + "/root/etc/hostname") == Array("fetched\n".utf8))
      #expect(fileStatus(dir + "/root/bin/sh").map(permissions) == 0o755)
      #expect(result.sha256 == (try sha256sum(archive)))
    }
  }

  @Test func fetchesAFileURL() throws {
    try withTemporaryDirectory { dir in
      let archive = dir + "/with space.tar"
      try Self.writeImage(archive, compression: .none)
      let location = try ImageLocation("file://" + archive.replacing(" ", with: "%20"))
      #expect(location == .file(archive))
      let result = try Self.fetch(location, dir: dir, expectedSHA256: nil)
      #expect(result.summary.entries == 3)
      #expect(try readFile(dir + "/root/etc/hostname") == Array("fetched\n".utf8))
    }
  }

  @Test func rightChecksumPasses() throws {
    try withTemporaryDirectory { dir in
      let archive = dir + "/image.tar.xz"
      try Self.writeImage(archive, compression: .xz)
      let digest = try sha256sum(archive)
      let result = try Self.fetch(.file(archive), dir: dir, expectedSHA256: digest)
      #expect(result.sha256 == digest)
      #expect(result.summary.entries == 3)
    }
  }

  @Test func wrongChecksumThrowsMismatch() throws {
    try withTemporaryDirectory { dir in
      let archive = dir + "/image.tar.gz"
      try Self.writeImage(archive)
      let digest = try sha256sum(archive)
      let wrong = String(repeating: "0", count: 64)
      let error = #expect(throws: ImageError.self) {
        try Self.fetch(.file(archive), dir: dir, expectedSHA256: wrong)
      }
      guard case .checksumMismatch(let expected, let actual) = error else {
        Issue.record("expected checksumMismatch, got \(String(describing: error))")
        return
      }
      #expect(expected == wrong)
      #expect(actual == digest)
      #expect(String(describing: error).contains(digest))
    }
  }

  /// The digest is of the whole file: zero padding after the end-of-archive blocks counts.
  @Test(arguments: [Compression.none, .gzip])
  func checksumCoversTrailingPadding(_ compression: Compression) throws {
    try withTemporaryDirectory { dir in
      let archive = dir + "/image.tar"
      try Self.writeImage(archive, compression: compression)
      let unpadded = try sha256sum(archive)
      try appendToFile(archive, [UInt8](repeating: 0, count: 10 * 1024))
      let padded = try sha256sum(archive)
      #expect(padded != unpadded)

      let result = try Self.fetch(.file(archive), dir: dir, expectedSHA256: padded)
      #expect(result.sha256 == padded)
      try makeDirectory(dir + "/again")
      #expect(throws: ImageError.self) {
        try Self.fetch(.file(archive), dir: dir + "/again", expectedSHA256: unpadded)
      }
    }
  }

  /// The same with more trailing bytes than one read of the source (256 KiB): the digest must
  /// still cover them all, whether the caller gave a checksum to compare or not.
  @Test(arguments: [true, false])
  func checksumCoversLongTrailingData(withExpectedChecksum: Bool) throws {
    try withTemporaryDirectory { dir in
      let archive = dir + "/image.tar"
      let tar = try TarBuilder(path: archive)
      try tar.zeros("payload", size: 600 * 1024)
      try tar.finish()
      try appendToFile(archive, [UInt8](repeating: 0, count: 1 << 20))
      let digest = try sha256sum(archive)

      let result = try Self.fetch(.file(archive), dir: dir, expectedSHA256: withExpectedChecksum ? digest : nil)
      #expect(result.summary.bytes == 600 * 1024)
      // `Result.sha256` is the SHA-256 of every byte, trailing padding included.
      #expect(result.sha256 == digest)
    }
  }

  @Test func archiveErrorsPassThrough() throws {
    try withTemporaryDirectory { dir in
      let archive = dir + "/bad.tar"
      let tar = try TarBuilder(path: archive)
      try tar.file("../escape", "x")
      try tar.finish()
      let error = #expect(throws: ArchiveError.self) {
        try Self.fetch(.file(archive), dir: dir, expectedSHA256: nil)
      }
      #expect(String(describing: error).contains("../escape"))
      #expect(fileStatus(dir + "/escape") == nil)
    }
  }

  @Test func missingFileAndDirectoryAreFileErrors() throws {
    try withTemporaryDirectory { dir in
      let missing = #expect(throws: ImageError.self) {
        try Self.fetch(.file(dir + "/missing.tar"), dir: dir, expectedSHA256: nil)
      }
      guard case .file(let cause) = missing else {
        Issue.record("expected a file error, got \(String(describing: missing))")
        return
      }
      #expect(cause.errno == ENOENT)
      #expect(String(describing: missing).contains("missing.tar"))

      try makeDirectory(dir + "/a-directory")
      let directory = #expect(throws: ImageError.self) {
        try Self.fetch(.file(dir + "/a-directory"), dir: dir + "/a-directory", expectedSHA256: nil)
      }
      guard case .file(let cause) = directory else {
        Issue.record("expected a file error, got \(String(describing: directory))")
        return
      }
      #expect(cause.errno == EISDIR)
    }
  }

  @Test func normalizedChecksumAcceptsUpperCase() throws {
    let upper = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
    #expect(try ImageFetcher.normalizedChecksum(upper) == upper.lowercased())
    #expect(try ImageFetcher.normalizedChecksum(upper.lowercased()) == upper.lowercased())
  }

  @Test(arguments: [
    String(repeating: "a", count: 63),
    String(repeating: "a", count: 65),
    String(repeating: "a", count: 63) + "g",
    String(repeating: "a", count: 63) + "Z",
    " " + String(repeating: "a", count: 63),
    String(repeating: "a", count: 64) + "\n",
    "",
    "sha256:" + String(repeating: "a", count: 64),
    String(repeating: "é", count: 32),
  ])
  func normalizedChecksumRejects(_ text: String) {
    let error = #expect(throws: ImageError.self) { try ImageFetcher.normalizedChecksum(text) }
    guard case .invalidChecksum(let echoed) = error else {
      Issue.record("expected invalidChecksum, got \(String(describing: error))")
      return
    }
    #expect(echoed == text)
  }
}

/// The SHA-256 of a file as `sha256sum` prints it: independent of the library's hashing.
func sha256sum(_ path: String) throws -> String {
  let child = Foundation.Process()
  child.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
  child.arguments = [path]
  let output = Pipe()
  child.standardOutput = output
  try child.run()
  let data = output.fileHandleForReading.readDataToEndOfFile()
  child.waitUntilExit()
  guard child.terminationStatus == 0, let digest = String(decoding: data, as: UTF8.self).split(separator: " ").first
  else { throw SetupError("sha256sum", path, errno: EIO) }
  return String(digest)
}
