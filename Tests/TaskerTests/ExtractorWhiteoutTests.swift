import CTaskerShim
import Glibc
import TaskerArchive
import Testing

/// Layer mode: the OCI whiteouts become overlayfs's markers, inside the layer only.
@Suite struct ExtractorWhiteoutTests {
  static let layer = ExtractionOptions(layer: true)

  /// Builds a tar at `<dir>/layer.tar` with `members`, extracts it into `<dir>/root`.
  func extractLayer(
    in dir: String, options: ExtractionOptions = layer, _ members: (TarBuilder) throws -> Void
  ) throws -> Result<ExtractionSummary, ArchiveError> {
    let archive = dir + "/layer.tar"
    let tar = try TarBuilder(path: archive)
    try members(tar)
    try tar.finish()
    try makeDirectory(dir + "/root")
    return try extractArchive(archive, into: dir + "/root", options: options)
  }

  func isWhiteout(_ path: String) -> Bool {
    guard let info = fileStatus(path) else { return false }
    return (info.st_mode & S_IFMT) == S_IFCHR && info.st_rdev == 0
  }

  @Test(.enabled(if: geteuid() == 0, "a whiteout is a device node: mknod needs root"))
  func whiteoutBecomesACharacterDeviceAndOpaqueIsReported() throws {
    try withTemporaryDirectory { dir in
      let summary = try extractLayer(in: dir) { tar in
        try tar.directory("etc/")
        try tar.file("etc/.wh.motd")
        try tar.file("usr/share/.wh..wh..opq")
        try tar.file("usr/share/kept", "new\n")
      }.get()
      #expect(isWhiteout(dir + "/root/etc/motd"))
      #expect(fileStatus(dir + "/root/etc/.wh.motd") == nil)
      #expect(fileStatus(dir + "/root/usr/share/.wh..wh..opq") == nil)
      #expect(summary.whiteouts == 1)
      #expect(summary.opaqueDirectories == [Array("usr/share".utf8)])
      #expect(try readFile(dir + "/root/usr/share/kept") == Array("new\n".utf8))
    }
  }

  /// Off for tarball images: a `.wh.` file is a file.
  @Test func withoutLayerModeAWhiteoutIsAFile() throws {
    try withTemporaryDirectory { dir in
      let summary = try extractLayer(in: dir, options: ExtractionOptions()) { tar in
        try tar.file(".wh.motd", "plain\n")
      }.get()
      #expect(try readFile(dir + "/root/.wh.motd") == Array("plain\n".utf8))
      #expect(summary.whiteouts == 0)
    }
  }

  @Test(.enabled(if: geteuid() == 0, "a whiteout is a device node: mknod needs root"))
  func aWhiteoutHidesLowerLayersOnlyWhateverTheOrder() throws {
    try withTemporaryDirectory { dir in
      _ = try extractLayer(in: dir) { tar in
        // The file first, then its whiteout: the file stays.
        try tar.file("first", "kept\n")
        try tar.file(".wh.first")
        // The whiteout first, then the file: the file replaces the marker.
        try tar.file(".wh.second")
        try tar.file("second", "also kept\n")
      }.get()
      #expect(try readFile(dir + "/root/first") == Array("kept\n".utf8))
      #expect(try readFile(dir + "/root/second") == Array("also kept\n".utf8))
    }
  }

  @Test(arguments: [".wh.../x", "../.wh.x", "a/../../.wh.x"])
  func aWhiteoutNameOutsideTheLayerIsRefused(_ name: String) throws {
    try HostileFixture.run(options: Self.layer) { tar, _ in
      try tar.file(name)
    } check: { result, _ in
      let error = try #require(result.failure)
      guard case .unsafeMember(let path, _) = error else {
        Issue.record("expected unsafeMember, got \(error)")
        return
      }
      #expect(path == name)
    }
  }

  @Test(arguments: [".wh.", ".wh..", ".wh...", "d/.wh..wh.plnk"])
  func aWhiteoutThatNamesNoFileIsRefused(_ name: String) throws {
    try withTemporaryDirectory { dir in
      let result = try extractLayer(in: dir) { tar in try tar.file(name) }
      let error = try #require(result.failure)
      guard case .unsafeMember(let path, let reason) = error else {
        Issue.record("expected unsafeMember, got \(error)")
        return
      }
      #expect(path == name)
      #expect(reason.contains("whiteout"))
    }
  }

  /// An opaque marker or whiteout under a symlink of the layer would mark the directory the
  /// link points at: refused, and nothing is marked there.
  @Test(arguments: ["link/.wh..wh..opq", "link/.wh.file"])
  func aMarkerUnderASymlinkIsRefused(_ name: String) throws {
    try withTemporaryDirectory { dir in
      let result = try extractLayer(in: dir) { tar in
        try tar.directory("real/")
        try tar.file("real/file", "x\n")
        try tar.symlink("link", target: "/real")
        try tar.file(name)
      }
      let error = try #require(result.failure)
      guard case .unsafeMember(let path, let reason) = error else {
        Issue.record("expected unsafeMember, got \(error)")
        return
      }
      #expect(path == name)
      #expect(reason.contains("not a directory of this layer"))
      #expect(try readFile(dir + "/root/real/file") == Array("x\n".utf8))
    }
  }

  @Test func aHardlinkIntoALowerLayerIsRefused() throws {
    try withTemporaryDirectory { dir in
      let result = try extractLayer(in: dir) { tar in try tar.hardlink("copy", target: "bin/busybox") }
      let error = try #require(result.failure)
      guard case .unsafeMember(_, let reason) = error else {
        Issue.record("expected unsafeMember, got \(error)")
        return
      }
      #expect(reason.contains("not in this layer"))
    }
  }

  @Test(.enabled(if: geteuid() == 0, "trusted.* attributes need CAP_SYS_ADMIN"))
  func markOpaqueWritesTheAttributeAndFollowsNoSymlink() throws {
    try withTemporaryDirectory { dir in
      try makeDirectory(dir + "/root")
      try makeDirectory(dir + "/root/d")
      try makeDirectory(dir + "/outside")
      #expect(symlink(dir + "/outside", dir + "/root/link") == 0)
      let rootFD = open(dir + "/root", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
      defer { close(rootFD) }
      try LayerMarkers.markOpaque(rootFD: rootFD, directories: [Array("d".utf8)])
      var value = [UInt8](repeating: 0, count: 4)
      #expect(getxattr(dir + "/root/d", "trusted.overlay.opaque", &value, value.count) == 1)
      #expect(value[0] == UInt8(ascii: "y"))
      #expect(throws: ArchiveError.self) {
        try LayerMarkers.markOpaque(rootFD: rootFD, directories: [Array("link".utf8)])
      }
      #expect(throws: ArchiveError.self) {
        try LayerMarkers.markOpaque(rootFD: rootFD, directories: [Array("../outside".utf8)])
      }
      #expect(getxattr(dir + "/outside", "trusted.overlay.opaque", &value, value.count) < 0)
    }
  }

  @Test func theReportCarriesTheLayerFields() {
    var summary = ExtractionSummary()
    summary.entries = 3
    summary.whiteouts = 2
    summary.opaqueDirectories = [Array("usr/share".utf8), Array("with\ttab".utf8)]
    summary.diffID = String(repeating: "ab", count: 32)
    #expect(ExtractionReport.decode(ExtractionReport.encode(summary)).summary == summary)
  }

  /// An opaque directory crosses the pipe as the bytes of its name, whatever they are, and the
  /// report stays ASCII text: bytes that are not UTF-8 must not come back as U+FFFD.
  @Test func theReportCarriesOpaqueDirectoriesAsBytes() throws {
    var summary = ExtractionSummary()
    summary.entries = 2
    let notUTF8: [UInt8] = [0xff, 0xfe]
    let replacement = Array("\u{FFFD}".utf8)
    summary.opaqueDirectories = [notUTF8, replacement, Array("a/caf".utf8) + [0xe9, 0x25, 0x09], [0x7f, 0x20]]
    let encoded = ExtractionReport.encode(summary)
    #expect(encoded.allSatisfy { $0 == 0x0a || $0 == 0x09 || (0x20...0x7e).contains($0) })
    let decoded = try #require(ExtractionReport.decode(encoded).summary)
    #expect(decoded.opaqueDirectories == summary.opaqueDirectories)
    #expect(decoded.opaqueDirectories[0] != decoded.opaqueDirectories[1])
  }

  /// Each opaque directory once, in the order the layer first marks it, however many markers
  /// (a layer may hold tens of thousands, and may repeat one).
  @Test func opaqueMarkersAreReportedOnceInArchiveOrder() throws {
    let count = 3000
    let names = (0..<count).map { "d\(($0 * 7919) % count)" }
    try withTemporaryDirectory { dir in
      let summary = try extractLayer(in: dir) { tar in
        for name in names { try tar.file(name + "/.wh..wh..opq") }
        // Again, in another order, and the layer's root (`.`) with a `./` prefix and without.
        for name in names.reversed() { try tar.file(name + "/.wh..wh..opq") }
        try tar.file("./.wh..wh..opq")
        try tar.file(".wh..wh..opq")
      }.get()
      #expect(summary.opaqueDirectories == names.map { Array($0.utf8) } + [Array(".".utf8)])
      #expect(summary.entries == 2 * count + 2)
    }
  }

  /// A directory whose name is not UTF-8 is marked opaque by its own bytes, not by the name
  /// those bytes read as (`\u{FFFD}`), after the summary crossed tasker-unpack's report.
  @Test(.enabled(if: geteuid() == 0, "trusted.* attributes need CAP_SYS_ADMIN"))
  func anOpaqueDirectoryNamedWithBytesThatAreNotUTF8IsMarkedByThoseBytes() throws {
    let notUTF8: [UInt8] = [0xff, 0xfe]
    let replacement = Array("\u{FFFD}".utf8)
    try withTemporaryDirectory { dir in
      let summary = try extractLayer(in: dir) { tar in
        try tar.add(ArchiveMember(name: notUTF8 + [0x2f], kind: .directory, mode: 0o755))
        try tar.add(ArchiveMember(name: replacement + [0x2f], kind: .directory, mode: 0o755))
        try tar.add(ArchiveMember(name: notUTF8 + Array("/.wh..wh..opq".utf8), kind: .file([]), mode: 0o644))
      }.get()
      let reported = try #require(ExtractionReport.decode(ExtractionReport.encode(summary)).summary)
      #expect(reported.opaqueDirectories == [notUTF8])
      let rootFD = open(dir + "/root", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
      #expect(rootFD >= 0)
      defer { close(rootFD) }
      try LayerMarkers.markOpaque(rootFD: rootFD, directories: reported.opaqueDirectories)
      func opaque(_ name: [UInt8]) -> Bool {
        var value = [UInt8](repeating: 0, count: 4)
        let path = Array((dir + "/root/").utf8) + name
        let length = path.withCCharPointer { getxattr($0, "trusted.overlay.opaque", &value, value.count) }
        return length == 1 && value[0] == UInt8(ascii: "y")
      }
      #expect(opaque(notUTF8))
      #expect(!opaque(replacement))
    }
  }
}
