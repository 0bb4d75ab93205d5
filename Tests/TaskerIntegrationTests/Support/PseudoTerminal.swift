import Foundation
import Glibc

/// A pseudo-terminal the test opens (posix_openpt): tasker runs with the slave as its stdin,
/// stdout and stderr; the test types into and reads from the master.
final class PseudoTerminal {
  let master: Int32
  let slave: Int32
  private var output: [UInt8] = []

  init(rows: UInt16 = 24, columns: UInt16 = 80) throws {
    // /dev/ptmx, unlocked (TIOCSPTLCK), the slave opened through the master (TIOCGPTPEER):
    // posix_openpt and friends are not in Swift's Glibc module.
    master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
    var unlock: Int32 = 0
    guard master >= 0, ioctl(master, UInt(0x4004_5431), &unlock) == 0 else { throw POSIXError(.EIO) }
    slave = ioctl(master, UInt(0x5441), O_RDWR | O_NOCTTY | O_CLOEXEC)
    guard slave >= 0 else { throw POSIXError(.EIO) }
    resize(rows: rows, columns: columns)
  }

  deinit {
    close(master)
    close(slave)
  }

  func resize(rows: UInt16, columns: UInt16) {
    var size = winsize(ws_row: rows, ws_col: columns, ws_xpixel: 0, ws_ypixel: 0)
    _ = ioctl(master, UInt(TIOCSWINSZ), &size)
  }

  /// The slave's settings now.
  var settings: termios {
    var value = termios()
    tcgetattr(slave, &value)
    return value
  }

  /// Whether the terminal is in raw mode (no echo, no line editing): tasker has taken it.
  var isRaw: Bool { settings.c_lflag & tcflag_t(ECHO | ICANON) == 0 }

  func type(_ text: String) {
    let bytes = Array(text.utf8)
    _ = bytes.withUnsafeBytes { write(master, $0.baseAddress, $0.count) }
  }

  /// Everything read from the master so far, as text.
  var text: String { String(decoding: output, as: UTF8.self) }

  /// Reads until what was read contains `needle` (the test's own wait for a state, never a
  /// timing assertion), or `seconds` pass. Returns whether it came.
  @discardableResult
  func read(until needle: String, seconds: Double = 20) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    var buffer = [UInt8](repeating: 0, count: 4096)
    while !text.contains(needle) {
      let left = deadline.timeIntervalSinceNow
      if left <= 0 { return false }
      var poller = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
      if poll(&poller, 1, Int32(min(left, 0.2) * 1000)) > 0 {
        let n = buffer.withUnsafeMutableBytes { Glibc.read(master, $0.baseAddress, $0.count) }
        if n <= 0 { return text.contains(needle) }
        output += buffer[0..<n]
      }
    }
    return true
  }

  /// Starts tasker with the slave as its stdin, stdout and stderr.
  func start(_ arguments: [String], box: Sandbox) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: taskerPath)
    process.arguments = arguments
    process.environment = [
      "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TASKER_ROOT": box.state.path,
    ]
    process.currentDirectoryURL = box.downloads
    let handle = FileHandle(fileDescriptor: slave, closeOnDealloc: false)
    process.standardInput = handle
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    return process
  }
}

/// Waits for `process` to end (reading the terminal meanwhile, so it never blocks on output).
func finish(_ process: Process, on terminal: PseudoTerminal, seconds: Double = 30) -> Int32? {
  let deadline = Date().addingTimeInterval(seconds)
  while process.isRunning && Date() < deadline { terminal.read(until: "\u{0}never", seconds: 0.1) }
  guard !process.isRunning else {
    process.terminate()
    return nil
  }
  process.waitUntilExit()
  return process.terminationStatus
}

/// Runs tasker with `input` (a file) as its stdin; its stdout as bytes.
func tasker(_ arguments: [String], box: Sandbox, stdinFile: String) throws -> (
  status: Int32, stdout: Data, stderr: String
) {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: taskerPath)
  process.arguments = arguments
  process.environment = [
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TASKER_ROOT": box.state.path,
  ]
  process.currentDirectoryURL = box.downloads
  let out = Pipe()
  let err = Pipe()
  process.standardOutput = out
  process.standardError = err
  process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: stdinFile))
  try process.run()
  nonisolated(unsafe) var errData = Data()
  let group = DispatchGroup()
  group.enter()
  DispatchQueue.global().async {
    errData = err.fileHandleForReading.readDataToEndOfFile()
    group.leave()
  }
  let outData = out.fileHandleForReading.readDataToEndOfFile()
  group.wait()
  process.waitUntilExit()
  return (process.terminationStatus, outData, String(decoding: errData, as: UTF8.self))
}
