import CTaskerShim
import Glibc
import TaskerArchive
import TaskerSystem

/// An OCI image layout's directory, opened once (`O_PATH|O_DIRECTORY`); every file is opened
/// relative to that descriptor with `openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS)`.
///
/// No symlink is followed at all, rather than followed inside the layout (`RESOLVE_IN_ROOT`):
/// the tools that write layouts (skopeo, umoci, buildah, docker) write regular files only, so a
/// link in one is either a mistake or an attempt to make tasker read another file under a
/// blob's name; refusing it names the problem instead of reading something else quietly.
final class LayoutDirectory: LayoutFiles {
  let label: String
  private let directory: OpenFile

  /// Opens `path`, which the user named (a symlink there is followed: it is theirs).
  init(path: String, label: String) throws(ImageError) {
    self.label = label
    let fd = Glibc.open(path, TASKER_O_PATH | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else {
      let code = errno
      switch code {
      case ENOENT: throw .format("\(label): no such directory")
      case ENOTDIR: throw .format("\(label): not a directory (an OCI image layout is one)")
      default: throw .file(SystemError("open", path: path, errno: code))
      }
    }
    directory = OpenFile(fd)
  }

  func read(_ path: String, limit: Int) throws(ImageError) -> [UInt8]? {
    guard let (file, size) = try openFile(path) else { return nil }
    guard size <= limit else { throw .format("\(path) of \(label) is larger than \(limit) bytes: refused") }
    let bytes: [UInt8]
    do {
      bytes = try readAll(fd: file.fd, limit: limit + 1, path: path)
    } catch {
      throw .file(error)
    }
    // A file that grew since fstat is refused the same way.
    guard bytes.count <= limit else {
      throw .format("\(path) of \(label) is larger than \(limit) bytes: refused")
    }
    return bytes
  }

  func open(_ path: String) throws(ImageError) -> (any ByteSource)? {
    guard let (file, _) = try openFile(path) else { return nil }
    return FileRangeSource(file, what: path)
  }

  /// The regular file `path` and its size; nil when it does not exist.
  private func openFile(_ path: String) throws(ImageError) -> (OpenFile, Int64)? {
    // O_NONBLOCK: a FIFO put in a blob's place must not block the open.
    let fd = tasker_openat2(
      directory.fd, path, UInt64(O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY), 0,
      TASKER_RESOLVE_BENEATH | TASKER_RESOLVE_NO_SYMLINKS | TASKER_RESOLVE_NO_MAGICLINKS)
    guard fd >= 0 else {
      let code = errno
      switch code {
      case ENOENT: return nil
      case ELOOP:
        throw .format(
          "\(path) of \(label) is or passes through a symbolic link: refused (a layout holds regular files)")
      case EXDEV: throw .format("\(path) of \(label) leads outside the layout: refused")
      default: throw .file(SystemError("openat2", path: path, errno: code))
      }
    }
    let file = OpenFile(fd)
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw .file(SystemError("fstat", path: path, errno: errno)) }
    guard info.st_mode & S_IFMT == S_IFREG else {
      throw .format("\(path) of \(label) is not a regular file: refused")
    }
    return (file, Int64(info.st_size))
  }
}
