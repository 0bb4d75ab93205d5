import TaskerArchive
import Testing

@Suite struct MemberPathTests {
  @Test(arguments: [
    ("./a/b", ["a", "b"]),
    ("a//b/./c", ["a", "b", "c"]),
    ("a/b/", ["a", "b"]),
    ("././a", ["a"]),
    (".../a", ["...", "a"]),
    ("..a/b..", ["..a", "b.."]),
    (".hidden", [".hidden"]),
  ])
  func parsesComponents(name: String, components: [String]) throws {
    let path = try MemberPath(Array(name.utf8))
    #expect(path.components == components.map { Array($0.utf8) })
    #expect(!path.isRoot)
    #expect(path.relative == Array(components.joined(separator: "/").utf8))
  }

  @Test(arguments: [".", "./", "././", ".//.//"])
  func rootItself(name: String) throws {
    let path = try MemberPath(Array(name.utf8))
    #expect(path.isRoot)
    #expect(path.components.isEmpty)
    #expect(path.relative == Array(".".utf8))
    #expect(path.parent == Array(".".utf8))
  }

  @Test(arguments: [
    ("..", MemberPath.Refusal.parentReference),
    ("../x", .parentReference),
    ("a/../b", .parentReference),
    ("a/..", .parentReference),
    ("./a/b/../../..", .parentReference),
    ("/x", .absolute),
    ("/", .absolute),
    ("//x", .absolute),
    ("", .empty),
  ])
  func refuses(name: String, refusal: MemberPath.Refusal) {
    #expect(throws: refusal) { try MemberPath(Array(name.utf8)) }
  }

  @Test func lengthLimitCountsBytes() throws {
    #expect(try MemberPath(Array("0123456789".utf8), maxLength: 10).components.count == 1)
    #expect(throws: MemberPath.Refusal.tooLong(10)) { try MemberPath(Array("0123456789a".utf8), maxLength: 10) }
    // Four bytes of UTF-8, one character: the limit is on bytes.
    #expect(throws: MemberPath.Refusal.tooLong(3)) { try MemberPath(Array("𝄞".utf8), maxLength: 3) }
    #expect(throws: MemberPath.Refusal.tooLong(4095)) { try MemberPath([UInt8](repeating: 0x61, count: 4096)) }
    #expect(try MemberPath([UInt8](repeating: 0x61, count: 4095)).components.count == 1)
  }

  @Test func parentAndLeaf() throws {
    let nested = try MemberPath(Array("./usr/bin/tool".utf8))
    #expect(nested.parent == Array("usr/bin".utf8))
    #expect(nested.leaf == Array("tool".utf8))
    let top = try MemberPath(Array("file".utf8))
    #expect(top.parent == Array(".".utf8))
    #expect(top.leaf == Array("file".utf8))
  }

  /// Names are bytes: invalid UTF-8 is kept as it is, not replaced.
  @Test func keepsNonUTF8Bytes() throws {
    let path = try MemberPath([0x61, 0x2f, 0xff, 0xfe])
    #expect(path.components == [[0x61], [0xff, 0xfe]])
  }

  @Test func refusalsDescribeThemselves() {
    #expect(MemberPath.Refusal.absolute.description.contains("absolute"))
    #expect(MemberPath.Refusal.parentReference.description.contains(".."))
    #expect(MemberPath.Refusal.tooLong(4095).description.contains("4095"))
  }
}
