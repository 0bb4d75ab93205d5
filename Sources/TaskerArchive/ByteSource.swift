import Glibc
import TaskerSystem

/// A stream of bytes an archive is read from: a file, a download, a pipe.
public protocol ByteSource: AnyObject {
  /// Reads up to `buffer.count` bytes into `buffer`; returns 0 at the end of the stream.
  func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// A `ByteSource` over an open file descriptor (not closed by the source).
public final class FileDescriptorSource: ByteSource {
  private let fd: Int32
  private let path: String?

  public init(fd: Int32, path: String? = nil) {
    self.fd = fd
    self.path = path
  }

  public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    try retryingSyscall("read", path: path) { Glibc.read(fd, buffer.baseAddress, buffer.count) }
  }
}

extension ByteSource {
  /// Reads to the end of the stream, or until at least `limit` bytes are held, and returns
  /// what was read (a document: a manifest, a config, an error answer).
  public func readToEnd(limit: Int = .max) throws -> [UInt8] {
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 64 << 10)
    while bytes.count < limit {
      let n = try buffer.withUnsafeMutableBytes { try read(into: $0) }
      if n == 0 { break }
      bytes += buffer[0..<n]
    }
    return bytes
  }
}
