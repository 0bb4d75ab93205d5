import CTaskerShim
import Foundation
import Glibc
import TaskerSystem

/// The OCI runtime's operations (what `tasker-runtime` does), on containers kept under a root
/// directory: `<root>/<id>/record.json` (what create learned), `config.json` (the spec it was
/// created from), `exec.fifo` (there until `start`).
public struct ContainerRuntime: Sendable {
  public let root: String
  public let supervisorPath: String

  public init(root: String, supervisorPath: String) {
    self.root = root
    self.supervisorPath = supervisorPath
  }

  /// What create records of a container.
  public struct Record: Codable, Equatable, Sendable {
    public var id: String
    public var bundle: String
    public var rootfs: String
    public var pid: Int32
    public var startTime: UInt64
    public var created: String
    public var ociVersion: String
    public var annotations: [String: String]
    public var cgroups: [String]
    public var freezer: ContainerPlan.Freezer?
    public var owner: String
  }

  /// A container's state as runc's `state` prints it (the spec's state, plus rootfs, created
  /// and owner, which go-runc reads).
  public struct Status: Codable, Equatable, Sendable {
    public var ociVersion: String
    public var id: String
    public var pid: Int32
    public var status: String
    public var bundle: String
    public var rootfs: String
    public var created: String
    public var owner: String
    public var annotations: [String: String]?
  }

  // MARK: - create / start

  /// The descriptors a create hands over besides the container's stdio.
  public struct CreateOptions: Sendable {
    public var pidFile: String?
    /// A connected descriptor of the console socket (`--console-socket`).
    public var consoleSocket: Int32?
    public var noPivot = false
    public var preservedDescriptors = 0

    public init(
      pidFile: String? = nil, consoleSocket: Int32? = nil, noPivot: Bool = false, preservedDescriptors: Int = 0
    ) {
      self.pidFile = pidFile
      self.consoleSocket = consoleSocket
      self.noPivot = noPivot
      self.preservedDescriptors = preservedDescriptors
    }
  }

  public func create(id: String, bundle: String, options: CreateOptions = CreateOptions()) throws(TaskerError) -> Record
  {
    try Self.checkID(id)
    let bundle = Self.absolute(bundle)
    let configText: [UInt8]
    do {
      configText = try readFile(bundle + "/config.json", limit: 16 << 20)
    } catch {
      throw TaskerError(.invalidArgument, "cannot read \(bundle)/config.json: \(error)", cause: error)
    }
    let spec = try RuntimeSpec.decode(configText)
    guard let rootPath = spec.root?.path else { throw TaskerError(.invalidArgument, "root.path: missing") }
    let rootfs = rootPath.hasPrefix("/") ? rootPath : bundle + "/" + rootPath
    let plan = try ContainerPlan.make(
      spec: spec, id: id, bundle: bundle, host: CgroupHost.detect(),
      options: ContainerPlan.Options(
        noPivot: options.noPivot, preservedDescriptors: options.preservedDescriptors,
        consoleSocket: options.consoleSocket != nil, creating: true))

    for warning in plan.warnings { FileHandle.standardError.write(Data("tasker-runtime: warning: \(warning)\n".utf8)) }
    try makeRoot()
    let directory = root + "/" + id
    // mkdir is the lock: of two creates of one ID, one makes it, the other is told it exists.
    // 0711: the container's process (root of a user namespace, perhaps) looks up exec.fifo in
    // it; nothing can list it, and its other files are 0600.
    if mkdir(directory, 0o711) != 0 {
      if errno == EEXIST { throw TaskerError(.invalidArgument, "container \"\(id)\" already exists") }
      throw TaskerError(.system, "cannot create \(directory): \(SystemError("mkdir", path: directory, errno: errno))")
    }
    var keep = false
    defer { if !keep { try? removeTree(directory) } }
    chmod(directory, 0o711)
    do {
      try writeFileAtomically(directory + "/config.json", configText, mode: 0o600)
    } catch {
      throw TaskerError(.system, "cannot record the container: \(error)", cause: error)
    }
    // 0622 in a 0700 directory: only a descriptor the supervisor opened reaches it, and through
    // that the root of a user namespace (not root on the host) may still write it.
    guard mkfifo(directory + "/exec.fifo", 0o622) == 0, chmod(directory + "/exec.fifo", 0o622) == 0 else {
      throw TaskerError(.system, "cannot create the exec FIFO: \(SystemError("mkfifo", path: directory, errno: errno))")
    }
    let (pid, startTime) = try runSupervisor(
      plan: plan.jail, args: plan.args, env: plan.env, workdir: plan.workdir, stateDirectory: directory,
      rootfs: rootfs, consoleSocket: options.consoleSocket, preservedDescriptors: options.preservedDescriptors)
    let record = Record(
      id: id, bundle: bundle, rootfs: rootfs, pid: pid, startTime: startTime,
      created: ISO8601DateFormatter.withFractions.string(from: Date()), ociVersion: spec.ociVersion,
      annotations: spec.annotations ?? [:], cgroups: plan.cgroups, freezer: plan.freezer,
      owner: Self.userName(getuid()))
    do {
      try save(record)
      if let pidFile = options.pidFile { try writeFileAtomically(Self.absolute(pidFile), Array("\(pid)".utf8)) }
    } catch {
      Glibc.kill(pid, SIGKILL)
      removeCgroups(record)
      throw TaskerError(.system, "cannot record the container: \(error)", cause: error)
    }
    keep = true
    return record
  }

  /// Releases a created container's process: it was blocked opening the exec FIFO for writing;
  /// opening it for reading lets it through, and the byte it writes says it went on.
  public func start(id: String) throws(TaskerError) {
    let record = try load(id)
    let state = status(of: record)
    guard state == "created" else {
      throw TaskerError(.notRunning, "cannot start a container that is \(state == "stopped" ? "stopped" : state)")
    }
    // prestart hooks: at start, before the process runs (runtime-spec 1.0, as runtime-tools
    // checks); one that fails ends the container and the start.
    // The spec is read once here: its hooks are all start needs of it.
    let spec = try? storedSpec(id)
    if let failure = runHooks(record, phase: "prestart", status: "created", spec: spec) {
      // The lifecycle goes on at delete: the container is ended and removed.
      Glibc.kill(record.pid, SIGKILL)
      waitForEnd(record)
      removeCgroups(record)
      _ = runHooks(record, phase: "poststop", status: "stopped", spec: spec)
      try? removeTree(root + "/" + id)
      throw TaskerError(.startFailed, failure)
    }
    let fifoPath = root + "/" + id + "/exec.fifo"
    let fifo = open(fifoPath, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    guard fifo >= 0 else { throw TaskerError(.notRunning, "container \"\(id)\" was already started") }
    defer { close(fifo) }
    let pidfd = tasker_pidfd_open(record.pid)
    defer { if pidfd >= 0 { close(pidfd) } }
    var byte: UInt8 = 0
    var waited = 0
    while true {
      // Bounded: a process that neither ends nor opens the FIFO within a minute is not one
      // this runtime made wait.
      waited += 1
      guard waited <= 60 else { throw TaskerError(.startFailed, "container \"\(id)\" did not start within 60 s") }
      var fds = [
        pollfd(fd: fifo, events: Int16(POLLIN), revents: 0), pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0),
      ]
      let ready = poll(&fds, pidfd >= 0 ? 2 : 1, 1000)
      if ready < 0, errno == EINTR { continue }
      if fds[0].revents & Int16(POLLIN) != 0, read(fifo, &byte, 1) == 1 { break }
      if pidfd < 0 || fds[1].revents != 0 || !isAlive(record) {
        throw TaskerError(.notRunning, "container \"\(id)\"'s process ended before it started")
      }
    }
    unlink(fifoPath)
    // Then EOF: the process closes its end when it execs its program (or ends), so the
    // poststart hooks below follow the program's start.
    for _ in 0..<6000 {
      var fds = [pollfd(fd: fifo, events: Int16(POLLIN), revents: 0)]
      guard poll(&fds, 1, 10) >= 0 || errno == EINTR else { break }
      if fds[0].revents & Int16(POLLHUP) != 0 { break }
      if fds[0].revents & Int16(POLLIN) != 0, read(fifo, &byte, 1) == 0 { break }
      if !isAlive(record) { break }
    }
    // `start` returns (and poststart hooks run) once the program has had the CPU until it
    // first waits or ends, 20 ms at most: a signal sent right after start then finds the
    // handlers a shell installs first (runtime-tools' killsig), and a poststart hook does not
    // overtake a program that has only just exec'd (its poststart test).
    for _ in 0..<20 {
      guard let stat = ProcessStat.read(pid: record.pid), stat.startTime == record.startTime, stat.stateCode == "R"
      else { break }
      usleep(1000)
    }
    // poststart: failures are warnings; the container runs (the spec's rule).
    if let warning = runHooks(record, phase: "poststart", status: "running", spec: spec) {
      FileHandle.standardError.write(Data("tasker-runtime: warning: \(warning)\n".utf8))
    }
  }

  // MARK: - state, list

  public func state(id: String) throws(TaskerError) -> Status {
    let record = try load(id)
    let state = status(of: record)
    return Status(
      ociVersion: record.ociVersion, id: record.id, pid: state == "stopped" ? 0 : record.pid, status: state,
      bundle: record.bundle, rootfs: record.rootfs, created: record.created, owner: record.owner,
      annotations: record.annotations)
  }

  public func list() -> [Status] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
    return names.sorted().compactMap { try? state(id: $0) }
  }

  // MARK: - kill, delete

  public func kill(id: String, signal: Int32, all: Bool) throws(TaskerError) {
    let record = try load(id)
    let state = status(of: record)
    guard state != "stopped" else { throw TaskerError(.notRunning, "container \"\(id)\" is not running") }
    if all {
      for pid in processes(of: record) { Glibc.kill(pid, signal) }
      return
    }
    // By pidfd, checked against the recorded start time: a reused PID is never signalled.
    let pidfd = tasker_pidfd_open(record.pid)
    guard pidfd >= 0, isAlive(record) else {
      if pidfd >= 0 { close(pidfd) }
      throw TaskerError(.notRunning, "container \"\(id)\" is not running")
    }
    defer { close(pidfd) }
    if tasker_pidfd_send_signal(pidfd, signal) != 0 {
      throw TaskerError(.system, "kill: \(SystemError("pidfd_send_signal", errno: errno))")
    }
  }

  public func delete(id: String, force: Bool) throws(TaskerError) {
    let record = try load(id)
    let state = status(of: record)
    switch state {
    case "stopped":
      break
    default:
      guard force else {
        throw TaskerError(.running, "cannot delete container \"\(id)\" that is not stopped: \(state)")
      }
    }
    if state != "stopped" {
      if state == "paused" { try? thaw(record) }
      for pid in processes(of: record) + [record.pid] where isAlive(record) || pid != record.pid {
        Glibc.kill(pid, SIGKILL)
      }
      waitForEnd(record)
    }
    removeCgroups(record)
    if let warning = runHooks(record, phase: "poststop", status: "stopped") {
      FileHandle.standardError.write(Data("tasker-runtime: warning: \(warning)\n".utf8))
    }
    try? removeTree(root + "/" + id)
  }

  // MARK: - pause, resume, ps, update

  public func pause(id: String) throws(TaskerError) {
    let record = try load(id)
    guard status(of: record) == "running" else { throw TaskerError(.notRunning, "container \"\(id)\" is not running") }
    try freeze(record, true)
  }

  public func resume(id: String) throws(TaskerError) {
    let record = try load(id)
    guard status(of: record) == "paused" else { throw TaskerError(.notRunning, "container \"\(id)\" is not paused") }
    try thaw(record)
  }

  public func processes(id: String) throws(TaskerError) -> [Int32] {
    let record = try load(id)
    return status(of: record) == "stopped" ? [] : processes(of: record)
  }

  /// `update --resources`: the new limits written into the container's cgroups.
  public func update(id: String, resources: RuntimeSpec.Linux.Resources) throws(TaskerError) {
    let record = try load(id)
    guard status(of: record) != "stopped" else { throw TaskerError(.notRunning, "container \"\(id)\" is not running") }
    let spec = try storedSpec(id)
    var cgroups = ContainerCgroups(id: id, path: spec.linux?.cgroupsPath, host: CgroupHost.detect())
    var plan = JailPlan.empty()
    try cgroups.apply(resources, to: &plan)
    for write in plan.cgroupWrites
    where !write.file.hasSuffix("/cgroup.subtree_control") && !write.file.contains("/cpuset.")
      || write.file.hasSuffix(".cpus") && resources.cpu?.cpus != nil
      || write.file.hasSuffix(".mems") && resources.cpu?.mems != nil
    {
      do {
        try writeFileAtomicallyInPlace(write.file, write.value)
      } catch {
        throw TaskerError(.system, "cannot update \(write.file): \(error)", cause: error)
      }
    }
  }

  // MARK: - exec

  /// What `exec` runs: the container's process spec with the given changes.
  public struct ExecOptions: Sendable {
    public var process: RuntimeSpec.ProcessConfig
    public var pidFile: String?
    public var consoleSocket: Int32?
    public var detach: Bool
    public var preservedDescriptors = 0

    public init(
      process: RuntimeSpec.ProcessConfig, pidFile: String? = nil, consoleSocket: Int32? = nil, detach: Bool = false,
      preservedDescriptors: Int = 0
    ) {
      self.process = process
      self.pidFile = pidFile
      self.consoleSocket = consoleSocket
      self.detach = detach
      self.preservedDescriptors = preservedDescriptors
    }
  }

  /// The process spec the container was created with (the base `exec` changes).
  public func containerProcess(id: String) throws(TaskerError) -> RuntimeSpec.ProcessConfig {
    guard let process = try storedSpec(id).process else {
      throw TaskerError(.invalidArgument, "container \"\(id)\" has no process")
    }
    return process
  }

  /// Starts a process in a running container; returns its PID (the caller waits for it unless
  /// detached: it is reparented to the caller, which should be a subreaper).
  public func exec(id: String, options: ExecOptions) throws(TaskerError) -> Int32 {
    let record = try load(id)
    let state = status(of: record)
    // Not in a created one: its process still holds the runtime's rights and descriptors.
    guard state == "running" else {
      throw TaskerError(.notRunning, "cannot exec in a container that is \(state)")
    }
    // A container in the runtime's own mount namespace has no root of its own to enter.
    if let theirs = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(record.pid)/ns/mnt"),
      let mine = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/mnt"), theirs == mine
    {
      throw TaskerError(.invalidArgument, "cannot exec in container \"\(id)\": it shares the runtime's mount namespace")
    }
    var spec = try storedSpec(id)
    spec.process = options.process
    // The process's rights come from the same lowering as the container's own.
    var container = try ContainerPlan.make(
      spec: spec, id: id, bundle: record.bundle, host: CgroupHost.detect(),
      options: ContainerPlan.Options(
        preservedDescriptors: options.preservedDescriptors, consoleSocket: options.consoleSocket != nil))
    var plan = container.jail
    plan.mode = .exec
    plan.steps = []
    plan.namespaces = []
    plan.uidMappings = []
    plan.gidMappings = []
    plan.hooks = []
    plan.hostname = nil
    plan.domainname = nil
    plan.readOnlyRoot = false
    plan.rootPropagation = 0
    plan.cgroupWrites = []
    plan.oomScoreAdj = options.process.oomScoreAdj
    plan.cgroups = record.cgroups.map { JailPlan.Cgroup(path: $0, isParent: false, required: false) }
    plan.joins = []
    for (name, kind) in [
      ("user", JailPlan.Namespace.user), ("ipc", .ipc), ("uts", .uts), ("net", .net), ("pid", .pid),
      ("cgroup", .cgroup), ("mnt", .mount),
    ] {
      let theirs = "/proc/\(record.pid)/ns/\(name)"
      var mine = stat()
      var other = stat()
      guard stat(theirs, &other) == 0 else { continue }
      if stat("/proc/self/ns/\(name)", &mine) == 0, mine.st_ino == other.st_ino, mine.st_dev == other.st_dev {
        continue
      }
      plan.joins.append(JailPlan.Join(namespace: kind, path: theirs))
    }
    guard isAlive(record) else { throw TaskerError(.notRunning, "container \"\(id)\" is not running") }
    container.jail = plan
    let (pid, _) = try runSupervisor(
      plan: plan, args: container.args, env: container.env, workdir: container.workdir, stateDirectory: nil,
      rootfs: nil, consoleSocket: options.consoleSocket, preservedDescriptors: options.preservedDescriptors)
    if let pidFile = options.pidFile {
      do {
        try writeFileAtomically(Self.absolute(pidFile), Array("\(pid)".utf8))
      } catch {
        throw TaskerError(.system, "cannot write the PID file: \(error)", cause: error)
      }
    }
    return pid
  }

  // MARK: - the supervisor

  private func runSupervisor(
    plan: JailPlan, args: [String], env: [String], workdir: String, stateDirectory: String?, rootfs: String?,
    consoleSocket: Int32?, preservedDescriptors: Int
  ) throws(TaskerError) -> (Int32, UInt64) {
    var owned: [Int32] = []
    defer { for fd in owned { close(fd) } }
    func check(_ fd: Int32, _ call: String, _ path: String) throws(TaskerError) -> Int32 {
      if fd < 0 {
        let error = SystemError(call, path: path, errno: errno)
        throw TaskerError(.system, "cannot start the container: \(error)", cause: error)
      }
      owned.append(fd)
      return fd
    }
    // The root's path goes along (as report-rootfs) for a container that joins a mount
    // namespace, where the root is found again by path.
    let document = Array(plan.document(workdir: workdir, reportRootfs: rootfs).utf8)
    let planFD = try check(tasker_memfd("tasker-plan", document, document.count), "memfd_create", "plan")
    let devnull = try check(open("/dev/null", O_RDONLY | O_CLOEXEC), "open", "/dev/null")
    let stateFD =
      try stateDirectory.map { (path) throws(TaskerError) in
        try check(open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), "open", path)
      } ?? devnull
    let rootFD =
      try rootfs.map { (path) throws(TaskerError) in
        try check(open(path, TASKER_O_PATH | O_DIRECTORY | O_CLOEXEC), "open", path)
      } ?? devnull
    // A sealed copy of the supervisor, as for a task: nothing in the container can reach the
    // host's binary through /proc/PID/exe.
    let program = try check(tasker_sealed_copy(supervisorPath), "open", supervisorPath)
    var report: [Int32] = [-1, -1]
    guard tasker_pipe_cloexec(&report) == 0 else {
      throw TaskerError(.system, "cannot start the container: \(SystemError("pipe2", errno: errno))")
    }
    owned.append(report[0])
    var fds: [Int32] = [0, 1, 2, report[1], planFD, stateFD, rootFD, program, consoleSocket ?? devnull]
    for index in 0..<preservedDescriptors { fds.append(Int32(3 + index)) }
    let supervisor: Int32
    do {
      supervisor = try spawnProcess(
        path: "/proc/self/fd/7", arguments: ["tasker-supervisor", "--"] + args, environment: env, fds: fds)
    } catch {
      close(report[1])
      throw TaskerError(.startFailed, "cannot start the supervisor \(supervisorPath): \(error.reason)", cause: error)
    }
    close(report[1])
    let text = (try? readAll(fd: report[0], limit: 4096)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    _ = try? waitForChild(supervisor)
    let line = text.split(separator: "\n").first.map(String.init) ?? ""
    let fields = line.split(separator: " ", maxSplits: 3).map(String.init)
    if fields.count == 3, fields[0] == "ok", let pid = Int32(fields[1]), let start = UInt64(fields[2]) {
      return (pid, start)
    }
    guard fields.count >= 3, fields[0] == "error", let code = Int32(fields[2]) else {
      throw TaskerError(.startFailed, "the supervisor ended without a report")
    }
    let detail = fields.count > 3 ? fields[3] : ""
    let reason = code == 0 ? "" : ": " + SystemError.describe(code)
    // A hook's detail says which hook already; a path of the root is shown from its /.
    let step = fields[1]
    let shown =
      step == "hook"
      ? detail : "\(step) \(detail.hasPrefix("/") || detail.isEmpty || detail.contains(" ") ? detail : "/" + detail)"
    var message = shown.trimmingCharacters(in: .whitespaces) + reason
    if detail.contains("ended before it was created"),
      plan.cgroupWrites.contains(where: {
        $0.file.hasSuffix("memory.limit_in_bytes") || $0.file.hasSuffix("memory.max")
      })
    {
      message += " (is linux.resources.memory.limit too small?)"
    }
    throw TaskerError(.startFailed, message)
  }

  // MARK: - records

  private func makeRoot() throws(TaskerError) {
    if mkdir(root, 0o700) != 0, errno != EEXIST {
      // Parents too (/run/tasker-runtime's /run exists; an XDG_RUNTIME_DIR sub-path may not).
      do {
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
      } catch {
        throw TaskerError(.system, "cannot create the runtime root \(root): \(error)")
      }
    }
  }

  private func save(_ record: Record) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    try writeFileAtomically(root + "/" + record.id + "/record.json", Array(try encoder.encode(record)), mode: 0o600)
  }

  public func load(_ id: String) throws(TaskerError) -> Record {
    try Self.checkID(id)
    let path = root + "/" + id + "/record.json"
    guard let bytes = try? readFile(path, limit: 1 << 20) else {
      throw TaskerError(.notFound, "container \"\(id)\" does not exist")
    }
    guard let record = try? JSONDecoder().decode(Record.self, from: Data(bytes)) else {
      throw TaskerError(.corruptRecord, "container \"\(id)\": damaged record \(path)")
    }
    return record
  }

  private func storedSpec(_ id: String) throws(TaskerError) -> RuntimeSpec {
    let path = root + "/" + id + "/config.json"
    guard let bytes = try? readFile(path, limit: 16 << 20) else {
      throw TaskerError(.notFound, "container \"\(id)\" does not exist")
    }
    do {
      return try RuntimeSpec.decode(bytes)
    } catch {
      throw TaskerError(.corruptRecord, "container \"\(id)\": damaged \(path)")
    }
  }

  // MARK: - the process and its cgroups

  func isAlive(_ record: Record) -> Bool {
    guard let stat = ProcessStat.read(pid: record.pid) else { return false }
    return stat.startTime == record.startTime && stat.stateCode != "Z" && stat.stateCode != "X"
  }

  func status(of record: Record) -> String {
    guard isAlive(record) else { return "stopped" }
    if pathExists(root + "/" + record.id + "/exec.fifo") { return "created" }
    if isFrozen(record) { return "paused" }
    return "running"
  }

  func processes(of record: Record) -> [Int32] {
    var pids: Set<Int32> = []
    for directory in record.cgroups {
      guard let text = try? readSmallFile(directory + "/cgroup.procs", limit: 16 << 20) else { continue }
      for line in text.split(separator: "\n") { if let pid = Int32(line) { pids.insert(pid) } }
    }
    return pids.sorted()
  }

  func isFrozen(_ record: Record) -> Bool {
    switch record.freezer {
    case .v2(let file)?: return (try? readSmallFile(file))?.hasPrefix("1") ?? false
    case .v1(let file)?:
      let state = (try? readSmallFile(file)) ?? ""
      return state.hasPrefix("FROZEN") || state.hasPrefix("FREEZING")
    case nil: return false
    }
  }

  func freeze(_ record: Record, _ frozen: Bool) throws(TaskerError) {
    let (file, value): (String, String)
    switch record.freezer {
    case .v2(let path)?: (file, value) = (path, frozen ? "1" : "0")
    case .v1(let path)?: (file, value) = (path, frozen ? "FROZEN" : "THAWED")
    case nil: throw TaskerError(.startFailed, "this host has no cgroup freezer")
    }
    do {
      try writeFileAtomicallyInPlace(file, value)
    } catch {
      throw TaskerError(.system, "cannot \(frozen ? "pause" : "resume"): \(error)", cause: error)
    }
    // v1 freezes asynchronously: wait (up to a second) until the state settles.
    var tries = 0
    while case .v1? = record.freezer, frozen, tries < 500, (try? readSmallFile(file))?.hasPrefix("FROZEN") == false {
      usleep(2000)
      tries += 1
    }
  }

  func thaw(_ record: Record) throws(TaskerError) { try freeze(record, false) }

  func waitForEnd(_ record: Record) {
    // Up to five seconds, every process of the container killed again each round.
    var tries = 0
    while tries < 2500, isAlive(record) || !processes(of: record).isEmpty {
      for pid in processes(of: record) { Glibc.kill(pid, SIGKILL) }
      usleep(2000)
      tries += 1
    }
  }

  func removeCgroups(_ record: Record) {
    for directory in record.cgroups {
      if pathExists(directory + "/cgroup.kill") { try? writeFileAtomicallyInPlace(directory + "/cgroup.kill", "1") }
      // A cgroup is busy until its last process is reaped (up to a second).
      var tries = 0
      while rmdir(directory) != 0, errno == EBUSY, tries < 500 {
        usleep(2000)
        tries += 1
      }
    }
  }

  /// Runs the hooks of `phase` (poststart, poststop) through the supervisor; a warning if one failed.
  func runHooks(_ record: Record, phase: String, status: String, spec given: RuntimeSpec? = nil) -> String? {
    guard let spec = given ?? (try? storedSpec(record.id)), let hooks = spec.hooks,
      !(Self.hooks(hooks, phase) ?? []).isEmpty
    else { return nil }
    var plan = JailPlan.empty()
    plan.hookState = try? ContainerPlan.hookState(spec: spec, id: record.id, bundle: record.bundle)
    for hook in Self.hooks(hooks, phase) ?? [] {
      plan.hooks.append(
        JailPlan.Hook(
          phase: JailPlan.Hook.Phase(rawValue: phase) ?? .poststop, path: hook.path, args: hook.args ?? [],
          env: hook.env ?? [], timeout: hook.timeout ?? 0))
    }
    let document = Array(plan.document(workdir: "/").utf8)
    guard let input = try? makeMemoryFile(document) else { return "cannot run the \(phase) hooks" }
    defer { close(input) }
    var error: [Int32] = [-1, -1]
    guard tasker_pipe_cloexec(&error) == 0 else { return "cannot run the \(phase) hooks" }
    defer { close(error[0]) }
    let devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)
    defer { close(devnull) }
    guard
      let pid = try? spawnProcess(
        path: supervisorPath,
        arguments: ["tasker-supervisor", "--hooks", phase, String(status == "stopped" ? 0 : record.pid), status],
        environment: [], fds: [input, devnull, error[1]])
    else {
      close(error[1])
      return "cannot run the \(phase) hooks"
    }
    close(error[1])
    let text = (try? readAll(fd: error[0], limit: 4096)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    let status = (try? waitForChild(pid)) ?? -1
    return status == 0 ? nil : text.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  static func hooks(_ hooks: RuntimeSpec.Hooks, _ phase: String) -> [RuntimeSpec.Hook]? {
    switch phase {
    case "prestart": return hooks.prestart
    case "poststart": return hooks.poststart
    default: return hooks.poststop
    }
  }

  private func makeMemoryFile(_ bytes: [UInt8]) throws -> Int32 {
    let fd = tasker_memfd("tasker-hooks", bytes, bytes.count)
    guard fd >= 0 else { throw SystemError("memfd_create", errno: errno) }
    return fd
  }

  // MARK: - small things

  /// runc's rule: letters, digits, and `_ + - .`, not starting with a dot.
  static func checkID(_ id: String) throws(TaskerError) {
    let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")
    guard !id.isEmpty, id.count <= 1024, !id.hasPrefix("."), id.allSatisfy({ allowed.contains($0) }) else {
      throw TaskerError(.invalidArgument, "invalid container ID \"\(id)\"")
    }
  }

  static func absolute(_ path: String) -> String {
    if path.hasPrefix("/") { return path }
    let cwd = FileManager.default.currentDirectoryPath
    return path == "." || path.isEmpty ? cwd : cwd + "/" + path
  }

  static func userName(_ uid: uid_t) -> String {
    guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return String(uid) }
    return String(cString: name)
  }
}

extension ISO8601DateFormatter {
  static var withFractions: ISO8601DateFormatter {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter
  }
}

/// Writes VALUE into an existing file (a cgroup's), in one write.
func writeFileAtomicallyInPlace(_ path: String, _ value: String) throws(SystemError) {
  let fd = open(path, O_WRONLY | O_CLOEXEC)
  guard fd >= 0 else { throw SystemError("open", path: path, errno: errno) }
  defer { close(fd) }
  let bytes = Array(value.utf8)
  guard write(fd, bytes, bytes.count) == bytes.count else { throw SystemError("write", path: path, errno: errno) }
}

/// The whole of a small file.
func readFile(_ path: String, limit: Int) throws(SystemError) -> [UInt8] {
  let fd = open(path, O_RDONLY | O_CLOEXEC)
  guard fd >= 0 else { throw SystemError("open", path: path, errno: errno) }
  defer { close(fd) }
  return try readAll(fd: fd, limit: limit, path: path)
}
