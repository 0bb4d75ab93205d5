import Foundation
import Glibc

/// A network entirely of the test's making: a "host sim" network namespace where tasker runs
/// (`nsenter --net`, so the mount namespace stays the host's), a "server" namespace, and a veth
/// pair between them (10.77.0.1 in the host sim, 10.77.0.2 in the server, the host sim's default
/// route via the server). No traffic leaves these namespaces. `remove()` ends the processes it
/// started and deletes both namespaces (and with them the veth pair).
final class TestNetwork {
  let hostSim: String
  let server: String
  static let hostSimAddress = "10.77.0.1"
  static let serverAddress = "10.77.0.2"
  private var processes: [Process] = []

  init() throws {
    let tag = String(UInt32.random(in: 0..<UInt32.max), radix: 16)
    hostSim = "tasker-sim-\(tag)"
    server = "tasker-srv-\(tag)"
    let commands: [[String]] = [
      ["netns", "add", hostSim], ["netns", "add", server],
      // Made inside the namespaces: no name ever appears in the host's own network namespace.
      ["-n", hostSim, "link", "add", "veth-sim", "type", "veth", "peer", "name", "veth-srv", "netns", server],
      ["-n", hostSim, "addr", "add", Self.hostSimAddress + "/24", "dev", "veth-sim"],
      ["-n", server, "addr", "add", Self.serverAddress + "/24", "dev", "veth-srv"],
      ["-n", hostSim, "link", "set", "lo", "up"], ["-n", server, "link", "set", "lo", "up"],
      ["-n", hostSim, "link", "set", "veth-sim", "up"], ["-n", server, "link", "set", "veth-srv", "up"],
      ["-n", hostSim, "route", "add", "default", "via", Self.serverAddress],
    ]
    for arguments in commands {
      let result = try TaskerIntegrationTests.run("/usr/sbin/ip", arguments)
      guard result.status == 0 else {
        remove()
        throw TestNetworkError.setup("ip \(arguments.joined(separator: " ")): \(result.stderr)")
      }
    }
  }

  /// Starts `arguments` in namespace `namespace` and returns once it printed its first line
  /// (netprobe's "ready").
  func start(in namespace: String, _ arguments: [String]) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
    process.arguments = ["--net=/run/netns/\(namespace)", "--"] + arguments
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    processes.append(process)
    let line = String(decoding: output.fileHandleForReading.availableDataUntilNewline(), as: UTF8.self)
    guard line == "ready" else { throw TestNetworkError.setup("\(arguments) said \"\(line)\"") }
  }

  /// Runs `arguments` in namespace `namespace` to the end.
  func run(in namespace: String, _ arguments: [String], environment: [String: String] = [:]) throws -> Outcome {
    try TaskerIntegrationTests.run(
      "/usr/bin/nsenter", ["--net=/run/netns/\(namespace)", "--"] + arguments, environment: environment)
  }

  func remove() {
    // SIGKILL: the test process blocks SIGTERM in its threads, and its children inherit the mask.
    for process in processes where process.isRunning {
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
    }
    processes = []
    _ = try? TaskerIntegrationTests.run("/usr/sbin/ip", ["netns", "del", hostSim])
    _ = try? TaskerIntegrationTests.run("/usr/sbin/ip", ["netns", "del", server])
  }
}

enum TestNetworkError: Error {
  case setup(String)
}

/// PIDs of the pasta processes of tasks whose state lives under `text` (named on their command
/// line, or held as a descriptor).
func pastaProcesses(naming text: String) -> [Int32] {
  let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
  return entries.compactMap { entry -> Int32? in
    guard let pid = Int32(entry),
      let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline")
    else { return nil }
    let words = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
    guard let first = words.first, first.hasSuffix("pasta") || first.contains("passt") else { return nil }
    // The task's pasta holds its PID file, a file of the task's state directory, as a descriptor.
    let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(entry)/fd")) ?? []
    let holds = fds.contains { fd in
      ((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/fd/\(fd)")) ?? "").contains(text)
    }
    return holds || words.contains(where: { $0.contains(text) }) ? pid : nil
  }
}
