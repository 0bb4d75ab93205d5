import Foundation
import Testing

/// tasker-runtime as containerd's shim and people drive it: runc's verbs on a bundle made from
/// the busybox image, its state as runc prints it, and errors naming the field at fault.
@Suite(.enabled(if: isRoot, rootReason))
struct RuntimeTests {
  var runtimePath: String { binDirectory.appendingPathComponent("tasker-runtime").path }

  /// A bundle (busybox root, a config from `tasker-runtime spec` changed by `edit`) and a
  /// runtime root of the test's own.
  struct Bundle {
    let scratch: Scratch
    var bundle: String { scratch.path + "/bundle" }
    var root: String { scratch.path + "/root" }
  }

  func makeBundle(_ edit: (inout [String: Any]) -> Void) throws -> Bundle {
    let images = try Images.shared()
    let scratch = try Scratch("tasker-runtime")
    let made = Bundle(scratch: scratch)
    let rootfs = try scratch.sub("bundle").appendingPathComponent("rootfs")
    try FileManager.default.createDirectory(at: rootfs, withIntermediateDirectories: true)
    #expect(try run("/bin/tar", ["-C", rootfs.path, "-xf", images.path("busybox-escape.tar")]).status == 0)
    #expect(try run(runtimePath, ["spec", "--bundle", made.bundle]).status == 0)
    let configURL = URL(fileURLWithPath: made.bundle + "/config.json")
    var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any])
    var process = try #require(config["process"] as? [String: Any])
    process["terminal"] = false
    config["process"] = process
    edit(&config)
    try JSONSerialization.data(withJSONObject: config).write(to: configURL)
    return made
  }

  func setArgs(_ config: inout [String: Any], _ args: [String]) {
    var process = config["process"] as? [String: Any] ?? [:]
    process["args"] = args
    config["process"] = process
  }

  func runtime(_ bundle: Bundle, _ arguments: [String]) throws -> Outcome {
    try run(runtimePath, ["--root", bundle.root] + arguments)
  }

  /// `create`, its stdio away from our pipes (the container keeps create's stdio: a pipe would
  /// stay open as long as the container runs, as with runtime-tools' files and the shim's).
  func create(_ bundle: Bundle, _ id: String, _ options: [String] = []) throws -> Outcome {
    try run(
      "/bin/sh",
      [
        "-c", "exec \"$0\" \"$@\" >/dev/null 2>&1 </dev/null", runtimePath, "--root", bundle.root, "create", "--bundle",
        bundle.bundle,
      ]
        + options + [id])
  }

  func state(_ bundle: Bundle, _ id: String) throws -> [String: Any] {
    let result = try runtime(bundle, ["state", id])
    #expect(result.status == 0, "\(result.stderr)")
    return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
  }

  @Test func runPrintsTheOutputAndExitsWithTheProcessStatus() throws {
    let bundle = try makeBundle { setArgs(&$0, ["sh", "-c", "echo hello from $(hostname); exit 3"]) }
    defer { bundle.scratch.remove() }
    let result = try runtime(bundle, ["run", "--bundle", bundle.bundle, "r1"])
    #expect(result.status == 3, "\(result.stderr)")
    #expect(result.stdout == "hello from runc\n")
    // run deletes what it made: no container left, no cgroup.
    #expect(try runtime(bundle, ["state", "r1"]).status == 1)
    #expect(!FileManager.default.fileExists(atPath: "/sys/fs/cgroup/memory/tasker-runtime/r1"))
  }

  @Test func theLifecycleIsRuncs() throws {
    let bundle = try makeBundle { setArgs(&$0, ["sleep", "1000"]) }
    defer { bundle.scratch.remove() }
    let pidFile = bundle.scratch.path + "/pid"
    let created = try create(bundle, "c1", ["--pid-file", pidFile])
    #expect(created.status == 0, "\(created.stderr)")
    defer { _ = try? runtime(bundle, ["delete", "--force", "c1"]) }
    var current = try state(bundle, "c1")
    #expect(current["status"] as? String == "created")
    let pid = try #require(current["pid"] as? Int)
    #expect(try String(contentsOfFile: pidFile, encoding: .utf8) == String(pid))
    #expect(current["bundle"] as? String == bundle.bundle)
    // The process waits: it has not exec'd sleep yet.
    #expect(try String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) != "sleep\n")
    #expect(try runtime(bundle, ["delete", "c1"]).status == 1, "a created container is not stopped")
    #expect(try runtime(bundle, ["start", "c1"]).status == 0)
    current = try state(bundle, "c1")
    #expect(current["status"] as? String == "running")
    #expect(try eventually { try String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) == "sleep\n" })
    #expect(try runtime(bundle, ["start", "c1"]).status == 1, "started twice")

    let exec = try runtime(bundle, ["exec", "c1", "sh", "-c", "echo $$; hostname"])
    #expect(exec.status == 0, "\(exec.stderr)")
    #expect(exec.stdout.split(separator: "\n").last == "runc", "the container's uts namespace")
    let ps = try runtime(bundle, ["ps", "--format", "json", "c1"])
    #expect(ps.stdout.contains(String(pid)), "\(ps.stdout)")

    #expect(try runtime(bundle, ["pause", "c1"]).status == 0)
    #expect(try state(bundle, "c1")["status"] as? String == "paused")
    #expect(try runtime(bundle, ["resume", "c1"]).status == 0)
    #expect(try state(bundle, "c1")["status"] as? String == "running")

    let refused = try runtime(bundle, ["delete", "c1"])
    #expect(refused.status == 1 && refused.stderr.contains("not stopped"), "\(refused.stderr)")
    #expect(try runtime(bundle, ["kill", "c1", "KILL"]).status == 0)
    #expect(try eventually { try state(bundle, "c1")["status"] as? String == "stopped" })
    #expect(try runtime(bundle, ["kill", "c1", "TERM"]).status == 1, "a stopped container")
    #expect(try runtime(bundle, ["delete", "c1"]).status == 0)
    #expect(try runtime(bundle, ["state", "c1"]).status == 1)
    #expect(try runtime(bundle, ["list", "--quiet"]).stdout.isEmpty)
  }

  @Test func theProcessGetsItsUserCapabilitiesAndLimits() throws {
    let bundle = try makeBundle { config in
      setArgs(&config, ["sh", "-c", "id; umask; ulimit -Sn; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status"])
      var process = config["process"] as? [String: Any] ?? [:]
      process["user"] = ["uid": 10, "gid": 10, "additionalGids": [5], "umask": 2]
      process["rlimits"] = [["type": "RLIMIT_NOFILE", "hard": 400, "soft": 300]]
      process["noNewPrivileges"] = false
      process["capabilities"] = [
        // A user other than root keeps capabilities across exec only as ambient ones.
        "bounding": ["CAP_KILL", "CAP_CHOWN"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"],
        "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"],
      ]
      config["process"] = process
    }
    defer { bundle.scratch.remove() }
    let result = try runtime(bundle, ["run", "--bundle", bundle.bundle, "u1"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout == "uid=10 gid=10 groups=5\n0002\n300\nCapEff:\t0000000000000020\nNoNewPrivs:\t0\n")
  }

  @Test func aFieldTaskerCannotHonourIsAnErrorNamingIt() throws {
    let bundle = try makeBundle { config in
      var process = config["process"] as? [String: Any] ?? [:]
      process["apparmorProfile"] = "docker-default"
      config["process"] = process
    }
    defer { bundle.scratch.remove() }
    let result = try runtime(bundle, ["create", "--bundle", bundle.bundle, "a1"])
    #expect(result.status == 1)
    #expect(result.stderr.split(separator: "\n").count == 1)
    #expect(result.stderr.contains("process.apparmorProfile"), "\(result.stderr)")
    #expect(try runtime(bundle, ["state", "a1"]).status == 1, "nothing left behind")
  }

  @Test func hooksGetTheStateOnStdin() throws {
    let scratchHooks = try Scratch("tasker-hooks")
    defer { scratchHooks.remove() }
    let out = scratchHooks.path
    let bundle = try makeBundle { config in
      setArgs(&config, ["true"])
      func hook(_ name: String) -> [String: Any] {
        ["path": "/bin/sh", "args": ["sh", "-c", "cat > \(out)/\(name)"]]
      }
      config["hooks"] = [
        "prestart": [hook("prestart")], "createRuntime": [hook("createRuntime")],
        "poststart": [hook("poststart")], "poststop": [hook("poststop")],
      ]
      config["annotations"] = ["org.example": "1"]
    }
    defer { bundle.scratch.remove() }
    let result = try runtime(bundle, ["run", "--bundle", bundle.bundle, "h1"])
    #expect(result.status == 0, "\(result.stderr)")
    for (name, status) in [
      ("createRuntime", "creating"), ("prestart", "created"), ("poststart", "running"), ("poststop", "stopped"),
    ] {
      let text = try String(contentsOfFile: out + "/" + name, encoding: .utf8)
      let state = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
      #expect(state["id"] as? String == "h1")
      #expect(state["status"] as? String == status, "\(name): \(text)")
      #expect(state["bundle"] as? String == bundle.bundle)
      #expect((state["annotations"] as? [String: String])?["org.example"] == "1")
    }
  }

  @Test func aUserNamespaceMapsTheContainersRoot() throws {
    let bundle = try makeBundle { config in
      setArgs(&config, ["sh", "-c", "id -u; cat /proc/self/uid_map; cat /proc/self/cgroup"])
      var linux = config["linux"] as? [String: Any] ?? [:]
      var namespaces = linux["namespaces"] as? [[String: Any]] ?? []
      namespaces += [["type": "user"], ["type": "cgroup"]]
      linux["namespaces"] = namespaces
      linux["uidMappings"] = [["containerID": 0, "hostID": 100_000, "size": 65536]]
      linux["gidMappings"] = [["containerID": 0, "hostID": 100_000, "size": 65536]]
      config["linux"] = linux
    }
    defer { bundle.scratch.remove() }
    // The root the container's root maps to must reach its files.
    #expect(try run("/bin/chown", ["-R", "100000:100000", bundle.bundle + "/rootfs"]).status == 0)
    let result = try runtime(bundle, ["run", "--bundle", bundle.bundle, "n1"])
    #expect(result.status == 0, "\(result.stderr)")
    let lines = result.stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
    #expect(lines.first == "0", "\(result.stdout)")
    #expect(lines.dropFirst().first == "0 100000 65536", "\(result.stdout)")
    // A cgroup namespace of its own, entered once in its cgroups: every hierarchy's root is "/".
    let cgroups = lines.dropFirst(2)
    #expect(!cgroups.isEmpty && cgroups.allSatisfy { $0.hasSuffix(":/") }, "\(result.stdout)")
  }

  @Test func aConfigWithoutAProcessEndsWhenStarted() throws {
    let bundle = try makeBundle { $0["process"] = nil }
    defer { bundle.scratch.remove() }
    let created = try create(bundle, "p1")
    #expect(created.status == 0, "\(created.stderr)")
    #expect(try state(bundle, "p1")["status"] as? String == "created")
    #expect(try runtime(bundle, ["start", "p1"]).status == 0)
    #expect(try eventually { try state(bundle, "p1")["status"] as? String == "stopped" })
    #expect(try runtime(bundle, ["delete", "p1"]).status == 0)
  }

  @Test func aFailedPrestartHookEndsAndRemovesTheContainer() throws {
    let bundle = try makeBundle { config in
      setArgs(&config, ["sleep", "100"])
      config["hooks"] = ["prestart": [["path": "/bin/false"]]]
    }
    defer { bundle.scratch.remove() }
    let created = try create(bundle, "f1")
    #expect(created.status == 0, "\(created.stderr)")
    let pid = try #require(try state(bundle, "f1")["pid"] as? Int)
    let started = try runtime(bundle, ["start", "f1"])
    #expect(started.status == 1 && started.stderr.contains("prestart hook /bin/false"), "\(started.stderr)")
    #expect(try runtime(bundle, ["state", "f1"]).status == 1, "deleted")
    #expect(
      try eventually {
        !FileManager.default.fileExists(atPath: "/proc/\(pid)/comm")
          || (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.contains(") Z ") == true
      })
  }

  /// SELinux: a process label is refused on a host without it; a mount label, which has
  /// nothing to label there, is accepted with a warning naming it (as crun goes on).
  @Test func selinuxFieldsOnAHostWithoutSELinux() throws {
    try #require(!FileManager.default.fileExists(atPath: "/sys/fs/selinux/enforce"), "this host has SELinux")
    let refused = try makeBundle { config in
      var process = config["process"] as? [String: Any] ?? [:]
      process["selinuxLabel"] = "system_u:system_r:svirt_lxc_net_t:s0:c124,c675"
      config["process"] = process
    }
    defer { refused.scratch.remove() }
    let result = try runtime(refused, ["run", "--bundle", refused.bundle, "s1"])
    #expect(result.status == 1 && result.stderr.contains("process.selinuxLabel"), "\(result.stderr)")
    let warned = try makeBundle { config in
      setArgs(&config, ["true"])
      var linux = config["linux"] as? [String: Any] ?? [:]
      linux["mountLabel"] = "system_u:object_r:svirt_sandbox_file_t:s0:c715,c811"
      config["linux"] = linux
    }
    defer { warned.scratch.remove() }
    let ran = try runtime(warned, ["run", "--bundle", warned.bundle, "s2"])
    #expect(ran.status == 0, "\(ran.stderr)")
    #expect(
      ran.stderr
        == "tasker-runtime: warning: linux.mountLabel \"system_u:object_r:svirt_sandbox_file_t:s0:c715,c811\" has no effect: this host has no SELinux\n"
    )
  }

  /// The rest of runc's command line, as the shim and people use it.
  @Test func updateKillAllFeaturesVersionAndLogs() throws {
    let bundle = try makeBundle { setArgs(&$0, ["sh", "-c", "sleep 1000 & sleep 1000"]) }
    defer { bundle.scratch.remove() }
    let log = bundle.scratch.path + "/log.json"
    let created = try create(bundle, "k1")
    #expect(created.status == 0, "\(created.stderr)")
    #expect(try runtime(bundle, ["start", "k1"]).status == 0)
    defer { _ = try? runtime(bundle, ["delete", "--force", "k1"]) }

    // update --resources -: the new limit lands in the container's pids cgroup.
    let limits = bundle.scratch.path + "/limits.json"
    try Data(#"{"pids":{"limit":42}}"#.utf8).write(to: URL(fileURLWithPath: limits))
    #expect(try runtime(bundle, ["update", "--resources", limits, "k1"]).status == 0)
    let pidsMax = ["/sys/fs/cgroup/pids/tasker-runtime/k1/pids.max", "/sys/fs/cgroup/tasker-runtime/k1/pids.max"]
      .first { FileManager.default.fileExists(atPath: $0) }
    #expect(try String(contentsOfFile: try #require(pidsMax), encoding: .utf8) == "42\n")

    // kill --all signals every process of the container, not only its first.
    #expect(
      try eventually { try runtime(bundle, ["ps", "--format", "json", "k1"]).stdout.split(separator: ",").count >= 2 })
    #expect(try runtime(bundle, ["kill", "--all", "k1", "KILL"]).status == 0)
    #expect(try eventually { try state(bundle, "k1")["status"] as? String == "stopped" })

    // An error is one line on stderr and, with --log-format json, a JSON line in the log.
    let failed = try run(runtimePath, ["--root", bundle.root, "--log", log, "--log-format", "json", "start", "nope"])
    #expect(failed.status == 1 && failed.stderr.split(separator: "\n").count == 1)
    let line = try String(contentsOfFile: log, encoding: .utf8)
    let entry = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
    #expect(entry["level"] == "error" && entry["msg"]?.contains("nope") == true, "\(line)")

    let systemd = try run(runtimePath, ["--systemd-cgroup", "list"])
    #expect(systemd.status == 1 && systemd.stderr.contains("systemd"), "\(systemd.stderr)")
    #expect(try run(runtimePath, ["--version"]).stdout.hasPrefix("tasker-runtime version "))
    let features = try run(runtimePath, ["features"])
    let object = try #require(try JSONSerialization.jsonObject(with: Data(features.stdout.utf8)) as? [String: Any])
    let linux = try #require(object["linux"] as? [String: Any])
    #expect((linux["namespaces"] as? [String])?.contains("user") == true)
  }

  /// --preserve-fds N: the caller's descriptors from 3 up are the container's.
  @Test func preservedDescriptorsReachTheContainer() throws {
    let bundle = try makeBundle { setArgs(&$0, ["sh", "-c", "cat <&3"]) }
    defer { bundle.scratch.remove() }
    let input = bundle.scratch.path + "/input"
    try Data("through fd 3\n".utf8).write(to: URL(fileURLWithPath: input))
    let result = try run(
      "/bin/sh",
      [
        "-c", "exec \"$0\" --root \"$1\" run --bundle \"$2\" --preserve-fds 1 d1 3<\"$3\"", runtimePath, bundle.root,
        bundle.bundle, input,
      ])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout == "through fd 3\n")
  }

  /// What a review that attacked tasker-runtime found, pinned.
  @Test func hostileConfigsAreRefused() throws {
    // A page size that is a path would name another cgroup's file.
    let hugetlb = try makeBundle { config in
      var linux = config["linux"] as? [String: Any] ?? [:]
      linux["resources"] = ["hugepageLimits": [["pageSize": "x/../../../memory/y/memory", "limit": 8_388_608]]]
      config["linux"] = linux
    }
    defer { hugetlb.scratch.remove() }
    let refused = try runtime(hugetlb, ["create", "--bundle", hugetlb.bundle, "h1"])
    #expect(refused.status == 1 && refused.stderr.contains("hugepageLimits[0].pageSize"), "\(refused.stderr)")

    // A masked path or a device that leaves the root.
    for (key, value) in [
      ("maskedPaths", ["/proc/../../etc"] as Any),
      ("devices", [["path": "/dev/../../x", "type": "c", "major": 1, "minor": 3]]),
    ] {
      let escaping = try makeBundle { config in
        var linux = config["linux"] as? [String: Any] ?? [:]
        linux[key] = value
        config["linux"] = linux
      }
      defer { escaping.scratch.remove() }
      let result = try runtime(escaping, ["create", "--bundle", escaping.bundle, "e1"])
      #expect(result.status == 1 && result.stderr.contains("linux.\(key)[0]"), "\(result.stderr)")
    }

    // A cgroup with processes in it is not the container's to take (delete --force would kill them).
    let bundle = try makeBundle { config in
      setArgs(&config, ["sleep", "1000"])
      var linux = config["linux"] as? [String: Any] ?? [:]
      linux["cgroupsPath"] = "tasker-runtime-test/shared"
      config["linux"] = linux
    }
    defer { bundle.scratch.remove() }
    let first = try create(bundle, "c1")
    #expect(first.status == 0, "\(first.stderr)")
    defer {
      _ = try? runtime(bundle, ["delete", "--force", "c1"])
      for hierarchy in (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup")) ?? [] {
        rmdir("/sys/fs/cgroup/\(hierarchy)/tasker-runtime-test")
      }
      rmdir("/sys/fs/cgroup/tasker-runtime-test")
    }
    // A created container's process still holds the runtime's rights: no exec into it.
    let early = try runtime(bundle, ["exec", "c1", "true"])
    #expect(early.status == 1 && early.stderr.contains("created"), "\(early.stderr)")
    let second = try runtime(bundle, ["create", "--bundle", bundle.bundle, "c2"])
    #expect(second.status == 1 && second.stderr.contains("is not empty"), "\(second.stderr)")
    #expect(try state(bundle, "c1")["status"] as? String == "created", "the first is untouched")
  }

  /// The image cannot stand in for the exec FIFO: its process runs only when started, even
  /// with files planted where /proc/self/fd would be and no /proc mounted.
  @Test func theImageCannotStartTheContainer() throws {
    let bundle = try makeBundle { config in
      setArgs(&config, ["/bin/sh", "-c", "echo ran > /ran"])
      config["mounts"] = (config["mounts"] as? [[String: Any]] ?? []).filter { $0["destination"] as? String != "/proc" }
      var linux = config["linux"] as? [String: Any] ?? [:]
      linux["maskedPaths"] = []
      linux["readonlyPaths"] = []
      config["linux"] = linux
      var root = config["root"] as? [String: Any] ?? [:]
      root["readonly"] = false
      config["root"] = root
    }
    defer { bundle.scratch.remove() }
    let planted = bundle.bundle + "/rootfs/proc/self/fd"
    try FileManager.default.createDirectory(atPath: planted, withIntermediateDirectories: true)
    for fd in 3...30 { FileManager.default.createFile(atPath: "\(planted)/\(fd)", contents: nil) }
    let created = try create(bundle, "i1")
    #expect(created.status == 0, "\(created.stderr)")
    defer { _ = try? runtime(bundle, ["delete", "--force", "i1"]) }
    usleep(300_000)
    #expect(!FileManager.default.fileExists(atPath: bundle.bundle + "/rootfs/ran"), "ran before start")
    #expect(try state(bundle, "i1")["status"] as? String == "created")
    #expect(try runtime(bundle, ["start", "i1"]).status == 0)
    #expect(try eventually { FileManager.default.fileExists(atPath: bundle.bundle + "/rootfs/ran") })
  }

  /// A sysctl no namespace of the container's holds would be the host's: refused, the host's
  /// value untouched; a namespaced one is the container's own.
  @Test func onlyNamespacedSysctls() throws {
    let before = try String(contentsOfFile: "/proc/sys/vm/stat_interval", encoding: .utf8)
    let hostWide = try makeBundle { config in
      var linux = config["linux"] as? [String: Any] ?? [:]
      linux["sysctl"] = ["vm.stat_interval": "7"]
      config["linux"] = linux
    }
    defer { hostWide.scratch.remove() }
    let refused = try runtime(hostWide, ["run", "--bundle", hostWide.bundle, "y1"])
    #expect(refused.status == 1 && refused.stderr.contains("vm.stat_interval"), "\(refused.stderr)")
    #expect(try String(contentsOfFile: "/proc/sys/vm/stat_interval", encoding: .utf8) == before)
    let own = try makeBundle { config in
      setArgs(&config, ["cat", "/proc/sys/kernel/shmmni"])
      var linux = config["linux"] as? [String: Any] ?? [:]
      linux["sysctl"] = ["kernel.shmmni": "1234"]
      config["linux"] = linux
    }
    defer { own.scratch.remove() }
    let ran = try runtime(own, ["run", "--bundle", own.bundle, "y2"])
    #expect(ran.status == 0 && ran.stdout == "1234\n", "\(ran.stderr)")
  }

  /// runc's rootless config (a user namespace, no cgroup namespace) runs: the container's own
  /// cgroup directories are bound where cgroupfs may not be mounted.
  @Test func runcsRootlessConfigRuns() throws {
    let bundle = try makeBundle { _ in }
    defer { bundle.scratch.remove() }
    try FileManager.default.removeItem(atPath: bundle.bundle + "/config.json")
    #expect(try run(runtimePath, ["spec", "--rootless", "--bundle", bundle.bundle]).status == 0)
    let configURL = URL(fileURLWithPath: bundle.bundle + "/config.json")
    var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any])
    var process = try #require(config["process"] as? [String: Any])
    process["terminal"] = false
    process["args"] = ["sh", "-c", "id -u; ls /sys/fs/cgroup | grep -c ."]
    config["process"] = process
    try JSONSerialization.data(withJSONObject: config).write(to: configURL)
    let result = try runtime(bundle, ["run", "--bundle", bundle.bundle, "rl1"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout.hasPrefix("0\n"), "\(result.stdout)")
  }

  /// A hook's timeout is whole seconds of its own run: one that needs 0.3 s of a 1 s timeout
  /// always finishes (each run has a third of a chance to cross a second's boundary, where a
  /// comparison of whole seconds killed it); one that needs 3 s is killed.
  @Test func hookTimeoutsAreMeasuredExactly() throws {
    for (index, (seconds, succeeds)) in [("0.3", true), ("0.3", true), ("0.3", true), ("0.3", true), ("3", false)]
      .enumerated()
    {
      let bundle = try makeBundle { config in
        setArgs(&config, ["true"])
        config["hooks"] = ["createRuntime": [["path": "/bin/sleep", "args": ["sleep", seconds], "timeout": 1]]]
      }
      defer { bundle.scratch.remove() }
      let result = try runtime(bundle, ["run", "--bundle", bundle.bundle, "t\(index)"])
      #expect((result.status == 0) == succeeds, "sleep \(seconds): \(result.stderr)")
      if !succeeds { #expect(result.stderr.contains("timed out after 1 s"), "\(result.stderr)") }
    }
  }
}
