import Foundation
import Glibc
import Testing

let rootlessReason: Comment =
  "runs as a user other than root (scripts/test-rootless.sh runs it as an unprivileged user with subuid ranges)"

/// The user's first /etc/subuid (or /etc/subgid) range: its first host id and its length.
func subordinateRange(_ file: String) -> (start: UInt32, count: UInt32)? {
  guard let entry = getpwuid(getuid()) else { return nil }
  let name = String(cString: entry.pointee.pw_name)
  let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
  for line in text.split(separator: "\n") {
    let fields = line.split(separator: ":")
    guard fields.count == 3, fields[0] == name || fields[0] == "\(getuid())",
      let start = UInt32(fields[1]), let count = UInt32(fields[2])
    else { continue }
    return (start, count)
  }
  return nil
}

/// Whether this user may open /dev/net/tun (pasta's private network needs it).
var tunIsUsable: Bool {
  let fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)
  if fd >= 0 { close(fd) }
  return fd >= 0
}

/// Whether the host delegates a cgroup v2 subtree to this user (tasker's limits need one).
var cgroupIsDelegated: Bool {
  let lines = ((try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? "").split(separator: "\n")
  guard let own = lines.first(where: { $0.hasPrefix("0::") }) else { return false }
  for mount in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
    let directory = mount + own.dropFirst(3)
    if access(directory + "/cgroup.procs", W_OK) == 0, access(directory + "/cgroup.subtree_control", W_OK) == 0 {
      return true
    }
  }
  return false
}

/// tasker as a user other than root: each command works in a user namespace of the user's own,
/// the user's uid as root inside and their subordinate ids for the rest, and gives the user
/// nothing they did not have.
@Suite(.enabled(if: !isRoot, rootlessReason))
struct RootlessTests {
  @Test func createHealthCheckAndSendSignalInAUserNamespace() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.removeEverything() }
    let id = try box.create(images.url("busybox.tar.gz"), ["sleep 30"])
    #expect(try eventually { try box.health(id) == "exists: True\nstatus: sleeping\n" })
    // The task's user namespace: root inside is this user outside, the subuid range the rest.
    let pid = try #require(try box.json(id)["pid"] as? Int)
    let map = try String(contentsOfFile: "/proc/\(pid)/uid_map", encoding: .utf8)
      .split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
    #expect(map.first == ["0", "\(getuid())", "1"], "\(map)")
    if let range = subordinateRange("/etc/subuid") {
      #expect(map.dropFirst().first == ["1", "\(range.start)", "\(range.count)"], "\(map)")
    }
    let signalled = try box.tasker(["send_signal", id, "SIGINT"])
    #expect(signalled.status == 0, "\(signalled.stderr)")
    #expect(try eventually { try box.health(id) == "exists: False\nstatus: None\n" })
    #expect(try box.tasker(["rm", id]).status == 0)
    #expect(listing(box.downloads).isEmpty && box.tasksOnRecord().isEmpty)
  }

  /// exec and stop stay in the user's own namespaces: exec joins the task's user namespace
  /// first, then the rest, and runs as the task's root with the task's capabilities.
  @Test func execAndStopReachTheTaskFromTheUsersNamespace() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.removeEverything() }
    let id = try box.create(images.url("busybox.tar.gz"), ["sh -c 'echo written > /tmp/mark; exec sleep 30'"])
    #expect(try eventually { try box.health(id) == "exists: True\nstatus: sleeping\n" })
    let exec = try box.tasker(["exec", id, "sh", "-c", "id -u; cat /tmp/mark; grep CapEff /proc/self/status"])
    #expect(exec.status == 0, "\(exec.stderr)")
    // The task's command is PID 2, next to its init.
    let task = try box.tasker(["exec", id, "grep", "CapEff", "/proc/2/status"])
    let lines = exec.stdout.split(separator: "\n")
    #expect(lines.prefix(2) == ["0", "written"], "\(exec.stdout)")
    #expect(lines.count == 3 && String(lines[2]) + "\n" == task.stdout, "\(exec.stdout) \(task.stdout)")
    #expect(try box.tasker(["exec", id, "sh", "-c", "exit 7"]).status == 7)
    let stopped = try box.tasker(["stop", "-t", "1", id])
    #expect(stopped.status == 0, "\(stopped.stderr)")
    #expect(try box.health(id) == "exists: False\nstatus: None\n")
  }

  @Test func runReportsExitCodesAndSignalsAndLogsAreKept() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.removeEverything() }
    let image = images.url("busybox.tar.gz")
    #expect(try box.tasker(["run", "--rm", image, "sh -c 'exit 3'"]).status == 3)
    #expect(try box.tasker(["run", "--rm", image, "sh -c 'kill -TERM $$'"]).status == 143)
    let missing = try box.tasker(["run", "--rm", image, "no-such-command"])
    #expect(missing.status == 127 && missing.stderrLines.count == 1, "\(missing.stderr)")
    let id = try box.create(image, ["sh -c 'id -u; echo to stderr >&2'"])
    #expect(try box.tasker(["wait", id]).status == 0)
    let logs = try box.tasker(["logs", id])
    #expect(logs.stdout == "0\n" && logs.stderr == "to stderr\n", "\(logs)")
    let listed = try box.tasker(["list"])
    #expect(listed.status == 0 && listed.stdout.contains(id))
    #expect(try box.tasker(["rm", id]).status == 0)
    #expect(listing(box.downloads).isEmpty && box.tasksOnRecord().isEmpty)
    #expect(try box.tasker(["prune"]).status == 0)
  }

  /// An ended task's namespace, and with it its root's mount, went with its supervisor:
  /// restart and export mount the root again (what the task wrote is there); export of a task
  /// still running reads the root its supervisor holds.
  @Test func restartAndExportFindTheTasksRoot() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.removeEverything() }
    let id = try box.create(images.url("busybox.tar.gz"), ["sh -c 'echo hi >> /hello; cat /hello; sleep 1'"])
    let whileRunning = box.scratch.url.appendingPathComponent("running.tar").path
    #expect(try box.tasker(["export", "-o", whileRunning, id]).status == 0)
    #expect(try run("/bin/tar", ["-tf", whileRunning]).stdout.contains("bin/busybox"))
    #expect(try box.tasker(["wait", id]).status == 0)
    let ended = box.scratch.url.appendingPathComponent("ended.tar").path
    let exported = try box.tasker(["export", "-o", ended, id])
    #expect(exported.status == 0, "\(exported.stderr)")
    #expect(try run("/bin/tar", ["-xOf", ended, "hello"]).stdout == "hi\n")
    // A lower layer this user may not read mounts, then fails to list: export says so, never
    // an archive with the tree left out.
    let kept = box.state.appendingPathComponent("tasks/\(id)/lower.json")
    let original = try Data(contentsOf: kept)
    var root = stat()
    if stat("/root", &root) == 0, root.st_uid != getuid(), access("/root", R_OK) != 0 {
      try Data(#"{"lowers":["/root"],"nodev":true}"#.utf8).write(to: kept)
      let unreadable = try box.tasker(["export", "-o", box.scratch.path + "/unreadable.tar", id])
      #expect(unreadable.status != 0 && unreadable.stderrLines.count == 1, "\(unreadable.stderr)")
      try original.write(to: kept)
    }
    let restarted = try box.tasker(["restart", id])
    #expect(restarted.status == 0, "\(restarted.stderr)")
    #expect(try box.tasker(["wait", id]).status == 0)
    #expect(try box.tasker(["logs", id]).stdout == "hi\nhi\nhi\n")
  }

  /// A registry's image: login, pull and run as the user, its layers in the user's own store.
  @Test(
    .enabled(if: LayeredImages.builtBusybox != nil, "the busybox layout is built by the tests run as root"),
    .enabled(if: TestRegistry.available, TestRegistry.missingReason))
  func aRegistryImageIsPulledAndRun() throws {
    let layout = try #require(LayeredImages.builtBusybox)
    let box = try Sandbox()
    defer { box.removeEverything() }
    let registry = try TestRegistry()
    defer { registry.stop() }
    try registry.push("oci:\(layout):\(LayeredImages.busyboxTag)", as: "busybox:latest")
    let options = ["--cert-dir", registry.certsDirectory, "--authfile", box.scratch.path + "/auth.json"]
    let login = try box.tasker(
      ["login", "-u", registry.username ?? "", "-p", registry.password] + options + [registry.host])
    #expect(login.status == 0, "\(login.stderr)")
    let result = try box.tasker(["run", "--rm"] + options + ["docker://\(registry.host)/busybox:latest"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout == LayeredImages.busyboxGreeting)
    #expect(try box.tasker(["images"]).stdout.contains("\(registry.host)/busybox"))
    #expect(try box.tasker(["prune"]).status == 0)
  }

  /// A Debian root in four layers keeps its owners, modes, hard links and file capabilities as
  /// the task sees them; on the host those owners are the user's subordinate ids, and the
  /// setuid-root `su` belongs to the user: it is root only inside the namespace.
  @Test(.enabled(if: LayeredImages.builtDebian != nil, "the Debian layout is built by the tests run as root"))
  func aDebianImageKeepsItsOwnersInsideAndIsTheUsersOutside() throws {
    let layout = try #require(LayeredImages.builtDebian)
    let box = try Sandbox()
    defer { box.removeEverything() }
    let image = "oci:\(layout):\(LayeredImages.debianTag)"
    let result = try box.tasker(["run", "--rm", image, "--", "/bin/sh", "-c", ContainerImageTests.debianScript])
    #expect(result.status == 0, "\(result.stderr)")
    try ContainerImageTests.expectDebianView(result.stdout)

    let id = try box.create(image, ["sleep 30"])
    #expect(try eventually { try box.health(id) == "exists: True\nstatus: sleeping\n" })
    #expect(try box.tasker(["send_signal", id, "SIGKILL"]).status == 0)
    #expect(try eventually { try box.health(id) == "exists: False\nstatus: None\n" })

    let found = try run("/usr/bin/find", [box.state.path, "-path", "*/usr/bin/su", "-type", "f"])
    let su = try #require(found.stdout.split(separator: "\n").first.map(String.init), "\(found.stderr)")
    var info = stat()
    #expect(lstat(su, &info) == 0)
    #expect(info.st_uid == getuid() && info.st_mode & 0o7777 == 0o4755, "\(info.st_uid) \(info.st_mode)")
    if let range = subordinateRange("/etc/subuid") {
      let partial = String(su.dropLast("usr/bin/su".count)) + "var/cache/apt/archives/partial"
      #expect(lstat(partial, &info) == 0)
      // _apt is uid 42: the range's 42nd id (inside 1 is the range's first).
      #expect(info.st_uid == range.start + 41, "\(info.st_uid)")
    }
  }

  /// Owners the user namespace maps are kept; without subordinate ids (a single-id mapping)
  /// such files are the user's — root's in the task — and create says so once.
  @Test func ownersOutsideTheMappingAreTheUsersWithAWarning() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.removeEverything() }
    let tree = try box.scratch.sub("owned")
    try Data("owned by 42\n".utf8).write(to: tree.appendingPathComponent("owned"))
    let image = box.scratch.url.appendingPathComponent("owned.tar").path
    let pack = try run(
      "/bin/sh",
      [
        "-c",
        "cp \(images.path("busybox.tar")) \(image) && tar -rf \(image) --owner=42 --group=42 -C \(tree.path) owned",
      ])
    #expect(pack.status == 0, "\(pack.stderr)")
    let result = try box.tasker(["run", "--rm", "--network", "none", image, "stat -c %u:%g /owned"])
    #expect(result.status == 0, "\(result.stderr)")
    if let users = subordinateRange("/etc/subuid"), let groups = subordinateRange("/etc/subgid"),
      users.count >= 42, groups.count >= 42
    {
      #expect(result.stdout == "42:42\n" && result.stderr.isEmpty, "\(result.stdout) \(result.stderr)")
    } else {
      #expect(result.stdout == "0:0\n", "\(result.stdout)")
      #expect(
        result.stderrLines.count == 1
          && result.stderr.contains("1 file of the image belongs to an owner your user namespace does not map"),
        "\(result.stderr)")
    }
  }

  @Test func hostileArchivesAreRefusedAndWritesStayInside() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.removeEverything() }
    let sentinel = try box.scratch.sub("sentinel")
    try Data("untouched\n".utf8).write(to: sentinel.appendingPathComponent("file"))
    let before = try snapshot(sentinel)
    let hostile = HostileInputTests()
    let dotdot = try hostile.archiveRenaming("x", to: "../../sentinel/file", in: box.scratch, output: "dotdot.tar")
    let absolute = try hostile.archiveRenaming("y", to: sentinel.path + "/file", in: box.scratch, output: "abs.tar")
    for image in [dotdot, absolute] {
      let result = try box.tasker(["create", image, "true"])
      #expect(result.status != 0 && result.stdout.isEmpty)
      #expect(result.stderrLines.count == 1 && result.stderr.contains("refused archive member"), "\(result.stderr)")
      #expect(listing(box.downloads).isEmpty && box.tasksOnRecord().isEmpty)
    }
    // A symlink to the sentinel's directory, then a member written through it: the write lands
    // inside the task's root, as the task itself sees.
    let image = try HostileInputTests.archiveWritingThroughALink(to: sentinel.path, images: images, in: box.scratch)
    let created = try box.tasker(["run", "--rm", image, "cat \(sentinel.path)/file"])
    #expect(try snapshot(sentinel) == before)
    if created.status == 0 {
      #expect(created.stdout == "pwned\n", "the write lands inside the root")
    } else {
      #expect(created.status == 125 && created.stderrLines.count == 1, "\(created.stderr)")
    }
    #expect(listing(box.downloads).isEmpty && box.tasksOnRecord().isEmpty)
  }

  @Test func theJailsEscapesFailAsTheyDoForRoot() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.removeEverything() }
    let marker = box.scratch.url.appendingPathComponent("host-only-marker")
    try Data("host secret\n".utf8).write(to: marker)
    let jailed = try box.tasker(["run", "--rm", images.path("busybox-escape.tar"), "--", "/escape", marker.path])
    #expect(jailed.status == 1, "\(jailed.stdout) \(jailed.stderr)")
    #expect(!jailed.stdout.contains("host secret"))
    let script = "cat /proc/1/root\(marker.path); ls /proc/1/root/; cat /proc/1/cwd\(marker.path); cat /proc/1/cmdline"
    let proc = try box.tasker(["run", "--rm", images.url("busybox.tar.gz"), "--", "/bin/sh", "-c", script])
    #expect(!proc.stdout.contains("host secret") && !proc.stdout.contains(box.state.path))
    let mount = try box.tasker([
      "run", "--rm", images.url("busybox.tar.gz"), "sh -c 'mkdir -p /m; mount -t tmpfs none /m && echo mounted'",
    ])
    #expect(!mount.stdout.contains("mounted"))
  }

  /// Root inside is the user outside: what it writes to a bind mount is the user's, another id
  /// inside is a subordinate id outside, and a host file the user cannot read stays unreadable.
  @Test func rootInsideIsTheUserOutside() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.removeEverything() }
    let shared = try box.scratch.sub("shared")
    chmod(shared.path, 0o777)
    let image = images.url("busybox.tar.gz")
    let wrote = try box.tasker(["run", "--rm", "-v", "\(shared.path):/data", image, "touch /data/by-root"])
    #expect(wrote.status == 0, "\(wrote.stderr)")
    var info = stat()
    #expect(stat(shared.path + "/by-root", &info) == 0 && info.st_uid == getuid() && info.st_gid == getgid())
    if let range = subordinateRange("/etc/subuid") {
      let other = try box.tasker([
        "run", "--rm", "--user", "1000", "-v", "\(shared.path):/data", image, "touch /data/u",
      ])
      #expect(other.status == 0, "\(other.stderr)")
      #expect(stat(shared.path + "/u", &info) == 0 && info.st_uid == range.start + 999, "\(info.st_uid)")
    }
    let shadow = try box.tasker(["run", "--rm", "-v", "/etc/shadow:/s:ro", image, "cat /s"])
    #expect(shadow.status != 0 && !shadow.stdout.contains("root:"), "\(shadow.stdout)")
  }

  @Test func portsAboveTheUnprivilegedStartArePublishedOthersRefused() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.removeEverything() }
    let image = images.url("busybox.tar.gz")
    let low = try box.tasker(["create", "-p", "80:8080", image, "sleep 30"])
    #expect(low.status != 0 && low.stderrLines.count == 1 && low.stderr.contains("without root"), "\(low.stderr)")
    #expect(listing(box.downloads).isEmpty && box.tasksOnRecord().isEmpty)
    guard tunIsUsable else {
      // Without /dev/net/tun the private network cannot be made: the default is none, said once.
      let fallback = try box.tasker(["run", "--rm", image, "true"])
      #expect(fallback.status == 0 && fallback.stderr.contains("/dev/net/tun"), "\(fallback.stderr)")
      return
    }
    // busybox's httpd serves the task's /etc: its hostname is the task's ID.
    let port = 20_000 + Int(getpid() % 20_000)
    let created = try box.tasker(["create", "-p", "\(port):8080", image, "httpd -f -p 8080 -h /etc"])
    #expect(created.status == 0, "\(created.stderr)")
    let id = created.stdout.trimmingCharacters(in: .newlines)
    let url = "http://127.0.0.1:\(port)/hostname"
    #expect(try eventually { try run("/usr/bin/curl", ["-sf", "--max-time", "2", url]).stdout == id + "\n" })
    #expect(try box.tasker(["rm", "-f", id]).status == 0)
  }

  @Test(arguments: [["--memory", "64m"], ["--pids-limit", "10"], ["--cpus", "0.5"]])
  func limitsWithoutADelegatedCgroupAreOneClearError(limit: [String]) throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.removeEverything() }
    let result = try box.tasker(["run", "--rm"] + limit + [images.url("busybox.tar.gz"), "true"])
    if cgroupIsDelegated {
      #expect(result.status == 0, "\(result.stderr)")
    } else {
      #expect(result.status == 125 && result.stdout.isEmpty, "\(result.stderr)")
      #expect(result.stderrLines.count == 1 && result.stderr.contains("without root"), "\(result.stderr)")
      #expect(listing(box.downloads).isEmpty && box.tasksOnRecord().isEmpty)
    }
  }

  /// A task of another user's (root's, started by scripts/test-rootless.sh and named by
  /// `$TASKER_TEST_OTHER_TASK` as STATE_ROOT:ID) is neither listed nor signalled.
  @Test(.enabled(if: ProcessInfo.processInfo.environment["TASKER_TEST_OTHER_TASK"] != nil, "no other user's task"))
  func anotherUsersTasksAreNeitherListedNorSignalled() throws {
    let other = try #require(ProcessInfo.processInfo.environment["TASKER_TEST_OTHER_TASK"])
    let state = String(other.prefix { $0 != ":" })
    let id = String(other.drop { $0 != ":" }.dropFirst())
    let box = try Sandbox()
    defer { box.removeEverything() }
    #expect(try !box.tasker(["list"]).stdout.contains(id))
    let signalled = try box.tasker(["send_signal", id, "SIGKILL"])
    #expect(signalled.status != 0 && signalled.stderrLines.count == 1, "\(signalled.stderr)")
    for arguments in [["list"], ["send_signal", id, "SIGKILL"], ["health_check", id], ["rm", "-f", id]] {
      let theirs = try tasker(["--root", state] + arguments, in: box.downloads)
      #expect(theirs.status != 0 && theirs.stderrLines.count == 1, "\(arguments): \(theirs.stderr)")
      #expect(theirs.stderr.contains(state), "\(arguments): \(theirs.stderr)")
    }
  }

  /// tasker-runtime is containerd's, which runs as root: as another user, one line saying so.
  @Test func theOCIRuntimeSaysItNeedsRoot() throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    let runtime = binDirectory.appendingPathComponent("tasker-runtime").path
    for arguments in [["list"], ["run", "-b", scratch.path, "x"]] {
      let result = try run(runtime, ["--root", scratch.path + "/state"] + arguments)
      #expect(result.status == 1 && result.stderrLines.count == 1, "\(result.stderr)")
      #expect(result.stderr.contains("needs root"), "\(result.stderr)")
    }
    #expect(listing(scratch.url).isEmpty)
  }

  /// Run-time files (a task's attach socket) go under `$XDG_RUNTIME_DIR/tasker/<ID>`, and with
  /// the task.
  @Test func runtimeFilesLiveUnderXDGRuntimeDir() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.removeEverything() }
    let runtime = try box.scratch.sub("runtime")
    chmod(runtime.path, 0o700)
    let environment = ["XDG_RUNTIME_DIR": runtime.path]
    let created = try box.tasker(["create", "-i", images.url("busybox.tar.gz"), "cat"], environment: environment)
    #expect(created.status == 0, "\(created.stderr)")
    let id = created.stdout.trimmingCharacters(in: .newlines)
    var info = stat()
    #expect(try eventually { lstat(runtime.path + "/tasker/\(id)/attach", &info) == 0 })
    #expect(info.st_mode & S_IFMT == S_IFSOCK && info.st_uid == getuid())
    let attached = try run(
      "/bin/sh", ["-c", "echo through the socket | \"$0\" attach \"$1\"", taskerPath, id],
      environment: ["TASKER_ROOT": box.state.path])
    #expect(attached.stdout == "through the socket\n", "\(attached.stderr)")
    #expect(try box.tasker(["rm", "-f", id]).status == 0)
    #expect(listing(runtime.appendingPathComponent("tasker")).isEmpty)
  }

  /// With no `--root` or `$TASKER_ROOT`, the state is the user's own, under `$XDG_DATA_HOME`.
  @Test func theStateIsTheUsersOwnUnderXDGDataHome() throws {
    let images = try Images.shared()
    let scratch = try Scratch()
    defer { scratch.remove() }
    let data = try scratch.sub("data")
    let downloads = try scratch.sub("downloads")
    let environment = ["XDG_DATA_HOME": data.path, "HOME": scratch.path]
    let id = try tasker(["create", images.url("busybox.tar.gz"), "true"], in: downloads, environment: environment)
      .stdout.trimmingCharacters(in: .newlines)
    var info = stat()
    #expect(stat(data.path + "/tasker", &info) == 0)
    #expect(info.st_uid == getuid() && info.st_mode & 0o777 == 0o700)
    #expect(FileManager.default.fileExists(atPath: data.path + "/tasker/tasks/" + id))
    #expect(try tasker(["rm", "-f", id], in: downloads, environment: environment).status == 0)
    #expect(listing(downloads).isEmpty)
  }
}
