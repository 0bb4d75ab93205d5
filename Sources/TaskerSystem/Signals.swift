import Glibc

/// Signal names and numbers, as `kill -l` lists them.
public enum Signals {
  /// The standard signals by name, without the `SIG` prefix.
  public static let byName: [String: Int32] = [
    "HUP": SIGHUP, "INT": SIGINT, "QUIT": SIGQUIT, "ILL": SIGILL, "TRAP": SIGTRAP,
    "ABRT": SIGABRT, "IOT": SIGABRT, "BUS": SIGBUS, "FPE": SIGFPE, "KILL": SIGKILL,
    "USR1": SIGUSR1, "SEGV": SIGSEGV, "USR2": SIGUSR2, "PIPE": SIGPIPE, "ALRM": SIGALRM,
    "TERM": SIGTERM, "STKFLT": SIGSTKFLT, "CHLD": SIGCHLD, "CONT": SIGCONT, "STOP": SIGSTOP,
    "TSTP": SIGTSTP, "TTIN": SIGTTIN, "TTOU": SIGTTOU, "URG": SIGURG, "XCPU": SIGXCPU,
    "XFSZ": SIGXFSZ, "VTALRM": SIGVTALRM, "PROF": SIGPROF, "WINCH": SIGWINCH, "IO": SIGIO,
    "POLL": SIGIO, "PWR": SIGPWR, "SYS": SIGSYS,
  ]

  /// The highest signal number Linux has (SIGRTMAX).
  public static let maximum: Int32 = 64

  /// Parses `SIGINT`, `INT`, `sigint`, `2`, `RTMIN+3`. Nil for anything else, including 0.
  public static func parse(_ text: String) -> Int32? {
    if let number = Int32(text) {
      return (1...maximum).contains(number) ? number : nil
    }
    var name = text.uppercased()
    if name.hasPrefix("SIG") { name.removeFirst(3) }
    if let number = byName[name] { return number }
    // glibc reserves the first real-time signals for itself; name them relative to its bounds.
    let rtMin = __libc_current_sigrtmin()
    let rtMax = __libc_current_sigrtmax()
    if name == "RTMIN" { return rtMin }
    if name == "RTMAX" { return rtMax }
    if name.hasPrefix("RTMIN+"), let offset = Int32(name.dropFirst(6)), rtMin + offset <= rtMax {
      return offset >= 0 ? rtMin + offset : nil
    }
    if name.hasPrefix("RTMAX-"), let offset = Int32(name.dropFirst(6)), rtMax - offset >= rtMin {
      return offset >= 0 ? rtMax - offset : nil
    }
    return nil
  }

  /// `SIGINT` for 2; `SIGRTMIN+3` for real-time signals; the number for anything else.
  public static func name(of signal: Int32) -> String {
    if let entry = byName.filter({ $0.value == signal && $0.key != "IOT" && $0.key != "POLL" })
      .min(by: { $0.key < $1.key })
    {
      return "SIG" + entry.key
    }
    let rtMin = __libc_current_sigrtmin()
    if signal >= rtMin, signal <= maximum { return "SIGRTMIN+\(signal - rtMin)" }
    return String(signal)
  }
}
