import CTaskerShim
import Glibc
import TaskerArchive
import Testing

/// Extended attributes and names that are not UTF-8.
@Suite struct ExtractorAttributeTests {
  @Test(.enabled(if: userXattrsWork(), "needs a /tmp filesystem with user.* extended attributes"))
  func fileExtendedAttributesAreApplied() throws {
    try withTemporaryDirectory { dir in
      let archive = dir + "/xattr.tar"
      let tar = try TarBuilder(path: archive)
      try tar.add(
        ArchiveMember(
          name: Array("with-xattr".utf8), kind: .file(Array("x\n".utf8)), mode: 0o644,
          xattrs: [("user.tasker.test", Array("value\u{0}with nul".utf8))]))
      try tar.finish()
      let root = dir + "/root"
      try makeDirectory(root)

      _ = try extractArchive(archive, into: root).get()
      var buffer = [UInt8](repeating: 0, count: 64)
      let size = getxattr(root + "/with-xattr", "user.tasker.test", &buffer, buffer.count)
      #expect(size >= 0)
      #expect(Array(buffer.prefix(max(size, 0))) == Array("value\u{0}with nul".utf8))
    }
  }

  /// A name in Latin-1 (not UTF-8) makes a file with exactly those bytes.
  @Test func nonUTF8NameIsKeptAsBytes() throws {
    let name: [UInt8] = Array("caf".utf8) + [0xe9]
    try withTemporaryDirectory { dir in
      let archive = dir + "/latin1.tar"
      let tar = try TarBuilder(path: archive)
      try tar.add(ArchiveMember(name: name, kind: .file(Array("latin-1\n".utf8)), mode: 0o644))
      try tar.finish()
      let root = dir + "/root"
      try makeDirectory(root)

      _ = try extractArchive(archive, into: root).get()
      var info = stat()
      let found = (Array((root + "/").utf8) + name).withCCharPointer { lstat($0, &info) }
      #expect(found == 0)
      #expect(info.st_size == 8)
      #expect(directoryEntries(root).count == 1)
    }
  }
}

/// Whether user.* extended attributes can be set on a file in /tmp.
private func userXattrsWork() -> Bool {
  (try? withTemporaryDirectory { dir -> Bool in
    try writeFile(dir + "/probe", [])
    return setxattr(dir + "/probe", "user.probe", "1", 1, 0) == 0
  }) ?? false
}
