import CCrypto
import TaskerArchive

/// Passes another source through while computing the SHA-256 of every byte read (OpenSSL's
/// libcrypto, which uses the CPU's SHA extensions where there are some).
public final class SHA256Source: ByteSource {
  private let upstream: any ByteSource
  private let context: OpaquePointer?

  public init(_ upstream: any ByteSource) {
    self.upstream = upstream
    context = EVP_MD_CTX_new()
    EVP_DigestInit_ex(context, EVP_sha256(), nil)
  }

  deinit { EVP_MD_CTX_free(context) }

  public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    let n = try upstream.read(into: buffer)
    if n > 0 { EVP_DigestUpdate(context, buffer.baseAddress, n) }
    return n
  }

  /// Reads the rest of the stream (an archive may end before its source does: padding, zero
  /// blocks) so that the digest covers every byte. Stops after `limit` bytes.
  public func drain(limit: UInt64) throws -> UInt64 {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
    defer { buffer.deallocate() }
    var total: UInt64 = 0
    while total < limit {
      let n = try read(into: buffer)
      if n == 0 { break }
      total += UInt64(n)
    }
    return total
  }

  /// The digest of what was read so far, as 64 lowercase hex digits.
  public func hexDigest() -> String {
    var digest = [UInt8](repeating: 0, count: 32)
    var length: UInt32 = 0
    guard let copy = EVP_MD_CTX_new() else { return "" }
    defer { EVP_MD_CTX_free(copy) }
    EVP_MD_CTX_copy_ex(copy, context)
    EVP_DigestFinal_ex(copy, &digest, &length)
    return digest.map { byte in
      let text = String(byte, radix: 16)
      return byte < 16 ? "0" + text : text
    }.joined()
  }
}
