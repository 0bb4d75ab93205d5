import Foundation
import Glibc
import Testing

/// The core contract: create, health_check, send_signal, through the CLI, as a user runs them.
@Suite(.enabled(if: isRoot, rootReason))
struct CoreCommandTests {
  @Test(arguments: ["jail", "chroot"])
  func createHealthCheckSignalOverHTTP(isolation: String) throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--isolation", isolation])
    defer { box.scratch.remove() }

    let id = try box.create(images.url("busybox.tar.gz"), ["sleep 30"])
    #expect(id.count == 12 && id.allSatisfy(\.isHexDigit))
    #expect(try eventually { try box.health(id) == "exists: True\nstatus: sleeping\n" })

    let signal = try box.tasker(["send_signal", id, "SIGINT"])
    #expect(signal.status == 0)
    #expect(signal.stdout.isEmpty && signal.stderr.isEmpty)
    #expect(try eventually { try box.health(id) == "exists: False\nstatus: None\n" })

    let json = try box.json(id)
    #expect(json["id"] as? String == id)
    #expect(json["exists"] as? Bool == false)
    #expect(json["signal"] as? Int == 2)
    #expect(json["image"] as? String == images.url("busybox.tar.gz"))
    #expect(json["command"] as? [String] == ["sleep", "30"])
    for key in ["status", "pid", "exitCode", "createdAt", "finishedAt"] {
      #expect(json.keys.contains(key), "missing \(key)")
    }
  }

  @Test(arguments: ["jail", "chroot"])
  func theCommandsRootIsTheTaskDirectory(isolation: String) throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--isolation", isolation])
    defer { box.scratch.remove() }
    let hostFile = "/example.txt"
    let existedBefore = FileManager.default.fileExists(atPath: hostFile)

    let id = try box.create(images.path("busybox.tar"), ["touch /example.txt"])
    let inside = box.downloads.appendingPathComponent(id).appendingPathComponent("example.txt").path
    #expect(try eventually { FileManager.default.fileExists(atPath: inside) })
    #expect(FileManager.default.fileExists(atPath: hostFile) == existedBefore)
    #expect(try eventually { try box.json(id)["exitCode"] as? Int == 0 })
  }

  @Test(arguments: Images.formats)
  func everyFormatOverFileURLAndPath(format: String) throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let byURL = try box.create("file://" + images.path("busybox.\(format)"), ["--", "/bin/sh", "-c", "exit 7"])
    let byPath = try box.create(images.path("busybox.\(format)"), ["true"])
    #expect(try eventually { try box.json(byURL)["exitCode"] as? Int == 7 })
    #expect(try eventually { try box.json(byPath)["exitCode"] as? Int == 0 })
  }

  @Test func twoCreatesMakeTwoDirectoriesAndLeaveNoArchive() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let first = try box.create(images.url("busybox.tar.zst"), ["true"])
    let second = try box.create(images.url("busybox.tar.zst"), ["true"])
    #expect(first != second)
    #expect(listing(box.downloads) == [first, second].sorted())
    #expect(FileManager.default.fileExists(atPath: box.downloads.appendingPathComponent(first + "/bin/busybox").path))
  }

  @Test func checksumIsEnforced() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let right = try images.sha256("busybox.tar.xz")
    let ok = try box.tasker(["create", "--sha256", right.uppercased(), images.url("busybox.tar.xz"), "true"])
    #expect(ok.status == 0, "\(ok.stderr)")
  }

  /// Each bad input: one line on stderr naming the problem, nothing on stdout, a non-zero exit,
  /// and the download path and state root exactly as they were.
  @Test(arguments: [
    ("wrong sha256", ["--sha256", String(repeating: "0", count: 64), "IMAGE:busybox.tar.gz", "true"], "checksum"),
    ("HTTP 404", ["URL:missing.tar.gz", "true"], "404"),
    ("HTTP 500", ["URL:status/500", "true"], "500"),
    ("unreachable", ["http://127.0.0.1:9/busybox.tar.gz", "true"], "127.0.0.1"),
    ("corrupt archive", ["URL:garbage.tar.gz", "true"], "archive"),
    ("truncated archive", ["URL:truncated.tar.gz", "true"], "archive"),
    ("missing command", ["URL:busybox.tar.gz", "no-such-command --flag"], "no-such-command"),
    ("not executable", ["URL:busybox.tar.gz", "/etc/passwd"], "/etc/passwd"),
    ("missing file", ["/nonexistent/image.tar", "true"], "/nonexistent/image.tar"),
    ("unsupported scheme", ["ftp://127.0.0.1/x.tar", "true"], "ftp"),
    ("bad workdir", ["--workdir", "/nonexistent", "URL:busybox.tar.gz", "true"], "/nonexistent"),
  ])
  func badInputFailsCleanly(name: String, arguments: [String], mention: String) throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    for isolation in ["jail", "chroot"] {
      try check(box, images, isolation: isolation, name: name, arguments: arguments, mention: mention)
    }
  }

  func check(_ box: Sandbox, _ images: Images, isolation: String, name: String, arguments: [String], mention: String)
    throws
  {
    let resolved = arguments.map { argument in
      if argument.hasPrefix("URL:") { return images.url(String(argument.dropFirst(4))) }
      if argument.hasPrefix("IMAGE:") { return images.url(String(argument.dropFirst(6))) }
      return argument
    }
    let result = try box.tasker(["create", "--isolation", isolation] + resolved)
    #expect(result.status != 0, "\(name)")
    #expect(result.stdout.isEmpty, "\(name): no ID may be printed")
    #expect(result.stderrLines.count == 1, "\(name): \(result.stderr)")
    #expect(result.stderr.contains(mention), "\(name): \(result.stderr)")
    #expect(listing(box.downloads).isEmpty, "\(name) left \(listing(box.downloads))")
    #expect(box.tasksOnRecord().isEmpty, "\(name) left a record")
  }

  @Test(arguments: ["jail", "chroot"])
  func exitStatusIsRecordedForCodeAndSignal(isolation: String) throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--isolation", isolation])
    defer { box.scratch.remove() }
    let exits = try box.create(images.url("busybox.tar.gz"), ["sh -c 'echo out; echo err >&2; exit 3'"])
    #expect(try eventually { try box.json(exits)["exitCode"] as? Int == 3 })
    let killed = try box.create(images.url("busybox.tar.gz"), ["sleep 60"])
    #expect(try box.tasker(["kill", killed, "9"]).status == 0)
    #expect(try eventually { try box.json(killed)["signal"] as? Int == 9 })
    #expect(try box.json(killed)["exitCode"] is NSNull)
    #expect(try box.json(killed)["finishedAt"] as? String != nil)
  }

  @Test(arguments: ["jail", "chroot"])
  func unknownAndEndedTasksAreErrors(isolation: String) throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--isolation", isolation])
    defer { box.scratch.remove() }
    for arguments in [
      ["health_check", "0123456789ab"], ["send_signal", "0123456789ab", "INT"], ["status", "../etc"],
    ] {
      let result = try box.tasker(arguments)
      #expect(result.status != 0)
      #expect(result.stdout.isEmpty)
      #expect(result.stderrLines.count == 1 && result.stderr.contains("no such task"), "\(result.stderr)")
    }
    let id = try box.create(images.url("busybox.tar.gz"), ["true"])
    #expect(try eventually { try box.health(id) == "exists: False\nstatus: None\n" })
    let late = try box.tasker(["send_signal", id, "SIGINT"])
    #expect(late.status != 0)
    #expect(late.stderr.contains("ended"))
  }

  @Test(arguments: ["jail", "chroot"])
  func signalNamesAndNumbers(isolation: String) throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--isolation", isolation])
    defer { box.scratch.remove() }
    for (spelling, number) in [("TERM", 15), ("2", 2), ("sigusr1", 10)] {
      let id = try box.create(images.url("busybox.tar.gz"), ["sleep 30"])
      #expect(try box.tasker(["send_signal", id, spelling]).status == 0)
      #expect(try eventually { try box.json(id)["signal"] as? Int == number })
    }
    let id = try box.create(images.url("busybox.tar.gz"), ["sleep 30"])
    defer { _ = try? box.tasker(["kill", id, "KILL"]) }
    for bad in ["SIGNOPE", "0", "65", ""] {
      let result = try box.tasker(["send_signal", id, bad])
      #expect(result.status != 0, "\(bad)")
      #expect(result.stderr.contains("unknown signal"), "\(result.stderr)")
    }
    #expect(try box.health(id).hasPrefix("exists: True"))
  }

  /// A record whose PID now belongs to another process (same PID, other start time) must never
  /// lead to that process being signalled.
  @Test(arguments: ["jail", "chroot"])
  func aReusedPIDIsNeverSignalled(isolation: String) throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--isolation", isolation])
    defer { box.scratch.remove() }
    let id = try box.create(images.url("busybox.tar.gz"), ["sleep 30"])
    _ = try box.tasker(["kill", id, "KILL"])
    #expect(try eventually { try box.json(id)["signal"] as? Int == 9 })

    // Point the finished task's record at an unrelated live process, as if its PID were reused.
    let bystander = Process()
    bystander.executableURL = URL(fileURLWithPath: "/bin/sleep")
    bystander.arguments = ["30"]
    try bystander.run()
    defer { bystander.terminate() }
    let taskDir = box.state.appendingPathComponent("tasks/\(id)")
    try FileManager.default.removeItem(at: taskDir.appendingPathComponent("exit.json"))
    let recordURL = taskDir.appendingPathComponent("task.json")
    var record = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: recordURL)) as? [String: Any])
    record["pid"] = Int(bystander.processIdentifier)
    try JSONSerialization.data(withJSONObject: record).write(to: recordURL)

    #expect(try box.health(id) == "exists: False\nstatus: None\n")
    let result = try box.tasker(["send_signal", id, "KILL"])
    #expect(result.status != 0)
    usleep(100_000)
    #expect(bystander.isRunning, "the bystander process was signalled")
  }

  @Test func configurationPrecedence() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let fromFile = try box.scratch.sub("from-file")
    let fromEnv = try box.scratch.sub("from-env")
    let fromFlag = try box.scratch.sub("from-flag")
    let config = box.scratch.url.appendingPathComponent("config.json")
    try Data(#"{"downloadPath": "\#(fromFile.path)"}"#.utf8).write(to: config)
    let image = images.url("busybox.tar.gz")

    let a = try box.tasker(["create", image, "true"], environment: ["TASKER_CONFIG": config.path])
    #expect(listing(fromFile) == [a.stdout.trimmingCharacters(in: .newlines)])
    let b = try box.tasker(
      ["create", image, "true"], environment: ["TASKER_CONFIG": config.path, "TASKER_DOWNLOAD_PATH": fromEnv.path])
    #expect(listing(fromEnv) == [b.stdout.trimmingCharacters(in: .newlines)])
    let c = try box.tasker(
      ["create", "--download-path", fromFlag.path, image, "true"],
      environment: ["TASKER_CONFIG": config.path, "TASKER_DOWNLOAD_PATH": fromEnv.path])
    #expect(listing(fromFlag) == [c.stdout.trimmingCharacters(in: .newlines)])
    #expect(listing(box.downloads).isEmpty)

    try Data("{ not json".utf8).write(to: config)
    let broken = try box.tasker(["create", image, "true"], environment: ["TASKER_CONFIG": config.path])
    #expect(broken.status != 0)
    #expect(broken.stderrLines.count == 1 && broken.stderr.contains(config.path), "\(broken.stderr)")
    #expect(listing(box.downloads).isEmpty)
  }
}

/// What needs no root: help and completions.
struct HelpTests {
  @Test func helpShowsExamplesAndCompletionsExist() throws {
    for command in [["--help"], ["create", "--help"], ["health_check", "--help"], ["send_signal", "--help"]] {
      let result = try tasker(command)
      #expect(result.status == 0)
      #expect(result.stdout.contains("Example"), "\(command)")
    }
    for shell in ["bash", "zsh", "fish"] {
      let result = try tasker(["--generate-completion-script", shell])
      #expect(result.status == 0 && result.stdout.contains("health_check"), "\(shell)")
    }
  }
}
