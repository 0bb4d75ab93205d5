#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// What tasker knows about a task from the moment it started: written once, atomically, by
/// the create that started it (`task.json` in the task's state directory).
public struct TaskRecord: Codable, Equatable, Sendable {
  public var id: TaskID
  /// The name given with `--name`, usable wherever the ID is.
  public var name: String?
  /// The image location as the user gave it.
  public var image: String
  /// The SHA-256 of the image archive's bytes.
  public var imageDigest: String
  /// The command's argv.
  public var command: [String]
  /// The command's environment, `K=V`.
  public var environment: [String]
  /// The working directory inside the task's root.
  public var workdir: String
  /// The task's root filesystem directory on the host.
  public var rootfs: String
  /// The command's PID (on the host) and kernel start time: together they name it for good.
  public var pid: Int32
  public var startTime: UInt64
  /// The supervisor's PID and start time.
  public var supervisorPID: Int32
  public var supervisorStartTime: UInt64
  /// Whether stdout and stderr go to the task's log files (else to descriptors the caller gave).
  public var logged: Bool
  public var createdAt: Date
  /// How the task is isolated (absent in records of the first versions: chroot).
  public var isolation: Isolation?
  /// The jail's init (PID 1 of the task's PID namespace, as the host numbers it).
  public var initPID: Int32?
  public var initStartTime: UInt64?
  /// Where the task's cgroup measurements are read.
  public var cgroups: CgroupPaths?
  /// The task's own cgroup directories (removed by the supervisor at the end, or by rm).
  public var cgroupDirectories: [String]?
  /// The named volumes the task mounts (`-v NAME:/path`): `volume rm` refuses them while the
  /// record exists.
  public var volumes: [String]?
  /// Whether its stdin is kept open for `attach` (`-i`), and whether it has a terminal (`-t`).
  public var interactive: Bool?
  public var terminal: Bool?
  /// The signal `stop` sends first (`--stop-signal`; absent in older records: SIGTERM).
  public var stopSignal: Int32?
  /// `--restart` as given (`no`, `on-failure`, `on-failure:3`, `always`; absent: `no`).
  public var restartPolicy: String?
}

/// What the supervisor writes each time it starts a task's command again (`run.json`): the new
/// processes, read over `task.json`'s (which only its creator, or `restart`, writes).
struct RestartedProcesses: Codable, Equatable, Sendable {
  var pid: Int32
  var startTime: UInt64
  var initPID: Int32
  var initStartTime: UInt64
  var restartCount: Int
}

/// What the supervisor writes when the command ends (`exit.json`).
public struct ExitRecord: Codable, Equatable, Sendable {
  /// The exit code, when the command exited.
  public var exitCode: Int32?
  /// The signal number, when a signal killed it.
  public var signal: Int32?
  /// Seconds since 1970.
  public var finishedAt: Double
  /// Whether the kernel's OOM killer ended a process of the task's memory cgroup (absent in
  /// records of older supervisors).
  public var oomKilled: Bool?
  /// How often the restart policy had started the command again before this end.
  public var restartCount: Int?

  public init(exitCode: Int32?, signal: Int32?, finishedAt: Double, oomKilled: Bool? = nil, restartCount: Int? = nil) {
    self.exitCode = exitCode
    self.signal = signal
    self.finishedAt = finishedAt
    self.oomKilled = oomKilled
    self.restartCount = restartCount
  }
}

extension JSONEncoder {
  /// The encoder for records and `--json` output: sorted keys, dates as ISO 8601.
  static var tasker: JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    return encoder
  }
}

extension JSONDecoder {
  static var tasker: JSONDecoder {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    return decoder
  }
}

/// JSON as tasker prints it for scripts: one line, sorted keys, ISO 8601 dates.
public enum TaskerJSON {
  public static func encode(_ value: some Encodable) -> String {
    guard let data = try? JSONEncoder.tasker.encode(value) else { return "null" }
    return String(decoding: data, as: UTF8.self)
  }
}
