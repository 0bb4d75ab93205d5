import Glibc
import TaskerSystem

/// Runs `body` with a new empty directory under /tmp (from `mkdtemp`), then removes it and
/// everything in it with the library's `removeTree`, whether `body` threw or not.
///
/// A closure rather than an object with a `deinit`: ARC may release an object after its last
/// use, which could remove the directory while the test still works in it.
func withTemporaryDirectory<R>(_ body: (String) throws -> R) throws -> R {
  var template = Array("/tmp/tasker-tests-XXXXXX".utf8CString)
  let path: String = try template.withUnsafeMutableBufferPointer { buffer in
    guard let base = buffer.baseAddress, mkdtemp(base) != nil else {
      throw SetupError("mkdtemp", "/tmp/tasker-tests-XXXXXX")
    }
    return String(cString: base)
  }
  defer {
    // Read-only directories an archive made (0555) would stop a non-root removal.
    sweep(path, removing: false)
    try? removeTree(path)
    // removeTree leaves names that are not UTF-8 behind (see RemoveTreeTests): finish by bytes.
    if pathExists(path) { sweep(path, removing: true) }
  }
  return try body(path)
}

/// Walks the directory `path` by raw name bytes, never following a symlink, giving every
/// directory owner rwx; with `removing`, deletes everything, `path` included.
private func sweep(_ path: String, removing: Bool) {
  var info = stat()
  guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { return }
  chmod(path, 0o700)
  let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
  if fd >= 0 { sweep(directory: fd, removing: removing) }
  if removing { rmdir(path) }
}

/// `sweep` below the open directory `fd`, which it closes.
private func sweep(directory fd: Int32, removing: Bool) {
  guard let dir = fdopendir(fd) else {
    close(fd)
    return
  }
  defer { closedir(dir) }
  var names: [[CChar]] = []
  while let entry = readdir(dir) {
    let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
      Array(raw.bindMemory(to: CChar.self).prefix { $0 != 0 }) + [0]
    }
    if name != [46, 0] && name != [46, 46, 0] { names.append(name) }
  }
  for name in names {
    var info = stat()
    guard fstatat(fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
    if (info.st_mode & S_IFMT) == S_IFDIR {
      fchmodat(fd, name, 0o700, 0)
      let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
      if child >= 0 { sweep(directory: child, removing: removing) }
      if removing { unlinkat(fd, name, AT_REMOVEDIR) }
    } else if removing {
      unlinkat(fd, name, 0)
    }
  }
}
