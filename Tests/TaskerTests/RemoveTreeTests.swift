import Glibc
import TaskerSystem
import Testing

/// The library's `removeTree`, which the test helpers (and `tasker rm`) rely on.
@Suite struct RemoveTreeTests {
  @Test func removesATreeWithoutFollowingSymlinks() throws {
    try withTemporaryDirectory { dir in
      let outside = dir + "/outside"
      try makeDirectory(outside)
      try writeFile(outside + "/keep", Array("keep\n".utf8))
      let tree = dir + "/tree"
      try makeDirectory(tree)
      try makeDirectory(tree + "/ro")
      try writeFile(tree + "/ro/file", [1])
      #expect(symlink(outside, tree + "/ro/link-to-outside") == 0)
      #expect(symlink(outside, tree + "/link-to-outside") == 0)
      let before = try TreeSnapshot(outside)

      try removeTree(tree)
      #expect(!pathExists(tree))
      let after = try TreeSnapshot(outside)
      #expect(before.changes(to: after).isEmpty, "\(before.changes(to: after))")
      #expect(throws: Never.self) { try removeTree(tree) }  // a missing path is not an error
    }
  }

  /// Image members may have names that are not UTF-8 (Latin-1 file names in old tarballs);
  /// the extractor creates them byte for byte, so removing the task must remove them too.
  @Test func removesNamesThatAreNotUTF8() throws {
    try withTemporaryDirectory { dir in
      let tree = dir + "/tree"
      try makeDirectory(tree)
      let latin1: [UInt8] = Array("caf".utf8) + [0xe9]
      let file = (Array((tree + "/").utf8) + latin1).withCCharPointer {
        open($0, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
      }
      #expect(file >= 0)
      close(file)
      let subdirectory = (Array((tree + "/").utf8) + [0xff]).withCCharPointer { mkdir($0, 0o755) }
      #expect(subdirectory == 0)

      // Names must be unlinked by their bytes, not by a UTF-8 rendering of them.
      try removeTree(tree)
      #expect(!pathExists(tree))
    }
  }

  /// A task may nest directories deeper than RLIMIT_NOFILE (a security issue: its removal
  /// failed and left its data behind). The tree goes deeper than this process's own limit, so a
  /// walk holding a descriptor per level cannot remove it; symlinks at depth are not followed.
  @Test func removesATreeDeeperThanTheDescriptorLimit() throws {
    try withTemporaryDirectory { dir in
      let outside = dir + "/outside"
      try makeDirectory(outside)
      try writeFile(outside + "/keep", Array("keep\n".utf8))
      let before = try TreeSnapshot(outside)
      let tree = dir + "/tree"
      try makeDirectory(tree)
      let depth = depthBeyondDescriptorLimit()
      try makeDeepTree(in: tree, depth: depth) { fd, level in
        guard level % 1_000 == 0 || level == depth else { return }
        let file = openat(fd, "file", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if file < 0 { throw SetupError("openat", "file at level \(level)") }
        close(file)
        if symlinkat(outside, fd, "link-to-outside") != 0 { throw SetupError("symlinkat", "level \(level)") }
      }
      #expect(deepTreeDepth(tree) == depth)

      try removeTree(tree)
      #expect(!pathExists(tree))
      #expect(before.changes(to: try TreeSnapshot(outside)).isEmpty)
    }
  }

  /// Going back up past the descriptors it holds, the walk reopens a level as `..` of its
  /// child; if a directory was moved out of the tree meanwhile, that `..` is another directory,
  /// and the walk stops there instead of acting on it.
  @Test func aWalkStopsWhereADirectoryWasMovedOutOfTheTree() throws {
    try withTemporaryDirectory { dir in
      let tree = dir + "/tree"
      try makeDirectory(tree)
      try makeDirectory(dir + "/elsewhere")
      var levelFifty: Int32 = -1
      defer { close(levelFifty) }
      try makeDeepTree(in: tree, depth: 100) { fd, level in
        if level == 50 { levelFifty = dup(fd) }
      }
      let root = open(tree, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
      var chain = try DirectoryChain(root: root, path: tree, window: 4)
      for _ in 0..<100 { try chain.descend(into: Array("d".utf8CString)) }
      #expect(chain.depth == 100)
      // Level 51 and all below it go to elsewhere/moved while the walk is at level 100.
      let elsewhere = open(dir + "/elsewhere", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
      defer { close(elsewhere) }
      #expect(renameat(levelFifty, "d", elsewhere, "moved") == 0)

      // Up to level 51 the walk stays inside what moved, so every `..` checks out.
      for _ in 0..<49 { try chain.ascend() }
      #expect(chain.depth == 51)
      #expect(throws: SystemError("openat", path: chain.path + "/..", errno: ESTALE)) { try chain.ascend() }
    }
  }
}
