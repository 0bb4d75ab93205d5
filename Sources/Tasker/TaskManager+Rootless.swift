import CTaskerShim
import Foundation
import Glibc
import TaskerSystem

/// A rootless task's root is an overlay mounted in the user and mount namespace of the tasker
/// command that created it; the task's supervisor keeps that namespace, and the mount, for as
/// long as it runs. Once it has ended, a later command (restart, export) mounts the root again
/// in its own namespace from what `create` kept: the lower layers (top first), over the task's
/// own upper directory, so what the task wrote is there.
struct KeptLowers: Codable {
  /// The overlay's lower directories, the top one first.
  var lowers: [String]
  var nodev: Bool
}

extension TaskManager {
  func keepLowers(_ lowers: [String], nodev: Bool, for id: TaskID) throws(TaskerError) {
    do {
      let bytes = try JSONEncoder.tasker.encode(KeptLowers(lowers: lowers, nodev: nodev))
      try writeFileAtomically(store.lowerPath(of: id), Array(bytes), mode: 0o600)
    } catch {
      throw TaskerError(.system, "cannot keep task \(id)'s layers: \(error)", cause: error)
    }
  }

  /// Whether the task's root is a mount in this process's mount namespace.
  func rootIsMounted(_ id: TaskID) -> Bool {
    var root = stat()
    var parent = stat()
    return stat(store.rootPath(of: id), &root) == 0 && stat(store.directory(of: id), &parent) == 0
      && root.st_dev != parent.st_dev
  }

  /// Mounts a rootless task's root again, in this command's namespace, if it is not mounted
  /// here (its creator's namespace ended with its supervisor). As root, or for a task whose
  /// root was a copy, there is nothing to do.
  func mountRootAgainIfNeeded(_ id: TaskID) throws(TaskerError) {
    guard UserNamespace.current != nil, !rootIsMounted(id) else { return }
    guard let bytes = try? readFileBytes(store.lowerPath(of: id)),
      let kept = try? JSONDecoder.tasker.decode(KeptLowers.self, from: Data(bytes))
    else { return }
    let state = store.directory(of: id)
    let status = withCStrings(kept.lowers) { pointers in
      tasker_mount_overlay_layers(
        pointers, Int32(pointers.count), state + "/upper", state + "/work", store.rootPath(of: id),
        UserNamespace.overlayFlags(nodev: kept.nodev))
    }
    if status != 0 {
      let error = SystemError("mount", path: "overlay", errno: errno)
      throw TaskerError(.system, "cannot mount task \(id)'s root again: \(error)", cause: error)
    }
  }

  /// Where this process reads the task's root: its own mount, or (a rootless task still
  /// running, whose root is mounted in its supervisor's namespace only) the supervisor's view.
  func readableRoot(of id: TaskID, record: TaskRecord) throws(TaskerError) -> String {
    let root = store.rootPath(of: id)
    guard UserNamespace.current != nil, !rootIsMounted(id) else { return root }
    let pid = record.supervisorPID
    if ProcessStat.read(pid: pid)?.startTime == record.supervisorStartTime {
      let view = "/proc/\(pid)/root" + root
      var info = stat()
      var parent = stat()
      if stat(view, &info) == 0, stat("/proc/\(pid)/root" + store.directory(of: id), &parent) == 0,
        info.st_dev != parent.st_dev
      {
        return view
      }
    }
    try mountRootAgainIfNeeded(id)
    return root
  }
}
