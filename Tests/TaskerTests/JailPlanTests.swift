import Foundation
import Tasker
import Testing

/// The jail plan, built without root and without touching the system.
struct JailPlanTests {
  let id = TaskID("0123456789ab").unsafelyUnwrapped
  /// This kind of machine: cgroup v1 controllers beside a v2 mount that holds none.
  let hybrid = CgroupHost(
    unifiedMount: "/sys/fs/cgroup/unified", unifiedControllers: [],
    v1Mounts: [
      "memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids", "cpu": "/sys/fs/cgroup/cpu",
      "cpuacct": "/sys/fs/cgroup/cpuacct",
    ], v1SwapAccounting: true)
  /// Most current hosts: cgroup v2 only.
  let pureV2 = CgroupHost(
    unifiedMount: "/sys/fs/cgroup", unifiedControllers: ["memory", "pids", "cpu", "io"], v1Mounts: [:])
  let bare = CgroupHost(unifiedMount: nil, unifiedControllers: [], v1Mounts: [:])

  /// A task's options become an OCI runtime spec, and that document is what its plan is made
  /// from: written out as config.json and read back, it lowers to the same plan.
  @Test(arguments: [
    JailOptions(),
    JailOptions(hostname: "box", network: .none, capAdd: ["SYS_PTRACE"], capDrop: ["CHOWN"]),
    JailOptions(network: .host, limits: ResourceLimits(memoryBytes: 64 << 20, pids: 9, cpus: 0.5)),
    JailOptions(privileged: true),
    JailOptions(seccomp: .unconfined),
  ])
  func aTaskIsItsRuntimeSpec(options: JailOptions) throws {
    let spec = try RuntimeSpec.task(id: id, options: options)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    let reread = try RuntimeSpec.decode(Array(try encoder.encode(spec)))
    #expect(reread == spec)
    // The command and its environment travel beside the plan (the supervisor's argv and
    // environment); with them the document is a whole config.
    var whole = reread
    whole.process?.args = ["/bin/true"]
    try whole.validate()
    for host in [hybrid, pureV2] {
      #expect(
        try JailPlan.make(id: id, options: options, host: host)
          == JailPlan.make(task: reread, id: id, options: options, host: host))
    }
    let namespaces = Set((spec.linux?.namespaces ?? []).map(\.type))
    #expect(namespaces.isSuperset(of: ["mount", "pid", "uts", "ipc", "cgroup"]))
    #expect(namespaces.contains("network") == (options.network != .host))
    #expect(spec.hostname == options.hostname ?? id.rawValue)
    #expect(spec.linux?.maskedPaths?.contains("/proc/kcore") == true)
    let bounding = spec.process?.capabilities?.bounding ?? []
    #expect(bounding.contains("CAP_NET_RAW") == (options.network == .none || options.privileged))
    #expect((spec.linux?.seccomp == nil) == (options.privileged || options.seccomp == .unconfined))
    #expect(spec.linux?.resources?.memory?.limit == options.limits.memoryBytes.map { Int64($0) })
    #expect(spec.linux?.resources?.cpu?.quota == options.limits.cpus.map { Int64($0 * 100_000) })
  }

  @Test func theDefaultJail() throws {
    let plan = try JailPlan.make(id: id, options: JailOptions(), host: hybrid)
    #expect(plan.isolation == .jail)
    #expect(Set(plan.namespaces) == [.mount, .pid, .uts, .ipc, .cgroup, .net])
    #expect(plan.hostname == "0123456789ab")
    #expect(plan.noNewPrivileges)
    #expect(plan.loopbackUp)
    #expect(plan.networkSetup.first == "/usr/bin/pasta")
    let caps = try #require(plan.capabilities)
    #expect(plan.seccomp != nil)
    for forbidden in [
      "SYS_ADMIN", "SYS_MODULE", "SYS_PTRACE", "SYS_RAWIO", "MKNOD", "NET_ADMIN", "SYS_TIME", "BPF", "NET_RAW",
    ] {
      #expect(!caps.contains(forbidden), "\(forbidden)")
    }
    for granted in ["CHOWN", "SETUID", "SETGID", "KILL", "NET_BIND_SERVICE", "SYS_CHROOT"] {
      #expect(caps.contains(granted), "\(granted)")
    }
    #expect(plan.steps.contains(.mount(source: "proc", target: "proc", type: "proc", flags: 14, data: "")))
    #expect(plan.steps.contains(.bind(hostPath: "/dev/null", target: "dev/null", readOnly: false)))
    #expect(plan.steps.contains(.readOnly("proc/sys")))
    #expect(plan.steps.contains(.mkdir("tmp", mode: 0o1777)))
    // /dev is mounted before anything is put in it.
    let devMount = try #require(
      plan.steps.firstIndex { if case .mount(_, "dev", _, _, _) = $0 { true } else { false } })
    let nullBind = try #require(
      plan.steps.firstIndex(of: .bind(hostPath: "/dev/null", target: "dev/null", readOnly: false)))
    #expect(devMount < nullBind)
    // Without limits, cgroups measure but are not required.
    #expect(!plan.cgroups.isEmpty)
    #expect(plan.cgroups.allSatisfy { !$0.required })
    #expect(plan.cgroupWrites.isEmpty)
    #expect(plan.measurements.processes == "/sys/fs/cgroup/unified/tasker/0123456789ab")
  }

  /// Usage is measured without limits wherever the host can: in v1 where v2 lacks the
  /// controllers, in v2 alone where it has them.
  @Test func memoryAndCPUAreMeasuredWithoutLimits() throws {
    let plan = try JailPlan.make(id: id, options: JailOptions(), host: hybrid)
    #expect(plan.measurements.memory == .v1("/sys/fs/cgroup/memory/tasker/0123456789ab"))
    #expect(plan.measurements.cpu == .v2("/sys/fs/cgroup/unified/tasker/0123456789ab"))
    #expect(plan.cgroups.contains { $0.path == "/sys/fs/cgroup/memory/tasker/0123456789ab" && !$0.required })
    let v2 = try JailPlan.make(id: id, options: JailOptions(), host: pureV2)
    #expect(v2.measurements.memory == .v2("/sys/fs/cgroup/tasker/0123456789ab"))
    #expect(v2.cgroups.filter { !$0.isParent }.count == 1)
    let v1Only = CgroupHost(
      unifiedMount: nil, unifiedControllers: [],
      v1Mounts: ["memory": "/sys/fs/cgroup/memory", "cpuacct": "/sys/fs/cgroup/cpuacct"])
    let v1 = try JailPlan.make(id: id, options: JailOptions(), host: v1Only)
    #expect(v1.measurements.memory == .v1("/sys/fs/cgroup/memory/tasker/0123456789ab"))
    #expect(v1.measurements.cpu == .v1("/sys/fs/cgroup/cpuacct/tasker/0123456789ab"))
    #expect(try JailPlan.make(id: id, options: JailOptions(), host: bare).measurements.memory == nil)
  }

  @Test func networkNoneAddsANamespaceWithLoopback() throws {
    let plan = try JailPlan.make(id: id, options: JailOptions(network: .none), host: hybrid)
    #expect(plan.namespaces.contains(.net))
    #expect(plan.loopbackUp)
    #expect(plan.document(workdir: "/").contains("\nloopback-up\n"))
    // Raw sockets are harmless on a network of one's own; on the host's they would sniff it.
    #expect(plan.capabilities?.contains("NET_RAW") == true)
    #expect(plan.networkSetup.isEmpty)
    let host = try JailPlan.make(id: id, options: JailOptions(network: .host, capAdd: ["NET_RAW"]), host: hybrid)
    #expect(host.capabilities?.contains("NET_RAW") == true)
  }

  @Test func thePrivateNetworkIsPastasWithOnlyThePublishedPorts() throws {
    let plan = try JailPlan.make(id: id, options: JailOptions(network: .private), host: hybrid)
    #expect(plan.namespaces.contains(.net))
    #expect(plan.capabilities?.contains("NET_RAW") == false, "as podman: NET_RAW only on request")
    let pasta = plan.networkSetup.joined(separator: " ")
    for expected in [
      "--config-net", "--no-map-gw", "--tcp-ports none", "--udp-ports none", "--tcp-ns none", "--udp-ns none",
      "--netns {netns}", "--pid {pidfile}", "--runas 0",
    ] {
      #expect(pasta.contains(expected), "\(expected) in \(pasta)")
    }
    let lines = plan.document(workdir: "/").split(separator: "\n")
    let record = try #require(lines.first { $0.hasPrefix("network-setup\t") })
    #expect(record.split(separator: "\t").dropFirst().map(String.init) == plan.networkSetup)

    let ports = try ["8080:80", "127.0.0.1:5353:53/udp", "[::1]:8443:443/tcp"].map(PublishedPort.init(parsing:))
    let published = try JailPlan.make(id: id, options: JailOptions(publish: ports), host: hybrid)
    let spec = published.networkSetup.joined(separator: " ")
    #expect(spec.contains("--tcp-ports 8080:80 --tcp-ports ::1/8443:443 --udp-ports 127.0.0.1/5353:53"), "\(spec)")
    #expect(!spec.contains("--tcp-ports none") && !spec.contains("--udp-ports none"))
    for network in [NetworkMode.host, .none] {
      #expect(throws: TaskerError.self) {
        try JailPlan.make(id: id, options: JailOptions(network: network, publish: ports), host: hybrid)
      }
    }
    // chroot keeps the host's network: private is the jail's default, not chroot's.
    let chroot = try JailPlan.make(id: id, options: JailOptions(isolation: .chroot), host: hybrid)
    #expect(chroot.networkSetup.isEmpty && !chroot.document(workdir: "/").contains("network-setup"))
  }

  @Test func publishedPortsParse() throws {
    #expect(try PublishedPort(parsing: "8080:80") == PublishedPort(hostPort: 8080, taskPort: 80))
    #expect(
      try PublishedPort(parsing: "10.0.0.1:53:5353/UDP")
        == PublishedPort(hostAddress: "10.0.0.1", hostPort: 53, taskPort: 5353, transport: .udp))
    #expect(
      try PublishedPort(parsing: "[fd00::1]:1:65535/tcp")
        == PublishedPort(hostAddress: "fd00::1", hostPort: 1, taskPort: 65535))
    #expect(try PublishedPort(parsing: "[::1]:8080:80").description == "[::1]:8080:80/tcp")
    for bad in [
      "", "80", "0:80", "80:0", "65536:80", "8080:80/sctp", "a:b", "host:8080:80", "1.2.3:80:80", "[::1:80:80",
      "[::1]80:80", "::1:80:80", "8080:+80", "1:2:3:4",
    ] {
      #expect(throws: TaskerError.self, "\(bad)") { try PublishedPort(parsing: bad) }
    }
  }

  @Test func capabilitiesCanBeAdjusted() throws {
    let plan = try JailPlan.make(
      id: id, options: JailOptions(capAdd: ["NET_ADMIN", "cap_sys_time"], capDrop: ["CHOWN"]), host: hybrid)
    let caps = try #require(plan.capabilities)
    #expect(caps.contains("NET_ADMIN") && caps.contains("SYS_TIME") && !caps.contains("CHOWN"))
    let none = try JailPlan.make(id: id, options: JailOptions(capDrop: ["ALL"]), host: hybrid)
    #expect(none.capabilities == Capabilities(mask: 0))
    let all = try JailPlan.make(id: id, options: JailOptions(capAdd: ["ALL"], capDrop: ["SYS_ADMIN"]), host: hybrid)
    #expect(all.capabilities.map { !$0.contains("SYS_ADMIN") && $0.contains("SYS_MODULE") } == true)
    #expect(throws: TaskerError.self) {
      try JailPlan.make(id: id, options: JailOptions(capAdd: ["NOT_A_CAP"]), host: hybrid)
    }
  }

  @Test func privilegedKeepsEverything() throws {
    let plan = try JailPlan.make(id: id, options: JailOptions(privileged: true), host: hybrid)
    #expect(plan.capabilities == nil)
    #expect(!plan.noNewPrivileges)
    #expect(plan.seccomp == nil)
    #expect(!plan.document(workdir: "/").contains("\nseccomp"))
    #expect(!plan.document(workdir: "/").contains("\ncapabilities"))
    #expect(plan.namespaces.contains(.pid))
  }

  @Test func chrootIsThePlainOriginal() throws {
    let plan = try JailPlan.make(id: id, options: JailOptions(isolation: .chroot), host: hybrid)
    #expect(plan.namespaces.isEmpty && plan.cgroups.isEmpty && plan.seccomp == nil)
    for options in [
      JailOptions(isolation: .chroot, limits: ResourceLimits(memoryBytes: 1 << 20)),
      JailOptions(isolation: .chroot, network: .none), JailOptions(isolation: .chroot, capAdd: ["KILL"]),
    ] {
      #expect(throws: TaskerError.self) { try JailPlan.make(id: id, options: options, host: hybrid) }
    }
  }

  @Test func limitsOnCgroupV1() throws {
    let limits = ResourceLimits(memoryBytes: 32 << 20, pids: 5, cpus: 0.5)
    let plan = try JailPlan.make(id: id, options: JailOptions(limits: limits), host: hybrid)
    let writes = Dictionary(uniqueKeysWithValues: plan.cgroupWrites.map { ($0.file, $0.value) })
    #expect(writes["/sys/fs/cgroup/memory/tasker/0123456789ab/memory.limit_in_bytes"] == "33554432")
    #expect(writes["/sys/fs/cgroup/memory/tasker/0123456789ab/memory.memsw.limit_in_bytes"] == "33554432")
    // One more than asked: the init counts too (the command gets the 5).
    #expect(writes["/sys/fs/cgroup/pids/tasker/0123456789ab/pids.max"] == "6")
    #expect(writes["/sys/fs/cgroup/cpu/tasker/0123456789ab/cpu.cfs_quota_us"] == "50000")
    #expect(writes["/sys/fs/cgroup/cpu/tasker/0123456789ab/cpu.cfs_period_us"] == "100000")
    let required = Set(plan.cgroups.filter(\.required).map(\.path))
    #expect(
      required == [
        "/sys/fs/cgroup/memory/tasker/0123456789ab", "/sys/fs/cgroup/pids/tasker/0123456789ab",
        "/sys/fs/cgroup/cpu/tasker/0123456789ab",
      ])
    // The memory limit goes in before the memory+swap one, which may not be lower.
    let order = plan.cgroupWrites.map(\.file)
    let memory = try #require(order.firstIndex { $0.hasSuffix("memory.limit_in_bytes") })
    let swap = try #require(order.firstIndex { $0.hasSuffix("memsw.limit_in_bytes") })
    #expect(memory < swap)
  }

  @Test func limitsOnCgroupV2() throws {
    let limits = ResourceLimits(memoryBytes: 32 << 20, pids: 5, cpus: 1.5)
    let plan = try JailPlan.make(id: id, options: JailOptions(limits: limits), host: pureV2)
    let cgroup = "/sys/fs/cgroup/tasker/0123456789ab"
    let writes = plan.cgroupWrites.map { "\($0.file)=\($0.value)" }
    #expect(writes.contains("\(cgroup)/memory.max=33554432"))
    #expect(writes.contains("\(cgroup)/pids.max=6"))
    #expect(writes.contains("\(cgroup)/cpu.max=150000 100000"))
    #expect(plan.cgroupWrites.contains { $0.file == "\(cgroup)/memory.swap.max" && $0.value == "0" && $0.optional })
    // Controllers are enabled in the parents before a limit is written.
    let enable = try #require(writes.firstIndex(of: "/sys/fs/cgroup/tasker/cgroup.subtree_control=+memory"))
    let limit = try #require(writes.firstIndex(of: "\(cgroup)/memory.max=33554432"))
    #expect(enable < limit)
    #expect(plan.cgroups.filter { !$0.isParent }.map(\.path) == [cgroup])
    #expect(plan.measurements.memory == .v2(cgroup))
  }

  @Test func aLimitThatCannotBeEnforcedIsAnError() {
    for limits in [ResourceLimits(memoryBytes: 1 << 20), ResourceLimits(pids: 3), ResourceLimits(cpus: 1)] {
      #expect(throws: TaskerError.self) { try JailPlan.make(id: id, options: JailOptions(limits: limits), host: bare) }
    }
    // Without limits a host with no cgroups is fine: nothing to measure.
    #expect((try? JailPlan.make(id: id, options: JailOptions(), host: bare))?.cgroups.isEmpty == true)
  }

  @Test func theDocumentCarriesThePlanInOrder() throws {
    let plan = try JailPlan.make(
      id: id, options: JailOptions(hostname: "box", network: .host, limits: ResourceLimits(pids: 7)), host: hybrid)
    let lines = plan.document(workdir: "/work dir\tx", reportRootfs: "/dl/0123456789ab").split(separator: "\n")
    #expect(lines.first == "tasker-plan\t2" && lines.last == "end")
    #expect(lines[1...3] == ["isolation\tjail", "workdir\t/work dir%09x", "report-rootfs\t/dl/0123456789ab"])
    let flags = 0x0002_0000 | 0x2000_0000 | 0x0400_0000 | 0x0800_0000
    #expect(lines[4...5] == ["namespaces\t\(flags)", "cgroupns"])
    #expect(lines.contains("hostname\tbox"))
    #expect(lines.contains("cgroup\t/sys/fs/cgroup/pids/tasker/0123456789ab\t1\t0"))
    // The v2 cgroup is the init's birthplace (CLONE_INTO_CGROUP).
    #expect(lines.contains("cgroup\t/sys/fs/cgroup/unified/tasker/0123456789ab\t0\t1"))
    #expect(lines.contains("cgroup-write\t/sys/fs/cgroup/pids/tasker/0123456789ab/pids.max\t8\t0"))
    #expect(lines.contains("mount\tproc\tproc\tproc\t14\t"))
    let expected = Capabilities.default.mask & ~(1 << 13)  // less NET_RAW on the host's network
    #expect(lines.contains("capabilities\t\(String(expected, radix: 16))"))
    let seccompAt = try #require(lines.firstIndex(of: "seccomp\tERRNO\t38"))
    #expect(lines[seccompAt - 1] == "no-new-privileges")
    #expect(lines.contains("seccomp-rule\tread\tALLOW\t1"))
  }

  @Test func badHostnamesAndLimits() {
    #expect(throws: TaskerError.self) {
      try JailPlan.make(id: id, options: JailOptions(hostname: String(repeating: "h", count: 65)), host: hybrid)
    }
    for cpus in [0.001, 1e300, -1, .infinity, .nan] {
      #expect(throws: TaskerError.self) {
        try JailPlan.make(id: id, options: JailOptions(limits: ResourceLimits(cpus: cpus)), host: hybrid)
      }
    }
    #expect(throws: TaskerError.self) {
      try JailPlan.make(id: id, options: JailOptions(limits: ResourceLimits(pids: 0)), host: hybrid)
    }
  }
}

struct CgroupHostTests {
  @Test func readsAHybridHost() {
    let mountinfo = """
      24 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
      30 24 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
      31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
      32 30 0:28 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
      33 30 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
      34 30 0:30 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
      35 30 0:31 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
      """
    let host = CgroupHost.parse(mountinfo: mountinfo)
    #expect(host.unifiedMount == "/sys/fs/cgroup/unified")
    #expect(host.v1Mounts["memory"] == "/sys/fs/cgroup/memory")
    #expect(host.v1Mounts["cpuacct"] == "/sys/fs/cgroup/cpuacct")
    #expect(host.placement(of: "memory") == .v1("/sys/fs/cgroup/memory"))
  }

  @Test func readsAPureV2HostAndACombinedV1Mount() {
    let v2 = CgroupHost.parse(mountinfo: "29 24 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate")
    #expect(v2.unifiedMount == "/sys/fs/cgroup" && v2.v1Mounts.isEmpty)
    var withControllers = v2
    withControllers.unifiedControllers = ["memory"]
    #expect(withControllers.placement(of: "memory") == .v2("/sys/fs/cgroup"))
    #expect(withControllers.placement(of: "pids") == nil)
    let combined = CgroupHost.parse(
      mountinfo: "31 30 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct")
    #expect(combined.v1Mounts["cpu"] == "/sys/fs/cgroup/cpu,cpuacct")
    #expect(combined.v1Mounts["cpuacct"] == "/sys/fs/cgroup/cpu,cpuacct")
  }
}

struct ResourceLimitTests {
  static let sizes: [(String, UInt64)] = [
    ("32M", 33_554_432), ("32m", 33_554_432), ("1g", 1_073_741_824), ("1.5G", 1_610_612_736), ("512k", 524_288),
    ("4096", 4096), ("64MiB", 67_108_864), ("10mb", 10_485_760),
  ]

  @Test(arguments: sizes)
  func parsesSizes(text: String, bytes: UInt64) {
    #expect(ResourceLimits.parseSize(text) == bytes)
  }

  @Test(arguments: ["", "M", "-1", "0", "12x", "1.2.3M", "abc", "0.5"])
  func rejectsSizes(text: String) {
    #expect(ResourceLimits.parseSize(text) == nil)
  }

  @Test func capabilityNames() {
    #expect(Capabilities.number(of: "CAP_SYS_ADMIN") == 21)
    #expect(Capabilities.number(of: "sys_admin") == 21)
    #expect(Capabilities.number(of: "NOPE") == nil)
    #expect(Capabilities(mask: 0b101).description == "CHOWN,DAC_READ_SEARCH")
  }
}
