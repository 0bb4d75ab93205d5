import Foundation
import Glibc
import Testing

/// stdin and terminals: run -i, run -t, create -i/-t and attach, through the real binary under a
/// pseudo-terminal the test opens.
@Suite(.enabled(if: isRoot, rootReason))
struct InteractiveTests {
  static func sameSettings(_ a: termios, _ b: termios) -> Bool {
    var (a, b) = (a, b)
    return a.c_iflag == b.c_iflag && a.c_oflag == b.c_oflag && a.c_cflag == b.c_cflag && a.c_lflag == b.c_lflag
      && withUnsafeBytes(of: &a.c_cc) { x in withUnsafeBytes(of: &b.c_cc) { y in x.elementsEqual(y) } }
  }

  /// Whether a process with exactly these arguments runs on the host (the task's, seen from
  /// outside).
  static func processRuns(_ arguments: [String]) -> Bool {
    let wanted = Data((arguments.joined(separator: "\0") + "\0").utf8)
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.contains { entry in
      entry.allSatisfy(\.isNumber) && (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(entry)/cmdline"))) == wanted
    }
  }

  @Test func anInteractiveShellUnderATerminal() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.removeEverything() }
    let terminal = try PseudoTerminal(rows: 30, columns: 100)
    let before = terminal.settings
    let process = try terminal.start(
      ["run", "-it", "--network", "none", images.url("busybox.tar.gz"), "/bin/sh"], box: box)
    #expect(terminal.read(until: "# "), "no prompt: \(terminal.text)")
    #expect(terminal.isRaw, "tasker's terminal is raw while the shell runs")
    // The window's size at the start, then a new one told on SIGWINCH.
    terminal.type("stty size\r")
    #expect(terminal.read(until: "30 100"), "\(terminal.text)")
    terminal.resize(rows: 40, columns: 120)
    kill(process.processIdentifier, SIGWINCH)
    #expect(
      eventually {
        terminal.type("stty size\r")
        return terminal.read(until: "40 120", seconds: 0.5)
      }, "\(terminal.text)")
    // ^C is a byte the task's terminal turns into SIGINT for its foreground job.
    terminal.type("sleep 4321\r")
    #expect(eventually { Self.processRuns(["sleep", "4321"]) }, "\(terminal.text)")
    terminal.type("\u{03}")
    terminal.type("echo status=$?\r")
    #expect(terminal.read(until: "status=130"), "\(terminal.text)")
    terminal.type("echo hi$((1+1)); exit 3\r")
    #expect(terminal.read(until: "hi2"), "\(terminal.text)")
    #expect(finish(process, on: terminal) == 3)
    #expect(Self.sameSettings(terminal.settings, before), "the terminal's settings come back")
  }

  /// SIGHUP and SIGTERM go on to the task, and tasker puts its terminal back when the task has
  /// ended. A sleep takes them: an interactive shell ignores SIGTERM, and busybox's line editor,
  /// waiting for the terminal's answer to its cursor query, does not always die of SIGHUP.
  @Test(arguments: [(SIGHUP, ["sleep", "4321"]), (SIGTERM, ["sleep", "4322"])])
  func aTerminalIsRestoredWhenTaskerIsSignalled(signal: Int32, command: [String]) throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.removeEverything() }
    let terminal = try PseudoTerminal()
    let before = terminal.settings
    let process = try terminal.start(
      ["run", "-it", "-q", "--network", "none", images.url("busybox.tar.gz"), "--"] + command, box: box)
    if command == ["/bin/sh"] {
      #expect(terminal.read(until: "# "), "\(terminal.text)")
    } else {
      #expect(eventually { Self.processRuns(command) })
    }
    #expect(eventually { terminal.isRaw })
    kill(process.processIdentifier, signal)
    let status = finish(process, on: terminal)
    #expect(status == 128 + signal, "\(terminal.text)")
    #expect(Self.sameSettings(terminal.settings, before))
  }

  @Test func aShellWithoutStdinIsWarnedAbout() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.removeEverything() }
    let terminal = try PseudoTerminal()
    let process = try terminal.start(["run", "--network", "none", images.url("busybox.tar.gz"), "/bin/sh"], box: box)
    #expect(finish(process, on: terminal) == 0)
    #expect(terminal.text.contains("warning: the command's stdin is /dev/null"), "\(terminal.text)")
    #expect(terminal.text.contains("use -it"))
  }

  @Test func stdinIsPassedWithDashI() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.removeEverything() }
    let image = images.url("busybox.tar.gz")
    let small = box.scratch.url.appendingPathComponent("hi").path
    try Data("hi\n".utf8).write(to: URL(fileURLWithPath: small))
    let echoed = try tasker(["run", "-i", "--network", "none", image, "cat"], box: box, stdinFile: small)
    #expect(echoed.status == 0, "\(echoed.stderr)")
    #expect(echoed.stdout == Data("hi\n".utf8))
    // Without -i, stdin stays /dev/null.
    let ignored = try tasker(["run", "--network", "none", image, "cat"], box: box, stdinFile: small)
    #expect(ignored.status == 0 && ignored.stdout.isEmpty)
    // A few megabytes, through cat and through sha256sum.
    let large = box.scratch.url.appendingPathComponent("large").path
    var bytes = [UInt8](repeating: 0, count: 3 << 20)
    for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: index &* 2_654_435_761 >> 13) }
    try Data(bytes).write(to: URL(fileURLWithPath: large))
    let expected = try run("/usr/bin/sha256sum", [large]).stdout.prefix(64)
    let copied = try tasker(["run", "-i", "--network", "none", image, "cat"], box: box, stdinFile: large)
    #expect(copied.status == 0, "\(copied.stderr)")
    #expect(copied.stdout == Data(bytes))
    let summed = try tasker(["run", "-i", "--network", "none", image, "sha256sum"], box: box, stdinFile: large)
    #expect(summed.status == 0, "\(summed.stderr)")
    #expect(String(decoding: summed.stdout, as: UTF8.self) == expected + "  -\n")
    // The task's stderr and exit code come through too.
    let failing = try tasker(
      ["run", "-i", "--network", "none", image, "--", "/bin/sh", "-c", "cat >/dev/null; echo oops >&2; exit 4"],
      box: box, stdinFile: small)
    #expect(failing.status == 4 && failing.stderr == "oops\n")
  }

  /// -t without a terminal on tasker's side (podman allows it): the task still gets one, and
  /// with -i the piped bytes are typed into it.
  @Test func aTaskTerminalWithoutOneOnTaskersSide() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.removeEverything() }
    let typed = box.scratch.url.appendingPathComponent("typed").path
    try Data("echo hi$((1+1)); exit 2\n".utf8).write(to: URL(fileURLWithPath: typed))
    let shell = try tasker(
      ["run", "-it", "-q", "--network", "none", images.url("busybox.tar.gz"), "/bin/sh"], box: box, stdinFile: typed)
    #expect(shell.status == 2, "\(shell.stderr)")
    #expect(String(decoding: shell.stdout, as: UTF8.self).contains("hi2\r\n"))
    let tty = try tasker(
      ["run", "-t", "-q", "--network", "none", images.url("busybox.tar.gz"), "--", "/bin/sh", "-c", "tty; exit 4"],
      box: box, stdinFile: "/dev/null")
    #expect(tty.status == 4)
    #expect(String(decoding: tty.stdout, as: UTF8.self) == "/dev/pts/0\r\n", "its own devpts")
  }

  @Test func createThenAttachDetachAndAttachAgain() throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["-it", "--network", "none"])
    defer { box.removeEverything() }
    let id = try box.create(images.url("busybox.tar.gz"), ["/bin/sh"])
    // First attach: a command, then the detach keys (here given with --detach-keys).
    let first = try PseudoTerminal()
    let before = first.settings
    let attached = try first.start(["attach", "--detach-keys", "ctrl-a,d", id], box: box)
    #expect(eventually { first.isRaw })
    first.type("echo one$((0+1))\r")
    #expect(first.read(until: "one1"), "\(first.text)")
    first.type("\u{01}d")
    #expect(finish(attached, on: first) == 0, "\(first.text)")
    #expect(Self.sameSettings(first.settings, before))
    #expect(try box.health(id).contains("exists: True"), "the task goes on after a detach")
    // Again, with podman's default keys held back until they turn out not to be the sequence.
    let second = try PseudoTerminal()
    let again = try second.start(["attach", id], box: box)
    #expect(eventually { second.isRaw })
    second.type("echo two$((1+1))\r")
    #expect(second.read(until: "two2"), "\(second.text)")
    second.type("exit 5\r")
    #expect(finish(again, on: second) == 5, "\(second.text)")
    // Ended: one clear error.
    let late = try box.tasker(["attach", id])
    #expect(late.status == 1 && late.stderr == "tasker: task \(id) has already ended\n")
    let logs = try box.tasker(["logs", id]).stdout
    #expect(logs.contains("one1") && logs.contains("two2"))
    #expect(try box.tasker(["rm", id]).status == 0)
  }

  /// Nobody attached: the supervisor still reads everything, so the task never blocks on its
  /// terminal (or its pipes), and it all lands in the log.
  @Test(arguments: [["-t"], ["-i"]])
  func aTaskNobodyAttachesToNeverBlocks(options: [String]) throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: options + ["--network", "none"])
    defer { box.removeEverything() }
    let script =
      "i=0; while [ $i -lt 2000 ]; do echo line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done; echo done"
    let id = try box.create(images.url("busybox.tar.gz"), ["--", "/bin/sh", "-c", script])
    #expect(try box.tasker(["wait", id]).status == 0)
    let logs = try box.tasker(["logs", id]).stdout
    #expect(logs.hasSuffix(options == ["-t"] ? "done\r\n" : "done\n"))
    #expect(logs.utf8.filter { $0 == 10 }.count == 2001, "every line, none lost")
  }

  @Test func createWithStdinThenAttachAPipe() throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["-i", "--network", "none"])
    defer { box.removeEverything() }
    let id = try box.create(images.url("busybox.tar.gz"), ["--", "/bin/sh", "-c", "read line; echo got $line; exit 6"])
    let input = box.scratch.url.appendingPathComponent("input").path
    try Data("hello\n".utf8).write(to: URL(fileURLWithPath: input))
    let attached = try tasker(["attach", id], box: box, stdinFile: input)
    #expect(attached.status == 6, "\(attached.stderr)")
    #expect(attached.stdout == Data("got hello\n".utf8))
    // A task made without -i or -t has nothing to attach to.
    let other = try box.tasker(["create", "--network", "none", images.url("busybox.tar.gz"), "sleep 30"]).stdout
      .trimmingCharacters(in: .newlines)
    let refused = try box.tasker(["attach", other])
    #expect(refused.status == 1 && refused.stderr.contains("created without -i or -t"), "\(refused.stderr)")
    #expect(try box.tasker(["rm", "--force", id, other]).status == 0)
  }

  @Test func aTerminalNeedsTheJail() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.removeEverything() }
    let refused = try box.tasker(["run", "-t", "--isolation", "chroot", images.url("busybox.tar.gz"), "true"])
    #expect(refused.status == 64 && refused.stderr.contains("-t needs --isolation jail"))
    #expect(box.tasksOnRecord().isEmpty)
    let keys = try box.tasker(["attach", "--detach-keys", "ctrl-1", "abc"])
    #expect(keys.status == 64 && keys.stderr.contains("invalid --detach-keys"))
  }
}
