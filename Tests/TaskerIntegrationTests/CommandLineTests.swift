import Foundation
import Glibc
import Tasker
import Testing

/// The command line as runc and podman users type it; what needs no root: no task is started.
struct CommandLineTests {
  /// tasker's own description of its commands (argument-parser's), so that commands and
  /// options added later are covered too.
  static func dump() throws -> [String: Any] {
    let result = try tasker(["--experimental-dump-help"])
    let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
    return try #require(object?["command"] as? [String: Any])
  }

  static func subcommands() throws -> [[String: Any]] {
    (try dump()["subcommands"] as? [[String: Any]] ?? []).filter { ($0["commandName"] as? String) != "help" }
  }

  @Test func versionIsPrintedAndSucceeds() throws {
    let result = try tasker(["--version"])
    #expect(result.status == 0)
    #expect(result.stdout == "tasker \(TaskerVersion.current)\n")
  }

  @Test(arguments: [["nosuch"], ["help", "nosuch"], ["--root", "/tmp", "nosuch"]])
  func anUnknownCommandIsAnError(arguments: [String]) throws {
    let result = try tasker(arguments)
    #expect(result.status == 64)
    #expect(result.stdout.isEmpty)
    #expect(result.stderrLines.count == 1 && result.stderr.contains("unknown command \"nosuch\""), "\(result.stderr)")
    let known = try tasker(["help", "status"])
    #expect(known.status == 0 && known.stdout.contains("health_check"))
  }

  @Test func globalOptionsGoBeforeTheCommand() throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    for arguments in [
      ["--root", scratch.path, "list"], ["--root=\(scratch.path)", "ps", "-q"],
      ["--download-path", scratch.path, "--root", scratch.path, "images"],
    ] {
      let result = try tasker(arguments)
      #expect(result.status == 0, "\(arguments): \(result.stderr)")
    }
    let missing = try tasker(["--root"])
    #expect(missing.status == 64 && missing.stderr.contains("--root needs a value"), "\(missing.stderr)")
    let help = try tasker(["--help"])
    #expect(help.stdout.contains("--root <path>") && help.stdout.contains("--download-path <path>"))
  }

  /// A create or run option written after IMAGE_URL is reported, never run as the command, and
  /// nothing is made: the check comes before the image is fetched.
  @Test(arguments: [
    (["run", "IMG", "-q", "echo hi"], "-q"), (["run", "IMG", "--rm", "echo hi"], "--rm"),
    (["create", "IMG", "sleep 1", "--name", "foo"], "--name"), (["create", "IMG", "--env=A=1", "true"], "--env"),
    (["run", "IMG", "echo hi", "--root", "/tmp"], "--root"), (["run", "IMG", "--quiet"], "--quiet"),
    (["create", "IMG", "ls", "-qp"], "-qp"),
  ])
  func anOptionAfterTheImageIsReported(arguments: [String], option: String) throws {
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let result = try box.tasker(arguments.map { $0 == "IMG" ? "http://127.0.0.1:1/never.tar" : $0 })
    #expect(result.status == 64)
    #expect(result.stdout.isEmpty)
    #expect(
      result.stderrLines.count == 1 && result.stderr.hasPrefix("tasker: option \(option) must come before IMAGE_URL"),
      "\(result.stderr)")
    #expect(box.tasksOnRecord().isEmpty && listing(box.downloads).isEmpty)
  }

  /// Every command's help, at 80 and 120 columns: no line is wider, and each paragraph is the
  /// same words as at 1000 columns, where it is one line (so it was written as one, and the
  /// examples, indented, are never wrapped).
  @Test func helpWrapsAtWordBoundaries() throws {
    let commands = [[]] + (try Self.subcommands()).compactMap { $0["commandName"] as? String }.map { [$0] }
    #expect(commands.count > 5)
    for command in commands {
      let wide = try Self.discussion(command, columns: 1000)
      #expect(!wide.isEmpty, "\(command) has no discussion")
      for (line, next) in zip(wide, wide.dropFirst()) where Self.isProse(line) {
        #expect(!Self.isProse(next), "\(command): a paragraph broken by hand after \"\(line)\"")
      }
      let headings = Set(wide.filter { Self.isProse($0) && $0.hasSuffix(":") })
      for columns in [80, 120] {
        let help = try tasker(command + ["--help"], environment: ["COLUMNS": String(columns)])
        for line in help.stdout.split(separator: "\n") {
          #expect(line.count <= columns, "\(command) at \(columns): \(line)")
        }
        let narrow = try Self.discussion(command, columns: columns)
        var joined: [String] = []
        for line in narrow {
          if Self.isProse(line), let last = joined.last, Self.isProse(last), !headings.contains(last) {
            joined[joined.count - 1] += " " + line
          } else {
            joined.append(line)
          }
        }
        #expect(joined == wide, "\(command) at \(columns) columns")
      }
    }
  }

  /// The discussion: the lines between the overview and the usage (blank lines kept: they end
  /// paragraphs).
  static func discussion(_ command: [String], columns: Int) throws -> [String] {
    let help = try tasker(command + ["--help"], environment: ["COLUMNS": String(columns)])
    let lines = help.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    guard let usage = lines.firstIndex(where: { $0.hasPrefix("USAGE:") }),
      let start = lines.firstIndex(where: { $0.isEmpty })
    else { return [] }
    var discussion = Array(lines[(start + 1)..<usage])
    while discussion.first?.isEmpty == true { discussion.removeFirst() }
    while discussion.last?.isEmpty == true { discussion.removeLast() }
    return discussion
  }

  /// A paragraph's line (or a heading such as "Examples:"); example lines are indented.
  static func isProse(_ line: String) -> Bool { !line.isEmpty && !line.hasPrefix(" ") }

  @Test func completionScriptsKnowTheAliases() throws {
    var aliases: [(String, String)] = []
    for command in try Self.subcommands() {
      for alias in command["aliases"] as? [String] ?? [] {
        aliases.append((command["commandName"] as? String ?? "", alias))
      }
    }
    #expect(aliases.map(\.1).sorted() == ["kill", "ps", "status"])
    let bash = try tasker(["--generate-completion-script", "bash"]).stdout
    let zsh = try tasker(["--generate-completion-script", "zsh"]).stdout
    let fish = try tasker(["--generate-completion-script=fish"]).stdout
    for (name, alias) in aliases {
      #expect(bash.contains("|\(alias)") && bash.contains("_tasker_\(alias)() { _tasker_\(name) \"$@\"; }"), "\(alias)")
      let offered = bash.split(separator: "\n").first { $0.contains("compgen -W 'create ") }
      #expect(
        offered?.contains(" \(alias) ") == true || offered?.contains(" \(alias)' ") == true,
        "bash offers \(alias) as a command")
      let defined = try #require(zsh.range(of: "_tasker_\(alias)() { _tasker_\(name) \"$@\"; }"), "\(alias)")
      #expect(zsh.contains("'\(alias):"), "\(alias)")
      // Defined before the autoloaded file calls _tasker.
      #expect(zsh[defined.upperBound...].contains("_tasker \"${@}\""), "\(alias)")
      #expect(fish.contains("case '\(name)' '\(alias)'") && fish.contains("\"tasker \(alias)\""), "\(alias)")
    }
    let unknown = try tasker(["--generate-completion-script", "tcsh"])
    #expect(unknown.status == 64)
  }

  /// Every argument that takes a task ID (also of commands added later) completes IDs.
  @Test func everyIDArgumentCompletesTaskIDs() throws {
    var seen = 0
    for command in try Self.subcommands() {
      for argument in command["arguments"] as? [[String: Any]] ?? [] where argument["kind"] as? String == "positional" {
        guard let name = argument["valueName"] as? String, ["id", "ids"].contains(name.lowercased()) else { continue }
        seen += 1
        let kind = argument["completionKind"] as? [String: Any]
        #expect(kind?["custom"] != nil, "\(command["commandName"] ?? "") \(name) does not complete task IDs")
      }
    }
    #expect(seen >= 5)
  }
}

/// The same, where tasks must run: root.
@Suite(.enabled(if: isRoot, rootReason))
struct CommandLineRootTests {
  @Test func globalOptionsReachTheCommand() throws {
    let images = try Images.shared()
    let scratch = try Scratch()
    defer { scratch.remove() }
    let state = try scratch.sub("state")
    let downloads = try scratch.sub("downloads")
    let created = try tasker([
      "--root", state.path, "--download-path", downloads.path, "create", images.url("busybox.tar.gz"), "true",
    ])
    #expect(created.status == 0, "\(created.stderr)")
    let id = created.stdout.trimmingCharacters(in: .newlines)
    #expect(listing(downloads) == [id])
    #expect(listing(state.appendingPathComponent("tasks")).contains(id))
    // The command's own --root wins over the global one, which wins over TASKER_ROOT.
    let listed = try tasker(["--root", "/nonexistent", "list", "-q", "--root", state.path])
    #expect(listed.stdout == id + "\n")
    let overEnvironment = try tasker(["--root", state.path, "ps", "-q"], environment: ["TASKER_ROOT": "/nonexistent"])
    #expect(overEnvironment.stdout == id + "\n")
    #expect(try tasker(["--root", state.path, "rm", "--force", id]).status == 0)
  }

  @Test func wordsAfterDoubleDashAreTheCommands() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let result = try box.tasker(["run", "--rm", images.url("busybox.tar.gz"), "--", "/bin/echo", "--rm", "-q"])
    #expect(result.status == 0 && result.stdout == "--rm -q\n", "\(result.stderr)")
  }

  @Test func environmentFromTaskerAndFromFiles() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let image = images.url("busybox.tar.gz")
    let file = box.scratch.url.appendingPathComponent("task.env")
    try Data("# a comment\n\n  FROM_FILE=a b \nPASSED\nUNSET_HERE\nWIN=file\r\nCRLF=yes\r\n".utf8).write(to: file)
    let outside = ["PASSED": "from tasker", "WIN": "x", "TASKER_T_A": "1", "TASKER_T_B": "2"]
    let result = try box.tasker(
      [
        "run", "--rm", "--env-file", file.path, "--env", "WIN=flag", "--env", "TASKER_T_*", "--env", "NOT_SET", image,
        "env",
      ], environment: outside)
    #expect(result.status == 0, "\(result.stderr)")
    let lines = result.stdout.split(separator: "\n").map(String.init)
    for expected in ["FROM_FILE=a b ", "PASSED=from tasker", "WIN=flag", "CRLF=yes", "TASKER_T_A=1", "TASKER_T_B=2"] {
      #expect(lines.contains(expected), "\(expected) in \(lines)")
    }
    #expect(!lines.contains { $0.hasPrefix("UNSET_HERE") || $0.hasPrefix("NOT_SET") })
    #expect(lines.filter { $0.hasPrefix("WIN=") }.count == 1)

    // podman's short forms.
    let short = try box.tasker([
      "run", "--rm", "-e", "SHORT=yes", "-w", "/tmp", image, "sh", "-c", "echo $SHORT $(pwd)",
    ])
    #expect(short.stdout == "yes /tmp\n", "\(short.stderr)")

    let missing = try box.tasker(["run", "--env-file", "/nonexistent/env", image, "env"])
    #expect(missing.status == 64 && missing.stderr.contains("/nonexistent/env"), "\(missing.stderr)")
    try Data("=oops\n".utf8).write(to: file)
    let bad = try box.tasker(["run", "--env-file", file.path, image, "env"])
    #expect(bad.status == 64 && bad.stderr.contains("line 1"), "\(bad.stderr)")
    #expect(box.tasksOnRecord().isEmpty)
  }

  /// A user who may not read the state root is told so, by every command that reads it.
  @Test(.enabled(if: access("/usr/bin/setpriv", X_OK) == 0, "needs setpriv (util-linux) to run tasker as nobody"))
  func anUnreadableStateRootIsAnErrorNamingIt() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let id = try box.create(images.url("busybox.tar.gz"), ["sleep 30"])
    chmod(box.scratch.path, 0o755)
    chmod(box.state.path, 0o700)
    let setpriv = "/usr/bin/setpriv"
    for arguments in [
      ["list"], ["status", id], ["logs", id], ["wait", id], ["rm", id], ["images"], ["kill", id, "TERM"],
    ] {
      let result = try run(
        setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", taskerPath] + arguments,
        environment: ["TASKER_ROOT": box.state.path])
      #expect(result.status == 1, "\(arguments) (can nobody run \(taskerPath)?)")
      #expect(
        result.stderr == "tasker: cannot read the state root \(box.state.path): permission denied\n",
        "\(arguments): \(result.stderr)")
      #expect(result.stdout.isEmpty)
    }
    #expect(try box.health(id).hasPrefix("exists: True"))
    _ = try box.tasker(["rm", "--force", id])
  }

  /// A state root someone else made, or may write, would let them choose the images, plans and
  /// processes tasker acts on: it is refused by every command, and nothing is made in it.
  @Test func aStateRootOfAnotherUserOrWritableByOthersIsRefused() throws {
    let images = try Images.shared()
    let scratch = try Scratch()
    defer { scratch.remove() }
    let theirs = try scratch.sub("theirs")
    chown(theirs.path, 65534, 65534)
    let open = try scratch.sub("open")
    chmod(open.path, 0o777)
    let planted = try scratch.sub("planted")
    try FileManager.default.createSymbolicLink(atPath: planted.path + "/tasks", withDestinationPath: open.path)
    for (state, reason) in [
      (theirs, "it belongs to another user"), (open, "others may write it (mode 777)"), (planted, "is not a directory"),
    ] {
      for arguments in [["list"], ["create", images.url("busybox.tar.gz"), "true"], ["images"]] {
        let result = try tasker(["--root", state.path] + arguments, in: scratch.url)
        #expect(result.status != 0 && result.stdout.isEmpty, "\(arguments)")
        #expect(
          result.stderrLines.count == 1 && result.stderr.contains("refusing the state root \(state.path)")
            && result.stderr.contains(reason), "\(arguments): \(result.stderr)")
      }
    }
    #expect(listing(theirs).isEmpty && listing(open).isEmpty && listing(planted) == ["tasks"])
  }

  /// A user other than root gets a state root of their own (`$HOME/.local/share/tasker`, made
  /// with its parents, 0700), never root's: root's tasks are not listed to them.
  @Test(.enabled(if: geteuid() == 0 && access("/usr/bin/setpriv", X_OK) == 0, "needs root and setpriv"))
  func aUserOtherThanRootHasAStateRootOfTheirOwn() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let id = try box.create(images.url("busybox.tar.gz"), ["sleep 30"])
    defer { _ = try? box.tasker(["rm", "--force", id]) }
    let home = box.scratch.path + "/home"
    #expect(mkdir(home, 0o700) == 0 && chown(home, 65534, 65534) == 0)
    chmod(box.scratch.path, 0o755)
    func asNobody(_ arguments: [String]) throws -> Outcome {
      try run(
        "/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", taskerPath] + arguments,
        in: URL(fileURLWithPath: home), environment: ["HOME": home])
    }
    let missing = try asNobody(["create", home + "/no-such-image.tar", "true"])
    #expect(missing.status != 0 && missing.stderr.contains("no-such-image.tar"), "\(missing.stderr)")
    var info = stat()
    #expect(stat(home + "/.local/share/tasker/tasks", &info) == 0 && info.st_uid == 65534)
    #expect(stat(home + "/.local/share/tasker", &info) == 0 && info.st_mode & 0o777 == 0o700)
    let listed = try asNobody(["list", "--quiet"])
    #expect(listed.status == 0 && listed.stdout.isEmpty, "\(listed.stdout) \(listed.stderr)")
    #expect(try box.health(id).hasPrefix("exists: True"))
  }

  @Test func memoryBelowTheFloorIsRefused() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let small = try box.tasker(["run", "--memory", "1k", images.url("busybox.tar.gz"), "true"])
    #expect(small.status == 64 && small.stderr.hasPrefix("tasker: --memory must be at least 6m"), "\(small.stderr)")
    let floor = try box.tasker(["run", "--rm", "--memory", "6m", images.url("busybox.tar.gz"), "true"])
    #expect(floor.status == 0, "\(floor.stderr)")
  }

  /// Below what the init needs (the library has no floor), the create says so, without errno.
  @Test func anInitOutOfMemorySaysSo() async throws {
    let images = try Images.shared()
    let scratch = try Scratch()
    defer { scratch.remove() }
    let manager = TaskManager(
      settings: TaskerSettings(
        stateRoot: try scratch.sub("state").path, downloadPath: try scratch.sub("downloads").path,
        supervisorPath: binDirectory.appendingPathComponent("tasker-supervisor").path))
    do {
      _ = try await manager.create(
        TaskSpec(
          image: images.url("busybox.tar.gz"), command: ["true"],
          jail: JailOptions(network: .none, limits: ResourceLimits(memoryBytes: 256 << 10))))
      Issue.record("a 256k task started")
    } catch {
      #expect(error.message == "the task ran out of memory before its command started (--memory 256k)")
      #expect(error.code == .startFailed)
    }
    #expect(listing(scratch.url.appendingPathComponent("downloads")).isEmpty)
  }

  /// The init is not counted: the command gets the N processes asked for.
  @Test func pidsLimitCountsTheCommandsProcesses() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let image = images.url("busybox.tar.gz")
    let one = try box.tasker(["run", "--rm", "--network", "none", "--pids-limit", "1", image, "true"])
    #expect(one.status == 0, "\(one.stderr)")
    let script = "sleep 1 & sleep 1 & wait"
    let two = try box.tasker(["run", "--rm", "--network", "none", "--pids-limit", "2", image, "--", "sh", "-c", script])
    #expect(two.status != 0 && two.stderr.contains("fork"), "the shell and two sleeps are three: \(two.stderr)")
    let three = try box.tasker([
      "run", "--rm", "--network", "none", "--pids-limit", "3", image, "--", "sh", "-c", script,
    ])
    #expect(three.status == 0, "\(three.stderr)")
  }

  @Test func downloadPathErrorsSayWhatIsWrong() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let image = images.url("busybox.tar.gz")
    let missing = try box.tasker(["create", "--download-path", "/nonexistent/x", image, "true"])
    #expect(missing.status == 64)
    #expect(missing.stderr == "tasker: download path /nonexistent/x does not exist\n")
    let file = try box.tasker(["create", "--download-path", "/etc/passwd", image, "true"])
    #expect(file.status == 64 && file.stderr == "tasker: download path /etc/passwd is not a directory\n")
    let below = try box.tasker(["create", "--download-path", "/etc/passwd/x", image, "true"])
    #expect(below.stderr == "tasker: download path /etc/passwd/x does not exist\n")
    #expect(box.tasksOnRecord().isEmpty)
  }

  /// prune leaves nothing of a location that never gave an image, and keeps what a cached
  /// image's location needs and any lock another process holds.
  @Test func pruneRemovesLocksAndRecordsOfLocationsWithoutAnImage() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let locks = box.state.appendingPathComponent("images/locks")
    let sources = box.state.appendingPathComponent("images/sources")
    let id = try box.create(images.url("busybox.tar.gz"), ["true"])
    let failed = try box.tasker(["create", images.url("no-such-image.tar.gz"), "true"])
    #expect(failed.status != 0)
    #expect(listing(locks).count == 2 && listing(sources).count == 1)
    #expect(try box.tasker(["prune"]).status == 0)
    #expect(listing(locks).count == 1 && listing(sources).count == 1, "the busybox image is in use")

    // A lock held elsewhere (a fetch under way) stays.
    let kept = listing(locks)
    let failedAgain = try box.tasker(["create", images.url("no-such-image.tar.gz"), "true"])
    #expect(failedAgain.status != 0)
    let held = try #require(listing(locks).first { !kept.contains($0) })
    let fd = open(locks.appendingPathComponent(held).path, O_RDWR)
    #expect(fd >= 0 && flock(fd, LOCK_EX) == 0)
    _ = try box.tasker(["prune"])
    #expect(listing(locks).contains(held))
    close(fd)

    #expect(try box.tasker(["rm", id]).status == 0)
    #expect(try box.tasker(["prune"]).status == 0)
    #expect(listing(locks).isEmpty && listing(sources).isEmpty, "\(listing(locks)) \(listing(sources))")
  }

  /// What the completion scripts run on Tab: `tasker ---completion CMD -- positional@0 ...`
  /// prints the IDs and names; and bash, with the generated script, completes an alias's ID.
  @Test func completionOffersIDsAndNames() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let id = try box.tasker(["create", "--name", "web", images.url("busybox.tar.gz"), "sleep 30"]).stdout
      .trimmingCharacters(in: .newlines)
    defer { _ = try? box.tasker(["rm", "--force", id]) }
    let call = try box.tasker([
      "---completion", "health_check", "--", "positional@0", "2", "0", "tasker", "health_check", "",
    ])
    #expect(call.status == 0 && call.stdout == "\(id)\nweb\n", "\(call.stdout) \(call.stderr)")
    // The command line's --root, with a prefix.
    let withRoot = try tasker([
      "---completion", "rm", "--", "positional@0", "4", "1", "tasker", "--root", box.state.path, "rm", "w",
    ])
    #expect(withRoot.stdout == "web\n", "\(withRoot.stdout) \(withRoot.stderr)")

    let script = box.scratch.url.appendingPathComponent("completion.bash")
    try Data(try tasker(["--generate-completion-script", "bash"]).stdout.utf8).write(to: script)
    let driver = """
      source "$1"
      COMP_WORDS=("$2" status ''); COMP_CWORD=2; COMP_LINE="$2 status "; COMP_POINT=${#COMP_LINE}
      _tasker "$2" '' status
      printf '%s\\n' "${COMPREPLY[@]}"
      """
    let bash = try run(
      "/bin/bash", ["-c", driver, "bash", script.path, taskerPath], environment: ["TASKER_ROOT": box.state.path])
    #expect(Set(bash.stdout.split(separator: "\n")) == [Substring(id), "web"], "\(bash.stdout) \(bash.stderr)")
  }
}
