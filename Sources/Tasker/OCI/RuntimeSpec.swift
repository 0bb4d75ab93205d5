#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// An OCI runtime specification document, the bundle's `config.json` (runtime-spec v1.0.2 to v1.2), as
/// `runc spec` and `crun spec` print it and containerd writes it.
///
/// Fields the spec marks REQUIRED are non-optional, so a document without them does not decode
/// (`decode(_:)` names the missing key); every OPTIONAL field is an `Optional`, and a nil one is
/// left out when encoding. Unknown keys are ignored. Structural rules beyond types: `validate()`.
public struct RuntimeSpec: Codable, Equatable, Sendable {
  /// The version of the spec the document follows, in SemVer (`ociVersion`).
  public var ociVersion: String
  /// The container's init process (`process`).
  public var process: ProcessConfig?
  /// The container's root filesystem (`root`).
  public var root: Root?
  /// The container's host name, in its UTS namespace (`hostname`).
  public var hostname: String?
  /// The container's NIS domain name, in its UTS namespace (`domainname`).
  public var domainname: String?
  /// Mounts made in this order on top of the root (`mounts`).
  public var mounts: [Mount]?
  /// Programs run at points of the container's lifecycle (`hooks`).
  public var hooks: Hooks?
  /// Arbitrary metadata for the container (`annotations`).
  public var annotations: [String: String]?
  /// The Linux-specific configuration (`linux`).
  public var linux: Linux?
  /// The Solaris-specific configuration, kept as read (`solaris`).
  public var solaris: OpaqueValue?
  /// The Windows-specific configuration, kept as read (`windows`).
  public var windows: OpaqueValue?
  /// The virtual-machine configuration, kept as read (`vm`).
  public var vm: OpaqueValue?
  /// The z/OS-specific configuration, kept as read (`zos`).
  public var zos: OpaqueValue?

  public init(
    ociVersion: String, process: ProcessConfig? = nil, root: Root? = nil, hostname: String? = nil,
    domainname: String? = nil, mounts: [Mount]? = nil, hooks: Hooks? = nil, annotations: [String: String]? = nil,
    linux: Linux? = nil, solaris: OpaqueValue? = nil, windows: OpaqueValue? = nil, vm: OpaqueValue? = nil,
    zos: OpaqueValue? = nil
  ) {
    self.ociVersion = ociVersion
    self.process = process
    self.root = root
    self.hostname = hostname
    self.domainname = domainname
    self.mounts = mounts
    self.hooks = hooks
    self.annotations = annotations
    self.linux = linux
    self.solaris = solaris
    self.windows = windows
    self.vm = vm
    self.zos = zos
  }

  /// The container's init process (`process`); not `Process`, which would hide Foundation's.
  public struct ProcessConfig: Codable, Equatable, Sendable {
    /// Whether the process gets a pseudo-terminal (`process.terminal`).
    public var terminal: Bool?
    /// The terminal's size in characters, used only with a terminal (`process.consoleSize`).
    public var consoleSize: ConsoleSize?
    /// The user the process runs as (`process.user`).
    public var user: User?
    /// The program and its arguments, like execvp's argv (`process.args`).
    public var args: [String]?
    /// The whole command line, Windows only (`process.commandLine`).
    public var commandLine: String?
    /// The environment as `KEY=value` strings (`process.env`).
    public var env: [String]?
    /// The working directory, absolute, inside the container (`process.cwd`).
    public var cwd: String
    /// The process's capability sets (`process.capabilities`).
    public var capabilities: CapabilitySets?
    /// The resource limits set with setrlimit(2) (`process.rlimits`).
    public var rlimits: [Rlimit]?
    /// Whether the process may not gain privileges across exec (`process.noNewPrivileges`).
    public var noNewPrivileges: Bool?
    /// The AppArmor profile the process runs under (`process.apparmorProfile`).
    public var apparmorProfile: String?
    /// The value written to /proc/PID/oom_score_adj (`process.oomScoreAdj`).
    public var oomScoreAdj: Int?
    /// The SELinux label of the process (`process.selinuxLabel`).
    public var selinuxLabel: String?
    /// The process's I/O scheduling class and priority (`process.ioPriority`).
    public var ioPriority: IOPriority?
    /// The process's CPU scheduling policy, set with sched_setattr(2) (`process.scheduler`).
    public var scheduler: Scheduler?
    /// The CPUs the runtime and the process run on around exec (`process.execCPUAffinity`).
    public var execCPUAffinity: ExecCPUAffinity?

    public init(
      terminal: Bool? = nil, consoleSize: ConsoleSize? = nil, user: User? = nil, args: [String]? = nil,
      commandLine: String? = nil, env: [String]? = nil, cwd: String, capabilities: CapabilitySets? = nil,
      rlimits: [Rlimit]? = nil, noNewPrivileges: Bool? = nil, apparmorProfile: String? = nil,
      oomScoreAdj: Int? = nil, selinuxLabel: String? = nil, ioPriority: IOPriority? = nil,
      scheduler: Scheduler? = nil, execCPUAffinity: ExecCPUAffinity? = nil
    ) {
      self.terminal = terminal
      self.consoleSize = consoleSize
      self.user = user
      self.args = args
      self.commandLine = commandLine
      self.env = env
      self.cwd = cwd
      self.capabilities = capabilities
      self.rlimits = rlimits
      self.noNewPrivileges = noNewPrivileges
      self.apparmorProfile = apparmorProfile
      self.oomScoreAdj = oomScoreAdj
      self.selinuxLabel = selinuxLabel
      self.ioPriority = ioPriority
      self.scheduler = scheduler
      self.execCPUAffinity = execCPUAffinity
    }
  }

  /// A terminal's size in characters (`process.consoleSize`).
  public struct ConsoleSize: Codable, Equatable, Sendable {
    /// Rows (`height`).
    public var height: UInt
    /// Columns (`width`).
    public var width: UInt

    public init(height: UInt, width: UInt) {
      self.height = height
      self.width = width
    }
  }

  /// The user a process runs as (`process.user`).
  public struct User: Codable, Equatable, Sendable {
    /// The user ID in the container's user namespace (`uid`).
    public var uid: UInt32
    /// The group ID in the container's user namespace (`gid`).
    public var gid: UInt32
    /// The file-mode creation mask (`umask`).
    public var umask: UInt32?
    /// Supplementary group IDs (`additionalGids`).
    public var additionalGids: [UInt32]?
    /// The user's name, Windows only (`username`).
    public var username: String?

    public init(
      uid: UInt32, gid: UInt32, umask: UInt32? = nil, additionalGids: [UInt32]? = nil, username: String? = nil
    ) {
      self.uid = uid
      self.gid = gid
      self.umask = umask
      self.additionalGids = additionalGids
      self.username = username
    }
  }

  /// A process's capability sets, each a list of names like `CAP_KILL` (`process.capabilities`).
  public struct CapabilitySets: Codable, Equatable, Sendable {
    /// The bounding set (`bounding`).
    public var bounding: [String]?
    /// The effective set (`effective`).
    public var effective: [String]?
    /// The inheritable set (`inheritable`).
    public var inheritable: [String]?
    /// The permitted set (`permitted`).
    public var permitted: [String]?
    /// The ambient set (`ambient`).
    public var ambient: [String]?

    public init(
      bounding: [String]? = nil, effective: [String]? = nil, inheritable: [String]? = nil,
      permitted: [String]? = nil, ambient: [String]? = nil
    ) {
      self.bounding = bounding
      self.effective = effective
      self.inheritable = inheritable
      self.permitted = permitted
      self.ambient = ambient
    }
  }

  /// One resource limit (an entry of `process.rlimits`).
  public struct Rlimit: Codable, Equatable, Sendable {
    /// The resource, like `RLIMIT_NOFILE` (`type`).
    public var type: String
    /// The ceiling for the soft limit (`hard`).
    public var hard: UInt64
    /// The limit the kernel enforces (`soft`).
    public var soft: UInt64

    public init(type: String, hard: UInt64, soft: UInt64) {
      self.type = type
      self.hard = hard
      self.soft = soft
    }
  }

  /// A process's I/O scheduling class and priority, set with ioprio_set(2) (`process.ioPriority`).
  public struct IOPriority: Codable, Equatable, Sendable {
    /// `IOPRIO_CLASS_RT`, `IOPRIO_CLASS_BE` or `IOPRIO_CLASS_IDLE` (`class`).
    public var `class`: String
    /// The priority within the class, 0 (highest) to 7 (`priority`).
    public var priority: Int?

    public init(class: String, priority: Int? = nil) {
      self.class = `class`
      self.priority = priority
    }
  }

  /// A process's CPU scheduling policy and attributes, set with sched_setattr(2) (`process.scheduler`).
  public struct Scheduler: Codable, Equatable, Sendable {
    /// The policy, like `SCHED_OTHER` or `SCHED_FIFO` (`policy`).
    public var policy: String
    /// The nice value for `SCHED_OTHER` and `SCHED_BATCH` (`nice`).
    public var nice: Int32?
    /// The static priority for `SCHED_FIFO` and `SCHED_RR` (`priority`).
    public var priority: Int32?
    /// Flags like `SCHED_FLAG_RESET_ON_FORK` (`flags`).
    public var flags: [String]?
    /// The runtime in nanoseconds for `SCHED_DEADLINE` (`runtime`).
    public var runtime: UInt64?
    /// The deadline in nanoseconds for `SCHED_DEADLINE` (`deadline`).
    public var deadline: UInt64?
    /// The period in nanoseconds for `SCHED_DEADLINE` (`period`).
    public var period: UInt64?

    public init(
      policy: String, nice: Int32? = nil, priority: Int32? = nil, flags: [String]? = nil, runtime: UInt64? = nil,
      deadline: UInt64? = nil, period: UInt64? = nil
    ) {
      self.policy = policy
      self.nice = nice
      self.priority = priority
      self.flags = flags
      self.runtime = runtime
      self.deadline = deadline
      self.period = period
    }
  }

  /// The CPUs, in cpuset list format, a process runs on before and after exec (`process.execCPUAffinity`).
  public struct ExecCPUAffinity: Codable, Equatable, Sendable {
    /// The affinity of the runtime's process that enters the container (`initial`).
    public var initial: String?
    /// The affinity of the container's process once it executes (`final`).
    public var final: String?

    public init(initial: String? = nil, final: String? = nil) {
      self.initial = initial
      self.final = final
    }
  }

  /// The container's root filesystem (`root`).
  public struct Root: Codable, Equatable, Sendable {
    /// The root's path, absolute or relative to the bundle (`root.path`).
    public var path: String
    /// Whether the root is mounted read-only (`root.readonly`).
    public var readonly: Bool?

    public init(path: String, readonly: Bool? = nil) {
      self.path = path
      self.readonly = readonly
    }
  }

  /// One mount (an entry of `mounts`).
  public struct Mount: Codable, Equatable, Sendable {
    /// Where it is mounted, inside the container (`destination`).
    public var destination: String
    /// The filesystem type, like `proc` or `tmpfs`; `none` or absent for a bind mount (`type`).
    public var type: String?
    /// A device, a host path for a bind mount, or a name for a pseudo-filesystem (`source`).
    public var source: String?
    /// mount(8) options, like `nosuid` or `rbind` (`options`).
    public var options: [String]?
    /// The mount's ID-mapping of user IDs (`uidMappings`).
    public var uidMappings: [IDMapping]?
    /// The mount's ID-mapping of group IDs (`gidMappings`).
    public var gidMappings: [IDMapping]?

    public init(
      destination: String, type: String? = nil, source: String? = nil, options: [String]? = nil,
      uidMappings: [IDMapping]? = nil, gidMappings: [IDMapping]? = nil
    ) {
      self.destination = destination
      self.type = type
      self.source = source
      self.options = options
      self.uidMappings = uidMappings
      self.gidMappings = gidMappings
    }
  }

  /// A range of IDs mapped between the container and the host (`linux.uidMappings`, `mounts[].uidMappings`).
  public struct IDMapping: Codable, Equatable, Sendable {
    /// The first ID in the container (`containerID`).
    public var containerID: UInt32
    /// The first ID on the host (`hostID`).
    public var hostID: UInt32
    /// How many IDs the range holds (`size`).
    public var size: UInt32

    public init(containerID: UInt32, hostID: UInt32, size: UInt32) {
      self.containerID = containerID
      self.hostID = hostID
      self.size = size
    }
  }

  /// Programs run at points of the container's lifecycle, each list in order (`hooks`).
  public struct Hooks: Codable, Equatable, Sendable {
    /// Run in the runtime's namespaces after the namespaces are made; deprecated (`hooks.prestart`).
    public var prestart: [Hook]?
    /// Run in the runtime's namespaces after the namespaces are made (`hooks.createRuntime`).
    public var createRuntime: [Hook]?
    /// Run in the container's namespaces before pivot_root (`hooks.createContainer`).
    public var createContainer: [Hook]?
    /// Run in the container's namespaces before the user's process (`hooks.startContainer`).
    public var startContainer: [Hook]?
    /// Run in the runtime's namespaces after the user's process started (`hooks.poststart`).
    public var poststart: [Hook]?
    /// Run in the runtime's namespaces after the container is deleted (`hooks.poststop`).
    public var poststop: [Hook]?

    public init(
      prestart: [Hook]? = nil, createRuntime: [Hook]? = nil, createContainer: [Hook]? = nil,
      startContainer: [Hook]? = nil, poststart: [Hook]? = nil, poststop: [Hook]? = nil
    ) {
      self.prestart = prestart
      self.createRuntime = createRuntime
      self.createContainer = createContainer
      self.startContainer = startContainer
      self.poststart = poststart
      self.poststop = poststop
    }
  }

  /// One hook: a program, its arguments and environment (an entry of a `hooks` list).
  public struct Hook: Codable, Equatable, Sendable {
    /// The program's absolute path (`path`).
    public var path: String
    /// The program's argv, including argv[0] (`args`).
    public var args: [String]?
    /// The program's environment as `KEY=value` strings (`env`).
    public var env: [String]?
    /// Seconds after which the hook is aborted (`timeout`).
    public var timeout: Int?

    public init(path: String, args: [String]? = nil, env: [String]? = nil, timeout: Int? = nil) {
      self.path = path
      self.args = args
      self.env = env
      self.timeout = timeout
    }
  }

  /// Reads a document from JSON bytes; the error names the JSON field path of what is wrong.
  public static func decode(_ bytes: [UInt8]) throws(TaskerError) -> RuntimeSpec {
    guard bytes.count <= 16 << 20 else { throw TaskerError(.invalidArgument, "config.json larger than 16 MiB") }
    let data = Data(bytes)
    do {
      return try JSONDecoder().decode(RuntimeSpec.self, from: data)
    } catch let error as DecodingError {
      // Foundation reports a number that does not fit its field (a negative uid) as invalid JSON
      // with no path; the document's parsing as bare JSON tells the two apart.
      let parses = (try? JSONDecoder().decode(OpaqueValue.self, from: data)) != nil
      throw TaskerError(.invalidArgument, Self.describe(error, parses: parses), cause: error)
    } catch {
      throw TaskerError(.invalidArgument, "config.json: \(error)")
    }
  }

  /// A decoding error as `mounts[3].destination: missing`.
  static func describe(_ error: DecodingError, parses: Bool) -> String {
    func path(_ codingPath: [any CodingKey]) -> String {
      let keys = codingPath.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined()
      return keys.hasPrefix(".") ? String(keys.dropFirst()) : keys
    }
    switch error {
    case .dataCorrupted(let context):
      if !context.codingPath.isEmpty { return "\(path(context.codingPath)): invalid value" }
      return parses ? "config.json: a number does not fit its field" : "config.json: not valid JSON"
    case .keyNotFound(let key, let context):
      return "\(path(context.codingPath + [key])): missing"
    case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
      let what =
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "a boolean"
        case is [Any].Type: "an array"
        case is [String: Any].Type: "an object"
        default: "a value of type \(type)"
        }
      let place = context.codingPath.isEmpty ? "config.json" : path(context.codingPath)
      return "\(place): expected \(what)"
    @unknown default:
      return "config.json: \(error)"
    }
  }
}
