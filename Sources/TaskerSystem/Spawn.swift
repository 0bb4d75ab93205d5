import CTaskerShim
import Glibc

/// Starts `path` with `arguments` (argv[0] included) and `environment` ("K=V"), with `fds[i]`
/// as descriptor i of the child and nothing else open, every signal at its default action and
/// none blocked. Returns the child's PID.
public func spawnProcess(
  path: String, arguments: [String], environment: [String], fds: [Int32]
) throws(SystemError) -> Int32 {
  var pid: pid_t = 0
  let rc = withCStringArray(arguments) { argv in
    withCStringArray(environment) { envp in
      tasker_spawn(path, argv, envp, fds, Int32(fds.count), &pid)
    }
  }
  if rc != 0 { throw SystemError("posix_spawn", path: path, errno: rc) }
  return pid
}

/// waitpid(2) for a child, retrying on EINTR. Returns the raw wait status.
@discardableResult
public func waitForChild(_ pid: Int32) throws(SystemError) -> Int32 {
  var status: Int32 = 0
  try retryingSyscall("waitpid", path: String(pid)) { waitpid(pid, &status, 0) }
  return status
}

/// Calls `body` with a NULL-terminated `char *[]` made of `strings`.
public func withCStringArray<R>(
  _ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R
) -> R {
  let pointers = strings.map { strdup($0) } + [nil]
  defer { for pointer in pointers { free(pointer) } }
  return pointers.withUnsafeBufferPointer { body($0.baseAddress.unsafelyUnwrapped) }
}
