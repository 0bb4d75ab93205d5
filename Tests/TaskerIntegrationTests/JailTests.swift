import Foundation
import Glibc
import Testing

/// The default isolation, seen from inside a task.
@Suite(.enabled(if: isRoot, rootReason))
struct JailTests {
  func run(_ box: Sandbox, _ arguments: [String]) throws -> Outcome {
    try box.tasker(["run"] + arguments)
  }

  @Test func theTaskSeesOnlyItsOwnProcesses() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let result = try run(
      box, [images.url("busybox.tar.gz"), "--", "/bin/sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'"])
    let lines = result.stdout.split(separator: "\n")
    #expect(result.status == 0, "\(result.stderr)")
    #expect(lines.first == "2", "the command is PID 2, next to the init")
    // The init, the shell, ls and grep at most.
    #expect(Int(lines.last ?? "") ?? 99 <= 4, "\(result.stdout)")
    let chroot = try run(box, ["--isolation", "chroot", images.url("busybox.tar.gz"), "sh -c 'echo $$'"])
    #expect(chroot.stdout != "2\n", "chroot shares the host's PID namespace")
  }

  @Test func theHostnameIsTheTasksOwn() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let before = ProcessInfo.processInfo.hostName
    let script = "sh -c 'hostname; hostname changed; hostname'"
    // Without CAP_SYS_ADMIN the task cannot even try; with it, the change stays in its UTS namespace.
    let denied = try run(box, ["--hostname", "inside", images.url("busybox.tar.gz"), script])
    #expect(denied.stdout == "inside\ninside\n", "\(denied.stderr)")
    let allowed = try run(
      box, ["--hostname", "inside", "--cap-add", "SYS_ADMIN", images.url("busybox.tar.gz"), script])
    #expect(allowed.stdout == "inside\nchanged\n", "\(allowed.stderr)")
    #expect(ProcessInfo.processInfo.hostName == before)
    let id = try box.create(images.url("busybox.tar.gz"), ["hostname"])
    #expect(try box.tasker(["wait", id]).status == 0)
    #expect(try box.tasker(["logs", id]).stdout == id + "\n", "the default hostname is the ID")
  }

  @Test func theClassicChrootEscapeFails() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let marker = box.scratch.url.appendingPathComponent("host-only-marker")
    try Data("host secret\n".utf8).write(to: marker)
    let jailed = try run(box, [images.path("busybox-escape.tar"), "--", "/escape", marker.path])
    #expect(jailed.status == 1, "\(jailed.stdout) \(jailed.stderr)")
    #expect(!jailed.stdout.contains("host secret"))
    // The same helper does get out of a plain chroot: the test can tell the difference.
    let chrooted = try run(
      box, ["--isolation", "chroot", images.path("busybox-escape.tar"), "--", "/escape", marker.path])
    #expect(chrooted.status == 0 && chrooted.stdout == "host secret\n", "\(chrooted.stderr)")
  }

  @Test func procOfTheInitLeadsNowhere() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let marker = box.scratch.url.appendingPathComponent("host-only-marker")
    try Data("host secret\n".utf8).write(to: marker)
    let script = "cat /proc/1/root\(marker.path); ls /proc/1/root/; cat /proc/1/cwd\(marker.path); cat /proc/1/cmdline"
    let result = try run(box, [images.url("busybox.tar.gz"), "--", "/bin/sh", "-c", script])
    #expect(!result.stdout.contains("host secret"))
    #expect(!result.stdout.contains(box.state.path), "/proc/1/cmdline shows no host path")
  }

  @Test func mountIsDeniedAndCapabilitiesAreReduced() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let script = "mkdir -p /mnt2; mount -t tmpfs none /mnt2 && echo mounted; grep CapEff /proc/self/status"
    let result = try run(box, [images.url("busybox.tar.gz"), "--", "/bin/sh", "-c", script])
    #expect(!result.stdout.contains("mounted"))
    let capEff = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("CapEff") })
    let mask = try #require(UInt64(capEff.split(separator: "\t").last ?? "", radix: 16))
    #expect(mask & (1 << 21) == 0, "no CAP_SYS_ADMIN")
    #expect(mask & (1 << 16) == 0, "no CAP_SYS_MODULE")
    #expect(mask & (1 << 19) == 0, "no CAP_SYS_PTRACE")
    #expect(mask & (1 << 0) != 0, "CAP_CHOWN stays")
    let added = try run(box, ["--cap-add", "SYS_ADMIN", images.url("busybox.tar.gz"), "grep CapEff /proc/self/status"])
    let addedMask =
      UInt64(added.stdout.split(separator: "\t").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "", radix: 16)
      ?? 0
    #expect(addedMask & (1 << 21) != 0)
    let privileged = try run(
      box,
      [
        "--privileged", images.url("busybox.tar.gz"),
        "sh -c 'mkdir -p /mnt2; mount -t tmpfs none /mnt2 && echo mounted'",
      ])
    #expect(privileged.stdout == "mounted\n", "\(privileged.stderr)")
  }

  @Test func aMemoryLimitStopsATaskThatWantsMore() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    // dd allocates its 100 MB block at once.
    let greedy = ["--", "/bin/sh", "-c", "dd if=/dev/zero of=/dev/null bs=100M count=1 2>/dev/null && echo done"]
    let limited = try run(box, ["--memory", "32M", images.url("busybox.tar.gz")] + greedy)
    #expect(!limited.stdout.contains("done"))
    let free = try run(box, [images.url("busybox.tar.gz")] + greedy)
    #expect(free.stdout == "done\n", "without the limit the same command works")
  }

  @Test func aPidsLimitStopsABurst() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let burst = ["--", "/bin/sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 & done; wait"]
    func processes(_ id: String) throws -> Int {
      (try box.json(id)["usage"] as? [String: Any])?["processes"] as? Int ?? 0
    }
    let limited = try box.create(images.url("busybox.tar.gz"), burst)
    let capped = try box.tasker(["create", "--pids-limit", "5", images.url("busybox.tar.gz")] + burst)
    let id = capped.stdout.trimmingCharacters(in: .newlines)
    defer { _ = try? box.tasker(["rm", "-f", id, limited]) }
    #expect(try eventually { try box.tasker(["logs", id]).stderr.contains("fork") })
    #expect(try processes(id) <= 5)
    // The same burst without the limit: all ten sleeps, the shell and the init.
    #expect(try eventually { try processes(limited) == 12 })
  }

  @Test func networkNoneHasOnlyLoopback() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let script = "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; ip link show lo | grep -c UP"
    let none = try run(box, ["--network", "none", images.url("busybox.tar.gz"), "--", "/bin/sh", "-c", script])
    #expect(none.stdout == "lo\n1\n", "\(none.stdout) \(none.stderr)")
    let host = try run(box, ["--network", "host", images.url("busybox.tar.gz"), "--", "/bin/sh", "-c", script])
    #expect(host.stdout.split(separator: "\n").count > 2, "--network host shares the host's interfaces")
  }

  @Test func signalsReachTheCommandThroughTheInit() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let id = try box.create(images.url("busybox.tar.gz"), ["sleep 30"])
    #expect(try eventually { try box.health(id) == "exists: True\nstatus: sleeping\n" })
    #expect(try box.tasker(["send_signal", id, "SIGINT"]).status == 0)
    #expect(try eventually { try box.health(id) == "exists: False\nstatus: None\n" })
    #expect(try box.tasker(["wait", id]).status == 130)
    // Signalling the init itself (PID 1 inside) reaches the command too.
    let other = try box.create(images.url("busybox.tar.gz"), ["sleep 30"])
    let record = try #require(
      try JSONSerialization.jsonObject(
        with: Data(contentsOf: box.state.appendingPathComponent("tasks/\(other)/task.json")))
        as? [String: Any])
    let initPID = try #require(record["initPID"] as? Int)
    kill(Int32(initPID), SIGTERM)
    #expect(try box.tasker(["wait", other]).status == 143)
    let exits = try box.create(images.url("busybox.tar.gz"), ["sh -c 'exit 3'"])
    #expect(try eventually { try box.json(exits)["exitCode"] as? Int == 3 })
  }

  @Test func rmForceKillsEverythingTheTaskStarted() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let script = "setsid sleep 100 & sleep 100 & sleep 100"
    let id = try box.create(images.url("busybox.tar.gz"), ["--", "/bin/sh", "-c", script])
    #expect(try eventually { (try box.json(id)["usage"] as? [String: Any])?["processes"] as? Int == 4 })
    let before = Set(sleepers("100"))
    #expect(before.count >= 3)
    #expect(try box.tasker(["rm", "--force", id]).status == 0)
    #expect(try eventually { Set(sleepers("100")).isDisjoint(with: before) })
  }

  @Test func theCgroupMeasuresAndGoesAwayWithTheTask() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let limited = try box.tasker([
      "create", "--memory", "64m", "--pids-limit", "20", images.url("busybox.tar.gz"), "sleep 30",
    ])
    let task = limited.stdout.trimmingCharacters(in: .newlines)
    #expect(limited.status == 0, "\(limited.stderr)")
    #expect(try eventually { try box.health(task).contains("sleeping") })
    let usage = try #require(try box.json(task)["usage"] as? [String: Any])
    #expect((usage["memoryBytes"] as? Int ?? 0) > 0)
    #expect(usage["memoryPeakBytes"] is Int)
    #expect(usage["cpuSeconds"] is Double)
    #expect(usage["processes"] as? Int == 2)
    let cgroups = try FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup").flatMap { hierarchy in
      ["/sys/fs/cgroup/\(hierarchy)/tasker/\(task)", "/sys/fs/cgroup/tasker/\(task)"]
    }.filter { FileManager.default.fileExists(atPath: $0) }
    #expect(!cgroups.isEmpty)
    _ = try box.tasker(["kill", task, "KILL"])
    _ = try box.tasker(["wait", task])
    #expect(try eventually { cgroups.allSatisfy { !FileManager.default.fileExists(atPath: $0) } })
  }

  /// A jail step that fails says which, on which path, with the errno, before any ID.
  @Test func aFailedJailStepIsReportedBeforeAnyID() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let result = try box.tasker(["create", images.path("busybox-badproc.tar"), "true"])
    #expect(result.status != 0)
    #expect(result.stdout.isEmpty)
    #expect(result.stderrLines.count == 1)
    #expect(result.stderr.contains("proc") && result.stderr.contains("jail"), "\(result.stderr)")
    #expect(listing(box.downloads).isEmpty)
    #expect(box.tasksOnRecord().isEmpty)
    let tooMany = try box.tasker(["create", "--cpus", "0", images.url("busybox.tar.gz"), "true"])
    #expect(tooMany.status != 0 && tooMany.stderrLines.count == 1)
  }

  @Test func seccompRefusesWhatAJailHasNoBusinessDoing() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let script = "grep Seccomp: /proc/self/status; unshare -U true && echo userns; unshare -m true && echo mountns"
    let jailed = try run(box, [images.url("busybox.tar.gz"), "--", "/bin/sh", "-c", script])
    #expect(jailed.stdout == "Seccomp:\t2\n", "\(jailed.stdout) \(jailed.stderr)")
    let privileged = try run(box, ["--privileged", images.url("busybox.tar.gz"), "--", "/bin/sh", "-c", script])
    #expect(privileged.stdout.hasPrefix("Seccomp:\t0\n"), "\(privileged.stdout)")
  }

  /// Even with ptrace rights over the init, its descriptors lead to nothing of the host.
  @Test func theInitHoldsNoHostDescriptor() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let script = "for f in /proc/1/fd/*; do readlink $f; done"
    let result = try run(box, ["--cap-add", "SYS_PTRACE", images.url("busybox.tar.gz"), "--", "/bin/sh", "-c", script])
    #expect(result.status == 0, "\(result.stderr)")
    let targets = result.stdout.split(separator: "\n")
    #expect(!targets.isEmpty)
    for target in targets {
      #expect(target == "/dev/null" || target.hasPrefix("pipe:") || target.hasPrefix("socket:"), "\(target)")
    }
  }

  /// A setuid file the task plants in its directory must not serve a host user.
  @Test(arguments: ["jail", "chroot"])
  func theTaskDirectoryIsNosuidOnTheHost(isolation: String) throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--isolation", isolation])
    defer { box.scratch.remove() }
    let id = try box.create(images.url("busybox.tar.gz"), ["sleep 30"])
    defer { _ = try? box.tasker(["rm", "-f", id]) }
    let rootfs = box.downloads.appendingPathComponent(id).path
    // (procfs files report no size; read them through cat, not Foundation.)
    let mountinfo = try TaskerIntegrationTests.run("/bin/cat", ["/proc/self/mountinfo"]).stdout
    let line = try #require(mountinfo.split(separator: "\n").first { $0.split(separator: " ")[4] == rootfs })
    let options = line.split(separator: " ")[5].split(separator: ",")
    #expect(options.contains("nosuid"), "\(line)")
    #expect(try box.tasker(["rm", "-f", id]).status == 0)
    let after = try TaskerIntegrationTests.run("/bin/cat", ["/proc/self/mountinfo"]).stdout
    #expect(!after.contains(rootfs))
  }

  /// A supervisor whose creator vanished before reading the report (tasker killed mid-create)
  /// ends the task rather than leave it running unclaimed.
  @Test(arguments: ["jail", "chroot"])
  func anUnclaimedTaskIsEnded(isolation: String) throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let rootfs = try box.scratch.sub("rootfs")
    #expect(
      try TaskerIntegrationTests.run("/bin/tar", ["-C", rootfs.path, "-xf", images.path("busybox.tar")]).status == 0)
    let state = try box.scratch.sub("state-dir")
    let duration = isolation == "jail" ? "103" : "104"
    let supervisor = binDirectory.appendingPathComponent("tasker-supervisor").path
    let namespaces = isolation == "jail" ? "namespaces\t\(0x2002_0000)\nno-new-privileges\n" : ""
    let plan = box.scratch.url.appendingPathComponent("plan")
    try Data("tasker-plan\t2\nisolation\t\(isolation)\nworkdir\t/\n\(namespaces)end\n".utf8).write(to: plan)
    // The report pipe (fd 3) is /dev/full: the report cannot be delivered, as when the creator
    // was killed before reading it. 4 is the plan, 5 the state directory, 6 the root.
    let started = try TaskerIntegrationTests.run(
      "/bin/sh",
      [
        "-c", "exec \"$0\" -- /bin/sleep \(duration) 3>/dev/full 4<\"$1\" 5<\"$2\" 6<\"$3\" 7</dev/null", supervisor,
        plan.path, state.path, rootfs.path,
      ])
    #expect(started.status == 0)
    #expect(try eventually { sleepers(duration).isEmpty })
    usleep(200_000)
    #expect(sleepers(duration).isEmpty, "the unclaimed command still runs")
  }
}
