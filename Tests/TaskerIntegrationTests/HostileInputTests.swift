import Foundation
import Glibc
import Testing

/// Archives and servers that attack, disks that fill, state that cannot be written: through the
/// real binary, as a user meets them.
@Suite(.enabled(if: isRoot, rootReason))
struct HostileInputTests {
  /// All of busybox, then a symlink `evil` to `target`, then a member `evil/file` ("pwned")
  /// written through it.
  static func archiveWritingThroughALink(to target: String, images: Images, in scratch: Scratch) throws -> String {
    let tree = try scratch.sub("tree")
    let unpack = try run("/bin/tar", ["-C", tree.path, "-xf", images.path("busybox.tar")])
    #expect(unpack.status == 0)
    try FileManager.default.createSymbolicLink(atPath: tree.path + "/evil", withDestinationPath: target)
    try Data("pwned\n".utf8).write(to: tree.appendingPathComponent("payload"))
    let image = scratch.url.appendingPathComponent("evil.tar").path
    let pack = try run(
      "/bin/sh",
      [
        "-c",
        "cd \(tree.path) && tar -cf \(image) --exclude ./evil --exclude ./payload . && tar -rf \(image) evil"
          + " && tar -rf \(image) --transform 's|^payload$|evil/file|' payload",
      ])
    #expect(pack.status == 0, "\(pack.stderr)")
    return image
  }

  /// `tar --transform` lets a member carry any name, `../` included, whatever the tree holds.
  func archiveRenaming(_ file: String, to name: String, in scratch: Scratch, output: String) throws -> String {
    let tree = try scratch.sub("tree-\(output)")
    try Data("hostile\n".utf8).write(to: tree.appendingPathComponent(file))
    let path = scratch.url.appendingPathComponent(output).path
    let result = try run(
      "/bin/tar", ["-C", tree.path, "-P", "--transform", "s|^\(file)$|\(name)|", "-cf", path, file])
    #expect(result.status == 0, "\(result.stderr)")
    return path
  }

  @Test func membersThatWouldEscapeFailTheCreateOrAreSkipped() throws {
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let sentinel = try box.scratch.sub("sentinel")
    try Data("untouched\n".utf8).write(to: sentinel.appendingPathComponent("file"))
    let before = try snapshot(sentinel)

    let dotdot = try archiveRenaming("x", to: "../../sentinel/file", in: box.scratch, output: "dotdot.tar")
    let absolute = try archiveRenaming("y", to: sentinel.path + "/file", in: box.scratch, output: "absolute.tar")
    for image in [dotdot, absolute] {
      let result = try box.tasker(["create", image, "true"])
      #expect(result.status != 0)
      #expect(result.stdout.isEmpty)
      #expect(result.stderrLines.count == 1 && result.stderr.contains("refused archive member"), "\(result.stderr)")
      #expect(listing(box.downloads).isEmpty)
      #expect(box.tasksOnRecord().isEmpty)
    }
    #expect(try snapshot(sentinel) == before)

    // With --skip-unsafe-members the create goes on, says on stderr what it skipped, prints the
    // ID alone on stdout, and still writes nothing outside.
    let images = try Images.shared()
    let mixed = box.scratch.url.appendingPathComponent("mixed.tar").path
    let tree = try box.scratch.sub("mixed")
    try Data("hostile\n".utf8).write(to: tree.appendingPathComponent("x"))
    let pack = try run(
      "/bin/sh",
      [
        "-c",
        "cp \(images.path("busybox.tar")) \(mixed) && tar -C \(tree.path) -rf \(mixed) --transform 's|^x$|../../sentinel/file|' x",
      ])
    #expect(pack.status == 0, "\(pack.stderr)")
    let refused = try box.tasker(["create", mixed, "true"])
    #expect(refused.status != 0 && refused.stderr.contains("../../sentinel/file"))
    let skipped = try box.tasker(["create", "--skip-unsafe-members", mixed, "true"])
    #expect(skipped.status == 0, "\(skipped.stderr)")
    #expect(skipped.stdout.count == 13)
    #expect(
      skipped.stderrLines.count == 1 && skipped.stderr.contains("skipped unsafe archive member \"../../sentinel/file\"")
    )
    #expect(try snapshot(sentinel) == before)
  }

  /// A symlink to a host directory, then a member written through it (absolute and relative
  /// targets): the write either fails cleanly or lands inside the task's directory.
  @Test(arguments: ["absolute", "relative"])
  func writingThroughAPlantedSymlinkStaysInside(kind: String) throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let sentinel = try box.scratch.sub("sentinel")
    try Data("untouched\n".utf8).write(to: sentinel.appendingPathComponent("file"))
    let before = try snapshot(sentinel)
    let target = kind == "absolute" ? sentinel.path : String(repeating: "../", count: 12) + sentinel.path.dropFirst()
    let image = try Self.archiveWritingThroughALink(to: target, images: images, in: box.scratch)
    let result = try box.tasker(["create", image, "true"])
    #expect(try snapshot(sentinel) == before)
    if result.status == 0 {
      let id = result.stdout.trimmingCharacters(in: .newlines)
      let inside = box.downloads.path + "/" + id + sentinel.path + "/file"
      #expect(FileManager.default.fileExists(atPath: inside), "the write lands inside the root")
    } else {
      #expect(result.stderrLines.count == 1 && result.stdout.isEmpty)
      #expect(listing(box.downloads).isEmpty && box.tasksOnRecord().isEmpty)
    }
  }

  /// A usrmerge image (`/bin`, `/sbin`, `/lib` are symlinks into `/usr`), relative and absolute.
  @Test(arguments: ["usr/", "/usr/"])
  func aUsrmergeImageExtractsAndRuns(prefix: String) throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let tree = try box.scratch.sub("usrmerge")
    let image = box.scratch.url.appendingPathComponent("usrmerge.tar.gz").path
    let script = """
      set -e; cd \(tree.path); tar -xf \(images.path("busybox.tar"))
      mkdir -p usr/lib; cp -a bin/. usr/bin/; cp -a sbin/. usr/sbin/; rm -rf bin sbin
      ln -s \(prefix)bin bin; ln -s \(prefix)sbin sbin; ln -s \(prefix)lib lib
      tar -czf \(image) .
      """
    let made = try run("/bin/sh", ["-c", script])
    #expect(made.status == 0, "\(made.stderr)")
    for isolation in ["jail", "chroot"] {
      let result = try box.tasker([
        "run", "--isolation", isolation, image, "--", "/bin/sh", "-c", "ls -d /sbin/ && echo ok",
      ])
      #expect(result.status == 0, "\(isolation): \(result.stderr)")
      #expect(result.stdout.hasSuffix("ok\n"), "\(isolation): \(result.stdout)")
    }
  }

  @Test func redirectsAreFollowedWithinBounds() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let near = try box.tasker(["create", images.url("redirect/3/busybox.tar.gz"), "true"])
    #expect(near.status == 0, "\(near.stderr)")
    let far = try box.tasker(["create", images.url("redirect/30/busybox.tar.gz"), "true"])
    #expect(far.status != 0 && far.stderrLines.count == 1 && far.stderr.contains("redirect"), "\(far.stderr)")
    #expect(listing(box.downloads).count == 1)
  }

  @Test func stalledServersAndTLSFailuresAreOneLine() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let stalled = try box.tasker(["create", "--timeout", "1", images.url("stall/busybox.tar.gz"), "true"])
    #expect(
      stalled.status != 0 && stalled.stderrLines.count == 1 && stalled.stderr.contains("timed out"), "\(stalled.stderr)"
    )
    // TLS to a server that speaks plain HTTP.
    let tls = try box.tasker(["create", "https://127.0.0.1:\(images.port)/busybox.tar.gz", "true"])
    #expect(tls.status != 0 && tls.stderrLines.count == 1 && tls.stderr.contains("download failed"), "\(tls.stderr)")
    #expect(listing(box.downloads).isEmpty)
    #expect(box.tasksOnRecord().isEmpty)
  }

  /// The image lands in the cache under the state root: that is what fills up.
  @Test func aDiskThatFillsUpLeavesEverythingAsItWas() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let small = try box.scratch.sub("small")
    #expect(try run("/bin/mount", ["-t", "tmpfs", "-o", "size=512k,mode=0755", "tmpfs", small.path]).status == 0)
    defer { _ = try? run("/bin/umount", ["-l", small.path]) }
    try Data("mine\n".utf8).write(to: box.downloads.appendingPathComponent("keep.txt"))
    let result = try box.tasker(["create", "--root", small.path, images.path("busybox.tar.gz"), "true"])
    #expect(result.status != 0)
    #expect(result.stderrLines.count == 1 && result.stderr.contains("No space left"), "\(result.stderr)")
    #expect(listing(box.downloads) == ["keep.txt"])
    #expect(listing(small.appendingPathComponent("tasks")).isEmpty)
    #expect(listing(small.appendingPathComponent("images")).filter { !["sources", "locks"].contains($0) }.isEmpty)
  }

  @Test func aReadOnlyStateRootIsAClearError() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let frozen = try box.scratch.sub("frozen")
    #expect(try run("/bin/mount", ["-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", frozen.path]).status == 0)
    defer { _ = try? run("/bin/umount", [frozen.path]) }
    let result = try box.tasker(["create", "--root", frozen.path + "/state", images.path("busybox.tar.gz"), "true"])
    #expect(result.status != 0)
    #expect(result.stderrLines.count == 1 && result.stderr.contains("Read-only file system"), "\(result.stderr)")
    #expect(listing(box.downloads).isEmpty)
    // Reading commands on it say what is wrong, too.
    let list = try box.tasker(["list", "--root", frozen.path + "/state"])
    #expect(list.status == 0 && list.stdout.split(separator: "\n").count == 1)
  }

  @Test func limitsOnWhatAnImageMayWrite() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let big = try box.tasker(["create", "--max-size", "1m", images.path("busybox.tar.gz"), "true"])
    #expect(big.status != 0 && big.stderr.contains("too large"), "\(big.stderr)")
    let many = try box.tasker(["create", "--max-entries", "10", images.path("busybox.tar.gz"), "true"])
    #expect(many.status != 0 && many.stderr.contains("10 members"), "\(many.stderr)")
    #expect(listing(box.downloads).isEmpty)
    let bad = try box.tasker(["create", "--max-size", "lots", images.path("busybox.tar.gz"), "true"])
    #expect(bad.status == 64 && bad.stderrLines.count == 1)
  }
}

/// Every path below `root` with its type, size and content: equal snapshots, equal trees.
func snapshot(_ root: URL, excluding: Set<String> = []) throws -> [String: String] {
  var result: [String: String] = [:]
  let fm = FileManager.default
  guard let walker = fm.enumerator(atPath: root.path) else { return result }
  while let relative = walker.nextObject() as? String {
    if let first = relative.split(separator: "/").first, excluding.contains(String(first)) { continue }
    let path = root.path + "/" + relative
    var info = stat()
    guard lstat(path, &info) == 0 else { continue }
    switch info.st_mode & S_IFMT {
    case S_IFLNK: result[relative] = "link " + ((try? fm.destinationOfSymbolicLink(atPath: path)) ?? "?")
    case S_IFDIR: result[relative] = "dir \(info.st_mode & 0o7777)"
    default:
      let data = (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()
      result[relative] = "file \(info.st_mode & 0o7777) \(info.st_ino) " + String(decoding: data, as: UTF8.self)
    }
  }
  return result
}
