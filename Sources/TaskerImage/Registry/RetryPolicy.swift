import Glibc

/// When a failed registry request is tried again: after 429 and 500/502/503/504 answers, resets,
/// cuts and stalls, `retries` more times, waiting `base` seconds doubled at each attempt (capped
/// at `cap`), or what the server's `Retry-After` says (capped at 60 s).
struct RetryPolicy: Sendable {
  var retries: Int
  var base: Double
  var cap: Double = 8

  static let retryableStatuses: Set<Int> = [429, 500, 502, 503, 504]

  /// libcurl codes of transfers worth trying again: cut short (18 PARTIAL_FILE), timed out or
  /// stalled (28), empty reply (52), send or receive failure, as a reset (55, 56).
  static let retryableTransfers: Set<Int32> = [18, 28, 52, 55, 56]

  /// Seconds to wait before attempt `attempt + 1` (attempt counts from 0).
  func delay(afterAttempt attempt: Int, retryAfter: String?, now: Double = Self.wallClock()) -> Double {
    if let retryAfter, let asked = Self.parseRetryAfter(retryAfter, now: now) { return asked }
    return min(cap, base * Double(1 << min(attempt, 20)))
  }

  /// `Retry-After`'s value in seconds (RFC 9110 §10.2.3: delay-seconds or an HTTP-date), capped at
  /// 60 s; nil if it is neither. A date in the past is 0.
  static func parseRetryAfter(_ text: String, now: Double) -> Double? {
    let trimmed = text.trimmingBlanks
    if !trimmed.isEmpty, trimmed.utf8.allSatisfy({ (48...57).contains($0) }) {
      return min(60, Double(trimmed) ?? 60)
    }
    guard let when = parseIMFDate(trimmed) else { return nil }
    return min(60, max(0, when - now))
  }

  /// An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT", the form RFC 9110 has servers send) as
  /// seconds since the epoch. By hand: Glibc's strptime is not visible to Swift.
  static func parseIMFDate(_ text: String) -> Double? {
    let fields = text.split(separator: " ")
    guard fields.count == 6, fields[0].hasSuffix(","), fields[5] == "GMT",
      let day = Int(fields[1]), (1...31).contains(day), let year = Int(fields[3]), (1970...9999).contains(year)
    else { return nil }
    let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    guard let monthIndex = months.firstIndex(of: String(fields[2])) else { return nil }
    let clock = fields[4].split(separator: ":").compactMap { Int($0) }
    guard clock.count == 3, (0...23).contains(clock[0]), (0...59).contains(clock[1]), (0...60).contains(clock[2])
    else { return nil }
    // Days from 1970-01-01 to the date (the proleptic Gregorian calendar, March-based years).
    let month = monthIndex + 1
    let y = month <= 2 ? year - 1 : year
    let era = y / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    let days = era * 146097 + dayOfEra - 719468
    return Double(days * 86400 + clock[0] * 3600 + clock[1] * 60 + clock[2])
  }

  static func wallClock() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
  }

  static func sleep(seconds: Double) {
    guard seconds > 0 else { return }
    var wait = timespec(tv_sec: Int(seconds), tv_nsec: Int((seconds - Double(Int(seconds))) * 1e9))
    var left = timespec()
    while nanosleep(&wait, &left) != 0 && errno == EINTR { wait = left }
  }
}

extension String {
  var trimmingBlanks: String {
    let bytes = Array(utf8)
    let start = bytes.firstIndex { $0 != 0x20 && $0 != 0x09 } ?? bytes.count
    let end = bytes.lastIndex { $0 != 0x20 && $0 != 0x09 }.map { $0 + 1 } ?? start
    return String(decoding: bytes[start..<max(start, end)], as: UTF8.self)
  }
}
