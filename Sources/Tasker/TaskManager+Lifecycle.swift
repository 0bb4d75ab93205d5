import CTaskerShim
import Dispatch
import Glibc
import TaskerSystem

/// One row of `list`: a task's status, or why it could not be read.
public struct TaskListEntry: Sendable {
  public var id: TaskID
  public var result: Result<TaskStatus, TaskerError>
}

extension TaskManager {
  // MARK: - list

  /// Every task under the state root, in ID order. A task whose record is damaged appears with
  /// its error; it does not stop the others from being listed. Creates that were killed
  /// half-way are cleaned up on the way and never listed.
  public func list() -> [TaskListEntry] {
    store.taskIDs().compactMap { id in
      let record = Result { () throws(TaskerError) in try store.record(of: id) }
      // Removed by another tasker between the listing and the read: not a task any more.
      if case .failure(let error) = record, error.code == .notFound { return nil }
      return TaskListEntry(id: id, result: record.map { status(of: id, record: $0) })
    }
  }

  /// What `prune` removed.
  public struct Pruned: Sendable {
    /// Creates killed half-way whose remains were removed.
    public var abandonedTasks: Int
    /// Cached images no task uses, removed.
    public var images: [String]
    /// Layered images (their IDs) no task uses, removed.
    public var layeredImages: [String] = []
    /// Layers (diff_ids) no image record names any more, removed.
    public var layers: [String] = []
  }

  /// Removes what creates killed half-way left behind (state and directories) and the cached
  /// images no task uses.
  public func prune() -> Pruned {
    var removed = 0
    for name in directoryEntries(store.tasksDirectory) {
      if let id = TaskID(name), store.cleanIfAbandoned(id) { removed += 1 }
    }
    let inUse = Set(store.taskIDs().compactMap { try? store.record(of: $0).imageDigest })
    var pruned = Pruned(abandonedTasks: removed, images: ImageCache(stateRoot: settings.stateRoot).prune(inUse: inUse))
    let images = LayeredImageStore(stateRoot: settings.stateRoot)
    pruned.layeredImages = images.prune {
      Set(store.taskIDs().compactMap { try? store.record(of: $0).imageDigest })
    }
    // The layers of the images that remain; read again by the layer store once it holds a
    // layer's lock, for a pull that saved its image meanwhile.
    pruned.layers = LayerStore(stateRoot: settings.stateRoot).prune(
      inUse: Set(images.list().flatMap { $0.diffIDs.map(\.hex) }))
    return pruned
  }

  /// A layered image as `tasker images` shows it.
  public struct LayeredImageRow: Sendable {
    public var image: LayeredImage
    /// Tasks whose root it is.
    public var tasks: Int
    /// Bytes of file content in its layers.
    public var bytes: UInt64
    /// Of its layers, those another image record names too.
    public var sharedLayers: Int
  }

  /// The layered images, newest first.
  public func layeredImages() -> [LayeredImageRow] {
    var uses: [String: Int] = [:]
    for id in store.taskIDs() {
      if let digest = try? store.record(of: id).imageDigest { uses[digest, default: 0] += 1 }
    }
    let images = LayeredImageStore(stateRoot: settings.stateRoot).list()
    let layers = LayerStore(stateRoot: settings.stateRoot).list()
    var namedBy: [String: Int] = [:]
    for image in images {
      for hex in Set(image.diffIDs.map(\.hex)) { namedBy[hex, default: 0] += 1 }
    }
    return images.map { image in
      LayeredImageRow(
        image: image, tasks: uses[image.id.description] ?? 0,
        bytes: image.diffIDs.reduce(0) { $0 + (layers[$1.hex]?.size ?? 0) },
        sharedLayers: image.diffIDs.filter { (namedBy[$0.hex] ?? 0) > 1 }.count)
    }
  }

  /// The cached images, with how many tasks use each.
  public func images() -> [(entry: ImageCache.Entry, tasks: Int)] {
    var uses: [String: Int] = [:]
    for id in store.taskIDs() {
      if let digest = try? store.record(of: id).imageDigest { uses[digest, default: 0] += 1 }
    }
    return ImageCache(stateRoot: settings.stateRoot).list().map { ($0, uses[$0.digest] ?? 0) }
  }

  // MARK: - wait

  /// Blocks until the task's command has ended and returns its final status.
  public func wait(for idText: String) async throws(TaskerError) -> TaskStatus {
    let id = try store.resolve(idText)
    let record = try store.record(of: id)
    return await onBlockingThread { waitUntilEnded(id: id, record: record, pollMilliseconds: -1) }
  }

  /// Waits for the supervisor (which exits right after recording the end), or for the command
  /// itself when the supervisor is gone. `pollMilliseconds` bounds each wait; -1 waits for good.
  /// `onTick` runs after every wait; returning false stops the wait early (a log reader whose
  /// output went away).
  func waitUntilEnded(id: TaskID, record first: TaskRecord, pollMilliseconds: Int32, onTick: () -> Bool = { true })
    -> TaskStatus
  {
    var record = first
    // The command's own pidfd wakes us the moment it exits; its supervisor writes exit.json a
    // moment later (before it tidies the cgroups away), so that is watched for in short steps.
    var command = try? ProcessHandle.open(pid: record.pid, expectedStartTime: record.startTime)
    while true {
      if store.exitRecord(of: id) != nil {
        // A supervisor with a restart policy may start the command again: the task has ended
        // only once it is gone too.
        if record.restartPolicy != nil, awaitRestartOrEnd(id: id, record: record),
          let again = try? store.record(of: id)
        {
          record = again
          command = try? ProcessHandle.open(pid: record.pid, expectedStartTime: record.startTime)
          continue
        }
        _ = onTick()
        return status(of: id, record: record)
      }
      if let command, !command.waitForExit(timeoutMilliseconds: pollMilliseconds < 0 ? 1_000 : pollMilliseconds) {
        if !onTick() { return status(of: id, record: record) }
        continue
      }
      // The command is gone: exit.json follows while its supervisor lives.
      let supervisor = try? ProcessHandle.open(pid: record.supervisorPID, expectedStartTime: record.supervisorStartTime)
      var waited: Int32 = 0
      while store.exitRecord(of: id) == nil, let supervisor, !supervisor.waitForExit(timeoutMilliseconds: 1),
        waited < 5_000
      {
        waited += 1
      }
      // A restart policy may go on with it (the check at the top), or may have already: while
      // its supervisor lives, the task's latest processes are looked for again.
      if record.restartPolicy != nil, let supervisor,
        store.exitRecord(of: id) != nil || !supervisor.waitForExit(timeoutMilliseconds: 0)
      {
        if let again = try? store.record(of: id), again.pid != record.pid || again.startTime != record.startTime {
          record = again
          command = try? ProcessHandle.open(pid: record.pid, expectedStartTime: record.startTime)
        }
        continue
      }
      _ = onTick()
      return status(of: id, record: record)
    }
  }

  /// Waits while the supervisor lives and the end's record stays: true if it restarted the
  /// command (exit.json went away), false once the supervisor is gone.
  func awaitRestartOrEnd(id: TaskID, record: TaskRecord) -> Bool {
    guard
      let supervisor = try? ProcessHandle.open(pid: record.supervisorPID, expectedStartTime: record.supervisorStartTime)
    else { return false }
    while !supervisor.waitForExit(timeoutMilliseconds: 20) {
      if store.exitRecord(of: id) == nil { return true }
    }
    return false
  }

  // MARK: - logs

  /// Copies what the task wrote so far to `stdout` and `stderr` (each stream in order). With
  /// `follow`, keeps copying until the task ends, and returns its final status.
  /// `selection` picks lines (`--tail`, `--since`) and may prefix their times
  /// (`--timestamps`); without one the logs are copied byte for byte.
  @discardableResult
  public func copyLogs(
    of idText: String, follow: Bool, selection: LogSelection = LogSelection(), stdout: Int32 = STDOUT_FILENO,
    stderr: Int32 = STDERR_FILENO
  ) async throws(TaskerError) -> TaskStatus {
    let id = try store.resolve(idText)
    let record = try store.record(of: id)
    guard record.logged else {
      throw TaskerError(.invalidArgument, "task \(id) has no logs: its output went to descriptors its creator chose")
    }
    if !selection.isEverything {
      let manager = self
      let result: Result<TaskStatus, TaskerError> = await onBlockingThread {
        Result { () throws(TaskerError) in
          try manager.copySelectedLogs(
            of: id, record: record, selection: selection, follow: follow, stdout: stdout, stderr: stderr)
        }
      }
      return try result.get()
    }
    let store = self.store
    let result: Result<TaskStatus, TaskerError> = await onBlockingThread {
      do {
        let out = try LogCursor(path: store.stdoutPath(of: id), destination: stdout)
        let err = try LogCursor(path: store.stderrPath(of: id), destination: stderr)
        try out.copyAvailable()
        try err.copyAvailable()
        if !follow { return .success(status(of: id, record: record)) }
        var failure: SystemError?
        let final = waitUntilEnded(id: id, record: record, pollMilliseconds: 50) {
          do throws(SystemError) {
            try out.copyAvailable()
            try err.copyAvailable()
            return true
          } catch {
            failure = error
            return false
          }
        }
        if let failure { throw failure }
        try out.copyAvailable()
        try err.copyAvailable()
        return .success(final)
      } catch {
        return .failure(TaskerError(.system, "cannot read logs of task \(id): \(error)", cause: error))
      }
    }
    return try result.get()
  }

  // MARK: - rm

  /// Removes the task's record, logs and root directory. A task whose command still runs is
  /// refused unless `force`, which first kills the command and every process it started.
  public func remove(_ idText: String, force: Bool) async throws(TaskerError) -> TaskID {
    let id = try store.resolve(idText)
    let record: TaskRecord
    do {
      record = try store.record(of: id)
    } catch  where error.code == .corruptRecord {
      // The damaged record is not trusted; what the supervisor wrote beside it names the
      // processes and the directory.
      let report = store.supervisorReport(of: id)
      if let report, report.commandIsRunning && !force {
        throw TaskerError(.running, "task \(id) is running: stop it first, or use --force")
      }
      await onBlockingThread { report?.endProcesses() }
      if let rootfs = report?.rootfs { removeView(rootfs, of: id) }
      guard store.discard(id) else { throw TaskerError(.notFound, "no such task: \(idText)") }
      return id
    }
    let current = status(of: id, record: record)
    if current.exists && !force {
      throw TaskerError(.running, "task \(id) is running: stop it first, or use --force")
    }
    // Not started again by a restart policy once it is killed.
    store.markStopping(id)
    await onBlockingThread { killEverything(of: record) }
    // The view first, then the state (which unmounts the root before deleting it).
    removeView(record.rootfs, of: id)
    guard store.discard(id, name: record.name) else { throw TaskerError(.notFound, "no such task: \(idText)") }
    // The supervisor removes the cgroups when the task ends; if it was killed, nobody did.
    for directory in record.cgroupDirectories ?? [] { rmdir(directory) }
    return id
  }

  /// Takes the task's directory out of the download path (see TaskView): the view's mount, and
  /// the empty directory under it; nothing else is touched there.
  func removeView(_ rootfs: String, of id: TaskID) {
    guard let slash = rootfs.utf8.lastIndex(of: UInt8(ascii: "/")) else { return }
    let parent = String(rootfs[..<slash])
    TaskView.detach(
      downloadPath: parent.isEmpty ? "/" : parent, name: String(rootfs[rootfs.index(after: slash)...]),
      root: store.rootPath(of: id))
  }

  /// Kills the command and whatever it started: every process started since the task whose root
  /// is the task's directory (in chroot isolation a process can leave the supervisor's session
  /// with setsid, but not its root). Repeats until none is left (a forking process may add one
  /// while we kill). Each kill goes through a pidfd whose start time was checked.
  func killEverything(of record: TaskRecord) {
    // A jail ends as a whole: when the init of its PID namespace dies, the kernel kills every
    // process left in it; the v2 cgroup's cgroup.kill reaches any that got out.
    if let initPID = record.initPID, let initStart = record.initStartTime,
      let initProcess = try? ProcessHandle.open(pid: initPID, expectedStartTime: initStart)
    {
      _ = try? initProcess.send(signal: SIGKILL)
      _ = initProcess.waitForExit(timeoutMilliseconds: 5_000)
    }
    if let processes = record.cgroups?.processes {
      // Belt and braces: whatever is still in the task's cgroup goes too, and the wait ends
      // only once it is empty (or after five seconds).
      if pathExists(processes + "/cgroup.kill") { try? writeFileContents(processes + "/cgroup.kill", "1") }
      for _ in 0..<500 {
        let members = ((try? readSmallFile(processes + "/cgroup.procs")) ?? "").split(separator: "\n")
          .compactMap { Int32($0) }
        if members.isEmpty { break }
        for pid in members {
          if let stat = ProcessStat.read(pid: pid), stat.stateCode != "Z",
            let process = try? ProcessHandle.open(pid: pid, expectedStartTime: stat.startTime)
          {
            _ = try? process.send(signal: SIGKILL)
          }
        }
        usleep(10_000)
      }
    }
    // Everything a jailed task started lived in its PID namespace, gone with its init. Only a
    // chroot needs the search below, which must not touch a host process that merely entered
    // the task's directory: it takes the supervisor's session, or a parent already taken.
    if record.initPID != nil {
      awaitSupervisor(of: record)
      return
    }
    for _ in 0..<50 {
      var stats: [Int32: ProcessStat] = [:]
      for pid in allProcessIDs() where pid != getpid() {
        if let stat = ProcessStat.read(pid: pid), stat.stateCode != "Z", stat.startTime >= record.supervisorStartTime {
          stats[pid] = stat
        }
      }
      var members = Set(
        stats.filter {
          $0.value.sessionID == record.supervisorPID && processRoot($0.key) == store.rootPath(of: record.id)
        }.keys)
      // Children that left the session (setsid) but not their parent.
      var grew = true
      while grew {
        grew = false
        for (pid, stat) in stats where !members.contains(pid) && members.contains(stat.parentPID) {
          members.insert(pid)
          grew = true
        }
      }
      if members.isEmpty {
        awaitSupervisor(of: record)
        return
      }
      for pid in members {
        guard let stat = ProcessStat.read(pid: pid),
          let process = try? ProcessHandle.open(pid: pid, expectedStartTime: stat.startTime)
        else { continue }
        _ = try? process.send(signal: SIGKILL)
        _ = process.waitForExit(timeoutMilliseconds: 1_000)
      }
    }
  }

  /// Waits (two seconds at most) for the task's supervisor to finish: once its task is killed it
  /// still writes `exit.json` into the task's state directory and removes the cgroups, and the
  /// state must not be deleted under it.
  func awaitSupervisor(of record: TaskRecord) {
    guard
      let supervisor = try? ProcessHandle.open(pid: record.supervisorPID, expectedStartTime: record.supervisorStartTime)
    else { return }
    _ = supervisor.waitForExit(timeoutMilliseconds: 2_000)
  }

  // MARK: - helpers

  /// Runs blocking work on a thread of its own, not on Swift's cooperative pool.
  func onBlockingThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
      DispatchQueue.global().async { continuation.resume(returning: body()) }
    }
  }
}

/// Writes `text` into an existing file (a cgroup or procfs knob).
func writeFileContents(_ path: String, _ text: String) throws(SystemError) {
  let fd = try retryingSyscall("open", path: path) { open(path, O_WRONLY | O_CLOEXEC) }
  defer { close(fd) }
  try writeAll(fd: fd, Array(text.utf8), path: path)
}

/// The target of /proc/PID/root: the process's root directory as the host names it.
func processRoot(_ pid: Int32) -> String? {
  var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
  let n = readlink("/proc/\(pid)/root", &buffer, buffer.count - 1)
  guard n > 0 else { return nil }
  return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Copies a log file to a descriptor from where it last stopped.
final class LogCursor {
  private let fd: Int32
  private let destination: Int32
  private var buffer = [UInt8](repeating: 0, count: 64 * 1024)

  init(path: String, destination: Int32) throws(SystemError) {
    fd = try retryingSyscall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
    self.destination = destination
  }

  deinit { close(fd) }

  func copyAvailable() throws(SystemError) {
    while true {
      let n = try retryingSyscall("read") { buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) } }
      if n == 0 { return }
      try writeAll(fd: destination, Array(buffer[0..<n]))
    }
  }
}
