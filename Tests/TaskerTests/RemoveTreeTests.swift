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
}
