import Glibc

/// Which lines of a task's logs to print, and how (`logs --tail`, `--since`, `--timestamps`).
public struct LogSelection: Sendable, Equatable {
  /// Only the last N lines (of both streams together, in the order they were written).
  public var tail: Int?
  /// Only lines that started at or after this time (seconds since 1970).
  public var since: Double?
  /// Each line prefixed with the time it started (RFC 3339, UTC, nanoseconds) and a space.
  public var timestamps: Bool

  public init(tail: Int? = nil, since: Double? = nil, timestamps: Bool = false) {
    self.tail = tail
    self.since = since
    self.timestamps = timestamps
  }

  /// Everything, byte for byte: what `logs` prints without options.
  public var isEverything: Bool { tail == nil && since == nil && !timestamps }

  /// A time as podman's `--since` takes it: RFC 3339 (`2026-12-02T03:00:00Z`, with a fraction
  /// or an offset such as `+01:00`; without a zone it is local time), a date (`2026-12-02`,
  /// local midnight), seconds since 1970 (`1796180000.5`), or a duration before `now` in Go's
  /// notation (`10m`, `1h30m`, `90s`, `500ms`). Nil if it is none of these.
  public static func parseTime(_ text: String, now: Double) -> Double? {
    if let duration = parseDuration(text) { return now - duration }
    if !text.isEmpty, text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }),
      text.filter({ $0 == "." }).count <= 1, text.first != ".", let seconds = Double(text)
    {
      return seconds
    }
    return parseRFC3339(text)
  }

  /// Go's duration notation: one or more NUMBER UNIT (ns, us, µs, ms, s, m, h), in seconds.
  static func parseDuration(_ text: String) -> Double? {
    let units: [(String, Double)] = [
      ("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600),
    ]
    var rest = Substring(text)
    var total = 0.0
    if rest.isEmpty { return nil }
    while !rest.isEmpty {
      let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
      guard !number.isEmpty, let value = Double(number) else { return nil }
      rest = rest.dropFirst(number.count)
      // Longest unit first: "ms" before "m".
      guard let unit = units.sorted(by: { $0.0.count > $1.0.count }).first(where: { rest.hasPrefix($0.0) }) else {
        return nil
      }
      rest = rest.dropFirst(unit.0.count)
      total += value * unit.1
    }
    return total
  }

  static func parseRFC3339(_ text: String) -> Double? {
    let bytes = Array(text.utf8)
    func number(_ range: Range<Int>) -> Int? {
      guard range.upperBound <= bytes.count else { return nil }
      var value = 0
      for byte in bytes[range] {
        guard (48...57).contains(byte) else { return nil }
        value = value * 10 + Int(byte - 48)
      }
      return value
    }
    guard bytes.count >= 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
      let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), (1...12).contains(month),
      (1...31).contains(day)
    else { return nil }
    var fields = tm()
    fields.tm_year = Int32(year - 1900)
    fields.tm_mon = Int32(month - 1)
    fields.tm_mday = Int32(day)
    fields.tm_isdst = -1
    var fraction = 0.0
    var index = 10
    var offset: Int?  // seconds east of UTC; nil: local time
    if bytes.count > 10 {
      guard bytes.count >= 19, bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t") || bytes[10] == 32,
        bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"), let hour = number(11..<13),
        let minute = number(14..<16), let second = number(17..<19), hour < 24, minute < 60, second < 61
      else { return nil }
      fields.tm_hour = Int32(hour)
      fields.tm_min = Int32(minute)
      fields.tm_sec = Int32(second)
      index = 19
      if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
        var end = index + 1
        while end < bytes.count, (48...57).contains(bytes[end]) { end += 1 }
        guard end > index + 1, let value = Double("0" + String(decoding: bytes[index..<end], as: UTF8.self)) else {
          return nil
        }
        fraction = value
        index = end
      }
      if index < bytes.count {
        if bytes[index] == UInt8(ascii: "Z") || bytes[index] == UInt8(ascii: "z") {
          guard index + 1 == bytes.count else { return nil }
          offset = 0
        } else if bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
          guard bytes.count == index + 6, bytes[index + 3] == UInt8(ascii: ":"),
            let hours = number((index + 1)..<(index + 3)), let minutes = number((index + 4)..<(index + 6)),
            hours < 24, minutes < 60
          else { return nil }
          offset = (hours * 3600 + minutes * 60) * (bytes[index] == UInt8(ascii: "-") ? -1 : 1)
        } else {
          return nil
        }
      }
    }
    if let offset {
      return Double(timegm(&fields)) - Double(offset) + fraction
    }
    return Double(mktime(&fields)) + fraction
  }

  /// A line's time as `logs --timestamps` prints it: `2026-12-02T03:00:00.123456789Z`.
  public static func format(seconds: Int64, nanoseconds: Int64) -> String {
    var time = time_t(seconds)
    var fields = tm()
    gmtime_r(&time, &fields)
    func pad(_ value: Int32, _ width: Int) -> String {
      let digits = String(value)
      return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
    let nanos = String(nanoseconds)
    return "\(pad(fields.tm_year + 1900, 4))-\(pad(fields.tm_mon + 1, 2))-\(pad(fields.tm_mday, 2))T"
      + "\(pad(fields.tm_hour, 2)):\(pad(fields.tm_min, 2)):\(pad(fields.tm_sec, 2))."
      + String(repeating: "0", count: max(0, 9 - nanos.count)) + nanos + "Z"
  }
}
