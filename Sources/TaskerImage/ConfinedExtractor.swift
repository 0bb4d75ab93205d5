import CTaskerShim
import Glibc
import TaskerArchive
import TaskerSystem

/// Extracts an archive in tasker-unpack, a child that holds only what writing the files needs
/// (see Sources/CTaskerConfine): libarchive and the decompressors never run in tasker itself.
///
/// tasker keeps the download and the SHA-256 (over the raw bytes, as they arrive) and sends
/// the bytes into the child's stdin; the child's report becomes the same summary, or the same
/// `ArchiveError`, an in-process `Extractor` would have given.
public struct ConfinedExtractor: Sendable {
  /// The tasker-unpack executable.
  public var helperPath: String
  public var options: ExtractionOptions

  public init(helperPath: String, options: ExtractionOptions) {
    self.helperPath = helperPath
    self.options = options
  }

  /// The child's arguments for `options` (argv[0] first).
  public var arguments: [String] {
    var result = [helperPath]
    if options.skipUnsafeMembers { result.append("--skip-unsafe-members") }
    if options.preserveOwnership { result.append("--owners") }
    if options.layer { result.append("--layer") }
    result += [
      "--max-bytes", String(options.limits.maxBytes), "--max-entries", String(options.limits.maxEntries),
      "--max-path-length", String(options.limits.maxPathLength),
    ]
    return result
  }

  /// Sends `source` to a new tasker-unpack that extracts it into the directory `rootFD`. The
  /// child may stop reading before the source ends (the archive's end-of-archive blocks come
  /// before the stream's padding); the caller reads the rest, for the digest.
  public func extract(from source: any ByteSource, into rootFD: Int32, extraArguments: [String] = [])
    throws -> (summary: ExtractionSummary, report: ExtractionReport)
  {
    var stream: [Int32] = [-1, -1]
    try retryingSyscall("socketpair") {
      socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &stream)
    }
    var size: Int32 = 1 << 20
    setsockopt(stream[0], SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    setsockopt(stream[1], SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    var pipe: [Int32] = [-1, -1]
    if tasker_pipe_cloexec(&pipe) != 0 {
      let error = SystemError("pipe2", errno: errno)
      close(stream[0])
      close(stream[1])
      throw error
    }
    let pid: Int32
    do {
      // No backtracer: it would be another program to start, and seccomp refuses exec.
      pid = try spawnProcess(
        path: helperPath, arguments: arguments + extraArguments, environment: ["SWIFT_BACKTRACE=enable=no"],
        fds: [stream[1], pipe[1], pipe[1], rootFD])
    } catch {
      for fd in stream + pipe { close(fd) }
      throw ArchiveError.extractionProcess("cannot start \(helperPath): \(error.reason)")
    }
    close(stream[1])
    close(pipe[1])
    let sender = stream[0]

    // The report is read on a thread of its own, so that a child with much to say never
    // waits on a full pipe while tasker waits on it to read the stream.
    let collected = ReportBuffer()
    let reportFD = pipe[0]
    let reader: JoinableThread
    do {
      reader = try JoinableThread {
        collected.bytes = (try? readAll(fd: reportFD, limit: 64 << 20)) ?? []
        close(reportFD)
      }
    } catch {
      kill(pid, SIGKILL)
      _ = try? waitForChild(pid)
      close(sender)
      close(reportFD)
      throw error
    }

    do {
      try pump(source, into: sender)
    } catch {
      // The download or the file failed: what the child made of a stream cut short does not
      // matter. It is tasker's own unreaped child, so its PID cannot have been reused.
      kill(pid, SIGKILL)
      close(sender)
      reader.join()
      _ = try? waitForChild(pid)
      if let error = error as? ArchiveError { throw error }
      throw ArchiveError.source(error)
    }
    close(sender)
    reader.join()
    let status = try waitForChild(pid)
    let report = ExtractionReport.decode(collected.bytes)
    switch report.error {
    case .archive(let record)?: throw record.archiveError
    case .confinement(let step, let code)?:
      throw ArchiveError.extractionProcess(
        "tasker-unpack cannot confine itself: \(SystemError(step, errno: code))")
    case nil: break
    }
    if let summary = report.summary, status == 0 { return (summary, report) }
    let said = report.otherLines.joined(separator: "; ")
    let how =
      (status & 0x7f) != 0 ? "was killed by signal \(status & 0x7f)" : "exited with status \((status >> 8) & 0xff)"
    throw ArchiveError.extractionProcess("tasker-unpack \(how) without a report" + (said.isEmpty ? "" : ": " + said))
  }

  /// Copies `source` into the socket until either ends. Throws only the source's errors.
  private func pump(_ source: any ByteSource, into fd: Int32) throws {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
    defer { buffer.deallocate() }
    while true {
      let n = try source.read(into: buffer)
      if n == 0 { return }
      var sent = 0
      while sent < n {
        let m = send(fd, buffer.baseAddress.unsafelyUnwrapped + sent, n - sent, Int32(MSG_NOSIGNAL))
        if m < 0 {
          if errno == EINTR { continue }
          return  // the child stopped reading: the archive ended, or it failed (its report says)
        }
        sent += m
      }
    }
  }
}

private final class ReportBuffer: @unchecked Sendable {
  var bytes: [UInt8] = []
}
