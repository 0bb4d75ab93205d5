import CTaskerShim
import Glibc

/// Writes `bytes` to `path` so that readers see either the old file or the whole new one:
/// the bytes go to a temporary file in the same directory, which is then renamed over `path`.
public func writeFileAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644)
  throws(SystemError)
{
  let temporary = "\(path).tmp-\(randomHex(bytes: 6))"
  let fd = try retryingSyscall("open", path: temporary) {
    open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
  }
  do {
    try writeAll(fd: fd, bytes, path: temporary)
    close(fd)
    try retryingSyscall("rename", path: path) { rename(temporary, path) }
  } catch {
    close(fd)
    unlink(temporary)
    throw error
  }
}

/// Writes all of `bytes` to `fd`.
public func writeAll(fd: Int32, _ bytes: [UInt8], path: String? = nil) throws(SystemError) {
  var offset = 0
  while offset < bytes.count {
    let n = try retryingSyscall("write", path: path) {
      bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress.unsafelyUnwrapped + offset, $0.count - offset) }
    }
    offset += n
  }
}

/// `2 * bytes` lowercase hex digits from the kernel's random source.
public func randomHex(bytes count: Int) -> String {
  var bytes = [UInt8](repeating: 0, count: count)
  if tasker_getrandom(&bytes, count) != 0 {
    // getrandom(2) cannot fail once the pool is initialised; fall back rather than crash.
    for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255) }
  }
  let digits = Array("0123456789abcdef".utf8)
  var text: [UInt8] = []
  for byte in bytes {
    text.append(digits[Int(byte >> 4)])
    text.append(digits[Int(byte & 0xf)])
  }
  return String(decoding: text, as: UTF8.self)
}

/// Whether anything (a file, a directory, a dangling symlink) is at `path`.
public func pathExists(_ path: String) -> Bool {
  var info = stat()
  return lstat(path, &info) == 0
}

/// Removes `path` and everything below it, like `rm -rf`, without ever following a symlink:
/// a symlink inside the tree (an image may hold `etc -> /etc`) is removed, never walked into.
/// A missing `path` is not an error. Works at any depth with a bounded number of descriptors
/// (see `DirectoryChain`): a task that nests directories deeper than RLIMIT_NOFILE is removed
/// like any other.
public func removeTree(_ path: String) throws(SystemError) {
  if unlink(path) == 0 { return }
  switch errno {
  case ENOENT: return
  case EISDIR, EPERM: break
  default: throw SystemError("unlink", path: path, errno: errno)
  }
  let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
  if fd < 0 {
    if errno == ENOENT { return }
    throw SystemError("open", path: path, errno: errno)
  }
  var chain = try DirectoryChain(root: fd, path: path)
  // Depth first, iteratively: for each level of the chain, the subdirectories still to remove.
  var pending = [try removeEntries(of: chain)]
  while !pending.isEmpty {
    if let name = pending[pending.count - 1].popLast() {
      do throws(SystemError) {
        try chain.descend(into: name)
      } catch {
        switch error.errno {
        case ENOENT: continue
        case ENOTDIR, ELOOP:
          // No longer a directory (swapped for a symlink or a file, say): removed, not entered.
          if unlinkat(chain.fd, name, 0) != 0 && errno != ENOENT {
            throw SystemError("unlinkat", path: chain.path(of: name), errno: errno)
          }
          continue
        default: throw error
        }
      }
      pending.append(try removeEntries(of: chain))
    } else {
      pending.removeLast()
      if pending.isEmpty { break }
      let name = chain.name
      try chain.ascend()
      if unlinkat(chain.fd, name, AT_REMOVEDIR) != 0, errno != ENOENT {
        throw SystemError("unlinkat", path: chain.path(of: name), errno: errno)
      }
    }
  }
  _ = consume chain
  try retryingSyscall("rmdir", path: path) { rmdir(path) }
}

/// Removes everything but the directories inside the chain's deepest directory, and returns the
/// names of those.
private func removeEntries(of chain: borrowing DirectoryChain) throws(SystemError) -> [[CChar]] {
  let fd = chain.fd
  var directories: [[CChar]] = []
  for (name, type) in try directoryListing(of: fd, path: chain.path) {
    if type == UInt8(DT_DIR) {
      directories.append(name)
    } else if unlinkat(fd, name, 0) != 0 {
      if errno == EISDIR {
        directories.append(name)
      } else if errno != ENOENT {
        throw SystemError("unlinkat", path: chain.path(of: name), errno: errno)
      }
    }
  }
  return directories
}

/// Names in a directory, without `.` and `..`; empty if it cannot be read.
public func directoryEntries(_ path: String) -> [String] {
  guard let dir = opendir(path) else { return [] }
  defer { closedir(dir) }
  var names: [String] = []
  while let entry = readdir(dir) {
    let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
      String(cString: raw.bindMemory(to: CChar.self).baseAddress.unsafelyUnwrapped)
    }
    if name != "." && name != ".." { names.append(name) }
  }
  return names
}
