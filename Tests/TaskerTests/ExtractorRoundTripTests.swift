import Glibc
import TaskerArchive
import Testing

/// Archives a real image could hold go in and come out whole: content, modes, links, times.
@Suite struct ExtractorRoundTripTests {
  static let toolScript = "#!/bin/sh\necho tool\n"
  static let laterText = "written through the usrmerge link\n"

  /// One member of each kind the extractor creates, in an order a real image could have.
  static func writeImage(_ tar: TarBuilder) throws {
    try tar.directory("./", mode: 0o755, mtime: 1_000_000_000)
    try tar.directory("./usr/", mtime: 1_000_000_100)
    try tar.directory("./usr/bin/", mtime: 1_000_000_200)
    try tar.file("./usr/bin/tool", toolScript, mode: 0o755, mtime: 1_000_000_300)
    try tar.hardlink("./usr/bin/tool-again", target: "./usr/bin/tool")
    try tar.hardlink("usr/bin/tool-third", target: "usr/bin/tool")
    // usrmerge, spelled absolute: the target is kept verbatim and resolved inside the root.
    try tar.symlink("./bin", target: "/usr/bin", mtime: 1_000_000_400)
    try tar.file("./bin/later", laterText, mode: 0o700, mtime: 1_000_000_500)
    // A relative, dangling symlink whose parent directory has no member of its own yet.
    try tar.symlink("./etc/os-release", target: "../usr/lib/os-release", mtime: 1_000_000_600)
    try tar.directory("./etc/", mode: 0o750, mtime: 1_000_000_700)
    try tar.file("./etc/hostname", "jail\n", mode: 0o644, mtime: 1_000_000_800)
    try tar.directory("./ro/", mode: 0o555, mtime: 1_000_000_900)
    try tar.file("./ro/inside", "in a read-only directory\n", mode: 0o444, mtime: 1_000_001_000)
    try tar.directory("./ro/sub/", mode: 0o500, mtime: 1_000_001_100)
    try tar.file("./ro/sub/deeper", "deeper\n", mode: 0o400)
    try tar.directory("./empty/", mode: 0o700, mtime: 1_000_001_200)
    try tar.zeros("./var/zeros", size: 3 << 20)
    try tar.directory("./var/", mode: 0o755, mtime: 1_000_001_250)  // after its member
    try tar.add(ArchiveMember(name: Array("./run/fifo".utf8), kind: .fifo, mode: 0o620, mtime: 1_000_001_300))
    try tar.directory("./run/", mode: 0o711, mtime: 1_000_001_350)
    try tar.characterDevice("./dev/null", major: 1, minor: 3)
    try tar.file("plain-name", "no leading dot-slash\n", mode: 0o640, mtime: 1_000_001_400)
  }

  static let memberCount = 22
  static let contentBytes = UInt64(
    toolScript.utf8.count + laterText.utf8.count + "jail\n".utf8.count + "in a read-only directory\n".utf8.count
      + "deeper\n".utf8.count + (3 << 20) + "no leading dot-slash\n".utf8.count)

  @Test(arguments: Compression.allCases)
  func extractsEveryKindOfMember(_ compression: Compression) throws {
    try withTemporaryDirectory { dir in
      let archive = dir + "/image.tar"
      let tar = try TarBuilder(path: archive, compression: compression)
      try Self.writeImage(tar)
      try tar.finish()
      let root = dir + "/root"
      try makeDirectory(root)

      let summary = try extractArchive(archive, into: root).get()
      #expect(summary.entries == Self.memberCount)
      #expect(summary.bytes == Self.contentBytes)
      #expect(summary.skippedSpecialFiles == 1)
      #expect(summary.skippedUnsafe.isEmpty)

      // Exactly these names at the top: `./` prefixes dropped, the device node not created.
      #expect(directoryEntries(root) == ["bin", "empty", "etc", "plain-name", "ro", "run", "usr", "var"])
      let rootInfo = try #require(fileStatus(root))
      #expect(permissions(rootInfo) == 0o755)
      #expect(rootInfo.st_mtim.tv_sec == 1_000_000_000)

      try expectFile(root + "/usr/bin/tool", Self.toolScript, mode: 0o755, mtime: 1_000_000_300)
      try expectFile(root + "/etc/hostname", "jail\n", mode: 0o644, mtime: 1_000_000_800)
      try expectFile(root + "/ro/inside", "in a read-only directory\n", mode: 0o444, mtime: 1_000_001_000)
      try expectFile(root + "/ro/sub/deeper", "deeper\n", mode: 0o400, mtime: TarBuilder.defaultMTime)
      try expectFile(root + "/plain-name", "no leading dot-slash\n", mode: 0o640, mtime: 1_000_001_400)

      // Hardlinks (with and without `./`) share the first file's inode.
      let tool = try #require(fileStatus(root + "/usr/bin/tool"))
      #expect(tool.st_nlink == 3)
      for name in ["tool-again", "tool-third"] {
        let other = try #require(fileStatus(root + "/usr/bin/" + name))
        #expect(other.st_ino == tool.st_ino && other.st_dev == tool.st_dev, "\(name) is not a hardlink of tool")
      }

      // The absolute symlink is stored as written, and `bin/later` went through it, inside the root.
      let bin = try #require(fileStatus(root + "/bin"))
      #expect(fileType(bin) == S_IFLNK)
      #expect(linkTarget(root + "/bin") == "/usr/bin")
      #expect(bin.st_mtim.tv_sec == 1_000_000_400)
      try expectFile(root + "/usr/bin/later", Self.laterText, mode: 0o700, mtime: 1_000_000_500)
      #expect(linkTarget(root + "/etc/os-release") == "../usr/lib/os-release")
      #expect(fileStatus(root + "/etc/os-release")?.st_mtim.tv_sec == 1_000_000_600)

      // Directory modes and mtimes are applied after their members were written.
      try expectDirectory(root + "/usr", mode: 0o755, mtime: 1_000_000_100)
      try expectDirectory(root + "/usr/bin", mode: 0o755, mtime: 1_000_000_200)
      try expectDirectory(root + "/etc", mode: 0o750, mtime: 1_000_000_700)
      try expectDirectory(root + "/ro", mode: 0o555, mtime: 1_000_000_900)
      try expectDirectory(root + "/ro/sub", mode: 0o500, mtime: 1_000_001_100)
      try expectDirectory(root + "/empty", mode: 0o700, mtime: 1_000_001_200)
      try expectDirectory(root + "/var", mode: 0o755, mtime: 1_000_001_250)
      try expectDirectory(root + "/run", mode: 0o711, mtime: 1_000_001_350)
      #expect(directoryEntries(root + "/empty").isEmpty)
      #expect(directoryEntries(root + "/ro") == ["inside", "sub"])

      let fifo = try #require(fileStatus(root + "/run/fifo"))
      #expect(fileType(fifo) == S_IFIFO)
      #expect(permissions(fifo) == 0o620)
      #expect(fileStatus(root + "/dev") == nil)

      let zeros = try readFile(root + "/var/zeros")
      #expect(zeros.count == 3 << 20)
      #expect(zeros.allSatisfy { $0 == 0 })
    }
  }

  /// Every compression yields the same tree, byte for byte, as the plain tar.
  @Test(arguments: [Compression.gzip, .bzip2, .xz, .zstd])
  func compressedImageMatchesThePlainOne(_ compression: Compression) throws {
    try withTemporaryDirectory { dir in
      var snapshots: [TreeSnapshot] = []
      for (index, variant) in [Compression.none, compression].enumerated() {
        let archive = dir + "/image-\(index)"
        let tar = try TarBuilder(path: archive, compression: variant)
        try Self.writeImage(tar)
        try tar.finish()
        let root = dir + "/root-\(index)"
        try makeDirectory(root)
        _ = try extractArchive(archive, into: root).get()
        snapshots.append(try TreeSnapshot(root, identity: false))
      }
      #expect(snapshots[0].nodes.count == 21)
      #expect(snapshots[0].changes(to: snapshots[1]).isEmpty, "\(snapshots[0].changes(to: snapshots[1]))")
    }
  }

  @Test func gnuTarLongNamesAndLongLinkTargets() throws {
    let longDirectory = String(repeating: "long-directory-name/", count: 8)  // 160 bytes: past ustar's 100
    let longTarget = "/" + String(repeating: "t", count: 200)
    try withTemporaryDirectory { dir in
      let archive = dir + "/gnu.tar.gz"
      let tar = try TarBuilder(path: archive, format: .gnutar, compression: .gzip)
      try tar.file(longDirectory + "file", "long\n", mode: 0o600)
      try tar.symlink(longDirectory + "link", target: longTarget)
      try tar.hardlink(longDirectory + "hard", target: longDirectory + "file")
      try tar.finish()
      let root = dir + "/root"
      try makeDirectory(root)

      let summary = try extractArchive(archive, into: root).get()
      #expect(summary.entries == 3)
      try expectFile(root + "/" + longDirectory + "file", "long\n", mode: 0o600, mtime: TarBuilder.defaultMTime)
      #expect(linkTarget(root + "/" + longDirectory + "link") == longTarget)
      #expect(
        fileStatus(root + "/" + longDirectory + "hard")?.st_ino
          == fileStatus(root + "/" + longDirectory + "file")?.st_ino)
    }
  }

  /// A sparse member (pax GNU.sparse) whose data sit at 0 and 4 MiB and which ends in a hole:
  /// the extractor seeks over holes and extends the file to its full size.
  @Test func sparseFileEndingInAHole() throws {
    let size = 8 << 20
    let first = [UInt8](repeating: 0xab, count: 4096)
    let second = [UInt8](repeating: 0xcd, count: 8192)
    try withTemporaryDirectory { dir in
      let archive = dir + "/sparse.tar"
      let tar = try TarBuilder(path: archive)
      try tar.add(
        ArchiveMember(
          name: Array("sparse".utf8), kind: .sparse(size: size, segments: [(0, first), (4 << 20, second)]),
          mode: 0o644))
      try tar.finish()
      // The holes are not in the archive: it is far smaller than the file.
      #expect(try #require(fileStatus(archive)).st_size < 1 << 20)
      let root = dir + "/root"
      try makeDirectory(root)

      let summary = try extractArchive(archive, into: root).get()
      #expect(summary.bytes < UInt64(size))
      let bytes = try readFile(root + "/sparse")
      #expect(bytes.count == size)
      #expect(Array(bytes[0..<4096]) == first)
      #expect(Array(bytes[(4 << 20)..<((4 << 20) + 8192)]) == second)
      #expect(bytes[4096..<(4 << 20)].allSatisfy { $0 == 0 })
      #expect(bytes[((4 << 20) + 8192)...].allSatisfy { $0 == 0 })
    }
  }

  /// A later member of the same name replaces the earlier one (as tar does), whatever it was.
  @Test func laterMemberReplacesEarlierOne() throws {
    try withTemporaryDirectory { dir in
      let archive = dir + "/replace.tar"
      let tar = try TarBuilder(path: archive)
      try tar.file("a", "first\n")
      try tar.file("a", "second\n", mode: 0o600)
      try tar.symlink("b", target: "somewhere")
      try tar.file("b", "file now\n")
      try tar.directory("c/")
      try tar.symlink("c", target: "a")
      try tar.finish()
      let root = dir + "/root"
      try makeDirectory(root)

      _ = try extractArchive(archive, into: root).get()
      try expectFile(root + "/a", "second\n", mode: 0o600, mtime: TarBuilder.defaultMTime)
      try expectFile(root + "/b", "file now\n", mode: 0o644, mtime: TarBuilder.defaultMTime)
      #expect(linkTarget(root + "/c") == "a")
    }
  }

  /// Without root the archive's owners cannot be applied; with `preserveOwnership: false` the
  /// files belong to whoever extracts, whatever the archive says.
  @Test func ownershipNotPreservedWhenDisabled() throws {
    try withTemporaryDirectory { dir in
      let archive = dir + "/owned.tar"
      let tar = try TarBuilder(path: archive)
      try tar.add(ArchiveMember(name: Array("owned".utf8), kind: .file([1, 2, 3]), mode: 0o640, uid: 1234, gid: 5678))
      try tar.finish()
      let root = dir + "/root"
      try makeDirectory(root)

      _ = try extractArchive(archive, into: root, options: ExtractionOptions(preserveOwnership: false)).get()
      let info = try #require(fileStatus(root + "/owned"))
      #expect(info.st_uid == geteuid())
      #expect(info.st_gid == getegid())
      #expect(permissions(info) == 0o640)
    }
  }

  @Test(.enabled(if: geteuid() == 0, "needs root: applies archive owners and a setuid bit on another uid's file"))
  func setuidAndOwnersPreservedAsRoot() throws {
    try withTemporaryDirectory { dir in
      let archive = dir + "/setuid.tar.xz"
      let tar = try TarBuilder(path: archive, compression: .xz)
      try tar.add(ArchiveMember(name: Array("shared/".utf8), kind: .directory, mode: 0o2775, uid: 1234, gid: 5678))
      try tar.add(
        ArchiveMember(name: Array("shared/su".utf8), kind: .file(Array("su\n".utf8)), mode: 0o4755, uid: 0, gid: 0))
      try tar.add(
        ArchiveMember(name: Array("shared/user".utf8), kind: .file([]), mode: 0o6750, uid: 1234, gid: 5678))
      try tar.add(
        ArchiveMember(
          name: Array("shared/link".utf8), kind: .symlink(Array("user".utf8)), mode: 0o777, uid: 4321, gid: 8765))
      try tar.finish()
      let root = dir + "/root"
      try makeDirectory(root)

      _ = try extractArchive(archive, into: root).get()
      let shared = try #require(fileStatus(root + "/shared"))
      #expect(permissions(shared) == 0o2775)
      #expect(shared.st_uid == 1234 && shared.st_gid == 5678)
      let su = try #require(fileStatus(root + "/shared/su"))
      #expect(permissions(su) == 0o4755)
      #expect(su.st_uid == 0 && su.st_gid == 0)
      // chown clears set-id bits, so the mode must have been applied after it.
      let user = try #require(fileStatus(root + "/shared/user"))
      #expect(permissions(user) == 0o6750)
      #expect(user.st_uid == 1234 && user.st_gid == 5678)
      let link = try #require(fileStatus(root + "/shared/link"))
      #expect(fileType(link) == S_IFLNK)
      #expect(link.st_uid == 4321 && link.st_gid == 8765)
    }
  }
}

/// Expects a regular file with exactly these bytes, permissions and mtime.
func expectFile(
  _ path: String, _ contents: String, mode: mode_t, mtime: Int, sourceLocation: SourceLocation = #_sourceLocation
) throws {
  let info = try #require(fileStatus(path), "\(path) is missing", sourceLocation: sourceLocation)
  #expect(fileType(info) == S_IFREG, "\(path) is not a regular file", sourceLocation: sourceLocation)
  #expect(permissions(info) == mode, "\(path) mode", sourceLocation: sourceLocation)
  #expect(info.st_mtim.tv_sec == mtime, "\(path) mtime", sourceLocation: sourceLocation)
  #expect(try readFile(path) == Array(contents.utf8), "\(path) content", sourceLocation: sourceLocation)
}

/// Expects a real directory (not a symlink to one) with these permissions and mtime.
func expectDirectory(
  _ path: String, mode: mode_t, mtime: Int, sourceLocation: SourceLocation = #_sourceLocation
) throws {
  let info = try #require(fileStatus(path), "\(path) is missing", sourceLocation: sourceLocation)
  #expect(fileType(info) == S_IFDIR, "\(path) is not a directory", sourceLocation: sourceLocation)
  #expect(permissions(info) == mode, "\(path) mode", sourceLocation: sourceLocation)
  #expect(info.st_mtim.tv_sec == mtime, "\(path) mtime", sourceLocation: sourceLocation)
}
