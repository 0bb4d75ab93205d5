import TaskerSystem

extension ResourceUsage {
  /// Reads what the task's cgroups measure now (cgroup v1 and v2 files differ).
  static func read(_ paths: CgroupPaths) -> ResourceUsage {
    var usage = ResourceUsage()
    switch paths.memory {
    case .v1(let path):
      usage.memoryBytes = number(path + "/memory.usage_in_bytes")
      usage.memoryPeakBytes = number(path + "/memory.max_usage_in_bytes")
    case .v2(let path):
      usage.memoryBytes = number(path + "/memory.current")
      usage.memoryPeakBytes = number(path + "/memory.peak")
    case nil:
      break
    }
    switch paths.cpu {
    case .v1(let path):
      usage.cpuSeconds = number(path + "/cpuacct.usage").map { Double($0) / 1e9 }
    case .v2(let path):
      let stat = (try? readSmallFile(path + "/cpu.stat")) ?? ""
      for line in stat.split(separator: "\n") where line.hasPrefix("usage_usec ") {
        usage.cpuSeconds = UInt64(line.dropFirst("usage_usec ".count)).map { Double($0) / 1e6 }
      }
    case nil:
      break
    }
    if let path = paths.processes, let procs = try? readSmallFile(path + "/cgroup.procs") {
      usage.processes = procs.split(separator: "\n").count
    } else if let path = paths.pids {
      usage.processes = number(path + "/pids.current").map { Int($0) }
    }
    return usage
  }

  private static func number(_ path: String) -> UInt64? {
    guard let text = try? readSmallFile(path) else { return nil }
    return UInt64(text.filter { !$0.isWhitespace })
  }
}
