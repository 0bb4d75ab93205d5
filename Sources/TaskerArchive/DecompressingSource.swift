import CArchive
import Glibc
import TaskerSystem

/// Decompresses a gzip, bzip2, xz or zstd stream (or passes a plain one through) on a thread of
/// its own, so that decompressing and writing files overlap, as GNU tar's external
/// decompressor does. The extractor then reads a plain tar stream from it.
///
/// Call `finish()` once done with it: the upstream source is read by the thread until then.
public final class DecompressingSource: ByteSource {
  private let readFD: Int32
  private var thread: JoinableThread?
  private let outcome = Outcome()
  private var finished = false

  private final class Outcome: @unchecked Sendable {
    var failure: ArchiveError?
  }

  /// Starts decompressing `upstream`.
  public init(_ upstream: any ByteSource) throws(SystemError) {
    var fds: [Int32] = [-1, -1]
    if socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) != 0 {
      throw SystemError("socketpair", errno: errno)
    }
    var size: Int32 = 1 << 20
    setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    readFD = fds[0]
    let writeFD = fds[1]
    let outcome = outcome
    let box = UnsafeTransfer(SourceBox(upstream))
    do {
      thread = try JoinableThread {
        outcome.failure = Self.pump(box.value, into: writeFD)
        close(writeFD)
      }
    } catch {
      close(fds[0])
      close(fds[1])
      throw error
    }
  }

  deinit { finish() }

  /// Stops the thread (it gets EPIPE if it is still writing) and waits for it.
  public func finish() {
    if finished { return }
    finished = true
    shutdown(readFD, Int32(SHUT_RDWR))
    thread?.join()
    close(readFD)
  }

  public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    while true {
      let n = recv(readFD, buffer.baseAddress, buffer.count, 0)
      if n > 0 { return n }
      if n < 0 && errno == EINTR { continue }
      if n < 0 { throw ArchiveError.unreadable(SystemError.describe(errno)) }
      // The end: complete only if the decompressor finished without an error.
      thread?.join()
      if let failure = outcome.failure { throw failure }
      return 0
    }
  }

  /// Reads `box`'s source through libarchive's decompression filters (format "raw": the
  /// stream as one entry) and sends the bytes to `fd`. Returns why it stopped early, if it did.
  private static func pump(_ box: SourceBox, into fd: Int32) -> ArchiveError? {
    guard let archive = archive_read_new() else { return .unreadable("cannot allocate a reader") }
    defer { archive_read_free(archive) }
    archive_read_support_filter_gzip(archive)
    archive_read_support_filter_bzip2(archive)
    archive_read_support_filter_xz(archive)
    archive_read_support_filter_zstd(archive)
    archive_read_support_format_raw(archive)
    let context = Unmanaged.passRetained(box)
    defer { context.release() }
    func failure(_ archive: OpaquePointer) -> ArchiveError {
      box.failure ?? .unreadable(archive_error_string(archive).map { String(cString: $0) } ?? "read error")
    }
    if archive_read_open(archive, context.toOpaque(), nil, sourceRead, nil) != ARCHIVE_OK { return failure(archive) }
    var entry: OpaquePointer?
    let status = archive_read_next_header(archive, &entry)
    if status == ARCHIVE_EOF { return nil }  // nothing at all: the extractor says so
    if status < ARCHIVE_WARN { return failure(archive) }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
    defer { buffer.deallocate() }
    while true {
      let n = archive_read_data(archive, buffer.baseAddress, buffer.count)
      if n == 0 { return nil }
      if n < 0 { return failure(archive) }
      var sent = 0
      while sent < n {
        let m = send(fd, buffer.baseAddress.unsafelyUnwrapped + sent, n - sent, Int32(MSG_NOSIGNAL))
        if m < 0 {
          if errno == EINTR { continue }
          return nil  // the reader is done (it stopped at the end of the archive, or failed)
        }
        sent += m
      }
    }
  }
}
