/// A set of Linux capabilities, by number (`CAP_CHOWN` is 0).
public struct Capabilities: Equatable, Sendable, CustomStringConvertible {
  public var mask: UInt64

  public init(mask: UInt64) { self.mask = mask }

  /// Capability names without `CAP_`, by number, as <linux/capability.h> has them.
  public static let names: [String] = [
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
    "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW", "IPC_LOCK", "IPC_OWNER",
    "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE",
    "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF",
    "CHECKPOINT_RESTORE",
  ]

  /// Every capability this table knows.
  public static let all = Capabilities(mask: (1 << UInt64(names.count)) - 1)

  /// What container runtimes grant by default (Docker's list), less `MKNOD`: tasker sets no
  /// device cgroup, so a node made in the jail could reach a host device.
  public static let `default` = Capabilities(names: [
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "NET_RAW", "SETGID", "SETUID", "SETFCAP", "SETPCAP",
    "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
  ])

  init(names: [String]) {
    mask = 0
    for name in names {
      if let number = Self.names.firstIndex(of: name) { mask |= 1 << UInt64(number) }
    }
  }

  /// The number of `CAP_NET_ADMIN`, `net_admin` or `NET_ADMIN`; nil if unknown.
  public static func number(of text: String) -> Int? {
    var name = text.uppercased()
    if name.hasPrefix("CAP_") { name.removeFirst(4) }
    return names.firstIndex(of: name)
  }

  public func contains(_ name: String) -> Bool {
    guard let number = Self.number(of: name) else { return false }
    return mask & (1 << UInt64(number)) != 0
  }

  /// The default set adjusted by `--cap-add` and `--cap-drop` (`ALL` allowed in both; drops
  /// apply after adds, as Docker does). Unknown names are errors.
  public static func adjusted(_ base: Capabilities, add: [String], drop: [String]) throws(TaskerError) -> Capabilities {
    var result = base
    for name in add {
      if name.uppercased() == "ALL" {
        result = .all
      } else if let number = number(of: name) {
        result.mask |= 1 << UInt64(number)
      } else {
        throw TaskerError(.invalidArgument, "unknown capability \"\(name)\"")
      }
    }
    for name in drop {
      if name.uppercased() == "ALL" {
        result.mask = 0
      } else if let number = number(of: name) {
        result.mask &= ~(1 << UInt64(number))
      } else {
        throw TaskerError(.invalidArgument, "unknown capability \"\(name)\"")
      }
    }
    return result
  }

  public var description: String {
    Self.names.enumerated().filter { mask & (1 << UInt64($0.offset)) != 0 }.map(\.element).joined(separator: ",")
  }
}
