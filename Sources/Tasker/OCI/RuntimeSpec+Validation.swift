extension RuntimeSpec {
  /// Checks the document's structural rules, as a Linux runtime needs them, and throws at the first
  /// broken one an `.invalidArgument` error naming its JSON field path, like
  /// `linux.namespaces[2].type: unknown namespace "foo"`.
  ///
  /// Fails closed: an unknown namespace type, capability, rlimit, device type or scheduling policy
  /// is an error, never skipped. It does not ask the host what it supports.
  public func validate() throws(TaskerError) {
    try Self.checkVersion(ociVersion)
    guard let root else { throw Self.invalid("root.path", "missing") }
    if root.path.isEmpty { throw Self.invalid("root.path", "must not be empty") }
    if let process { try Self.check(process) }
    for (index, mount) in (mounts ?? []).enumerated() {
      let path = "mounts[\(index)]"
      try Self.checkAbsolute(mount.destination, "\(path).destination")
      try Self.check(mount.uidMappings, "\(path).uidMappings")
      try Self.check(mount.gidMappings, "\(path).gidMappings")
    }
    if let hooks { try Self.check(hooks) }
    if let linux { try Self.check(linux) }
  }

  /// Namespace types of `linux.namespaces`.
  static let namespaceTypes: Set<String> = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"]

  /// The resources of setrlimit(2), as <sys/resource.h> names them.
  static let rlimitTypes: Set<String> = [
    "RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS", "RLIMIT_MEMLOCK",
    "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_RSS", "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
  ]

  /// The policies and flags of sched_setattr(2).
  static let schedulerPolicies: Set<String> = [
    "SCHED_OTHER", "SCHED_FIFO", "SCHED_RR", "SCHED_BATCH", "SCHED_ISO", "SCHED_IDLE", "SCHED_DEADLINE",
  ]
  static let schedulerFlags: Set<String> = [
    "SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_RECLAIM", "SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_KEEP_POLICY",
    "SCHED_FLAG_KEEP_PARAMS", "SCHED_FLAG_UTIL_CLAMP_MIN", "SCHED_FLAG_UTIL_CLAMP_MAX",
  ]

  static let ioPriorityClasses: Set<String> = ["IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"]

  /// The spec's four, and the recursive forms runc and crun also take.
  static let propagations: Set<String> = [
    "shared", "slave", "private", "unbindable", "rshared", "rslave", "rprivate", "runbindable",
  ]

  static func invalid(_ path: String, _ message: String) -> TaskerError {
    TaskerError(.invalidArgument, "\(path): \(message)")
  }

  static func checkAbsolute(_ value: String, _ path: String) throws(TaskerError) {
    guard value.hasPrefix("/") else { throw invalid(path, "must be absolute") }
  }

  /// SemVer with major version 1: a document of another major version is not one this type reads.
  static func checkVersion(_ version: String) throws(TaskerError) {
    let core = version.split(separator: "+", maxSplits: 1, omittingEmptySubsequences: false)[0]
      .split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)[0]
    let numbers = core.split(separator: ".", omittingEmptySubsequences: false)
    guard numbers.count == 3, numbers.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isASCII) && UInt($0) != nil })
    else {
      throw invalid("ociVersion", "\"\(version)\" is not a SemVer version")
    }
    guard numbers[0] == "1" else { throw invalid("ociVersion", "unsupported major version in \"\(version)\"") }
  }

  static func check(_ process: ProcessConfig) throws(TaskerError) {
    guard let args = process.args, !args.isEmpty else { throw invalid("process.args", "must not be empty") }
    if args[0].isEmpty { throw invalid("process.args[0]", "must not be empty") }
    try checkAbsolute(process.cwd, "process.cwd")
    for (index, variable) in (process.env ?? []).enumerated() {
      guard let equals = variable.firstIndex(of: "="), equals != variable.startIndex else {
        throw invalid("process.env[\(index)]", "\"\(variable)\" is not KEY=value")
      }
    }
    if let sets = process.capabilities {
      let named: [(String, [String]?)] = [
        ("bounding", sets.bounding), ("effective", sets.effective), ("inheritable", sets.inheritable),
        ("permitted", sets.permitted), ("ambient", sets.ambient),
      ]
      for (set, names) in named {
        for (index, name) in (names ?? []).enumerated() {
          // The spec's names carry the prefix, in capitals: `CAP_KILL`, never `kill`.
          guard name.hasPrefix("CAP_"), Capabilities.names.contains(String(name.dropFirst(4))) else {
            throw invalid("process.capabilities.\(set)[\(index)]", "unknown capability \"\(name)\"")
          }
        }
      }
    }
    var limited: Set<String> = []
    for (index, rlimit) in (process.rlimits ?? []).enumerated() {
      let path = "process.rlimits[\(index)]"
      guard rlimitTypes.contains(rlimit.type) else {
        throw invalid("\(path).type", "unknown rlimit \"\(rlimit.type)\"")
      }
      guard limited.insert(rlimit.type).inserted else {
        throw invalid("\(path).type", "duplicate rlimit \"\(rlimit.type)\"")
      }
      guard rlimit.soft <= rlimit.hard else {
        throw invalid("\(path).soft", "\(rlimit.soft) exceeds the hard limit \(rlimit.hard)")
      }
    }
    if let score = process.oomScoreAdj, !(-1000...1000).contains(score) {
      throw invalid("process.oomScoreAdj", "\(score) is out of range -1000...1000")
    }
    if let priority = process.ioPriority {
      guard ioPriorityClasses.contains(priority.class) else {
        throw invalid("process.ioPriority.class", "unknown class \"\(priority.class)\"")
      }
      if let level = priority.priority, !(0...7).contains(level) {
        throw invalid("process.ioPriority.priority", "\(level) is out of range 0...7")
      }
    }
    if let scheduler = process.scheduler {
      guard schedulerPolicies.contains(scheduler.policy) else {
        throw invalid("process.scheduler.policy", "unknown policy \"\(scheduler.policy)\"")
      }
      for (index, flag) in (scheduler.flags ?? []).enumerated() where !schedulerFlags.contains(flag) {
        throw invalid("process.scheduler.flags[\(index)]", "unknown flag \"\(flag)\"")
      }
    }
  }

  static func check(_ mappings: [IDMapping]?, _ path: String) throws(TaskerError) {
    for (index, mapping) in (mappings ?? []).enumerated() where mapping.size == 0 {
      throw invalid("\(path)[\(index)].size", "must not be 0")
    }
  }

  static func check(_ hooks: Hooks) throws(TaskerError) {
    let lists: [(String, [Hook]?)] = [
      ("prestart", hooks.prestart), ("createRuntime", hooks.createRuntime),
      ("createContainer", hooks.createContainer), ("startContainer", hooks.startContainer),
      ("poststart", hooks.poststart), ("poststop", hooks.poststop),
    ]
    for (name, list) in lists {
      for (index, hook) in (list ?? []).enumerated() {
        let path = "hooks.\(name)[\(index)]"
        try checkAbsolute(hook.path, "\(path).path")
        if let timeout = hook.timeout, timeout <= 0 { throw invalid("\(path).timeout", "must be positive") }
      }
    }
  }

  static func check(_ linux: Linux) throws(TaskerError) {
    var types: Set<String> = []
    var newNamespaces: Set<String> = []
    for (index, namespace) in (linux.namespaces ?? []).enumerated() {
      let path = "linux.namespaces[\(index)]"
      guard namespaceTypes.contains(namespace.type) else {
        throw invalid("\(path).type", "unknown namespace \"\(namespace.type)\"")
      }
      guard types.insert(namespace.type).inserted else {
        throw invalid("\(path).type", "duplicate namespace \"\(namespace.type)\"")
      }
      if let file = namespace.path {
        try checkAbsolute(file, "\(path).path")
      } else {
        newNamespaces.insert(namespace.type)
      }
    }
    for (key, mappings) in [("uidMappings", linux.uidMappings), ("gidMappings", linux.gidMappings)] {
      let path = "linux.\(key)"
      if newNamespaces.contains("user") {
        // The mappings can be written only once, when the namespace is made: without them its
        // processes would run as the overflow ID.
        guard let mappings, !mappings.isEmpty else { throw invalid(path, "required for a new user namespace") }
      } else if !types.contains("user"), let mappings, !mappings.isEmpty {
        // Joining one, the mappings are the namespace's own; runtimes may check they match.
        throw invalid(path, "needs a user namespace")
      }
      try check(mappings, path)
    }
    if let offsets = linux.timeOffsets {
      for clock in offsets.keys.sorted() where clock != "monotonic" && clock != "boottime" {
        throw invalid("linux.timeOffsets.\(clock)", "unknown clock")
      }
      if !offsets.isEmpty && !newNamespaces.contains("time") {
        throw invalid("linux.timeOffsets", "needs a new time namespace")
      }
    }
    for (index, device) in (linux.devices ?? []).enumerated() {
      let path = "linux.devices[\(index)]"
      guard ["c", "b", "u", "p"].contains(device.type) else {
        throw invalid("\(path).type", "unknown device type \"\(device.type)\"")
      }
      try checkAbsolute(device.path, "\(path).path")
      if device.type != "p" {
        if device.major == nil { throw invalid("\(path).major", "required for type \"\(device.type)\"") }
        if device.minor == nil { throw invalid("\(path).minor", "required for type \"\(device.type)\"") }
      }
    }
    if let resources = linux.resources { try check(resources) }
    if let propagation = linux.rootfsPropagation, !propagations.contains(propagation) {
      throw invalid("linux.rootfsPropagation", "unknown propagation \"\(propagation)\"")
    }
    for (index, path) in (linux.maskedPaths ?? []).enumerated() {
      try checkAbsolute(path, "linux.maskedPaths[\(index)]")
    }
    for (index, path) in (linux.readonlyPaths ?? []).enumerated() {
      try checkAbsolute(path, "linux.readonlyPaths[\(index)]")
    }
    for key in (linux.sysctl ?? [:]).keys.sorted() where key.isEmpty || key.contains("..") {
      throw invalid("linux.sysctl", "invalid name \"\(key)\"")
    }
    if let personality = linux.personality, personality.domain != "LINUX", personality.domain != "LINUX32" {
      throw invalid("linux.personality.domain", "unknown domain \"\(personality.domain)\"")
    }
  }

  static func check(_ resources: Linux.Resources) throws(TaskerError) {
    for (index, rule) in (resources.devices ?? []).enumerated() {
      let path = "linux.resources.devices[\(index)]"
      if let type = rule.type, !["a", "c", "b"].contains(type) {
        throw invalid("\(path).type", "unknown device type \"\(type)\"")
      }
      if let access = rule.access, !access.allSatisfy({ "rwm".contains($0) }) {
        throw invalid("\(path).access", "\"\(access)\" is not a combination of r, w and m")
      }
    }
    if let swappiness = resources.memory?.swappiness, swappiness > 100 {
      throw invalid("linux.resources.memory.swappiness", "\(swappiness) is out of range 0...100")
    }
    if let blockIO = resources.blockIO {
      func checkWeight(_ weight: UInt16?, _ path: String) throws(TaskerError) {
        if let weight, !(10...1000).contains(weight) { throw invalid(path, "\(weight) is out of range 10...1000") }
      }
      try checkWeight(blockIO.weight, "linux.resources.blockIO.weight")
      try checkWeight(blockIO.leafWeight, "linux.resources.blockIO.leafWeight")
      for (index, device) in (blockIO.weightDevice ?? []).enumerated() {
        try checkWeight(device.weight, "linux.resources.blockIO.weightDevice[\(index)].weight")
        try checkWeight(device.leafWeight, "linux.resources.blockIO.weightDevice[\(index)].leafWeight")
      }
    }
  }
}
