import CTaskerShim
import Glibc
import TaskerSystem

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

extension TaskManager {
  // MARK: - stop

  /// Ends the task for good, as `podman stop` does: its stop signal (`--stop-signal`, default
  /// SIGTERM) to the command, SIGKILL to everything it started after `timeoutSeconds`; a restart
  /// policy does not start it again. Returns once its end is recorded and its supervisor gone.
  /// A task that has already ended is no error.
  public func stop(_ idText: String, timeoutSeconds: Int) async throws(TaskerError) -> TaskID {
    let id = try store.resolve(idText)
    _ = try store.record(of: id)
    // First, so that a supervisor about to restart the command sees it.
    store.markStopping(id)
    let store = self.store
    await onBlockingThread { [self] in
      // Read after the marker: a restart that came first is the one stopped.
      guard let record = try? store.record(of: id) else { return }
      endForGood(id: id, record: record, timeoutSeconds: timeoutSeconds)
    }
    return id
  }

  func endForGood(id: TaskID, record first: TaskRecord, timeoutSeconds: Int) {
    var record = first
    if store.exitRecord(of: id) == nil,
      let command = try? ProcessHandle.open(pid: record.pid, expectedStartTime: record.startTime)
    {
      _ = try? command.send(signal: record.stopSignal ?? SIGTERM)
      if !command.waitForExit(timeoutMilliseconds: Int32(clamping: max(0, timeoutSeconds) * 1_000)) {
        killEverything(of: record)
      }
    }
    // The supervisor records the end and exits; one that restarted the command just before it
    // saw the marker has started a process this did not know of: that one is killed too.
    for _ in 0..<10 {
      guard
        let supervisor = try? ProcessHandle.open(
          pid: record.supervisorPID, expectedStartTime: record.supervisorStartTime)
      else { return }
      if supervisor.waitForExit(timeoutMilliseconds: 1_000) { return }
      guard let again = try? store.record(of: id) else { return }
      record = again
      if store.exitRecord(of: id) == nil { killEverything(of: record) }
    }
  }

  /// Keeps the task's restart policy from starting its command again (what `stop` does first;
  /// `run` does it before it passes on Ctrl-C, which then ends the task for good).
  public func preventRestart(_ idText: String) throws(TaskerError) {
    store.markStopping(try store.resolve(idText))
  }

  // MARK: - restart

  /// Stops the task if it runs (as `stop`), then starts its command again over the same root
  /// (what it wrote is still there), with the same ID, options and plan; the record's processes
  /// are replaced in one atomic write.
  public func restart(_ idText: String, timeoutSeconds: Int) async throws(TaskerError) -> TaskID {
    let id = try store.resolve(idText)
    let record = try store.record(of: id)
    guard record.logged else {
      throw TaskerError(
        .invalidArgument, "task \(id) cannot be restarted: its output went to descriptors its creator chose")
    }
    let document: [UInt8]
    do {
      document = try readFileBytes(store.planPath(of: id))
    } catch {
      throw TaskerError(
        .invalidArgument, "task \(id) cannot be restarted: it was made by an older tasker (no plan kept)",
        cause: error)
    }
    // The plan's attach steps name descriptors: the trees of its binds and /etc files, made
    // again from what they were made of (a task of a tasker before trees.json had none), and
    // before the task is stopped, so that a source that changed leaves it running.
    let sources =
      (try? readFileBytes(store.treesPath(of: id))).flatMap {
        try? JSONDecoder.tasker.decode([TreeSource].self, from: Data($0))
      } ?? []
    let trees = try remakeTrees(sources)
    defer { for tree in trees { close(tree) } }
    _ = try await stop(idText, timeoutSeconds: timeoutSeconds)
    try mountRootAgainIfNeeded(id)
    if record.interactive == true || record.terminal == true {
      try store.makeRuntimeDirectory(for: id, environment: TaskerSettings.currentEnvironment())
    }
    let ended = store.exitRecord(of: id)
    // The new supervisor reads neither: the previous end and the previous restarts go, and the
    // marker that kept the old supervisor from restarting.
    unlink(store.exitPath(of: id))
    unlink(store.restartedPath(of: id))
    unlink(store.stoppingPath(of: id))
    let restored = { (store: TaskStore) in
      if let ended, let bytes = try? JSONEncoder.tasker.encode(ended) {
        try? writeFileAtomically(store.exitPath(of: id), Array(bytes), mode: 0o644)
      }
    }
    let started: Started
    do {
      let text = try spawnSupervisor(
        id: id, command: record.command, environment: record.environment, output: .logFiles, document: document,
        root: store.rootPath(of: id), trees: trees)
      started = try parseReport(text, command: record.command, workdir: record.workdir, rootfs: record.rootfs)
    } catch {
      restored(store)
      throw error
    }
    var updated = record
    updated.pid = started.pid
    updated.startTime = started.startTime
    updated.supervisorPID = started.supervisorPID
    updated.supervisorStartTime = started.supervisorStartTime
    updated.initPID = started.initPID
    updated.initStartTime = started.initStartTime
    do {
      try store.commit(updated)
    } catch {
      if let process = try? ProcessHandle.open(pid: started.pid, expectedStartTime: started.startTime) {
        _ = try? process.send(signal: SIGKILL)
      }
      throw error
    }
    return id
  }
}
