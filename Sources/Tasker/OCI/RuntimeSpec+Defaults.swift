extension RuntimeSpec {
  /// The document `runc spec` prints (runc 1.1, spec 1.0.2-dev), with `args` as the process's argv.
  public static func runcDefault(args: [String]) -> RuntimeSpec {
    let capabilities = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    let process = ProcessConfig(
      terminal: true, user: User(uid: 0, gid: 0), args: args,
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"], cwd: "/",
      capabilities: CapabilitySets(
        bounding: capabilities, effective: capabilities, permitted: capabilities, ambient: capabilities),
      rlimits: [Rlimit(type: "RLIMIT_NOFILE", hard: 1024, soft: 1024)], noNewPrivileges: true)
    let mounts = [
      Mount(destination: "/proc", type: "proc", source: "proc"),
      Mount(
        destination: "/dev", type: "tmpfs", source: "tmpfs",
        options: ["nosuid", "strictatime", "mode=755", "size=65536k"]),
      Mount(
        destination: "/dev/pts", type: "devpts", source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]),
      Mount(
        destination: "/dev/shm", type: "tmpfs", source: "shm",
        options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
      Mount(destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"]),
      Mount(destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]),
      Mount(
        destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup",
        options: ["nosuid", "noexec", "nodev", "relatime", "ro"]),
    ]
    let linux = Linux(
      namespaces: ["pid", "network", "ipc", "uts", "mount"].map { Linux.Namespace(type: $0) },
      // Every device denied; runc adds its own allowlist of the usual ones.
      resources: Linux.Resources(devices: [Linux.Resources.DeviceRule(allow: false, access: "rwm")]),
      maskedPaths: [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
      ],
      readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"])
    return RuntimeSpec(
      ociVersion: "1.0.2-dev", process: process, root: Root(path: "rootfs", readonly: true), hostname: "runc",
      mounts: mounts, linux: linux)
  }

  /// The document `runc spec --rootless` prints when run by `uid`:`gid`, with `args` as the process's argv.
  ///
  /// As runc's `ToRootless`: a new user namespace mapping container root to the caller and no new
  /// network namespace (an unprivileged caller could not connect one to anything); /sys bind-mounted from the host,
  /// since sysfs cannot be mounted without owning the network namespace; `uid=` and `gid=` mount
  /// options dropped, the IDs being unmapped; no cgroup limits, which need a delegated cgroup.
  public static func runcRootless(args: [String], uid: UInt32, gid: UInt32) -> RuntimeSpec {
    var spec = runcDefault(args: args)
    var linux = spec.linux ?? Linux()
    linux.namespaces =
      (linux.namespaces ?? []).filter { $0.type != "network" && $0.type != "user" } + [Linux.Namespace(type: "user")]
    linux.uidMappings = [IDMapping(containerID: 0, hostID: uid, size: 1)]
    linux.gidMappings = [IDMapping(containerID: 0, hostID: gid, size: 1)]
    linux.resources = nil
    spec.linux = linux
    spec.mounts = spec.mounts?.map { mount in
      if mount.destination == "/sys" {
        return Mount(
          destination: "/sys", type: "none", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"])
      }
      var mount = mount
      let options = mount.options?.filter { !$0.hasPrefix("uid=") && !$0.hasPrefix("gid=") }
      // As Go leaves it: a list emptied by the filter is absent.
      mount.options = options?.isEmpty == false ? options : nil
      return mount
    }
    return spec
  }
}
