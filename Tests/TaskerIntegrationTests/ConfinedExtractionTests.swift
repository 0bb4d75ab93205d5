import CTaskerShim
import Foundation
import Glibc
import TaskerArchive
import TaskerImage
import Testing

/// The extraction runs in tasker-unpack, confined; what an image's extended attributes may set.
@Suite(.enabled(if: isRoot, rootReason))
struct ConfinedExtractionTests {
  var unpackPath: String { binDirectory.appendingPathComponent("tasker-unpack").path }

  /// A file capability granting cap_net_raw (VFS_CAP_REVISION_2, effective).
  static let capability: [UInt8] = [0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00] + [UInt8](repeating: 0, count: 12)

  /// busybox, plus a file and a directory carrying overlayfs's trusted attributes, a user one,
  /// a SELinux label and a file capability (pax records, written by Python's tarfile).
  func xattrImage(in scratch: Scratch) throws -> String {
    let output = scratch.url.appendingPathComponent("xattrs.tar").path
    let script = """
      import base64, io, sys, tarfile
      source, output, capability = sys.argv[1], sys.argv[2], base64.b64decode(sys.argv[3]).decode('latin-1')
      with tarfile.open(source) as src, tarfile.open(output, 'w', format=tarfile.PAX_FORMAT) as dst:
          for member in src.getmembers():
              dst.addfile(member, src.extractfile(member) if member.isreg() else None)
          data = b'marked\\n'
          info = tarfile.TarInfo('marked')
          info.size = len(data)
          info.mode = 0o755
          info.pax_headers = {
              'SCHILY.xattr.trusted.overlay.redirect': '/etc',
              'SCHILY.xattr.trusted.overlay.metacopy': '',
              'SCHILY.xattr.user.x': 'kept',
              'SCHILY.xattr.security.selinux': 'system_u:object_r:shadow_t:s0',
              'LIBARCHIVE.xattr.security.capability': sys.argv[3],
          }
          dst.addfile(info, io.BytesIO(data))
          folder = tarfile.TarInfo('opaque')
          folder.type = tarfile.DIRTYPE
          folder.mode = 0o755
          folder.pax_headers = {'SCHILY.xattr.trusted.overlay.opaque': 'y', 'SCHILY.xattr.user.d': 'dir'}
          dst.addfile(folder)
      """
    let images = try Images.shared()
    let encoded = Data(Self.capability).base64EncodedString()
    let result = try run("/usr/bin/env", ["python3", "-c", script, images.path("busybox.tar"), output, encoded])
    #expect(result.status == 0, "\(result.stderr)")
    return output
  }

  func xattr(_ path: String, _ name: String) -> [UInt8]? {
    var buffer = [UInt8](repeating: 0, count: 256)
    let n = lgetxattr(path, name, &buffer, buffer.count)
    return n < 0 ? nil : Array(buffer.prefix(n))
  }

  @Test func trustedAttributesAreNotAppliedAndCreateSaysSo() throws {
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let image = try xattrImage(in: box.scratch)
    let result = try box.tasker(["create", image, "true"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.count == 13)
    let expected = [
      "tasker: warning: skipped extended attribute \"trusted.overlay.redirect\" of archive member \"marked\"",
      "tasker: warning: skipped extended attribute \"trusted.overlay.metacopy\" of archive member \"marked\"",
      "tasker: warning: skipped extended attribute \"security.selinux\" of archive member \"marked\"",
      "tasker: warning: skipped extended attribute \"trusted.overlay.opaque\" of archive member \"opaque/\"",
    ]
    #expect(Set(result.stderrLines.map(String.init)) == Set(expected), "\(result.stderr)")
    #expect(result.stderrLines.count == expected.count)

    let images = box.state.appendingPathComponent("images").path
    let digest = try #require(listing(URL(fileURLWithPath: images)).first { $0.count == 64 })
    let rootfs = images + "/" + digest + "/rootfs"
    for name in ["trusted.overlay.redirect", "trusted.overlay.metacopy", "security.selinux"] {
      #expect(xattr(rootfs + "/marked", name) == nil, "\(name) was applied")
    }
    #expect(xattr(rootfs + "/opaque", "trusted.overlay.opaque") == nil)
    #expect(xattr(rootfs + "/marked", "security.capability") == Self.capability)
    // user.* needs a file system that has it (ext4, xfs, tmpfs since Linux 6.6).
    if setxattr(box.scratch.path, "user.probe", "1", 1, 0) == 0 {
      #expect(xattr(rootfs + "/marked", "user.x") == Array("kept".utf8))
      #expect(xattr(rootfs + "/opaque", "user.d") == Array("dir".utf8))
    }
    // The task sees the file whole, and no redirect: its /marked is the image's.
    let id = result.stdout.trimmingCharacters(in: .newlines)
    let taskRoot = box.downloads.appendingPathComponent(id).path
    #expect((try? String(contentsOfFile: taskRoot + "/marked", encoding: .utf8)) == "marked\n")
    #expect(xattr(taskRoot + "/marked", "security.capability") == Self.capability)
    _ = try box.tasker(["rm", "--force", id])
  }

  /// What the kernel says of the extraction process, from inside it (`--probe`, through the
  /// same ConfinedExtractor tasker uses): five capabilities, nothing in the bounding set beyond
  /// them, no_new_privs, a seccomp filter, `/` the staging directory, and the calls an escape
  /// would need refused.
  @Test func theExtractionProcessIsConfined() throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    let root = try scratch.sub("root")
    let rootFD = open(root.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    try #require(rootFD >= 0)
    defer { close(rootFD) }
    let images = try Images.shared()
    let archive = open(images.path("busybox.tar.gz"), O_RDONLY | O_CLOEXEC)
    try #require(archive >= 0)
    defer { close(archive) }
    let extractor = ConfinedExtractor(helperPath: unpackPath, options: ExtractionOptions())
    let (summary, report) = try extractor.extract(
      from: FileDescriptorSource(fd: archive), into: rootFD, extraArguments: ["--probe"])
    #expect(summary.entries > 100)
    let probes = report.probes
    // CHOWN(0) DAC_OVERRIDE(1) FOWNER(3) FSETID(4) SETFCAP(31)
    #expect(probes["CapEff"] == "000000008000001b")
    #expect(probes["CapPrm"] == "000000008000001b")
    #expect(probes["CapBnd"] == "000000008000001b")
    #expect(probes["CapInh"] == "0000000000000000")
    #expect(probes["CapAmb"] == "0000000000000000")
    #expect(probes["NoNewPrivs"] == "1")
    #expect(probes["Seccomp"] == "2")
    #expect(probes["cwd"] == "/")
    #expect(probes["open /proc/1/root"] == "No such file or directory")
    #expect(probes["open .."] == "the root")
    for call in ["socket", "mount", "unshare", "chroot", "kill 1", "mknod", "mknod 0/0", "setxattr trusted"] {
      #expect(probes[call] == "Operation not permitted", "\(call): \(probes[call] ?? "no answer")")
    }
    // It still extracted, into the directory it was given.
    #expect(FileManager.default.fileExists(atPath: root.path + "/bin/busybox"))
    #expect(summary.diffID == nil)
  }

  /// Layer mode (`--layer`): MKNOD too, for whiteouts, and a 0/0 character device is all it
  /// may make; the report carries the SHA-256 of the decompressed stream.
  @Test func aLayerIsUnpackedWithMknodForWhiteoutsOnly() throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    let root = try scratch.sub("root")
    let rootFD = open(root.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    try #require(rootFD >= 0)
    defer { close(rootFD) }
    let images = try Images.shared()
    let archive = open(images.path("busybox.tar.gz"), O_RDONLY | O_CLOEXEC)
    try #require(archive >= 0)
    defer { close(archive) }
    let extractor = ConfinedExtractor(helperPath: unpackPath, options: ExtractionOptions(layer: true))
    let (summary, report) = try extractor.extract(
      from: FileDescriptorSource(fd: archive), into: rootFD, extraArguments: ["--probe"])
    // CHOWN(0) DAC_OVERRIDE(1) FOWNER(3) FSETID(4) MKNOD(27) SETFCAP(31)
    #expect(report.probes["CapEff"] == "000000008800001b")
    #expect(report.probes["CapBnd"] == "000000008800001b")
    #expect(report.probes["mknod 0/0"] == "ok")
    for call in ["mknod", "setxattr trusted", "mount"] {
      #expect(report.probes[call] == "Operation not permitted", "\(call): \(report.probes[call] ?? "no answer")")
    }
    let digest = try run("/bin/sh", ["-c", "gzip -dc < '\(images.path("busybox.tar.gz"))' | sha256sum"])
    #expect(summary.diffID == String(digest.stdout.prefix(64)))
  }

  /// The same, seen from outside while the child waits for its first byte: its mount
  /// namespace is not tasker's and holds one mount, its root is the staging directory.
  @Test func theExtractionProcessIsConfinedSeenFromOutside() throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    let root = try scratch.sub("root")
    let rootFD = open(root.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    try #require(rootFD >= 0)
    defer { close(rootFD) }
    let images = try Images.shared()
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: images.path("busybox.tar.gz"))))
    let source = InspectingSource(bytes, root: root.path)
    let extractor = ConfinedExtractor(helperPath: unpackPath, options: ExtractionOptions())
    _ = try extractor.extract(from: source, into: rootFD)
    let seen = try #require(source.seen)
    #expect(seen.status.contains("Seccomp:\t2"), "\(seen.status)")
    #expect(seen.status.contains("NoNewPrivs:\t1"))
    #expect(seen.status.contains("CapBnd:\t000000008000001b"))
    #expect(seen.mountNamespace != (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt")))
    #expect(seen.mounts.count == 1, "\(seen.mounts)")
    #expect(seen.mounts.first?.split(separator: " ").dropFirst(4).first == "/")
    #expect(seen.rootInode == (try FileManager.default.attributesOfItem(atPath: root.path)[.systemFileNumber] as? Int))
  }

  /// Errors read the same through the child as in-process: each message, and the summary.
  @Test(arguments: ["garbage.tar.gz", "truncated.tar.gz", "busybox.tar.xz", "busybox-escape.tar"])
  func outcomesMatchInProcessExtraction(image: String) throws {
    let images = try Images.shared()
    let scratch = try Scratch()
    defer { scratch.remove() }
    func outcome(_ unpacker: String?, _ name: String) throws -> String {
      let root = try scratch.sub(name)
      let fd = open(root.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
      defer { close(fd) }
      let fetcher = ImageFetcher(unpacker: unpacker)
      do {
        let result = try fetcher.fetch(.file(images.path(image)), into: fd, expectedSHA256: nil)
        return "\(result.sha256) \(result.summary)"
      } catch {
        return String(describing: error)
      }
    }
    let confined = try outcome(unpackPath, "confined")
    #expect(confined == (try outcome(nil, "in-process")))
    #expect(!confined.contains("tasker-unpack"))
  }

  /// Hardlinks are made by name in the child, which has no /proc.
  @Test func hardlinksAreMadeInTheChild() throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    let tree = try scratch.sub("tree")
    try Data("one\n".utf8).write(to: tree.appendingPathComponent("a"))
    try FileManager.default.createDirectory(at: tree.appendingPathComponent("d"), withIntermediateDirectories: true)
    #expect(link(tree.path + "/a", tree.path + "/d/b") == 0)
    let archive = scratch.url.appendingPathComponent("links.tar").path
    #expect(try run("/bin/tar", ["-C", tree.path, "-cf", archive, "a", "d"]).status == 0)
    let root = try scratch.sub("root")
    let fd = open(root.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    defer { close(fd) }
    _ = try ImageFetcher(unpacker: unpackPath).fetch(.file(archive), into: fd, expectedSHA256: nil)
    var first = stat()
    var second = stat()
    #expect(stat(root.path + "/a", &first) == 0 && stat(root.path + "/d/b", &second) == 0)
    #expect(first.st_ino == second.st_ino && first.st_nlink == 2)
  }
}

/// Hands out an archive, but first waits until the child reading it has confined itself and
/// looks at it from outside (/proc), as another process on the host would.
final class InspectingSource: ByteSource {
  struct Seen {
    var status: String
    var mountNamespace: String?
    var mounts: [Substring]
    var rootInode: Int?
  }
  private let bytes: [UInt8]
  private let rootInode: Int?
  private var offset = 0
  private(set) var seen: Seen?

  /// `root`: the staging directory; the child looked at is the one whose root it is (other
  /// tests running at the same time have extraction children of their own).
  init(_ bytes: [UInt8], root: String) {
    self.bytes = bytes
    rootInode = (try? FileManager.default.attributesOfItem(atPath: root))?[.systemFileNumber] as? Int
  }

  func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    if seen == nil { seen = inspect() }
    let n = min(buffer.count, bytes.count - offset)
    bytes.withUnsafeBytes { all in
      guard let start = all.baseAddress else { return }
      buffer.baseAddress?.copyMemory(from: start + offset, byteCount: n)
    }
    offset += n
    return n
  }

  private func inspect() -> Seen? {
    let me = getpid()
    for _ in 0..<500 {
      let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(me)/task")) ?? []
      let children = tasks.flatMap { task in
        ((try? String(contentsOfFile: "/proc/\(me)/task/\(task)/children", encoding: .utf8)) ?? "")
          .split(separator: " ").compactMap { Int32($0) }
      }
      for pid in children {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) ?? ""
        guard exe.hasSuffix("/tasker-unpack") else { continue }
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        guard status.contains("Seccomp:\t2") else { continue }
        let mounts = ((try? String(contentsOfFile: "/proc/\(pid)/mountinfo", encoding: .utf8)) ?? "")
          .split(separator: "\n")
        let root = try? FileManager.default.attributesOfItem(atPath: "/proc/\(pid)/root/.")
        guard root?[.systemFileNumber] as? Int == rootInode else { continue }
        return Seen(
          status: status,
          mountNamespace: try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/mnt"),
          mounts: mounts, rootInode: root?[.systemFileNumber] as? Int)
      }
      usleep(10_000)
    }
    return nil
  }
}
