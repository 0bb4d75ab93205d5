import TaskerArchive

/// A blob's bytes from `/v2/REPO/blobs/DIGEST`, resumed where a transfer was cut: the next
/// request asks `Range: bytes=N-`, and a 206 continues the stream. A registry that ignores the
/// range answers 200 with the whole blob: its first N bytes, already passed on, are skipped, so
/// the verifier above (`VerifyingSource`) still sees exactly one copy of each byte and checks the
/// digest of what the caller got.
final class RegistryBlobSource: ByteSource {
  private let client: RegistryClient
  private let descriptor: Descriptor
  private let what: String
  private var source: HTTPSource
  private var offset: Int64 = 0
  private var resumes = 0

  init(client: RegistryClient, descriptor: Descriptor) throws(ImageError) {
    self.client = client
    self.descriptor = descriptor
    what = "blob \(descriptor.digest)"
    source = try Self.open(client: client, descriptor: descriptor, what: what, from: 0)
  }

  private static func open(client: RegistryClient, descriptor: Descriptor, what: String, from offset: Int64)
    throws(ImageError) -> HTTPSource
  {
    let (source, head) = try client.send(
      "/v2/\(client.reference.repository)/blobs/\(descriptor.digest)", accept: nil, range: offset > 0 ? offset : nil,
      maxBody: nil, scope: client.scope, what: what)
    switch head.status {
    case 200:
      try skip(offset, of: source, what: what, client: client)
      return source
    case 206 where offset > 0:
      guard let range = head.contentRange, range.hasPrefix("bytes \(offset)-") else {
        throw .registry(
          "\(client.host): \(what): a resumed transfer answered the range \(head.contentRange ?? "(none)"),"
            + " not from byte \(offset)")
      }
      return source
    default:
      throw client.failure(head, source: source, what: what)
    }
  }

  /// Drops the first `count` bytes of a full answer to a resumed request.
  private static func skip(_ count: Int64, of source: HTTPSource, what: String, client: RegistryClient)
    throws(ImageError)
  {
    var left = count
    var buffer = [UInt8](repeating: 0, count: 64 << 10)
    while left > 0 {
      let n: Int
      do {
        n = try buffer.withUnsafeMutableBytes {
          try source.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[0..<Int(min(Int64($0.count), left))]))
        }
      } catch {
        throw .registry("\(client.host): \(what): \(RegistryClient.reason(RegistryClient.imageError(error)))")
      }
      if n == 0 { throw .registry("\(client.host): \(what): the blob ended before byte \(count) on a retry") }
      left -= Int64(n)
    }
  }

  func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    while true {
      do {
        let n = try source.read(into: buffer)
        offset += Int64(n)
        return n
      } catch {
        let code = source.transferCode
        guard resumes < client.retry.retries, RetryPolicy.retryableTransfers.contains(code) else {
          throw ImageError.registry(
            "\(client.host): \(what): \(RegistryClient.reason(RegistryClient.imageError(error)))"
              + (resumes > 0 ? " (after \(resumes) resumed transfers)" : ""))
        }
        RetryPolicy.sleep(seconds: client.retry.delay(afterAttempt: resumes, retryAfter: nil))
        resumes += 1
        source = try Self.open(client: client, descriptor: descriptor, what: what, from: offset)
      }
    }
  }
}
