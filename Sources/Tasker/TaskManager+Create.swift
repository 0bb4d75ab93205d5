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

extension TaskManager {
  /// Fetches the image into a new directory of the download path, starts the command in it,
  /// and returns once the command runs. On failure nothing is left behind: no directory in the
  /// download path, no record.
  public func create(_ spec: TaskSpec) async throws(TaskerError) -> TaskHandle {
    guard let program = spec.command.first, !program.isEmpty else {
      throw TaskerError(.invalidArgument, "no command given")
    }
    let location: ImageLocation
    let checksum: String?
    do {
      location = try ImageLocation(spec.image)
      checksum = try spec.sha256.map { text throws(ImageError) in try ImageFetcher.normalizedChecksum(text) }
    } catch {
      throw TaskerError(.invalidArgument, error.description, cause: error)
    }
    guard spec.workdir.hasPrefix("/") else {
      throw TaskerError(.invalidArgument, "working directory must be absolute: \(spec.workdir)")
    }
    if let name = spec.name, !TaskStore.isValidName(name) {
      throw TaskerError(
        .invalidArgument,
        "invalid name \"\(name)\": use 1 to 64 letters, digits, _ . - (starting with a letter or digit)")
    }
    let downloadPath = settings.downloadPath
    // One descriptor for every step in the download path (see TaskView).
    let downloadFD = try TaskView.openDownloadPath(downloadPath)
    defer { close(downloadFD) }

    let id = try store.reserve(downloadPath: downloadPath, name: spec.name)
    let rootfs = downloadPath + "/" + id.rawValue
    let root = store.rootPath(of: id)
    var cleanup = Cleanup(store: store, id: id, name: nil)
    defer { cleanup.run() }
    if let name = spec.name {
      try store.claimName(name, for: id)
      cleanup.name = name
    }
    var plan = try JailPlan.make(id: id, options: spec.jail, host: CgroupHost.detect())
    plan.restart = spec.restart
    if let pasta = plan.networkSetup.first, access(pasta, X_OK) != 0 {
      throw TaskerError(
        .startFailed,
        "--network private needs pasta (\(pasta): \(SystemError.describe(errno))): install Debian's passt "
          + "package, or choose --network host|none")
    }

    let fetcher = ImageFetcher(
      extraction: ExtractionOptions(limits: spec.extractionLimits, skipUnsafeMembers: spec.skipUnsafeMembers),
      stallSeconds: spec.stallTimeout, unpacker: settings.unpackPath)
    let cache = ImageCache(stateRoot: settings.stateRoot)
    let canonical: ImageLocation
    if case .file(let path) = location { canonical = .file(absolutePath(path)) } else { canonical = location }
    let pull = spec.pull
    let progress = spec.progress
    let acquiredResult: Swift.Result<ImageCache.Acquired, TaskerError> = await onBlockingThread {
      Swift.Result { () throws(TaskerError) in
        try cache.acquire(canonical, pull: pull, expectedSHA256: checksum, fetcher: fetcher, progress: progress)
      }
    }
    let acquired = try acquiredResult.get()
    // Held until the record is written: prune cannot remove the image under this create.
    let imageLock = cache.lockShared(acquired.digest)
    defer { if imageLock >= 0 { close(imageLock) } }
    try makeRoot(for: id, at: root, from: acquired.rootfs, nodev: plan.isolation == .jail)
    cleanup.view = (downloadPath, id.rawValue, root)
    try TaskView.attach(root: root, downloadFD: downloadFD, downloadPath: downloadPath, name: id.rawValue)
    let started = try startSupervisor(id: id, spec: spec, plan: plan, root: root, view: rootfs)
    let record = TaskRecord(
      id: id, name: spec.name, image: spec.image, imageDigest: acquired.digest, command: spec.command,
      environment: spec.environment ?? TaskSpec.defaultEnvironment, workdir: spec.workdir,
      rootfs: rootfs, pid: started.pid, startTime: started.startTime,
      supervisorPID: started.supervisorPID, supervisorStartTime: started.supervisorStartTime,
      logged: spec.output == .logFiles, createdAt: Date(), isolation: plan.isolation,
      initPID: started.initPID, initStartTime: started.initStartTime,
      cgroups: plan.isolation == .jail ? plan.measurements : nil,
      cgroupDirectories: plan.cgroups.filter { !$0.isParent }.map(\.path), stopSignal: spec.stopSignal,
      restartPolicy: spec.restart == .no ? nil : spec.restart.description)
    do {
      try store.commit(record)
    } catch {
      // The command runs but no record claims it: stop it rather than leave it unmanaged.
      if let process = try? ProcessHandle.open(pid: started.pid, expectedStartTime: started.startTime) {
        _ = try? process.send(signal: SIGKILL)
      }
      throw error
    }
    cleanup.disarm()
    let warnings =
      acquired.skippedUnsafe.map { "skipped unsafe archive member \"\($0)\"" }
      + acquired.skippedAttributes.map(\.warning)
    return TaskHandle(id: id, pid: started.pid, rootfs: rootfs, warnings: warnings)
  }

  /// The task's root, in the root-only state directory (`<state>/tasks/<ID>/root`, where no
  /// other user can swap a name): an overlay of the cached image, its writes going to `upper`
  /// beside it (the image stays as it is), so a create costs the same whatever the image's size.
  /// Where overlayfs is missing the image is copied instead, and the copy made a mount. A jail's
  /// root is nodev (a node made inside opens nothing); a chroot's is not, as in the original
  /// tool (its command is the host's root anyway). The download path always gets a
  /// nosuid,nodev view of it (TaskView).
  private func makeRoot(for id: TaskID, at root: String, from lower: String, nodev: Bool) throws(TaskerError) {
    func fail(_ error: SystemError) -> TaskerError {
      TaskerError(.system, "cannot create task directory: \(error)", cause: error)
    }
    if mkdir(root, 0o755) != 0 { throw fail(SystemError("mkdir", path: root, errno: errno)) }
    let state = store.directory(of: id)
    let upper = state + "/upper"
    let work = state + "/work"
    var info = stat()
    if geteuid() == 0, mkdir(upper, 0o755) == 0, mkdir(work, 0o700) == 0, stat(lower, &info) == 0 {
      // The merged root takes its owner and mode from the upper directory.
      chown(upper, info.st_uid, info.st_gid)
      chmod(upper, info.st_mode & 0o7777)
      if tasker_mount_overlay(lower, upper, work, root, nodev ? 1 : 0) == 0 { return }
    }
    do {
      try copyTree(from: lower, to: root)
    } catch {
      throw fail(error)
    }
    if tasker_make_mount_point(root, nodev ? 1 : 0) != 0 { throw fail(SystemError("mount", path: root, errno: errno)) }
  }

  struct Started {
    var pid: Int32
    var startTime: UInt64
    var supervisorPID: Int32
    var supervisorStartTime: UInt64
    var initPID: Int32?
    var initStartTime: UInt64?
  }

  /// Starts `tasker-supervisor` from a sealed memory copy of its file, handing it the plan
  /// document, the task's state directory and its root as descriptors (see its main.c).
  private func startSupervisor(id: TaskID, spec: TaskSpec, plan: JailPlan, root: String, view: String)
    throws(TaskerError) -> Started
  {
    let document = Array(plan.document(workdir: spec.workdir, reportRootfs: view).utf8)
    try keepForLater(id: id, spec: spec, document: document)
    let text = try spawnSupervisor(
      id: id, command: spec.command, environment: spec.environment ?? TaskSpec.defaultEnvironment,
      output: spec.output, document: document, root: root)
    return try parseReport(text, command: spec.command, workdir: spec.workdir, rootfs: view)
  }

  /// Starts the supervisor with `document` as its plan; returns its report line.
  func spawnSupervisor(
    id: TaskID, command: [String], environment: [String], output: TaskOutput, document: [UInt8], root: String
  ) throws(TaskerError) -> String {
    var owned: [Int32] = []
    defer { for fd in owned { close(fd) } }
    func check(_ fd: Int32, _ call: String, _ path: String) throws(TaskerError) -> Int32 {
      if fd < 0 {
        let error = SystemError(call, path: path, errno: errno)
        throw TaskerError(.system, "cannot start task: \(error)", cause: error)
      }
      owned.append(fd)
      return fd
    }
    func openOrThrow(_ path: String, _ flags: Int32) throws(TaskerError) -> Int32 {
      try check(open(path, flags | O_CLOEXEC, 0o600), "open", path)
    }
    let stdin = try openOrThrow("/dev/null", O_RDONLY)
    let stdout: Int32
    let stderr: Int32
    switch output {
    case .logFiles:
      stdout = try openOrThrow(store.stdoutPath(of: id), O_WRONLY | O_CREAT | O_APPEND)
      stderr = try openOrThrow(store.stderrPath(of: id), O_WRONLY | O_CREAT | O_APPEND)
    case .fileDescriptors(let out, let err):
      stdout = out
      stderr = err
    }
    let planFD = try check(tasker_memfd("tasker-plan", document, document.count), "memfd_create", "plan")
    let stateFD = try openOrThrow(store.directory(of: id), TASKER_O_PATH | O_DIRECTORY | O_NOFOLLOW)
    let rootFD = try openOrThrow(root, TASKER_O_PATH | O_DIRECTORY | O_NOFOLLOW)
    let program = try check(tasker_sealed_copy(settings.supervisorPath), "open", settings.supervisorPath)
    var report: [Int32] = [-1, -1]
    if tasker_pipe_cloexec(&report) != 0 {
      let error = SystemError("pipe2", errno: errno)
      throw TaskerError(.system, "cannot start task: \(error)", cause: error)
    }
    owned.append(report[0])
    let supervisor: Int32
    do {
      // Descriptor 7 of the new process is the sealed copy, which it is executed from.
      supervisor = try spawnProcess(
        path: "/proc/self/fd/7", arguments: ["tasker-supervisor", "--"] + command, environment: environment,
        fds: [stdin, stdout, stderr, report[1], planFD, stateFD, rootFD, program])
    } catch {
      close(report[1])
      throw TaskerError(
        .startFailed, "cannot start the supervisor \(settings.supervisorPath): \(error.reason)", cause: error)
    }
    close(report[1])
    // The supervisor's first half exits as soon as it has detached.
    _ = try? waitForChild(supervisor)
    return (try? readAll(fd: report[0], limit: 4096)).map { String(decoding: $0, as: UTF8.self) } ?? ""
  }

  /// What `restart` and `exec` read later, root-only in the task's state directory: the plan
  /// document (restart starts the supervisor again with it) and, for a jail, the task as an
  /// OCI runtime spec (exec lowers its process's rights from it).
  private func keepForLater(id: TaskID, spec: TaskSpec, document: [UInt8]) throws(TaskerError) {
    do {
      try writeFileAtomically(store.planPath(of: id), document, mode: 0o600)
      if spec.jail.isolation == .jail {
        let runtimeSpec = try RuntimeSpec.task(id: id, options: spec.jail)
        let bytes = try JSONEncoder.tasker.encode(runtimeSpec)
        try writeFileAtomically(store.specPath(of: id), Array(bytes), mode: 0o600)
      }
    } catch let error as TaskerError {
      throw error
    } catch {
      throw TaskerError(.system, "cannot start task: \(error)", cause: SendableDescription(error))
    }
  }

  func parseReport(_ text: String, command: [String], workdir: String, rootfs: String) throws(TaskerError) -> Started {
    let line = text.split(separator: "\n").first.map(String.init) ?? ""
    let fields = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true).map(String.init)
    if fields.first == "ok" {
      let numbers = line.split(separator: " ").dropFirst().compactMap { UInt64($0) }
      guard numbers.count == 6 else {
        throw TaskerError(.startFailed, "cannot start task: the supervisor sent \"\(line)\"")
      }
      return Started(
        pid: Int32(truncatingIfNeeded: numbers[0]), startTime: numbers[1],
        supervisorPID: Int32(truncatingIfNeeded: numbers[2]), supervisorStartTime: numbers[3],
        initPID: numbers[4] == 0 ? nil : Int32(truncatingIfNeeded: numbers[4]),
        initStartTime: numbers[4] == 0 ? nil : numbers[5])
    }
    guard fields.count >= 3, fields[0] == "error", let code = Int32(fields[2]) else {
      throw TaskerError(.startFailed, "cannot start task: the supervisor ended without a report")
    }
    let step = fields[1]
    let detail = fields.count > 3 ? fields[3] : ""
    let program = command[0]
    let reason = SystemError.describe(code)
    switch (step, code) {
    case ("exec", ENOENT):
      throw TaskerError(.commandNotFound, "command not found in image: \(program)")
    case ("exec", EACCES), ("exec", ENOEXEC), ("exec", EISDIR):
      throw TaskerError(.commandNotExecutable, "command not executable: \(program): \(reason)")
    case ("chdir", _):
      throw TaskerError(.startFailed, "cannot start task: working directory \(workdir): \(reason)")
    case ("chroot", _):
      throw TaskerError(.startFailed, "cannot start task: chroot(\"\(rootfs)\"): \(reason)")
    case ("network", _):
      throw TaskerError(
        .startFailed, "cannot connect the task's network: \(detail)" + (code == 0 ? "" : ": \(reason)"))
    case ("cgroup", _), ("cgroup-write", _), ("cgroup-join", _):
      throw TaskerError(.startFailed, "cannot set up the task's cgroup: \(step) \(detail): \(reason)")
    default:
      let target = detail.isEmpty ? "" : "(\"\(detail)\")"
      throw TaskerError(.startFailed, "cannot set up the jail: \(step)\(target): \(reason)")
    }
  }
}

/// Undoes a half-made create: the view in the download path, and the task's state (its root
/// is unmounted with it).
private struct Cleanup {
  let store: TaskStore
  let id: TaskID
  var name: String?
  var view: (downloadPath: String, name: String, root: String)?
  private var armed = true

  init(store: TaskStore, id: TaskID, name: String?) {
    self.store = store
    self.id = id
    self.name = name
  }

  mutating func disarm() { armed = false }

  func run() {
    guard armed else { return }
    if let view { TaskView.detach(downloadPath: view.downloadPath, name: view.name, root: view.root) }
    store.discard(id, name: name)
  }
}
