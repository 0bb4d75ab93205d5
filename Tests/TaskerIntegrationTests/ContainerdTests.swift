import Foundation
import Glibc
import Testing

/// containerd drives the OCI runtime under test (tasker-runtime, or `$TASKER_TEST_OCI_RUNTIME`)
/// through its runc shim, as `ctr` users and Kubernetes (through the same shim) do: run, exec,
/// ps, pause and resume, kill, a terminal, and removal that leaves nothing behind.
@Suite(
  .enabled(if: Containerd.unavailable == nil, Comment(rawValue: Containerd.unavailable ?? "")), .containerd)
struct ContainerdTests {
  @Test func runPrintsTheOutputAndExitsWithTheTasksCode() throws {
    let daemon = try #require(Containerd.current)
    let id = Containerd.uniqueID("exit")
    defer { daemon.remove(id) }
    let result = try daemon.ctr(
      ["run", "--rm"] + daemon.runOptions + [Containerd.image, id, "sh", "-c", "echo hi; exit 3"])
    #expect(result.stdout == "hi\n", "stderr: \(result.stderr)")
    #expect(result.status == 3, "stderr: \(result.stderr)")
    #expect(try !daemon.containers().contains(id), "--rm left the container")
  }

  @Test func execRunsInTheContainer() throws {
    let daemon = try #require(Containerd.current)
    let id = Containerd.uniqueID("exec")
    defer { daemon.remove(id) }
    let started = try daemon.startDetached(id, ["sleep", "1000"])
    try #require(started.status == 0, "ctr run -d: \(started.stderr)")

    let exec = try daemon.exec(id, "e1", ["sh", "-c", "echo from-exec"])
    #expect(exec.stdout == "from-exec\n", "stderr: \(exec.stderr)")
    #expect(exec.status == 0)
    // In the container's PID namespace: its PID 1 is the task's sleep.
    let pidOne = try daemon.exec(id, "e2", ["sh", "-c", "tr '\\0' ' ' </proc/1/cmdline"])
    #expect(pidOne.stdout == "sleep 1000 ", "stderr: \(pidOne.stderr)")
    let failing = try daemon.exec(id, "e3", ["sh", "-c", "exit 5"])
    #expect(failing.status == 5, "stderr: \(failing.stderr)")
  }

  @Test func psListsTheContainersProcesses() throws {
    let daemon = try #require(Containerd.current)
    let id = Containerd.uniqueID("ps")
    defer { daemon.remove(id) }
    let started = try daemon.startDetached(id, ["sh", "-c", "sleep 1000 & wait"])
    try #require(started.status == 0, "ctr run -d: \(started.stderr)")
    let initPID = try #require(try daemon.pid(id))

    #expect(try eventually(seconds: 20) { try daemon.processes(id).count == 2 })
    let pids = try daemon.processes(id)
    #expect(pids.contains(initPID), "ps \(pids) lacks the init \(initPID)")
    for pid in pids where pid != initPID {
      let process = hostProcess(pid)
      #expect(process?.name == "sleep", "\(pid) is \(String(describing: process))")
      #expect(process?.parent == initPID)
    }
  }

  @Test func pauseFreezesAndResumeThaws() throws {
    let daemon = try #require(Containerd.current)
    let id = Containerd.uniqueID("pause")
    defer { daemon.remove(id) }
    // A counter the host reads through the init's root: it moves only while the task runs.
    let started = try daemon.startDetached(
      id, ["sh", "-c", "i=0; while :; do i=$((i+1)); echo $i >/tmp/n; sleep 0.05; done"])
    try #require(started.status == 0, "ctr run -d: \(started.stderr)")
    let pid = try #require(try daemon.pid(id))
    let counter = "/proc/\(pid)/root/tmp/n"
    func count() -> String? { try? String(contentsOfFile: counter, encoding: .utf8) }
    #expect(eventually(seconds: 20) { count() != nil })

    let pause = try daemon.ctr(["task", "pause", id])
    #expect(pause.status == 0, "\(pause.stderr)")
    #expect(try daemon.status(id) == "PAUSED")
    let frozen = count()
    usleep(500_000)
    #expect(count() == frozen, "the task kept running while paused")

    let resume = try daemon.ctr(["task", "resume", id])
    #expect(resume.status == 0, "\(resume.stderr)")
    #expect(try daemon.status(id) == "RUNNING")
    #expect(eventually(seconds: 20) { count() != frozen }, "the task did not run again after resume")
  }

  @Test func sigtermEndsTheTask() throws {
    let daemon = try #require(Containerd.current)
    let id = Containerd.uniqueID("term")
    defer { daemon.remove(id) }
    // A PID namespace's init receives only the signals it handles (the kernel drops the rest),
    // so `sleep 1000` runs under a shell, as init, that handles SIGTERM with a code of its own.
    let started = try daemon.startDetached(id, ["sh", "-c", "trap 'exit 42' TERM; sleep 1000 & wait"])
    try #require(started.status == 0, "ctr run -d: \(started.stderr)")
    // The trap is set once the sleep runs.
    #expect(try eventually(seconds: 20) { try daemon.processes(id).count == 2 })

    let kill = try daemon.ctr(["task", "kill", "--signal", "SIGTERM", id])
    #expect(kill.status == 0, "\(kill.stderr)")
    #expect(try eventually(seconds: 20) { try daemon.status(id) == "STOPPED" })
    let delete = try daemon.ctr(["task", "rm", id])
    #expect(delete.status == 0, "\(delete.stderr)")
    // ctr 1.6 reports a task's non-zero exit as it deletes it.
    #expect(delete.stderr.contains("exit code 42"), "\(delete.stderr)")
    let remove = try daemon.ctr(["container", "rm", id])
    #expect(remove.status == 0, "\(remove.stderr)")
    #expect(try !daemon.containers().contains(id))
  }

  @Test func aTerminal() throws {
    let daemon = try #require(Containerd.current)
    let id = Containerd.uniqueID("tty")
    defer { daemon.remove(id) }
    let script = try #require(Containerd.executable("script"), "script (util-linux) is not installed")
    // `ctr run -t` needs a terminal on its stdin: script(1) gives it one, sized 30x100. ctr sets
    // the container's console to its size only once the task has started, and on a 0x0 console
    // busybox's `stty size` prints nothing (and succeeds): the task waits for a size, five
    // seconds at most.
    let command =
      "tty; i=0; until size=$(stty size 2>/dev/null) && [ -n \"$size\" ]; do i=$((i+1)); [ $i -lt 100 ] || exit 9; "
      + "sleep 0.05; done; echo \"$size\"; exit 4"
    let ctr = daemon.ctrCommand(
      ["run", "-t", "--rm"] + daemon.runOptions + [Containerd.image, id, "sh", "-c", command])
    let result = try run(script, ["-qec", "stty rows 30 cols 100; exec " + shellQuoted(ctr), "/dev/null"])
    // What the terminal shows: lines end in "\r\n", and when its stdin (/dev/null) ends, script
    // types a control character, which the container's console echoes (as "^@").
    let lines = result.stdout.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
    let tty = lines.compactMap { line in line.range(of: "/dev/pts/").map { line[$0.upperBound...] } }.first
    #expect(tty.map { !$0.isEmpty && $0.allSatisfy(\.isNumber) } == true, "output: \(lines)")
    #expect(lines.contains("30 100"), "output: \(lines)")
    #expect(result.status == 4, "stderr: \(result.stderr)")
  }

  /// Like runc (and crun and youki), the runtime keeps a container's state in `<--root>/<id>`.
  @Test func removalLeavesNothing() throws {
    let daemon = try #require(Containerd.current)
    let id = Containerd.uniqueID("rm")
    defer { daemon.remove(id) }
    let started = try daemon.startDetached(id, ["sleep", "1000"])
    try #require(started.status == 0, "ctr run -d: \(started.stderr)")
    let state = daemon.runtimeStateDirectory
    #expect(listing(state).contains(id), "no state for \(id) in the runtime's --root \(state.path)")
    let bundle = daemon.bundle(id).path
    #expect(FileManager.default.fileExists(atPath: bundle))

    let kill = try daemon.ctr(["task", "kill", "--signal", "SIGKILL", id])
    #expect(kill.status == 0, "\(kill.stderr)")
    #expect(try eventually(seconds: 20) { try daemon.status(id) == "STOPPED" })
    let delete = try daemon.ctr(["task", "rm", id])
    #expect(delete.status == 0, "\(delete.stderr)")
    let remove = try daemon.ctr(["container", "rm", id])
    #expect(remove.status == 0, "\(remove.stderr)")

    #expect(!listing(state).contains(id), "the runtime's --root still holds \(id): \(listing(state))")
    #expect(!FileManager.default.fileExists(atPath: bundle), "the bundle is left")
    let mountinfo = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
    #expect(!mountinfo.contains("/\(id)/") && !mountinfo.contains("/\(id) "), "a mount of \(id) is left")
    for hierarchy in cgroupHierarchies() {
      let cgroup = "\(hierarchy)/\(Containerd.namespace)/\(id)"
      #expect(!FileManager.default.fileExists(atPath: cgroup), "the cgroup \(cgroup) is left")
    }
  }
}
