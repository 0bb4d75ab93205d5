import CTaskerShim
import Glibc
import TaskerArchive
import TaskerSystem

/// What a server said identifies its copy: sent back on the next request, they let it answer
/// 304 Not Modified instead of the body.
public struct HTTPValidators: Codable, Equatable, Sendable {
  public var etag: String?
  public var lastModified: String?

  public init(etag: String? = nil, lastModified: String? = nil) {
    self.etag = etag
    self.lastModified = lastModified
  }

  public var isEmpty: Bool { etag == nil && lastModified == nil }
}

/// The body of an http(s) download as a `ByteSource`.
///
/// libcurl (the most widely deployed HTTP client; it brings TLS, redirects and proxies) runs the
/// transfer on its own thread and pushes the body into a socket pair; the extractor pulls from
/// the other end. Download, decompression and writing thus overlap, and no byte touches the
/// disk outside the task's directory. Closing the reader early ends the transfer (EPIPE).
public final class HTTPSource: ByteSource {
  private let url: String
  private let readFD: Int32
  private let thread: JoinableThread
  let request: UnsafeMutablePointer<tasker_http_request>
  private let strings: [UnsafeMutablePointer<CChar>?]
  private let caPEM: UnsafeMutableBufferPointer<CChar>?
  let outcome: Outcome
  private var finished = false
  private var pending: [UInt8] = []

  final class Outcome: @unchecked Sendable {
    var code: Int32 = 0
  }

  /// Starts downloading `url`. A transfer with no byte for `stallSeconds` fails. With
  /// `validators` of a copy already held, the server may answer 304 (see `hasBody`).
  public convenience init(
    url: String, stallSeconds: Int = 30, maxRedirects: Int = 10, validators: HTTPValidators? = nil
  ) throws(ImageError) {
    try self.init(url: url, options: HTTPRequestOptions(), stallSeconds: stallSeconds, validators: validators)
  }

  /// Starts a request with `options` (headers, HEAD, readable errors, a bounded body, TLS).
  public init(
    url: String, options: HTTPRequestOptions, stallSeconds: Int = 30, maxRedirects: Int = 10,
    validators: HTTPValidators? = nil
  ) throws(ImageError) {
    self.url = url
    var fds: [Int32] = [-1, -1]
    if socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) != 0 {
      throw .file(SystemError("socketpair", errno: errno))
    }
    var size: Int32 = 1 << 20
    setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    readFD = fds[0]
    let writeFD = fds[1]
    let headerText = options.headers.isEmpty ? nil : options.headers.map { $0 + "\n" }.joined()
    strings = [
      strdup(url), validators?.etag.map { strdup($0) }, validators?.lastModified.map { strdup($0) },
      headerText.map { strdup($0) }, options.clientCertificate.map { strdup($0) },
      options.clientKey.map { strdup($0) },
    ]
    caPEM = options.caPEM.map { bytes in
      let copy = UnsafeMutableBufferPointer<CChar>.allocate(capacity: max(1, bytes.count))
      for (index, byte) in bytes.enumerated() { copy[index] = CChar(bitPattern: byte) }
      return copy
    }
    request = .allocate(capacity: 1)
    request.initialize(to: tasker_http_request())
    request.pointee.url = UnsafePointer(strings[0])
    request.pointee.fd = writeFD
    request.pointee.stall_seconds = stallSeconds
    request.pointee.max_redirects = maxRedirects
    request.pointee.if_none_match = UnsafePointer(strings[1])
    request.pointee.if_modified_since = UnsafePointer(strings[2])
    request.pointee.headers = UnsafePointer(strings[3])
    request.pointee.client_cert = UnsafePointer(strings[4])
    request.pointee.client_key = UnsafePointer(strings[5])
    request.pointee.head = options.head ? 1 : 0
    request.pointee.keep_errors = options.keepErrors ? 1 : 0
    request.pointee.max_body = options.maxBody ?? 0
    request.pointee.insecure = options.insecure ? 1 : 0
    if let caPEM, let count = options.caPEM?.count {
      request.pointee.ca_pem = UnsafePointer(caPEM.baseAddress)
      request.pointee.ca_pem_length = count
    }
    let outcome = Outcome()
    self.outcome = outcome
    let shared = UnsafeTransfer(request)
    do {
      thread = try JoinableThread {
        outcome.code = tasker_http_fetch(shared.value)
        close(writeFD)
      }
    } catch {
      close(fds[0])
      close(fds[1])
      request.deallocate()
      for string in strings { free(string) }
      caPEM?.deallocate()
      throw .file(error)
    }
  }

  deinit {
    close(readFD)
    thread.join()
    request.deallocate()
    for string in strings { free(string) }
    caPEM?.deallocate()
  }

  /// Waits for the response: false if the server answered 304 Not Modified (no body), true if
  /// a body follows. Errors (HTTP 404, refused, ...) are thrown.
  public func hasBody() throws -> Bool {
    if !pending.isEmpty { return true }
    var first = [UInt8](repeating: 0, count: 64 * 1024)
    let n = try first.withUnsafeMutableBytes { try readFromSocket(into: $0) }
    if n == 0 { return request.pointee.status != 304 }
    pending = Array(first[0..<n])
    return true
  }

  /// The validators of the response (complete once the body has been read).
  public var validators: HTTPValidators {
    HTTPValidators(
      etag: text(request.pointee.etag), lastModified: text(request.pointee.last_modified))
  }

  /// Bytes received so far, and the length the server announced (nil if it did not).
  public var progress: (received: Int64, total: Int64?) {
    let total = request.pointee.content_length
    return (request.pointee.received, total >= 0 ? total : nil)
  }

  public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    if !pending.isEmpty {
      let count = min(buffer.count, pending.count)
      pending.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
      pending.removeFirst(count)
      return count
    }
    return try readFromSocket(into: buffer)
  }

  private func readFromSocket(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    if finished { return 0 }
    while true {
      let n = recv(readFD, buffer.baseAddress, buffer.count, 0)
      if n > 0 { return n }
      if n < 0 && errno == EINTR { continue }
      if n < 0 { throw ImageError.file(SystemError("recv", path: url, errno: errno)) }
      // End of the body: it is complete only if libcurl says the transfer succeeded.
      finished = true
      thread.join()
      try checkOutcome()
      return 0
    }
  }

  func checkOutcome() throws(ImageError) {
    let curlHTTPReturnedError: Int32 = 22
    let curlOperationTimedOut: Int32 = 28
    let curlTooManyRedirects: Int32 = 47
    let status = request.pointee.status
    let message = text(request.pointee.error) ?? "unknown error"
    switch outcome.code {
    case 0: return
    case curlHTTPReturnedError where status >= 400:
      throw .httpStatus(status, url: url)
    case curlOperationTimedOut:
      throw .download("timed out: \(message)", url: url)
    case curlTooManyRedirects:
      throw .download("redirect loop: more than \(request.pointee.max_redirects) redirects", url: url)
    default:
      throw .download(message, url: url)
    }
  }

  func text<T>(_ tuple: T) -> String? {
    withUnsafeBytes(of: tuple) { raw in
      let bytes = raw.prefix { $0 != 0 }
      return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
    }
  }
}
