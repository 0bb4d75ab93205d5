import Glibc
import TaskerSystem

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The state root on disk:
///
///     <root>/tasks/<id>/creating      present while a create is under way
///     <root>/tasks/<id>/task.json     the TaskRecord, written once (temporary file + rename)
///     <root>/tasks/<id>/exit.json     the ExitRecord, written by the supervisor at the end
///     <root>/tasks/<id>/stdout.log    the command's output
///     <root>/tasks/<id>/stderr.log
///
/// Every file is written whole under a temporary name and renamed into place, so a reader sees
/// a record completely or not at all, and no two writers ever write the same file.
public struct TaskStore: Sendable {
  public let root: String

  public init(root: String) { self.root = root }

  public var tasksDirectory: String { root + "/tasks" }

  public func directory(of id: TaskID) -> String { tasksDirectory + "/" + id.rawValue }
  public func recordPath(of id: TaskID) -> String { directory(of: id) + "/task.json" }
  public func exitPath(of id: TaskID) -> String { directory(of: id) + "/exit.json" }
  public func stdoutPath(of id: TaskID) -> String { directory(of: id) + "/stdout.log" }
  public func stderrPath(of id: TaskID) -> String { directory(of: id) + "/stderr.log" }

  /// Creates the state root and its `tasks` directory if missing.
  public func prepare() throws(TaskerError) {
    for (path, mode) in [(root, mode_t(0o755)), (tasksDirectory, mode_t(0o700))] {
      if mkdir(path, mode) != 0 && errno != EEXIST {
        let error = SystemError("mkdir", path: path, errno: errno)
        throw TaskerError(.system, "cannot create state directory: \(error)", cause: error)
      }
    }
  }

  /// Claims a fresh ID by creating its directory (mkdir is atomic: two creates never share one).
  public func reserve() throws(TaskerError) -> TaskID {
    try prepare()
    while true {
      let id = TaskID.generate()
      let path = directory(of: id)
      if mkdir(path, 0o700) == 0 {
        let marker = path + "/creating"
        let fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        if fd >= 0 { close(fd) }
        return id
      }
      if errno == EEXIST { continue }
      let error = SystemError("mkdir", path: path, errno: errno)
      throw TaskerError(.system, "cannot create task state: \(error)", cause: error)
    }
  }

  /// Writes the record and clears the `creating` marker: from here on the task exists.
  public func commit(_ record: TaskRecord) throws(TaskerError) {
    do {
      let bytes = try JSONEncoder.tasker.encode(record)
      try writeFileAtomically(recordPath(of: record.id), Array(bytes), mode: 0o600)
      unlink(directory(of: record.id) + "/creating")
    } catch {
      throw TaskerError(.system, "cannot write task record: \(error)", cause: SendableDescription(error))
    }
  }

  /// Removes everything the store holds for `id`.
  public func discard(_ id: TaskID) {
    try? removeTree(directory(of: id))
  }

  /// Loads the record of `id`.
  public func record(of id: TaskID) throws(TaskerError) -> TaskRecord {
    let path = recordPath(of: id)
    let bytes: [UInt8]
    do {
      bytes = try readFileBytes(path)
    } catch {
      if error.errno == ENOENT || error.errno == ENOTDIR {
        throw TaskerError(.notFound, "no such task: \(id)")
      }
      throw TaskerError(.system, "cannot read task \(id): \(error)", cause: error)
    }
    do {
      return try JSONDecoder.tasker.decode(TaskRecord.self, from: Data(bytes))
    } catch {
      throw TaskerError(
        .corruptRecord, "task \(id): damaged record \(path)", cause: SendableDescription(error))
    }
  }

  /// The exit record of `id`, once the supervisor has written it.
  public func exitRecord(of id: TaskID) -> ExitRecord? {
    guard let bytes = try? readFileBytes(exitPath(of: id)) else { return nil }
    return try? JSONDecoder.tasker.decode(ExitRecord.self, from: Data(bytes))
  }

  /// Resolves what the user typed to a task ID. Unknown text is `notFound`.
  public func resolve(_ text: String) throws(TaskerError) -> TaskID {
    guard let id = TaskID(text), pathExists(recordPath(of: id)) else {
      throw TaskerError(.notFound, "no such task: \(text)")
    }
    return id
  }
}
