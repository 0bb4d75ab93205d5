extension JailPlan {
  /// The version of the plan document `tasker-supervisor` reads; it refuses any other.
  public static let documentVersion = 2

  /// The plan as `tasker-supervisor` reads it on its descriptor 4: one record a line, fields
  /// separated by tabs and percent-encoded (`%25`, `%09`, `%0A`), first line
  /// `tasker-plan<TAB>1`, last line `end`. The records are listed in
  /// Sources/TaskerSupervisor/main.c; `tasker-supervisor --print-plan` prints back what it
  /// parsed in this same form, which a test compares with this text.
  public func document(workdir: String, reportRootfs: String? = nil) -> String {
    var lines: [[String]] = [["tasker-plan", String(Self.documentVersion)]]
    lines.append(["isolation", isolation.rawValue])
    if mode != .task { lines.append(["mode", mode.rawValue]) }
    lines.append(["workdir", workdir])
    if let reportRootfs { lines.append(["report-rootfs", reportRootfs]) }
    let flags = namespaces.filter { $0 != .cgroup }.reduce(Int32(0)) { $0 | $1.cloneFlag }
    if flags != 0 { lines.append(["namespaces", String(flags)]) }
    if namespaces.contains(.cgroup) { lines.append(["cgroupns"]) }
    for join in joins { lines.append(["join", String(join.namespace.cloneFlag), join.path]) }
    for map in uidMappings { lines.append(["uid-map", String(map.inside), String(map.outside), String(map.count)]) }
    for map in gidMappings { lines.append(["gid-map", String(map.inside), String(map.outside), String(map.count)]) }
    for cgroup in cgroups {
      lines.append(
        cgroup.isParent
          ? ["cgroup-parent", cgroup.path]
          : ["cgroup", cgroup.path, cgroup.required ? "1" : "0", cgroup.isUnified ? "1" : "0"])
    }
    for write in cgroupWrites { lines.append(["cgroup-write", write.file, write.value, write.optional ? "1" : "0"]) }
    for step in steps {
      switch step {
      case .mkdir(let path, let mode): lines.append(["mkdir", path, String(mode, radix: 8)])
      case .mount(let source, let target, let type, let flags, let data):
        lines.append(["mount", source, target, type, String(flags), data])
      case .bind(let hostPath, let target, let flags):
        lines.append(["bind", hostPath, target, String(flags)])
      case .device(let path, let type, let major, let minor, let mode, let uid, let gid):
        lines.append([
          "mknod", path, String(type), String(major), String(minor), String(mode, radix: 8), String(uid), String(gid),
        ])
      case .write(let path, let value): lines.append(["write", path, value])
      case .propagation(let path, let flags): lines.append(["propagation", path, String(flags)])
      case .symlink(let target, let path): lines.append(["symlink", target, path])
      case .readOnly(let path): lines.append(["readonly", path])
      case .mask(let path): lines.append(["mask", path])
      case .attach(let descriptor, let target, let kind):
        lines.append(["attach", String(descriptor), target, kind.rawValue])
      }
    }
    if readOnlyRoot { lines.append(["readonly-root"]) }
    if rootPropagation != 0 { lines.append(["root-propagation", String(rootPropagation)]) }
    if noPivot { lines.append(["no-pivot"]) }
    if let hostname { lines.append(["hostname", hostname]) }
    if let domainname { lines.append(["domainname", domainname]) }
    if loopbackUp { lines.append(["loopback-up"]) }
    if !networkSetup.isEmpty { lines.append(["network-setup"] + networkSetup) }
    if let user { lines.append(["user", String(user.uid), String(user.gid)] + user.additionalGids.map { String($0) }) }
    if let umask { lines.append(["umask", String(umask, radix: 8)]) }
    if let capabilities { lines.append(["capabilities", String(capabilities.mask, radix: 16)]) }
    if let sets = capabilitySets {
      lines.append(
        ["capability-sets"]
          + [sets.bounding, sets.effective, sets.inheritable, sets.permitted, sets.ambient].map {
            String($0.mask, radix: 16)
          })
    }
    for limit in rlimits { lines.append(["rlimit", String(limit.resource), String(limit.soft), String(limit.hard)]) }
    if let oomScoreAdj { lines.append(["oom-score-adj", String(oomScoreAdj)]) }
    if let personality { lines.append(["personality", String(personality)]) }
    if let terminal { lines.append(["terminal", String(terminal.rows), String(terminal.columns)]) }
    if logRelay { lines.append(["log-relay"]) }
    if stdinPipe { lines.append(["stdin-pipe"]) }
    if preservedDescriptors > 0 { lines.append(["preserve-fds", String(preservedDescriptors)]) }
    if noNewPrivileges { lines.append(["no-new-privileges"]) }
    switch restart {
    case .no: break
    case .onFailure(let most): lines.append(["restart", "on-failure", String(most ?? 0)])
    case .always: lines.append(["restart", "always", "0"])
    }
    if let seccomp {
      lines.append(["seccomp", seccomp.defaultAction.planWord, String(seccomp.defaultErrno)])
      for rule in seccomp.rules {
        var fields = ["seccomp-rule", rule.name, rule.action.planWord, String(rule.errno)]
        for comparison in rule.arguments {
          fields += [
            String(comparison.index), comparison.op.planWord, String(comparison.value), String(comparison.valueTwo),
          ]
        }
        lines.append(fields)
      }
    }
    if let hookState { lines.append(["hook-state", hookState.prefix, hookState.suffix]) }
    for hook in hooks {
      lines.append(
        ["hook", hook.phase.rawValue, String(hook.timeout), hook.path, String(hook.args.count)] + hook.args + hook.env)
    }
    lines.append(["end"])
    return lines.map { $0.map(Self.encodeField).joined(separator: "\t") + "\n" }.joined()
  }

  /// Percent-encodes the three bytes that delimit a document (and NUL, which the supervisor
  /// refuses: no C string can hold it).
  static func encodeField(_ field: String) -> String {
    guard field.utf8.contains(where: { $0 == 0x25 || $0 == 0x09 || $0 == 0x0a || $0 == 0 }) else { return field }
    var bytes: [UInt8] = []
    for byte in field.utf8 {
      switch byte {
      case 0x25, 0x09, 0x0a, 0:
        let hex = Array("0123456789ABCDEF".utf8)
        bytes += [0x25, hex[Int(byte >> 4)], hex[Int(byte & 0xf)]]
      default: bytes.append(byte)
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}
