import Glibc
import Testing

/// The test helper itself: hostile tests prove nothing if the builder cleaned names up.
@Suite struct TarBuilderTests {
  @Test func writesHostileNamesAndLinkTargetsVerbatim() throws {
    let longName = Array(repeating: "d123456789/", count: 372).joined() + "tail"  // 4096 bytes
    #expect(longName.utf8.count == 4096)
    try withTemporaryDirectory { dir in
      let path = dir + "/hostile.tar"
      let tar = try TarBuilder(path: path)
      try tar.file("../escape", "x")
      try tar.file("/abs", "y")
      try tar.symlink("evil", target: "/etc")
      try tar.hardlink("hl", target: "../sentinel/file")
      try tar.file(longName, "z")
      try tar.add(ArchiveMember(name: [0x66, 0xff, 0xfe], kind: .file([1]), mode: 0o600))
      try tar.characterDevice("dev/null", major: 1, minor: 3)
      try tar.finish()

      let listed = try listArchive(path)
      #expect(listed.filter == "none")
      #expect(
        listed.members.map(\.name) == [
          Array("../escape".utf8), Array("/abs".utf8), Array("evil".utf8), Array("hl".utf8), Array(longName.utf8),
          [0x66, 0xff, 0xfe], Array("dev/null".utf8),
        ])
      #expect(listed.members[2].symlink == Array("/etc".utf8))
      #expect(listed.members[3].hardlink == Array("../sentinel/file".utf8))
      #expect(listed.members[6].type == Glibc.S_IFCHR)
    }
  }

  @Test(arguments: Compression.allCases)
  func appliesTheCompressionFilter(_ compression: Compression) throws {
    try withTemporaryDirectory { dir in
      let path = dir + "/a.tar"
      let tar = try TarBuilder(path: path, compression: compression)
      try tar.file("hello", "hello\n")
      try tar.finish()
      let listed = try listArchive(path)
      #expect(listed.filter == compression.rawValue)
      #expect(listed.members.map(\.name) == [Array("hello".utf8)])
      let magic = Array(try readFile(path).prefix(4))
      let expected: [UInt8]
      switch compression {
      case .none: expected = Array("hell".utf8)
      case .gzip: expected = [0x1f, 0x8b, 0x08, magic.count > 3 ? magic[3] : 0]
      case .bzip2: expected = Array("BZh".utf8) + [magic.count > 3 ? magic[3] : 0]
      case .xz: expected = [0xfd, 0x37, 0x7a, 0x58]
      case .zstd: expected = [0x28, 0xb5, 0x2f, 0xfd]
      }
      #expect(magic == expected)
    }
  }

  @Test func snapshotSeesContentMetadataAndNewLinks() throws {
    try withTemporaryDirectory { dir in
      let tree = dir + "/tree"
      try makeDirectory(tree)
      try writeFile(tree + "/f", Array("one".utf8))
      let before = try TreeSnapshot(tree)
      #expect(try TreeSnapshot(tree) == before)

      try writeFile(tree + "/f", Array("two".utf8))  // same size, other bytes, same inode
      let rewritten = try TreeSnapshot(tree)
      #expect(before.changes(to: rewritten).map { $0.prefix(9) } == ["changed f"])

      chmod(tree + "/f", 0o644)  // same mode: only the ctime moves
      let chmodded = try TreeSnapshot(tree)
      #expect(chmodded != rewritten)
      #expect(try TreeSnapshot(tree, identity: false) == TreeSnapshot(tree, identity: false))

      #expect(link(tree + "/f", dir + "/outside-link") == 0)  // a hardlink from outside the tree
      #expect(try TreeSnapshot(tree).nodes["f"]?.links == 2)
      #expect(try TreeSnapshot(tree) != chmodded)
    }
  }
}
