import Foundation
import Glibc
import Testing

/// Binds, volumes, tmpfs, a read-only root and directory images, through the real binary.
@Suite(.enabled(if: isRoot, rootReason))
struct MountTests {
  /// The busybox image unpacked into a directory of `scratch`, for `dir:` images.
  func busyboxTree(_ scratch: Scratch) throws -> String {
    let images = try Images.shared()
    let tree = try scratch.sub("tree").path
    let unpack = try run("/bin/tar", ["-C", tree, "-xf", images.path("busybox.tar")])
    #expect(unpack.status == 0, "\(unpack.stderr)")
    return tree
  }

  /// `tasker create OPTIONS IMAGE COMMAND...`: `arguments` are the options, then the command.
  func create(_ box: Sandbox, _ image: String, _ arguments: [String]) throws -> String {
    let split = arguments.firstIndex(of: "--") ?? arguments.count - 1
    let result = try box.tasker(["create"] + arguments[..<split] + [image] + arguments[split...])
    #expect(result.status == 0, "create failed: \(result.stderr)")
    return result.stdout.trimmingCharacters(in: .newlines)
  }

  @Test func aBindIsReadAndWrittenBothWays() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let host = try box.scratch.sub("shared")
    try Data("from the host\n".utf8).write(to: host.appendingPathComponent("in"))
    let id = try create(
      box,
      images.url("busybox.tar.gz"),
      ["-v", host.path + ":/data", "--", "/bin/sh", "-c", "cat /data/in; echo from the task > /data/out; sleep 30"])
    #expect(try eventually { FileManager.default.fileExists(atPath: host.appendingPathComponent("out").path) })
    #expect(try box.tasker(["logs", id]).stdout == "from the host\n")
    #expect(try String(contentsOf: host.appendingPathComponent("out"), encoding: .utf8) == "from the task\n")
    #expect(try box.tasker(["rm", "--force", id]).status == 0)
    // The host's directory is the user's: rm leaves it and its files.
    #expect(listing(host) == ["in", "out"])
  }

  /// The bind sources' trees reach the task only as its mounts: no descriptor of them (nor of
  /// the /dev/null slots below them) is open in the command or its init.
  @Test func noTreeDescriptorReachesTheTask() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let host = try box.scratch.sub("shared")
    let result = try box.tasker([
      "run", "-v", host.path + ":/a", "-v", host.path + ":/b:ro", images.url("busybox.tar.gz"), "--", "/bin/sh", "-c",
      "ls /proc/self/fd; ls /proc/1/fd | wc -l",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    // ls's own directory descriptor is 3; the init keeps at most its status pipe and streams.
    #expect(result.stdout.hasPrefix("0\n1\n2\n3\n"), "\(result.stdout)")
    let initFDs = Int(result.stdout.split(separator: "\n").last ?? "") ?? 99
    #expect(initFDs <= 12, "\(result.stdout)")
  }

  @Test func theTaskSeesHostWritesWhileItRuns() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let host = try box.scratch.sub("shared")
    let script = "while [ ! -f /data/ping ]; do sleep 0.05; done; cat /data/ping"
    let id = try create(
      box,
      images.url("busybox.tar.gz"),
      ["--mount", "type=bind,source=\(host.path),target=/data", "--", "/bin/sh", "-c", script])
    try Data("ping\n".utf8).write(to: host.appendingPathComponent("ping"))
    #expect(try box.tasker(["wait", id]).status == 0)
    #expect(try box.tasker(["logs", id]).stdout == "ping\n")
  }

  @Test func aReadOnlyBindRefusesWritesAndCarriesItsFlags() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let host = try box.scratch.sub("shared")
    try Data("keep\n".utf8).write(to: host.appendingPathComponent("file"))
    let script = "echo x > /data/file; echo x > /data/new; cat /data/file; grep ' /data ' /proc/self/mountinfo"
    let result = try box.tasker([
      "run", "-v", host.path + ":/data:ro,nosuid,nodev,noexec", images.url("busybox.tar.gz"), "--", "/bin/sh", "-c",
      script,
    ])
    #expect(result.stderr.contains("Read-only file system"), "\(result.stderr)")
    #expect(result.stdout.hasPrefix("keep\n"), "\(result.stdout)")
    let options = result.stdout.split(separator: "\n").last?.split(separator: " ").dropFirst(5).first ?? ""
    for flag in ["ro", "nosuid", "nodev", "noexec"] {
      #expect(options.split(separator: ",").contains(Substring(flag)), "\(flag) in \(options)")
    }
    #expect(listing(host) == ["file"])
    #expect(try String(contentsOf: host.appendingPathComponent("file"), encoding: .utf8) == "keep\n")
  }

  @Test func aFileCanBeBound() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let file = box.scratch.url.appendingPathComponent("app.conf")
    try Data("setting=1\n".utf8).write(to: file)
    let result = try box.tasker([
      "run", "-v", file.path + ":/etc/app/app.conf", images.url("busybox.tar.gz"), "cat /etc/app/app.conf",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout == "setting=1\n")
  }

  @Test func badMountsAreOneLineAndLeaveNothing() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let missing = try box.tasker([
      "create", "-v", "/nonexistent-\(getpid()):/data", images.url("busybox.tar.gz"), "true",
    ])
    #expect(missing.status == 125)
    #expect(missing.stderrLines == ["tasker: cannot mount /nonexistent-\(getpid()): it does not exist on the host"])
    // The state root, or anything in it, by any path to it (tasks' plans, logs, roots).
    let state = box.state.path
    let stateAgain = box.scratch.url.appendingPathComponent("state-link").path
    try FileManager.default.createSymbolicLink(atPath: stateAgain, withDestinationPath: state)
    _ = try box.tasker(["images"])  // the state root's directories exist
    for spec in [state + ":/s", state + "/tasks:/t", stateAgain + "/tasks:/t", state + "/names:/n:ro"] {
      let refused = try box.tasker(["create", "-v", spec, images.url("busybox.tar.gz"), "true"])
      #expect(
        refused.status == 64 && refused.stderr.contains("inside tasker's state root"), "\(spec): \(refused.stderr)")
    }
    let stateImage = try box.tasker(["create", "dir:" + state + "/tasks", "true"])
    #expect(stateImage.status == 64 && stateImage.stderr.contains("inside tasker's state root"), "\(stateImage.stderr)")
    for spec in ["/tmp:/", "/tmp:/proc/sys", "/tmp:relative", "/tmp:/a/../b", "./x:/data", "bad/name:/data"] {
      let refused = try box.tasker(["create", "-v", spec, images.url("busybox.tar.gz"), "true"])
      #expect(refused.status == 64, "\(spec): \(refused.stderr)")
      #expect(refused.stderrLines.count == 1, "\(spec): \(refused.stderr)")
    }
    #expect(box.tasksOnRecord().filter { !$0.hasPrefix(".") }.isEmpty)
    #expect(listing(box.downloads).isEmpty)
  }

  /// A mount point is made inside the root without following the image's links: a symlink the
  /// image plants on the way to a target never leads the mount (or a new directory) out.
  @Test func theImagesSymlinksDoNotRedirectATarget() throws {
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let tree = try busyboxTree(box.scratch)
    let outside = try box.scratch.sub("outside")
    try FileManager.default.createSymbolicLink(atPath: tree + "/evil", withDestinationPath: outside.path)
    let source = try box.scratch.sub("source")
    let result = try box.tasker(["run", "--network", "none", "-v", source.path + ":/evil/x", "dir:" + tree, "true"])
    #expect(result.status == 125, "\(result.stderr)")
    #expect(result.stderr.contains("evil"), "\(result.stderr)")
    #expect(listing(outside).isEmpty)
  }

  @Test func aVolumeOutlivesItsTask() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let first = try box.tasker([
      "run", "--rm", "-v", "cache:/data", images.url("busybox.tar.gz"), "sh -c 'echo kept > /data/f'",
    ])
    #expect(first.status == 0, "\(first.stderr)")
    let id = try create(box, images.url("busybox.tar.gz"), ["-v", "cache:/data:ro", "cat /data/f"])
    #expect(try box.tasker(["wait", id]).status == 0)
    #expect(try box.tasker(["logs", id]).stdout == "kept\n")
    let listed = try box.tasker(["volume", "ls"])
    #expect(listed.stdout.contains("cache"), "\(listed.stdout)")
    // In use by a task (ended, not removed): refused, naming it.
    let refused = try box.tasker(["volume", "rm", "cache"])
    #expect(refused.status == 1)
    #expect(refused.stderr.contains(id), "\(refused.stderr)")
    // The task goes, the volume stays; a later task finds what the first wrote.
    #expect(try box.tasker(["rm", id]).status == 0)
    #expect(try box.tasker(["volume", "ls", "-q"]).stdout == "cache\n")
    let again = try box.tasker(["run", "--rm", "-v", "cache:/v", images.url("busybox.tar.gz"), "cat /v/f"])
    #expect(again.stdout == "kept\n", "\(again.stderr)")
    #expect(try box.tasker(["volume", "rm", "cache"]).stdout == "cache\n")
    #expect(try box.tasker(["volume", "ls", "-q"]).stdout == "")
    #expect(try box.tasker(["volume", "create", "v2"]).status == 0)
    #expect(try box.tasker(["volume", "create", "v2"]).status == 64)
    #expect(try box.tasker(["volume", "rm", "nope"]).status == 1)
  }

  @Test func aVolumeInUseGoesWithItsTasksUnderForce() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let id = try create(box, images.url("busybox.tar.gz"), ["--mount", "type=volume,source=v,target=/v", "sleep 30"])
    let removed = try box.tasker(["volume", "rm", "--force", "v"])
    #expect(removed.status == 0, "\(removed.stderr)")
    #expect(try box.tasker(["health_check", id]).status != 0, "the task was removed with its volume")
    #expect(try box.tasker(["volume", "ls", "-q"]).stdout == "")
  }

  @Test func tmpfsMountsAndAReadOnlyRoot() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let script =
      "touch /x 2>&1; touch /tmp/a /run/b /var/tmp/c /scratch/d && echo writable; grep -E ' /(scratch|tmp) ' /proc/mounts"
    let result = try box.tasker([
      "run", "--read-only", "--tmpfs", "/scratch:size=1m,mode=700", images.url("busybox.tar.gz"), "--", "/bin/sh",
      "-c", script,
    ])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.contains("Read-only file system"), "\(result.stdout)")
    #expect(result.stdout.contains("writable\n"), "\(result.stdout)")
    let scratch = result.stdout.split(separator: "\n").first { $0.contains(" /scratch ") } ?? ""
    for option in ["size=1024k", "mode=700", "noexec", "nosuid", "nodev"] {
      #expect(scratch.contains(option), "\(option) in \(scratch)")
    }
    // Without --read-only the root is writable as before.
    let writable = try box.tasker(["run", images.url("busybox.tar.gz"), "touch /x"])
    #expect(writable.status == 0, "\(writable.stderr)")
  }

  /// A directory as the image: the task's writes land in its own layer, never in the directory,
  /// and neither `images` nor `prune` knows it.
  @Test func aDirectoryImageIsNeverWritten() throws {
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let tree = try busyboxTree(box.scratch)
    let before = try run("/usr/bin/find", [tree, "-printf", "%p %s %T@ %m\n"]).stdout
    let id = try create(
      box,
      "dir:" + tree, ["--network", "none", "sh -c 'echo new > /made; echo x >> /bin/busybox; rm -f /bin/ls'"])
    #expect(try box.tasker(["wait", id]).status == 0)
    #expect(FileManager.default.fileExists(atPath: box.downloads.appendingPathComponent(id + "/made").path))
    #expect(try run("/usr/bin/find", [tree, "-printf", "%p %s %T@ %m\n"]).stdout == before)
    #expect(try box.tasker(["images", "-q"]).stdout == "")
    #expect(try box.tasker(["prune"]).status == 0)
    #expect(try box.tasker(["rm", id]).status == 0)
    #expect(try run("/usr/bin/find", [tree, "-printf", "%p %s %T@ %m\n"]).stdout == before)
    let relative = try box.tasker(["create", "dir:relative", "true"])
    #expect(relative.status == 64 && relative.stderrLines.count == 1, "\(relative.stderr)")
    let missing = try box.tasker(["create", "dir:/nonexistent-\(getpid())", "true"])
    #expect(missing.status == 125 && missing.stderrLines.count == 1, "\(missing.stderr)")
  }
}

/// What a Debian image expects of its world: /etc/hosts, resolv.conf, hostname, and its users.
@Suite(.enabled(if: isRoot, rootReason))
struct DebianImageTests {
  @Test func etcHostsHostnameAndResolvConf() throws {
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let image = try DebianImage.image
    let directory = try DebianImage.directory()
    let hostsBefore = FileManager.default.fileExists(atPath: directory + "/etc/hosts")
    let script = "getent hosts localhost && getent hosts web && cat /etc/hostname && cat /etc/resolv.conf"
    let result = try box.tasker(["run", "--network", "none", "--hostname", "web", image, "--", "/bin/sh", "-c", script])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.contains("localhost"), "\(result.stdout)")
    #expect(result.stdout.contains("127.0.1.1"), "\(result.stdout)")
    #expect(result.stdout.contains("web\n"), "\(result.stdout)")
    #expect(!result.stdout.contains("nameserver"), "--network none has no nameserver: \(result.stdout)")
    let host = try box.tasker(["run", "--network", "host", image, "cat /etc/resolv.conf"])
    let hostResolv = (try? String(contentsOfFile: "/etc/resolv.conf", encoding: .utf8)) ?? ""
    #expect(host.stdout == hostResolv, "\(host.stderr)")
    let privateNet = try box.tasker(["run", image, "cat /etc/resolv.conf"])
    #expect(privateNet.stdout.contains("nameserver 169.254.1.1\n"), "\(privateNet.stdout) \(privateNet.stderr)")
    // A task's write changes its own copy only.
    let written = try box.tasker(["run", "--network", "none", image, "sh -c 'echo 10.1.1.1 db >> /etc/hosts'"])
    #expect(written.status == 0, "\(written.stderr)")
    #expect(FileManager.default.fileExists(atPath: directory + "/etc/hosts") == hostsBefore)
    #expect((try? String(contentsOfFile: "/etc/hosts", encoding: .utf8))?.contains("10.1.1.1 db") != true)
  }

  /// The image's /etc/resolv.conf as a symlink (as on images with systemd-resolved): replaced in
  /// the task's root, never followed.
  @Test func aSymlinkedResolvConfIsReplacedNotFollowed() throws {
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let images = try Images.shared()
    let tree = try box.scratch.sub("tree").path
    #expect(try run("/bin/tar", ["-C", tree, "-xf", images.path("busybox.tar")]).status == 0)
    let outside = box.scratch.url.appendingPathComponent("outside-resolv.conf")
    try FileManager.default.createDirectory(atPath: tree + "/etc", withIntermediateDirectories: true)
    try? FileManager.default.removeItem(atPath: tree + "/etc/resolv.conf")
    try FileManager.default.createSymbolicLink(atPath: tree + "/etc/resolv.conf", withDestinationPath: outside.path)
    let result = try box.tasker(["run", "--network", "none", "dir:" + tree, "cat /etc/resolv.conf /etc/hostname"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(!FileManager.default.fileExists(atPath: outside.path))
    #expect(try FileManager.default.destinationOfSymbolicLink(atPath: tree + "/etc/resolv.conf") == outside.path)
  }

  @Test func usersByNumberAndName() throws {
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let image = try DebianImage.image
    func run(_ options: [String]) throws -> Outcome {
      try box.tasker(["run", "--network", "none"] + options + [image, "--", "/bin/sh", "-c", "id; echo HOME=$HOME"])
    }
    let nobody = try run(["--user", "nobody"])
    #expect(nobody.stdout == "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\nHOME=/nonexistent\n")
    let apt = try run(["--user", "_apt", "--group-add", "users"])
    #expect(apt.stdout == "uid=42(_apt) gid=65534(nogroup) groups=65534(nogroup),100(users)\nHOME=/nonexistent\n")
    let number = try run(["--user", "1234:5"])
    #expect(number.stdout == "uid=1234 gid=5(tty) groups=5(tty)\nHOME=/\n", "\(number.stderr)")
    let named = try run(["--user", "nobody:users", "--env", "HOME=/work"])
    #expect(named.stdout == "uid=65534(nobody) gid=100(users) groups=100(users)\nHOME=/work\n", "\(named.stderr)")
    let root = try run(["--user", "0"])
    #expect(root.stdout == "uid=0(root) gid=0(root) groups=0(root)\nHOME=/root\n")
    // A non-root user holds no capability and cannot write root's files.
    let denied = try box.tasker(["run", "--network", "none", "--user", "nobody", image, "touch /etc/x"])
    #expect(denied.status == 1, "\(denied.stdout)")
    let recorded = box.tasksOnRecord()
    let unknown = try box.tasker(["create", "--user", "mallory", image, "true"])
    #expect(unknown.status == 125)
    #expect(unknown.stderrLines == ["tasker: unknown user \"mallory\": not in the image's /etc/passwd"])
    let badGroup = try box.tasker(["create", "--user", "nobody", "--group-add", "wheel", image, "true"])
    #expect(badGroup.status == 125, "\(badGroup.stderr)")
    #expect(box.tasksOnRecord() == recorded)
  }
}
