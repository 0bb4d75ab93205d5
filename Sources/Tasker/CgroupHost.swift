import Glibc
import TaskerSystem

/// Which cgroup hierarchies this host has and what they can control: a pure cgroup v2 host (most
/// current ones), a v1 host, or a hybrid of both.
public struct CgroupHost: Equatable, Sendable {
  /// Where the cgroup v2 hierarchy is mounted, if it is.
  public var unifiedMount: String?
  /// The controllers the v2 root offers (`cgroup.controllers`).
  public var unifiedControllers: Set<String>
  /// v1 hierarchies: controller name to mount point (`cpu` and `cpuacct` may share one).
  public var v1Mounts: [String: String]
  /// Whether the v1 memory controller accounts swap (`memory.memsw.limit_in_bytes` exists).
  public var v1SwapAccounting: Bool
  /// For a user other than root: the hierarchy is the cgroup v2 subtree delegated to the user
  /// (`unifiedMount` is then that subtree's directory, nil when the host delegates none).
  public var isUserDelegation = false

  public init(
    unifiedMount: String?, unifiedControllers: Set<String>, v1Mounts: [String: String],
    v1SwapAccounting: Bool = false
  ) {
    self.unifiedMount = unifiedMount
    self.unifiedControllers = unifiedControllers
    self.v1Mounts = v1Mounts
    self.v1SwapAccounting = v1SwapAccounting
  }

  /// Reads this host's hierarchies from /proc/self/mountinfo; for a user other than root, the
  /// subtree delegated to them (`delegated`).
  public static func detect() -> CgroupHost {
    if UserNamespace.hostUID != 0 { return delegated() }
    let text = (try? readSmallFile("/proc/self/mountinfo", limit: 4 << 20)) ?? ""
    var host = parse(mountinfo: text)
    if let unified = host.unifiedMount {
      let controllers = (try? readSmallFile(unified + "/cgroup.controllers")) ?? ""
      host.unifiedControllers = Set(controllers.split(whereSeparator: \.isWhitespace).map(String.init))
    }
    if let memory = host.v1Mounts["memory"] {
      host.v1SwapAccounting = pathExists(memory + "/memory.memsw.limit_in_bytes")
    }
    return host
  }

  /// The cgroup v2 subtree a user other than root may use, as rootless podman and crun use it:
  /// the cgroup this process is in, where the host delegated it (systemd's `Delegate=yes`
  /// makes its directory, `cgroup.procs` and `cgroup.subtree_control` the user's). No cgroup v1
  /// hierarchy is ever the user's. Without a delegation, nothing: a task then has no cgroup,
  /// and a limit is an error (`JailPlan.addCgroups`).
  static func delegated() -> CgroupHost {
    let text = (try? readSmallFile("/proc/self/mountinfo", limit: 4 << 20)) ?? ""
    var host = CgroupHost(unifiedMount: nil, unifiedControllers: [], v1Mounts: [:])
    host.isUserDelegation = true
    guard let mount = parse(mountinfo: text).unifiedMount,
      let membership = try? readSmallFile("/proc/self/cgroup"),
      let line = membership.split(separator: "\n").first(where: { $0.hasPrefix("0::/") })
    else { return host }
    let own = String(line.dropFirst(3))
    let directory = own == "/" ? mount : mount + own
    for name in ["", "/cgroup.procs", "/cgroup.subtree_control"] where access(directory + name, W_OK) != 0 {
      return host
    }
    host.unifiedMount = directory
    let controllers = (try? readSmallFile(directory + "/cgroup.controllers")) ?? ""
    host.unifiedControllers = Set(controllers.split(whereSeparator: \.isWhitespace).map(String.init))
    return host
  }

  /// The hierarchies named in a mountinfo text (controllers of v2 are read separately).
  public static func parse(mountinfo: String) -> CgroupHost {
    var unified: String?
    var v1: [String: String] = [:]
    for line in mountinfo.split(separator: "\n") {
      // Fields: ... mount-point ... - fstype source super-options
      let halves = line.components(separatedBy: " - ")
      guard halves.count == 2 else { continue }
      let left = halves[0].split(separator: " ")
      let right = halves[1].split(separator: " ")
      guard left.count >= 5, right.count >= 3 else { continue }
      let mountPoint = unescapeMountinfo(String(left[4]))
      switch right[0] {
      case "cgroup2":
        // Prefer the conventional place when there are several.
        if unified == nil || mountPoint == "/sys/fs/cgroup" { unified = mountPoint }
      case "cgroup":
        for option in right[2].split(separator: ",") {
          let name = String(option)
          if [
            "memory", "pids", "cpu", "cpuacct", "cpuset", "devices", "freezer", "blkio", "hugetlb", "net_cls",
            "net_prio", "perf_event", "rdma", "misc",
          ].contains(name),
            v1[name] == nil
          {
            v1[name] = mountPoint
          }
        }
      default:
        continue
      }
    }
    return CgroupHost(unifiedMount: unified, unifiedControllers: [], v1Mounts: v1)
  }

  /// Where `controller` can be used: v2 when the v2 root offers it, v1 when a v1 hierarchy has it.
  public func placement(of controller: String) -> Placement? {
    if let unifiedMount, unifiedControllers.contains(controller) { return .v2(unifiedMount) }
    if let mount = v1Mounts[controller] { return .v1(mount) }
    return nil
  }

  public enum Placement: Equatable, Sendable {
    case v2(String)
    case v1(String)
  }
}

/// mountinfo escapes blanks and backslashes as \040, \011, \012, \134.
private func unescapeMountinfo(_ text: String) -> String {
  guard text.contains("\\") else { return text }
  var result = ""
  var characters = Array(text)
  var index = 0
  while index < characters.count {
    if characters[index] == "\\", index + 3 < characters.count,
      let code = UInt8(String(characters[(index + 1)...(index + 3)]), radix: 8)
    {
      result.append(Character(Unicode.Scalar(code)))
      index += 4
    } else {
      result.append(characters[index])
      index += 1
    }
  }
  characters.removeAll()
  return result
}
