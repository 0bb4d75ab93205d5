import Glibc
import TaskerSystem
import Testing

/// The library's `copyTree` (a task's root where overlayfs is missing).
@Suite struct CopyTreeTests {
  /// An image may nest deeper than RLIMIT_NOFILE allows a walk holding descriptors per level.
  @Test func copiesATreeDeeperThanTheDescriptorLimit() throws {
    try withTemporaryDirectory { dir in
      let source = dir + "/source"
      let copy = dir + "/copy"
      try makeDirectory(source)
      try makeDirectory(copy)
      let depth = depthBeyondDescriptorLimit()
      try makeDeepTree(in: source, depth: depth) { fd, level in
        guard level == depth else { return }
        let file = openat(fd, "bottom", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if file < 0 { throw SetupError("openat", "bottom") }
        try writeAll(fd: file, Array("deep\n".utf8))
        close(file)
        if symlinkat("/etc", fd, "etc") != 0 { throw SetupError("symlinkat", "etc") }
        if fchmod(fd, 0o750) != 0 { throw SetupError("fchmod", "level \(level)") }
      }

      try copyTree(from: source, to: copy)
      #expect(deepTreeDepth(copy) == depth)
      // The deepest level, by descriptors: its file, its symlink (copied, not followed), its mode.
      var fd = open(copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
      for _ in 0..<depth {
        let child = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        close(fd)
        fd = child
      }
      defer { close(fd) }
      var info = stat()
      #expect(fstat(fd, &info) == 0 && info.st_mode & 0o7777 == 0o750)
      let file = openat(fd, "bottom", O_RDONLY | O_CLOEXEC)
      var bytes = [UInt8](repeating: 0, count: 16)
      #expect(file >= 0 && read(file, &bytes, 16) == 5 && bytes.prefix(5) == Array("deep\n".utf8)[...])
      close(file)
      var target = [CChar](repeating: 0, count: 16)
      #expect(readlinkat(fd, "etc", &target, 15) == 4)
      #expect(fstatat(fd, "etc", &info, AT_SYMLINK_NOFOLLOW) == 0 && info.st_mode & S_IFMT == S_IFLNK)

      try removeTree(source)
      try removeTree(copy)
    }
  }
}
