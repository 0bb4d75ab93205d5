/// A filesystem the user adds to a task's root: `-v/--volume`, `--mount`, `--tmpfs`.
public struct TaskMount: Equatable, Sendable {
  /// What is mounted.
  public enum Source: Equatable, Sendable {
    /// A host path (absolute), opened once by tasker and bound as that object.
    case host(String)
    /// A named volume under the state root (`<root>/volumes/NAME/data`), made on first use.
    case volume(String)
    /// A fresh tmpfs; `options` is its mount data (`size=64m,mode=1777`).
    case tmpfs(options: String)
  }

  public var source: Source
  /// Absolute path inside the task's root, normalized (no `.`, no `//`, no trailing `/`).
  public var target: String
  public var readOnly: Bool
  public var noSUID: Bool
  public var noDev: Bool
  public var noExec: Bool

  public init(
    source: Source, target: String, readOnly: Bool = false, noSUID: Bool = false, noDev: Bool = false,
    noExec: Bool = false
  ) {
    self.source = source
    self.target = target
    self.readOnly = readOnly
    self.noSUID = noSUID
    self.noDev = noDev
    self.noExec = noExec
  }

  /// The target relative to the root, as the plan's steps name paths.
  public var relativeTarget: String { String(target.dropFirst()) }

  /// `-v/--volume SOURCE:TARGET[:OPTIONS]`, podman's form: SOURCE an absolute host path or a
  /// volume name; OPTIONS a comma list of `ro`, `rw`, `nosuid`, `nodev`, `noexec` (and their
  /// `suid`, `dev`, `exec` opposites), `rbind`/`bind`, `private`/`rprivate`, `z`/`Z` (SELinux
  /// labels: nothing to relabel on a host without SELinux).
  public static func parseVolume(_ text: String) throws(TaskerError) -> TaskMount {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
    guard parts.count == 2 || parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else {
      throw TaskerError(
        .invalidArgument, "invalid --volume \"\(text)\": use HOST_PATH:TASK_PATH[:ro|rw] or NAME:TASK_PATH[:ro|rw]")
    }
    var mount = TaskMount(
      source: try source(parts[0], flag: "--volume"), target: try normalizedTarget(parts[1], flag: "--volume"))
    if parts.count == 3 {
      for option in parts[2].split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
        try mount.apply(option, flag: "--volume")
      }
    }
    return mount
  }

  /// `--mount type=bind|volume|tmpfs,source=...,target=...,...`, podman's (and docker's)
  /// syntax: `src`, `source`; `dst`, `destination`, `target`; `ro`, `readonly`, `ro=true|false`;
  /// `bind-propagation=private|rprivate`; `tmpfs-size`, `tmpfs-mode`; `nosuid`, `nodev`,
  /// `noexec`.
  public static func parseMount(_ text: String) throws(TaskerError) -> TaskMount {
    func bad(_ why: String) -> TaskerError { TaskerError(.invalidArgument, "invalid --mount \"\(text)\": \(why)") }
    var type: String?
    var source: String?
    var target: String?
    var flags: [String] = []
    var tmpfsOptions: [String] = []
    for field in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
      let key = String(field.prefix { $0 != "=" })
      let value: String? = field.contains("=") ? String(field.dropFirst(key.count + 1)) : nil
      switch (key, value) {
      case ("type", let value?): type = value
      case ("src", let value?), ("source", let value?): source = value
      case ("dst", let value?), ("destination", let value?), ("target", let value?): target = value
      case ("ro", nil), ("readonly", nil): flags.append("ro")
      case ("ro", let value?), ("readonly", let value?):
        guard ["true", "false", "1", "0"].contains(value) else { throw bad("\(key) is true or false") }
        flags.append(value == "true" || value == "1" ? "ro" : "rw")
      case ("rw", nil), ("nosuid", nil), ("nodev", nil), ("noexec", nil), ("suid", nil), ("dev", nil), ("exec", nil):
        flags.append(key)
      case ("bind-propagation", let value?): flags.append(value)
      case ("tmpfs-size", let value?):
        guard let bytes = ResourceLimits.parseSize(value) else { throw bad("tmpfs-size is bytes or 64m, 1g") }
        tmpfsOptions.append("size=\(bytes)")
      case ("tmpfs-mode", let value?):
        guard let mode = Int(value, radix: 8), (0...0o7777).contains(mode) else {
          throw bad("tmpfs-mode is octal (1777)")
        }
        tmpfsOptions.append("mode=" + String(mode, radix: 8))
      default: throw bad("unknown field \"\(field)\"")
      }
    }
    guard let target else { throw bad("no target=") }
    let path = try normalizedTarget(target, flag: "--mount")
    var mount: TaskMount
    switch type {
    case "bind":
      guard let source, source.hasPrefix("/") else { throw bad("type=bind needs source= an absolute host path") }
      mount = TaskMount(source: .host(source), target: path)
    case "volume":
      guard let source else { throw bad("type=volume needs source=NAME") }
      guard TaskStore.isValidName(source) else { throw bad(invalidVolumeName(source)) }
      mount = TaskMount(source: .volume(source), target: path)
    case "tmpfs":
      guard source == nil else { throw bad("type=tmpfs takes no source") }
      mount = TaskMount(
        source: .tmpfs(options: tmpfsOptions.joined(separator: ",")), target: path, noSUID: true, noDev: true)
    case nil: throw bad("no type= (bind, volume or tmpfs)")
    case let other?: throw bad("unknown type \"\(other)\" (bind, volume or tmpfs)")
    }
    if type != "tmpfs", !tmpfsOptions.isEmpty { throw bad("tmpfs-size and tmpfs-mode need type=tmpfs") }
    for flag in flags { try mount.apply(flag, flag: "--mount") }
    return mount
  }

  /// `--tmpfs PATH[:OPTIONS]`: OPTIONS a comma list of `size=`, `mode=`, `nr_inodes=`, `ro`,
  /// `rw`, `nosuid`, `nodev`, `noexec` and their opposites. As podman's, the default is
  /// `rw,noexec,nosuid,nodev`.
  public static func parseTmpfs(_ text: String) throws(TaskerError) -> TaskMount {
    let path = String(text.prefix { $0 != ":" })
    var mount = TaskMount(
      source: .tmpfs(options: ""), target: try normalizedTarget(path, flag: "--tmpfs"), noSUID: true, noDev: true,
      noExec: true)
    guard path.count < text.count else { return mount }
    var data: [String] = []
    for option in text.dropFirst(path.count + 1).split(separator: ",", omittingEmptySubsequences: false).map(
      String.init)
    {
      let key = String(option.prefix { $0 != "=" })
      let value = String(option.dropFirst(key.count + 1))
      switch key {
      case "size":
        guard option.contains("="), let bytes = ResourceLimits.parseSize(value) else {
          throw TaskerError(.invalidArgument, "invalid --tmpfs \"\(text)\": size= is bytes or 64m, 1g")
        }
        data.append("size=\(bytes)")
      case "mode":
        guard let mode = Int(value, radix: 8), (0...0o7777).contains(mode) else {
          throw TaskerError(.invalidArgument, "invalid --tmpfs \"\(text)\": mode= is octal (1777)")
        }
        data.append("mode=" + String(mode, radix: 8))
      case "nr_inodes":
        guard let count = UInt64(value) else {
          throw TaskerError(.invalidArgument, "invalid --tmpfs \"\(text)\": nr_inodes= is a number")
        }
        data.append("nr_inodes=\(count)")
      default:
        try mount.apply(option, flag: "--tmpfs")
      }
    }
    mount.source = .tmpfs(options: data.joined(separator: ","))
    return mount
  }

  /// Checks a task's mounts together: two on one target are refused, and so is a target inside
  /// a host bind (its mount point would be made in the host's directory: tasker writes nothing
  /// outside the task's root and its state root). Inside a volume or a tmpfs is fine.
  public static func check(_ mounts: [TaskMount]) throws(TaskerError) {
    var seen: Set<String> = []
    for mount in mounts where !seen.insert(mount.target).inserted {
      throw TaskerError(.invalidArgument, "two mounts on \(mount.target)")
    }
    for outer in mounts {
      guard case .host(let path) = outer.source else { continue }
      for inner in mounts where inner.target.hasPrefix(outer.target + "/") {
        throw TaskerError(
          .invalidArgument,
          "cannot mount on \(inner.target) inside the bind of \(path) on \(outer.target): its mount point would be "
            + "made in the host's directory")
      }
    }
  }

  /// The source word of `-v`: an absolute host path, or a volume name.
  static func source(_ word: String, flag: String) throws(TaskerError) -> Source {
    if word.hasPrefix("/") { return .host(word) }
    if word.hasPrefix(".") || word.contains("/") {
      throw TaskerError(.invalidArgument, "\(flag): host path \"\(word)\" must be absolute")
    }
    guard TaskStore.isValidName(word) else {
      throw TaskerError(.invalidArgument, "\(flag): " + invalidVolumeName(word))
    }
    return .volume(word)
  }

  static func invalidVolumeName(_ name: String) -> String {
    "invalid volume name \"\(name)\": use 1 to 64 letters, digits, _ . - (starting with a letter or digit)"
  }

  /// A target inside the root: absolute, without `..`, not the root itself nor the kernel's
  /// filesystems tasker mounts (`/proc`, `/dev`, `/dev/pts`).
  static func normalizedTarget(_ path: String, flag: String) throws(TaskerError) -> String {
    guard path.hasPrefix("/") else {
      throw TaskerError(.invalidArgument, "\(flag): target \"\(path)\" must be an absolute path in the task")
    }
    let components = path.split(separator: "/").filter { $0 != "." }
    if components.contains("..") {
      throw TaskerError(.invalidArgument, "\(flag): target \"\(path)\" must not contain \"..\"")
    }
    let normalized = "/" + components.joined(separator: "/")
    let reserved =
      normalized == "/" || normalized == "/proc" || normalized.hasPrefix("/proc/") || normalized == "/dev"
      || normalized == "/dev/pts" || normalized.hasPrefix("/dev/pts/")
    if reserved {
      throw TaskerError(
        .invalidArgument,
        "\(flag): cannot mount over \(normalized) (the task's root, /proc, /dev and /dev/pts are tasker's)")
    }
    guard normalized.utf8.count < 4096 else { throw TaskerError(.invalidArgument, "\(flag): target too long") }
    return normalized
  }

  mutating func apply(_ option: String, flag: String) throws(TaskerError) {
    switch option {
    case "ro": readOnly = true
    case "rw": readOnly = false
    case "nosuid": noSUID = true
    case "suid": noSUID = false
    case "nodev": noDev = true
    case "dev": noDev = false
    case "noexec": noExec = true
    case "exec": noExec = false
    // Binds are recursive, as podman's default; what they hold stays private to the task.
    case "rbind", "bind", "private", "rprivate", "z", "Z":
      if case .tmpfs = source { fallthrough }
    default:
      throw TaskerError(
        .invalidArgument,
        "\(flag): unsupported option \"\(option)\" (ro, rw, nosuid, nodev, noexec\(isTmpfs ? ", size=, mode=" : ""))")
    }
  }

  private var isTmpfs: Bool {
    if case .tmpfs = source { return true }
    return false
  }
}
