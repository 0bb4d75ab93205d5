import CTaskerShim
import Glibc

/// Copies the tree `source` into the existing empty directory `destination`: files (with
/// copy_file_range), directories, symlinks, hardlinks (as hardlinks), FIFOs, with modes, owners
/// (when root) and times. Never follows a symlink. The fallback for hosts without overlayfs.
/// Works at any depth with a bounded number of descriptors: both sides are walked with a
/// `DirectoryChain`.
public func copyTree(from source: String, to destination: String) throws(SystemError) {
  let from = try retryingSyscall("open", path: source) { open(source, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
  var sources = try DirectoryChain(root: from, path: source)
  let to = try retryingSyscall("open", path: destination) {
    open(destination, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
  }
  var copies = try DirectoryChain(root: to, path: destination)
  var links: [UInt64: [CChar]] = [:]
  // Depth first, iteratively: for each level, the subdirectories still to copy, the level's own
  // attributes (applied once its contents are in) and its path relative to the root.
  var pending = [try copyEntries(from: sources, to: copies, links: &links)]
  var attributes: [stat] = []
  while !pending.isEmpty {
    if let (name, info) = pending[pending.count - 1].popLast() {
      let made = copies.fd
      try retryingSyscall("mkdirat", path: copies.path(of: name)) { mkdirat(made, name, 0o700) }
      try sources.descend(into: name)
      try copies.descend(into: name)
      attributes.append(info)
      pending.append(try copyEntries(from: sources, to: copies, links: &links))
    } else {
      pending.removeLast()
      if pending.isEmpty { break }
      applyOwnerModeTimes(fd: copies.fd, attributes.removeLast())
      try sources.ascend()
      try copies.ascend()
    }
  }
  var info = stat()
  if fstat(sources.fd, &info) == 0 { applyOwnerModeTimes(fd: copies.fd, info) }
}

/// Copies everything but the directories from the deepest directory of `sources` into that of
/// `copies`, and returns the directories' names and attributes.
private func copyEntries(
  from sources: borrowing DirectoryChain, to copies: borrowing DirectoryChain,
  links: inout [UInt64: [CChar]]
) throws(SystemError) -> [([CChar], stat)] {
  let from = sources.fd
  let to = copies.fd
  var directories: [([CChar], stat)] = []
  for (name, _) in try directoryListing(of: from, path: sources.path) {
    // (Built only for a message: at depth, a path is long.)
    func display() -> String { sources.path(of: name) }
    var info = stat()
    try retryingSyscall("fstatat", path: display()) { fstatat(from, name, &info, AT_SYMLINK_NOFOLLOW) }
    let type = info.st_mode & S_IFMT
    if type != S_IFDIR && info.st_nlink > 1 {
      let key = UInt64(info.st_ino)
      if let first = links[key] {
        // Paths relative to the destination's root: an image's paths fit in PATH_MAX.
        try retryingSyscall("linkat", path: display()) { linkat(copies.rootFD, first, to, name, 0) }
        continue
      }
      links[key] = copies.relativePath(of: name)
    }
    switch type {
    case S_IFDIR:
      directories.append((name, info))
    case S_IFREG:
      let input = try retryingSyscall("openat", path: display()) {
        openat(from, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
      }
      defer { close(input) }
      let output = try retryingSyscall("openat", path: display()) {
        openat(to, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
      }
      defer { close(output) }
      var remaining = Int(info.st_size)
      while remaining > 0 {
        let n = try retryingSyscall("copy_file_range", path: display()) {
          tasker_copy_file_range(input, output, remaining)
        }
        if n == 0 { break }
        remaining -= n
      }
      applyOwnerModeTimes(fd: output, info)
    case S_IFLNK:
      var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
      let n = try retryingSyscall("readlinkat", path: display()) { readlinkat(from, name, &target, target.count - 1) }
      target[n] = 0
      try retryingSyscall("symlinkat", path: display()) { symlinkat(target, to, name) }
      if geteuid() == 0 { fchownat(to, name, info.st_uid, info.st_gid, AT_SYMLINK_NOFOLLOW) }
      var times = [info.st_atim, info.st_mtim]
      utimensat(to, name, &times, AT_SYMLINK_NOFOLLOW)
    case S_IFIFO:
      try retryingSyscall("mkfifoat", path: display()) { mkfifoat(to, name, info.st_mode & 0o7777) }
    default:
      continue  // devices and sockets: the extractor made none
    }
  }
  return directories
}

private func applyOwnerModeTimes(fd: Int32, _ info: stat) {
  if geteuid() == 0 { fchown(fd, info.st_uid, info.st_gid) }
  fchmod(fd, info.st_mode & 0o7777)
  var times = [info.st_atim, info.st_mtim]
  futimens(fd, &times)
}
