import Glibc
import TaskerSystem

/// A named volume: a directory under the state root (`<root>/volumes/<NAME>/data`) that tasks
/// mount with `-v NAME:/path` and that outlives them.
public struct VolumeInfo: Equatable, Sendable {
  public var name: String
  /// The directory tasks see at their mount point.
  public var path: String
  /// The tasks whose records name it (running or ended).
  public var tasks: [TaskID]
}

extension TaskManager {
  var volumesDirectory: String { settings.stateRoot + "/volumes" }

  func volumeDataPath(_ name: String) -> String { volumesDirectory + "/" + name + "/data" }

  /// Makes volume `name`. With `existingOK` (a first use by `-v NAME:...`, as podman does) a
  /// volume that already exists is not an error.
  @discardableResult
  public func createVolume(_ name: String, existingOK: Bool = false) throws(TaskerError) -> String {
    guard TaskStore.isValidName(name) else {
      throw TaskerError(.invalidArgument, TaskMount.invalidVolumeName(name))
    }
    try store.prepare()
    func fail(_ call: String, _ path: String) -> TaskerError {
      let error = SystemError(call, path: path, errno: errno)
      return TaskerError(.system, "cannot create volume \(name): \(error)", cause: error)
    }
    if mkdir(volumesDirectory, 0o700) != 0 && errno != EEXIST { throw fail("mkdir", volumesDirectory) }
    let directory = volumesDirectory + "/" + name
    if mkdir(directory, 0o700) != 0 {
      guard errno == EEXIST else { throw fail("mkdir", directory) }
      guard existingOK else { throw TaskerError(.invalidArgument, "volume \(name) already exists") }
    }
    let data = directory + "/data"
    if mkdir(data, 0o755) != 0 && errno != EEXIST { throw fail("mkdir", data) }
    return data
  }

  /// Every volume, by name, with the tasks that use it.
  public func volumes() -> [VolumeInfo] {
    var users: [String: [TaskID]] = [:]
    for id in store.taskIDs() {
      for name in (try? store.record(of: id).volumes) ?? [] { users[name, default: []].append(id) }
    }
    guard let directory = opendir(volumesDirectory) else { return [] }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
      if TaskStore.isValidName(name) { names.append(name) }
    }
    return names.sorted().map { VolumeInfo(name: $0, path: volumeDataPath($0), tasks: users[$0] ?? []) }
  }

  /// A shared lock on volume `name` (flock on its directory), held by a create from the
  /// moment it opens the volume until its record names it: `removeVolume` takes the lock
  /// exclusively, so it never removes a volume a create is mounting. Returns the descriptor.
  func lockVolume(_ name: String, exclusive: Bool) throws(TaskerError) -> Int32 {
    let path = volumesDirectory + "/" + name
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    guard fd >= 0 else { throw TaskerError(.notFound, "no such volume: \(name)") }
    if flock(fd, exclusive ? LOCK_EX | LOCK_NB : LOCK_SH) != 0 {
      close(fd)
      throw TaskerError(.running, "volume \(name) is being mounted by a create: try again once it is done")
    }
    return fd
  }

  /// Removes volume `name` and everything in it. A volume a task uses (running or ended: its
  /// record names it) is refused, as podman refuses; `force` removes those tasks first (as
  /// `rm --force` would). A create that is mounting it makes this fail.
  public func removeVolume(_ name: String, force: Bool) async throws(TaskerError) {
    guard TaskStore.isValidName(name) else { throw TaskerError(.notFound, "no such volume: \(name)") }
    let lock = try lockVolume(name, exclusive: true)
    defer { close(lock) }
    guard let volume = volumes().first(where: { $0.name == name }) else {
      throw TaskerError(.notFound, "no such volume: \(name)")
    }
    if !volume.tasks.isEmpty {
      guard force else {
        throw TaskerError(
          .running,
          "volume \(name) is used by task\(volume.tasks.count == 1 ? "" : "s") "
            + volume.tasks.map(\.rawValue).joined(separator: ", ") + ": remove them first, or use --force")
      }
      for id in volume.tasks { _ = try await remove(id.rawValue, force: true) }
    }
    do {
      try removeTree(volumesDirectory + "/" + name)
    } catch {
      throw TaskerError(.system, "cannot remove volume \(name): \(error)", cause: error)
    }
  }
}
