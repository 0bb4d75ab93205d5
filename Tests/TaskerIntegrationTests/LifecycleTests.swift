import Foundation
import Glibc
import Testing

/// run, list, logs, wait, rm, prune, names, prefixes: the task manager as a user lives with it.
@Suite(.enabled(if: isRoot, rootReason))
struct LifecycleTests {
  @Test func runStreamsOutputAndExitsWithTheTasksCode() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let image = images.url("busybox.tar.gz")
    let result = try box.tasker(["run", image, "--", "/bin/sh", "-c", "echo one; echo two >&2; echo three; exit 4"])
    #expect(result.status == 4)
    #expect(result.stdout == "one\nthree\n")
    #expect(result.stderr == "two\n")
    let killed = try box.tasker(["run", image, "sh -c 'kill -TERM $$'"])
    #expect(killed.status == 128 + 15)
    let missing = try box.tasker(["run", image, "no-such-command"])
    #expect(missing.status == 127)
    #expect(missing.stdout.isEmpty && missing.stderrLines.count == 1)
  }

  @Test func runPassesCtrlCToTheTask() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: taskerPath)
    process.arguments = ["run", images.url("busybox.tar.gz"), "sleep 30"]
    process.environment = ["TASKER_ROOT": box.state.path, "PATH": "/usr/bin:/bin"]
    process.currentDirectoryURL = box.downloads
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    #expect(try eventually { try box.tasker(["list", "--json"]).stdout.contains("\"status\":\"sleeping\"") })
    kill(process.processIdentifier, SIGINT)
    process.waitUntilExit()
    #expect(process.terminationStatus == 128 + 2)
    let listed = try box.tasker(["list", "--json"]).stdout
    #expect(listed.contains("\"signal\":2"), "\(listed)")
  }

  @Test func listShowsEveryTaskInThreeForms() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let image = images.url("busybox.tar.gz")
    let sleeping = try box.create(image, ["sleep 30"])
    defer { _ = try? box.tasker(["rm", "--force", sleeping]) }
    let exited = try box.create(image, ["sh -c 'exit 3'"])
    #expect(try eventually { try box.json(exited)["exitCode"] as? Int == 3 })
    #expect(try eventually { try box.health(sleeping).contains("sleeping") })

    let table = try box.tasker(["list"])
    #expect(table.status == 0)
    let lines = table.stdout.split(separator: "\n").map(String.init)
    #expect(lines.count == 3)
    #expect(
      lines[0].split(separator: " ", omittingEmptySubsequences: true) == ["ID", "STATUS", "PID", "CREATED", "COMMAND"])
    let sleepingRow = try #require(lines.first { $0.hasPrefix(sleeping) })
    #expect(sleepingRow.contains("running") && sleepingRow.hasSuffix("sleep 30"))
    let exitedRow = try #require(lines.first { $0.hasPrefix(exited) })
    #expect(exitedRow.contains("exited (3)") && exitedRow.contains("ago") || exitedRow.contains("just now"))
    // Columns line up: every row's STATUS starts where the header's does.
    let statusColumn = try #require(lines[0].range(of: "STATUS")).lowerBound.utf16Offset(in: lines[0])
    for line in lines.dropFirst() {
      #expect(line.dropFirst(statusColumn).first?.isLetter == true, "\(line)")
    }

    let quiet = try box.tasker(["ps", "--quiet"])
    #expect(quiet.stdout == [exited, sleeping].sorted().map { $0 + "\n" }.joined())

    let json = try box.tasker(["list", "--json"])
    let array = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
    #expect(array.map { $0["id"] as? String } == [exited, sleeping].sorted())
    let single = try box.json(exited)
    let fromList = try #require(array.first { $0["id"] as? String == exited })
    let canonical = { (object: [String: Any]) in
      try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }
    #expect(try canonical(fromList) == canonical(single))
  }

  /// The COMMAND column, pasted into /bin/sh, gives back the task's words, also when a quote is
  /// followed by a combining mark (one `Character` with it: found by fuzzing).
  @Test func listShowsCommandsAsAShellSplitsThemBack() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let words = ["echo", "it'\u{032C}s", "'\u{032C}", "two words", "", "$HOME", "x=1", "caf\u{E9}", "\\"]
    let id = try box.create(images.url("busybox.tar.gz"), ["--"] + words)
    #expect(try box.tasker(["wait", id]).status == 0)
    #expect(try box.tasker(["logs", id]).stdout == words.dropFirst().joined(separator: " ") + "\n")

    let lines = try box.tasker(["list"]).stdout.split(separator: "\n").map(String.init)
    // The cells before COMMAND are ASCII, so the header's offset is the row's.
    let column = try #require(lines.first?.range(of: "COMMAND")).lowerBound.utf16Offset(in: lines[0])
    let row = try #require(lines.first { $0.hasPrefix(id) })
    let command = String(decoding: Array(row.utf8).dropFirst(column), as: UTF8.self)
    let script = "set -- " + command + "; for w; do printf '%s\\0' \"$w\"; done"
    let shell = try run("/bin/sh", ["-c", script])
    #expect(shell.status == 0, "\(shell.stderr)")
    #expect(
      shell.stdout.split(separator: "\0", omittingEmptySubsequences: false).dropLast() == words[...].map { $0[...] })
    #expect(try box.tasker(["rm", id]).status == 0)
  }

  @Test func logsKeepEachStreamInOrderAndFollowUntilTheEnd() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let script = "for i in 1 2 3 4 5; do echo out$i; echo err$i >&2; sleep 0.1; done; exit 0"
    let id = try box.create(images.url("busybox.tar.gz"), ["--", "/bin/sh", "-c", script])
    let followed = try box.tasker(["logs", "--follow", id])
    #expect(followed.status == 0)
    #expect(followed.stdout == "out1\nout2\nout3\nout4\nout5\n")
    #expect(followed.stderr == "err1\nerr2\nerr3\nerr4\nerr5\n")
    // After the end, until rm, the logs stay.
    let later = try box.tasker(["logs", id])
    #expect(later.stdout == followed.stdout && later.stderr == followed.stderr)
    #expect(try box.tasker(["rm", id]).status == 0)
    let gone = try box.tasker(["logs", id])
    #expect(gone.status != 0 && gone.stderr.contains("no such task"))
  }

  @Test func waitExitsWithTheTasksCode() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let image = images.url("busybox.tar.gz")
    let exits = try box.create(image, ["sh -c 'sleep 0.3; exit 9'"])
    #expect(try box.tasker(["wait", exits]).status == 9)
    #expect(try box.tasker(["wait", exits]).status == 9, "a finished task answers at once")
    let killed = try box.create(image, ["sleep 30"])
    let killer = Thread {
      usleep(300_000)
      _ = try? box.tasker(["kill", killed, "KILL"])
    }
    killer.start()
    #expect(try box.tasker(["wait", killed]).status == 128 + 9)
    let unknown = try box.tasker(["wait", "ffffffffffff"])
    #expect(unknown.status != 0 && unknown.stderr.contains("no such task"))
  }

  @Test(arguments: ["jail", "chroot"])
  func rmRefusesRunningTasksAndForceKillsEverything(isolation: String) throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--isolation", isolation])
    defer { box.scratch.remove() }
    // A background child, one in a session of its own, and the command itself; a duration no
    // other test uses, so the host can tell these processes apart.
    let duration = isolation == "jail" ? "101" : "102"
    // (A chroot of the busybox image has no /dev/null, which the shell's background jobs need.)
    let script =
      "[ -e /dev/null ] || mknod -m 666 /dev/null c 1 3; sleep \(duration) & setsid sleep \(duration) & exec sleep \(duration)"
    let id = try box.create(images.url("busybox.tar.gz"), ["--", "/bin/sh", "-c", script])
    let rootfs = box.downloads.appendingPathComponent(id)
    #expect(try eventually { sleepers(duration).count == 3 })
    let before = Set(sleepers(duration))

    let refused = try box.tasker(["rm", id])
    #expect(refused.status != 0 && refused.stderr.contains("running"))
    #expect(FileManager.default.fileExists(atPath: rootfs.path))

    let forced = try box.tasker(["rm", "--force", id])
    #expect(forced.status == 0)
    #expect(forced.stdout == id + "\n")
    #expect(Set(sleepers(duration)).isDisjoint(with: before), "a process of the task survived rm --force")
    #expect(!FileManager.default.fileExists(atPath: rootfs.path))
    #expect(box.tasksOnRecord().isEmpty)
    for arguments in [["rm", id], ["rm", "--force", id]] {
      let again = try box.tasker(arguments)
      #expect(again.status != 0 && again.stderr.contains("no such task"))
    }
  }

  @Test func environmentAndWorkingDirectory() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let image = images.url("busybox.tar.gz")
    let env = try box.tasker(["run", "--env", "GREETING=hello world", "--env", "EMPTY=", image, "env"])
    let lines = Set(env.stdout.split(separator: "\n").map(String.init))
    #expect(lines.contains("GREETING=hello world"))
    #expect(lines.contains("EMPTY="))
    #expect(lines.contains { $0.hasPrefix("PATH=") && $0.contains("/bin") })
    #expect(lines.contains("HOME=/root"), "the defaults stay under the user's variables")
    let twice = try box.tasker(["run", "--env", "X=1", "--env", "X=2", image, "env"])
    #expect(twice.stdout.split(separator: "\n").filter { $0.hasPrefix("X=") } == ["X=2"])
    let defaults = try box.tasker(["run", image, "env"])
    #expect(defaults.stdout.contains("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"))
    let pwd = try box.tasker(["run", "--workdir", "/tmp", image, "pwd"])
    #expect(pwd.stdout == "/tmp\n")
    let bad = try box.tasker(["run", "--env", "=value", image, "env"])
    #expect(bad.status == 64 && bad.stderr.contains("no variable name"), "\(bad.stderr)")
  }

  @Test func namesAndPrefixesWorkWhereverAnIDDoes() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let image = images.url("busybox.tar.gz")
    let id = try box.tasker(["create", "--name", "web-1", image, "sleep 30"]).stdout.trimmingCharacters(in: .newlines)
    #expect(try box.health("web-1").hasPrefix("exists: True"))
    #expect(try box.health(String(id.prefix(6))).hasPrefix("exists: True"))

    let clash = try box.tasker(["create", "--name", "web-1", image, "true"])
    #expect(clash.status != 0 && clash.stderr.contains("web-1") && clash.stdout.isEmpty)
    #expect(listing(box.downloads) == [id])
    let invalid = try box.tasker(["create", "--name", "bad/name", image, "true"])
    #expect(invalid.status != 0)
    let idLike = try box.tasker(["create", "--name", "abc123def456", image, "true"])
    #expect(idLike.status == 64 && idLike.stderr.contains("looks like a task ID"))
    let misplaced = try box.tasker(["create", image, "--name", "late", "true"])
    #expect(misplaced.status == 64 && misplaced.stderr.contains("before IMAGE_URL"), "\(misplaced.stderr)")

    #expect(try box.tasker(["kill", "web-1", "KILL"]).status == 0)
    #expect(try box.tasker(["wait", "web-1"]).status == 137)
    #expect(try box.tasker(["rm", "web-1"]).status == 0)
    // The name is free again.
    let reused = try box.tasker(["create", "--name", "web-1", image, "true"])
    #expect(reused.status == 0)

    // Make two IDs that share a first digit, then that digit alone is ambiguous.
    var ids = [reused.stdout.trimmingCharacters(in: .newlines)]
    while Set(ids.map(\.first)).count == ids.count {
      ids.append(try box.create(image, ["true"]))
    }
    let shared = try #require(
      Dictionary(grouping: ids, by: { $0.prefix(1) }).first { $0.value.count > 1 }?.key)
    let ambiguous = try box.tasker(["health_check", String(shared)])
    #expect(ambiguous.status != 0 && ambiguous.stderr.contains("ambiguous"))
  }

  @Test func aCreateKilledHalfWayIsCleanedAndNeverListed() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    for cleaner in [["list"], ["prune"]] {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: taskerPath)
      process.arguments = ["create", "--timeout", "60", images.url("stall/busybox.tar.gz"), "true"]
      process.environment = ["TASKER_ROOT": box.state.path]
      process.currentDirectoryURL = box.downloads
      try process.run()
      // Wait until the create is extracting its image, then kill it outright.
      let cache = box.state.appendingPathComponent("images")
      // (A task directory proper, not a `.new-` one still being born.)
      #expect(
        try eventually {
          box.tasksOnRecord().contains { !$0.hasPrefix(".") } && listing(cache).contains { $0.hasPrefix(".tmp-") }
        })
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()

      let result = try box.tasker(cleaner)
      #expect(result.status == 0)
      if cleaner == ["list"] { #expect(result.stdout.split(separator: "\n").count == 1, "only the header") }
      #expect(listing(box.downloads).isEmpty, "\(cleaner): \(listing(box.downloads))")
      #expect(box.tasksOnRecord().isEmpty, "\(cleaner): \(box.tasksOnRecord())")
      if cleaner == ["prune"] {
        #expect(!listing(cache).contains { $0.hasPrefix(".tmp-") }, "prune removes the half-extracted image")
      }
    }
  }

  @Test func aDamagedRecordOfARunningTaskIsRemovedWithItsProcesses() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let id = try box.create(images.url("busybox.tar.gz"), ["sleep 105"])
    #expect(try eventually { sleepers("105").count == 1 })
    try Data("{".utf8).write(to: box.state.appendingPathComponent("tasks/\(id)/task.json"))
    let refused = try box.tasker(["rm", id])
    #expect(refused.status != 0 && refused.stderr.contains("running"), "\(refused.stderr)")
    #expect(try box.tasker(["rm", "--force", id]).status == 0)
    #expect(try eventually { sleepers("105").isEmpty })
    #expect(listing(box.downloads).isEmpty)
    #expect(box.tasksOnRecord().isEmpty)
  }

  /// rm --force ends the task's processes, not a host process that merely entered its directory.
  @Test(arguments: ["jail", "chroot"])
  func rmForceSparesAHostProcessInTheTaskDirectory(isolation: String) throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--isolation", isolation])
    defer { box.scratch.remove() }
    let id = try box.create(images.url("busybox.tar.gz"), ["sleep 30"])
    let visitor = Process()
    visitor.executableURL = URL(fileURLWithPath: "/usr/sbin/chroot")
    visitor.arguments = [
      box.downloads.appendingPathComponent(id).path, "/bin/sleep", isolation == "jail" ? "106" : "107",
    ]
    try visitor.run()
    defer { visitor.terminate() }
    #expect(try eventually { visitor.isRunning })
    #expect(try box.tasker(["rm", "--force", id]).status == 0)
    usleep(200_000)
    #expect(visitor.isRunning, "rm --force killed a process the task did not start")
  }

  @Test func runEndsTheTaskWhenItsReaderGoesAway() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let script = "\(taskerPath) run \(images.url("busybox.tar.gz")) yes | head -1; echo status ${PIPESTATUS[0]}"
    let result = try run("/bin/bash", ["-c", script], in: box.downloads, environment: ["TASKER_ROOT": box.state.path])
    #expect(result.stdout == "y\nstatus 141\n", "\(result.stdout) \(result.stderr)")
    #expect(try eventually { try box.tasker(["list", "--json"]).stdout.contains("\"signal\":13") })
  }

  @Test func aDamagedRecordHarmsOnlyItsTask() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let image = images.url("busybox.tar.gz")
    let good = try box.create(image, ["true"])
    let bad = try box.create(image, ["true"])
    let record = box.state.appendingPathComponent("tasks/\(bad)/task.json")
    let bytes = try Data(contentsOf: record)
    try bytes.prefix(bytes.count / 2).write(to: record)

    let health = try box.tasker(["health_check", bad])
    #expect(health.status != 0 && health.stderrLines.count == 1 && health.stderr.contains("damaged"))
    #expect(try box.tasker(["health_check", good]).status == 0)
    let json = try box.tasker(["list", "--json"])
    #expect(json.status == 0)
    let array = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
    #expect(array.map { $0["id"] as? String } == [good])
    #expect(json.stderr.contains(bad))
    let table = try box.tasker(["list"])
    #expect(table.stdout.contains(good) && table.stdout.contains("damaged"))
    #expect(try box.tasker(["rm", bad]).status == 0)
    #expect(try box.tasker(["list", "-q"]).stdout == good + "\n")
  }

  /// A task that nests directories 10,000 levels deep (more than `rm`'s descriptor limit, set
  /// low here) is removed whole: its record, its root and the writes that landed in its state.
  @Test func rmRemovesATaskThatNestedTenThousandLevelsDeep() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    // 100 times 100 levels (`d/d/.../d`), with `cd -P`: a logical `cd` gives up once the path
    // it keeps passes PATH_MAX, and each `cd` costs busybox a walk up to find its directory.
    let script = """
      p=d; i=1; while [ $i -lt 100 ]; do p=$p/d; i=$((i+1)); done
      cd /; j=0; while [ $j -lt 100 ]; do mkdir -p $p && cd -P $p || exit 1; j=$((j+1)); done
      """
    let id = try box.create(images.url("busybox.tar.gz"), ["--", "/bin/sh", "-c", script])
    #expect(try box.tasker(["wait", id]).status == 0)
    // The writes are in the overlay's upper layer, in the task's state.
    let upper = box.state.appendingPathComponent("tasks/\(id)/upper")
    #expect(nestingDepth(upper.path) == 10_000)

    // One descriptor per level would need 10,000; rm gets 64.
    let removed = try run(
      "/bin/sh", ["-c", "ulimit -n 64 && exec \"$0\" rm \"$1\"", taskerPath, id], in: box.downloads,
      environment: ["TASKER_ROOT": box.state.path])
    #expect(removed.status == 0, "\(removed.stderr)")
    #expect(removed.stdout == id + "\n")
    #expect(box.tasksOnRecord().isEmpty, "rm left \(box.tasksOnRecord()) in the state")
    #expect(listing(box.downloads).isEmpty)
  }

  /// Twenty tasker processes at a time, creating, listing, checking, signalling and removing on
  /// one state root: every task is found, no output is torn, no record is lost.
  @Test func manyTaskersAtOnceNeverCorruptOrLoseATask() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let image = images.url("busybox.tar.gz")
    let created = Locked<[String]>([])
    let problems = Locked<[String]>([])
    DispatchQueue.concurrentPerform(iterations: 20) { index in
      do {
        let made = try box.tasker(["create", image, "sleep 30"])
        let id = made.stdout.trimmingCharacters(in: .newlines)
        guard made.status == 0, id.count == 12 else { throw CocoaError(.fileWriteUnknown) }
        created.update { $0.append(id) }
        let listed = try box.tasker(["list", "--json"])
        _ = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8))
        if listed.status != 0 || !listed.stderr.isEmpty { throw CocoaError(.fileReadCorruptFile) }
        let health = try box.tasker(["health_check", id])
        if health.stdout != "exists: True\nstatus: sleeping\n" && health.stdout != "exists: True\nstatus: running\n" {
          throw CocoaError(.fileReadUnknown)
        }
        if index % 2 == 0 {
          _ = try box.tasker(["send_signal", id, "SIGINT"])
          _ = try box.tasker(["wait", id])
          let removed = try box.tasker(["rm", id])
          if removed.status != 0 { throw CocoaError(.fileWriteNoPermission) }
          created.update { $0.removeAll { $0 == id } }
        }
      } catch {
        problems.update { $0.append("worker \(index): \(error)") }
      }
    }
    #expect(problems.value.isEmpty, "\(problems.value)")
    let remaining = try box.tasker(["list", "-q"]).stdout.split(separator: "\n").map(String.init)
    #expect(remaining == created.value.sorted())
    #expect(listing(box.downloads) == created.value.sorted())
    for id in created.value { _ = try box.tasker(["rm", "-f", id]) }
    #expect(listing(box.downloads).isEmpty)
  }
}

/// How many directories named `d` nest inside `path`, followed by descriptors (the paths of
/// deep ones exceed PATH_MAX).
func nestingDepth(_ path: String) -> Int {
  var fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
  var depth = 0
  while fd >= 0 {
    let child = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    close(fd)
    fd = child
    if child >= 0 { depth += 1 }
  }
  return depth
}

/// PIDs of every `sleep SECONDS` on the host.
func sleepers(_ seconds: String) -> [Int32] {
  ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }.filter { pid in
    let cmdline = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))) ?? Data()
    return String(decoding: cmdline, as: UTF8.self) == "sleep\u{0}\(seconds)\u{0}"
  }
}
