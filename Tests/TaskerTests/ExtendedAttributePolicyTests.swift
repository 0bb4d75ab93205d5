import CTaskerShim
import Glibc
import TaskerArchive
import TaskerSystem
import Testing

/// Which extended attributes an image may set, and the report tasker-unpack sends back.
@Suite struct ExtendedAttributePolicyTests {
  @Test(arguments: [
    ("user.x", true), ("user.mime_type", true), ("security.capability", true),
    ("system.posix_acl_access", true), ("system.posix_acl_default", true),
    ("trusted.overlay.opaque", false), ("trusted.overlay.redirect", false), ("trusted.overlay.metacopy", false),
    ("trusted.anything", false), ("user.overlay.opaque", false), ("user.overlay.redirect", false),
    ("security.selinux", false), ("security.ima", false), ("security.evm", false), ("system.nfs4_acl", false),
    ("", false), ("user", false), ("security.capabilityx", false),
  ])
  func policy(name: String, applies: Bool) {
    #expect(ExtendedAttributePolicy.applies(name) == applies)
  }

  /// In-process, as root (who could set trusted.* attributes): the filter alone keeps them off.
  @Test(.enabled(if: geteuid() == 0, "needs root: only root can set trusted.* attributes"))
  func trustedAttributesAreSkippedAndReported() throws {
    try withTemporaryDirectory { dir in
      let archive = dir + "/trusted.tar"
      let tar = try TarBuilder(path: archive)
      try tar.add(
        ArchiveMember(
          name: Array("dir".utf8), kind: .directory, mode: 0o755,
          xattrs: [("trusted.overlay.opaque", Array("y".utf8))]))
      try tar.add(
        ArchiveMember(
          name: Array("dir/file".utf8), kind: .file(Array("x\n".utf8)), mode: 0o644,
          xattrs: [
            ("trusted.overlay.redirect", Array("/etc".utf8)), ("security.selinux", Array("label".utf8)),
            ("user.kept", Array("1".utf8)),
          ]))
      try tar.finish()
      let root = dir + "/root"
      try makeDirectory(root)
      let summary = try extractArchive(archive, into: root).get()
      #expect(
        summary.skippedAttributes == [
          SkippedAttribute(member: "dir/", name: "trusted.overlay.opaque"),
          SkippedAttribute(member: "dir/file", name: "trusted.overlay.redirect"),
          SkippedAttribute(member: "dir/file", name: "security.selinux"),
        ])
      var buffer = [UInt8](repeating: 0, count: 64)
      #expect(getxattr(root + "/dir", "trusted.overlay.opaque", &buffer, buffer.count) < 0)
      #expect(getxattr(root + "/dir/file", "trusted.overlay.redirect", &buffer, buffer.count) < 0)
      #expect(
        summary.skippedAttributes.first?.warning
          == "skipped extended attribute \"trusted.overlay.opaque\" of archive member \"dir/\"")
    }
  }

  @Test func reportRoundTripsASummaryWithAnyBytesInNames() {
    var summary = ExtractionSummary()
    summary.entries = 7
    summary.bytes = 1 << 40
    summary.skippedSpecialFiles = 2
    summary.skippedUnsafe = ["../x\ty", "a\nb%20c", "caf\u{e9}"]
    summary.skippedAttributes = [SkippedAttribute(member: "m\r\n", name: "trusted.overlay.opaque")]
    let report = ExtractionReport.decode(ExtractionReport.encode(summary))
    #expect(report.summary == summary)
    #expect(report.error == nil && report.otherLines.isEmpty)
  }

  @Test func reportRoundTripsEveryError() {
    let errors: [ArchiveError] = [
      .unsafeMember(path: "../../etc/passwd", reason: "name leaves the image\t(..)"),
      .unreadable("Unrecognized archive format"), .empty, .limitExceeded("more than 3 members"),
      .member(path: "a/b", SystemError("openat2", path: "a", errno: ENOTDIR)),
      .member(path: "c", SystemError("write", errno: ENOSPC)),
      .source(SystemError("read", path: "stdin", errno: EIO)), .extractionProcess("odd"),
    ]
    for error in errors {
      let report = ExtractionReport.decode(ExtractionReport.encode(.archive(.init(error))))
      guard case .archive(let record)? = report.error else {
        Issue.record("no error decoded for \(error)")
        continue
      }
      #expect(record.archiveError.description == error.description)
    }
    let confinement = ExtractionReport.decode(ExtractionReport.encode(.confinement(step: "pivot_root", errno: EINVAL)))
    #expect(confinement.error == .confinement(step: "pivot_root", errno: EINVAL))
  }

  @Test func linesThatAreNotRecordsAreKept() {
    let report = ExtractionReport.decode(Array("tasker: cannot load libarchive.so.13: gone\ndone\t1\n".utf8))
    #expect(report.summary == nil)
    #expect(report.otherLines == ["tasker: cannot load libarchive.so.13: gone", "done\t1"])
  }
}
