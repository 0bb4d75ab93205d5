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
}

/// What the supervisor writes when the command ends (`exit.json`).
public struct ExitRecord: Codable, Equatable, Sendable {
  /// The exit code, when the command exited.
  public var exitCode: Int32?
  /// The signal number, when a signal killed it.
  public var signal: Int32?
  /// Seconds since 1970.
  public var finishedAt: Double

  public init(exitCode: Int32?, signal: Int32?, finishedAt: Double) {
    self.exitCode = exitCode
    self.signal = signal
    self.finishedAt = finishedAt
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
