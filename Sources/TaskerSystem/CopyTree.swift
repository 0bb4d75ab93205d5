import CTaskerShim
import Glibc

/// Copies the tree `source` into the existing empty directory `destination`: files (with
/// copy_file_range), directories, symlinks, hardlinks (as hardlinks), FIFOs, with modes, owners
/// (when root) and times. Never follows a symlink. The fallback for hosts without overlayfs.
public func copyTree(from source: String, to destination: String) throws(SystemError) {
  let from = try retryingSyscall("open", path: source) { open(source, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
  defer { close(from) }
  let to = try retryingSyscall("open", path: destination) {
    open(destination, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
  }
  defer { close(to) }
  var links: [UInt64: [CChar]] = [:]
  try copyContents(from: from, to: to, relative: [], links: &links, destinationRoot: to)
  var info = stat()
  if fstat(from, &info) == 0 { applyOwnerModeTimes(fd: to, info) }
}

private func copyContents(
  from: Int32, to: Int32, relative: [CChar], links: inout [UInt64: [CChar]], destinationRoot: Int32
) throws(SystemError) {
  let listing = dup(from)
  guard let dir = fdopendir(listing) else { throw SystemError("fdopendir", errno: errno) }
  defer { closedir(dir) }
  while let entry = readdir(dir) {
    let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
      Array(raw.bindMemory(to: CChar.self).prefix { $0 != 0 }) + [0]
    }
    if name == [46, 0] || name == [46, 46, 0] { continue }
    let path = relative.isEmpty ? name : relative.dropLast() + [47] + name
    let display = String(decoding: path.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    var info = stat()
    try retryingSyscall("fstatat", path: display) { fstatat(from, name, &info, AT_SYMLINK_NOFOLLOW) }
    let type = info.st_mode & S_IFMT
    if type != S_IFDIR && info.st_nlink > 1 {
      let key = UInt64(info.st_ino)
      if let first = links[key] {
        try retryingSyscall("linkat", path: display) { linkat(destinationRoot, first, to, name, 0) }
        continue
      }
      links[key] = path
    }
    switch type {
    case S_IFDIR:
      try retryingSyscall("mkdirat", path: display) { mkdirat(to, name, 0o700) }
      let child = try retryingSyscall("openat", path: display) {
        openat(from, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
      }
      defer { close(child) }
      let made = try retryingSyscall("openat", path: display) {
        openat(to, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
      }
      defer { close(made) }
      try copyContents(from: child, to: made, relative: path, links: &links, destinationRoot: destinationRoot)
      applyOwnerModeTimes(fd: made, info)
    case S_IFREG:
      let input = try retryingSyscall("openat", path: display) { openat(from, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
      defer { close(input) }
      let output = try retryingSyscall("openat", path: display) {
        openat(to, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
      }
      defer { close(output) }
      var remaining = Int(info.st_size)
      while remaining > 0 {
        let n = try retryingSyscall("copy_file_range", path: display) {
          tasker_copy_file_range(input, output, remaining)
        }
        if n == 0 { break }
        remaining -= n
      }
      applyOwnerModeTimes(fd: output, info)
    case S_IFLNK:
      var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
      let n = try retryingSyscall("readlinkat", path: display) { readlinkat(from, name, &target, target.count - 1) }
      target[n] = 0
      try retryingSyscall("symlinkat", path: display) { symlinkat(target, to, name) }
      if geteuid() == 0 { fchownat(to, name, info.st_uid, info.st_gid, AT_SYMLINK_NOFOLLOW) }
      var times = [info.st_atim, info.st_mtim]
      utimensat(to, name, &times, AT_SYMLINK_NOFOLLOW)
    case S_IFIFO:
      try retryingSyscall("mkfifoat", path: display) { mkfifoat(to, name, info.st_mode & 0o7777) }
    default:
      continue  // devices and sockets: the extractor made none
    }
  }
}

private func applyOwnerModeTimes(fd: Int32, _ info: stat) {
  if geteuid() == 0 { fchown(fd, info.st_uid, info.st_gid) }
  fchmod(fd, info.st_mode & 0o7777)
  var times = [info.st_atim, info.st_mtim]
  futimens(fd, &times)
}
