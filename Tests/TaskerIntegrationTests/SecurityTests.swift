import Foundation
import Glibc
import Tasker
import Testing

/// What a hostile task, image or local user tries, and what they get: nothing.
@Suite(.enabled(if: isRoot, rootReason))
struct SecurityTests {
  /// `probe MODE` (Tests/Fixtures/probe.c) in a jailed task: its `name=result` lines.
  func probe(_ box: Sandbox, _ mode: String, options: [String] = []) throws -> [String: String] {
    let images = try Images.shared()
    let result = try box.tasker(
      ["run", "--rm", "--network", "none"] + options + [images.path("busybox-escape.tar"), "/probe \(mode)"])
    #expect(result.status == 0, "\(result.stderr)")
    var values: [String: String] = [:]
    for line in result.stdout.split(separator: "\n") {
      let parts = line.split(separator: "=", maxSplits: 1)
      if parts.count == 2 { values[String(parts[0])] = String(parts[1]) }
    }
    return values
  }

  @Test func theInitHoldsNothing() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let result = try box.tasker([
      "run", "--rm", images.url("busybox.tar.gz"), "grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/1/status",
    ])
    #expect(result.status == 0, "\(result.stderr)")
    let expected = [
      "CapInh:\t0000000000000000", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000",
      "CapBnd:\t0000000000000000", "CapAmb:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2",
    ]
    #expect(result.stdout.split(separator: "\n").map(String.init) == expected, "\(result.stdout)")
  }

  @Test func aTracerOfTheInitCannotMakeItMountOrJoinANamespace() throws {
    #if arch(x86_64)
      let box = try Sandbox()
      defer { box.scratch.remove() }
      let values = try probe(box, "inject-init", options: ["--cap-add", "SYS_PTRACE"])
      #expect(values["attach"] == "0", "\(values)")
      // The injection works (kill(1, 0) is one of the init's own calls), and gets nothing else.
      #expect(values["kill"] == "0", "\(values)")
      #expect(values["mount"] == "E1", "\(values)")
      #expect(values["setns"] == "E1", "\(values)")
      // Without CAP_SYS_PTRACE the init cannot even be attached to.
      let denied = try probe(box, "inject-init")
      #expect(denied["attach"]?.hasPrefix("E") == true, "\(denied)")
    #endif
  }

  @Test func theInitsProgramCannotBeWritten() throws {
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let supervisor = binDirectory.appendingPathComponent("tasker-supervisor").path
    let before = try run("/usr/bin/sha256sum", [supervisor]).stdout
    let values = try probe(box, "exe", options: ["--cap-add", "SYS_PTRACE"])
    #expect(values["link"]?.hasPrefix("/memfd:tasker-supervisor") == true, "\(values)")
    #expect(values["open"]?.hasPrefix("E") == true || values["write"]?.hasPrefix("E") == true, "\(values)")
    #expect(try run("/usr/bin/sha256sum", [supervisor]).stdout == before)
    let plain = try probe(box, "exe")
    #expect(plain["open"]?.hasPrefix("E") == true, "\(plain)")
  }

  @Test func theDefaultFilterIsAnAllowlist() throws {
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let values = try probe(box, "syscalls")
    #expect(values["io_uring_setup"] == "E1", "\(values)")
    #expect(values["unused"] == "E\(ENOSYS)", "an unknown call fails closed, as on an older kernel: \(values)")
    #expect(values["personality_addr_no_randomize"] == "E1", "\(values)")
    #expect(values["personality_read_implies_exec"] == "E1", "\(values)")
    #expect(values["personality_query"] == "0", "\(values)")
    #expect(values["unshare_user"] == "E1", "\(values)")
    // Unconfined, the same calls reach the kernel.
    let open = try probe(box, "syscalls", options: ["--security-opt", "seccomp=unconfined"])
    #expect(open["unused"] == "E\(ENOSYS)" && open["io_uring_setup"] != "E1", "\(open)")
  }

  @Test func aProfileOfTheUsersIsApplied() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let profile = box.scratch.url.appendingPathComponent("profile.json")
    try Data(
      """
      {"defaultAction": "SCMP_ACT_ALLOW",
       "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
      """.utf8
    ).write(to: profile)
    let script = "mkdir /made && echo made; grep Seccomp: /proc/self/status"
    let filtered = try box.tasker([
      "run", "--rm", "--security-opt", "seccomp=\(profile.path)", images.url("busybox.tar.gz"), "sh -c '\(script)'",
    ])
    #expect(filtered.status == 0)
    #expect(filtered.stdout == "Seccomp:\t2\n", "\(filtered.stdout)")
    #expect(filtered.stderr.contains("Permission denied"), "\(filtered.stderr)")
    let standard = try box.tasker(["run", "--rm", images.url("busybox.tar.gz"), "sh -c '\(script)'"])
    #expect(standard.stdout == "made\nSeccomp:\t2\n", "\(standard.stdout)")
    let unconfined = try box.tasker([
      "run", "--rm", "--security-opt", "seccomp=unconfined", images.url("busybox.tar.gz"),
      "grep Seccomp: /proc/self/status",
    ])
    #expect(unconfined.stdout == "Seccomp:\t0\n", "\(unconfined.stdout)")
    // A broken profile is one line naming the file, before anything is made.
    try Data("{\"defaultAction\": \"SCMP_ACT_NOPE\"}".utf8).write(to: profile)
    let broken = try box.tasker([
      "create", "--security-opt", "seccomp=\(profile.path)", images.url("busybox.tar.gz"), "true",
    ])
    #expect(broken.status == 64 && broken.stderrLines.count == 1, "\(broken.stderr)")
    #expect(broken.stderr.contains(profile.path), "\(broken.stderr)")
    #expect(box.tasksOnRecord().isEmpty && listing(box.downloads).isEmpty)
  }

  @Test func aSymlinkedDownloadPathIsRefused() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let host = try box.scratch.sub("host")
    let link = box.scratch.url.appendingPathComponent("link")
    try FileManager.default.createSymbolicLink(at: link, withDestinationURL: host)
    let result = try box.tasker(["create", "--download-path", link.path, images.url("busybox.tar.gz"), "true"])
    #expect(result.status == 64, "\(result.stderr)")
    #expect(
      result.stderr == "tasker: download path is a symbolic link: \(link.path) (give the directory it points to)\n")
    #expect(listing(host).isEmpty && box.tasksOnRecord().isEmpty)
  }

  /// The download path's owner moves it away while a task runs: `rm` still finds the task's
  /// view there (by the mount it clones) and detaches it.
  @Test func rmDetachesAViewWhoseDownloadPathWasMoved() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let id = try box.create(images.url("busybox.tar.gz"), ["sleep 60"])
    let moved = box.scratch.url.appendingPathComponent("moved-away")
    #expect(rename(box.downloads.path, moved.path) == 0)
    #expect(mkdir(box.downloads.path, 0o755) == 0)
    #expect(try box.tasker(["rm", "--force", id]).status == 0)
    let mountinfo = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
    #expect(!mountinfo.contains(moved.path + "/" + id), "the view stayed mounted where it was moved")
  }

  /// The download path's owner flips `<download path>/<ID>` and the download path itself
  /// between a directory and a symlink to a host directory while tasks are made and removed:
  /// the host directory is never written nor mounted over.
  @Test func aSwapperInTheDownloadPathNeverReachesAHostDirectory() async throws {
    let images = try Images.shared()
    let scratch = try Scratch()
    defer { scratch.remove() }
    let parent = try scratch.sub("owned-by-someone-else")
    let downloads = try scratch.sub("owned-by-someone-else/downloads")
    let host = try scratch.sub("host-etc")
    try Data("host file\n".utf8).write(to: host.appendingPathComponent("passwd"))
    _ = try scratch.sub("host-etc/cron.d")
    let before = try run("/bin/sh", ["-c", "cd '\(host.path)' && find . -printf '%p %s %m %y\\n' | sort"]).stdout

    let manager = TaskManager(
      settings: TaskerSettings(
        stateRoot: try scratch.sub("state").path, downloadPath: downloads.path,
        supervisorPath: binDirectory.appendingPathComponent("tasker-supervisor").path))
    // Cache the image first: the race is about the task directory, not the download.
    let image = images.url("busybox.tar.gz")
    let jail = JailOptions(network: .none)
    let warm = try await manager.create(TaskSpec(image: image, command: ["true"], jail: jail))
    _ = try await manager.wait(for: warm.id.rawValue)
    _ = try await manager.remove(warm.id.rawValue, force: true)

    let stop = scratch.url.appendingPathComponent("stop")
    let swapper = Process()
    swapper.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    swapper.arguments = [
      "python3", repositoryRoot.appendingPathComponent("Tests/Fixtures/swapper.py").path, parent.path, "downloads",
      host.path, stop.path,
    ]
    try swapper.run()
    var created = 0
    var refused = 0
    var attempts = 0
    var reasons: [String: Int] = [:]
    // A thousand creates that got past opening the download path (one refused because the path
    // was a symlink at that moment is tried again).
    while attempts < 1000 && created + refused + attempts < 50_000 {
      do {
        let handle = try await manager.create(
          TaskSpec(
            image: image, command: ["/bin/sh", "-c", "echo owned > /passwd; mkdir -p /cron.d; touch /cron.d/x"],
            jail: jail))
        created += 1
        attempts += 1
        _ = try? await manager.wait(for: handle.id.rawValue)
        _ = try? await manager.remove(handle.id.rawValue, force: true)
      } catch  where error.message.hasPrefix("download path is a symbolic link") {
        refused += 1
        usleep(1000)
      } catch {
        attempts += 1
        reasons[String(error.message.prefix(70)), default: 0] += 1
      }
    }
    try Data().write(to: stop)
    swapper.waitUntilExit()
    #expect(swapper.terminationStatus == 0)
    // Put the download path back before looking.
    print("swapper: \(created) created, \(refused) refused, \(reasons)")
    let after = try run("/bin/sh", ["-c", "cd '\(host.path)' && find . -printf '%p %s %m %y\\n' | sort"]).stdout
    #expect(after == before, "the host directory changed")
    let mountinfo = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
    #expect(!mountinfo.contains(host.path), "something was mounted on the host directory")
    #expect(
      attempts == 1000 && created > 0 && refused > 0,
      "the race ran every way: \(created) created, \(refused) refused at the download path, then \(reasons)")
  }
}
