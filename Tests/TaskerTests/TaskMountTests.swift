import Foundation
import Glibc
import Tasker
import Testing

struct VolumeOptionTests {
  @Test func parsesHostBindsAndVolumes() throws {
    #expect(try TaskMount.parseVolume("/srv/data:/data") == TaskMount(source: .host("/srv/data"), target: "/data"))
    #expect(
      try TaskMount.parseVolume("/srv/data:/data/./x/:ro,nosuid,nodev,noexec")
        == TaskMount(
          source: .host("/srv/data"), target: "/data/x", readOnly: true, noSUID: true, noDev: true, noExec: true))
    #expect(
      try TaskMount.parseVolume("cache:/var/cache:rw") == TaskMount(source: .volume("cache"), target: "/var/cache"))
    #expect(try TaskMount.parseVolume("/a:/b:ro,rw").readOnly == false)
  }

  @Test(arguments: [
    "/a", "/a:", ":/b", "/a:/b:ro:x", "/a:relative", "./a:/b", "a/b:/b", "/a:/", "/a:/proc", "/a:/proc/sys",
    "/a:/dev", "/a:/dev/pts/0", "/a:/b/../c", "/a:/b:bogus", "/a:/b:shared", "-bad:/b", "/a:/b:size=1m",
  ])
  func refusesBadSpecs(text: String) {
    #expect(throws: TaskerError.self) { try TaskMount.parseVolume(text) }
  }

  @Test func namesTheProblem() {
    do {
      _ = try TaskMount.parseVolume("/a:/proc/x")
      Issue.record("accepted /proc/x")
    } catch {
      #expect(error.message.contains("/proc"))
      #expect(error.code == .invalidArgument)
    }
    do {
      _ = try TaskMount.parseVolume("/a:/b/../../etc")
      Issue.record("accepted ..")
    } catch {
      #expect(error.message.contains(".."))
    }
  }
}

struct MountSetTests {
  @Test func refusesDuplicatesAndTargetsInsideAHostBind() throws {
    let bind = TaskMount(source: .host("/a"), target: "/data")
    #expect(throws: TaskerError.self) { try TaskMount.check([bind, TaskMount(source: .host("/b"), target: "/data")]) }
    #expect(throws: TaskerError.self) {
      try TaskMount.check([bind, TaskMount(source: .tmpfs(options: ""), target: "/data/tmp")])
    }
    try TaskMount.check([bind, TaskMount(source: .host("/b"), target: "/database")])
    try TaskMount.check([
      TaskMount(source: .volume("v"), target: "/data"), TaskMount(source: .host("/b"), target: "/data/sub"),
    ])
    try TaskMount.check([
      TaskMount(source: .tmpfs(options: ""), target: "/data"), TaskMount(source: .host("/b"), target: "/data/sub"),
    ])
  }
}

struct MountOptionTests {
  @Test func parsesPodmansSyntax() throws {
    #expect(
      try TaskMount.parseMount("type=bind,source=/srv,target=/data,readonly")
        == TaskMount(source: .host("/srv"), target: "/data", readOnly: true))
    #expect(
      try TaskMount.parseMount("type=bind,src=/srv,dst=/data,ro=false,bind-propagation=rprivate")
        == TaskMount(source: .host("/srv"), target: "/data"))
    #expect(
      try TaskMount.parseMount("type=volume,source=v1,destination=/v,ro=true")
        == TaskMount(source: .volume("v1"), target: "/v", readOnly: true))
    #expect(
      try TaskMount.parseMount("type=tmpfs,target=/scratch,tmpfs-size=64m,tmpfs-mode=1770")
        == TaskMount(
          source: .tmpfs(options: "size=67108864,mode=1770"), target: "/scratch", noSUID: true, noDev: true))
  }

  @Test(arguments: [
    "type=bind,target=/x", "type=bind,source=rel,target=/x", "type=bind,source=/a", "source=/a,target=/x",
    "type=overlay,source=/a,target=/x", "type=volume,source=bad/name,target=/x", "type=tmpfs,source=/a,target=/x",
    "type=bind,source=/a,target=/x,tmpfs-size=1m", "type=tmpfs,target=/x,tmpfs-size=lots",
    "type=tmpfs,target=/x,tmpfs-mode=999", "type=bind,source=/a,target=/x,ro=maybe",
    "type=bind,source=/a,target=/x,bind-propagation=shared", "type=bind,source=/a,target=/x,colour=blue",
    "type=bind,source=/a,target=/",
  ])
  func refusesBadSpecs(text: String) {
    #expect(throws: TaskerError.self) { try TaskMount.parseMount(text) }
  }
}

struct TmpfsOptionTests {
  @Test func defaultsLikePodman() throws {
    #expect(
      try TaskMount.parseTmpfs("/scratch")
        == TaskMount(source: .tmpfs(options: ""), target: "/scratch", noSUID: true, noDev: true, noExec: true))
    #expect(
      try TaskMount.parseTmpfs("/scratch:size=1m,mode=1777,exec,ro")
        == TaskMount(
          source: .tmpfs(options: "size=1048576,mode=1777"), target: "/scratch", readOnly: true, noSUID: true,
          noDev: true))
  }

  @Test(arguments: ["", "scratch", "/", "/proc", "/x:size=", "/x:size=big", "/x:mode=8", "/x:rbind", "/x:uid=0"])
  func refusesBadSpecs(text: String) {
    #expect(throws: TaskerError.self) { try TaskMount.parseTmpfs(text) }
  }
}

struct UserMountStepTests {
  let id = TaskID("0123456789ab").unsafelyUnwrapped
  let bare = CgroupHost(unifiedMount: nil, unifiedControllers: [], v1Mounts: [:])

  @Test func makesParentsAndOrdersByDepth() {
    let mounts = [
      TaskMount(source: .host("/a"), target: "/data/sub", readOnly: true),
      TaskMount(source: .volume("v"), target: "/data"),
      TaskMount(source: .tmpfs(options: "size=1024"), target: "/scratch", noSUID: true, noDev: true, noExec: true),
    ]
    let steps = JailPlan.userMountSteps(
      mounts: mounts, trees: [(16, .directory), (17, .file), nil], readOnlyRoot: false)
    let expected: [JailPlan.Step] = [
      .attach(descriptor: 17, target: "data", kind: .file),
      .mkdir("scratch", mode: 0o755),
      .mount(source: "tmpfs", target: "scratch", type: "tmpfs", flags: 2 | 4 | 8, data: "size=1024"),
      .mkdir("data", mode: 0o755),
      .attach(descriptor: 16, target: "data/sub", kind: .directory),
    ]
    #expect(steps == expected)
  }

  @Test func readOnlyRootGetsWritableTmpfsUnlessMounted() {
    let steps = JailPlan.userMountSteps(
      mounts: [TaskMount(source: .host("/a"), target: "/tmp")], trees: [(16, .directory)], readOnlyRoot: true)
    let expected: [JailPlan.Step] = [
      .attach(descriptor: 16, target: "tmp", kind: .directory),
      .mkdir("run", mode: 0o755),
      .mount(source: "tmpfs", target: "run", type: "tmpfs", flags: 2 | 4, data: "mode=755"),
      .mkdir("var", mode: 0o755),
      .mkdir("var/tmp", mode: 0o755),
      .mount(source: "tmpfs", target: "var/tmp", type: "tmpfs", flags: 2 | 4, data: "mode=1777"),
    ]
    #expect(steps == expected)
  }

  @Test func readOnlyRootMakesNothingInsideAHostBind() {
    let steps = JailPlan.userMountSteps(
      mounts: [TaskMount(source: .host("/srv/var"), target: "/var")], trees: [(16, .directory)], readOnlyRoot: true)
    #expect(!steps.contains(.mkdir("var/tmp", mode: 0o755)), "\(steps)")
    #expect(steps.contains(.mkdir("tmp", mode: 0o755)), "\(steps)")
  }

  @Test func chrootRefusesMounts() {
    var options = JailOptions(isolation: .chroot)
    options.mounts = [TaskMount(source: .host("/a"), target: "/b")]
    #expect(throws: TaskerError.self) {
      try JailPlan.make(id: id, options: options, host: bare)
    }
    var readOnly = JailOptions(isolation: .chroot)
    readOnly.readOnlyRoot = true
    #expect(throws: TaskerError.self) {
      try JailPlan.make(id: id, options: readOnly, host: bare)
    }
  }
}

struct EtcFilesTests {
  @Test func hostsHasLocalhostTheHostnameAndTheImagesEntries() {
    let text = TaskEtcFiles.hosts(hostname: "web", image: Array("10.0.0.5 db\n".utf8))
    #expect(text.hasPrefix("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tweb\n"))
    #expect(text.hasSuffix("10.0.0.5 db\n"))
    #expect(TaskEtcFiles.hosts(hostname: "x", image: nil).split(separator: "\n").count == 3)
  }

  @Test func resolvConfFitsTheNetwork() {
    let host = Array(
      "# managed\nsearch example.org\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 9.9.9.9\noptions edns0\n".utf8)
    #expect(TaskEtcFiles.resolvConf(network: .host, host: host) == String(decoding: host, as: UTF8.self))
    #expect(
      TaskEtcFiles.resolvConf(network: .private, host: host)
        == "# managed\nsearch example.org\nnameserver 169.254.1.1\noptions edns0\n")
    #expect(TaskEtcFiles.resolvConf(network: .none, host: host) == "search example.org\noptions edns0\n")
    #expect(TaskEtcFiles.resolvConf(network: .private, host: []) == "nameserver 169.254.1.1\n")
  }
}

struct ImageUserTests {
  let passwd = Array(
    """
    root:x:0:0:root:/root:/bin/bash
    nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
    _apt:x:42:65534::/nonexistent:/usr/sbin/nologin
    alice:x:1000:1000:Alice:/home/alice:/bin/sh
    nohome:x:1001:1001:::/bin/sh

    """.utf8)
  let group = Array(
    """
    root:x:0:
    users:x:100:alice,bob
    audio:x:29:alice
    nogroup:x:65534:
    alice:x:1000:
    staff:x:50:

    """.utf8)

  func resolve(_ spec: String, groupAdd: [String] = []) throws -> ResolvedUser {
    try ImageUser.resolve(
      spec, groupAdd: groupAdd, passwd: ImageUser.parsePasswd(passwd), groups: ImageUser.parseGroup(group))
  }

  @Test func resolvesNamesAndNumbers() throws {
    #expect(try resolve("alice") == ResolvedUser(uid: 1000, gid: 1000, additionalGids: [100, 29], home: "/home/alice"))
    #expect(try resolve("1000") == ResolvedUser(uid: 1000, gid: 1000, additionalGids: [100, 29], home: "/home/alice"))
    #expect(try resolve("nobody") == ResolvedUser(uid: 65534, gid: 65534, additionalGids: [], home: "/nonexistent"))
    #expect(try resolve("_apt:staff") == ResolvedUser(uid: 42, gid: 50, additionalGids: [], home: "/nonexistent"))
    #expect(try resolve("alice:0", groupAdd: ["staff", "7", "29"]).additionalGids == [100, 29, 50, 7])
    #expect(try resolve("alice:0").gid == 0)
    // A uid the image does not list: gid 0, HOME=/ (as podman).
    #expect(try resolve("4242") == ResolvedUser(uid: 4242, gid: 0, additionalGids: [], home: "/"))
    #expect(try resolve("4242:4243") == ResolvedUser(uid: 4242, gid: 4243, additionalGids: [], home: "/"))
    #expect(try resolve("nohome").home == "/")
  }

  @Test(arguments: ["bob", "alice:wheel", "", ":1", "1:", "4294967295", "root:4294967295"])
  func refusesUnknownOrMalformed(spec: String) {
    #expect(throws: TaskerError.self) { try resolve(spec) }
  }

  @Test func refusesAnUnknownGroupAdd() {
    #expect(throws: TaskerError.self) { try resolve("alice", groupAdd: ["wheel"]) }
  }

  @Test func skipsHostileLines() throws {
    let hostile = Array(
      (String(repeating: "x", count: 100_000) + ":x:1:1::/:/bin/sh\n" + "short:x\n" + "neg:x:-1:0::/:/bin/sh\n"
        + "big:x:99999999999:0::/:/bin/sh\n" + "+nis::0:0:::\n" + "#root:x:0:0::/:/bin/sh\n"
        + "sp ace:x:5:5::/:/bin/sh\n" + "\u{0}\u{1}:::::::\n" + "ok:x:7:8::/home/ok:/bin/sh").utf8)
    let entries = try ImageUser.parsePasswd(hostile)
    #expect(entries == [ImageUser.PasswdEntry(name: "ok", uid: 7, gid: 8, home: "/home/ok")])
    let groups = try ImageUser.parseGroup(Array("g:x:1:a,,b, c\nbad:x\n:x:2:\n".utf8))
    #expect(groups == [ImageUser.GroupEntry(name: "g", gid: 1, members: ["a", "b"])])
  }

  @Test func refusesHugeFiles() {
    let huge = [UInt8](repeating: UInt8(ascii: "\n"), count: ImageUser.maxFileBytes + 1)
    #expect(throws: TaskerError.self) { try ImageUser.parsePasswd(huge) }
    #expect(throws: TaskerError.self) { try ImageUser.parseGroup(huge) }
  }

  @Test func refusesTooManyGroups() {
    let many = (0..<70).map { "g\($0):x:\(2000 + $0):alice" }.joined(separator: "\n")
    #expect(throws: TaskerError.self) {
      try ImageUser.resolve(
        "alice", groupAdd: [], passwd: ImageUser.parsePasswd(passwd), groups: ImageUser.parseGroup(Array(many.utf8)))
    }
  }

  /// Through a root's descriptor: a symlink in the image stays inside it, a FIFO does not block,
  /// a file over the limit is refused.
  @Test func readsThroughTheRoot() throws {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("imageuser-\(getpid())").path
    defer { try? FileManager.default.removeItem(atPath: root) }
    try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: root + "/real", withIntermediateDirectories: true)
    try "eve:x:5:6::/home/eve:/bin/sh\n".write(toFile: root + "/real/passwd", atomically: true, encoding: .utf8)
    // Absolute, as images have them: resolved inside the root, not on the host.
    try FileManager.default.createSymbolicLink(atPath: root + "/etc/passwd", withDestinationPath: "/real/passwd")
    #expect(mkfifo(root + "/etc/group", 0o644) == 0)
    let fd = open(root, O_RDONLY | O_DIRECTORY)
    defer { close(fd) }
    #expect(
      try ImageUser.resolve("eve", root: fd) == ResolvedUser(uid: 5, gid: 6, additionalGids: [], home: "/home/eve"))
    // The host's own root user is not the image's.
    #expect(throws: TaskerError.self) { try ImageUser.resolve("root", root: fd) }
    let big = FileManager.default.createFile(
      atPath: root + "/real/passwd", contents: Data(count: ImageUser.maxFileBytes + 1))
    #expect(big)
    #expect(throws: TaskerError.self) { try ImageUser.resolve("eve", root: fd) }
  }
}
