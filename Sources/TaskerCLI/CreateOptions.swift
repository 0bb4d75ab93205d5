import ArgumentParser
import Glibc
import Tasker
import TaskerArchive
import TaskerSystem

/// The options and arguments `create` and `run` share.
struct CreateOptions: ParsableArguments {
  @Option(
    name: .long,
    help: ArgumentHelp(
      "Directory in which the task's directory is made (env TASKER_DOWNLOAD_PATH; default: the current directory).",
      valueName: "path"))
  var downloadPath: String?

  @Option(name: .long, help: ArgumentHelp("SHA-256 the image's bytes must have.", valueName: "hex"))
  var sha256: String?

  @Option(
    name: .long, parsing: .singleValue,
    help: ArgumentHelp(
      "Set an environment variable for the command (repeatable; PATH has a default).", valueName: "K=V"))
  var env: [String] = []

  @Option(name: .long, help: ArgumentHelp("Working directory inside the task's root.", valueName: "dir"))
  var workdir: String = "/"

  @Option(name: .long, help: ArgumentHelp("A unique name, usable wherever the ID is.", valueName: "name"))
  var name: String?

  @Option(
    name: .long, parsing: .unconditional,
    help: ArgumentHelp("Seconds without data before a download fails.", valueName: "seconds"))
  var timeout: Int = 30

  @Option(
    name: .long,
    help: ArgumentHelp(
      "jail (default): namespaces, pivot_root, an init, fewer capabilities, cgroup limits; chroot: the original tool's plain chroot.",
      valueName: "level"))
  var isolation: Isolation = .jail

  @Option(name: .long, help: ArgumentHelp("The jail's hostname (default: the task's ID).", valueName: "name"))
  var hostname: String?

  @Option(
    name: .long,
    help: ArgumentHelp(
      "private (default): a network of its own with outbound connectivity through pasta, nothing of the host's "
        + "reachable but published ports; host: the host's network, its loopback services and abstract sockets "
        + "(risky); none: only loopback.",
      valueName: "mode"))
  var network: NetworkMode?

  @Option(
    name: [.customShort("p"), .long], parsing: .singleValue,
    help: ArgumentHelp(
      "Publish a task port on the host (repeatable; --network private).",
      valueName: "[HOST_IP:]HOST_PORT:TASK_PORT[/tcp|udp]"))
  var publish: [String] = []

  @Option(
    name: .customLong("cap-add"), parsing: .singleValue,
    help: ArgumentHelp("Give the command a capability (repeatable; ALL for all).", valueName: "CAP"))
  var capAdd: [String] = []

  @Option(
    name: .customLong("cap-drop"), parsing: .singleValue,
    help: ArgumentHelp("Take a capability away (repeatable; ALL for all).", valueName: "CAP"))
  var capDrop: [String] = []

  @Flag(name: .long, help: "Keep every capability and allow gaining privileges (namespaces stay).")
  var privileged = false

  @Option(
    name: .customLong("security-opt"), parsing: .singleValue,
    help: ArgumentHelp(
      "seccomp=FILE (an OCI seccomp profile) or seccomp=unconfined (no filter); repeatable.", valueName: "opt"))
  var securityOpt: [String] = []

  // Numeric options take their value unconditionally, so `--cpus -1` is refused for its value
  // rather than read as a missing one.
  @Option(
    name: .long, parsing: .unconditional,
    help: ArgumentHelp("Memory limit: bytes, or with k, m, g (32M, 1.5g).", valueName: "size"))
  var memory: String?

  @Option(
    name: .customLong("pids-limit"), parsing: .unconditional,
    help: ArgumentHelp("Most processes at once.", valueName: "n"))
  var pidsLimit: Int?

  @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("CPU limit in CPUs (0.5, 2).", valueName: "n"))
  var cpus: Double?

  @Option(
    name: .customLong("max-size"),
    help: ArgumentHelp("Most bytes the image may extract to (default 64G).", valueName: "size"))
  var maxSize: String?

  @Option(
    name: .customLong("max-entries"),
    help: ArgumentHelp("Most members the image may have (default 4000000).", valueName: "n"))
  var maxEntries: Int?

  @Option(
    name: .long,
    help: ArgumentHelp(
      "missing (default): use the cached image unless its source changed; always: fetch again; never: cache only.",
      valueName: "policy"))
  var pull: PullPolicy = .missing

  @Option(
    name: .customLong("stop-signal"),
    help: ArgumentHelp("The signal stop sends first (default SIGTERM).", valueName: "signal"))
  var stopSignal: String?

  @Option(
    name: .long,
    help: ArgumentHelp(
      "When the command is started again after it ends: no (default), on-failure[:N], always.",
      valueName: "policy"))
  var restart: String?

  @Flag(name: [.short, .long], help: "No progress display while the image is fetched.")
  var quiet = false

  @Flag(
    name: .customLong("skip-unsafe-members"),
    help: "Skip (with a warning) archive members that would land outside the task's directory, instead of failing.")
  var skipUnsafeMembers = false

  @Argument(help: ArgumentHelp("Where the image is.", valueName: "IMAGE_URL"))
  var image: String

  @Argument(
    parsing: .captureForPassthrough,
    help: ArgumentHelp("The command: one string, or the words after --.", valueName: "COMMANDS"))
  var command: [String] = []

  func validate() throws {
    if command.isEmpty || command == ["--"] { throw ValidationError("missing COMMANDS") }
    if timeout < 1 { throw ValidationError("--timeout must be at least 1 second") }
    for entry in env where !entry.contains("=") || entry.hasPrefix("=") {
      throw ValidationError("--env expects K=V, got \"\(entry)\"")
    }
    if let memory, ResourceLimits.parseSize(memory) == nil {
      throw ValidationError("invalid --memory \"\(memory)\": use bytes or a number with k, m, g (32M)")
    }
    if let maxSize, ResourceLimits.parseSize(maxSize) == nil {
      throw ValidationError("invalid --max-size \"\(maxSize)\": use bytes or a number with k, m, g (10G)")
    }
    if let stopSignal, Signals.parse(stopSignal) == nil {
      throw ValidationError("unknown --stop-signal \"\(stopSignal)\"")
    }
    if let restart, RestartPolicy(parsing: restart) == nil {
      throw ValidationError("invalid --restart \"\(restart)\": use no, on-failure, on-failure:N or always")
    }
    if let maxEntries, maxEntries < 1 { throw ValidationError("--max-entries must be at least 1") }
    if let pidsLimit, pidsLimit < 1 { throw ValidationError("--pids-limit must be at least 1") }
    let online = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
    if let cpus, !(cpus >= 0.01 && cpus <= Double(online)) {
      throw ValidationError("--cpus must be from 0.01 to \(online) (the CPUs this host has)")
    }
    if let hostname, !isValidHostname(hostname) {
      throw ValidationError("invalid --hostname \"\(hostname)\": 1 to 64 letters, digits, - and .")
    }
    for cap in capAdd + capDrop where cap.uppercased() != "ALL" && Capabilities.number(of: cap) == nil {
      throw ValidationError("unknown capability \"\(cap)\"")
    }
    _ = try seccomp()
    for port in publish {
      do {
        _ = try PublishedPort(parsing: port)
      } catch {
        throw ValidationError(error.message)
      }
    }
    if isolation == .chroot, network == .private {
      throw ValidationError("--network private needs --isolation jail (chroot has no network namespace)")
    }
    if !publish.isEmpty, let network, network != .private {
      throw ValidationError("--publish needs --network private (the default), not --network \(network.rawValue)")
    }
    if let name, TaskID.isWellFormed(name) {
      throw ValidationError("invalid --name \"\(name)\": it looks like a task ID (12 hex digits)")
    }
    if let name, !TaskStore.isValidName(name) {
      throw ValidationError(
        "invalid --name \"\(name)\": use 1 to 64 letters, digits, _ . - (starting with a letter or digit)")
    }
  }

  /// Creates the task (with a progress display on a terminal), prints its warnings, and maps a
  /// failure to one line and create's exit codes.
  func createTask(state: StateOptions) async throws -> (TaskManager, TaskHandle) {
    let progress = ProgressDisplay.make(quiet: quiet)
    let spec = try spec(progress: progress)
    let manager = try await state.manager(downloadPath: downloadPath)
    let handle = try await reportingErrors(exitCode: createExitCode) {
      defer { progress?.finish() }
      return try await manager.create(spec)
    }
    for warning in handle.warnings { printError("warning: " + warning) }
    return (manager, handle)
  }

  /// The task to create, with a progress display when stderr is a terminal.
  func spec(progress: ProgressDisplay?) throws -> TaskSpec {
    var spec = try spec()
    spec.progress = progress?.callback
    return spec
  }

  /// The task to create.
  func spec() throws -> TaskSpec {
    var spec = try baseSpec()
    spec.stopSignal = stopSignal.flatMap(Signals.parse) ?? SIGTERM
    spec.restart = restart.flatMap(RestartPolicy.init(parsing:)) ?? .no
    return spec
  }

  private func baseSpec() throws -> TaskSpec {
    TaskSpec(
      image: image, command: try commandWords(), sha256: sha256, environment: TaskSpec.environment(merging: env),
      workdir: workdir, stallTimeout: timeout, name: name,
      jail: JailOptions(
        isolation: isolation, hostname: hostname, network: network ?? .private, capAdd: capAdd, capDrop: capDrop,
        privileged: privileged,
        limits: ResourceLimits(memoryBytes: memory.flatMap(ResourceLimits.parseSize), pids: pidsLimit, cpus: cpus),
        seccomp: try seccomp(),
        publish: try publish.map { text throws(TaskerError) in try PublishedPort(parsing: text) },
        pastaPath: getenv("TASKER_PASTA").map { String(cString: $0) } ?? JailPlan.defaultPastaPath),
      extractionLimits: ExtractionLimits(
        maxBytes: maxSize.flatMap(ResourceLimits.parseSize) ?? ExtractionLimits.default.maxBytes,
        maxEntries: maxEntries ?? ExtractionLimits.default.maxEntries,
        maxPathLength: ExtractionLimits.default.maxPathLength),
      skipUnsafeMembers: skipUnsafeMembers, pull: pull)
  }

  /// The filter `--security-opt` asks for. Podman's `label=disable` and `apparmor=unconfined`
  /// are accepted: this host enforces neither, so there is nothing to turn off; anything else
  /// is refused rather than ignored.
  func seccomp() throws -> SeccompChoice {
    var choice = SeccompChoice.standard
    for option in securityOpt {
      if option == "seccomp=unconfined" {
        choice = .unconfined
      } else if option.hasPrefix("seccomp=") {
        do {
          choice = .profile(try SeccompProfile.load(path: String(option.dropFirst("seccomp=".count))))
        } catch {
          throw ValidationError(error.message)
        }
      } else if !["label=disable", "apparmor=unconfined", "no-new-privileges", "no-new-privileges=true"].contains(
        option)
      {
        throw ValidationError("unsupported --security-opt \"\(option)\": use seccomp=FILE or seccomp=unconfined")
      }
    }
    return choice
  }

  /// The argv: the words after `--` as they are, or the one COMMANDS string split like a shell.
  func commandWords() throws -> [String] {
    if command.first == "--" { return Array(command.dropFirst()) }
    // `create IMAGE --name x "cmd"`: the options were meant for tasker, not for the command.
    if command.count > 1, let first = command.first, first.hasPrefix("-"),
      Self.completeHelp.contains(first.split(separator: "=").first.map(String.init) ?? first)
    {
      throw ValidationError("option \(first) must come before IMAGE_URL")
    }
    if command.count > 1 { return command }
    do {
      let words = try ShellWords.split(command[0])
      if words.isEmpty { throw ValidationError("COMMANDS is empty") }
      return words
    } catch let error as ShellWords.Failure {
      throw ValidationError(error.description)
    }
  }
}

extension CreateOptions {
  /// Every long option of create and run, for telling a misplaced option from a command word.
  static let completeHelp: Set<String> = [
    "--download-path", "--sha256", "--env", "--workdir", "--name", "--timeout", "--isolation", "--hostname",
    "--network", "--publish", "-p", "--cap-add", "--cap-drop", "--privileged", "--security-opt", "--memory",
    "--pids-limit", "--cpus",
    "--max-size",
    "--max-entries", "--pull", "--quiet", "--skip-unsafe-members", "--root", "--stop-signal", "--restart",
  ]
}

/// Exit codes as docker and the shells use them: 127 command not found, 126 not executable,
/// 125 anything else that kept the task from starting.
func createExitCode(_ error: TaskerError) -> Int32 {
  switch error.code {
  case .commandNotFound: return 127
  case .commandNotExecutable: return 126
  default: return 125
  }
}

extension Isolation: ExpressibleByArgument {}
extension NetworkMode: ExpressibleByArgument {}
extension PullPolicy: ExpressibleByArgument {}

/// RFC 1123 host names: letters, digits, hyphens and dots, 1 to 64 bytes.
func isValidHostname(_ name: String) -> Bool {
  !name.isEmpty && name.utf8.count <= 64
    && name.utf8.allSatisfy {
      (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 45 || $0 == 46
    }
}
