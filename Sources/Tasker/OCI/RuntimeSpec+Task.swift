import Glibc

extension RuntimeSpec {
  /// What `tasker create`/`run` ask of a jailed task, as an OCI config: its namespaces,
  /// hostname, filesystems, hidden and read-only paths, capabilities, no_new_privs, syscall
  /// filter and limits. `JailPlan.make` lowers this document (with `ContainerPlan`'s code for
  /// mounts and capabilities), so a task and an OCI container are one plan; what OCI has no
  /// words for (pasta's private network, the task's own cgroup layout) stays in the options.
  public static func task(id: TaskID, options: JailOptions) throws(TaskerError) -> RuntimeSpec {
    var namespaces: [Linux.Namespace] = ["mount", "pid", "uts", "ipc", "cgroup"].map { Linux.Namespace(type: $0) }
    if options.network != .host { namespaces.append(Linux.Namespace(type: "network")) }
    // On the host's network a raw socket would see the host's traffic; on a private one it
    // could forge packets to pasta's user-mode stack. NET_RAW only on request, as podman does.
    var base = Capabilities.default
    if options.network != .none, let netRaw = Capabilities.number(of: "NET_RAW") {
      base.mask &= ~(1 << UInt64(netRaw))
    }
    let kept =
      options.privileged
      ? Capabilities.all : try Capabilities.adjusted(base, add: options.capAdd, drop: options.capDrop)
    let names = Capabilities.names.enumerated().filter { kept.mask & (1 << UInt64($0.offset)) != 0 }.map {
      "CAP_" + $0.element
    }
    let hostname = options.hostname ?? id.rawValue
    guard !hostname.isEmpty, hostname.utf8.count <= 64, !hostname.contains("/") else {
      throw TaskerError(.invalidArgument, "invalid --hostname \"\(hostname)\": 1 to 64 characters")
    }
    let seccomp: SeccompProfile?
    switch (options.privileged, options.seccomp) {
    case (true, _), (_, .unconfined): seccomp = nil
    case (false, .standard): seccomp = .standard
    case (false, .profile(let profile)): seccomp = profile
    }
    return RuntimeSpec(
      ociVersion: "1.0.2",
      process: ProcessConfig(
        cwd: "/",
        capabilities: CapabilitySets(bounding: names, effective: names, inheritable: names, permitted: names),
        noNewPrivileges: !options.privileged),
      root: Root(path: "rootfs"),
      hostname: hostname,
      mounts: taskMounts,
      linux: Linux(
        namespaces: namespaces, resources: try resources(of: options.limits), seccomp: seccomp,
        maskedPaths: taskMaskedPaths, readonlyPaths: taskReadonlyPaths))
  }

  /// /proc, a minimal /dev (its devices are the host's, bound), /dev/pts, /dev/shm.
  static let taskMounts: [Mount] = [
    Mount(destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"]),
    Mount(
      destination: "/dev", type: "tmpfs", source: "tmpfs",
      options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
    Mount(
      destination: "/dev/pts", type: "devpts", source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
    Mount(
      destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "nodev", "mode=1777", "size=65536k"]),
  ]

  /// As runc and crun do: the kernel's global knobs read-only, its secrets and host-wide
  /// statistics hidden.
  static let taskReadonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  static let taskMaskedPaths = [
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
  ]

  /// --memory, --pids-limit and --cpus as `linux.resources` (checked here: a CPU count that is
  /// no number of CPUs never becomes a quota).
  static func resources(of limits: ResourceLimits) throws(TaskerError) -> Linux.Resources? {
    guard !limits.isEmpty else { return nil }
    var resources = Linux.Resources()
    if let memory = limits.memoryBytes { resources.memory = Linux.Resources.Memory(limit: Int64(clamping: memory)) }
    if let pids = limits.pids {
      guard pids >= 1 else { throw TaskerError(.invalidArgument, "--pids-limit must be at least 1") }
      // The task's init (PID 1 in the jail) counts in the cgroup too: one more, so the command
      // and what it starts get the N processes the user asked for, as with podman.
      resources.pids = Linux.Resources.Pids(limit: Int64(pids) + 1)
    }
    if let cpus = limits.cpus {
      let online = max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
      guard cpus.isFinite, cpus >= 0.01, cpus <= Double(online) else {
        throw TaskerError(.invalidArgument, "--cpus must be from 0.01 to \(online) (the CPUs this host has)")
      }
      resources.cpu = Linux.Resources.CPU(quota: Int64((cpus * 100_000).rounded()), period: 100_000)
    }
    return resources
  }

  /// The limits `linux.resources` sets, in tasker's terms.
  var taskLimits: ResourceLimits {
    let resources = linux?.resources
    var limits = ResourceLimits()
    limits.memoryBytes = resources?.memory?.limit.map { UInt64(clamping: $0) }
    limits.pids = resources?.pids.map { Int($0.limit) }
    if let cpu = resources?.cpu, let quota = cpu.quota, let period = cpu.period, period > 0 {
      limits.cpus = Double(quota) / Double(period)
    }
    return limits
  }
}
