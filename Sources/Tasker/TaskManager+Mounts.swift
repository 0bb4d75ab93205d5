import CTaskerShim
import Glibc
import TaskerSystem

extension TaskManager {
  /// What a jail's plan learns once the task's root exists: the user (`--user`, resolved in
  /// the image), the user's mounts (each bind source opened here once and cloned into a
  /// detached tree the supervisor receives as a descriptor), `--read-only`, and the task's own
  /// `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`. `locks` gets a shared lock on each
  /// volume used, to be held until the task's record names it.
  func prepareRoot(
    _ plan: inout JailPlan, environment: inout [String], trees: inout [Int32], sources: inout [TreeSource],
    locks: inout [Int32], spec: TaskSpec, id: TaskID, root: String
  ) throws(TaskerError) {
    let rootFD = open(root, TASKER_O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    guard rootFD >= 0 else {
      let error = SystemError("open", path: root, errno: errno)
      throw TaskerError(.system, "cannot open the task's root: \(error)", cause: error)
    }
    defer { close(rootFD) }

    if spec.user != nil || !spec.groupAdd.isEmpty {
      let user = try ImageUser.resolve(spec.user ?? "0", groupAdd: spec.groupAdd, root: rootFD)
      plan.user = JailPlan.User(uid: user.uid, gid: user.gid, additionalGids: user.additionalGids)
      // Changing the user clears the effective set that dropping the bounding set needs: the
      // OCI order instead (bounding set dropped first, the other sets applied after the change;
      // a non-root user's exec then keeps none of them).
      if let kept = plan.capabilities {
        plan.capabilitySets = JailPlan.CapabilitySets(
          bounding: kept, effective: kept, inheritable: Capabilities(mask: 0), permitted: kept,
          ambient: Capabilities(mask: 0))
        plan.capabilities = nil
      }
      if !spec.environmentSetsHome {
        environment = environment.filter { !$0.hasPrefix("HOME=") } + ["HOME=" + user.home]
      }
    }

    var attachments: [(descriptor: Int32, kind: JailPlan.AttachKind)?] = []
    for mount in spec.jail.mounts {
      let source: String
      switch mount.source {
      case .tmpfs:
        attachments.append(nil)
        continue
      case .host(let path): source = path
      case .volume(let name):
        source = try createVolume(name, existingOK: true)
        locks.append(try lockVolume(name, exclusive: false))
      }
      var attributes: UInt64 = 0
      if mount.readOnly { attributes |= 1 }  // MOUNT_ATTR_RDONLY
      if mount.noSUID { attributes |= 2 }  // MOUNT_ATTR_NOSUID
      if mount.noDev { attributes |= 4 }  // MOUNT_ATTR_NODEV
      if mount.noExec { attributes |= 8 }  // MOUNT_ATTR_NOEXEC
      // Podman follows a symlink the user names: so does this, once, here.
      var isHostPath = false
      if case .host = mount.source { isHostPath = true }
      attachments.append(
        try attachTree(
          source, attributes: attributes, trees: &trees, sources: &sources, missingIsError: true,
          refuseStateRoot: isHostPath))
    }
    plan.steps += JailPlan.userMountSteps(
      mounts: spec.jail.mounts, trees: attachments, readOnlyRoot: spec.jail.readOnlyRoot)
    plan.readOnlyRoot = spec.jail.readOnlyRoot

    // /etc/hosts, /etc/hostname, /etc/resolv.conf: the task's own, unless the user mounted
    // something there (or over /etc: nothing is made inside a host directory).
    let covered = { (target: String) in
      spec.jail.mounts.contains { mount in
        if case .tmpfs = mount.source { return mount.target == target }
        return mount.target == target || target.hasPrefix(mount.target + "/")
      }
    }
    let etc = store.directory(of: id) + "/etc"
    if mkdir(etc, 0o755) != 0 && errno != EEXIST {
      let error = SystemError("mkdir", path: etc, errno: errno)
      throw TaskerError(.system, "cannot create the task's /etc files: \(error)", cause: error)
    }
    let hostname = plan.hostname ?? id.rawValue
    let imageHosts = try? ImageUser.readImageFile(root: rootFD, path: "etc/hosts", limit: 1 << 16)
    let hostResolv = readHostFile("/etc/resolv.conf", limit: 1 << 16)
    let contents = [
      "hosts": TaskEtcFiles.hosts(hostname: hostname, image: imageHosts ?? nil),
      "hostname": hostname + "\n",
      "resolv.conf": TaskEtcFiles.resolvConf(network: spec.jail.network, host: hostResolv),
    ]
    var etcSteps: [JailPlan.Step] = []
    for name in TaskEtcFiles.names where !covered("/etc/" + name) {
      let path = etc + "/" + name
      do {
        try writeFileAtomically(path, Array((contents[name] ?? "").utf8))
      } catch {
        throw TaskerError(.system, "cannot create the task's /etc/\(name): \(error)", cause: error)
      }
      guard
        let tree = try attachTree(
          path, attributes: 2 | 4 | 8, trees: &trees, sources: &sources, missingIsError: false)
      else {
        continue
      }
      etcSteps.append(.attach(descriptor: tree.descriptor, target: "etc/" + name, kind: .replaceFile))
    }
    if !etcSteps.isEmpty { plan.steps += [.mkdir("etc", mode: 0o755)] + etcSteps }
  }

  /// Opens `path` once (following a final symlink) and clones its mount tree, detached, with
  /// `attributes` set; the clone's descriptor joins `trees` (the supervisor's descriptors from
  /// `JailPlan.attachDescriptorBase`).
  private func attachTree(
    _ path: String, attributes: UInt64, trees: inout [Int32], sources: inout [TreeSource], missingIsError: Bool,
    refuseStateRoot: Bool = false
  ) throws(TaskerError) -> (descriptor: Int32, kind: JailPlan.AttachKind)? {
    guard trees.count < JailPlan.maxAttachments else {
      throw TaskerError(.invalidArgument, "at most \(JailPlan.maxAttachments - 3) mounts per task")
    }
    let fd = open(path, TASKER_O_PATH | O_CLOEXEC)
    if fd < 0 {
      let code = errno
      if !missingIsError, code == ENOENT { return nil }
      if code == ENOENT { throw TaskerError(.startFailed, "cannot mount \(path): it does not exist on the host") }
      let error = SystemError("open", path: path, errno: code)
      throw TaskerError(.startFailed, "cannot mount \(path): \(error)", cause: error)
    }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else {
      let error = SystemError("fstat", path: path, errno: errno)
      throw TaskerError(.startFailed, "cannot mount \(path): \(error)", cause: error)
    }
    if refuseStateRoot, isWithinStateRoot(fd) {
      throw TaskerError(
        .invalidArgument, "cannot mount \(path): it is inside tasker's state root \(settings.stateRoot)")
    }
    let tree = tasker_clone_tree(fd, attributes)
    guard tree >= 0 else {
      let error = SystemError("open_tree", path: path, errno: errno)
      throw TaskerError(.startFailed, "cannot mount \(path): \(error)", cause: error)
    }
    trees.append(tree)
    sources.append(
      TreeSource(
        path: path, attributes: attributes, device: UInt64(info.st_dev), inode: UInt64(info.st_ino)))
    let isDirectory = info.st_mode & S_IFMT == S_IFDIR
    let descriptor = JailPlan.attachDescriptorBase + Int32(trees.count - 1)
    return (descriptor, isDirectory ? .directory : .file)
  }

  /// The trees of a task's attach steps made again from their sources (`restart`: the first
  /// start's trees went into the namespace that ended with it). A source is opened by its path
  /// again, and must be the very object it was at create (device and inode): a task that can
  /// write where a path leads (a bind of a parent directory, a shared one) could otherwise swap
  /// a component for a symlink to anything of the host's and have restart bind that.
  func remakeTrees(_ sources: [TreeSource]) throws(TaskerError) -> [Int32] {
    var trees: [Int32] = []
    var again: [TreeSource] = []
    do throws(TaskerError) {
      for source in sources {
        _ = try attachTree(
          source.path, attributes: source.attributes, trees: &trees, sources: &again, missingIsError: true)
        guard let opened = again.last, opened.device == source.device, opened.inode == source.inode else {
          throw TaskerError(
            .startFailed,
            "cannot mount \(source.path) again: it is no longer what it was when the task was created"
              + " (recreate the task)")
        }
      }
    } catch {
      for tree in trees { close(tree) }
      throw error
    }
    return trees
  }

  /// A file of the host, whole up to `limit` bytes; empty when it cannot be read.
  private func readHostFile(_ path: String, limit: Int) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { return [] }
    defer { close(fd) }
    return (try? readAll(fd: fd, limit: limit, path: path)) ?? []
  }

  /// The directory of a `dir:` image, opened once (a symlink the user names is followed); it
  /// becomes the overlay's read-only lower layer through this descriptor. A directory that
  /// holds the state root is refused (the task would see tasker's state).
  func openDirectoryImage(_ path: String) throws(TaskerError) -> Int32 {
    let fd = open(path, TASKER_O_PATH | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else {
      let error = SystemError("open", path: path, errno: errno)
      throw TaskerError(.image, "cannot use the directory image dir:\(path): \(error)", cause: error)
    }
    if isWithinStateRoot(fd) {
      close(fd)
      throw TaskerError(.invalidArgument, "dir:\(path) is inside tasker's state root \(settings.stateRoot)")
    }
    var image = stat()
    fstat(fd, &image)
    var ancestor = absolutePath(settings.stateRoot)
    while true {
      var info = stat()
      if stat(ancestor, &info) == 0, info.st_dev == image.st_dev, info.st_ino == image.st_ino {
        close(fd)
        throw TaskerError(.invalidArgument, "dir:\(path) holds tasker's state root \(settings.stateRoot)")
      }
      guard ancestor != "/", let slash = ancestor.utf8.lastIndex(of: UInt8(ascii: "/")) else { break }
      ancestor = slash == ancestor.startIndex ? "/" : String(ancestor[..<slash])
    }
    return fd
  }
}

extension TaskManager {
  /// Whether the file `fd` was opened on is the state root or below it: its directory (itself,
  /// for a directory) and each parent up to `/` compared by device and inode with the state
  /// root, so another path to the same tree (a bind of it elsewhere) is caught too. Binding it
  /// would show a task every other task's state, plan and logs.
  func isWithinStateRoot(_ fd: Int32) -> Bool {
    var root = stat()
    guard stat(settings.stateRoot, &root) == 0 else { return false }
    var info = stat()
    guard fstat(fd, &info) == 0 else { return false }
    var current: Int32
    if info.st_mode & S_IFMT == S_IFDIR {
      current = dup(fd)
    } else {
      // A file: start from the directory the kernel names it in.
      var buffer = [CChar](repeating: 0, count: 4097)
      let length = readlink("/proc/self/fd/\(fd)", &buffer, 4096)
      guard length > 0 else { return false }
      let resolved = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
      guard let slash = resolved.utf8.lastIndex(of: UInt8(ascii: "/")) else { return false }
      let parent = slash == resolved.startIndex ? "/" : String(resolved[..<slash])
      current = open(parent, TASKER_O_PATH | O_DIRECTORY | O_CLOEXEC)
    }
    while current >= 0 {
      let here = current
      guard fstat(here, &info) == 0 else { break }
      if info.st_dev == root.st_dev && info.st_ino == root.st_ino {
        close(here)
        return true
      }
      let parent = openat(here, "..", TASKER_O_PATH | O_DIRECTORY | O_CLOEXEC)
      var above = stat()
      close(here)
      current = -1
      guard parent >= 0 else { break }
      guard fstat(parent, &above) == 0, above.st_dev != info.st_dev || above.st_ino != info.st_ino else {
        close(parent)  // `/`, whose parent is itself
        break
      }
      current = parent
    }
    if current >= 0 { close(current) }
    return false
  }
}

/// What one attach descriptor of a task's plan was made from (kept in the task's `trees.json`).
struct TreeSource: Codable, Equatable, Sendable {
  /// The host path, opened with a final symlink followed.
  var path: String
  /// MOUNT_ATTR_* flags set on the tree.
  var attributes: UInt64
  /// What the path led to at create: restart binds that object or nothing.
  var device: UInt64
  var inode: UInt64
}
