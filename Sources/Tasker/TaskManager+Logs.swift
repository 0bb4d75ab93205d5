import Glibc
import TaskerSystem

extension TaskManager {
  /// Copies the lines `selection` picks of what the task wrote so far, each to `stdout` or
  /// `stderr` as it was written, both streams in the order their lines started. With `follow`,
  /// keeps copying new lines until the task ends, and returns its final status. The line times
  /// come from `stdout.index` and `stderr.index`, which the supervisor writes beside the logs.
  func copySelectedLogs(
    of id: TaskID, record: TaskRecord, selection: LogSelection, follow: Bool, stdout: Int32, stderr: Int32
  ) throws(TaskerError) -> TaskStatus {
    let store = self.store
    do {
      let streams = [
        try LogLines(log: store.stdoutPath(of: id), index: store.directory(of: id) + "/stdout.index", to: stdout),
        try LogLines(log: store.stderrPath(of: id), index: store.directory(of: id) + "/stderr.index", to: stderr),
      ]
      for stream in streams { try stream.read() }
      if selection.since != nil || selection.timestamps,
        streams.contains(where: { !$0.hasIndex && !$0.pending.isEmpty })
      {
        throw TaskerError(
          .invalidArgument,
          "task \(id)'s logs carry no line times (it was started by an earlier tasker): --since and --timestamps need them"
        )
      }
      var lines = LogLines.merged(streams.map { $0.takeLines(final: !follow) })
      if let since = selection.since {
        lines.removeAll { ($0.time.map { Double($0.seconds) + Double($0.nanoseconds) / 1e9 } ?? 0) < since }
      }
      if let tail = selection.tail { lines = Array(lines.suffix(max(0, tail))) }
      for line in lines { try streams[line.stream].print(line, timestamps: selection.timestamps) }
      guard follow else { return status(of: id, record: record) }
      var failure: SystemError?
      func copyNew(final: Bool) throws(SystemError) {
        for stream in streams { try stream.read() }
        for line in LogLines.merged(streams.map { $0.takeLines(final: final) }) {
          try streams[line.stream].print(line, timestamps: selection.timestamps)
        }
      }
      let final = waitUntilEnded(id: id, record: record, pollMilliseconds: 50) {
        do throws(SystemError) {
          try copyNew(final: false)
          return true
        } catch {
          failure = error
          return false
        }
      }
      if let failure { throw failure }
      try copyNew(final: true)
      return final
    } catch let error as TaskerError {
      throw error
    } catch {
      throw TaskerError(.system, "cannot read logs of task \(id): \(error)", cause: SendableDescription(error))
    }
  }
}

/// One stream's log and its line index, read as they grow.
final class LogLines {
  struct Time: Comparable {
    var seconds: Int64
    var nanoseconds: Int64
    static func < (a: Time, b: Time) -> Bool { (a.seconds, a.nanoseconds) < (b.seconds, b.nanoseconds) }
  }

  struct Line {
    var stream: Int
    var time: Time?
    var bytes: ArraySlice<UInt8>
  }

  private let log: Int32
  private let index: Int32
  private let destination: Int32
  var hasIndex: Bool { index >= 0 }
  /// The log's offset of pending's first byte: everything before it has been taken.
  private var position: Int64 = 0
  private(set) var pending: [UInt8] = []
  private var indexRest: [UInt8] = []
  private var times: [Int64: Time] = [:]
  private var lastTime: Time?

  init(log path: String, index indexPath: String, to destination: Int32) throws(SystemError) {
    log = try retryingSyscall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
    index = open(indexPath, O_RDONLY | O_CLOEXEC)
    self.destination = destination
  }

  deinit {
    close(log)
    if index >= 0 { close(index) }
  }

  private static func readAvailable(_ fd: Int32, into bytes: inout [UInt8]) throws(SystemError) {
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = try retryingSyscall("read") { chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
      if n == 0 { return }
      bytes += chunk[0..<n]
    }
  }

  /// Reads what was added to the log and the index since the last read (the index after the
  /// log: an entry the supervisor writes after its bytes is then more likely there).
  func read() throws(SystemError) {
    try Self.readAvailable(log, into: &pending)
    guard index >= 0 else { return }
    try Self.readAvailable(index, into: &indexRest)
    var start = 0
    while let newline = indexRest[start...].firstIndex(of: 10) {
      let fields = indexRest[start..<newline].split(separator: 32)
      if fields.count == 3, let offset = Int64(String(decoding: fields[0], as: UTF8.self)),
        let seconds = Int64(String(decoding: fields[1], as: UTF8.self)),
        let nanoseconds = Int64(String(decoding: fields[2], as: UTF8.self))
      {
        times[offset] = Time(seconds: seconds, nanoseconds: nanoseconds)
      }
      start = newline + 1
    }
    indexRest.removeFirst(start)
  }

  /// The whole lines read so far (and with `final` the unfinished last one), taken: each once.
  /// A whole line whose time is not in the index yet waits for the next read unless `final`.
  func takeLines(final: Bool) -> [Line] {
    var lines: [Line] = []
    var start = 0
    while start < pending.count {
      let end = pending[start...].firstIndex(of: 10).map { $0 + 1 }
      guard let end = end ?? (final ? pending.count : nil) else { break }
      var time = times.removeValue(forKey: position + Int64(start))
      if time == nil && hasIndex && !final { break }
      time = time ?? lastTime
      lastTime = time
      lines.append(Line(stream: 0, time: time, bytes: pending[start..<end]))
      start = end
    }
    let taken = lines.map { Line(stream: $0.stream, time: $0.time, bytes: ArraySlice(Array($0.bytes))) }
    pending.removeFirst(start)
    position += Int64(start)
    return taken
  }

  /// Lines of every stream, in the order they started (a stream's own order kept; stdout's
  /// first at equal times).
  static func merged(_ streams: [[Line]]) -> [Line] {
    var all: [(Int, Line)] = []
    for (number, lines) in streams.enumerated() {
      for line in lines {
        var line = line
        line.stream = number
        all.append((all.count, line))
      }
    }
    all.sort { a, b in
      let (ta, tb) = (a.1.time, b.1.time)
      if let ta, let tb, ta != tb { return ta < tb }
      if a.1.stream != b.1.stream && ta == tb { return a.1.stream < b.1.stream }
      return a.0 < b.0
    }
    return all.map(\.1)
  }

  func print(_ line: Line, timestamps: Bool) throws(SystemError) {
    var bytes: [UInt8] = []
    if timestamps, let time = line.time {
      bytes += Array(LogSelection.format(seconds: time.seconds, nanoseconds: time.nanoseconds).utf8) + [32]
    }
    bytes += line.bytes
    try writeAll(fd: destination, bytes)
  }
}
