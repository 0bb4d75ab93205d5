import Glibc

/// A terminal's settings, saved so that they can be put back (`tcgetattr`/`tcsetattr`).
public struct TerminalMode: Sendable {
  public let fd: Int32
  private let saved: termios

  /// The settings of the terminal on `fd`, or nil when `fd` is not a terminal.
  public static func current(of fd: Int32) -> TerminalMode? {
    var settings = termios()
    guard tcgetattr(fd, &settings) == 0 else { return nil }
    return TerminalMode(fd: fd, saved: settings)
  }

  /// Puts the terminal in raw mode (`cfmakeraw`): bytes pass unchanged, ^C included, and no
  /// echo; the task's own terminal does the line editing.
  public func makeRaw() throws(SystemError) {
    var raw = saved
    cfmakeraw(&raw)
    if tcsetattr(fd, TCSANOW, &raw) != 0 { throw SystemError("tcsetattr", errno: errno) }
  }

  /// Puts back the settings saved.
  public func restore() {
    var settings = saved
    _ = tcsetattr(fd, TCSADRAIN, &settings)
  }

  /// The terminal's size in rows and columns (`TIOCGWINSZ`), or nil.
  public static func size(of fd: Int32) -> (rows: Int, columns: Int)? {
    var size = winsize()
    guard ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_row > 0, size.ws_col > 0 else { return nil }
    return (Int(size.ws_row), Int(size.ws_col))
  }

  /// Whether `fd` is a terminal.
  public static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }
}
