import Glibc
import TaskerSystem

/// One stream's log and its line index, read forward a line at a time as they grow. It holds
/// at most `longestLine` bytes of the log and one parsed index entry ahead, whatever their size.
///
/// The index (`OFFSET SECONDS NANOSECONDS` lines in offset order, written by the supervisor at
/// most once per read, before that read's bytes) times a line with the last entry at or before
/// its first byte: lines that came in one read share that read's time, as podman's conmon
/// stamps them.
package final class LogLines {
  package struct Time: Comparable, Sendable {
    package var seconds: Int64
    package var nanoseconds: Int64

    package init(seconds: Int64, nanoseconds: Int64) {
      self.seconds = seconds
      self.nanoseconds = nanoseconds
    }

    package static func < (a: Time, b: Time) -> Bool { (a.seconds, a.nanoseconds) < (b.seconds, b.nanoseconds) }
  }

  /// Where a line (or a piece of a long one) lies in its stream's log, and when it started.
  package struct Line: Equatable, Sendable {
    package var stream: Int
    package var offset: Int64
    package var count: Int
    package var time: Time?
  }

  /// The most bytes of one line handed out at once: a longer line comes in pieces this long
  /// (the last one shorter), each with the line's time; only the last piece has the newline.
  package static let longestLine = 1 << 20
  private static let chunk = 65536

  private let log: Int32
  private let index: Int32
  private let destination: Int32
  private let stream: Int
  /// Where reading stops (a log offset), or nil for the end, however far it grows.
  private let end: Int64?
  package var hasIndex: Bool { index >= 0 }

  /// Log bytes read: `buffer[0]` is at log offset `bufferOffset`; `buffer[..<taken]` has been
  /// handed out; `buffer[taken..<scanned]` holds no newline.
  private var buffer: [UInt8] = []
  private var bufferOffset: Int64 = 0
  private var taken = 0
  private var scanned = 0

  /// Index bytes read but not parsed yet (from `indexTaken` on), the time of the last entry at
  /// or before the last line handed out, and the entry after it, once read.
  private var indexBytes: [UInt8] = []
  private var indexTaken = 0
  private var current: Time?
  /// The log's or the index's end was met: not read again until `lookAgain` (or, for the
  /// index, until more of the log is read, whose entries are then there).
  private var logEnded = false
  private var indexEnded = false
  private var upcoming: (offset: Int64, time: Time)?

  /// The log offset of the next line to hand out.
  package var position: Int64 { bufferOffset + Int64(taken) }

  package init(
    log path: String, index indexPath: String, to destination: Int32, stream: Int = 0, end: Int64? = nil
  ) throws(SystemError) {
    log = try retryingSyscall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
    index = open(indexPath, O_RDONLY | O_CLOEXEC)
    self.destination = destination
    self.stream = stream
    self.end = end
  }

  deinit {
    close(log)
    if index >= 0 { close(index) }
  }

  /// Whether the log has bytes but no index to time them (a task of an earlier tasker).
  package func lacksTimes() throws(SystemError) -> Bool {
    guard index < 0 else { return false }
    var info = stat()
    _ = try retryingSyscall("fstat") { fstat(log, &info) }
    return info.st_size > 0
  }

  /// The next whole line (or piece of a line longer than `longestLine`), or nil if none is
  /// there yet. With `final`, an unfinished last line counts as a line; without it, a line
  /// whose index entry is not there yet waits.
  package func next(final: Bool) throws(SystemError) -> Line? {
    while true {
      let available = buffer.count - taken
      let limit = taken + min(available, Self.longestLine)
      var lineEnd: Int?
      if scanned < limit {
        if let newline = Self.firstNewline(in: buffer, from: scanned, to: limit) {
          lineEnd = newline + 1
        } else {
          scanned = limit
        }
      }
      if lineEnd == nil && available >= Self.longestLine { lineEnd = taken + Self.longestLine }
      if lineEnd == nil {
        if try fill() > 0 { continue }
        guard final, buffer.count > taken else { return nil }
        lineEnd = buffer.count
      }
      guard let lineEnd else { return nil }
      let offset = position
      var time: Time?
      if index >= 0 {
        time = try timeOfLine(at: offset)
        if time == nil && !final { return nil }
      }
      let line = Line(stream: stream, offset: offset, count: lineEnd - taken, time: time)
      taken = lineEnd
      scanned = lineEnd
      return line
    }
  }

  /// Reads past where the log and the index ended, which may have grown since.
  package func lookAgain() {
    logEnded = false
    indexEnded = false
  }

  /// A line's bytes: from what was read when they are still there, else read again.
  package func bytes(of line: Line) throws(SystemError) -> [UInt8] {
    let start = line.offset - bufferOffset
    if start >= 0 && start + Int64(line.count) <= Int64(buffer.count) {
      return Array(buffer[Int(start)..<Int(start) + line.count])
    }
    var bytes = [UInt8](repeating: 0, count: line.count)
    var done = 0
    while done < line.count {
      let n = try retryingSyscall("pread") {
        bytes.withUnsafeMutableBytes { raw in
          raw.baseAddress.map { pread(log, $0 + done, line.count - done, off_t(line.offset + Int64(done))) } ?? 0
        }
      }
      if n == 0 { break }
      done += n
    }
    return Array(bytes[..<done])
  }

  func print(_ line: Line, timestamps: Bool) throws(SystemError) {
    var bytes: [UInt8] = []
    if timestamps, let time = line.time {
      bytes += Array(LogSelection.format(seconds: time.seconds, nanoseconds: time.nanoseconds).utf8) + [32]
    }
    bytes += try self.bytes(of: line)
    try writeAll(fd: destination, bytes)
  }

  private static func firstNewline(in bytes: [UInt8], from start: Int, to end: Int) -> Int? {
    bytes.withUnsafeBytes { raw in
      guard let base = raw.baseAddress, let found = memchr(base + start, 10, end - start) else { return nil }
      return base.distance(to: UnsafeRawPointer(found))
    }
  }

  /// Drops what was handed out and reads up to a chunk more of the log (never past `end`).
  private func fill() throws(SystemError) -> Int {
    if taken > 0 {
      buffer.removeFirst(taken)
      bufferOffset += Int64(taken)
      scanned -= taken
      taken = 0
    }
    var wanted = Self.chunk
    if let end { wanted = Int(max(0, min(Int64(wanted), end - bufferOffset - Int64(buffer.count)))) }
    guard wanted > 0, !logEnded else { return 0 }
    let had = buffer.count
    buffer += repeatElement(0, count: wanted)
    let at = bufferOffset + Int64(had)
    let n = try retryingSyscall("pread") {
      buffer.withUnsafeMutableBytes { raw in raw.baseAddress.map { pread(log, $0 + had, wanted, off_t(at)) } ?? 0 }
    }
    buffer.removeLast(wanted - n)
    if n == 0 { logEnded = true } else { indexEnded = false }
    return n
  }

  /// The time of the line that starts at `offset` (offsets only grow from call to call): the
  /// last index entry at or before it.
  private func timeOfLine(at offset: Int64) throws(SystemError) -> Time? {
    while true {
      if upcoming == nil { upcoming = try nextEntry() }
      guard let entry = upcoming, entry.offset <= offset else { return current }
      current = entry.time
      upcoming = nil
    }
  }

  /// The index's next well-formed entry, or nil if none is there yet.
  private func nextEntry() throws(SystemError) -> (offset: Int64, time: Time)? {
    while true {
      if let newline = Self.firstNewline(in: indexBytes, from: indexTaken, to: indexBytes.count) {
        let fields = indexBytes[indexTaken..<newline].split(separator: 32)
        indexTaken = newline + 1
        if fields.count == 3, let offset = Int64(String(decoding: fields[0], as: UTF8.self)),
          let seconds = Int64(String(decoding: fields[1], as: UTF8.self)),
          let nanoseconds = Int64(String(decoding: fields[2], as: UTF8.self))
        {
          return (offset, Time(seconds: seconds, nanoseconds: nanoseconds))
        }
        continue
      }
      indexBytes.removeFirst(indexTaken)
      indexTaken = 0
      // An entry is a few dozen bytes: a longer unfinished line is no entry, and is not kept.
      if indexBytes.count > Self.chunk { indexBytes.removeAll() }
      guard !indexEnded else { return nil }
      let had = indexBytes.count
      indexBytes += repeatElement(0, count: Self.chunk)
      let n = try retryingSyscall("read") {
        indexBytes.withUnsafeMutableBytes { raw in raw.baseAddress.map { Glibc.read(index, $0 + had, Self.chunk) } ?? 0
        }
      }
      indexBytes.removeLast(Self.chunk - n)
      if n == 0 {
        indexEnded = true
        return nil
      }
    }
  }
}

/// The lines of several streams in the order they started: a stream's own order kept, the
/// first stream's line first at equal times (or when either has none).
package final class LogMerge {
  private let streams: [LogLines]
  private var heads: [LogLines.Line?]

  package init(_ streams: [LogLines]) {
    self.streams = streams
    heads = Array(repeating: nil, count: streams.count)
  }

  /// Reads past where each stream's log and index ended, which may have grown since.
  package func lookAgain() {
    for stream in streams { stream.lookAgain() }
  }

  /// The next line of any stream, or nil once none has a line there yet.
  package func next(final: Bool) throws(SystemError) -> LogLines.Line? {
    for number in streams.indices where heads[number] == nil {
      heads[number] = try streams[number].next(final: final)
    }
    var pick: Int?
    for number in heads.indices {
      guard let line = heads[number] else { continue }
      if let best = pick.flatMap({ heads[$0] }) {
        if let time = line.time, let bestTime = best.time, time < bestTime { pick = number }
      } else {
        pick = number
      }
    }
    guard let pick else { return nil }
    defer { heads[pick] = nil }
    return heads[pick]
  }
}
