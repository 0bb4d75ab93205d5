import ArgumentParser
import CTaskerShim
import Foundation
import Glibc
import Tasker

struct Exec: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Run a new process in a running container.")
  @Option(name: [.customShort("p"), .long], help: "A process spec (JSON) to run, instead of ARGS.")
  var process: String?
  @Flag(name: [.customShort("t"), .long], help: "Give the process a terminal (needs --console-socket).")
  var tty = false
  @Option(name: .customLong("console-socket")) var consoleSocket: String?
  @Option(name: .customLong("pid-file")) var pidFile: String?
  @Flag(name: [.customShort("d"), .long], help: "Return once the process started.") var detach = false
  @Option(name: .long, help: "The working directory in the container.") var cwd: String?
  @Option(name: [.customShort("e"), .long], help: "KEY=VALUE added to the environment.") var env: [String] = []
  @Option(name: [.customShort("u"), .long], help: "UID[:GID] to run as.") var user: String?
  @Option(name: [.customShort("g"), .customLong("additional-gids")]) var additionalGids: [UInt32] = []
  @Option(name: [.customShort("c"), .long], help: "A capability to add (CAP_...).") var cap: [String] = []
  @Flag(name: .customLong("no-new-privs")) var noNewPrivs = false
  @Option(name: .customLong("preserve-fds")) var preserveFDs: Int = 0
  @Argument var id: String
  @Argument(parsing: .captureForPassthrough) var args: [String] = []

  func run() throws {
    let runtime = RuntimeCommand.runtime
    var spec: RuntimeSpec.ProcessConfig
    if let process {
      let bytes: Data
      do {
        bytes = try Data(contentsOf: URL(fileURLWithPath: process))
      } catch {
        throw TaskerError(.invalidArgument, "--process \(process): \(error.localizedDescription)")
      }
      do {
        spec = try JSONDecoder().decode(RuntimeSpec.ProcessConfig.self, from: bytes)
      } catch {
        throw TaskerError(.invalidArgument, "--process \(process): not a process spec: \(error)")
      }
    } else {
      guard !args.isEmpty else { throw ValidationError("give a command to run (or --process FILE)") }
      spec = try runtime.containerProcess(id: id)
      spec.args = args.first == "--" ? Array(args.dropFirst()) : args
      spec.terminal = tty
    }
    if let cwd { spec.cwd = cwd }
    if !env.isEmpty { spec.env = (spec.env ?? []) + env }
    guard (0...1000).contains(preserveFDs) else { throw ValidationError("--preserve-fds must be 0 to 1000") }
    if let user {
      let parts = user.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
      guard let first = parts.first, let uid = UInt32(first), parts.count == 1 || UInt32(parts[1]) != nil else {
        throw ValidationError("--user must be UID[:GID]")
      }
      spec.user = RuntimeSpec.User(uid: uid, gid: parts.count == 2 ? UInt32(parts[1]) ?? 0 : 0)
    }
    if !additionalGids.isEmpty { spec.user?.additionalGids = additionalGids }
    if !cap.isEmpty {
      var sets = spec.capabilities ?? RuntimeSpec.CapabilitySets()
      for name in cap {
        for keyPath in [\RuntimeSpec.CapabilitySets.bounding, \.effective, \.permitted] {
          sets[keyPath: keyPath] = (sets[keyPath: keyPath] ?? []) + [name]
        }
      }
      spec.capabilities = sets
    }
    if noNewPrivs { spec.noNewPrivileges = true }
    if !detach { _ = tasker_become_subreaper() }
    let pid = try runtime.exec(
      id: id,
      options: ContainerRuntime.ExecOptions(
        process: spec, pidFile: pidFile, consoleSocket: try consoleSocket.map(connectConsole), detach: detach,
        preservedDescriptors: preserveFDs))
    if detach { return }
    throw ExitCode(waitForwardingSignals(pid))
  }
}

struct Ps: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "List a container's processes.")
  @Option(name: [.customShort("f"), .long], help: "table or json.") var format = "table"
  @Argument var id: String
  @Argument(parsing: .captureForPassthrough, help: "Options for ps(1) (table format).") var psOptions: [String] = []

  func run() throws {
    let pids = try RuntimeCommand.runtime.processes(id: id)
    switch format {
    case "json":
      print(String(decoding: try JSONEncoder().encode(pids), as: UTF8.self))
    case "table":
      // runc's table: ps(1)'s own lines, only those of the container's processes.
      let process = Process()
      process.executableURL = URL(fileURLWithPath: "/bin/ps")
      process.arguments = psOptions.isEmpty ? ["-ef"] : psOptions
      let pipe = Pipe()
      process.standardOutput = pipe
      try process.run()
      let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      process.waitUntilExit()
      var lines = output.split(separator: "\n")
      guard !lines.isEmpty else { return }
      let header = lines.removeFirst()
      let column = header.split(separator: " ").firstIndex(of: "PID") ?? 1
      print(header)
      let wanted = Set(pids)
      for line in lines {
        let fields = line.split(separator: " ")
        if column < fields.count, let pid = Int32(fields[column]), wanted.contains(pid) { print(line) }
      }
    default:
      throw ValidationError("--format must be table or json")
    }
  }
}

struct List: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "List the containers under --root.")
  @Option(name: [.customShort("f"), .long]) var format = "table"
  @Flag(name: [.customShort("q"), .long], help: "IDs only.") var quiet = false

  func run() throws {
    let states = RuntimeCommand.runtime.list()
    if quiet {
      for state in states { print(state.id) }
      return
    }
    switch format {
    case "json": printJSON(states)
    case "table":
      print("ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER")
      for state in states {
        print("\(state.id)\t\(state.pid)\t\(state.status)\t\(state.bundle)\t\(state.created)\t\(state.owner)")
      }
    default: throw ValidationError("--format must be table or json")
    }
  }
}

struct Update: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Change a container's cgroup limits.")
  @Option(name: [.customShort("r"), .long], help: "linux.resources JSON, a file or - for stdin.") var resources: String
  @Argument var id: String

  func run() throws {
    let bytes: Data
    if resources == "-" {
      bytes = FileHandle.standardInput.readDataToEndOfFile()
    } else {
      do {
        bytes = try Data(contentsOf: URL(fileURLWithPath: resources))
      } catch {
        throw TaskerError(.invalidArgument, "--resources \(resources): \(error.localizedDescription)")
      }
    }
    let decoded: RuntimeSpec.Linux.Resources
    do {
      decoded = try JSONDecoder().decode(RuntimeSpec.Linux.Resources.self, from: bytes)
    } catch {
      throw TaskerError(.invalidArgument, "--resources: not linux.resources JSON: \(error)")
    }
    try RuntimeCommand.runtime.update(id: id, resources: decoded)
  }
}

struct Spec: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Write a default config.json (as runc spec).")
  @Flag(name: .long, help: "For a user namespace of the caller's.") var rootless = false
  @Option(name: [.customShort("b"), .long]) var bundle: String = "."

  func run() throws {
    let path = bundle + "/config.json"
    guard !FileManager.default.fileExists(atPath: path) else {
      throw TaskerError(.invalidArgument, "\(path) already exists")
    }
    let spec =
      rootless
      ? RuntimeSpec.runcRootless(args: ["sh"], uid: getuid(), gid: getgid()) : RuntimeSpec.runcDefault(args: ["sh"])
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    do {
      try encoder.encode(spec).write(to: URL(fileURLWithPath: path))
    } catch {
      throw TaskerError(.system, "cannot write \(path): \(error.localizedDescription)")
    }
  }
}

struct Features: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "What this runtime supports (JSON).")

  func run() throws {
    let host = CgroupHost.detect()
    let features: [String: Any] = [
      "ociVersionMin": "1.0.0",
      "ociVersionMax": "1.1.0",
      "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
      "mountOptions": [
        "async", "atime", "bind", "dev", "diratime", "dirsync", "exec", "mand", "noatime", "nodev", "nodiratime",
        "noexec", "nomand", "norelatime", "nostrictatime", "nosuid", "private", "rbind", "relatime", "remount", "ro",
        "rprivate", "rshared", "rslave", "runbindable", "rw", "shared", "slave", "strictatime", "suid", "sync",
        "unbindable",
      ],
      "linux": [
        "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
        "capabilities": Capabilities.names.map { "CAP_" + $0 },
        "cgroup": [
          "v1": !host.v1Mounts.isEmpty, "v2": host.unifiedMount != nil, "systemd": false, "systemdUser": false,
        ],
        "seccomp": [
          "enabled": true,
          "actions": [
            "SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
            "SCMP_ACT_LOG", "SCMP_ACT_TRAP",
          ],
          "operators": [
            "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ",
            "SCMP_CMP_NE",
          ],
          "archs": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        ],
        "apparmor": ["enabled": false],
        "selinux": ["enabled": false],
      ],
      "annotations": ["org.opencontainers.runtime-spec.features.runtime": "tasker-runtime"],
    ]
    let data = try JSONSerialization.data(withJSONObject: features, options: [.prettyPrinted, .sortedKeys])
    print(String(decoding: data, as: UTF8.self))
  }
}
