import CTaskerShim
import Glibc
import TaskerSystem

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A process to start in a running task (`tasker exec`).
public struct TaskExec: Sendable {
  public var command: [String]
  /// `K=V` laid over the task's environment (a later value of a name wins).
  public var environment: [String] = []
  /// Inside the task's root; nil: the task's working directory.
  public var workdir: String?
  /// `--user UID[:GID]` or `NAME[:GROUP]`, resolved in the task's own /etc/passwd and
  /// /etc/group (`ImageUser`); nil: the task's command's user (`create --user`, else root).
  public var user: String?
  /// A terminal made inside the task, its master end sent over `consoleSocket`.
  public var terminal: JailPlan.Terminal?
  public var consoleSocket: Int32?
  /// The process's stdin, stdout and stderr (never a terminal of the host: see Exec.swift).
  public var stdio: (Int32, Int32, Int32) = (STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO)

  public init(command: [String]) { self.command = command }
}

extension TaskManager {
  /// Starts `exec.command` in every namespace and cgroup of the running task `idText`, with the
  /// rights of the task's command (capabilities, seccomp filter, no_new_privs: lowered from the
  /// task's runtime spec, kept at create). Returns the process's PID on the host; it is left to
  /// the caller, which must be a child subreaper (`tasker_become_subreaper`) to wait for it. The
  /// process is no task of its own: it ends with the task (it is in its PID namespace).
  public func exec(_ idText: String, _ exec: TaskExec) throws(TaskerError) -> Int32 {
    let id = try store.resolve(idText)
    let record = try store.record(of: id)
    guard let initPID = record.initPID, let initStart = record.initStartTime, record.isolation == .jail else {
      throw TaskerError(.invalidArgument, "task \(id) has no jail to enter (--isolation chroot)")
    }
    guard exec.command.first.map({ !$0.isEmpty }) == true else {
      throw TaskerError(.invalidArgument, "no command given")
    }
    let spec: RuntimeSpec
    do {
      spec = try JSONDecoder.tasker.decode(RuntimeSpec.self, from: Data(readFileBytes(store.specPath(of: id))))
    } catch {
      throw TaskerError(
        .invalidArgument, "cannot exec in task \(id): it was made by an older tasker (no runtime spec kept)",
        cause: SendableDescription(error))
    }
    let notRunning = TaskerError(.notRunning, "task \(id) is not running")
    guard store.exitRecord(of: id) == nil,
      let holder = try? ProcessHandle.open(pid: initPID, expectedStartTime: initStart)
    else { throw notRunning }

    var plan = JailPlan.empty(.jail)
    plan.mode = .exec
    // The same lowering as the task's own command (JailPlan.make(task:)).
    let capabilities = try ContainerPlan.capabilities(spec.process?.capabilities?.bounding, "bounding")
    plan.capabilities = capabilities
    plan.noNewPrivileges = spec.process?.noNewPrivileges ?? false
    plan.seccomp = try spec.linux?.seccomp.map { (profile) throws(TaskerError) in
      try profile.filter(capabilities: capabilities)
    }
    // The user: as given, looked up in the task's root as it is now (its writes included), or
    // the task's command's own (kept in its runtime spec).
    let user: JailPlan.User?
    if let text = exec.user {
      let rootFD = open(store.rootPath(of: id), TASKER_O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
      guard rootFD >= 0 else { throw notRunning }
      defer { close(rootFD) }
      let resolved = try ImageUser.resolve(text, root: rootFD)
      user = JailPlan.User(uid: resolved.uid, gid: resolved.gid, additionalGids: resolved.additionalGids)
    } else {
      user = spec.process?.user.map {
        JailPlan.User(uid: $0.uid, gid: $0.gid, additionalGids: $0.additionalGids ?? [])
      }
    }
    plan.user = user
    if let user, user.uid != 0 {
      // The bounding set goes before the change of user, which clears the effective set (and
      // with it CAP_SETPCAP): the OCI path's order. Its exec then gives a user other than root
      // no capability, as podman's does.
      plan.capabilities = nil
      plan.capabilitySets = JailPlan.CapabilitySets(
        bounding: capabilities, effective: capabilities, inheritable: Capabilities(mask: 0), permitted: capabilities,
        ambient: Capabilities(mask: 0))
    }
    plan.terminal = exec.terminal
    plan.cgroups = (record.cgroupDirectories ?? []).filter(pathExists).map {
      JailPlan.Cgroup(path: $0, isParent: false, required: true)
    }

    // The init's namespaces, opened here and checked to be its: the pidfd was opened (and its
    // start time checked) first, and the init still runs after the opens, so no process that
    // reused its PID was entered. Namespaces this process shares (the host's network) are not
    // joined. The supervisor finds them as its descriptors 9 and up.
    var namespaceFDs: [Int32] = []
    defer { for fd in namespaceFDs { close(fd) } }
    for (name, kind) in [
      ("user", JailPlan.Namespace.user), ("ipc", .ipc), ("uts", .uts), ("net", .net), ("pid", .pid),
      ("cgroup", .cgroup),
      ("mnt", .mount),
    ] {
      let fd = open("/proc/\(initPID)/ns/\(name)", O_RDONLY | O_CLOEXEC)
      guard fd >= 0 else { throw notRunning }
      var theirs = stat()
      var mine = stat()
      if fstat(fd, &theirs) == 0, stat("/proc/self/ns/\(name)", &mine) == 0, theirs.st_ino == mine.st_ino,
        theirs.st_dev == mine.st_dev
      {
        close(fd)
        continue
      }
      plan.joins.append(
        JailPlan.Join(namespace: kind, path: "/proc/self/fd/\(9 + namespaceFDs.count)"))
      namespaceFDs.append(fd)
    }
    guard !holder.waitForExit(timeoutMilliseconds: 0) else { throw notRunning }

    let environment = TaskSpec.merge(record.environment, exec.environment)
    let workdir = exec.workdir ?? record.workdir
    guard workdir.hasPrefix("/") else {
      throw TaskerError(.invalidArgument, "working directory must be absolute: \(workdir)")
    }
    let document = Array(plan.document(workdir: workdir).utf8)
    var owned: [Int32] = []
    defer { for fd in owned { close(fd) } }
    func check(_ fd: Int32, _ call: String, _ path: String) throws(TaskerError) -> Int32 {
      if fd < 0 {
        let error = SystemError(call, path: path, errno: errno)
        throw TaskerError(.system, "cannot exec in task \(id): \(error)", cause: error)
      }
      owned.append(fd)
      return fd
    }
    let planFD = try check(tasker_memfd("tasker-plan", document, document.count), "memfd_create", "plan")
    let devnull = try check(open("/dev/null", O_RDONLY | O_CLOEXEC), "open", "/dev/null")
    let program = try check(tasker_sealed_copy(settings.supervisorPath), "open", settings.supervisorPath)
    var report: [Int32] = [-1, -1]
    guard tasker_pipe_cloexec(&report) == 0 else {
      throw TaskerError(.system, "cannot exec in task \(id): \(SystemError("pipe2", errno: errno))")
    }
    owned.append(report[0])
    let fds =
      [exec.stdio.0, exec.stdio.1, exec.stdio.2, report[1], planFD, devnull, devnull, program]
      + [exec.consoleSocket ?? devnull] + namespaceFDs
    let supervisor: Int32
    do {
      supervisor = try spawnProcess(
        path: "/proc/self/fd/7", arguments: ["tasker-supervisor", "--"] + exec.command, environment: environment,
        fds: fds)
    } catch {
      close(report[1])
      throw TaskerError(
        .startFailed, "cannot start the supervisor \(settings.supervisorPath): \(error.reason)", cause: error)
    }
    close(report[1])
    let text = (try? readAll(fd: report[0], limit: 4096)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    _ = try? waitForChild(supervisor)
    let fields = (text.split(separator: "\n").first ?? "").split(separator: " ")
    if fields.count == 3, fields[0] == "ok", let pid = Int32(fields[1]) { return pid }
    _ = try parseReport(text, command: exec.command, workdir: workdir, rootfs: record.rootfs)
    throw TaskerError(.startFailed, "cannot exec in task \(id): the supervisor sent \"\(text)\"")
  }
}

extension TaskSpec {
  /// `base` with `variables` laid over it: a later value of a name replaces an earlier one.
  static func merge(_ base: [String], _ variables: [String]) -> [String] {
    var order: [String] = []
    var values: [String: String] = [:]
    for entry in base + variables {
      let name = String(entry.prefix { $0 != "=" })
      if values[name] == nil { order.append(name) }
      values[name] = entry
    }
    return order.compactMap { values[$0] }
  }
}
