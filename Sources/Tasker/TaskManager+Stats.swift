import Glibc
import TaskerArchive
import TaskerSystem

/// One row of `stats`: what a running task's cgroups measured over a short interval.
public struct TaskStats: Codable, Equatable, Sendable {
  public var id: TaskID
  public var name: String?
  /// CPU time used per second of the interval, in percent of one CPU (200 is two CPUs busy).
  public var cpuPercent: Double?
  public var memoryBytes: UInt64?
  /// The task's memory limit, or the host's memory where it has none.
  public var memoryLimitBytes: UInt64?
  public var processes: Int?

  enum CodingKeys: String, CodingKey {
    case id, name, cpuPercent, memoryBytes, memoryLimitBytes, processes
  }

  /// Every key is written, `null` where the host cannot measure.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(id, forKey: .id)
    try container.encode(name, forKey: .name)
    try container.encode(cpuPercent, forKey: .cpuPercent)
    try container.encode(memoryBytes, forKey: .memoryBytes)
    try container.encode(memoryLimitBytes, forKey: .memoryLimitBytes)
    try container.encode(processes, forKey: .processes)
  }
}

extension TaskManager {
  /// The running tasks among `ids` (every running task when empty), measured twice
  /// `intervalMilliseconds` apart, as `podman stats --no-stream`. A task named in `ids` that
  /// does not run is an error.
  public func stats(_ ids: [String], intervalMilliseconds: Int = 500) async throws(TaskerError) -> [TaskStats] {
    var tasks: [(TaskID, TaskRecord)] = []
    if ids.isEmpty {
      for entry in list() {
        if case .success(let status) = entry.result, status.exists, let record = try? store.record(of: entry.id) {
          tasks.append((entry.id, record))
        }
      }
    } else {
      for text in ids {
        let id = try store.resolve(text)
        let record = try store.record(of: id)
        guard status(of: id, record: record).exists else {
          throw TaskerError(.notRunning, "task \(id) is not running")
        }
        tasks.append((id, record))
      }
    }
    let selected = tasks
    return await onBlockingThread {
      let before = selected.map { $0.1.cgroups.map(ResourceUsage.read)?.cpuSeconds }
      var start = timespec()
      clock_gettime(CLOCK_MONOTONIC, &start)
      usleep(UInt32(intervalMilliseconds * 1_000))
      var end = timespec()
      clock_gettime(CLOCK_MONOTONIC, &end)
      let elapsed = Double(end.tv_sec - start.tv_sec) + Double(end.tv_nsec - start.tv_nsec) / 1e9
      return selected.enumerated().map { index, task in
        let (id, record) = task
        let usage = record.cgroups.map(ResourceUsage.read)
        var row = TaskStats(
          id: id, name: record.name, cpuPercent: nil, memoryBytes: usage?.memoryBytes,
          memoryLimitBytes: record.cgroups.flatMap(Self.memoryLimit), processes: usage?.processes)
        if let first = before[index], let second = usage?.cpuSeconds, elapsed > 0 {
          row.cpuPercent = max(0, second - first) / elapsed * 100
        }
        return row
      }
    }
  }

  /// The memory cgroup's limit, or the host's memory when it has none.
  static func memoryLimit(_ paths: CgroupPaths) -> UInt64? {
    var limit: UInt64?
    switch paths.memory {
    case .v1(let path): limit = (try? readSmallFile(path + "/memory.limit_in_bytes")).flatMap(Self.number)
    case .v2(let path): limit = (try? readSmallFile(path + "/memory.max")).flatMap(Self.number)
    case nil: return nil
    }
    let pages = UInt64(max(0, sysconf(Int32(_SC_PHYS_PAGES)))) * UInt64(max(0, sysconf(Int32(_SC_PAGESIZE))))
    guard let limit, limit < pages else { return pages }
    return limit
  }

  private static func number(_ text: String) -> UInt64? { UInt64(text.filter { !$0.isWhitespace }) }
}

extension TaskManager {
  /// Writes the task's root as the task sees it — its image with its writes, without the
  /// /proc, /dev and other mounts of its jail (they live in its own mount namespace) — as a tar
  /// archive (what `create` reads) to `output`. The root is read from the root-only state
  /// directory by descriptor, never following the task's symlinks. Returns a warning for each
  /// file left out because a process holds a lease on it.
  @discardableResult
  public func export(_ idText: String, to output: Int32) async throws(TaskerError) -> [String] {
    let id = try store.resolve(idText)
    let record = try store.record(of: id)
    let root = try readableRoot(of: id, record: record)
    let fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    guard fd >= 0 else {
      let error = SystemError("open", path: root, errno: errno)
      throw TaskerError(.system, "cannot export task \(id): \(error)", cause: error)
    }
    defer { close(fd) }
    let result: Result<[String], TreeArchiver.Failure> = await onBlockingThread {
      Result { () throws(TreeArchiver.Failure) in try TreeArchiver.write(root: fd, to: output) }
    }
    do {
      return try result.get().map { "skipped \"/\($0)\": another process holds a lease on it" }
    } catch {
      throw TaskerError(.system, "cannot export task \(id): \(error)", cause: error)
    }
  }
}
