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
      #expect(summary.opaqueDirectories == ["usr/share"])
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
      try LayerMarkers.markOpaque(rootFD: rootFD, directories: ["d"])
      var value = [UInt8](repeating: 0, count: 4)
      #expect(getxattr(dir + "/root/d", "trusted.overlay.opaque", &value, value.count) == 1)
      #expect(value[0] == UInt8(ascii: "y"))
      #expect(throws: ArchiveError.self) { try LayerMarkers.markOpaque(rootFD: rootFD, directories: ["link"]) }
      #expect(throws: ArchiveError.self) { try LayerMarkers.markOpaque(rootFD: rootFD, directories: ["../outside"]) }
      #expect(getxattr(dir + "/outside", "trusted.overlay.opaque", &value, value.count) < 0)
    }
  }

  @Test func theReportCarriesTheLayerFields() {
    var summary = ExtractionSummary()
    summary.entries = 3
    summary.whiteouts = 2
    summary.opaqueDirectories = ["usr/share", "with\ttab"]
    summary.diffID = String(repeating: "ab", count: 32)
    #expect(ExtractionReport.decode(ExtractionReport.encode(summary)).summary == summary)
  }
}
