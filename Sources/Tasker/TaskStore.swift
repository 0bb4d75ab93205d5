import CTaskerShim
import Glibc
import TaskerSystem

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The state root on disk:
///
///     <root>/tasks/<id>/creating      present while a create is under way (who, and where)
///     <root>/tasks/<id>/task.json     the TaskRecord, written once (temporary file + rename)
///     <root>/tasks/<id>/exit.json     the ExitRecord, written by the supervisor at the end
///     <root>/tasks/<id>/stdout.log    the command's output
///     <root>/tasks/<id>/stderr.log
///     <root>/names/<name>             a symlink to the ID that holds the name
///
/// Every file is written whole under a temporary name and renamed into place, so a reader sees
/// a record completely or not at all, and no two writers ever write the same file. A task
/// directory is born complete with its `creating` marker (made under a temporary name, then
/// renamed), and dies by being renamed away before it is deleted: no reader ever sees half of
/// either.
public struct TaskStore: Sendable {
  public let root: String

  public init(root: String) { self.root = root }

  public var tasksDirectory: String { root + "/tasks" }
  public var namesDirectory: String { root + "/names" }

  public func directory(of id: TaskID) -> String { tasksDirectory + "/" + id.rawValue }
  public func recordPath(of id: TaskID) -> String { directory(of: id) + "/task.json" }
  /// The task's root: the mount its jail pivots into (the download path shows a view of it).
  public func rootPath(of id: TaskID) -> String { directory(of: id) + "/root" }
  public func exitPath(of id: TaskID) -> String { directory(of: id) + "/exit.json" }
  public func stdoutPath(of id: TaskID) -> String { directory(of: id) + "/stdout.log" }
  public func stderrPath(of id: TaskID) -> String { directory(of: id) + "/stderr.log" }
  func markerPath(of id: TaskID) -> String { directory(of: id) + "/creating" }
  /// The new processes of a restarted command (written by the supervisor).
  func restartedPath(of id: TaskID) -> String { directory(of: id) + "/run.json" }
  /// There once `stop` or `rm` has begun: the supervisor starts nothing again.
  func stoppingPath(of id: TaskID) -> String { directory(of: id) + "/stopping" }
  /// The plan document the supervisor was started with (what `restart` starts again).
  func planPath(of id: TaskID) -> String { directory(of: id) + "/plan" }
  /// The task as an OCI runtime spec (what `exec` lowers its process's rights from).
  func specPath(of id: TaskID) -> String { directory(of: id) + "/config.json" }
  /// What the plan's attach descriptors were made from (`TreeSource`s, JSON), for restart.
  func treesPath(of id: TaskID) -> String { directory(of: id) + "/trees.json" }
  /// A rootless task's overlay (its lower layers), to mount its root again in a later command's
  /// user namespace (see TaskManager.mountRootAgain).
  func lowerPath(of id: TaskID) -> String { directory(of: id) + "/lower.json" }
  /// The task's run-time files (its attach socket): a directory, or, for a user other than
  /// root with a `$XDG_RUNTIME_DIR`, a link to `$XDG_RUNTIME_DIR/tasker/<ID>` (see
  /// `makeRuntimeDirectory`).
  func runtimePath(of id: TaskID) -> String { directory(of: id) + "/run" }

  /// Makes the task's `run`: for a user other than root whose `$XDG_RUNTIME_DIR` is a directory
  /// of theirs, a link to a directory of its own there (run-time files where the XDG base
  /// directory specification puts them, as podman's rootless runroot); else a directory in the
  /// task's own. The supervisor binds `run/attach` relative to the task's directory, so the
  /// socket's path is never longer than `sun_path` allows. Made again if the link's target went
  /// (the runtime directory is emptied at logout), for a restart.
  func makeRuntimeDirectory(for id: TaskID, environment: [String: String]) throws(TaskerError) {
    let link = runtimePath(of: id)
    var info = stat()
    if lstat(link, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { return }
    if let runtime = Self.userRuntimeDirectory(environment) {
      let base = runtime + "/tasker"
      let target = base + "/" + id.rawValue
      if mkdir(base, 0o700) != 0 && errno != EEXIST {
        let error = SystemError("mkdir", path: base, errno: errno)
        throw TaskerError(.system, "cannot make the task's run-time directory: \(error)", cause: error)
      }
      if mkdir(target, 0o700) == 0 || (errno == EEXIST && lstat(target, &info) == 0 && info.st_uid == geteuid()) {
        if symlink(target, link) == 0 || errno == EEXIST { return }
      }
    }
    if mkdir(link, 0o700) != 0 && errno != EEXIST {
      let error = SystemError("mkdir", path: link, errno: errno)
      throw TaskerError(.system, "cannot make the task's run-time directory: \(error)", cause: error)
    }
  }

  /// `$XDG_RUNTIME_DIR` for a user other than root: absolute, a directory of theirs that only
  /// they may use (the specification's 0700), else nil.
  static func userRuntimeDirectory(_ environment: [String: String]) -> String? {
    guard UserNamespace.hostUID != 0, let path = environment["XDG_RUNTIME_DIR"], path.hasPrefix("/") else {
      return nil
    }
    var info = stat()
    guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == geteuid(),
      info.st_mode & 0o077 == 0
    else { return nil }
    return path
  }

  /// Removes the directory `run` links to, if it is one made for this task.
  func removeRuntimeDirectory(of id: TaskID, in directory: String) {
    guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: directory + "/run"),
      target.hasSuffix("/tasker/" + id.rawValue)
    else { return }
    var info = stat()
    if lstat(target, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == geteuid() {
      try? removeTree(target)
    }
  }

  /// Tells the task's supervisor not to start its command again (see `stoppingPath`).
  func markStopping(_ id: TaskID) {
    let fd = open(stoppingPath(of: id), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
    if fd >= 0 { close(fd) }
  }

  /// Who is creating a task, and where its directory goes: enough for a later command to tell
  /// a create in progress from one that was killed, and to clean up after the latter.
  struct CreationMarker: Codable {
    var creatorPID: Int32
    var creatorStartTime: UInt64
    var downloadPath: String
    var name: String?
  }

  /// Creates the state root and its directories if missing. A user's own state root
  /// (`~/.local/share/tasker`) is made with its missing parents, 0700 as the XDG base directory
  /// specification asks; root's is 0755 (its tasks' directories are 0700).
  public func prepare() throws(TaskerError) {
    let rootMode: mode_t = UserNamespace.hostUID == 0 ? 0o755 : 0o700
    if mkdir(root, rootMode) != 0 && errno == ENOENT {
      var parent = ""
      for component in root.split(separator: "/").dropLast() {
        parent += "/" + component
        if mkdir(parent, 0o700) != 0 && errno != EEXIST { break }
      }
    }
    for (path, mode) in [(root, rootMode), (tasksDirectory, mode_t(0o700)), (namesDirectory, mode_t(0o700))] {
      if mkdir(path, mode) != 0 && errno != EEXIST {
        let error = SystemError("mkdir", path: path, errno: errno)
        throw TaskerError(.system, "cannot create state directory: \(error)", cause: error)
      }
      // Nothing is made in a state root that is not this user's own.
      if path == root { try checkOwnership() }
    }
  }

  /// A state root tasker uses only if it is this user's own: made by them (inside a rootless
  /// command's user namespace the user is 0), writable by nobody else (but their own group),
  /// and, with `tasks` and `names`, not a symlink planted below it. Otherwise whoever made or may write it would
  /// choose the images, plans and processes tasker acts on, as this user. A state root that does
  /// not exist yet is fine: `prepare` makes it.
  func checkOwnership() throws(TaskerError) {
    func refuse(_ reason: String) -> TaskerError {
      TaskerError(.system, "refusing the state root \(root): \(reason); use a directory of your own (--root)")
    }
    var info = stat()
    guard stat(root, &info) == 0 else { return }
    if info.st_uid != geteuid() { throw refuse("it belongs to another user") }
    // Group-writable is fine for the user's own group (umask 002 with a group per user).
    func othersMayWrite(_ info: stat) -> Bool {
      info.st_mode & 0o002 != 0 || (info.st_mode & 0o020 != 0 && info.st_gid != getegid())
    }
    if othersMayWrite(info) {
      throw refuse("others may write it (mode \(String(info.st_mode & 0o7777, radix: 8)))")
    }
    for path in [tasksDirectory, namesDirectory] where lstat(path, &info) == 0 {
      if info.st_mode & S_IFMT != S_IFDIR || info.st_uid != geteuid() || othersMayWrite(info) {
        throw refuse("\(path) is not a directory of yours that only you may write")
      }
    }
  }

  /// Claims a fresh ID: its directory appears already holding the `creating` marker.
  func reserve(downloadPath: String, name: String?) throws(TaskerError) -> TaskID {
    try prepare()
    let me = getpid()
    let marker = CreationMarker(
      creatorPID: me, creatorStartTime: ProcessStat.read(pid: me)?.startTime ?? 0, downloadPath: downloadPath,
      name: name)
    let staging = tasksDirectory + "/.new-" + randomHex(bytes: 8)
    do {
      try retryingSyscall("mkdir", path: staging) { mkdir(staging, 0o700) }
      try writeFileAtomically(staging + "/creating", Array(JSONEncoder.tasker.encode(marker)), mode: 0o600)
    } catch {
      try? removeTree(staging)
      throw TaskerError(.system, "cannot create task state: \(error)", cause: SendableDescription(error))
    }
    while true {
      let id = TaskID.generate()
      if tasker_rename_noreplace(staging, directory(of: id)) == 0 { return id }
      if errno == EEXIST || errno == ENOTEMPTY { continue }
      let error = SystemError("rename", path: directory(of: id), errno: errno)
      try? removeTree(staging)
      throw TaskerError(.system, "cannot create task state: \(error)", cause: error)
    }
  }

  /// Writes the record and clears the `creating` marker: from here on the task exists.
  func commit(_ record: TaskRecord) throws(TaskerError) {
    do {
      let bytes = try JSONEncoder.tasker.encode(record)
      try writeFileAtomically(recordPath(of: record.id), Array(bytes), mode: 0o600)
      unlink(markerPath(of: record.id))
    } catch {
      throw TaskerError(.system, "cannot write task record: \(error)", cause: SendableDescription(error))
    }
  }

  /// Removes everything the store holds for `id`: renamed away first, so no reader sees a
  /// half-deleted task, then deleted. Returns false if another process removed it first.
  @discardableResult
  func discard(_ id: TaskID, name: String? = nil) -> Bool {
    let trash = tasksDirectory + "/.trash-" + id.rawValue + "-" + randomHex(bytes: 4)
    // A supervisor waiting to restart the command must not start it in a task being removed.
    markStopping(id)
    // The task's root comes off first: removing the tree must not walk into a mounted image.
    _ = tasker_unmount_all(rootPath(of: id))
    guard rename(directory(of: id), trash) == 0 else { return false }
    if let name { releaseName(name, for: id) }
    removeRuntimeDirectory(of: id, in: trash)
    // A file that appears while the tree is removed (a supervisor's last exit.json) makes one
    // pass fail with ENOTEMPTY: a few more passes.
    for attempt in 0..<5 {
      if (try? removeTree(trash)) != nil || !pathExists(trash) { break }
      usleep(UInt32(20_000 * (attempt + 1)))
    }
    return true
  }

  // MARK: - Names

  /// Whether `name` may name a task: 1 to 64 of letters, digits, `_`, `.`, `-`, starting with a
  /// letter or digit, and not shaped like a task ID.
  public static func isValidName(_ name: String) -> Bool {
    guard let first = name.utf8.first, name.utf8.count <= 64, !TaskID.isWellFormed(name) else { return false }
    func allowed(_ byte: UInt8) -> Bool {
      (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte)
    }
    return allowed(first)
      && name.utf8.allSatisfy {
        allowed($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
      }
  }

  /// Claims `name` for `id` (a symlink: creating one is atomic, so two creates never share a
  /// name). A name whose task is gone is taken over.
  func claimName(_ name: String, for id: TaskID) throws(TaskerError) {
    let link = namesDirectory + "/" + name
    for _ in 0..<3 {
      if symlink(id.rawValue, link) == 0 { return }
      guard errno == EEXIST else {
        let error = SystemError("symlink", path: link, errno: errno)
        throw TaskerError(.system, "cannot record name: \(error)", cause: error)
      }
      if let holder = nameTarget(name), pathExists(directory(of: holder)) {
        throw TaskerError(.invalidArgument, "name \"\(name)\" is already in use by task \(holder)")
      }
      // The holder is gone: take the stale link away and try again.
      unlink(link)
    }
    throw TaskerError(.invalidArgument, "name \"\(name)\" is already in use")
  }

  /// Releases `name` if it still points at `id`.
  func releaseName(_ name: String, for id: TaskID) {
    if nameTarget(name) == id { unlink(namesDirectory + "/" + name) }
  }

  func nameTarget(_ name: String) -> TaskID? {
    guard Self.isValidName(name) else { return nil }
    var buffer = [CChar](repeating: 0, count: 64)
    let n = readlink(namesDirectory + "/" + name, &buffer, buffer.count - 1)
    guard n > 0 else { return nil }
    return TaskID(String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self))
  }

  // MARK: - Reading

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
      var record = try JSONDecoder.tasker.decode(TaskRecord.self, from: Data(bytes))
      // A command restarted by its supervisor runs as other processes than the record names.
      if let restarted = restarted(of: id) {
        record.pid = restarted.pid
        record.startTime = restarted.startTime
        if record.initPID != nil {
          record.initPID = restarted.initPID
          record.initStartTime = restarted.initStartTime
        }
      }
      return record
    } catch {
      throw TaskerError(.corruptRecord, "task \(id): damaged record \(path)", cause: SendableDescription(error))
    }
  }

  /// The processes of the command's latest restart by its supervisor, if it was restarted.
  func restarted(of id: TaskID) -> RestartedProcesses? {
    guard let bytes = try? readFileBytes(restartedPath(of: id)) else { return nil }
    return try? JSONDecoder.tasker.decode(RestartedProcesses.self, from: Data(bytes))
  }

  /// The exit record of `id`, once the supervisor has written it.
  public func exitRecord(of id: TaskID) -> ExitRecord? {
    guard let bytes = try? readFileBytes(exitPath(of: id)) else { return nil }
    return try? JSONDecoder.tasker.decode(ExitRecord.self, from: Data(bytes))
  }

  /// Every task that exists (its record written), in ID order; creates under way are not tasks
  /// yet. Creates that were killed half-way are cleaned up on the way.
  public func taskIDs() -> [TaskID] {
    var ids: [TaskID] = []
    for name in directoryEntries(tasksDirectory) {
      guard let id = TaskID(name) else {
        if name.hasPrefix(".new-") || name.hasPrefix(".trash-") { cleanStaleScratch(name) }
        continue
      }
      if pathExists(recordPath(of: id)) {
        ids.append(id)
      } else {
        cleanIfAbandoned(id)
      }
    }
    return ids.sorted()
  }

  /// Fails when the state root exists but this process may not read it (a user's `tasker list`
  /// on root's state): every reader would otherwise see no tasks at all and say so. A state
  /// root not made yet is fine: it holds no tasks.
  public func checkReadable() throws(TaskerError) {
    for path in [root, tasksDirectory] {
      let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
      if fd >= 0 {
        close(fd)
        continue
      }
      let code = errno
      if code == ENOENT && path == root { return }
      if code == ENOENT { break }  // no task yet; the state root itself is checked below
      let error = SystemError("open", path: path, errno: code)
      let reason = code == EACCES || code == EPERM ? "permission denied" : error.reason
      throw TaskerError(
        .system, "cannot read the state root \(root)" + (path == root ? "" : " (\(path))") + ": \(reason)",
        cause: error)
    }
    try checkOwnership()
  }

  /// The IDs of recorded tasks and the names that point at one, sorted, read from the
  /// directories alone: for shell completion, which must be quick and change nothing (no
  /// half-made create is cleaned up here).
  public func recordedIDsAndNames() -> (ids: [TaskID], names: [String]) {
    let ids = directoryEntries(tasksDirectory).compactMap(TaskID.init).filter { pathExists(recordPath(of: $0)) }
    let names = directoryEntries(namesDirectory).filter { nameTarget($0) != nil }
    return (ids.sorted(), names.sorted())
  }

  /// Resolves what the user typed: a full ID, a task's name, or a unique prefix of an ID.
  public func resolve(_ text: String) throws(TaskerError) -> TaskID {
    if let id = TaskID(text), pathExists(recordPath(of: id)) { return id }
    if let id = nameTarget(text), pathExists(recordPath(of: id)) { return id }
    if TaskID.isHexPrefix(text) {
      let matches = directoryEntries(tasksDirectory).filter { $0.hasPrefix(text) }.compactMap(TaskID.init)
        .filter { pathExists(recordPath(of: $0)) }
      if matches.count == 1 { return matches[0] }
      if matches.count > 1 {
        throw TaskerError(
          .invalidArgument, "ambiguous task ID prefix \"\(text)\": matches \(matches.count) tasks")
      }
    }
    try checkReadable()  // "no such task" only where the tasks could be seen
    throw TaskerError(.notFound, "no such task: \(text)")
  }

  // MARK: - Half-made creates

  /// Removes the remains of a create whose process died before the task existed: its state
  /// directory and its directory in the download path. A create still running is left alone.
  /// Returns whether it removed something.
  @discardableResult
  func cleanIfAbandoned(_ id: TaskID) -> Bool {
    guard !pathExists(recordPath(of: id)) else { return false }
    let marker = (try? readFileBytes(markerPath(of: id))).flatMap {
      try? JSONDecoder.tasker.decode(CreationMarker.self, from: Data($0))
    }
    if let marker, isAlive(pid: marker.creatorPID, startTime: marker.creatorStartTime) { return false }
    // The creator died after the supervisor started but before it wrote the record: the task
    // runs, claimed by nobody. End it (the supervisor then removes its cgroups and exits).
    supervisorReport(of: id)?.endProcesses()
    // The task directory exists only if the create got past the image; it is this create's
    // own (its name is the fresh ID), so it goes too, unmounted before its upper layer goes.
    if let marker { TaskView.detach(downloadPath: marker.downloadPath, name: id.rawValue, root: rootPath(of: id)) }
    // Without a readable marker the directory never held a task: it is born with one.
    return discard(id, name: marker?.name)
  }

  private func cleanStaleScratch(_ name: String) {
    let path = tasksDirectory + "/" + name
    if name.hasPrefix(".new-") {
      let marker = (try? readFileBytes(path + "/creating")).flatMap {
        try? JSONDecoder.tasker.decode(CreationMarker.self, from: Data($0))
      }
      if let marker, isAlive(pid: marker.creatorPID, startTime: marker.creatorStartTime) { return }
      // A staging directory without a marker is at most microseconds old or abandoned; only
      // the latter is old enough to be worth the check.
      if marker == nil && ageInSeconds(path) < 60 { return }
    }
    try? removeTree(path)
  }

  private func ageInSeconds(_ path: String) -> Int {
    var info = stat()
    guard lstat(path, &info) == 0 else { return 0 }
    return time(nil) - info.st_mtim.tv_sec
  }
}

/// What the supervisor wrote when the task started (`STATE/supervisor`): enough to find its
/// processes and its root when the record cannot be trusted or was never written.
struct SupervisorReport {
  var command: (pid: Int32, start: UInt64)
  var supervisor: (pid: Int32, start: UInt64)
  var initProcess: (pid: Int32, start: UInt64)?
  var rootfs: String?

  init?(_ text: String) {
    let lines = text.split(separator: "\n")
    guard let first = lines.first, first.hasPrefix("ok ") else { return nil }
    let numbers = first.split(separator: " ").dropFirst().compactMap { UInt64($0) }
    guard numbers.count == 6 else { return nil }
    command = (Int32(truncatingIfNeeded: numbers[0]), numbers[1])
    supervisor = (Int32(truncatingIfNeeded: numbers[2]), numbers[3])
    initProcess = numbers[4] == 0 ? nil : (Int32(truncatingIfNeeded: numbers[4]), numbers[5])
    rootfs = lines.dropFirst().first { $0.hasPrefix("rootfs ") }.map { String($0.dropFirst(7)) }
  }

  var commandIsRunning: Bool { isAlive(pid: command.pid, startTime: command.start) }

  /// Kills the init (the whole jail with it) and the command, then waits for the supervisor,
  /// which records the end and removes the cgroups.
  func endProcesses() {
    for victim in [initProcess, command].compactMap({ $0 }) {
      if let process = try? ProcessHandle.open(pid: victim.pid, expectedStartTime: victim.start) {
        _ = try? process.send(signal: SIGKILL)
      }
    }
    if let process = try? ProcessHandle.open(pid: supervisor.pid, expectedStartTime: supervisor.start) {
      _ = process.waitForExit(timeoutMilliseconds: 5_000)
    }
  }
}

extension TaskStore {
  func supervisorReport(of id: TaskID) -> SupervisorReport? {
    (try? readSmallFile(directory(of: id) + "/supervisor")).flatMap(SupervisorReport.init)
  }
}

/// Whether the process (pid, start time) is alive.
func isAlive(pid: Int32, startTime: UInt64) -> Bool {
  guard let stat = ProcessStat.read(pid: pid) else { return false }
  return stat.startTime == startTime && stat.stateCode != "Z"
}
