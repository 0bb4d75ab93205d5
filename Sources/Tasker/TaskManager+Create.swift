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
    var spec = spec
    // A layered image (`docker://`, `oci:`, ...): pulled first, since its config gives the
    // command and the other defaults. Its layers stay share-locked until the record is written.
    var layered: PulledImage?
    var layerLocks: [Int32] = []
    defer { for lock in layerLocks { close(lock) } }
    if ImageReference.hasTransport(spec.image) {
      guard spec.sha256 == nil else {
        throw TaskerError(
          .invalidArgument, "--sha256 does not apply to \(spec.image): its layers are checked by digest")
      }
      let options = PullOptions(
        platform: spec.platform, registry: spec.registry, policy: spec.pull, extractionLimits: spec.extractionLimits,
        progress: spec.layerProgress)
      let reference = spec.image
      let pulled: Swift.Result<(PulledImage, [Int32]), TaskerError> = await onBlockingThread {
        var locks: [Int32] = []
        let result = Swift.Result { () throws(TaskerError) in
          try pullNow(reference, options: options, locks: &locks)
        }
        if case .failure = result { for lock in locks { close(lock) } }
        return result.map { [locks] image in (image, locks) }
      }
      let (image, locks) = try pulled.get()
      layerLocks = locks
      layered = image
      spec = try spec.applyingDefaults(of: image.image.config)
    }
    guard let program = spec.command.first, !program.isEmpty else {
      throw TaskerError(.invalidArgument, "no command given")
    }
    // `dir:/path`: a directory of the host used as the image (read-only, by descriptor).
    let directoryImage = spec.image.hasPrefix("dir:") ? String(spec.image.dropFirst(4)) : nil
    var location: ImageLocation?
    let checksum: String?
    do {
      if directoryImage == nil && layered == nil { location = try ImageLocation(spec.image) }
      checksum = try spec.sha256.map { text throws(ImageError) in try ImageFetcher.normalizedChecksum(text) }
    } catch {
      throw TaskerError(.invalidArgument, error.description, cause: error)
    }
    if let directoryImage {
      guard directoryImage.hasPrefix("/") else {
        throw TaskerError(.invalidArgument, "dir: image needs an absolute path: \(spec.image)")
      }
      guard checksum == nil else { throw TaskerError(.invalidArgument, "--sha256 does not apply to a dir: image") }
    }
    try TaskMount.check(spec.jail.mounts)
    if spec.user != nil || !spec.groupAdd.isEmpty, spec.jail.isolation == .chroot {
      throw TaskerError(.invalidArgument, "--user and --group-add need --isolation jail")
    }
    if spec.interactive || spec.terminal != nil {
      guard spec.output == .logFiles else {
        throw TaskerError(.invalidArgument, "-i and -t need the task's output in its logs, not in descriptors")
      }
      guard spec.jail.isolation == .jail || spec.terminal == nil else {
        throw TaskerError(.invalidArgument, "-t needs --isolation jail (a terminal is made in the jail's own devpts)")
      }
    }
    guard spec.workdir.hasPrefix("/") else {
      throw TaskerError(.invalidArgument, "working directory must be absolute: \(spec.workdir)")
    }
    if let name = spec.name, !TaskStore.isValidName(name) {
      throw TaskerError(
        .invalidArgument,
        "invalid name \"\(name)\": use 1 to 64 letters, digits, _ . - (starting with a letter or digit)")
    }
    if UserNamespace.current != nil, spec.jail.isolation == .jail, spec.jail.network == .private {
      try Self.checkUnprivilegedNetwork(publish: spec.jail.publish)
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
    // Output through the supervisor (line times for `logs`); stdin and a terminal for `attach`.
    plan.logRelay = spec.output == .logFiles
    plan.terminal = spec.terminal
    plan.stdinPipe = spec.interactive && spec.terminal == nil
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
    var acquired: ImageCache.Acquired?
    var imageLock: Int32 = -1
    defer { if imageLock >= 0 { close(imageLock) } }
    var directoryFD: Int32 = -1
    defer { if directoryFD >= 0 { close(directoryFD) } }
    if let location {
      let canonical: ImageLocation
      if case .file(let path) = location { canonical = .file(absolutePath(path)) } else { canonical = location }
      let pull = spec.pull
      let progress = spec.progress
      let acquiredResult: Swift.Result<ImageCache.Acquired, TaskerError> = await onBlockingThread {
        Swift.Result { () throws(TaskerError) in
          try cache.acquire(canonical, pull: pull, expectedSHA256: checksum, fetcher: fetcher, progress: progress)
        }
      }
      let image = try acquiredResult.get()
      acquired = image
      // Held until the record is written: prune cannot remove the image under this create.
      imageLock = cache.lockShared(image.digest)
      try makeRoot(for: id, at: root, from: image.rootfs, nodev: plan.isolation == .jail)
    } else if let layered {
      try makeLayeredRoot(for: id, at: root, layers: layered.layerPaths, nodev: plan.isolation == .jail)
    } else if let directoryImage {
      directoryFD = try openDirectoryImage(directoryImage)
      try makeRoot(
        for: id, at: root, from: "/proc/self/fd/\(directoryFD)", nodev: plan.isolation == .jail, copyFallback: false)
    }
    if UserNamespace.current != nil {
      let lowers =
        acquired.map { [$0.rootfs] } ?? layered.map { Array($0.layerPaths.reversed()) } ?? directoryImage.map { [$0] }
      try keepLowers(lowers ?? [], nodev: plan.isolation == .jail, for: id)
    }
    cleanup.view = (downloadPath, id.rawValue, root)
    try TaskView.attach(root: root, downloadFD: downloadFD, downloadPath: downloadPath, name: id.rawValue)
    var environment = spec.environment ?? TaskSpec.defaultEnvironment
    var trees: [Int32] = []
    var sources: [TreeSource] = []
    defer { for tree in trees { close(tree) } }
    // Shared locks on the volumes mounted, held until the record names them (see removeVolume).
    var volumeLocks: [Int32] = []
    defer { for lock in volumeLocks { close(lock) } }
    if plan.isolation == .jail {
      try prepareRoot(
        &plan, environment: &environment, trees: &trees, sources: &sources, locks: &volumeLocks, spec: spec, id: id,
        root: root)
    }
    if spec.interactive || spec.terminal != nil {
      try store.makeRuntimeDirectory(for: id, environment: TaskerSettings.currentEnvironment())
    }
    let started = try startSupervisor(
      id: id, spec: spec, plan: plan, environment: environment, trees: trees, sources: sources, root: root,
      view: rootfs)
    let volumes = spec.jail.mounts.compactMap { mount -> String? in
      if case .volume(let name) = mount.source { return name }
      return nil
    }
    let record = TaskRecord(
      id: id, name: spec.name, image: spec.image, imageDigest: acquired?.digest ?? layered?.image.id.description ?? "",
      command: spec.command,
      environment: environment, workdir: spec.workdir,
      rootfs: rootfs, pid: started.pid, startTime: started.startTime,
      supervisorPID: started.supervisorPID, supervisorStartTime: started.supervisorStartTime,
      logged: spec.output == .logFiles, createdAt: Date(), isolation: plan.isolation,
      initPID: started.initPID, initStartTime: started.initStartTime,
      cgroups: plan.isolation == .jail ? plan.measurements : nil,
      cgroupDirectories: plan.cgroups.filter { !$0.isParent }.map(\.path), volumes: volumes.isEmpty ? nil : volumes,
      interactive: spec.interactive ? true : nil, terminal: spec.terminal != nil ? true : nil,
      stopSignal: spec.stopSignal, restartPolicy: spec.restart == .no ? nil : spec.restart.description)
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
      (acquired?.skippedUnsafe ?? []).map { "skipped unsafe archive member \"\($0)\"" }
      + (acquired?.skippedAttributes ?? []).map(\.warning)
    let unmapped = (acquired?.unmappedOwners ?? 0) + (layered?.unmappedOwners ?? 0)
    let ownerWarnings = unmapped > 0 ? [Self.unmappedOwnersWarning(unmapped)] : []
    return TaskHandle(id: id, pid: started.pid, rootfs: rootfs, warnings: warnings + ownerWarnings)
  }

  /// The task's root, in the root-only state directory (`<state>/tasks/<ID>/root`, where no
  /// other user can swap a name): an overlay of the cached image, its writes going to `upper`
  /// beside it (the image stays as it is), so a create costs the same whatever the image's size.
  /// Where overlayfs is missing the image is copied instead, and the copy made a mount. A jail's
  /// root is nodev (a node made inside opens nothing); a chroot's is not, as in the original
  /// tool (its command is the host's root anyway). The download path always gets a
  /// nosuid,nodev view of it (TaskView).
  private func makeRoot(for id: TaskID, at root: String, from lower: String, nodev: Bool, copyFallback: Bool = true)
    throws(TaskerError)
  {
    func fail(_ error: SystemError) -> TaskerError {
      let hint = error.errno == EPERM && geteuid() != 0 ? " (not permitted outside a user namespace)" : ""
      return TaskerError(.system, "cannot create task directory: \(error)\(hint)", cause: error)
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
      if tasker_mount_overlay(lower, upper, work, root, UserNamespace.overlayFlags(nodev: nodev)) == 0 { return }
    }
    guard copyFallback else {
      let error = SystemError("mount", path: "overlay", errno: errno)
      throw TaskerError(.startFailed, "a dir: image needs overlayfs (as root): \(error)", cause: error)
    }
    do {
      try copyTree(from: lower, to: root)
    } catch {
      throw fail(error)
    }
    if tasker_make_mount_point(root, nodev ? 1 : 0) != 0 { throw fail(SystemError("mount", path: root, errno: errno)) }
  }

  /// A layered image's root: an overlay of its layers (the top one first) under the task's
  /// upper, as containerd's overlay snapshotter makes it. There is no copy fallback: a copy
  /// would have to carry out the whiteouts itself.
  private func makeLayeredRoot(for id: TaskID, at root: String, layers: [String], nodev: Bool)
    throws(TaskerError)
  {
    let state = store.directory(of: id)
    let upper = state + "/upper"
    let work = state + "/work"
    for (path, mode) in [(root, mode_t(0o755)), (upper, 0o755), (work, 0o700)] where mkdir(path, mode) != 0 {
      let error = SystemError("mkdir", path: path, errno: errno)
      throw TaskerError(.system, "cannot create task directory: \(error)", cause: error)
    }
    // The merged root takes its owner and mode from the upper directory: the top layer's.
    var info = stat()
    if let top = layers.last, stat(top, &info) == 0 {
      chown(upper, info.st_uid, info.st_gid)
      chmod(upper, info.st_mode & 0o7777)
    }
    // A layer the image has twice (empty layers often are) is mounted once, at its top
    // position: its lower copy could only show what its upper one shows again.
    var seen: Set<String> = []
    let topFirst = layers.reversed().filter { seen.insert($0).inserted }
    let status = withCStrings(topFirst) { pointers in
      tasker_mount_overlay_layers(
        pointers, Int32(pointers.count), upper, work, root, UserNamespace.overlayFlags(nodev: nodev))
    }
    if status != 0 {
      let error = SystemError("mount", path: "overlay", errno: errno)
      throw TaskerError(.startFailed, "a layered image needs overlayfs (as root): \(error)", cause: error)
    }
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
  private func startSupervisor(
    id: TaskID, spec: TaskSpec, plan: JailPlan, environment: [String], trees: [Int32], sources: [TreeSource],
    root: String, view: String
  ) throws(TaskerError) -> Started {
    let document = Array(plan.document(workdir: spec.workdir, reportRootfs: view).utf8)
    try keepForLater(id: id, spec: spec, user: plan.user, document: document, sources: sources)
    let text = try spawnSupervisor(
      id: id, command: spec.command, environment: environment, output: spec.output, document: document, root: root,
      trees: trees)
    return try parseReport(
      text, command: spec.command, workdir: spec.workdir, rootfs: view, memoryLimit: spec.jail.limits.memoryBytes)
  }

  /// Starts the supervisor with `document` as its plan, the bind sources' detached trees at
  /// `JailPlan.attachDescriptorBase` and up; returns its report line.
  func spawnSupervisor(
    id: TaskID, command: [String], environment: [String], output: TaskOutput, document: [UInt8], root: String,
    trees: [Int32]
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
    // The trees of the bind sources sit at JailPlan.attachDescriptorBase and up (the slots
    // below it that the supervisor does not use hold /dev/null).
    var fds = [stdin, stdout, stderr, report[1], planFD, stateFD, rootFD, program]
    if !trees.isEmpty {
      while fds.count < Int(JailPlan.attachDescriptorBase) { fds.append(stdin) }
      fds += trees
    }
    let supervisor: Int32
    do {
      // Descriptor 7 of the new process is the sealed copy, which it is executed from.
      supervisor = try spawnProcess(
        path: "/proc/self/fd/7", arguments: ["tasker-supervisor", "--"] + command, environment: environment,
        fds: fds)
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
  private func keepForLater(
    id: TaskID, spec: TaskSpec, user: JailPlan.User?, document: [UInt8], sources: [TreeSource]
  ) throws(TaskerError) {
    do {
      try writeFileAtomically(store.planPath(of: id), document, mode: 0o600)
      // What the plan's attach descriptors were made from, in order: restart makes them again.
      try writeFileAtomically(store.treesPath(of: id), Array(try JSONEncoder.tasker.encode(sources)), mode: 0o600)
      if spec.jail.isolation == .jail {
        var runtimeSpec = try RuntimeSpec.task(id: id, options: spec.jail)
        // The command's user as resolved in the image (`--user`): exec's default.
        if let user {
          runtimeSpec.process?.user = RuntimeSpec.User(
            uid: user.uid, gid: user.gid, additionalGids: user.additionalGids.isEmpty ? nil : user.additionalGids)
        }
        let bytes = try JSONEncoder.tasker.encode(runtimeSpec)
        try writeFileAtomically(store.specPath(of: id), Array(bytes), mode: 0o600)
      }
    } catch let error as TaskerError {
      throw error
    } catch {
      throw TaskerError(.system, "cannot start task: \(error)", cause: SendableDescription(error))
    }
  }

  func parseReport(
    _ text: String, command: [String], workdir: String, rootfs: String, memoryLimit: UInt64? = nil
  ) throws(TaskerError) -> Started {
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
    case ("init-killed", SIGKILL) where memoryLimit != nil:
      // The memory cgroup's OOM killer is what SIGKILLs an init that has not even started the
      // command (the kernel's errno-free way to fail); say so rather than what it did.
      let limit = memoryLimit.map(ResourceLimits.sizeText) ?? ""
      throw TaskerError(.startFailed, "the task ran out of memory before its command started (--memory \(limit))")
    case ("init-killed", _):
      throw TaskerError(
        .startFailed, "the task's init was killed by \(Signals.name(of: code)) before the command started")
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

/// Calls `body` with `strings` as an array of C strings, valid during the call.
func withCStrings<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
  let copies = strings.map { strdup($0) }
  defer { for copy in copies { free(copy) } }
  return body(copies.map { UnsafePointer($0) })
}

extension TaskManager {
  /// Whether pasta, run without root, can make the private network's device: it opens
  /// `/dev/net/tun` as the user (udev makes it 0666 on most distributions; some hosts keep it
  /// 0600, root's alone).
  public static var tunDeviceIsUsable: Bool {
    let fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)
    guard fd >= 0 else { return false }
    close(fd)
    return true
  }

  /// Said once, when a rootless extraction could not give files their owners.
  static func unmappedOwnersWarning(_ count: Int) -> String {
    let files = count == 1 ? "1 file of the image belongs to an owner" : "\(count) files of the image belong to owners"
    let reason = UserNamespace.current?.singleReason ?? "you have no /etc/subuid and /etc/subgid range"
    return files + " your user namespace does not map (\(reason); see the README): in the task they belong to root"
  }

  /// The private network without root: pasta needs `/dev/net/tun`, and binds the published
  /// host ports as the user, which the kernel allows from `net.ipv4.ip_unprivileged_port_start`
  /// (1024 by default) up.
  static func checkUnprivilegedNetwork(publish: [PublishedPort]) throws(TaskerError) {
    guard tunDeviceIsUsable else {
      let error = SystemError("open", path: "/dev/net/tun", errno: errno)
      throw TaskerError(
        .startFailed,
        "--network private needs /dev/net/tun usable without root (\(error); an administrator runs "
          + "chmod 0666 /dev/net/tun, the mode udev gives it on most distributions), or use --network none or host",
        cause: error)
    }
    let first =
      (try? readSmallFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")).flatMap {
        UInt16($0.trimmingCharacters(in: .whitespacesAndNewlines))
      } ?? 1024
    if let port = publish.first(where: { $0.hostPort < first }) {
      throw TaskerError(
        .invalidArgument,
        "cannot publish host port \(port.hostPort) without root: ports below \(first) need root "
          + "(net.ipv4.ip_unprivileged_port_start is \(first)); use a host port from \(first) up")
    }
  }
}
