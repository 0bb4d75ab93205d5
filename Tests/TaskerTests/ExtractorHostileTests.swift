import Glibc
import TaskerArchive
import TaskerSystem
import Testing

/// Archives built to write outside the root. Each runs in a `HostileFixture`, which fails the
/// test if anything outside `<tmp>/download/root` changed (content, metadata, inode, links).
@Suite struct ExtractorHostileTests {
  @Test(arguments: ["../escape", "a/../../escape", "./../escape", "a/b/../../../escape"])
  func parentReferenceIsRefused(_ name: String) throws {
    try HostileFixture.run { tar, _ in
      try tar.file("before", "extracted first\n")
      try tar.file(name, "escaped\n")
      try tar.file("after", "never reached\n")
    } check: { result, fixture in
      let error = try #require(result.failure)
      guard case .unsafeMember(let path, let reason) = error else {
        Issue.record("expected unsafeMember, got \(error)")
        return
      }
      #expect(path == name)
      #expect(reason.contains(".."))
      #expect(String(describing: error).contains(name))
      #expect(fileStatus(fixture.download + "/escape") == nil)
      #expect(fileStatus(fixture.base + "/escape") == nil)
      #expect(fileStatus(fixture.root + "/escape") == nil)
      #expect(fileStatus(fixture.root + "/after") == nil)
      #expect(try readFile(fixture.root + "/before") == Array("extracted first\n".utf8))
    }
  }

  @Test(arguments: ["/tasker-test-absolute-\(randomHex(bytes: 8))", "$SENTINEL/file", "$SENTINEL/new", "//x"])
  func absoluteMemberIsRefused(_ pattern: String) throws {
    try HostileFixture.run { tar, fixture in
      try tar.file(fixture.expand(pattern), "absolute\n")
    } check: { result, fixture in
      let name = fixture.expand(pattern)
      let error = try #require(result.failure)
      guard case .unsafeMember(let path, let reason) = error else {
        Issue.record("expected unsafeMember, got \(error)")
        return
      }
      #expect(path == name)
      #expect(reason.contains("absolute"))
      #expect(String(describing: error).contains(name))
      if !pattern.hasPrefix("$SENTINEL") { #expect(fileStatus(name) == nil) }
      #expect(directoryEntries(fixture.root).isEmpty)
    }
  }

  /// `evil -> <target>` then `evil/pwned`: the symlink is made verbatim, but the write through it
  /// is resolved inside the root. With nothing at the target inside the root the member fails
  /// (as GNU tar does when the directory is missing); it never reaches the host's directory.
  @Test(arguments: ["$SENTINEL", "../../sentinel", "../../../../sentinel", "../../sentinel/sub"])
  func writeThroughPlantedSymlinkStaysInRoot(_ targetPattern: String) throws {
    try HostileFixture.run { tar, fixture in
      let target = fixture.expand(targetPattern)
      try tar.symlink("evil", target: target)
      try tar.file("evil/pwned", "pwned\n")
      try tar.file("evil/file", "overwritten\n")
    } check: { result, fixture in
      let target = fixture.expand(targetPattern)
      #expect(linkTarget(fixture.root + "/evil") == target)
      #expect(fileStatus(fixture.sentinel + "/pwned") == nil)
      #expect(fileStatus(fixture.sentinel + "/sub/pwned") == nil)
      switch result {
      case .success:
        // Only acceptable if it landed where the target resolves inside the root.
        let inside = fixture.root + "/" + resolvedInRoot(target)
        let content = try readFile(inside + "/pwned")
        #expect(content == Array("pwned\n".utf8))
      case .failure(let error):
        guard case .member(let path, _) = error else {
          Issue.record("expected a member error, got \(error)")
          return
        }
        #expect(path == "evil/pwned")
        #expect(String(describing: error).contains("evil/pwned"))
      }
    }
  }

  /// The same, with the target's directories present inside the root: the write must succeed
  /// and land there, inside the root, as RESOLVE_IN_ROOT resolves it.
  @Test(arguments: ["$SENTINEL", "../../sentinel", "../../../../sentinel"])
  func writeThroughPlantedSymlinkLandsInsideRoot(_ targetPattern: String) throws {
    try HostileFixture.run { tar, fixture in
      let target = fixture.expand(targetPattern)
      try tar.directory(resolvedInRoot(target) + "/")
      try tar.symlink("evil", target: target)
      try tar.file("evil/pwned", "pwned\n")
      try tar.file("evil/file", "replaced inside the root\n")
    } check: { result, fixture in
      let summary = try result.get()
      #expect(summary.entries == 4)
      let target = fixture.expand(targetPattern)
      let inside = fixture.root + "/" + resolvedInRoot(target)
      #expect(try readFile(inside + "/pwned") == Array("pwned\n".utf8))
      #expect(try readFile(inside + "/file") == Array("replaced inside the root\n".utf8))
      #expect(try readFile(fixture.sentinel + "/file") == Array("sentinel\n".utf8))
    }
  }

  /// Hardlink targets with `..` or a leading `/` are refused before anything is linked.
  @Test(arguments: ["../sentinel/file", "../../sentinel/file", "/etc/passwd", "$SENTINEL/file", "a/../../x"])
  func hardlinkOutOfTheImageIsRefused(_ targetPattern: String) throws {
    let passwdBefore = try TreeSnapshot("/etc/passwd")
    try HostileFixture.run { tar, fixture in
      try tar.file("a", "a\n")
      try tar.hardlink("hl", target: fixture.expand(targetPattern))
    } check: { result, fixture in
      let error = try #require(result.failure)
      guard case .unsafeMember(let path, let reason) = error else {
        Issue.record("expected unsafeMember, got \(error)")
        return
      }
      #expect(path == "hl")
      #expect(reason.contains("hardlink"))
      #expect(String(describing: error).contains("\"hl\""))
      #expect(fileStatus(fixture.root + "/hl") == nil)
      let hostFiles = [try #require(fileStatus("/etc/passwd")), try #require(fileStatus(fixture.sentinel + "/file"))]
      for (path, identity) in inodes(under: fixture.root) {
        for host in hostFiles {
          #expect(identity != [UInt64(host.st_dev), UInt64(host.st_ino)], "\(path) is a hardlink of a host file")
        }
      }
    }
    let passwdAfter = try TreeSnapshot("/etc/passwd")
    #expect(passwdBefore.changes(to: passwdAfter).isEmpty, "\(passwdBefore.changes(to: passwdAfter))")
  }

  /// Hardlinks whose target goes through a planted symlink: resolved inside the root, so they
  /// either fail or link something of the image; never a host file's inode.
  @Test(arguments: [
    ("etc-link", "/etc", "etc-link/passwd"),
    ("pw", "/etc/passwd", "pw"),
    ("s", "../../sentinel", "s/file"),
    ("s", "$SENTINEL", "s/file"),
    ("f", "$SENTINEL/file", "f"),
  ])
  func hardlinkThroughPlantedSymlinkNeverLinksAHostFile(link: String, linkTo: String, hardlinkTarget: String) throws {
    let passwdBefore = try TreeSnapshot("/etc/passwd")
    let host = try #require(fileStatus("/etc/passwd"))
    try HostileFixture.run { tar, fixture in
      try tar.symlink(link, target: fixture.expand(linkTo))
      try tar.hardlink("hl", target: hardlinkTarget)
    } check: { result, fixture in
      let sentinelFile = try #require(fileStatus(fixture.sentinel + "/file"))
      for (path, identity) in inodes(under: fixture.root) {
        #expect(identity != [UInt64(host.st_dev), UInt64(host.st_ino)], "\(path) is the host's /etc/passwd")
        #expect(
          identity != [UInt64(sentinelFile.st_dev), UInt64(sentinelFile.st_ino)], "\(path) is the sentinel file")
      }
      switch result {
      case .success:
        // Linked the planted symlink itself (O_PATH|O_NOFOLLOW): a symlink, not the host file.
        let hl = try #require(fileStatus(fixture.root + "/hl"))
        #expect(fileType(hl) == S_IFLNK)
      case .failure(let error):
        guard case .member(let path, _) = error else {
          Issue.record("expected a member error, got \(error)")
          return
        }
        #expect(path == "hl")
      }
    }
    let passwdAfter = try TreeSnapshot("/etc/passwd")
    #expect(passwdBefore.changes(to: passwdAfter).isEmpty, "\(passwdBefore.changes(to: passwdAfter))")
  }

  /// `d/`, then `d -> /tmp` replacing it, then `d/x`: nothing may appear in the host's /tmp.
  @Test func directoryReplacedBySymlinkToHostTmp() throws {
    let leaf = "tasker-test-\(randomHex(bytes: 8))"
    try HostileFixture.run { tar, _ in
      try tar.directory("d/")
      try tar.symlink("d", target: "/tmp")
      try tar.file("d/" + leaf, "through the replaced directory\n")
    } check: { result, fixture in
      #expect(fileStatus("/tmp/" + leaf) == nil)
      #expect(linkTarget(fixture.root + "/d") == "/tmp")
      switch result {
      case .success:
        let content = try readFile(fixture.root + "/tmp/" + leaf)
        #expect(content == Array("through the replaced directory\n".utf8))
      case .failure(let error):
        guard case .member(let path, _) = error else {
          Issue.record("expected a member error, got \(error)")
          return
        }
        #expect(path == "d/" + leaf)
        #expect(String(describing: error).contains("d/" + leaf))
      }
    }
    #expect(fileStatus("/tmp/" + leaf) == nil)
  }

  /// The same with the target directory present in the image: the member lands in the image's
  /// /tmp, and the cached parent `d` (a directory until the symlink replaced it) is not reused.
  @Test func directoryReplacedBySymlinkLandsInImage() throws {
    let leaf = "tasker-test-\(randomHex(bytes: 8))"
    try HostileFixture.run { tar, _ in
      try tar.directory("tmp/")
      try tar.directory("d/")
      try tar.file("d/first", "in the directory d\n")
      try tar.file("d/second", "still in d\n")
      try tar.add(ArchiveMember(name: Array("d/first".utf8), kind: .symlink(Array("x".utf8)), mode: 0o777))
      try tar.directory("e/")
      try tar.symlink("e", target: "/tmp")
      try tar.file("e/" + leaf, "through the replaced directory\n")
    } check: { result, fixture in
      let summary = try result.get()
      #expect(summary.entries == 8)
      #expect(fileStatus("/tmp/" + leaf) == nil)
      #expect(try readFile(fixture.root + "/tmp/" + leaf) == Array("through the replaced directory\n".utf8))
      #expect(linkTarget(fixture.root + "/d/first") == "x")
    }
  }

  /// Hardlinks to or from the image root itself are refused.
  @Test(arguments: [("x", "./"), ("x", "."), ("./", "a")])
  func hardlinkWithTheRootIsRefused(name: String, target: String) throws {
    try HostileFixture.run { tar, _ in
      try tar.file("a", "a\n")
      try tar.hardlink(name, target: target)
    } check: { result, _ in
      let error = try #require(result.failure)
      guard case .unsafeMember(let path, let reason) = error else {
        Issue.record("expected unsafeMember, got \(error)")
        return
      }
      #expect(path == name)
      #expect(reason.contains("root"))
    }
  }

  /// Symlinks that point at each other: the write through them fails, it does not spin.
  @Test func symlinkLoopFailsCleanly() throws {
    try HostileFixture.run { tar, _ in
      try tar.symlink("a", target: "b")
      try tar.symlink("b", target: "/a")
      try tar.file("a/x", "loop\n")
    } check: { result, _ in
      let error = try #require(result.failure)
      guard case .member(let path, let cause) = error else {
        Issue.record("expected a member error, got \(error)")
        return
      }
      #expect(path == "a/x")
      #expect(cause.errno == ELOOP)
    }
  }

  @Test func deviceNodesAreNotCreated() throws {
    try HostileFixture.run { tar, _ in
      try tar.characterDevice("dev/mem", major: 1, minor: 1)
      try tar.add(
        ArchiveMember(name: Array("dev/sda".utf8), kind: .blockDevice(major: 8, minor: 0), mode: 0o660))
      try tar.file("ok", "ok\n")
    } check: { result, fixture in
      let summary = try result.get()
      #expect(summary.entries == 3)
      #expect(summary.skippedSpecialFiles == 2)
      #expect(fileStatus(fixture.root + "/dev/mem") == nil)
      #expect(fileStatus(fixture.root + "/dev/sda") == nil)
      #expect(try readFile(fixture.root + "/ok") == Array("ok\n".utf8))
    }
  }

  /// A 4096-byte name is one past PATH_MAX less the NUL: refused, and named in the message.
  @Test func nameLongerThanPathMaxIsRefused() throws {
    let name = Array(repeating: "d123456789/", count: 372).joined() + "tail"
    #expect(name.utf8.count == 4096)
    try HostileFixture.run { tar, _ in
      try tar.file(name, "long\n")
    } check: { result, fixture in
      let error = try #require(result.failure)
      guard case .unsafeMember(let path, let reason) = error else {
        Issue.record("expected unsafeMember, got \(error)")
        return
      }
      #expect(path == name)
      #expect(reason.contains("4095"))
      #expect(String(describing: error).contains("d123456789/d123456789/"))
      #expect(directoryEntries(fixture.root).isEmpty)
    }
  }

  /// A component longer than NAME_MAX (255) fails at the kernel, as a member error naming it.
  @Test func componentLongerThanNameMaxFailsCleanly() throws {
    let name = "dir/" + String(repeating: "n", count: 300)
    try HostileFixture.run { tar, _ in
      try tar.file(name, "long\n")
    } check: { result, _ in
      let error = try #require(result.failure)
      guard case .member(let path, let cause) = error else {
        Issue.record("expected a member error, got \(error)")
        return
      }
      #expect(path == name)
      #expect(cause.errno == ENAMETOOLONG)
      #expect(String(describing: error).contains(name))
    }
  }

  @Test func customPathLengthLimit() throws {
    let limits = ExtractionLimits(maxBytes: 1 << 20, maxEntries: 10, maxPathLength: 16)
    try HostileFixture.run(options: ExtractionOptions(limits: limits)) { tar, _ in
      try tar.file("sixteen-bytes-ok", "ok\n")
      try tar.file("seventeen-bytes-x", "no\n")
    } check: { result, fixture in
      let error = try #require(result.failure)
      guard case .unsafeMember(let path, let reason) = error else {
        Issue.record("expected unsafeMember, got \(error)")
        return
      }
      #expect(path == "seventeen-bytes-x")
      #expect(reason.contains("16"))
      #expect(fileStatus(fixture.root + "/sixteen-bytes-ok") != nil)
    }
  }

  @Test func skipUnsafeMembersReportsThemAndExtractsTheRest() throws {
    try HostileFixture.run(options: ExtractionOptions(skipUnsafeMembers: true)) { tar, _ in
      try tar.file("../x", "escaped\n")
      try tar.file("kept/one", "one\n")
      try tar.file("/abs", "absolute\n")
      try tar.hardlink("hl", target: "../sentinel/file")
      try tar.file("kept/two", "two\n")
    } check: { result, fixture in
      let summary = try result.get()
      #expect(summary.entries == 5)
      #expect(summary.skippedUnsafe == ["../x", "/abs", "hl"])
      #expect(fileStatus(fixture.download + "/x") == nil)
      #expect(fileStatus(fixture.root + "/hl") == nil)
      #expect(try readFile(fixture.root + "/kept/one") == Array("one\n".utf8))
      #expect(try readFile(fixture.root + "/kept/two") == Array("two\n".utf8))
      #expect(directoryEntries(fixture.root) == ["kept"])
    }
  }

  // MARK: - Not a tar archive

  @Test func garbageIsUnreadable() throws {
    var garbage = [UInt8](repeating: 0, count: 64 * 1024)
    for index in garbage.indices { garbage[index] = UInt8.random(in: 1...255) }
    try HostileFixture.run(rawArchive: garbage) { result, fixture in
      let error = try #require(result.failure)
      guard case .unreadable = error else {
        Issue.record("expected unreadable, got \(error)")
        return
      }
      #expect(directoryEntries(fixture.root).isEmpty)
    }
  }

  @Test func emptyFileIsRefused() throws {
    try HostileFixture.run(rawArchive: []) { result, fixture in
      let error = try #require(result.failure)
      switch error {
      case .empty, .unreadable: break
      default: Issue.record("expected empty or unreadable, got \(error)")
      }
      #expect(directoryEntries(fixture.root).isEmpty)
    }
  }

  /// A well-formed tar with no member (only the end-of-archive blocks).
  @Test(arguments: [Compression.none, .gzip])
  func archiveWithNoMemberIsEmpty(_ compression: Compression) throws {
    try HostileFixture.run(compression: compression) { _, _ in
    } check: { result, fixture in
      let error = try #require(result.failure)
      guard case .empty = error else {
        Issue.record("expected empty, got \(error)")
        return
      }
      #expect(String(describing: error).contains("empty"))
      #expect(directoryEntries(fixture.root).isEmpty)
    }
  }

  /// A compressed stream cut in the middle of a member's data.
  @Test(arguments: [Compression.gzip, .xz, .zstd])
  func truncatedStreamIsUnreadable(_ compression: Compression) throws {
    try HostileFixture.run(rawArchive: try truncatedArchive(compression)) { result, _ in
      let error = try #require(result.failure)
      guard case .unreadable(let message) = error else {
        Issue.record("expected unreadable, got \(error)")
        return
      }
      #expect(!message.isEmpty)
    }
  }

  @Test func zipIsRefused() throws {
    try HostileFixture.run(format: .zip) { zip, _ in
      try zip.file("inside-zip", "zip content\n")
    } check: { result, fixture in
      let error = try #require(result.failure)
      guard case .unreadable = error else {
        Issue.record("expected unreadable, got \(error)")
        return
      }
      #expect(directoryEntries(fixture.root).isEmpty)
    }
  }

  /// A cpio archive (gzip-compressed, so the filter is one the extractor reads) is not a tar.
  @Test func cpioIsRefused() throws {
    try HostileFixture.run(compression: .gzip, format: .cpio) { cpio, _ in
      try cpio.file("inside-cpio", "cpio content\n")
    } check: { result, fixture in
      let error = try #require(result.failure)
      guard case .unreadable = error else {
        Issue.record("expected unreadable, got \(error)")
        return
      }
      #expect(directoryEntries(fixture.root).isEmpty)
    }
  }
}

/// Where `target` resolves when the root is `/`: `..` stops at the root, a leading `/` is the
/// root. (No symlinks involved: the targets here name plain directories.)
func resolvedInRoot(_ target: String) -> String {
  var parts: [Substring] = []
  for part in target.split(separator: "/") {
    if part == "." { continue }
    if part == ".." {
      _ = parts.popLast()
    } else {
      parts.append(part)
    }
  }
  return parts.joined(separator: "/")
}

/// A compressed tar holding 1 MiB of random bytes, cut in half.
private func truncatedArchive(_ compression: Compression) throws -> [UInt8] {
  try withTemporaryDirectory { dir in
    let path = dir + "/full"
    let tar = try TarBuilder(path: path, compression: compression)
    try tar.file("small", "small\n")
    var random = [UInt8](repeating: 0, count: 1 << 20)
    for index in random.indices { random[index] = UInt8.random(in: 0...255) }
    try tar.file("big", bytes: random)
    try tar.finish()
    let full = try readFile(path)
    return Array(full.prefix(full.count / 2))
  }
}
