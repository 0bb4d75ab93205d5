import Testing

@testable import TaskerSystem

/// The subordinate ids a user gets and the maps written from them (no namespace is entered).
struct UserNamespaceTests {
  @Test func rangesAreTheUsersByNameOrIDInFileOrder() {
    let file = """
      alice:100000:65536
      bob:165536:65536
      1000:231072:1000
      alice:300000:10
      """
    #expect(
      UserNamespace.ranges(in: file, name: "alice", id: 1000) == [
        .init(start: 100000, count: 65536), .init(start: 231072, count: 1000), .init(start: 300000, count: 10),
      ])
    #expect(UserNamespace.ranges(in: file, name: "bob", id: 1001) == [.init(start: 165536, count: 65536)])
    #expect(UserNamespace.ranges(in: file, name: "carol", id: 1002).isEmpty)
    #expect(UserNamespace.ranges(in: file, name: nil, id: 1000) == [.init(start: 231072, count: 1000)])
  }

  /// A repeated or overlapping range would make the kernel refuse the whole map: skipped. So are
  /// malformed lines and empty ranges.
  @Test func overlappingRepeatedAndMalformedLinesAreSkipped() {
    let file = """
      alice:100000:65536
      alice:100000:65536
      alice:150000:100
      alice:x:10
      alice:1:0
      alice:200000
      alice:400000:5
      alice:200000:5:extra
      """
    #expect(
      UserNamespace.ranges(in: file, name: "alice", id: 1000) == [
        .init(start: 100000, count: 65536), .init(start: 400000, count: 5),
      ])
  }

  @Test func theMapIsTheUserAsRootThenEachRangeFromOne() {
    let lines = UserNamespace.Mapping.lines(
      own: 1000, ranges: [.init(start: 100000, count: 65536), .init(start: 300000, count: 10)])
    #expect(
      lines.map { [$0.inside, $0.outside, $0.count] } == [[0, 1000, 1], [1, 100000, 65536], [65537, 300000, 10]])
    #expect(UserNamespace.Mapping.lines(own: 5, ranges: []).map { [$0.inside, $0.outside, $0.count] } == [[0, 5, 1]])
  }

  @Test func aMappingWithoutSubordinateIDsIsSingle() {
    let single = UserNamespace.Mapping(hostUID: 1000, hostGID: 1000, uidRanges: [], gidRanges: [])
    #expect(single.isSingle)
    let one = [UserNamespace.IDRange(start: 100000, count: 65536)]
    #expect(UserNamespace.Mapping(hostUID: 1000, hostGID: 1000, uidRanges: one, gidRanges: []).isSingle)
    #expect(!UserNamespace.Mapping(hostUID: 1000, hostGID: 1000, uidRanges: one, gidRanges: one).isSingle)
  }
}
