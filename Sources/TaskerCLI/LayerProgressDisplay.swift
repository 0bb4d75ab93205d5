import Glibc
import Synchronization
import Tasker

/// The layers of a pull on stderr: on a terminal one line per layer, redrawn in place (at most
/// ten times a second); otherwise one line per layer once it is done (`tasker pull` only: a
/// create that is not on a terminal stays silent, as it does for tarball images).
final class LayerProgressDisplay: Sendable {
  private struct State {
    var lines: [String] = []
    var drawn = 0
    var lastDrawn: Double = 0
  }
  private let state = Mutex(State())
  private let terminal: Bool

  /// nil with `quiet`, and off a terminal unless `linesWhenDone`.
  static func make(quiet: Bool, linesWhenDone: Bool) -> LayerProgressDisplay? {
    if quiet { return nil }
    let terminal = isatty(STDERR_FILENO) != 0
    return terminal || linesWhenDone ? LayerProgressDisplay(terminal: terminal) : nil
  }

  private init(terminal: Bool) { self.terminal = terminal }

  var callback: @Sendable (LayerProgress) -> Void { { [self] in update($0) } }

  static func line(_ event: LayerProgress) -> String {
    let name = "layer \(event.index + 1)/\(event.count) \(event.digest.hex.prefix(12))"
    switch event.state {
    case .fetching: return "  \(name): \(megabytes(event.received)) / \(megabytes(event.total))"
    case .unpacked: return "  \(name): unpacked (\(megabytes(event.total)))"
    case .present: return "  \(name): already present"
    }
  }

  private func update(_ event: LayerProgress) {
    let text = Self.line(event)
    if !terminal {
      if event.state != .fetching { write(text + "\n") }
      return
    }
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    let seconds = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    let output: String? = state.withLock { state in
      if state.lines.count < event.count {
        state.lines += Array(repeating: "", count: event.count - state.lines.count)
      }
      state.lines[event.index] = text
      // A layer's last line is always drawn; the bytes at most ten times a second.
      guard event.state != .fetching || seconds - state.lastDrawn >= 0.1 else { return nil }
      state.lastDrawn = seconds
      var out = state.drawn > 0 ? "\u{1b}[\(state.drawn)A" : ""
      for line in state.lines { out += "\r\u{1b}[K" + line + "\n" }
      state.drawn = state.lines.count
      return out
    }
    if let output { write(output) }
  }

  private func write(_ text: String) { writeToStandardError(text) }

  private static func megabytes(_ bytes: Int64) -> String { mebibytes(bytes) }
}
