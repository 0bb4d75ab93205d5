import Glibc
import TaskerSystem

/// A failed system call in test setup, named like the library's `SystemError`.
struct SetupError: Error, CustomStringConvertible {
  var description: String

  init(_ operation: String, _ path: String, errno code: Int32 = errno) {
    description = SystemError(operation, path: path, errno: code).description
  }
}

/// The names in a directory, without `.` and `..` (empty when it cannot be read).
func directoryEntries(_ path: String) -> [String] {
  guard let dir = opendir(path) else { return [] }
  defer { closedir(dir) }
  var names: [String] = []
  while let entry = readdir(dir) {
    let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
      String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
    }
    if name != "." && name != ".." { names.append(name) }
  }
  return names.sorted()
}

/// Creates a directory (parents must exist).
func makeDirectory(_ path: String, mode: mode_t = 0o755) throws {
  if mkdir(path, mode) != 0 { throw SetupError("mkdir", path) }
}

/// Writes `bytes` to a new file at `path`, replacing any file there.
func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o644) throws {
  let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
  if fd < 0 { throw SetupError("open", path) }
  defer { close(fd) }
  try writeAll(fd: fd, bytes, path: path)
}

/// Appends `bytes` to the file at `path`.
func appendToFile(_ path: String, _ bytes: [UInt8]) throws {
  let fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
  if fd < 0 { throw SetupError("open", path) }
  defer { close(fd) }
  try writeAll(fd: fd, bytes, path: path)
}

/// The whole content of the file at `path` (symlinks followed).
func readFile(_ path: String) throws -> [UInt8] {
  let fd = open(path, O_RDONLY | O_CLOEXEC)
  if fd < 0 { throw SetupError("open", path) }
  defer { close(fd) }
  var result: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 1 << 16)
  while true {
    let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
    if n < 0 {
      if errno == EINTR { continue }
      throw SetupError("read", path)
    }
    if n == 0 { return result }
    result += buffer[0..<n]
  }
}

/// `lstat(2)`, or nil when nothing is at `path`.
func fileStatus(_ path: String) -> stat? {
  var info = stat()
  return lstat(path, &info) == 0 ? info : nil
}

/// The target of the symlink at `path`, or nil when it is not a symlink.
func linkTarget(_ path: String) -> String? {
  var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
  let n = readlink(path, &buffer, buffer.count - 1)
  guard n >= 0 else { return nil }
  return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// `S_IFMT` bits of `info`.
func fileType(_ info: stat) -> mode_t { info.st_mode & S_IFMT }

/// Permission bits (with set-id and sticky) of `info`.
func permissions(_ info: stat) -> mode_t { info.st_mode & 0o7777 }
