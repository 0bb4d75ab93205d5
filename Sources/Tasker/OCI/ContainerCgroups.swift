import TaskerSystem

/// An OCI container's cgroups: its `linux.cgroupsPath` in every hierarchy of the host (each v1
/// hierarchy and the v2 one), and `linux.resources` as the writes that set them. A resource the
/// host cannot control is an error naming it.
struct ContainerCgroups {
  let path: String
  let host: CgroupHost
  private(set) var directories: [String] = []
  private(set) var freezer: ContainerPlan.Freezer?

  init(id: String, path: String?, host: CgroupHost) {
    self.host = host
    let given = path ?? ""
    // No path: one of tasker-runtime's own, as runc makes one per container.
    let cleaned = given.split(separator: "/").filter { !$0.isEmpty && $0 != "." }.joined(separator: "/")
    self.path = cleaned.isEmpty ? "tasker-runtime/" + id : cleaned
  }

  /// The distinct hierarchies: v1 mount points (cpu and cpuacct share one), then the v2 mount.
  var hierarchies: [(mount: String, isUnified: Bool)] {
    var seen: Set<String> = []
    var result: [(String, Bool)] = []
    for mount in host.v1Mounts.values.sorted() where !seen.contains(mount) {
      seen.insert(mount)
      result.append((mount, false))
    }
    if let unified = host.unifiedMount { result.append((unified, true)) }
    return result
  }

  mutating func apply(
    _ resources: RuntimeSpec.Linux.Resources?, devices: [RuntimeSpec.Linux.Device] = [], to plan: inout JailPlan,
    creating: Bool = false
  ) throws(TaskerError) {
    guard !path.contains(":") else {
      throw ContainerPlan.unsupported("linux.cgroupsPath", "systemd cgroup paths (\"\(path)\")")
    }
    guard !path.split(separator: "/").contains("..") else {
      throw ContainerPlan.invalid("linux.cgroupsPath", "\"\(path)\" leaves the cgroup tree")
    }
    let components = path.split(separator: "/").map(String.init)
    var writes: [JailPlan.CgroupWrite] = []
    for (mount, isUnified) in hierarchies {
      var prefix = mount
      for component in components.dropLast() {
        prefix += "/" + component
        plan.cgroups.append(JailPlan.Cgroup(path: prefix, isParent: true, required: false))
        writes += cpusetCopy(mount: mount, directory: prefix)
      }
      let leaf = mount + "/" + path
      // An existing cgroup with processes in it is someone else's: delete --force would kill them.
      if creating, let procs = try? readSmallFile(leaf + "/cgroup.procs"), !procs.isEmpty {
        throw ContainerPlan.invalid("linux.cgroupsPath", "cgroup \(leaf) is not empty")
      }
      plan.cgroups.append(JailPlan.Cgroup(path: leaf, isParent: false, required: false, isUnified: isUnified))
      writes += cpusetCopy(mount: mount, directory: leaf)
      directories.append(leaf)
    }
    if let unified = host.unifiedMount, host.v1Mounts["freezer"] == nil {
      freezer = .v2(unified + "/" + path + "/cgroup.freeze")
    } else if let mount = host.v1Mounts["freezer"] {
      freezer = .v1(mount + "/" + path + "/freezer.state")
    }
    if let resources { writes += try limitWrites(resources, devices: devices, plan: &plan) }
    plan.cgroupWrites += writes
  }

  /// A new v1 cpuset cgroup has no CPUs and no memory nodes, and no process may join it: it
  /// gets its parent's (the hierarchy root's).
  func cpusetCopy(mount: String, directory: String) -> [JailPlan.CgroupWrite] {
    guard host.v1Mounts["cpuset"] == mount else { return [] }
    return ["cpuset.cpus", "cpuset.mems"].compactMap { file in
      guard let value = try? readSmallFile(mount + "/" + file), !value.isEmpty else { return nil }
      return JailPlan.CgroupWrite(
        file: directory + "/" + file, value: value.trimmingCharacters(in: .whitespacesAndNewlines), optional: true)
    }
  }

  /// Where a controller's file of this container is; an error naming `field` if the host has
  /// no such controller.
  func file(_ controller: String, v1 v1Name: String?, v2 v2Name: String?, field: String) throws(TaskerError) -> String {
    switch host.placement(of: controller) {
    case .v2(let mount)?:
      guard let v2Name else { throw ContainerPlan.unsupported(field, "this on cgroup v2") }
      return mount + "/" + path + "/" + v2Name
    case .v1(let mount)?:
      guard let v1Name else { throw ContainerPlan.unsupported(field, "this on cgroup v1") }
      return mount + "/" + path + "/" + v1Name
    case nil:
      throw ContainerPlan.unsupported(field, "the cgroup \(controller) controller")
    }
  }

  func isV2(_ controller: String) -> Bool {
    if case .v2? = host.placement(of: controller) { return true }
    return false
  }

  func limitWrites(
    _ resources: RuntimeSpec.Linux.Resources, devices: [RuntimeSpec.Linux.Device] = [], plan: inout JailPlan
  ) throws(TaskerError) -> [JailPlan
    .CgroupWrite]
  {
    var writes: [JailPlan.CgroupWrite] = []
    var enabled: Set<String> = []
    func write(
      _ controller: String, v1: String?, v2: String?, _ value: String, field: String, optional: Bool = false
    ) throws(TaskerError) {
      let target = try file(controller, v1: v1, v2: v2, field: field)
      if isV2(controller), !enabled.contains(controller), let unified = host.unifiedMount {
        enabled.insert(controller)
        var prefix = unified
        for component in path.split(separator: "/") {
          writes.append(
            JailPlan.CgroupWrite(file: prefix + "/cgroup.subtree_control", value: "+" + controller, optional: false))
          prefix += "/" + component
        }
      }
      writes.append(JailPlan.CgroupWrite(file: target, value: value, optional: optional))
      if let index = plan.cgroups.firstIndex(where: { target.hasPrefix($0.path + "/") && !$0.isParent }) {
        plan.cgroups[index].required = true
      }
    }
    func unlimited(_ value: Int64, v2: Bool) -> String { value < 0 ? (v2 ? "max" : "-1") : String(value) }

    if let memory = resources.memory {
      let v2 = isV2("memory")
      if let limit = memory.limit {
        try write(
          "memory", v1: "memory.limit_in_bytes", v2: "memory.max", unlimited(limit, v2: v2),
          field: "linux.resources.memory.limit")
      }
      if let reservation = memory.reservation {
        try write(
          "memory", v1: "memory.soft_limit_in_bytes", v2: "memory.low", unlimited(reservation, v2: v2),
          field: "linux.resources.memory.reservation")
      }
      if let swap = memory.swap {
        if v2 {
          let (difference, overflow) = swap.subtractingReportingOverflow(memory.limit ?? 0)
          let value = swap < 0 ? "max" : String(overflow ? 0 : max(0, difference))
          try write("memory", v1: nil, v2: "memory.swap.max", value, field: "linux.resources.memory.swap")
        } else {
          guard host.v1SwapAccounting else {
            throw ContainerPlan.unsupported("linux.resources.memory.swap", "swap limits (no swap accounting)")
          }
          try write(
            "memory", v1: "memory.memsw.limit_in_bytes", v2: nil, unlimited(swap, v2: false),
            field: "linux.resources.memory.swap")
        }
      }
      if let kernel = memory.kernel {
        try write(
          "memory", v1: "memory.kmem.limit_in_bytes", v2: nil, unlimited(kernel, v2: false),
          field: "linux.resources.memory.kernel")
      }
      if let kernelTCP = memory.kernelTCP {
        try write(
          "memory", v1: "memory.kmem.tcp.limit_in_bytes", v2: nil, unlimited(kernelTCP, v2: false),
          field: "linux.resources.memory.kernelTCP")
      }
      if let swappiness = memory.swappiness {
        try write(
          "memory", v1: "memory.swappiness", v2: nil, String(swappiness), field: "linux.resources.memory.swappiness")
      }
      if memory.disableOOMKiller == true {
        try write("memory", v1: "memory.oom_control", v2: nil, "1", field: "linux.resources.memory.disableOOMKiller")
      }
    }
    if let cpu = resources.cpu {
      let v2 = isV2("cpu")
      if let shares = cpu.shares {
        let clamped = min(max(2, shares), 262_144)
        let value = v2 ? String(1 + ((clamped - 2) * 9999) / 262_142) : String(shares)
        try write("cpu", v1: "cpu.shares", v2: "cpu.weight", value, field: "linux.resources.cpu.shares")
      }
      if v2, cpu.quota != nil || cpu.period != nil {
        let quota = cpu.quota.map { $0 < 0 ? "max" : String($0) } ?? "max"
        try write(
          "cpu", v1: nil, v2: "cpu.max", "\(quota) \(cpu.period ?? 100_000)", field: "linux.resources.cpu.quota")
      } else {
        if let period = cpu.period {
          try write("cpu", v1: "cpu.cfs_period_us", v2: nil, String(period), field: "linux.resources.cpu.period")
        }
        if let quota = cpu.quota {
          try write("cpu", v1: "cpu.cfs_quota_us", v2: nil, String(quota), field: "linux.resources.cpu.quota")
        }
      }
      if let runtime = cpu.realtimePeriod {
        try write("cpu", v1: "cpu.rt_period_us", v2: nil, String(runtime), field: "linux.resources.cpu.realtimePeriod")
      }
      if let runtime = cpu.realtimeRuntime {
        try write(
          "cpu", v1: "cpu.rt_runtime_us", v2: nil, String(runtime), field: "linux.resources.cpu.realtimeRuntime")
      }
      if let cpus = cpu.cpus, !cpus.isEmpty {
        try write("cpuset", v1: "cpuset.cpus", v2: "cpuset.cpus", cpus, field: "linux.resources.cpu.cpus")
      }
      if let mems = cpu.mems, !mems.isEmpty {
        try write("cpuset", v1: "cpuset.mems", v2: "cpuset.mems", mems, field: "linux.resources.cpu.mems")
      }
      if let idle = cpu.idle {
        try write("cpu", v1: nil, v2: "cpu.idle", String(idle), field: "linux.resources.cpu.idle")
      }
    }
    if let pids = resources.pids {
      let value = pids.limit <= 0 ? "max" : String(pids.limit)
      try write("pids", v1: "pids.max", v2: "pids.max", value, field: "linux.resources.pids.limit")
    }
    if let io = resources.blockIO {
      let v2 = isV2("io")
      let controller = v2 ? "io" : "blkio"
      if let weight = io.weight {
        try write(
          controller, v1: "blkio.weight", v2: "io.bfq.weight", String(weight), field: "linux.resources.blockIO.weight")
      }
      if let weight = io.leafWeight {
        try write(
          controller, v1: "blkio.leaf_weight", v2: nil, String(weight), field: "linux.resources.blockIO.leafWeight")
      }
      for (index, device) in (io.weightDevice ?? []).enumerated() {
        if let weight = device.weight {
          try write(
            controller, v1: "blkio.weight_device", v2: "io.bfq.weight", "\(device.major):\(device.minor) \(weight)",
            field: "linux.resources.blockIO.weightDevice[\(index)]")
        }
        if let weight = device.leafWeight {
          try write(
            controller, v1: "blkio.leaf_weight_device", v2: nil, "\(device.major):\(device.minor) \(weight)",
            field: "linux.resources.blockIO.weightDevice[\(index)].leafWeight")
        }
      }
      let throttles: [(String, String, String, [RuntimeSpec.Linux.Resources.BlockIO.ThrottleDevice]?)] = [
        ("throttleReadBpsDevice", "blkio.throttle.read_bps_device", "rbps", io.throttleReadBpsDevice),
        ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device", "wbps", io.throttleWriteBpsDevice),
        ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device", "riops", io.throttleReadIOPSDevice),
        ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device", "wiops", io.throttleWriteIOPSDevice),
      ]
      for (name, v1File, v2Key, devices) in throttles {
        for (index, device) in (devices ?? []).enumerated() {
          let value =
            v2
            ? "\(device.major):\(device.minor) \(v2Key)=\(device.rate)"
            : "\(device.major):\(device.minor) \(device.rate)"
          try write(controller, v1: v1File, v2: "io.max", value, field: "linux.resources.blockIO.\(name)[\(index)]")
        }
      }
    }
    for (index, limit) in (resources.hugepageLimits ?? []).enumerated() {
      // A size like 2MB or 1GB names a file; anything else could name another cgroup's.
      let size = limit.pageSize
      guard size.count >= 3, size.hasSuffix("B"), ["K", "M", "G"].contains(size.dropLast().last),
        size.dropLast(2).allSatisfy(\.isNumber), size.first?.isNumber == true
      else {
        throw ContainerPlan.invalid(
          "linux.resources.hugepageLimits[\(index)].pageSize", "\"\(size)\" is not a size like 2MB")
      }
      try write(
        "hugetlb", v1: "hugetlb.\(limit.pageSize).limit_in_bytes", v2: "hugetlb.\(limit.pageSize).max",
        String(limit.limit), field: "linux.resources.hugepageLimits[\(index)]")
    }
    if let network = resources.network {
      if let classID = network.classID {
        try write("net_cls", v1: "net_cls.classid", v2: nil, String(classID), field: "linux.resources.network.classID")
      }
      for (index, priority) in (network.priorities ?? []).enumerated() {
        try write(
          "net_prio", v1: "net_prio.ifpriomap", v2: nil, "\(priority.name) \(priority.priority)",
          field: "linux.resources.network.priorities[\(index)]")
      }
    }
    if let rules = resources.devices, !rules.isEmpty {
      guard host.v1Mounts["devices"] != nil else {
        throw ContainerPlan.unsupported("linux.resources.devices", "device rules without a cgroup v1 devices hierarchy")
      }
      for (index, rule) in rules.enumerated() {
        let type = rule.type ?? "a"
        let major = rule.major.map(String.init) ?? "*"
        let minor = rule.minor.map(String.init) ?? "*"
        let access = rule.access ?? "rwm"
        let value = type == "a" ? "a" : "\(type) \(major):\(minor) \(access)"
        try write(
          "devices", v1: rule.allow ? "devices.allow" : "devices.deny", v2: nil, value,
          field: "linux.resources.devices[\(index)]")
      }
    }
    if let rules = resources.devices, !rules.isEmpty {
      // What every container may use whatever its rules say (runc's list): the default devices,
      // its terminals, and making nodes.
      for value in [
        "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm", "c 5:0 rwm",
        "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
      ] {
        try write("devices", v1: "devices.allow", v2: nil, value, field: "linux.resources.devices")
      }
      // And the devices the spec lists.
      for device in devices where device.type != "p" {
        let type = device.type == "b" ? "b" : "c"
        try write(
          "devices", v1: "devices.allow", v2: nil, "\(type) \(device.major ?? 0):\(device.minor ?? 0) rwm",
          field: "linux.devices")
      }
    }
    if let rdma = resources.rdma, !rdma.isEmpty {
      throw ContainerPlan.unsupported("linux.resources.rdma", "the cgroup rdma controller")
    }
    for (key, value) in (resources.unified ?? [:]).sorted(by: { $0.key < $1.key }) {
      guard let unified = host.unifiedMount, !key.contains("/"), !key.hasPrefix(".") else {
        throw ContainerPlan.unsupported("linux.resources.unified", "cgroup v2 files without a v2 hierarchy")
      }
      writes.append(JailPlan.CgroupWrite(file: unified + "/" + path + "/" + key, value: value, optional: false))
    }
    return writes
  }
}
