import Glibc
import TaskerArchive
import TaskerSystem

/// The bytes of `file` from `offset` for `length` bytes (to its end when `length` is nil), read
/// with `pread`, so that many streams can share one descriptor (the members of one archive).
final class FileRangeSource: ByteSource {
  private let file: OpenFile
  private var position: Int64
  private let end: Int64?
  private let what: String

  /// `what` names the file in messages.
  init(_ file: OpenFile, offset: Int64 = 0, length: Int64? = nil, what: String) {
    self.file = file
    position = offset
    end = length.map { offset + $0 }
    self.what = what
  }

  func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    let room = end.map { min(Int64(buffer.count), $0 - position) } ?? Int64(buffer.count)
    guard room > 0 else { return 0 }
    let fd = file.fd
    let offset = position
    let n: Int
    do {
      n = try retryingSyscall("pread", path: what) { pread(fd, buffer.baseAddress, Int(room), off_t(offset)) }
    } catch {
      throw ImageError.file(error)
    }
    position += Int64(n)
    return n
  }
}
