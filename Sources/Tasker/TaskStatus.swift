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

  enum CodingKeys: String, CodingKey {
    case id, name, exists, status, pid, exitCode, signal, signalName, image, command, rootfs, createdAt,
      finishedAt
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
  }

  /// Whether the command has ended (its process is gone).
  public var hasEnded: Bool { !exists }

  /// The exit status a shell would report: the code, or 128+N when signal N killed it.
  public var shellExitStatus: Int32? {
    if let exitCode { return exitCode }
    if let signal { return 128 + signal }
    return nil
  }

  /// `running`, `stopped`, `exited (3)`, `killed (SIGKILL)`, or `gone` when the process ended
  /// without its supervisor recording how.
  public var summary: String {
    if exists { return status == "stopped" || status == "tracing-stop" ? "stopped" : "running" }
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
