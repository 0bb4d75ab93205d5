import CTaskerShim
import Glibc

/// One process, held by a pidfd so that a recycled PID can never be signalled by mistake.
///
/// `open(pid:expectedStartTime:)` opens the pidfd first and only then checks the start time: once
/// the pidfd is open it stays bound to that process, so a match proves the pidfd names the
/// process that was recorded, and a process that later takes over the PID is out of reach.
public final class ProcessHandle {
  /// The process ID it names.
  public let pid: Int32
  private let pidfd: Int32

  /// Opens the process `pid` if it is still the one that started at `expectedStartTime`;
  /// nil if that process is gone (exited and reaped, or its PID reused).
  public static func open(pid: Int32, expectedStartTime: UInt64) throws(SystemError) -> ProcessHandle? {
    let fd = tasker_pidfd_open(pid)
    if fd < 0 {
      if errno == ESRCH { return nil }
      throw SystemError("pidfd_open", path: String(pid), errno: errno)
    }
    guard let stat = ProcessStat.read(pid: pid), stat.startTime == expectedStartTime else {
      close(fd)
      return nil
    }
    return ProcessHandle(pid: pid, pidfd: fd)
  }

  private init(pid: Int32, pidfd: Int32) {
    self.pid = pid
    self.pidfd = pidfd
  }

  deinit { close(pidfd) }

  /// pidfd_send_signal(2). Returns false if the process has already exited.
  public func send(signal: Int32) throws(SystemError) -> Bool {
    if tasker_pidfd_send_signal(pidfd, signal) == 0 { return true }
    if errno == ESRCH { return false }
    throw SystemError("pidfd_send_signal", path: String(pid), errno: errno)
  }

  /// Blocks until the process exits (the pidfd becomes readable), or `timeoutMilliseconds`
  /// passes (-1: no limit). Returns true once it has exited.
  public func waitForExit(timeoutMilliseconds: Int32 = -1) -> Bool {
    var entry = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
    while true {
      let n = poll(&entry, 1, timeoutMilliseconds)
      if n > 0 { return true }
      if n == 0 { return false }
      if errno != EINTR { return false }
    }
  }
}
