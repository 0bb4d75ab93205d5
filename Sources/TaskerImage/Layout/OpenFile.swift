import Glibc

/// A descriptor owned by whoever holds this object: closed when the last holder lets it go, so
/// that a blob's stream keeps its layout directory or archive open after the source is gone.
final class OpenFile: Sendable {
  let fd: Int32

  init(_ fd: Int32) { self.fd = fd }

  deinit { close(fd) }
}
