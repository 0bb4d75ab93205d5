import Glibc

/// A POSIX thread that runs one closure and can be joined: for blocking work (a download) that
/// must run beside the caller without occupying Swift's cooperative thread pool.
public final class JoinableThread: @unchecked Sendable {
  private var thread: pthread_t = 0
  private var joined = false

  /// Starts `body` on a new thread.
  public init(_ body: @escaping @Sendable () -> Void) throws(SystemError) {
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    let rc = pthread_create(
      &thread, nil,
      { raw in
        guard let raw else { return nil }
        let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
        box.body()
        return nil
      }, context)
    if rc != 0 {
      Unmanaged<Box>.fromOpaque(context).release()
      throw SystemError("pthread_create", errno: rc)
    }
  }

  /// Waits for the closure to return. Later calls return at once.
  public func join() {
    if joined { return }
    joined = true
    pthread_join(thread, nil)
  }

  deinit { join() }

  private final class Box {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
  }
}

/// A value handed to another thread (a `JoinableThread`'s body), which owns it from then on.
public struct UnsafeTransfer<T>: @unchecked Sendable {
  public let value: T
  public init(_ value: T) { self.value = value }
}
