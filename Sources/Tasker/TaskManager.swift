import CTaskerShim
import Dispatch
import Glibc
import TaskerArchive
import TaskerImage
import TaskerSystem

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The library's entry point: create tasks, ask how they are, signal them.
///
/// ```swift
/// let manager = TaskManager(settings: try await TaskerSettings.resolve())
/// let handle = try await manager.create(TaskSpec(image: "http://127.0.0.1:8000/rootfs.tar.gz",
///                                                command: ["sleep", "30"]))
/// print(try manager.status(of: handle.id.rawValue).healthCheckText)
/// try manager.signal(handle.id.rawValue, signal: SIGINT)
/// ```
///
/// Any number of `TaskManager`s, in any number of processes, may share a state root.
public struct TaskManager: Sendable {
  public let settings: TaskerSettings
  public let store: TaskStore
  /// How a layered image's reference becomes its source: `ImageSources.open`. The tests give a
  /// source of their own here (a stand-in for the registry and layout readers).
  package var imageSourceOpener: @Sendable (ImageReference, RegistryOptions) throws -> any ImageSource = {
    reference, options in try ImageSources.open(reference, registry: options)
  }

  public init(settings: TaskerSettings) {
    self.settings = settings
    store = TaskStore(root: settings.stateRoot)
  }

  // MARK: - status and signals

  /// The task's state now. `notFound` for an ID tasker never issued or already removed.
  public func status(of idText: String) throws(TaskerError) -> TaskStatus {
    let id = try store.resolve(idText)
    return try status(of: id, record: store.record(of: id))
  }

  func status(of id: TaskID, record: TaskRecord) -> TaskStatus {
    var status = TaskStatus(
      id: id, name: record.name, exists: false, status: nil, pid: record.pid, exitCode: nil, signal: nil,
      signalName: nil,
      image: record.image, command: record.command, rootfs: record.rootfs, createdAt: record.createdAt,
      finishedAt: nil, isolation: record.isolation ?? .chroot, usage: nil)
    status.restartCount = store.restarted(of: id)?.restartCount ?? 0
    if let exit = store.exitRecord(of: id) {
      status.oomKilled = exit.oomKilled ?? false
      status.restartCount = exit.restartCount ?? status.restartCount
      status.exitCode = exit.exitCode
      status.signal = exit.signal
      status.signalName = exit.signal.map(Signals.name(of:))
      status.finishedAt = Date(timeIntervalSince1970: exit.finishedAt)
      return status
    }
    if let stat = ProcessStat.read(pid: record.pid), stat.startTime == record.startTime {
      status.exists = true
      status.status = stat.stateName
      status.usage = record.cgroups.map(ResourceUsage.read)
    }
    return status
  }

  /// Sends `signal` to the task's command. `notRunning` if it has ended; never reaches a
  /// process that merely reuses the command's PID.
  public func signal(_ idText: String, signal: Int32) throws(TaskerError) {
    let id = try store.resolve(idText)
    let record = try store.record(of: id)
    let ended = TaskerError(.notRunning, "task \(id) has already ended")
    if store.exitRecord(of: id) != nil { throw ended }
    do {
      guard let process = try ProcessHandle.open(pid: record.pid, expectedStartTime: record.startTime),
        try process.send(signal: signal)
      else { throw ended }
    } catch let error as TaskerError {
      throw error
    } catch {
      throw TaskerError(.system, "cannot signal task \(id): \(error)", cause: SendableDescription(error))
    }
  }
}
