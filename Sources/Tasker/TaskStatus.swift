#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A task as `health_check` sees it now.
public struct TaskStatus: Codable, Equatable, Sendable {
  public var id: TaskID
  public var name: String?
  /// Whether the command's process still exists.
  public var exists: Bool
  /// The kernel's word for the process state (`running`, `sleeping`, ...) while it exists.
  public var status: String?
  public var pid: Int32
  /// The exit code, once the command has exited.
  public var exitCode: Int32?
  /// The number of the signal that killed the command, if one did.
  public var signal: Int32?
  /// That signal's name (`SIGINT`).
  public var signalName: String?
  public var image: String
  public var command: [String]
  public var rootfs: String
  public var createdAt: Date
  public var finishedAt: Date?
  /// `chroot` or `jail`.
  public var isolation: Isolation
  /// What the task's cgroup measures, while it exists (nil where the host cannot tell).
  public var usage: ResourceUsage?
  /// Whether it ended because the kernel's OOM killer ended a process of its memory cgroup.
  public var oomKilled: Bool = false
  /// How often its restart policy started the command again.
  public var restartCount: Int = 0

  enum CodingKeys: String, CodingKey {
    case id, name, exists, status, pid, exitCode, signal, signalName, image, command, rootfs, createdAt,
      finishedAt, isolation, usage, oomKilled, restartCount
  }

  /// Every key is written, `null` where there is no value yet, so scripts can rely on them.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(id, forKey: .id)
    try container.encode(name, forKey: .name)
    try container.encode(exists, forKey: .exists)
    try container.encode(status, forKey: .status)
    try container.encode(pid, forKey: .pid)
    try container.encode(exitCode, forKey: .exitCode)
    try container.encode(signal, forKey: .signal)
    try container.encode(signalName, forKey: .signalName)
    try container.encode(image, forKey: .image)
    try container.encode(command, forKey: .command)
    try container.encode(rootfs, forKey: .rootfs)
    try container.encode(createdAt, forKey: .createdAt)
    try container.encode(finishedAt, forKey: .finishedAt)
    try container.encode(isolation, forKey: .isolation)
    try container.encode(usage, forKey: .usage)
    try container.encode(oomKilled, forKey: .oomKilled)
    try container.encode(restartCount, forKey: .restartCount)
  }

  /// Whether the command has ended (its process is gone).
  public var hasEnded: Bool { !exists }

  /// The exit status a shell would report: the code, or 128+N when signal N killed it.
  public var shellExitStatus: Int32? {
    if let exitCode { return exitCode }
    if let signal { return 128 + signal }
    return nil
  }

  /// `running`, `stopped`, `exited (3)`, `killed (SIGKILL)`, `oom-killed` (out of memory), or
  /// `gone` when the process ended without its supervisor recording how.
  public var summary: String {
    if exists { return status == "stopped" || status == "tracing-stop" ? "stopped" : "running" }
    if oomKilled { return "oom-killed" }
    if let exitCode { return "exited (\(exitCode))" }
    if let signalName { return "killed (\(signalName))" }
    return "gone"
  }

  /// The original tool's two lines: `exists: True` / `status: sleeping`, or
  /// `exists: False` / `status: None`.
  public var healthCheckText: String {
    "exists: \(exists ? "True" : "False")\nstatus: \(status ?? "None")"
  }
}

/// What a task's cgroup measured at one moment.
public struct ResourceUsage: Codable, Equatable, Sendable {
  /// Memory in use, bytes.
  public var memoryBytes: UInt64?
  /// The most memory it has used, bytes.
  public var memoryPeakBytes: UInt64?
  /// CPU time used by all its processes, seconds.
  public var cpuSeconds: Double?
  /// Processes (and threads, where only the pids controller counts) in it.
  public var processes: Int?

  enum CodingKeys: String, CodingKey {
    case memoryBytes, memoryPeakBytes, cpuSeconds, processes
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(memoryBytes, forKey: .memoryBytes)
    try container.encode(memoryPeakBytes, forKey: .memoryPeakBytes)
    try container.encode(cpuSeconds, forKey: .cpuSeconds)
    try container.encode(processes, forKey: .processes)
  }
}
