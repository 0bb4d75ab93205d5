import TaskerArchive

/// Passes a blob's bytes through while checking them against the descriptor that names it: more
/// bytes than its size fail at once, and at the end of the stream the count and the SHA-256
/// must match (`ImageError.digestMismatch`). A reader that stops early checks nothing: read to 0.
public final class VerifyingSource: ByteSource, @unchecked Sendable {
  private let hashing: SHA256Source
  private let expected: Digest
  private let size: Int64
  private let what: String
  private var count: Int64 = 0
  private var verified = false

  /// `what` names the blob in messages ("layer sha256:ab12…", "config").
  public init(_ upstream: any ByteSource, expected: Digest, size: Int64, what: String) {
    hashing = SHA256Source(upstream)
    self.expected = expected
    self.size = size
    self.what = what
  }

  public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    if verified { return 0 }
    // One byte more than the size is asked for at most, to see a blob that goes on.
    // (A size from a hostile manifest may be anything: no arithmetic here can overflow.)
    let left = count > size ? 0 : size - count
    let room = min(Int64(buffer.count), left == Int64.max ? left : left + 1)
    let n = try hashing.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(room)]))
    count += Int64(n)
    if count > size {
      throw ImageError.digestMismatch(
        what: what, expected: "\(expected) (\(size) bytes)", actual: "more than \(size) bytes")
    }
    if n == 0 {
      let actual = "sha256:" + hashing.hexDigest()
      guard count == size, actual == expected.description else {
        throw ImageError.digestMismatch(
          what: what, expected: "\(expected) (\(size) bytes)", actual: "\(actual) (\(count) bytes)")
      }
      verified = true
    }
    return n
  }

  /// Checks bytes held whole (a manifest, a config) the same way.
  public static func check(_ bytes: [UInt8], expected: Digest, size: Int64?, what: String) throws(ImageError) {
    let actual = sha256Hex(bytes)
    guard size == nil || Int64(bytes.count) == size, actual == expected.hex else {
      throw .digestMismatch(
        what: what, expected: expected.description + (size.map { " (\($0) bytes)" } ?? ""),
        actual: "sha256:\(actual) (\(bytes.count) bytes)")
    }
  }
}

/// The SHA-256 of `bytes` as 64 lowercase hex digits.
public func sha256Hex(_ bytes: [UInt8]) -> String {
  final class Bytes: ByteSource {
    var bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
      let n = min(buffer.count, bytes.count - offset)
      bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + n)])) }
      offset += n
      return n
    }
  }
  let hashing = SHA256Source(Bytes(bytes))
  _ = try? hashing.drain(limit: UInt64.max)
  return hashing.hexDigest()
}
