import CTaskerShim
import Glibc
import TaskerSystem

/// The user a process runs as, resolved from `--user` in the image's own `/etc/passwd` and
/// `/etc/group` (read through the root's descriptor: the image is untrusted).
public struct ResolvedUser: Equatable, Sendable {
  public var uid: UInt32
  public var gid: UInt32
  /// Supplementary groups: the image's groups that list the user, then `--group-add`'s.
  public var additionalGids: [UInt32]
  /// The passwd entry's home directory; `/` for a uid the image does not list (as podman).
  public var home: String

  public init(uid: UInt32, gid: UInt32, additionalGids: [UInt32], home: String) {
    self.uid = uid
    self.gid = gid
    self.additionalGids = additionalGids
    self.home = home
  }
}

/// `--user UID[:GID]` or `NAME[:GROUP]` (and `--group-add GROUP|GID`) resolved in an image.
public enum ImageUser {
  /// Most bytes of `/etc/passwd` or `/etc/group` read; a bigger file is an error.
  public static let maxFileBytes = 4 << 20
  /// Most supplementary groups (what the supervisor's plan carries).
  public static let maxGroups = 64

  /// One line of `/etc/passwd`.
  public struct PasswdEntry: Equatable, Sendable {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    public var home: String
    public init(name: String, uid: UInt32, gid: UInt32, home: String) {
      self.name = name
      self.uid = uid
      self.gid = gid
      self.home = home
    }
  }

  /// One line of `/etc/group`.
  public struct GroupEntry: Equatable, Sendable {
    public var name: String
    public var gid: UInt32
    public var members: [String]
    public init(name: String, gid: UInt32, members: [String]) {
      self.name = name
      self.gid = gid
      self.members = members
    }
  }

  /// Resolves `spec` (`UID[:GID]`, `NAME[:GROUP]`, names and numbers mixed) against the files
  /// of the root `rootFD` names (an `O_PATH` directory descriptor; paths resolved inside it, so
  /// the image's symlinks cannot lead out). A number the image does not list is used as it is
  /// (gid 0 and home `/` when the uid has no entry); a name it does not list is an error.
  public static func resolve(_ spec: String, groupAdd: [String] = [], root rootFD: Int32) throws(TaskerError)
    -> ResolvedUser
  {
    let passwd = try parsePasswd(readImageFile(root: rootFD, path: "etc/passwd", limit: maxFileBytes) ?? [])
    let groups = try parseGroup(readImageFile(root: rootFD, path: "etc/group", limit: maxFileBytes) ?? [])
    return try resolve(spec, groupAdd: groupAdd, passwd: passwd, groups: groups)
  }

  /// The same, from parsed files (what the tests drive).
  public static func resolve(_ spec: String, groupAdd: [String], passwd: [PasswdEntry], groups: [GroupEntry])
    throws(TaskerError) -> ResolvedUser
  {
    let userPart = String(spec.prefix { $0 != ":" })
    let groupPart: String? = userPart.count < spec.count ? String(spec.dropFirst(userPart.count + 1)) : nil
    guard !userPart.isEmpty, groupPart.map({ !$0.isEmpty }) ?? true else {
      throw TaskerError(.invalidArgument, "invalid --user \"\(spec)\": use UID[:GID] or NAME[:GROUP]")
    }
    let entry: PasswdEntry?
    let uid: UInt32
    if let number = number(userPart) {
      uid = number
      entry = passwd.first { $0.uid == number }
    } else {
      guard let found = passwd.first(where: { $0.name == userPart }) else {
        throw TaskerError(.startFailed, "unknown user \"\(userPart)\": not in the image's /etc/passwd")
      }
      entry = found
      uid = found.uid
    }
    func group(_ word: String, _ flag: String) throws(TaskerError) -> UInt32 {
      if let number = number(word) { return number }
      guard let found = groups.first(where: { $0.name == word }) else {
        throw TaskerError(.startFailed, "unknown group \"\(word)\" (\(flag)): not in the image's /etc/group")
      }
      return found.gid
    }
    let gid = try groupPart.map { (word) throws(TaskerError) in try group(word, "--user") } ?? entry?.gid ?? 0
    var additional: [UInt32] = []
    if let name = entry?.name {
      for group in groups where group.members.contains(name) && !additional.contains(group.gid) {
        additional.append(group.gid)
      }
    }
    for word in groupAdd {
      let gid = try group(word, "--group-add")
      if !additional.contains(gid) { additional.append(gid) }
    }
    guard additional.count <= maxGroups else {
      throw TaskerError(.startFailed, "user \"\(userPart)\" has more than \(maxGroups) supplementary groups")
    }
    let home = entry.map(\.home).flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/"
    return ResolvedUser(uid: uid, gid: gid, additionalGids: additional, home: home)
  }

  /// A uid or gid: decimal, below 2^32 - 1 (which means "no id" to the kernel).
  public static func number(_ word: String) -> UInt32? {
    guard word.utf8.allSatisfy({ (48...57).contains($0) }), let value = UInt32(word), value != UInt32.max else {
      return nil
    }
    return value
  }

  /// `/etc/passwd`'s lines (`name:password:uid:gid:gecos:home:shell`); malformed lines, comments
  /// and NIS `+`/`-` lines are skipped.
  public static func parsePasswd(_ bytes: [UInt8]) throws(TaskerError) -> [PasswdEntry] {
    try lines(bytes, file: "/etc/passwd").compactMap { fields in
      guard fields.count >= 7, let uid = number(fields[2]), let gid = number(fields[3]), isName(fields[0]) else {
        return nil
      }
      return PasswdEntry(name: fields[0], uid: uid, gid: gid, home: fields[5])
    }
  }

  /// `/etc/group`'s lines (`name:password:gid:member,member`).
  public static func parseGroup(_ bytes: [UInt8]) throws(TaskerError) -> [GroupEntry] {
    try lines(bytes, file: "/etc/group").compactMap { fields in
      guard fields.count >= 4, let gid = number(fields[2]), isName(fields[0]) else { return nil }
      let members = fields[3].split(separator: ",").map(String.init).filter(isName)
      return GroupEntry(name: fields[0], gid: gid, members: members)
    }
  }

  static func isName(_ word: String) -> Bool {
    guard let first = word.utf8.first, first != UInt8(ascii: "+"), first != UInt8(ascii: "-"),
      first != UInt8(ascii: "#"), word.utf8.count <= 256
    else { return false }
    return word.utf8.allSatisfy { $0 > 32 && $0 < 127 }
  }

  static func lines(_ bytes: [UInt8], file: String) throws(TaskerError) -> [[String]] {
    guard bytes.count <= maxFileBytes else {
      throw TaskerError(.startFailed, "the image's \(file) is larger than \(maxFileBytes) bytes")
    }
    return bytes.split(separator: UInt8(ascii: "\n")).map { line in
      line.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false).map {
        String(decoding: $0, as: UTF8.self)
      }
    }
  }

  /// The bytes of a regular file of the image, `nil` when it is missing (or is not a regular
  /// file); opened inside the root (`RESOLVE_IN_ROOT`, so its symlinks stay inside), without
  /// blocking on a FIFO, and read up to `limit` bytes (more is an error).
  static func readImageFile(root rootFD: Int32, path: String, limit: Int) throws(TaskerError) -> [UInt8]? {
    let fd = tasker_openat2(
      rootFD, path, UInt64(O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY), 0,
      TASKER_RESOLVE_IN_ROOT | TASKER_RESOLVE_NO_MAGICLINKS)
    if fd < 0 { return nil }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return nil }
    guard info.st_size <= limit else {
      throw TaskerError(.startFailed, "the image's /\(path) is larger than \(limit) bytes")
    }
    let bytes: [UInt8]
    do {
      bytes = try readAll(fd: fd, limit: limit + 1, path: path)
    } catch {
      throw TaskerError(.startFailed, "cannot read the image's /\(path): \(error)", cause: error)
    }
    guard bytes.count <= limit else {
      throw TaskerError(.startFailed, "the image's /\(path) is larger than \(limit) bytes")
    }
    return bytes
  }
}
