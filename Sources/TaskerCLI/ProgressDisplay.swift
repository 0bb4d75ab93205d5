import Glibc
import Synchronization

/// One line on a terminal's stderr while an image is fetched: bytes, rate, ETA. Silent when
/// stderr is not a terminal (scripts, logs) and with --quiet; cleared when the fetch is done.
final class ProgressDisplay: Sendable {
  private struct State {
    var started: timespec = timespec()
    var lastDrawn: Double = 0
    var drawn = false
    var completed = false
  }
  private let state = Mutex(State())

  /// A display if stderr is a terminal and the user did not ask for quiet; nil otherwise.
  static func make(quiet: Bool) -> ProgressDisplay? {
    quiet || isatty(STDERR_FILENO) == 0 ? nil : ProgressDisplay()
  }

  private init() {
    state.withLock { clock_gettime(CLOCK_MONOTONIC, &$0.started) }
  }

  /// The callback for `TaskSpec.progress`: redraws at most ten times a second.
  var callback: @Sendable (Int64, Int64?) -> Void {
    { [self] received, total in update(received: received, total: total) }
  }

  private func update(received: Int64, total: Int64?) {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    let line: String? = state.withLock { state in
      let elapsed = Double(now.tv_sec - state.started.tv_sec) + Double(now.tv_nsec - state.started.tv_nsec) / 1e9
      let done = total.map { received >= $0 } ?? false
      // The last line is drawn once when the bytes are all in, then left alone.
      guard !state.completed, elapsed - state.lastDrawn >= 0.1 || (done && state.drawn) else { return nil }
      state.completed = done
      state.lastDrawn = elapsed
      state.drawn = true
      let rate = elapsed > 0 ? Double(received) / elapsed : 0
      var text = "  fetching image: " + Self.megabytes(received)
      if let total { text += " / " + Self.megabytes(total) }
      text += "  " + Self.megabytes(Int64(rate)) + "/s"
      if let total, rate > 0, total > received {
        text += "  ETA \(Int((Double(total - received) / rate).rounded(.up)))s"
      }
      return text
    }
    if let line { write("\r\u{1b}[K" + line) }
  }

  /// Erases the line.
  func finish() {
    if state.withLock({ $0.drawn }) { write("\r\u{1b}[K") }
  }

  private func write(_ text: String) { writeToStandardError(text) }

  private static func megabytes(_ bytes: Int64) -> String { mebibytes(bytes) }
}

/// Writes `text` to stderr as it is (progress lines: no buffering between redraws).
func writeToStandardError(_ text: String) {
  var text = text
  text.withUTF8 { bytes in _ = Glibc.write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
}

/// 12.3 MiB: a progress line's byte count.
func mebibytes(_ bytes: Int64) -> String {
  let tenths = Int((Double(bytes) / 1_048_576 * 10).rounded())
  return "\(tenths / 10).\(tenths % 10) MiB"
}
