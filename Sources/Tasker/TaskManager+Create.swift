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
    guard isDirectory(downloadPath) else {
      throw TaskerError(.invalidArgument, "download path is not a directory: \(downloadPath)")
    }

    let id = try store.reserve(downloadPath: downloadPath, name: spec.name)
    let rootfs = downloadPath + "/" + id.rawValue
    var cleanup = Cleanup(store: store, id: id, name: nil, paths: [])
    defer { cleanup.run() }
    if let name = spec.name {
      try store.claimName(name, for: id)
      cleanup.name = name
    }
    let plan = try JailPlan.make(id: id, options: spec.jail, host: CgroupHost.detect())
    if let pasta = plan.networkSetup.first, access(pasta, X_OK) != 0 {
      throw TaskerError(
        .startFailed,
        "--network private needs pasta (\(pasta): \(SystemError.describe(errno))): install Debian's passt "
          + "package, or choose --network host|none")
    }

    let fetcher = ImageFetcher(
      extraction: ExtractionOptions(limits: spec.extractionLimits, skipUnsafeMembers: spec.skipUnsafeMembers),
      stallSeconds: spec.stallTimeout)
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
    try makeRoot(for: id, at: rootfs, from: acquired.rootfs)
    cleanup.paths = [rootfs]
    let started = try startSupervisor(id: id, spec: spec, plan: plan, rootfs: rootfs)
    let record = TaskRecord(
      id: id, name: spec.name, image: spec.image, imageDigest: acquired.digest, command: spec.command,
      environment: spec.environment ?? TaskSpec.defaultEnvironment, workdir: spec.workdir,
      rootfs: rootfs, pid: started.pid, startTime: started.startTime,
      supervisorPID: started.supervisorPID, supervisorStartTime: started.supervisorStartTime,
      logged: spec.output == .logFiles, createdAt: Date(), isolation: plan.isolation,
      initPID: started.initPID, initStartTime: started.initStartTime,
      cgroups: plan.isolation == .jail ? plan.measurements : nil,
      cgroupDirectories: plan.cgroups.filter { !$0.isParent }.map(\.path))
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
    let warnings = acquired.skippedUnsafe.map { "skipped unsafe archive member \"\($0)\"" }
    return TaskHandle(id: id, pid: started.pid, rootfs: rootfs, warnings: warnings)
  }

  /// The task's root: an overlay of the cached image (its writes go to `upper` in the task's
  /// state; the image stays as it is), so a create costs the same whatever the image's size.
  /// Where overlayfs is missing (or tasker is not root) the image is copied instead. Either
  /// way the directory is nosuid on the host.
  private func makeRoot(for id: TaskID, at rootfs: String, from lower: String) throws(TaskerError) {
    func fail(_ error: SystemError) -> TaskerError {
      TaskerError(.system, "cannot create task directory: \(error)", cause: error)
    }
    if mkdir(rootfs, 0o755) != 0 { throw fail(SystemError("mkdir", path: rootfs, errno: errno)) }
    let state = store.directory(of: id)
    let upper = state + "/upper"
    let work = state + "/work"
    var info = stat()
    if geteuid() == 0, mkdir(upper, 0o755) == 0, mkdir(work, 0o700) == 0, stat(lower, &info) == 0 {
      // The merged root takes its owner and mode from the upper directory.
      chown(upper, info.st_uid, info.st_gid)
      chmod(upper, info.st_mode & 0o7777)
      if tasker_mount_overlay(lower, upper, work, rootfs) == 0 { return }
    }
    do {
      try copyTree(from: lower, to: rootfs)
    } catch {
      throw fail(error)
    }
    if geteuid() == 0 && tasker_protect_directory(rootfs) != 0 {
      throw fail(SystemError("mount", path: rootfs, errno: errno))
    }
  }

  private struct Started {
    var pid: Int32
    var startTime: UInt64
    var supervisorPID: Int32
    var supervisorStartTime: UInt64
    var initPID: Int32?
    var initStartTime: UInt64?
  }

  private func startSupervisor(id: TaskID, spec: TaskSpec, plan: JailPlan, rootfs: String) throws(TaskerError)
    -> Started
  {
    var owned: [Int32] = []
    defer { for fd in owned { close(fd) } }
    func openOrThrow(_ path: String, _ flags: Int32) throws(TaskerError) -> Int32 {
      let fd = open(path, flags | O_CLOEXEC, 0o600)
      if fd < 0 {
        let error = SystemError("open", path: path, errno: errno)
        throw TaskerError(.system, "cannot start task: \(error)", cause: error)
      }
      owned.append(fd)
      return fd
    }
    let stdin = try openOrThrow("/dev/null", O_RDONLY)
    let stdout: Int32
    let stderr: Int32
    switch spec.output {
    case .logFiles:
      stdout = try openOrThrow(store.stdoutPath(of: id), O_WRONLY | O_CREAT | O_APPEND)
      stderr = try openOrThrow(store.stderrPath(of: id), O_WRONLY | O_CREAT | O_APPEND)
    case .fileDescriptors(let out, let err):
      stdout = out
      stderr = err
    }
    var report: [Int32] = [-1, -1]
    if tasker_pipe_cloexec(&report) != 0 {
      let error = SystemError("pipe2", errno: errno)
      throw TaskerError(.system, "cannot start task: \(error)", cause: error)
    }
    owned.append(report[0])
    let arguments =
      [settings.supervisorPath, store.directory(of: id), rootfs, spec.workdir] + plan.supervisorArguments + ["--"]
      + spec.command
    let supervisor: Int32
    do {
      supervisor = try spawnProcess(
        path: settings.supervisorPath, arguments: arguments,
        environment: spec.environment ?? TaskSpec.defaultEnvironment,
        fds: [stdin, stdout, stderr, report[1]])
    } catch {
      close(report[1])
      throw TaskerError(
        .startFailed, "cannot start the supervisor \(settings.supervisorPath): \(error.reason)", cause: error)
    }
    close(report[1])
    // The supervisor's first half exits as soon as it has detached.
    _ = try? waitForChild(supervisor)
    let text = (try? readAll(fd: report[0], limit: 4096)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    return try parseReport(text, spec: spec, rootfs: rootfs)
  }

  private func parseReport(_ text: String, spec: TaskSpec, rootfs: String) throws(TaskerError) -> Started {
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
    let program = spec.command[0]
    let reason = SystemError.describe(code)
    switch (step, code) {
    case ("exec", ENOENT):
      throw TaskerError(.commandNotFound, "command not found in image: \(program)")
    case ("exec", EACCES), ("exec", ENOEXEC), ("exec", EISDIR):
      throw TaskerError(.commandNotExecutable, "command not executable: \(program): \(reason)")
    case ("chdir", _):
      throw TaskerError(.startFailed, "cannot start task: working directory \(spec.workdir): \(reason)")
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

/// Undoes a half-made create: the directories it made and the task's state.
private struct Cleanup {
  let store: TaskStore
  let id: TaskID
  var name: String?
  var paths: [String]
  private var armed = true

  init(store: TaskStore, id: TaskID, name: String?, paths: [String]) {
    self.store = store
    self.id = id
    self.name = name
    self.paths = paths
  }

  mutating func disarm() { armed = false }

  func run() {
    guard armed else { return }
    for path in paths {
      _ = tasker_unmount_all(path)
      try? removeTree(path)
    }
    store.discard(id, name: name)
  }
}
