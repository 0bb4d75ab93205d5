import Glibc

/// A failed system call: which call, on which path, and the `errno` it returned.
///
/// Printed the way crun prints them: `chroot("/srv/x"): No such file or directory`.
public struct SystemError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The call that failed, such as `openat2` or `chroot`.
  public var operation: String
  /// The path (or other argument) it was given, when there is one.
  public var path: String?
  /// The `errno` value.
  public var errno: Int32

  public init(_ operation: String, path: String? = nil, errno: Int32) {
    self.operation = operation
    self.path = path
    self.errno = errno
  }

  /// `strerror(errno)`.
  public var reason: String { Self.describe(errno) }

  public var description: String {
    if let path { return "\(operation)(\"\(path)\"): \(reason)" }
    return "\(operation): \(reason)"
  }

  /// The C library's text for an `errno` value.
  public static func describe(_ errno: Int32) -> String {
    guard let text = strerror(errno) else { return "errno \(errno)" }
    return String(cString: text)
  }
}

/// Calls `body` until it stops failing with `EINTR`; throws `SystemError` on any other failure.
@discardableResult
@inlinable
public func retryingSyscall<T: BinaryInteger>(
  _ operation: @autoclosure () -> String, path: @autoclosure () -> String? = nil,
  _ body: () -> T
) throws(SystemError) -> T {
  while true {
    let result = body()
    if result >= 0 { return result }
    let code = errno
    if code == EINTR { continue }
    throw SystemError(operation(), path: path(), errno: code)
  }
}
