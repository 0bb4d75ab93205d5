import Foundation
import Glibc
import Testing

/// A containerd of the tests' own (scripts/containerd.sh, in a scratch directory) with the busybox
/// OCI image of scripts/make-oci-image.sh imported, driving the OCI runtime under test through
/// containerd's runc shim (`io.containerd.runc.v2`, `ctr run --runc-binary`). It shares nothing
/// with a system containerd: its own socket, root and state, and `--runc-root` and `--fifo-dir`
/// inside its directory too.
final class Containerd: Sendable {
  static let namespace = "tasker-test"
  static let image = "localhost/tasker-busybox:latest"

  /// The runtime under test: `$TASKER_TEST_OCI_RUNTIME` (say /usr/sbin/runc), else the
  /// `tasker-runtime` product built beside `tasker`.
  static let runtime: String =
    ProcessInfo.processInfo.environment["TASKER_TEST_OCI_RUNTIME"]
    ?? binDirectory.appendingPathComponent("tasker-runtime").path

  /// Why these tests cannot run here, or nil when they can.
  static let unavailable: String? = {
    guard isRoot else {
      return "needs root (containerd, its shim and the runtime mount, and make namespaces and cgroups)"
    }
    let missing = ["containerd", "ctr", "containerd-shim-runc-v2"].filter { executable($0) == nil }
    guard missing.isEmpty else {
      return "containerd is not installed (no \(missing.joined(separator: ", ")) on PATH): run scripts/install-deps.sh"
    }
    guard runtime.hasPrefix("/") else {
      return "TASKER_TEST_OCI_RUNTIME must be an absolute path (containerd's shim runs it): \(runtime)"
    }
    guard access(runtime, X_OK) == 0 else {
      return "no OCI runtime at \(runtime): build the tasker-runtime product, or point TASKER_TEST_OCI_RUNTIME "
        + "at a runc-compatible binary (such as /usr/sbin/runc)"
    }
    return nil
  }()

  /// The daemon of the running suite (set by `ContainerdScope`).
  @TaskLocal static var current: Containerd?

  let scratch: Scratch
  /// The directory scripts/containerd.sh owns: config, socket, root, state, log.
  let directory: URL
  var socket: String { directory.appendingPathComponent("containerd.sock").path }
  /// The root handed to the runc shim (`--runc-root`); the shim runs the runtime with
  /// `--root <this>/<namespace>`. (Left unset, the shim's default is /run/containerd/runc.)
  var runtimeRoot: URL { directory.appendingPathComponent("runc") }
  /// The runtime's `--root`, where it keeps one entry per container.
  var runtimeStateDirectory: URL { runtimeRoot.appendingPathComponent(Self.namespace) }
  /// ctr's IO fifos (its default is /run/containerd/fifo).
  var fifoDirectory: String { directory.appendingPathComponent("fifo").path }
  /// The bundle containerd writes for container `id` (config.json, rootfs, the runtime's log).
  func bundle(_ id: String) -> URL {
    directory.appendingPathComponent("state/io.containerd.runtime.v2.task/\(Self.namespace)/\(id)")
  }

  /// Starts containerd and imports the image; throws (having cleaned up) when either fails.
  init() throws {
    scratch = try Scratch("tasker-ctr")
    directory = scratch.url.appendingPathComponent("containerd")
    do {
      // A unix socket's path must fit in sun_path (108 bytes); containerd.sh checks the longest.
      guard socket.utf8.count < 100 else { throw ContainerdError.setup("socket path too long: \(socket)") }
      let started = try run("/bin/bash", [Self.script("containerd.sh"), "start", directory.path])
      guard started.status == 0 else { throw ContainerdError.setup("containerd.sh start: \(started.stderr)") }
      let archive = scratch.url.appendingPathComponent("busybox-oci.tar").path
      let made = try run("/bin/bash", [Self.script("make-oci-image.sh"), archive, Self.image])
      guard made.status == 0 else { throw ContainerdError.setup("make-oci-image.sh: \(made.stderr)") }
      let imported = try ctr(["image", "import", "--all-platforms", archive])
      guard imported.status == 0 else { throw ContainerdError.setup("ctr image import: \(imported.stderr)") }
    } catch {
      stop()
      throw error
    }
  }

  /// Stops containerd (and what still runs under it), then removes the scratch directory.
  func stop() {
    _ = try? run("/bin/bash", [Self.script("containerd.sh"), "stop", directory.path])
    scratch.remove()
  }

  /// The ctr command line for this daemon and namespace, `arguments` appended.
  func ctrCommand(_ arguments: [String]) -> [String] {
    // --timeout: a hung call fails the test instead of hanging the run.
    [Self.ctrPath, "--address", socket, "--namespace", Self.namespace, "--timeout", "120s"] + arguments
  }

  func ctr(_ arguments: [String]) throws -> Outcome {
    let command = ctrCommand(arguments)
    return try run(command[0], Array(command.dropFirst()))
  }

  /// The options of `ctr run` that select the runtime under test and keep its files in `directory`.
  var runOptions: [String] {
    ["--runc-binary", Self.runtime, "--runc-root", runtimeRoot.path, "--fifo-dir", fifoDirectory]
  }

  /// `ctr run -d`: a container `id` running `command`, left running.
  func startDetached(_ id: String, _ command: [String]) throws -> Outcome {
    try ctr(["run", "-d", "--null-io"] + runOptions + [Self.image, id] + command)
  }

  /// `ctr task exec` of `command` in container `id` as process `execID`, to its end.
  func exec(_ id: String, _ execID: String, _ command: [String]) throws -> Outcome {
    try ctr(["task", "exec", "--fifo-dir", fifoDirectory, "--exec-id", execID, id] + command)
  }

  /// Kills and deletes task and container `id`, whatever is left of them (a test's cleanup).
  func remove(_ id: String) {
    _ = try? ctr(["task", "kill", "--signal", "SIGKILL", id])
    _ = try? ctr(["task", "delete", "--force", id])
    _ = try? ctr(["container", "delete", id])
  }

  /// Task `id`'s line of `ctr task ls` (TASK PID STATUS), or nil.
  private func taskLine(_ id: String) throws -> [Substring]? {
    try ctr(["task", "ls"]).stdout.split(separator: "\n").map {
      $0.split(separator: " ", omittingEmptySubsequences: true)
    }
    .first { $0.count == 3 && $0[0] == id }
  }

  /// Task `id`'s status as `ctr task ls` shows it (RUNNING, PAUSED, STOPPED...), or nil.
  func status(_ id: String) throws -> String? { try taskLine(id).map { String($0[2]) } }

  /// The host PID of task `id`'s init, or nil.
  func pid(_ id: String) throws -> Int32? { try taskLine(id).flatMap { Int32($0[1]) } }

  /// The host PIDs `ctr task ps` lists for task `id` (the runtime's `ps`).
  func processes(_ id: String) throws -> [Int32] {
    try ctr(["task", "ps", id]).stdout.split(separator: "\n").dropFirst()
      .compactMap { $0.split(separator: " ").first.flatMap { Int32($0) } }
  }

  func containers() throws -> [String] {
    try ctr(["container", "ls", "--quiet"]).stdout.split(separator: "\n").map(String.init)
  }

  /// A container ID no other test of the run uses.
  static func uniqueID(_ prefix: String) -> String {
    "\(prefix)-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
  }

  static var ctrPath: String { executable("ctr") ?? "/usr/bin/ctr" }

  private static func script(_ name: String) -> String {
    repositoryRoot.appendingPathComponent("scripts/\(name)").path
  }

  /// The path of `name` in the PATH the tests' commands get, or nil.
  static func executable(_ name: String) -> String? {
    ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"].map { $0 + "/" + name }
      .first { access($0, X_OK) == 0 }
  }
}

enum ContainerdError: Error {
  case setup(String)
}

/// One containerd for the whole suite: started before its first test, stopped after its last.
struct ContainerdScope: SuiteTrait, TestScoping {
  func provideScope(
    for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
  ) async throws {
    let daemon = try Containerd()
    defer { daemon.stop() }
    try await Containerd.$current.withValue(daemon) { try await function() }
  }
}

extension Trait where Self == ContainerdScope {
  /// Runs the suite against a containerd of its own (`Containerd.current`).
  static var containerd: Self { Self() }
}

/// What /proc says of host process `pid`: its command name and parent, or nil once it is gone.
func hostProcess(_ pid: Int32) -> (name: String, parent: Int32)? {
  guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
    let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")")
  else { return nil }
  // "pid (comm) state ppid ...": the name may hold spaces and parentheses, so split after the last ")".
  let rest = stat[stat.index(after: close)...].split(separator: " ")
  guard rest.count > 1, let parent = Int32(rest[1]) else { return nil }
  return (String(stat[stat.index(after: open)..<close]), parent)
}

/// The mount points of the host's cgroup hierarchies (v1 controllers, v2 unified or alone).
func cgroupHierarchies() -> [String] {
  let mountinfo = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
  return mountinfo.split(separator: "\n").compactMap { line in
    // "id parent dev root mountpoint options [optional...] - fstype source superoptions"
    let halves = line.components(separatedBy: " - ")
    guard halves.count == 2, let type = halves[1].split(separator: " ").first, type == "cgroup" || type == "cgroup2"
    else { return nil }
    let fields = halves[0].split(separator: " ")
    return fields.count > 4 ? String(fields[4]) : nil
  }
}

/// `words` as one sh command line, each word single-quoted.
func shellQuoted(_ words: [String]) -> String {
  words.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
}
