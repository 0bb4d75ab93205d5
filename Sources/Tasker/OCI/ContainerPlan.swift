import Foundation
import Glibc
import TaskerSystem

/// An OCI container's plan, as `tasker-runtime create` carries it out: the jail plan (mode
/// `.oci`), the process's words and environment, and the cgroups the other commands act on.
public struct ContainerPlan: Equatable, Sendable {
  public var jail: JailPlan
  public var args: [String]
  public var env: [String]
  public var workdir: String
  /// The container's own cgroup directories, one per hierarchy (kill --all, ps, pause, delete).
  public var cgroups: [String]
  /// Where pausing writes: the v2 cgroup's `cgroup.freeze`, or the v1 freezer's `freezer.state`.
  public var freezer: Freezer?
  /// What the spec asked that has no effect on this host (told on stderr by tasker-runtime).
  public var warnings: [String] = []

  public enum Freezer: Equatable, Sendable, Codable {
    case v2(String)
    case v1(String)
  }

  /// What the runtime was asked besides the spec.
  public struct Options: Equatable, Sendable {
    public var noPivot = false
    public var preservedDescriptors = 0
    /// A console socket was given (needed when `process.terminal` is true).
    public var consoleSocket = false
    /// For a create (not an exec): the container's cgroups must not hold processes yet.
    public var creating = false

    public init(
      noPivot: Bool = false, preservedDescriptors: Int = 0, consoleSocket: Bool = false, creating: Bool = false
    ) {
      self.creating = creating
      self.noPivot = noPivot
      self.preservedDescriptors = preservedDescriptors
      self.consoleSocket = consoleSocket
    }
  }

  /// Lowers `spec` (of the bundle at `bundle`) to what the supervisor does. Every field is
  /// either carried out or an error naming it: nothing is dropped silently.
  public static func make(
    spec: RuntimeSpec, id: String, bundle: String, host: CgroupHost, options: Options = Options()
  ) throws(TaskerError) -> ContainerPlan {
    try spec.validate()
    // A config without a process makes a container that ends as soon as it is started (what
    // runtime-tools' start test expects of it).
    let process = spec.process ?? RuntimeSpec.ProcessConfig(cwd: "/")
    let linux = spec.linux ?? RuntimeSpec.Linux()
    if let label = process.selinuxLabel, !label.isEmpty { throw unsupported("process.selinuxLabel", "SELinux") }
    // A mount label on a host without SELinux has nothing to label: said, not dropped silently
    // (crun goes on too); where SELinux is on, tasker-runtime cannot apply it and refuses.
    var warnings: [String] = []
    if let label = linux.mountLabel, !label.isEmpty {
      guard !hostHasSELinux else { throw unsupported("linux.mountLabel", "SELinux labels") }
      warnings.append("linux.mountLabel \"\(label)\" has no effect: this host has no SELinux")
    }
    if let profile = process.apparmorProfile, !profile.isEmpty {
      throw unsupported("process.apparmorProfile", "AppArmor")
    }
    if linux.intelRdt != nil { throw unsupported("linux.intelRdt", "Intel RDT") }
    if process.scheduler != nil { throw unsupported("process.scheduler", "scheduling policies") }
    if process.ioPriority != nil { throw unsupported("process.ioPriority", "I/O priorities") }
    if let offsets = linux.timeOffsets, !offsets.isEmpty { throw unsupported("linux.timeOffsets", "time namespaces") }
    if let devices = linux.netDevices, !devices.isEmpty { throw unsupported("linux.netDevices", "moving net devices") }
    if process.terminal == true, !options.consoleSocket {
      throw invalid("process.terminal", "true needs --console-socket")
    }

    var plan = JailPlan.empty()
    plan.noNewPrivileges = process.noNewPrivileges ?? false
    plan.mode = .oci
    plan.noPivot = options.noPivot
    plan.preservedDescriptors = options.preservedDescriptors

    // Namespaces: new ones by clone flag, existing ones entered by path.
    for (index, namespace) in (linux.namespaces ?? []).enumerated() {
      let field = "linux.namespaces[\(index)]"
      guard let kind = namespaceKinds[namespace.type] else {
        throw unsupported("\(field).type", "\"\(namespace.type)\" namespaces")
      }
      if let path = namespace.path, !path.isEmpty {
        plan.joins.append(JailPlan.Join(namespace: kind, path: path))
      } else {
        plan.namespaces.append(kind)
      }
    }
    let isNew = { (kind: JailPlan.Namespace) in plan.namespaces.contains(kind) }
    let owns = { (kind: JailPlan.Namespace) in isNew(kind) || plan.joins.contains { $0.namespace == kind } }
    let userNamespace = owns(.user)
    if isNew(.user) {
      guard let uids = linux.uidMappings, !uids.isEmpty, let gids = linux.gidMappings, !gids.isEmpty else {
        throw invalid("linux.uidMappings", "a new user namespace needs uid and gid mappings")
      }
      plan.uidMappings = uids.map { JailPlan.IDMap(inside: $0.containerID, outside: $0.hostID, count: $0.size) }
      plan.gidMappings = gids.map { JailPlan.IDMap(inside: $0.containerID, outside: $0.hostID, count: $0.size) }
      // The supervisor writes the maps; the clone flag is its to add.
      plan.namespaces.removeAll { $0 == .user }
    }
    if let hostname = spec.hostname, !hostname.isEmpty {
      guard owns(.uts) else { throw invalid("hostname", "needs a uts namespace of the container's") }
      plan.hostname = hostname
    }
    if let domainname = spec.domainname, !domainname.isEmpty {
      guard owns(.uts) else { throw invalid("domainname", "needs a uts namespace of the container's") }
      plan.domainname = domainname
    }

    // The filesystem: the spec's mounts in order, then devices, sysctls, read-only and masked
    // paths (runc's order).
    // In a user namespace without a cgroup namespace of its own, cgroupfs may not be mounted:
    // the container's own cgroup directories are bound instead, as runc does.
    let bindCgroups =
      userNamespace && !owns(.cgroup) ? ContainerCgroups(id: id, path: linux.cgroupsPath, host: host).path : nil
    for (index, mount) in (spec.mounts ?? []).enumerated() {
      plan.steps += try mountSteps(
        mount, field: "mounts[\(index)]", bundle: bundle, host: host, bindCgroups: bindCgroups)
    }
    for (index, device) in (linux.devices ?? []).enumerated() {
      _ = try below(device.path, "linux.devices[\(index)].path")
    }
    plan.steps += deviceSteps(linux.devices ?? [], userNamespace: userNamespace)
    for (key, value) in (linux.sysctl ?? [:]).sorted(by: { $0.key < $1.key }) {
      guard !key.isEmpty, !key.contains(".."), !key.hasPrefix("/"), !key.contains("/") else {
        throw invalid("linux.sysctl", "bad key \"\(key)\"")
      }
      // Only what a namespace of the container's own holds; anything else is the host's.
      let namespace = sysctlNamespace(key)
      guard let namespace, owns(namespace) else {
        throw invalid(
          "linux.sysctl", "\"\(key)\" is not in a kernel namespace of the container's (it would change the host)")
      }
      plan.steps.append(.write(path: "proc/sys/" + key.replacingOccurrences(of: ".", with: "/"), value: value))
    }
    for (index, path) in (linux.readonlyPaths ?? []).enumerated() {
      plan.steps.append(.readOnly(try below(path, "linux.readonlyPaths[\(index)]")))
    }
    for (index, path) in (linux.maskedPaths ?? []).enumerated() {
      plan.steps.append(.mask(try below(path, "linux.maskedPaths[\(index)]")))
    }
    plan.readOnlyRoot = spec.root?.readonly ?? false
    if let propagation = linux.rootfsPropagation, !propagation.isEmpty {
      guard let flags = propagationFlags[propagation] else {
        throw invalid("linux.rootfsPropagation", "unknown propagation \"\(propagation)\"")
      }
      plan.rootPropagation = flags
    }

    // The process.
    let user = process.user ?? RuntimeSpec.User(uid: 0, gid: 0)
    plan.user = JailPlan.User(uid: user.uid, gid: user.gid, additionalGids: user.additionalGids ?? [])
    plan.umask = Int(user.umask ?? 0o022)
    if let sets = process.capabilities {
      let parse = capabilities(_:_:)
      plan.capabilitySets = JailPlan.CapabilitySets(
        bounding: try parse(sets.bounding, "bounding"), effective: try parse(sets.effective, "effective"),
        inheritable: try parse(sets.inheritable, "inheritable"), permitted: try parse(sets.permitted, "permitted"),
        ambient: try parse(sets.ambient, "ambient"))
    } else {
      let none = Capabilities(mask: 0)
      plan.capabilitySets = JailPlan.CapabilitySets(
        bounding: none, effective: none, inheritable: none, permitted: none, ambient: none)
    }
    for (index, limit) in (process.rlimits ?? []).enumerated() {
      guard let resource = rlimitNumbers[limit.type] else {
        throw invalid("process.rlimits[\(index)].type", "unknown rlimit \"\(limit.type)\"")
      }
      guard limit.soft <= limit.hard else {
        throw invalid("process.rlimits[\(index)]", "soft limit above the hard one")
      }
      plan.rlimits.append(JailPlan.Rlimit(resource: resource, soft: limit.soft, hard: limit.hard))
    }
    if let score = process.oomScoreAdj {
      guard (-1000...1000).contains(score) else { throw invalid("process.oomScoreAdj", "must be -1000 to 1000") }
      plan.oomScoreAdj = score
    }
    if let personality = linux.personality {
      switch personality.domain {
      case "LINUX": plan.personality = 0
      case "LINUX32": plan.personality = 8  // PER_LINUX32
      default: throw invalid("linux.personality.domain", "unknown domain \"\(personality.domain)\"")
      }
      if let flags = personality.flags, !flags.isEmpty {
        throw unsupported("linux.personality.flags", "personality flags")
      }
    }
    if let profile = linux.seccomp {
      plan.seccomp = try profile.filter(capabilities: plan.capabilitySets?.bounding ?? .all)
    }
    if process.terminal == true {
      plan.terminal = JailPlan.Terminal(
        rows: Int(clamping: min(process.consoleSize?.height ?? 0, 65535)),
        columns: Int(clamping: min(process.consoleSize?.width ?? 0, 65535)))
    }

    // Hooks, with the state they read.
    let state = try hookState(spec: spec, id: id, bundle: bundle)
    plan.hookState = state
    if let hooks = spec.hooks {
      let phases: [(JailPlan.Hook.Phase, [RuntimeSpec.Hook]?)] = [
        (.prestart, hooks.prestart), (.createRuntime, hooks.createRuntime), (.createContainer, hooks.createContainer),
        (.startContainer, hooks.startContainer), (.poststart, hooks.poststart), (.poststop, hooks.poststop),
      ]
      // prestart hooks run at start (ContainerRuntime.start), not during create.
      for (phase, list) in phases where phase != .prestart {
        for hook in list ?? [] {
          plan.hooks.append(
            JailPlan.Hook(
              phase: phase, path: hook.path, args: hook.args ?? [], env: hook.env ?? [], timeout: hook.timeout ?? 0))
        }
      }
    }

    // cgroups: the container's own directory in every hierarchy, the limits written first.
    var cgroups = ContainerCgroups(id: id, path: linux.cgroupsPath, host: host)
    try cgroups.apply(linux.resources, devices: linux.devices ?? [], to: &plan, creating: options.creating)
    // A new cgroup namespace is unshared by the process once it sits in its cgroups (the
    // document's `cgroupns` record), so that its root is the container's cgroup.
    plan.unifiedMount = host.unifiedMount

    let args = process.args ?? []
    return ContainerPlan(
      jail: plan, args: args, env: process.env ?? [], workdir: process.cwd, cgroups: cgroups.directories,
      freezer: cgroups.freezer, warnings: warnings)
  }

  /// The capabilities a set of `process.capabilities` names (`CAP_` names; an unknown one is an
  /// error naming its place).
  static func capabilities(_ names: [String]?, _ field: String) throws(TaskerError) -> Capabilities {
    var mask: UInt64 = 0
    for (index, name) in (names ?? []).enumerated() {
      let bare = name.hasPrefix("CAP_") ? String(name.dropFirst(4)) : name
      guard let number = Capabilities.number(of: bare) else {
        throw invalid("process.capabilities.\(field)[\(index)]", "unknown capability \"\(name)\"")
      }
      mask |= 1 << UInt64(number)
    }
    return Capabilities(mask: mask)
  }

  /// SELinux is on when its filesystem is mounted (libselinux's own test).
  static var hostHasSELinux: Bool { pathExists("/sys/fs/selinux/enforce") }

  /// The namespace a sysctl belongs to, as runc's list has them (ipc, uts, net); nil for the
  /// host-wide ones.
  static func sysctlNamespace(_ key: String) -> JailPlan.Namespace? {
    let ipc: Set<String> = [
      "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
      "kernel.shmmni", "kernel.shm_rmid_forced",
    ]
    if ipc.contains(key) || key.hasPrefix("fs.mqueue.") { return .ipc }
    if key == "kernel.hostname" || key == "kernel.domainname" { return .uts }
    if key.hasPrefix("net.") { return .net }
    return nil
  }

  static let namespaceKinds: [String: JailPlan.Namespace] = [
    "pid": .pid, "network": .net, "mount": .mount, "ipc": .ipc, "uts": .uts, "user": .user, "cgroup": .cgroup,
  ]

  static let propagationFlags: [String: UInt] = [
    "shared": shared, "slave": slave, "private": `private`, "unbindable": unbindable,
    "rshared": shared | recursive, "rslave": slave | recursive, "rprivate": `private` | recursive,
    "runbindable": unbindable | recursive,
  ]

  // MS_* flags from <sys/mount.h>.
  static let recursive: UInt = 0x4000
  static let shared: UInt = 1 << 20
  static let slave: UInt = 1 << 19
  static let `private`: UInt = 1 << 18
  static let unbindable: UInt = 1 << 17
  static let bindFlag: UInt = 0x1000

  /// mount(8)'s flag options: name to (flag, set or clear).
  static let mountFlags: [String: (UInt, Bool)] = [
    "ro": (1, true), "rw": (1, false), "nosuid": (2, true), "suid": (2, false), "nodev": (4, true),
    "dev": (4, false), "noexec": (8, true), "exec": (8, false), "sync": (16, true), "async": (16, false),
    "remount": (32, true), "mand": (64, true), "nomand": (64, false), "dirsync": (128, true),
    "noatime": (1024, true), "atime": (1024, false), "nodiratime": (2048, true), "diratime": (2048, false),
    "relatime": (1 << 21, true), "norelatime": (1 << 21, false), "strictatime": (1 << 24, true),
    "nostrictatime": (1 << 24, false),
  ]

  /// The steps of one `mounts[]` entry: a bind, or a filesystem, with its parents made and any
  /// propagation change after it.
  static func mountSteps(
    _ mount: RuntimeSpec.Mount, field: String, bundle: String, host: CgroupHost, bindCgroups: String? = nil
  ) throws(TaskerError) -> [JailPlan.Step] {
    let target = relative(mount.destination)
    guard !target.isEmpty, !target.split(separator: "/").contains("..") else {
      throw invalid("\(field).destination", "\"\(mount.destination)\" is not a path below the root")
    }
    if mount.uidMappings != nil || mount.gidMappings != nil {
      throw unsupported("\(field).uidMappings", "id-mapped mounts")
    }
    var flags: UInt = 0
    var data: [String] = []
    var propagation: UInt = 0
    var isBind = mount.type == "bind"
    for option in mount.options ?? [] {
      if option == "bind" || option == "rbind" {
        isBind = true
        if option == "rbind" { flags |= recursive }
      } else if let change = propagationFlags[option] {
        propagation |= change
      } else if let (flag, set) = mountFlags[option] {
        if set { flags |= flag } else { flags &= ~flag }
      } else if ["tmpcopyup", "idmap", "ridmap"].contains(option) {
        throw unsupported("\(field).options", "the \"\(option)\" option")
      } else {
        data.append(option)
      }
    }
    var steps = parents(of: target)
    if isBind {
      guard let source = mount.source, !source.isEmpty else { throw invalid("\(field).source", "a bind needs one") }
      let hostPath = source.hasPrefix("/") ? source : bundle + "/" + source
      steps.append(.bind(hostPath: hostPath, target: target, flags: flags & (JailPlan.bindableFlags | recursive)))
    } else {
      guard let type = mount.type, !type.isEmpty else { throw invalid("\(field).type", "missing") }
      steps.append(.mkdir(target, mode: 0o755))
      if type == "cgroup" {
        steps += cgroupMount(at: target, flags: flags, host: host, bindCgroups: bindCgroups)
      } else {
        steps.append(
          .mount(
            source: mount.source ?? type, target: target, type: type, flags: flags & ~recursive,
            data: data.joined(separator: ",")))
      }
    }
    if propagation != 0 { steps.append(.propagation(path: target, flags: propagation)) }
    return steps
  }

  /// The cgroup filesystem as a container sees it: cgroup2 on a pure v2 host, else a tmpfs with
  /// one cgroup v1 mount per hierarchy (as runc and crun make it), read-only if asked.
  static func cgroupMount(at target: String, flags: UInt, host: CgroupHost, bindCgroups: String? = nil)
    -> [JailPlan.Step]
  {
    let common = flags & ~recursive
    let bindFlags = common & JailPlan.bindableFlags
    if host.v1Mounts.isEmpty {
      if let path = bindCgroups, let unified = host.unifiedMount {
        return [.bind(hostPath: unified + "/" + path, target: target, flags: bindFlags)]
      }
      return [.mount(source: "cgroup", target: target, type: "cgroup2", flags: common, data: "")]
    }
    var steps: [JailPlan.Step] = [
      .mount(source: "tmpfs", target: target, type: "tmpfs", flags: common & ~1, data: "mode=755")
    ]
    var seen: Set<String> = []
    for (_, mountPoint) in host.v1Mounts.sorted(by: { $0.key < $1.key }) where !seen.contains(mountPoint) {
      seen.insert(mountPoint)
      let name = String(mountPoint.split(separator: "/").last ?? "")
      let controllers = host.v1Mounts.filter { $0.value == mountPoint }.map(\.key).sorted()
      steps.append(.mkdir(target + "/" + name, mode: 0o755))
      if let path = bindCgroups {
        steps.append(.bind(hostPath: mountPoint + "/" + path, target: target + "/" + name, flags: bindFlags))
        continue
      }
      steps.append(
        .mount(
          source: "cgroup", target: target + "/" + name, type: "cgroup", flags: common,
          data: controllers.joined(separator: ",")))
    }
    if let unified = host.unifiedMount {
      steps.append(.mkdir(target + "/unified", mode: 0o755))
      if let path = bindCgroups {
        steps.append(.bind(hostPath: unified + "/" + path, target: target + "/unified", flags: bindFlags))
      } else {
        steps.append(.mount(source: "cgroup2", target: target + "/unified", type: "cgroup2", flags: common, data: ""))
      }
    }
    if common & 1 != 0 { steps.append(.mount(source: "", target: target, type: "", flags: 32 | 1 | common, data: "")) }
    return steps
  }

  /// The default devices every container has (the spec's list), then the spec's own.
  static func deviceSteps(_ devices: [RuntimeSpec.Linux.Device], userNamespace: Bool) -> [JailPlan.Step] {
    var steps: [JailPlan.Step] = []
    let defaults: [(String, UInt32, UInt32)] = [
      ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0),
    ]
    for (name, major, minor) in defaults where !devices.contains(where: { $0.path == "/dev/" + name }) {
      steps.append(.device(path: "dev/" + name, type: "c", major: major, minor: minor, mode: 0o666, uid: 0, gid: 0))
    }
    for device in devices {
      let path = relative(device.path)
      steps += parents(of: path)
      let type: Character = device.type == "b" ? "b" : device.type == "p" ? "p" : "c"
      steps.append(
        .device(
          path: path, type: type, major: UInt32(clamping: device.major ?? 0),
          minor: UInt32(clamping: device.minor ?? 0),
          mode: Int(device.fileMode ?? 0o666), uid: device.uid ?? 0, gid: device.gid ?? 0))
    }
    for (target, path) in [
      ("/proc/self/fd", "dev/fd"), ("/proc/self/fd/0", "dev/stdin"), ("/proc/self/fd/1", "dev/stdout"),
      ("/proc/self/fd/2", "dev/stderr"), ("pts/ptmx", "dev/ptmx"),
    ] {
      steps.append(.symlink(target: target, path: path))
    }
    _ = userNamespace
    return steps
  }

  /// `mkdir` steps for each missing ancestor of `path`.
  static func parents(of path: String) -> [JailPlan.Step] {
    var steps: [JailPlan.Step] = []
    var prefix = ""
    for component in path.split(separator: "/").dropLast() {
      prefix += (prefix.isEmpty ? "" : "/") + component
      steps.append(.mkdir(prefix, mode: 0o755))
    }
    return steps
  }

  /// PATH relative to the root, refused if it leaves it or names the root itself.
  static func below(_ path: String, _ field: String) throws(TaskerError) -> String {
    let inside = relative(path)
    guard !inside.isEmpty, !inside.split(separator: "/").contains("..") else {
      throw invalid(field, "\"\(path)\" is not a path below the root")
    }
    return inside
  }

  static func relative(_ path: String) -> String {
    String(path.drop(while: { $0 == "/" }))
  }

  /// The state document the hooks read, split around the status and PID the supervisor adds.
  static func hookState(spec: RuntimeSpec, id: String, bundle: String) throws(TaskerError) -> JailPlan.HookState {
    let whole = ContainerState(
      ociVersion: spec.ociVersion, id: id, status: .creating, pid: nil, bundle: bundle,
      annotations: spec.annotations ?? [:])
    guard let text = try? whole.jsonText() else { throw invalid("annotations", "cannot be encoded") }
    // {"annotations":...,"bundle":...,"id":...,"ociVersion":...,"status":"creating"} with
    // sorted keys: the status is last, and is what the supervisor writes.
    guard let range = text.range(of: "\"status\":\"creating\"}") else {
      throw invalid("annotations", "cannot be encoded")
    }
    let prefix = String(text[..<range.lowerBound])
    return JailPlan.HookState(prefix: prefix, suffix: "}")
  }

  static let rlimitNumbers: [String: Int32] = [
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4, "RLIMIT_RSS": 5,
    "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9, "RLIMIT_LOCKS": 10,
    "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13, "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
  ]

  static func invalid(_ field: String, _ message: String) -> TaskerError {
    TaskerError(.invalidArgument, "\(field): \(message)")
  }

  static func unsupported(_ field: String, _ what: String) -> TaskerError {
    TaskerError(.invalidArgument, "\(field): tasker-runtime does not support \(what) on this host")
  }
}

extension ContainerState {
  /// The state as JSON with sorted keys and unescaped slashes (what hooks and `state` print).
  func jsonText() throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(self), as: UTF8.self)
  }
}
