import Glibc

/// How strongly a task is isolated.
public enum Isolation: String, Codable, Sendable, CaseIterable {
  /// The original tool's jail: chroot(2) only.
  case chroot
  /// Namespaces, pivot_root, an init, reduced capabilities, cgroup limits.
  case jail
}

/// The network a jailed task sees.
public enum NetworkMode: String, Codable, Sendable, CaseIterable {
  /// A network namespace of its own, connected to the outside through pasta (user-mode
  /// networking: the task's packets become the host's sockets). The host's loopback services,
  /// its abstract unix sockets and its ports stay out of reach; only published ports come in.
  case `private`
  /// The host's network, as the original tool gave: every service on the host's loopback, the
  /// host's abstract unix sockets (daemons that trust a peer of uid 0 listen there) and its
  /// privileged ports are the task's.
  case host
  /// A network namespace of its own with only loopback, up.
  case none
}

/// The system-call filter a jailed task runs under.
public enum SeccompChoice: Equatable, Sendable {
  /// tasker's allowlist (`Resources/seccomp.json`).
  case standard
  /// No filter (`--security-opt seccomp=unconfined`).
  case unconfined
  /// A profile of the user's (`--security-opt seccomp=FILE`).
  case profile(SeccompProfile)
}

/// What the user asked of the jail.
public struct JailOptions: Equatable, Sendable {
  public var isolation: Isolation
  public var hostname: String?
  public var network: NetworkMode
  public var capAdd: [String]
  public var capDrop: [String]
  public var privileged: Bool
  public var limits: ResourceLimits
  public var seccomp: SeccompChoice
  /// Task ports reachable on the host (`--network private` only).
  public var publish: [PublishedPort]
  /// The pasta program that connects a private network (Debian's `passt` package).
  public var pastaPath: String
  /// Binds, volumes and tmpfs mounts (`-v`, `--mount`, `--tmpfs`).
  public var mounts: [TaskMount] = []
  /// `--read-only`: the root mounted read-only, with tmpfs `/tmp`, `/var/tmp` and `/run`.
  public var readOnlyRoot = false

  /// With chroot, which has no network namespace, `.private` (the default) stands for `.host`:
  /// the original tool's network.
  public init(
    isolation: Isolation = .jail, hostname: String? = nil, network: NetworkMode = .private, capAdd: [String] = [],
    capDrop: [String] = [], privileged: Bool = false, limits: ResourceLimits = ResourceLimits(),
    seccomp: SeccompChoice = .standard, publish: [PublishedPort] = [], pastaPath: String = JailPlan.defaultPastaPath
  ) {
    self.seccomp = seccomp
    self.isolation = isolation
    self.hostname = hostname
    self.network = isolation == .chroot && network == .private ? .host : network
    self.publish = publish
    self.pastaPath = pastaPath
    self.capAdd = capAdd
    self.capDrop = capDrop
    self.privileged = privileged
    self.limits = limits
  }
}

/// Everything the supervisor is to do to isolate one task, decided before anything is done:
/// built from the options and the host's cgroup layout by `make`, carried out in order by
/// `tasker-supervisor` (which reports the step that failed, its path and errno).
public struct JailPlan: Equatable, Sendable {
  /// A Linux namespace, with its clone flag.
  public enum Namespace: String, Equatable, Sendable, CaseIterable {
    case mount, pid, uts, ipc, net, cgroup, user

    public var cloneFlag: Int32 {
      switch self {
      case .user: return 0x1000_0000  // CLONE_NEWUSER
      case .mount: return 0x0002_0000  // CLONE_NEWNS
      case .pid: return 0x2000_0000  // CLONE_NEWPID
      case .uts: return 0x0400_0000  // CLONE_NEWUTS
      case .ipc: return 0x0800_0000  // CLONE_NEWIPC
      case .net: return 0x4000_0000  // CLONE_NEWNET
      case .cgroup: return 0x0200_0000  // CLONE_NEWCGROUP
      }
    }
  }

  /// One step inside the new root, before pivot_root. Paths are relative to the root and are
  /// opened without following symlinks.
  public enum Step: Equatable, Sendable {
    case mkdir(String, mode: Int)
    case mount(source: String, target: String, type: String, flags: UInt, data: String)
    /// A bind of a host path; `flags` are MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, the atime
    /// flags (a second, remounting call) and MS_REC (recursive).
    case bind(hostPath: String, target: String, flags: UInt)
    case symlink(target: String, path: String)
    case readOnly(String)
    case mask(String)
    /// A device node (`type` c, b or p); in a user namespace the host's node is bound instead.
    case device(path: String, type: Character, major: UInt32, minor: UInt32, mode: Int, uid: UInt32, gid: UInt32)
    /// A value written into a file of the root (a sysctl under `proc/sys`).
    case write(path: String, value: String)
    /// A propagation change of the mount at `path` (MS_SHARED, MS_SLAVE, MS_PRIVATE,
    /// MS_UNBINDABLE, with MS_REC).
    case propagation(path: String, flags: UInt)
    /// A detached mount tree the supervisor was given as descriptor `descriptor` (a bind
    /// source tasker opened once), moved onto `target`, which is made if missing.
    case attach(descriptor: Int32, target: String, kind: AttachKind)

    /// A read-only (or not) bind, as tasker's own device binds are.
    public static func bind(hostPath: String, target: String, readOnly: Bool) -> Step {
      .bind(hostPath: hostPath, target: target, flags: readOnly ? JailPlan.readOnly : 0)
    }
  }

  /// What an attached tree's target is: a directory, a file, or a file that replaces whatever
  /// the image has at that path (a symlink such as Debian's `/etc/resolv.conf` is removed from
  /// the task's root first, never followed).
  public enum AttachKind: String, Equatable, Sendable {
    case directory = "dir"
    case file
    case replaceFile = "replace-file"
  }

  /// The first descriptor of the supervisor that holds an attached tree (`Step.attach`); the
  /// ones below are the supervisor's fixed descriptors (see its main.c).
  public static let attachDescriptorBase: Int32 = 16
  /// Most attached trees one plan may carry.
  public static let maxAttachments = 64

  /// How the supervisor runs the process: a task's (an init, a supervisor that stays), an OCI
  /// container's (the process is PID 1, waits for `start`, the supervisor exits once created),
  /// or an exec into a running container.
  public enum Mode: String, Equatable, Sendable {
    case task, oci, exec
  }

  /// A namespace of an existing process to enter instead of a new one.
  public struct Join: Equatable, Sendable {
    public var namespace: Namespace
    public var path: String
    public init(namespace: Namespace, path: String) {
      self.namespace = namespace
      self.path = path
    }
  }

  /// One line of a user namespace's uid or gid map.
  public struct IDMap: Equatable, Sendable {
    public var inside: UInt32
    public var outside: UInt32
    public var count: UInt32
    public init(inside: UInt32, outside: UInt32, count: UInt32) {
      self.inside = inside
      self.outside = outside
      self.count = count
    }
  }

  /// The user the process runs as.
  public struct User: Equatable, Sendable {
    public var uid: UInt32
    public var gid: UInt32
    public var additionalGids: [UInt32]
    public init(uid: UInt32, gid: UInt32, additionalGids: [UInt32] = []) {
      self.uid = uid
      self.gid = gid
      self.additionalGids = additionalGids
    }
  }

  /// A resource limit (`resource` is the RLIMIT_* number).
  public struct Rlimit: Equatable, Sendable {
    public var resource: Int32
    public var soft: UInt64
    public var hard: UInt64
    public init(resource: Int32, soft: UInt64, hard: UInt64) {
      self.resource = resource
      self.soft = soft
      self.hard = hard
    }
  }

  /// The five capability sets of an OCI process.
  public struct CapabilitySets: Equatable, Sendable {
    public var bounding: Capabilities
    public var effective: Capabilities
    public var inheritable: Capabilities
    public var permitted: Capabilities
    public var ambient: Capabilities
    public init(
      bounding: Capabilities, effective: Capabilities, inheritable: Capabilities, permitted: Capabilities,
      ambient: Capabilities
    ) {
      self.bounding = bounding
      self.effective = effective
      self.inheritable = inheritable
      self.permitted = permitted
      self.ambient = ambient
    }
  }

  /// A terminal's size.
  public struct Terminal: Equatable, Sendable {
    public var rows: Int
    public var columns: Int
    public init(rows: Int, columns: Int) {
      self.rows = rows
      self.columns = columns
    }
  }

  /// The state document hooks read, less its status and PID (the supervisor puts
  /// `"status":"...","pid":N` between the two).
  public struct HookState: Equatable, Sendable {
    public var prefix: String
    public var suffix: String
    public init(prefix: String, suffix: String) {
      self.prefix = prefix
      self.suffix = suffix
    }
  }

  /// An OCI hook: when it runs, what it runs, how long it may take.
  public struct Hook: Equatable, Sendable {
    public enum Phase: String, Equatable, Sendable, CaseIterable {
      case prestart, createRuntime, createContainer, startContainer, poststart, poststop
    }
    public var phase: Phase
    public var path: String
    public var args: [String]
    public var env: [String]
    /// Seconds; 0 for none.
    public var timeout: Int
    public init(phase: Phase, path: String, args: [String], env: [String], timeout: Int) {
      self.phase = phase
      self.path = path
      self.args = args
      self.env = env
      self.timeout = timeout
    }
  }

  /// A cgroup directory: a shared parent (made if missing), or the task's own (joined by the
  /// init, removed with the task). A required one must work or the create fails.
  public struct Cgroup: Equatable, Sendable {
    public var path: String
    public var isParent: Bool
    public var required: Bool
    /// In the cgroup v2 hierarchy: the init is born in it (`CLONE_INTO_CGROUP`) rather than
    /// moved in, which would cost an RCU grace period.
    public var isUnified: Bool = false
  }

  /// A value written into a cgroup file before the task starts.
  public struct CgroupWrite: Equatable, Sendable {
    public var file: String
    public var value: String
    public var optional: Bool
  }

  public var isolation: Isolation
  public var namespaces: [Namespace]
  public var steps: [Step]
  public var hostname: String?
  public var loopbackUp: Bool
  /// A host-side command that connects the task's network namespace, run by the supervisor
  /// after the init is cloned and in its cgroups and before it is released; empty for none.
  /// The supervisor replaces `{netns}` in its words by a path to the init's network namespace
  /// that the command can open, `{pidfile}` by a file where the command leaves the PID of a
  /// helper that lives as long as the task (killed when the task ends), and `{pid}` by the
  /// init's PID.
  public var networkSetup: [String] = []
  /// What the command keeps; nil keeps everything it has (chroot, `--privileged`).
  public var capabilities: Capabilities?
  public var noNewPrivileges: Bool
  /// The command's system-call filter (nil: none, as with `--privileged`).
  public var seccomp: SeccompFilter?
  public var cgroups: [Cgroup]
  public var cgroupWrites: [CgroupWrite]
  /// Where the task's measurements are read from (memory, pids, cpu, procs).
  public var measurements: CgroupPaths
  /// The host's cgroup v2 mount, if the plan uses it.
  public var unifiedMount: String?

  // What an OCI container (`tasker-runtime`) adds; a task uses none of it.
  public var mode: Mode = .task
  public var joins: [Join] = []
  public var uidMappings: [IDMap] = []
  public var gidMappings: [IDMap] = []
  public var readOnlyRoot = false
  /// MS_* propagation flags for the root once it is `/` (0: leave it private).
  public var rootPropagation: UInt = 0
  public var noPivot = false
  public var domainname: String?
  public var user: User?
  public var umask: Int?
  public var capabilitySets: CapabilitySets?
  public var rlimits: [Rlimit] = []
  public var oomScoreAdj: Int?
  public var personality: UInt32?
  /// A terminal of this size (rows, columns) made in the jail's devpts: an OCI container's
  /// master goes over the console socket, a task's to its supervisor (`run -t`, `attach`).
  public var terminal: Terminal?
  /// A task's stdout and stderr go through its supervisor into the logs, with each line's time
  /// noted (`logs --timestamps`, `--since`).
  public var logRelay = false
  /// A task's stdin is a pipe its supervisor feeds from the attach socket (`-i`).
  public var stdinPipe = false
  public var preservedDescriptors = 0
  /// The hooks' state document, around the `"status":...,"pid":...` the supervisor fills in.
  public var hookState: HookState?
  public var hooks: [Hook] = []
  /// When the supervisor starts a task's command again after it ends.
  public var restart: RestartPolicy = .no

  // MS_* flags from <sys/mount.h>.
  static let noSUID: UInt = 2
  static let noDev: UInt = 4
  static let noExec: UInt = 8
  static let strictAtime: UInt = 1 << 24
  static let readOnly: UInt = 1
  /// What a bind's remount may set: MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC and the atime flags.
  static let bindableFlags: UInt = 1 | 2 | 4 | 8 | 1024 | 2048 | (1 << 21) | (1 << 24)

  /// Builds the plan for task `id`.
  public static func make(id: TaskID, options: JailOptions, host: CgroupHost) throws(TaskerError) -> JailPlan {
    if options.isolation == .chroot {
      var unsupported: [String] = []
      if options.hostname != nil { unsupported.append("--hostname") }
      if options.network != .host { unsupported.append("--network \(options.network.rawValue)") }
      if !options.publish.isEmpty { unsupported.append("--publish") }
      if !options.capAdd.isEmpty || !options.capDrop.isEmpty { unsupported.append("--cap-add/--cap-drop") }
      if options.privileged { unsupported.append("--privileged") }
      if options.seccomp != .standard { unsupported.append("--security-opt seccomp") }
      if !options.limits.isEmpty { unsupported.append("resource limits") }
      if !options.mounts.isEmpty { unsupported.append("--volume/--mount/--tmpfs") }
      if options.readOnlyRoot { unsupported.append("--read-only") }
      if !unsupported.isEmpty {
        throw TaskerError(
          .invalidArgument,
          "\(unsupported.joined(separator: ", ")) \(unsupported.count == 1 ? "needs" : "need") --isolation jail "
            + "(chroot cannot enforce \(unsupported.count == 1 ? "it" : "them"))")
      }
      return JailPlan.empty(.chroot)
    }

    if !options.publish.isEmpty, options.network != .private {
      throw TaskerError(.invalidArgument, "--publish needs --network private (the default)")
    }
    // One plan for a task and an OCI container: the options become a runtime spec, and the
    // spec is lowered by the same code as tasker-runtime's (ContainerPlan's mounts and
    // capabilities, SeccompProfile's filter).
    let spec = try RuntimeSpec.task(id: id, options: options)
    return try make(task: spec, id: id, options: options, host: host)
  }

  /// Lowers the spec of a task (`RuntimeSpec.task`). The options add what OCI has no words for:
  /// pasta's private network, `--privileged` (every capability the process has, not a list),
  /// and the task's cgroups (`tasker/<ID>`, with its measurements).
  public static func make(task spec: RuntimeSpec, id: TaskID, options: JailOptions, host: CgroupHost)
    throws(TaskerError)
    -> JailPlan
  {
    let linux = spec.linux ?? RuntimeSpec.Linux()
    var namespaces: [Namespace] = []
    for (index, namespace) in (linux.namespaces ?? []).enumerated() {
      guard let kind = ContainerPlan.namespaceKinds[namespace.type], namespace.path == nil else {
        throw TaskerError(.invalidArgument, "linux.namespaces[\(index)]: not a new namespace a task can have")
      }
      namespaces.append(kind)
    }
    var steps: [Step] = []
    for (index, mount) in (spec.mounts ?? []).enumerated() {
      steps += try ContainerPlan.mountSteps(mount, field: "mounts[\(index)]", bundle: "/", host: host)
    }
    // A task's devices are the host's own nodes, bound (not made: the root is nodev).
    for name in ["null", "zero", "full", "random", "urandom", "tty"] {
      steps.append(.bind(hostPath: "/dev/" + name, target: "dev/" + name, readOnly: false))
    }
    steps.append(.symlink(target: "pts/ptmx", path: "dev/ptmx"))
    for (target, path) in [
      ("/proc/self/fd", "dev/fd"), ("/proc/self/fd/0", "dev/stdin"), ("/proc/self/fd/1", "dev/stdout"),
      ("/proc/self/fd/2", "dev/stderr"),
    ] {
      steps.append(.symlink(target: target, path: path))
    }
    steps.append(.mkdir("tmp", mode: 0o1777))
    for path in linux.readonlyPaths ?? [] { steps.append(.readOnly(ContainerPlan.relative(path))) }
    for path in linux.maskedPaths ?? [] { steps.append(.mask(ContainerPlan.relative(path))) }

    let capabilities =
      options.privileged ? nil : try ContainerPlan.capabilities(spec.process?.capabilities?.bounding, "bounding")
    let seccomp = try linux.seccomp.map { (profile) throws(TaskerError) in
      try profile.filter(capabilities: capabilities ?? .all)
    }
    var plan = JailPlan(
      isolation: .jail, namespaces: namespaces, steps: steps, hostname: spec.hostname,
      loopbackUp: namespaces.contains(.net), capabilities: capabilities,
      noNewPrivileges: spec.process?.noNewPrivileges ?? false, seccomp: seccomp, cgroups: [], cgroupWrites: [],
      measurements: CgroupPaths())
    if options.network == .private {
      plan.networkSetup = pastaCommand(path: options.pastaPath, publish: options.publish)
    }
    try plan.addCgroups(id: id, limits: spec.taskLimits, host: host)
    plan.unifiedMount = host.unifiedMount
    return plan
  }

  /// The steps of the user's mounts (and `--read-only`'s tmpfs mounts), shallowest target
  /// first so that a mount inside another lands on it. `trees[i]` is the supervisor's
  /// descriptor holding the tree of `mounts[i]` and what its target is (nil for a tmpfs). Every parent of a target is
  /// made (or checked to be a real directory: the image's symlinks are never followed).
  public static func userMountSteps(
    mounts: [TaskMount], trees: [(descriptor: Int32, kind: AttachKind)?], readOnlyRoot: Bool
  )
    -> [Step]
  {
    var all = Array(zip(mounts, trees))
    if readOnlyRoot {
      // Not where the user mounted something, nor inside a host bind (the mount point would
      // be made in the host's directory).
      func taken(_ path: String) -> Bool {
        mounts.contains { mount in
          if case .host = mount.source, path.hasPrefix(mount.target + "/") { return true }
          return mount.target == path
        }
      }
      for (path, mode) in [("/tmp", "1777"), ("/var/tmp", "1777"), ("/run", "755")] where !taken(path) {
        all.append(
          (TaskMount(source: .tmpfs(options: "mode=" + mode), target: path, noSUID: true, noDev: true), nil))
      }
    }
    let ordered = all.enumerated().sorted {
      let (left, right) = (
        $0.element.0.target.split(separator: "/").count, $1.element.0.target.split(separator: "/").count
      )
      return left != right ? left < right : $0.offset < $1.offset
    }
    var steps: [Step] = []
    var made: Set<String> = []
    for (mount, tree) in ordered.map(\.element) {
      let components = mount.relativeTarget.split(separator: "/").map(String.init)
      for depth in 1..<max(1, components.count) {
        let parent = components[0..<depth].joined(separator: "/")
        if made.insert(parent).inserted { steps.append(.mkdir(parent, mode: 0o755)) }
      }
      var flags: UInt = 0
      if mount.readOnly { flags |= readOnly }
      if mount.noSUID { flags |= noSUID }
      if mount.noDev { flags |= noDev }
      if mount.noExec { flags |= noExec }
      switch mount.source {
      case .tmpfs(let options):
        steps.append(.mkdir(mount.relativeTarget, mode: 0o755))
        steps.append(.mount(source: "tmpfs", target: mount.relativeTarget, type: "tmpfs", flags: flags, data: options))
      case .host, .volume:
        if let tree {
          steps.append(.attach(descriptor: tree.descriptor, target: mount.relativeTarget, kind: tree.kind))
        }
      }
    }
    return steps
  }

  /// A plan that does nothing yet (to be filled in: an OCI container's, a hooks-only one).
  static func empty(_ isolation: Isolation = .jail) -> JailPlan {
    JailPlan(
      isolation: isolation, namespaces: [], steps: [], hostname: nil, loopbackUp: false, capabilities: nil,
      noNewPrivileges: false, seccomp: nil, cgroups: [], cgroupWrites: [], measurements: CgroupPaths())
  }

  /// Where Debian's `passt` package puts pasta.
  public static let defaultPastaPath = "/usr/bin/pasta"

  /// pasta, attached to the task's network namespace: addresses and routes copied from the
  /// host's (`--config-net`), nothing forwarded into the task but the published ports, nothing
  /// from the task to the host's loopback (`-T none -U none`), and the gateway's address not
  /// mapped to the host's loopback (`--no-map-gw`). It runs as root (`--runas 0`): as nobody it
  /// could not enter a network namespace that the host's user namespace owns; it still drops
  /// its other privileges and sandboxes itself. Messages go to its stderr only (not syslog).
  /// DNS queries to `TaskEtcFiles.pastaDNSAddress` go to the host's first resolver
  /// (`--dns-forward`): the task's resolv.conf names it in place of the host's loopback ones.
  static func pastaCommand(path: String, publish: [PublishedPort]) -> [String] {
    var words = [
      path, "--runas", "0", "--quiet", "--log-file", "/dev/null", "--config-net", "--no-map-gw", "--dns-forward",
      TaskEtcFiles.pastaDNSAddress,
    ]
    for transport in PublishedPort.Transport.allCases {
      let flag = transport == .tcp ? "--tcp-ports" : "--udp-ports"
      let ports = publish.filter { $0.transport == transport }
      if ports.isEmpty { words += [flag, "none"] }
      for port in ports { words += [flag, port.pastaSpec] }
    }
    words += ["--tcp-ns", "none", "--udp-ns", "none", "--netns", "{netns}", "--pid", "{pidfile}"]
    return words
  }

  /// The task's cgroups: one per controller it is limited or measured by, plus one in the v2
  /// hierarchy (which tracks and kills every process even without controllers). Controllers
  /// with a limit must work; the others are measured where the host allows.
  mutating func addCgroups(id: TaskID, limits: ResourceLimits, host: CgroupHost) throws(TaskerError) {
    let name = "tasker/" + id.rawValue
    var made: Set<String> = []
    func own(_ mount: String, required: Bool) -> String {
      let path = mount + "/" + name
      if !made.contains(path) {
        made.insert(path)
        cgroups.append(Cgroup(path: mount + "/tasker", isParent: true, required: false))
        cgroups.append(Cgroup(path: path, isParent: false, required: required, isUnified: mount == host.unifiedMount))
      } else if required, let index = cgroups.firstIndex(where: { $0.path == path }) {
        cgroups[index].required = true
      }
      return path
    }
    func enable(_ controller: String, in mount: String) {
      // cgroup v2 offers a controller to children only once the parent enables it.
      for parent in [mount, mount + "/tasker"] {
        cgroupWrites.append(
          CgroupWrite(file: parent + "/cgroup.subtree_control", value: "+" + controller, optional: false))
      }
    }
    func unavailable(_ flag: String, _ controller: String) -> TaskerError {
      guard !host.isUserDelegation else {
        let reason =
          host.unifiedMount == nil
          ? "this host delegates no cgroup v2 subtree to your user"
          : "the cgroup v2 subtree delegated to your user has no \(controller) controller"
        return TaskerError(
          .startFailed,
          "\(flag) cannot be enforced without root: \(reason) (an administrator delegates one with systemd's "
            + "Delegate=yes; see the README)")
      }
      return TaskerError(
        .startFailed,
        "\(flag) cannot be enforced: this host has no cgroup \(controller) controller available to tasker "
          + "(not in the cgroup v2 root's cgroup.controllers, and no cgroup v1 \(controller) hierarchy)")
    }

    var limitWrites: [CgroupWrite] = []
    if let memory = limits.memoryBytes {
      switch host.placement(of: "memory") {
      case .v2(let mount):
        enable("memory", in: mount)
        let path = own(mount, required: true)
        limitWrites.append(CgroupWrite(file: path + "/memory.max", value: String(memory), optional: false))
        limitWrites.append(CgroupWrite(file: path + "/memory.swap.max", value: "0", optional: true))
        measurements.memory = .v2(path)
      case .v1(let mount):
        let path = own(mount, required: true)
        limitWrites.append(CgroupWrite(file: path + "/memory.limit_in_bytes", value: String(memory), optional: false))
        if host.v1SwapAccounting {
          limitWrites.append(
            CgroupWrite(file: path + "/memory.memsw.limit_in_bytes", value: String(memory), optional: false))
        }
        measurements.memory = .v1(path)
      case nil:
        throw unavailable("--memory", "memory")
      }
    }
    if let pids = limits.pids {
      guard pids >= 1 else { throw TaskerError(.invalidArgument, "--pids-limit must be at least 1") }
      switch host.placement(of: "pids") {
      case .v2(let mount):
        enable("pids", in: mount)
        let path = own(mount, required: true)
        limitWrites.append(CgroupWrite(file: path + "/pids.max", value: String(pids), optional: false))
        measurements.pids = path
      case .v1(let mount):
        let path = own(mount, required: true)
        limitWrites.append(CgroupWrite(file: path + "/pids.max", value: String(pids), optional: false))
        measurements.pids = path
      case nil:
        throw unavailable("--pids-limit", "pids")
      }
    }
    if let cpus = limits.cpus {
      let period = 100_000
      let online = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
      guard cpus.isFinite, cpus >= 0.01, cpus <= Double(online) else {
        throw TaskerError(.invalidArgument, "--cpus must be from 0.01 to \(online) (the CPUs this host has)")
      }
      let quota = Int((cpus * Double(period)).rounded())
      switch host.placement(of: "cpu") {
      case .v2(let mount):
        enable("cpu", in: mount)
        let path = own(mount, required: true)
        limitWrites.append(CgroupWrite(file: path + "/cpu.max", value: "\(quota) \(period)", optional: false))
      case .v1(let mount):
        let path = own(mount, required: true)
        limitWrites.append(CgroupWrite(file: path + "/cpu.cfs_period_us", value: String(period), optional: false))
        limitWrites.append(CgroupWrite(file: path + "/cpu.cfs_quota_us", value: String(quota), optional: false))
      case nil:
        throw unavailable("--cpus", "cpu")
      }
    }

    // The v2 cgroup holds every process of the task (and counts them, and their CPU time, even
    // without controllers); the init is born in it (CLONE_INTO_CGROUP), which costs nothing.
    // Memory and CPU are measured wherever the host can: without a v2 controller, in a v1
    // cgroup of their own (moving the init into one costs an RCU grace period, about 20 ms
    // here), not required.
    if let unified = host.unifiedMount {
      let path = own(unified, required: false)
      measurements.processes = path
      if measurements.cpu == nil { measurements.cpu = .v2(path) }
      if measurements.memory == nil, host.unifiedControllers.contains("memory") {
        enable("memory", in: unified)
        measurements.memory = .v2(path)
      }
      if limits.isEmpty {
        cgroupWrites = cgroupWrites.map { CgroupWrite(file: $0.file, value: $0.value, optional: true) }
      }
    }
    if measurements.memory == nil, case .v1(let mount)? = host.placement(of: "memory") {
      measurements.memory = .v1(own(mount, required: false))
    }
    if !limits.isEmpty || measurements.cpu == nil, case .v1(let mount)? = host.placement(of: "cpuacct") {
      measurements.cpu = .v1(own(mount, required: false))
    }
    cgroupWrites += limitWrites
  }
}

/// Where a task's cgroup measurements live.
public struct CgroupPaths: Equatable, Sendable, Codable {
  public enum Versioned: Equatable, Sendable, Codable {
    case v1(String)
    case v2(String)
  }
  public var memory: Versioned?
  public var pids: String?
  public var cpu: Versioned?
  /// A cgroup whose `cgroup.procs` lists every process of the task.
  public var processes: String?

  public init() {}
}
