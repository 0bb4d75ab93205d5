import CTaskerShim
import Glibc
import TaskerSystem

/// The task's directory in the download path: an empty directory tasker made, onto which a
/// nosuid,nodev view of the task's root is mounted. The root itself lives in the root-only state
/// directory.
///
/// The download path is often a directory another user owns (`sudo tasker create` in a home
/// directory), who could swap names in it at any moment. So every step goes through one
/// descriptor of the download path opened without following a final symlink, the directory is
/// made with `mkdirat` and checked by owner, device and inode, and the view is mounted onto the
/// descriptor of that very directory: no step looks a path up twice.
enum TaskView {
  /// Opens the download path. A symlink as its last component is refused: its target could be
  /// changed between this create's steps.
  static func openDownloadPath(_ path: String) throws(TaskerError) -> Int32 {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    if fd >= 0 { return fd }
    let code = errno
    var info = stat()
    if lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK {
      throw TaskerError(
        .invalidArgument, "download path is a symbolic link: \(path) (give the directory it points to)")
    }
    switch code {
    // ENOTDIR also means a component on the way is a file: only a path that exists and is no
    // directory "is not a directory".
    case ENOENT, ENOTDIR:
      let exists = stat(path, &info) == 0
      throw TaskerError(.invalidArgument, "download path \(path) \(exists ? "is not a directory" : "does not exist")")
    default:
      let error = SystemError("open", path: path, errno: code)
      throw TaskerError(.invalidArgument, "cannot open the download path: \(error)", cause: error)
    }
  }

  /// Makes `<download path>/<name>` and mounts a nosuid,nodev view of the mount at `root` on it.
  static func attach(root: String, downloadFD: Int32, downloadPath: String, name: String) throws(TaskerError) {
    let shown = downloadPath + "/" + name
    func fail(_ call: String, _ code: Int32) -> TaskerError {
      let error = SystemError(call, path: shown, errno: code)
      return TaskerError(.system, "cannot create task directory: \(error)", cause: error)
    }
    var parent = stat()
    guard fstat(downloadFD, &parent) == 0 else { throw fail("fstat", errno) }
    guard mkdirat(downloadFD, name, 0o700) == 0 else { throw fail("mkdir", errno) }
    let target = openat(downloadFD, name, TASKER_O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    guard target >= 0 else { throw fail("open", errno) }
    defer { close(target) }
    var made = stat()
    var named = stat()
    // What the name holds must be the directory this call just made: ours, empty, on the
    // download path's file system, and still the one the name points to.
    guard fstat(target, &made) == 0, fstatat(downloadFD, name, &named, AT_SYMLINK_NOFOLLOW) == 0,
      made.st_uid == geteuid(), made.st_dev == parent.st_dev, made.st_nlink == 2,
      made.st_dev == named.st_dev, made.st_ino == named.st_ino
    else {
      throw TaskerError(.system, "cannot create task directory: \(shown) was replaced while it was made")
    }
    let rootFD = open(root, TASKER_O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    guard rootFD >= 0 else { throw fail("open", errno) }
    defer { close(rootFD) }
    if tasker_attach_view(rootFD, target) != 0 {
      let code = errno
      removeEmpty(downloadFD: downloadFD, name: name, expected: made)
      if code == ENOSYS {
        throw TaskerError(.system, "cannot create task directory: this kernel lacks open_tree/move_mount (5.12+)")
      }
      throw fail("move_mount", code)
    }
  }

  /// Detaches the view at `<download path>/<name>` (only if it shows the mount at `root`) and
  /// removes the directory it was mounted on (only if it is an empty directory of ours). A
  /// symlink, or anything else put there meanwhile, is left alone. A view that is no longer
  /// there (its directory's owner moved the download path away) is found by the mount it clones
  /// and detached wherever it now is.
  static func detach(downloadPath: String, name: String, root: String) {
    var rootInfo = stat()
    guard lstat(root, &rootInfo) == 0 else { return }
    func isView(_ fd: Int32) -> Bool {
      var info = stat()
      return fstat(fd, &info) == 0 && info.st_dev == rootInfo.st_dev && info.st_ino == rootInfo.st_ino
    }
    var found = false
    let downloadFD = open(downloadPath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    if downloadFD >= 0 {
      defer { close(downloadFD) }
      // A view mounted twice (two racing cleaners) comes off one layer at a time.
      for _ in 0..<8 {
        let target = openat(downloadFD, name, TASKER_O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard target >= 0 else { break }
        let unmounted = isView(target) && tasker_unmount_fd(target) == 0
        close(target)
        if !unmounted { break }
        found = true
      }
      var info = stat()
      if fstatat(downloadFD, name, &info, AT_SYMLINK_NOFOLLOW) == 0 {
        removeEmpty(downloadFD: downloadFD, name: name, expected: info)
      }
    }
    // Not where it was made: wherever else a clone of the root's mount is attached (other than
    // the root itself), each opened without following its last component and checked to show
    // the root before it goes.
    guard !found else { return }
    for point in mountPoints(sharingTheMountAt: root) where point != root {
      let target = open(point, TASKER_O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
      guard target >= 0 else { continue }
      if isView(target) { _ = tasker_unmount_fd(target) }
      close(target)
    }
  }

  /// The mount points of every mount that shows the same file system and subtree as the mount
  /// at `root` (from /proc/self/mountinfo: device and root fields).
  static func mountPoints(sharingTheMountAt root: String) -> [String] {
    guard let mountinfo = try? readSmallFile("/proc/self/mountinfo", limit: 64 << 20) else { return [] }
    let rows = mountinfo.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: false) }
    let escapedRoot = escapeMountPath(root)
    guard let own = rows.last(where: { $0.count > 4 && $0[4] == escapedRoot }) else { return [] }
    return rows.filter { $0.count > 4 && $0[2] == own[2] && $0[3] == own[3] }.map { unescapeMountPath(String($0[4])) }
  }

  /// mountinfo's escapes (space, tab, newline, backslash as octal).
  static func escapeMountPath(_ path: String) -> Substring {
    var out = ""
    for scalar in path.unicodeScalars {
      switch scalar {
      case " ": out += "\\040"
      case "\t": out += "\\011"
      case "\n": out += "\\012"
      case "\\": out += "\\134"
      default: out.unicodeScalars.append(scalar)
      }
    }
    return Substring(out)
  }

  static func unescapeMountPath(_ text: String) -> String {
    var bytes: [UInt8] = []
    var iterator = Array(text.utf8)[...]
    while let byte = iterator.popFirst() {
      if byte == 0x5c, iterator.count >= 3,
        let value = UInt8(String(decoding: iterator.prefix(3), as: UTF8.self), radix: 8)
      {
        bytes.append(value)
        iterator = iterator.dropFirst(3)
      } else {
        bytes.append(byte)
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  private static func removeEmpty(downloadFD: Int32, name: String, expected: stat) {
    var now = stat()
    guard fstatat(downloadFD, name, &now, AT_SYMLINK_NOFOLLOW) == 0, (now.st_mode & S_IFMT) == S_IFDIR,
      now.st_uid == geteuid(), now.st_dev == expected.st_dev, now.st_ino == expected.st_ino
    else { return }
    unlinkat(downloadFD, name, AT_REMOVEDIR)
  }
}
