import Glibc

/// What `/proc/PID/stat` says of one process: its state and the time it started.
///
/// A PID alone does not name a process for long: the kernel hands it out again once the process
/// is reaped. The pair (PID, start time) does, since a later process with the same PID starts
/// later. tasker records both and checks both before it reports on or signals a process.
public struct ProcessStat: Equatable, Sendable {
  /// The one-letter state from field 3 (`R`, `S`, `D`, `T`, `t`, `Z`, `X`, `I`, ...).
  public var stateCode: Character
  /// Field 22: the start time in clock ticks after boot.
  public var startTime: UInt64
  /// Field 4: the parent's PID.
  public var parentPID: Int32
  /// Field 6: the session ID.
  public var sessionID: Int32

  public init(stateCode: Character, startTime: UInt64, parentPID: Int32 = 0, sessionID: Int32 = 0) {
    self.stateCode = stateCode
    self.startTime = startTime
    self.parentPID = parentPID
    self.sessionID = sessionID
  }

  /// Reads `/proc/PID/stat`; nil when no such process exists.
  public static func read(pid: Int32) -> ProcessStat? {
    guard let text = try? readSmallFile("/proc/\(pid)/stat") else { return nil }
    return parse(text)
  }

  /// Parses the text of a `/proc/PID/stat` file. The command name (field 2) may hold spaces and
  /// parentheses, so fields are counted from the last `)`.
  public static func parse(_ text: String) -> ProcessStat? {
    guard let close = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
    // fields[0] is field 3 (state); field 22 is fields[19].
    guard fields.count > 19, let state = fields[0].first, let start = UInt64(fields[19]),
      let parent = Int32(fields[1]), let session = Int32(fields[3])
    else {
      return nil
    }
    return ProcessStat(stateCode: state, startTime: start, parentPID: parent, sessionID: session)
  }

  /// The state as a word, the way the kernel's documentation (and psutil) names it.
  public var stateName: String { Self.stateName(stateCode) }

  /// The word for a state letter of `/proc/PID/stat`.
  public static func stateName(_ code: Character) -> String {
    switch code {
    case "R": return "running"
    case "S": return "sleeping"
    case "D": return "disk-sleep"
    case "T": return "stopped"
    case "t": return "tracing-stop"
    case "Z": return "zombie"
    case "X", "x": return "dead"
    case "K": return "wake-kill"
    case "W": return "waking"
    case "P": return "parked"
    case "I": return "idle"
    default: return String(code)
    }
  }
}

/// The PIDs of every process on the system, from the names of /proc's numeric directories.
public func allProcessIDs() -> [Int32] {
  directoryEntries("/proc").compactMap { Int32($0) }
}

/// Reads a whole file of a few kilobytes at most (procfs, records). Throws `SystemError`.
public func readSmallFile(_ path: String, limit: Int = 1 << 20) throws(SystemError) -> String {
  let bytes = try readFileBytes(path, limit: limit)
  return String(decoding: bytes, as: UTF8.self)
}

/// Reads a whole file, at most `limit` bytes. Throws `SystemError`.
public func readFileBytes(_ path: String, limit: Int = 1 << 20) throws(SystemError) -> [UInt8] {
  let fd = try retryingSyscall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
  defer { close(fd) }
  return try readAll(fd: fd, limit: limit, path: path)
}

/// Reads from `fd` until EOF, at most `limit` bytes.
public func readAll(fd: Int32, limit: Int, path: String? = nil) throws(SystemError) -> [UInt8] {
  var result: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 4096)
  while result.count < limit {
    let n = try retryingSyscall("read", path: path) {
      chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
    }
    if n == 0 { break }
    result.append(contentsOf: chunk[0..<min(n, limit - result.count)])
  }
  return result
}
