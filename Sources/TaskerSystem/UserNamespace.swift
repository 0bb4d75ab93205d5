import CTaskerShim
import Glibc
import Synchronization

/// The user namespace a user other than root runs tasker's commands in, as podman and
/// bubblewrap do: the user's own uid and gid are root inside, and their subordinate ids
/// (`/etc/subuid`, `/etc/subgid`, written through the set-user-ID `newuidmap`/`newgidmap` of
/// Debian's `uidmap`) are uids and gids 1, 2, ... inside, so an image's files keep their owners.
/// With no subordinate ids, the namespace maps the user's ids alone.
///
/// The process enters it once, before it starts any thread (`unshare(CLONE_NEWUSER)` refuses a
/// threaded process), together with a mount namespace of its own: every mount tasker makes (a
/// task's root, its view) is then made, and seen, inside.
public enum UserNamespace {
  /// A range of subordinate ids: `count` ids from `start`, on the host.
  public struct IDRange: Equatable, Sendable {
    public var start: UInt32
    public var count: UInt32

    public init(start: UInt32, count: UInt32) {
      self.start = start
      self.count = count
    }
  }

  /// How the ids of a namespace map to the host's.
  public struct Mapping: Equatable, Sendable {
    /// The user's own uid and gid on the host (root inside).
    public var hostUID: uid_t
    public var hostGID: gid_t
    /// The user's subordinate ids, mapped in order from id 1 inside.
    public var uidRanges: [IDRange]
    public var gidRanges: [IDRange]

    public init(hostUID: uid_t, hostGID: gid_t, uidRanges: [IDRange], gidRanges: [IDRange]) {
      self.hostUID = hostUID
      self.hostGID = hostGID
      self.uidRanges = uidRanges
      self.gidRanges = gidRanges
    }

    /// Whether only the user's own ids are mapped (no subordinate ids, or no tool to map them):
    /// files of any other owner cannot be made inside.
    public var isSingle: Bool { uidRanges.isEmpty || gidRanges.isEmpty }

    /// Why a single-id mapping has no subordinate ids, for the warning that names the cure.
    public var singleReason = "you have no /etc/subuid and /etc/subgid range"

    /// The lines of a map: `0 HOST 1`, then each range from id 1 inside.
    static func lines(own: UInt32, ranges: [IDRange]) -> [(inside: UInt32, outside: UInt32, count: UInt32)] {
      var lines: [(inside: UInt32, outside: UInt32, count: UInt32)] = [(0, own, 1)]
      var next: UInt32 = 1
      for range in ranges where range.count > 0 {
        lines.append((next, range.start, range.count))
        let (sum, overflow) = next.addingReportingOverflow(range.count)
        if overflow { break }
        next = sum
      }
      return lines
    }
  }

  /// The subordinate ranges `contents` (the text of `/etc/subuid` or `/etc/subgid`) gives the
  /// user `name` with id `id`: the lines `NAME:START:COUNT` or `ID:START:COUNT`, in file order,
  /// as shadow's newuidmap reads them; a malformed or empty line is skipped, and so is a range
  /// that overlaps one before it (the kernel refuses a map with overlapping ranges).
  public static func ranges(in contents: String, name: String?, id: UInt32) -> [IDRange] {
    var found: [IDRange] = []
    for line in contents.split(whereSeparator: \.isNewline) {
      let fields = line.split(separator: ":", omittingEmptySubsequences: false)
      guard fields.count == 3, let start = UInt32(fields[1]), let count = UInt32(fields[2]), count > 0 else {
        continue
      }
      let owner = String(fields[0])
      guard owner == name || owner == String(id) else { continue }
      let end = UInt64(start) + UInt64(count)
      guard !found.contains(where: { UInt64($0.start) < end && UInt64(start) < UInt64($0.start) + UInt64($0.count) })
      else { continue }
      found.append(IDRange(start: start, count: count))
    }
    return found
  }

  /// What the process was before it entered the namespace; nil while it has not.
  private static let entered = Mutex<Mapping?>(nil)

  /// The mapping of the namespace this process entered, if it did.
  public static var current: Mapping? { entered.withLock { $0 } }

  /// The user's uid on the host: what `getuid()` said before the process entered a namespace.
  public static var hostUID: uid_t { current?.hostUID ?? getuid() }

  /// The user's gid on the host.
  public static var hostGID: gid_t { current?.hostGID ?? getgid() }

  /// Where overlayfs keeps its attributes for the mounts this process makes: `trusted.overlay.`
  /// on the host, `user.overlay.` in a user namespace (whose root may not set `trusted.*`), where
  /// every overlay is mounted with `userxattr`.
  public static var overlayAttributePrefix: String { current == nil ? "trusted.overlay." : "user.overlay." }

  /// The flags of `tasker_mount_overlay`: `TASKER_OVERLAY_USERXATTR` in a user namespace, and
  /// `TASKER_OVERLAY_NODEV` if `nodev`.
  public static func overlayFlags(nodev: Bool) -> Int32 {
    (nodev ? TASKER_OVERLAY_NODEV : 0) | (current == nil ? 0 : TASKER_OVERLAY_USERXATTR)
  }

  /// Why a namespace could not be entered.
  public enum EntryError: Error, Sendable, CustomStringConvertible {
    /// The kernel refused the namespace (user namespaces off, the process threaded, ...).
    case unshare(errno: Int32)
    /// newuidmap or newgidmap failed (it printed why on stderr).
    case mapTool(uidTool: String, gidTool: String)
    /// The process's own maps could not be written.
    case writeMap(errno: Int32)
    /// The mount namespace could not be made inside.
    case mountNamespace(errno: Int32)

    public var description: String {
      switch self {
      case .unshare(let errno):
        let hint =
          errno == EPERM || errno == ENOSPC
          ? " (are unprivileged user namespaces enabled? see sysctl user.max_user_namespaces and kernel.unprivileged_userns_clone)"
          : ""
        return "cannot make a user namespace: \(SystemError.describe(errno))\(hint)"
      case .mapTool(let uid, let gid):
        return
          "cannot map the subordinate ids of /etc/subuid and /etc/subgid into the user namespace (\(uid) or \(gid) failed; is it installed set-user-ID root, and are the ranges right?)"
      case .writeMap(let errno):
        return "cannot write the user namespace's id maps: \(SystemError.describe(errno))"
      case .mountNamespace(let errno):
        return "cannot make a mount namespace in the user namespace: \(SystemError.describe(errno))"
      }
    }
  }

  /// The mapping the calling user gets: their subordinate ids from `/etc/subuid` and
  /// `/etc/subgid` when both files give some and `newuidmap` and `newgidmap` are installed,
  /// their own ids alone otherwise. `tools` says where the tools are (nil: not found).
  public static func mappingForCurrentUser() -> (mapping: Mapping, tools: (uid: String, gid: String)?) {
    let uid = getuid()
    let gid = getgid()
    let name = getpwuid(uid).flatMap { $0.pointee.pw_name.map { String(cString: $0) } }
    let uidRanges = ranges(in: (try? readSmallFile("/etc/subuid")) ?? "", name: name, id: uid)
    let gidRanges = ranges(in: (try? readSmallFile("/etc/subgid")) ?? "", name: name, id: uid)
    let tools = findTool("newuidmap").flatMap { uidTool in findTool("newgidmap").map { (uidTool, $0) } }
    guard let tools, !uidRanges.isEmpty, !gidRanges.isEmpty else {
      var single = Mapping(hostUID: uid, hostGID: gid, uidRanges: [], gidRanges: [])
      if !uidRanges.isEmpty && !gidRanges.isEmpty {
        single.singleReason = "newuidmap and newgidmap (Debian's uidmap package) are not installed"
      }
      return (single, nil)
    }
    return (Mapping(hostUID: uid, hostGID: gid, uidRanges: uidRanges, gidRanges: gidRanges), tools)
  }

  /// Enters a new user namespace and a mount namespace, mapped as `mappingForCurrentUser` says.
  /// The process must not have started a thread yet.
  public static func enter() throws(EntryError) {
    let (mapping, tools) = mappingForCurrentUser()
    func argv(_ tool: String, own: UInt32, ranges: [IDRange]) -> [String] {
      // newuidmap PID INSIDE OUTSIDE COUNT ...; PID is filled in by the helper.
      [tool, "PID"] + Mapping.lines(own: own, ranges: ranges).flatMap { [String($0), String($1), String($2)] }
    }
    let rc: Int32
    if let tools {
      let uidArgv = argv(tools.uid, own: mapping.hostUID, ranges: mapping.uidRanges)
      let gidArgv = argv(tools.gid, own: mapping.hostGID, ranges: mapping.gidRanges)
      rc = withCStrings(uidArgv) { uidTool in
        withCStrings(gidArgv) { gidTool in tasker_enter_user_namespace(uidTool, gidTool, nil, nil) }
      }
    } else {
      rc = tasker_enter_user_namespace(nil, nil, "0 \(mapping.hostUID) 1", "0 \(mapping.hostGID) 1")
    }
    let error = errno
    switch rc {
    case 0: break
    case -2: throw .mapTool(uidTool: tools?.uid ?? "newuidmap", gidTool: tools?.gid ?? "newgidmap")
    case -3: throw .writeMap(errno: error)
    case -4: throw .mountNamespace(errno: error)
    default: throw .unshare(errno: error)
    }
    entered.withLock { $0 = mapping }
  }

  /// The first executable `name` in the directories where Debian installs uidmap's tools (a
  /// user's PATH is not trusted to name a set-user-ID tool).
  private static func findTool(_ name: String) -> String? {
    for directory in ["/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
      let path = directory + "/" + name
      if access(path, X_OK) == 0 { return path }
    }
    return nil
  }

  /// Calls `body` with `strings` as a NULL-terminated C array.
  private static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return body(pointers)
  }
}
