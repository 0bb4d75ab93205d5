import CTaskerShim
import Glibc
import TaskerArchive
import TaskerSystem

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
  private let outcome: Outcome
  private var finished = false

  private final class Outcome: @unchecked Sendable {
    var code: Int32 = 0
    var status = 0
    var message = ""
  }

  /// Starts downloading `url`. A transfer with no byte for `stallSeconds` fails.
  public init(url: String, stallSeconds: Int = 30, maxRedirects: Int = 10) throws(ImageError) {
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
    let outcome = Outcome()
    self.outcome = outcome
    do {
      thread = try JoinableThread {
        var message = [CChar](repeating: 0, count: 512)
        var status = 0
        let code = tasker_http_fetch(
          url, writeFD, stallSeconds, maxRedirects, &message, message.count, &status)
        outcome.code = code
        outcome.status = status
        outcome.message = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        close(writeFD)
      }
    } catch {
      close(fds[0])
      close(fds[1])
      throw .file(error)
    }
  }

  deinit {
    close(readFD)
    thread.join()
  }

  public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
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

  private func checkOutcome() throws(ImageError) {
    let curlHTTPReturnedError: Int32 = 22
    let curlOperationTimedOut: Int32 = 28
    switch outcome.code {
    case 0: return
    case curlHTTPReturnedError where outcome.status >= 400:
      throw .httpStatus(outcome.status, url: url)
    case curlOperationTimedOut:
      throw .download("timed out: \(outcome.message)", url: url)
    default:
      throw .download(outcome.message, url: url)
    }
  }
}
