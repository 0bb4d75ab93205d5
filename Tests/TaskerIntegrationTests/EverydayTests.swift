import Foundation
import Glibc
import Testing

/// exec, stop, restart and restart policies, out-of-memory ends, usage and stats, export: what
/// a podman user reaches for every day, driven through the real binary.
@Suite(.enabled(if: isRoot, rootReason))
struct EverydayTests {
  /// What a process sees of its own confinement, one `key value` line each (run by the task's
  /// command and by exec, and compared).
  static let confinement = """
    grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp|Seccomp_filters):' /proc/self/status
    cat /proc/self/cgroup
    for ns in /proc/self/ns/*; do echo "$ns $(readlink $ns)"; done
    hostname
    """

  @Test func execRunsWithTheTasksOwnConfinement() throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--network", "none"])
    defer { box.scratch.remove() }
    let id = try box.create(
      images.url("busybox.tar.gz"), ["--", "/bin/sh", "-c", "(\(Self.confinement)) > /own; sleep 60"])
    defer { _ = try? box.tasker(["rm", "--force", id]) }
    let ownPath = box.downloads.appendingPathComponent(id + "/own").path
    #expect(try eventually { (try? String(contentsOfFile: ownPath, encoding: .utf8))?.contains("uts") == true })
    let own = try String(contentsOfFile: ownPath, encoding: .utf8)
    let exec = try box.tasker(["exec", id, "sh", "-c", Self.confinement])
    #expect(exec.status == 0, "\(exec.stderr)")
    #expect(exec.stdout == own)
    // Confined for real: not the host's values.
    #expect(own.contains("NoNewPrivs:\t1"))
    #expect(own.contains("Seccomp:\t2"))
    #expect(!own.contains("CapEff:\t000001ffffffffff"))
    let hostNamespace = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid")
    #expect(!own.contains(hostNamespace))

    // Exit codes as run gives them, its options, and no task of its own.
    #expect(try box.tasker(["exec", id, "sh", "-c", "exit 7"]).status == 7)
    #expect(try box.tasker(["exec", id, "no-such-command"]).status == 127)
    #expect(try box.tasker(["exec", id, "/etc/passwd"]).status == 126)
    // --env as create's: a bare name takes tasker's own value.
    let options = try box.tasker(
      [
        "exec", "--env", "GREETING=hi", "--env", "FROM_TASKER", "--workdir", "/tmp", "--user", "1000:1001", id, "sh",
        "-c", "echo $GREETING $FROM_TASKER $(pwd) $(id -u) $(id -g); grep CapEff /proc/self/status",
      ], environment: ["FROM_TASKER": "passed"])
    #expect(options.stdout == "hi passed /tmp 1000 1001\nCapEff:\t0000000000000000\n", "\(options.stderr)")
    // A name is looked up in the task's own /etc/passwd and /etc/group (the busybox image's).
    let named = try box.tasker(["exec", "--user", "nobody:nogroup", id, "sh", "-c", "echo $(id -u) $(id -g)"])
    #expect(named.stdout == "65534 65534\n", "\(named.stderr)")
    let unknown = try box.tasker(["exec", "--user", "nosuchuser", id, "true"])
    #expect(unknown.status == 125 && unknown.stderrLines.count == 1, "\(unknown.stderr)")
    let listed = try box.tasker(["list", "-q"]).stdout
    #expect(listed == id + "\n")
    // stdin is /dev/null unless -i.
    #expect(try box.tasker(["exec", id, "readlink", "/proc/self/fd/0"]).stdout == "/dev/null\n")
    let piped = try run(
      "/bin/sh", ["-c", "echo typed | \"$0\" exec -i \"$1\" cat", taskerPath, id],
      environment: ["TASKER_ROOT": box.state.path])
    #expect(piped.stdout == "typed\n", "\(piped.stderr)")
    // A host file tasker's streams are redirected to never goes in: the process gets pipes.
    let redirected = box.scratch.url.appendingPathComponent("redirected")
    let viaFile = try run(
      "/bin/sh",
      [
        "-c",
        "\"$0\" exec -i \"$1\" sh -c \'readlink /proc/self/fd/0; readlink /proc/self/fd/1\' </etc/hostname >\"$2\"",
        taskerPath, id, redirected.path,
      ],
      environment: ["TASKER_ROOT": box.state.path])
    #expect(viaFile.status == 0, "\(viaFile.stderr)")
    let links = try String(contentsOf: redirected, encoding: .utf8).split(separator: "\n")
    #expect(links.count == 2 && links.allSatisfy { $0.hasPrefix("pipe:") }, "\(links)")
  }

  /// Without --user, exec runs as the task's own user (create --user), as podman's does.
  @Test func execRunsAsTheTasksUser() throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--network", "none", "--user", "nobody"])
    defer { box.scratch.remove() }
    let id = try box.create(images.url("busybox.tar.gz"), ["sleep 60"])
    defer { _ = try? box.tasker(["rm", "--force", id]) }
    let own = try box.tasker(["exec", id, "sh", "-c", "echo $(id -u) $(id -g) $HOME"])
    #expect(own.stdout == "65534 65534 /\n", "\(own.stderr)")
    #expect(try box.tasker(["exec", "--user", "0", id, "id", "-u"]).stdout == "0\n")
  }

  @Test func execProcessesEndWithTheTask() throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--network", "none"])
    defer { box.scratch.remove() }
    let id = try box.create(images.url("busybox.tar.gz"), ["sleep 60"])
    defer { _ = try? box.tasker(["rm", "--force", id]) }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: taskerPath)
    process.arguments = ["exec", id, "sleep", "60"]
    process.environment = ["TASKER_ROOT": box.state.path, "PATH": "/usr/bin:/bin"]
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    #expect(try eventually { try box.tasker(["exec", id, "sh", "-c", "ps | grep -c '[s]leep 60'"]).stdout == "2\n" })
    #expect(try box.tasker(["stop", "-t", "0", id]).status == 0)
    process.waitUntilExit()
    #expect(process.terminationStatus == 128 + SIGKILL)
    #expect(try box.tasker(["exec", id, "true"]).status != 0)
  }

  @Test func execGivesATerminalMadeInsideTheTask() throws {
    let script = "/usr/bin/script"
    guard FileManager.default.isExecutableFile(atPath: script) else { return }
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--network", "none"])
    defer { box.scratch.remove() }
    let id = try box.create(images.url("busybox.tar.gz"), ["sleep 60"])
    defer { _ = try? box.tasker(["rm", "--force", id]) }
    let command = "\(taskerPath) exec -t \(id) sh -c 'tty; exit 3'"
    let result = try run(script, ["-qec", command, "/dev/null"], environment: ["TASKER_ROOT": box.state.path])
    #expect(result.status == 3)
    #expect(result.stdout.contains("/dev/pts/0"), "\(result.stdout)")
    // Without -t, tasker's terminal is never handed in: the command sees a pipe.
    let piped = try run(
      script, ["-qec", "\(taskerPath) exec \(id) sh -c 'tty; readlink /proc/self/fd/1'", "/dev/null"],
      environment: ["TASKER_ROOT": box.state.path])
    #expect(piped.stdout.contains("not a tty"), "\(piped.stdout)")
    #expect(piped.stdout.contains("pipe:"), "\(piped.stdout)")
  }

  @Test func stopSendsTheStopSignalThenSigkillAfterTheTimeout() throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--network", "none"])
    defer { box.scratch.remove() }
    let image = images.url("busybox.tar.gz")
    let polite = try box.create(image, ["sleep 60"])
    defer { _ = try? box.tasker(["rm", "--force", polite]) }
    let stopped = try box.tasker(["stop", polite])
    #expect(stopped.status == 0 && stopped.stdout == polite + "\n", "\(stopped.stderr)")
    #expect(try box.json(polite)["signalName"] as? String == "SIGTERM")
    // Stopping what has ended is no error.
    #expect(try box.tasker(["stop", polite]).status == 0)

    let stubborn = try box.create(image, ["--", "/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"])
    defer { _ = try? box.tasker(["rm", "--force", stubborn]) }
    #expect(try eventually { try box.health(stubborn).contains("sleeping") })
    #expect(try box.tasker(["stop", "-t", "1", stubborn]).status == 0)
    #expect(try box.json(stubborn)["signalName"] as? String == "SIGKILL")

    let interrupted = try box.tasker(["create", "--network", "none", "--stop-signal", "INT", image, "sleep 60"])
    let id = interrupted.stdout.trimmingCharacters(in: .newlines)
    defer { _ = try? box.tasker(["rm", "--force", id]) }
    #expect(try box.tasker(["stop", id]).status == 0)
    #expect(try box.json(id)["signalName"] as? String == "SIGINT")
    #expect(try box.tasker(["stop", "no-such-task"]).status == 1)
    #expect(try box.tasker(["create", "--stop-signal", "SIGNOPE", image, "true"]).status == 64)
  }

  @Test func restartStartsTheSameCommandOverTheSameRoot() throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--network", "none"])
    defer { box.scratch.remove() }
    // A bind and the task's /etc files are mounts made from descriptors: a restart makes them again.
    let shared = try box.scratch.sub("shared")
    let id = try box.tasker([
      "create", "--network", "none", "-v", shared.path + ":/shared", images.url("busybox.tar.gz"), "--", "/bin/sh",
      "-c", "echo run >> /runs; cat /etc/hostname >> /shared/seen; sleep 60",
    ]).stdout.trimmingCharacters(in: .newlines)
    defer { _ = try? box.tasker(["rm", "--force", id]) }
    let runs = box.downloads.appendingPathComponent(id + "/runs").path
    #expect(try eventually { (try? String(contentsOfFile: runs, encoding: .utf8)) == "run\n" })
    let before = try box.json(id)["pid"] as? Int
    let restarted = try box.tasker(["restart", "-t", "1", id])
    #expect(restarted.status == 0 && restarted.stdout == id + "\n", "\(restarted.stderr)")
    #expect(try eventually { (try? String(contentsOfFile: runs, encoding: .utf8)) == "run\nrun\n" })
    let seen = shared.appendingPathComponent("seen").path
    #expect(try eventually { (try? String(contentsOfFile: seen, encoding: .utf8)) == id + "\n" + id + "\n" })
    let now = try box.json(id)
    #expect(now["exists"] as? Bool == true)
    #expect(now["exitCode"] is NSNull)
    #expect(now["pid"] as? Int != before)
    // The new processes are the task's: stop reaches them.
    #expect(try box.tasker(["stop", id]).status == 0)
    #expect(try box.json(id)["signalName"] as? String == "SIGTERM")
  }

  /// A bind source the task could swap (a directory inside another bind it writes) for a
  /// symlink to a host path: restart binds the object create bound or nothing.
  @Test func restartNeverBindsWhatTheTaskSwappedIn() throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--network", "none"])
    defer { box.scratch.remove() }
    let app = try box.scratch.sub("app")
    _ = try box.scratch.sub("app/conf")
    let secret = try box.scratch.sub("secret")
    try "host secret\n".write(to: secret.appendingPathComponent("file"), atomically: true, encoding: .utf8)
    let id = try box.tasker([
      "create", "--network", "none", "-v", app.path + ":/app", "-v", app.path + "/conf:/conf:ro",
      images.url("busybox.tar.gz"), "sleep 60",
    ]).stdout.trimmingCharacters(in: .newlines)
    defer { _ = try? box.tasker(["rm", "--force", id]) }
    let swapped = try box.tasker(["exec", id, "sh", "-c", "rm -r /app/conf && ln -s \(secret.path) /app/conf"])
    #expect(swapped.status == 0, "\(swapped.stderr)")
    let restarted = try box.tasker(["restart", "-t", "1", id])
    #expect(restarted.status == 1 && restarted.stderrLines.count == 1, "\(restarted.stderr)")
    #expect(restarted.stderr.contains("no longer what it was"), "\(restarted.stderr)")
    // Refused before the stop: the task still runs, without the host's file.
    #expect(try box.health(id).contains("exists: True"))
    #expect(try box.tasker(["exec", id, "cat", "/conf/file"]).status != 0)
  }

  @Test func theSupervisorKeepsARestartPolicy() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let image = images.url("busybox.tar.gz")
    let shared = try box.scratch.sub("shared")
    try "given\n".write(to: shared.appendingPathComponent("given"), atomically: true, encoding: .utf8)
    let failing = try box.tasker([
      "create", "--network", "none", "--restart", "on-failure:2", "-v", shared.path + ":/shared:ro", image, "--",
      "/bin/sh", "-c", "echo run >> /runs; cat /etc/hostname /shared/given >> /runs; touch /shared/x; exit 3",
    ]).stdout.trimmingCharacters(in: .newlines)
    defer { _ = try? box.tasker(["rm", "--force", failing]) }
    // wait returns once the policy is done with it.
    #expect(try box.tasker(["wait", failing]).status == 3)
    let status = try box.json(failing)
    #expect(status["restartCount"] as? Int == 2)
    let runs = try String(contentsOfFile: box.downloads.appendingPathComponent(failing + "/runs").path, encoding: .utf8)
    // Every start had the bind (read-only still) and the task's /etc/hostname.
    #expect(runs == String(repeating: "run\n\(failing)\ngiven\n", count: 3))
    #expect(!FileManager.default.fileExists(atPath: shared.appendingPathComponent("x").path))

    let always = try box.tasker([
      "create", "--network", "none", "--restart", "always", image, "--", "/bin/sh", "-c", "sleep 0.2",
    ]).stdout.trimmingCharacters(in: .newlines)
    defer { _ = try? box.tasker(["rm", "--force", always]) }
    #expect(try eventually { (try box.json(always)["restartCount"] as? Int ?? 0) >= 2 })
    // stop ends it for good: the policy does not start it again.
    #expect(try box.tasker(["stop", always]).status == 0)
    let count = try box.json(always)["restartCount"] as? Int
    usleep(800_000)
    let after = try box.json(always)
    #expect(after["exists"] as? Bool == false)
    #expect(after["restartCount"] as? Int == count)
    #expect(try box.tasker(["create", "--restart", "sometimes", image, "true"]).status == 64)
  }

  @Test(.timeLimit(.minutes(1))) func ctrlCEndsARunWithARestartPolicyForGood() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: taskerPath)
    process.arguments = [
      "run", "--network", "none", "--restart", "always", "--name", "forever", images.url("busybox.tar.gz"), "sleep 30",
    ]
    process.environment = ["TASKER_ROOT": box.state.path, "PATH": "/usr/bin:/bin"]
    process.currentDirectoryURL = box.downloads
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    defer { _ = try? box.tasker(["rm", "--force", "forever"]) }
    #expect(try eventually { (try? box.json("forever"))?["status"] as? String == "sleeping" })
    kill(process.processIdentifier, SIGINT)
    process.waitUntilExit()
    #expect(process.terminationStatus == 128 + SIGINT)
    let status = try box.json("forever")
    #expect(status["exists"] as? Bool == false)
    #expect(status["restartCount"] as? Int == 0)
  }

  @Test func anOutOfMemoryEndIsReportedAsSuch() throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--network", "none"])
    defer { box.scratch.remove() }
    // busybox tail keeps a line whole: 100 MB without a newline is 100 MB of its memory.
    let result = try box.tasker([
      "run", "--network", "none", "--memory", "32m", "--name", "hog", images.url("busybox.tar.gz"),
      "sh -c 'head -c 100m /dev/zero | tail > /dev/null'",
    ])
    #expect(result.status == 137)
    #expect(result.stderr.contains("ran out of memory"), "\(result.stderr)")
    let status = try box.json("hog")
    #expect(status["oomKilled"] as? Bool == true)
    #expect(try box.tasker(["list"]).stdout.contains("oom-killed"))
    let fine = try box.tasker(["run", "--network", "none", "--memory", "32m", images.url("busybox.tar.gz"), "true"])
    #expect(fine.status == 0)
    let listed = try box.tasker(["list", "--json"]).stdout
    #expect(listed.contains("\"oomKilled\":false"))
  }

  @Test func usageIsMeasuredWithoutLimitsAndStatsShowsIt() throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--network", "none"])
    defer { box.scratch.remove() }
    let id = try box.create(images.url("busybox.tar.gz"), ["--", "/bin/sh", "-c", "while :; do :; done"])
    defer { _ = try? box.tasker(["rm", "--force", id]) }
    let usage = try #require(try box.json(id)["usage"] as? [String: Any])
    let cgroups = (try? String(contentsOfFile: "/proc/cgroups", encoding: .utf8)) ?? ""
    if cgroups.split(separator: "\n").contains(where: { $0.hasPrefix("memory\t") && $0.hasSuffix("\t1") }) {
      #expect((usage["memoryBytes"] as? Int ?? 0) > 0, "\(usage)")
    }
    #expect(usage["cpuSeconds"] is Double, "\(usage)")
    let table = try box.tasker(["stats"])
    #expect(table.status == 0)
    let lines = table.stdout.split(separator: "\n")
    #expect(lines.count == 2)
    #expect(lines.first?.hasPrefix("ID") == true && lines.first?.contains("CPU %") == true)
    #expect(lines.last?.hasPrefix(id) == true)
    let json = try box.tasker(["stats", "--json", id]).stdout
    let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
    #expect(rows.count == 1)
    // A busy loop on a CPU of its own: far above nothing (never a timing bound).
    #expect((rows.first?["cpuPercent"] as? Double ?? 0) > 5, "\(json)")
    #expect(rows.first?["processes"] as? Int == 2)
    #expect(try box.tasker(["stop", "-t", "0", id]).status == 0)
    #expect(try box.tasker(["stats", id]).status == 1)
  }

  @Test func exportedRootsBecomeImages() throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--network", "none"])
    defer { box.scratch.remove() }
    let id = try box.create(
      images.url("busybox.tar.gz"),
      [
        "--", "/bin/sh", "-c",
        "echo made > /made; ln /made /linked; ln -s /etc/passwd /pointer; mkdir -p /d/e; chown 12:34 /d/e; "
          + "chmod 4711 /d/e; touch /ready; sleep 60",
      ])
    defer { _ = try? box.tasker(["rm", "--force", id]) }
    #expect(try eventually { FileManager.default.fileExists(atPath: box.downloads.path + "/\(id)/ready") })
    let script = "/usr/bin/script"
    if FileManager.default.isExecutableFile(atPath: script) {
      let onTerminal = try run(
        script, ["-qec", "\(taskerPath) export \(id); echo status $?", "/dev/null"],
        environment: ["TASKER_ROOT": box.state.path])
      #expect(onTerminal.stdout.contains("refusing to write a tar archive to a terminal"), "\(onTerminal.stdout)")
      #expect(onTerminal.stdout.contains("status 64"))
    }
    let archive = box.scratch.url.appendingPathComponent("exported.tar").path
    let exported = try box.tasker(["export", "-o", archive, id])
    #expect(exported.status == 0, "\(exported.stderr)")
    let members = try run("/bin/tar", ["-tvf", archive]).stdout
    #expect(members.contains("made link to linked"), "names in order: the first is the file, the next its link")
    #expect(members.contains("pointer -> /etc/passwd"))
    #expect(members.contains("drws--x--x 12/34"))
    #expect(!members.contains(" proc/self"), "the jail's /proc is not the task's root")
    let again = try box.tasker([
      "run", "--network", "none", archive, "--", "/bin/sh", "-c",
      "cat /made /linked; stat -c '%u:%g %a' /d/e; readlink /pointer",
    ])
    #expect(again.status == 0, "\(again.stderr)")
    #expect(again.stdout == "made\nmade\n12:34 4711\n/etc/passwd\n")
  }

  /// A file with a 1 TiB hole costs its data in the archive, not its size: GNU tar lists it
  /// whole, and create takes it back with its size and its data where it was.
  @Test func exportWritesSparseFilesSparse() throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--network", "none"])
    defer { box.scratch.remove() }
    let id = try box.create(images.url("busybox.tar.gz"), ["--", "/bin/sh", "-c", "touch /ready; sleep 60"])
    defer { _ = try? box.tasker(["rm", "--force", id]) }
    #expect(try eventually { FileManager.default.fileExists(atPath: box.downloads.path + "/\(id)/ready") })
    // 1 TiB, with "sparse-data" at 5 GiB and a hole at each side of it; and 1 GiB of hole only.
    let made = try box.tasker([
      "exec", id, "sh", "-c",
      "dd if=/dev/zero of=/hole bs=1 seek=1073741824 count=0 2>/dev/null && "
        + "dd if=/dev/zero of=/big bs=1 seek=1099511627776 count=0 2>/dev/null && "
        + "printf sparse-data | dd of=/big bs=1 seek=5368709120 conv=notrunc 2>/dev/null",
    ])
    #expect(made.status == 0, "\(made.stderr)")
    let archive = box.scratch.url.appendingPathComponent("exported.tar").path
    let exported = try box.tasker(["export", "-o", archive, id])
    #expect(exported.status == 0, "\(exported.stderr)")
    #expect(try #require(Self.status(archive)).st_size < 8 << 20)
    let members = try run("/bin/tar", ["-tvf", archive])
    #expect(members.status == 0, "\(members.stderr)")
    #expect(members.stdout.contains(" 1099511627776 "), "\(members.stdout)")
    #expect(members.stdout.contains(" big\n"))
    #expect(members.stdout.contains(" 1073741824 "), "\(members.stdout)")
    #expect(!members.stdout.contains("GNUSparseFile"), "GNU tar reads the sparse member as the file")

    // GNU tar extracts it: the size, the data at its offset, and zeros around it.
    let unpacked = box.scratch.url.appendingPathComponent("unpacked").path
    try FileManager.default.createDirectory(atPath: unpacked, withIntermediateDirectories: false)
    let extracted = try run("/bin/tar", ["-C", unpacked, "-xf", archive, "big"])
    #expect(extracted.status == 0, "\(extracted.stderr)")
    let big = try #require(Self.status(unpacked + "/big"))
    #expect(big.st_size == 1 << 40)
    #expect(Int(big.st_blocks) * 512 < 1 << 20, "extracted sparse")
    let handle = try #require(FileHandle(forReadingAtPath: unpacked + "/big"))
    try handle.seek(toOffset: (5 << 30) - 4)
    #expect(try handle.read(upToCount: 19) == Data([0, 0, 0, 0] + Array("sparse-data".utf8) + [0, 0, 0, 0]))
    try handle.close()

    // And create takes it back the same.
    let again = try box.tasker([
      "run", "--network", "none", archive, "--", "/bin/sh", "-c",
      "stat -c %s /hole /big; dd if=/big bs=1 skip=5368709116 count=19 2>/dev/null | od -An -c",
    ])
    #expect(again.status == 0, "\(again.stderr)")
    #expect(
      again.stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") } == [
        "1073741824", "1099511627776", "\\0 \\0 \\0 \\0 s p a r s e - d a t a \\0", "\\0 \\0 \\0",
      ], "\(again.stdout)")
  }

  /// A task that holds a lease on one of its files cannot make export wait or fail: that file is
  /// left out, said on stderr, and the rest is written.
  @Test func exportSkipsLeasedFiles() throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--network", "none"])
    defer { box.scratch.remove() }
    let id = try box.create(
      images.url("busybox-escape.tar"), ["--", "/bin/sh", "-c", "echo kept > /kept; exec /lease /zz /ready"])
    defer { _ = try? box.tasker(["rm", "--force", id]) }
    #expect(try eventually { FileManager.default.fileExists(atPath: box.downloads.path + "/\(id)/ready") })
    let archive = box.scratch.url.appendingPathComponent("exported.tar").path
    let exported = try box.tasker(["export", "-o", archive, id])
    #expect(exported.status == 0, "\(exported.stderr)")
    #expect(exported.stderr == "tasker: warning: skipped \"/zz\": another process holds a lease on it\n")
    let members = try run("/bin/tar", ["-tf", archive]).stdout.split(separator: "\n")
    #expect(members.contains("kept"))
    #expect(members.contains("bin/busybox"))
    #expect(!members.contains("zz"))
  }

  static func status(_ path: String) -> stat? {
    var info = stat()
    return lstat(path, &info) == 0 ? info : nil
  }
}
