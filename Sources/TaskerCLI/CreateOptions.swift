import ArgumentParser
import Glibc
import Tasker
import TaskerArchive
import TaskerImage
import TaskerSystem

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

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
    name: [.short, .long], parsing: .singleValue,
    help: ArgumentHelp(
      "Set an environment variable for the command: K=V, or K (K* for every name starting with K) to pass tasker's own value, skipped where unset (repeatable; PATH has a default).",
      valueName: "K=V"))
  var env: [String] = []

  @Option(
    name: .customLong("env-file"), parsing: .singleValue,
    help: ArgumentHelp(
      "Read variables from a file: K=V lines, # comments, blank lines, a bare K as with --env (repeatable; --env wins).",
      valueName: "file"))
  var envFile: [String] = []

  @Option(
    name: [.short, .long],
    help: ArgumentHelp("Working directory inside the task's root (default: the image's, else /).", valueName: "dir"))
  var workdir: String?

  @Option(name: .long, help: ArgumentHelp("A unique name, usable wherever the ID is.", valueName: "name"))
  var name: String?

  @Option(
    name: .long, parsing: .unconditional,
    help: ArgumentHelp(
      "Seconds without data before a download (or a registry request) fails.", valueName: "seconds"))
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
    help: ArgumentHelp("Memory limit: bytes, or with k, m, g (32M, 1.5g); at least 6m.", valueName: "size"))
  var memory: String?

  @Option(
    name: .customLong("pids-limit"), parsing: .unconditional,
    help: ArgumentHelp(
      "Most processes and threads the command and what it starts may have at once (the jail's init is not counted).",
      valueName: "n"))
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

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Layered images: the platform to choose from an index (default: the host's).", valueName: "os/arch"))
  var platform: String?

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Layered images: replace the image's entrypoint: one program, or a JSON array of words (\"\": none).",
      valueName: "command"))
  var entrypoint: String?

  @OptionGroup var registry: RegistryCLIOptions

  @Flag(
    name: [.short, .long],
    help: "Keep the command's stdin open: run passes tasker's stdin; attach passes its own (else /dev/null).")
  var interactive = false

  @Flag(
    name: [.customShort("t"), .long],
    help: "Give the command a pseudo-terminal (jail only; its output goes to the stdout log).")
  var tty = false

  @Flag(
    name: .customLong("skip-unsafe-members"),
    help: "Skip (with a warning) archive members that would land outside the task's directory, instead of failing.")
  var skipUnsafeMembers = false

  @Option(
    name: [.customShort("v"), .long], parsing: .singleValue,
    help: ArgumentHelp(
      "Bind a host path, or mount a named volume (made on first use), into the task (repeatable).",
      valueName: "HOST_PATH|NAME:TASK_PATH[:ro|rw,nosuid,nodev,noexec]"))
  var volume: [String] = []

  @Option(
    name: .long, parsing: .singleValue,
    help: ArgumentHelp(
      "A mount in podman's syntax (repeatable): type=bind|volume|tmpfs,source=...,target=...[,ro].",
      valueName: "spec"))
  var mount: [String] = []

  @Option(
    name: .long, parsing: .singleValue,
    help: ArgumentHelp(
      "Mount a tmpfs (repeatable; default rw,noexec,nosuid,nodev).", valueName: "PATH[:size=64m,mode=1777]"))
  var tmpfs: [String] = []

  @Flag(name: .customLong("read-only"), help: "Mount the root read-only (with tmpfs /tmp, /var/tmp and /run).")
  var readOnly = false

  @Option(
    name: [.customShort("u"), .long],
    help: ArgumentHelp("Run the command as this user of the image.", valueName: "UID[:GID]|NAME[:GROUP]"))
  var user: String?

  @Option(
    name: .customLong("group-add"), parsing: .singleValue,
    help: ArgumentHelp("An extra supplementary group (repeatable).", valueName: "GROUP|GID"))
  var groupAdd: [String] = []

  @Argument(help: ArgumentHelp("Where the image is (a URL, a path, or dir:/path).", valueName: "IMAGE_URL"))
  var image: String

  @Argument(
    parsing: .captureForPassthrough,
    help: ArgumentHelp(
      "The command: one string, or the words after -- (a layered image's replace its Cmd; optional there).",
      valueName: "COMMANDS"))
  var command: [String] = []

  /// Whether IMAGE_URL names a layered image (`docker://`, `oci:`, ...), whose config may give
  /// the command.
  var isLayered: Bool { ImageReference.hasTransport(image) }

  func validate() throws {
    if !isLayered, command.isEmpty || command == ["--"] { throw ValidationError("missing COMMANDS") }
    if let platform {
      do {
        _ = try Platform(parsing: platform)
      } catch {
        throw ValidationError(error.description)
      }
    }
    _ = try entrypointWords()
    if !isLayered, platform != nil || entrypoint != nil {
      throw ValidationError(
        "--platform and --entrypoint need a layered image (docker://, oci:, oci-archive:, docker-archive:)")
    }
    if timeout < 1 { throw ValidationError("--timeout must be at least 1 second") }
    _ = try environmentEntries()
    if let memory {
      guard let bytes = ResourceLimits.parseSize(memory) else {
        throw ValidationError("invalid --memory \"\(memory)\": use bytes or a number with k, m, g (32M)")
      }
      if bytes < Self.memoryFloor {
        throw ValidationError("--memory must be at least \(ResourceLimits.sizeText(Self.memoryFloor))")
      }
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
    if tty, isolation == .chroot {
      throw ValidationError("-t needs --isolation jail (a terminal is made in the jail's own devpts)")
    }
    if isolation == .chroot, network == .private {
      throw ValidationError("--network private needs --isolation jail (chroot has no network namespace)")
    }
    if !publish.isEmpty, let network, network != .private {
      throw ValidationError("--publish needs --network private (the default), not --network \(network.rawValue)")
    }
    _ = try mounts()
    if isolation == .chroot, !volume.isEmpty || !mount.isEmpty || !tmpfs.isEmpty || readOnly {
      throw ValidationError("--volume, --mount, --tmpfs and --read-only need --isolation jail")
    }
    if isolation == .chroot, user != nil || !groupAdd.isEmpty {
      throw ValidationError("--user and --group-add need --isolation jail")
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
    var spec = try spec(progress: progress)
    spec.layerProgress = LayerProgressDisplay.make(quiet: quiet, linesWhenDone: false)?.callback
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

  /// `-v`, `--mount` and `--tmpfs`, in that order, checked together (`TaskMount.check`).
  func mounts() throws -> [TaskMount] {
    var result: [TaskMount] = []
    do {
      result += try volume.map { text throws(TaskerError) in try TaskMount.parseVolume(text) }
      result += try mount.map { text throws(TaskerError) in try TaskMount.parseMount(text) }
      result += try tmpfs.map { text throws(TaskerError) in try TaskMount.parseTmpfs(text) }
      try TaskMount.check(result)
    } catch {
      throw ValidationError(error.message)
    }
    return result
  }

  /// The task to create.
  func spec() throws -> TaskSpec {
    var spec = try baseSpec()
    spec.jail.mounts = try mounts()
    spec.jail.readOnlyRoot = readOnly
    spec.user = user
    spec.groupAdd = groupAdd
    spec.environmentSetsHome = env.contains { $0.hasPrefix("HOME=") }
    spec.interactive = interactive
    if tty {
      // The size of tasker's terminal where it has one; a detached task's starts at 24x80.
      let size = TerminalMode.size(of: STDIN_FILENO) ?? TerminalMode.size(of: STDOUT_FILENO) ?? (24, 80)
      spec.terminal = JailPlan.Terminal(rows: size.rows, columns: size.columns)
    }
    spec.stopSignal = stopSignal.flatMap(Signals.parse) ?? SIGTERM
    spec.restart = restart.flatMap(RestartPolicy.init(parsing:)) ?? .no
    if workdir != nil { spec.given.insert(.workdir) }
    if stopSignal != nil { spec.given.insert(.stopSignal) }
    spec.environmentAdditions = try environmentEntries()
    spec.platform = try platform.map { text in try Platform(parsing: text) }
    spec.entrypoint = try entrypointWords()
    spec.registry = registry.registry
    // --timeout is the registry's stall limit too, per request (each retried as the client does).
    spec.registry.stallSeconds = timeout
    return spec
  }

  /// `--entrypoint`: a JSON array of words, or else one program (podman's two forms); `""`
  /// clears the image's entrypoint.
  func entrypointWords() throws -> [String]? {
    guard let entrypoint else { return nil }
    if entrypoint.isEmpty { return [] }
    guard entrypoint.hasPrefix("[") else { return [entrypoint] }
    guard let words = try? JSONDecoder().decode([String].self, from: Data(entrypoint.utf8)) else {
      throw ValidationError("invalid --entrypoint \"\(entrypoint)\": a JSON array must hold strings only")
    }
    return words
  }

  /// The network when none is given: the private one; without root, where the host keeps
  /// /dev/net/tun from users (pasta cannot work there), `none`, said once on stderr. A task given
  /// `--network private` there fails with the reason instead.
  private var defaultNetwork: NetworkMode {
    guard UserNamespace.current != nil, isolation == .jail, publish.isEmpty, !TaskManager.tunDeviceIsUsable else {
      return .private
    }
    printError(
      "warning: no private network without root here (/dev/net/tun is root's alone; an administrator runs "
        + "chmod 0666 /dev/net/tun): the task gets --network none")
    return .none
  }

  private func baseSpec() throws -> TaskSpec {
    TaskSpec(
      image: image, command: try commandWords(), sha256: sha256,
      environment: TaskSpec.environment(merging: try environmentEntries()),
      workdir: workdir ?? "/", stallTimeout: timeout, name: name,
      jail: JailOptions(
        isolation: isolation, hostname: hostname, network: network ?? defaultNetwork, capAdd: capAdd, capDrop: capDrop,
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
    // A layered image without COMMANDS: its Cmd.
    if command.isEmpty { return [] }
    if command.first == "--" { return Array(command.dropFirst()) }
    if command.count > 1 { return command }
    do {
      let words = try ShellWords.split(command[0])
      if words.isEmpty { throw ValidationError("COMMANDS is empty") }
      return words
    } catch let error as ShellWords.Failure {
      throw ValidationError(error.description)
    }
  }

  /// Refuses an option of `command` (create's or run's, whoever declared it) written after
  /// IMAGE_URL, where it would have become the command or one of its words: `run IMAGE --rm
  /// "echo hi"`, `create IMAGE "sleep 1" --name foo`. The words after `--` are the command's,
  /// whatever they look like.
  func checkPlacement(in command: any ParsableCommand.Type) throws {
    guard self.command.first != "--" else { return }
    let words = self.command.prefix { $0 != "--" }
    guard words.contains(where: { $0.hasPrefix("-") && $0 != "-" }) else { return }
    let names = OptionNames(of: command)
    if let word = words.first(where: names.isOption) {
      let option = word.hasPrefix("--") ? String(word.prefix { $0 != "=" }) : word
      throw ValidationError(
        "option \(option) must come before IMAGE_URL, or come after -- to be the command's")
    }
  }

  /// The smallest --memory: podman's floor. What the init and a busybox `true` need is about
  /// 2 MiB with cgroup v1 accounting on Linux 6.1 (1 MiB kills the command, 512 KiB the init),
  /// and v2 charges more of the kernel's memory to the task.
  static let memoryFloor: UInt64 = 6 << 20

  /// The variables --env-file and --env give, in podman's order: the files first, then --env,
  /// a later value of a name winning. `K=V` is taken as it is; a bare `K` takes tasker's own
  /// value and `K*` every variable whose name starts with K; either is skipped where tasker's
  /// environment has none.
  func environmentEntries(
    environment: [String: String] = TaskerSettings.currentEnvironment()
  ) throws -> [String] {
    var entries: [String] = []
    for file in envFile {
      let bytes: [UInt8]
      do {
        bytes = try readFileBytes(file)
      } catch {
        throw ValidationError("--env-file \(file): \(error.reason)")
      }
      // Split as bytes: "\r\n" is one Character, and a line may end either way.
      for (number, raw) in bytes.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
        let line = String(decoding: raw.last == 0x0D ? raw.dropLast() : raw, as: UTF8.self)
          .drop { $0 == " " || $0 == "\t" }
        if line.isEmpty || line.hasPrefix("#") { continue }
        entries += try Self.expand(String(line), from: environment) { "--env-file \(file) line \(number + 1): \($0)" }
      }
    }
    for entry in env {
      entries += try Self.expand(entry, from: environment) { "--env: \($0)" }
    }
    return entries
  }

  /// One `K=V`, `K` or `K*` as the entries it stands for.
  static func expand(_ entry: String, from environment: [String: String], where place: (String) -> String)
    throws -> [String]
  {
    let name = String(entry.prefix { $0 != "=" })
    if name.isEmpty { throw ValidationError(place("no variable name in \"\(entry)\"")) }
    if name.contains(where: { $0 == " " || $0 == "\t" }) {
      throw ValidationError(place("variable name \"\(name)\" has white space"))
    }
    if entry.contains("=") { return [entry] }
    if name.hasSuffix("*") {
      let stem = name.dropLast()
      return environment.keys.filter { $0.hasPrefix(stem) }.sorted().map { $0 + "=" + (environment[$0] ?? "") }
    }
    return environment[name].map { [name + "=" + $0] } ?? []
  }
}

/// The option names a command declares (its option groups' too), read from argument-parser's
/// own description of it, so an option added later is known without a list kept by hand.
struct OptionNames {
  var long: Set<String> = []
  var short: Set<Character> = []

  private struct Dump: Decodable {
    struct Command: Decodable { var arguments: [Argument]? }
    struct Argument: Decodable {
      var kind: String
      var names: [Name]?
    }
    struct Name: Decodable {
      var kind: String
      var name: String
    }
    var command: Command
  }

  init(of command: any ParsableCommand.Type) {
    guard let dump = try? JSONDecoder().decode(Dump.self, from: Data(command._dumpHelp().utf8)) else { return }
    for argument in dump.command.arguments ?? [] where argument.kind != "positional" {
      for name in argument.names ?? [] {
        if name.kind == "short", let character = name.name.first {
          short.insert(character)
        } else {
          long.insert(name.name)
        }
      }
    }
  }

  /// Whether `word` is one of the options: `--name`, `--name=value`, `-n`, or short options
  /// joined (`-qp`, each letter one of them).
  func isOption(_ word: String) -> Bool {
    if word.hasPrefix("--") { return long.contains(String(word.dropFirst(2).prefix { $0 != "=" })) }
    guard word.hasPrefix("-"), word.count > 1 else { return false }
    return word.dropFirst().allSatisfy(short.contains)
  }
}

/// Exit codes as docker and the shells use them: 127 command not found, 126 not executable,
/// 64 a bad argument (a download path that does not exist, say), 125 anything else that kept
/// the task from starting.
func createExitCode(_ error: TaskerError) -> Int32 {
  switch error.code {
  case .invalidArgument: return 64
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
