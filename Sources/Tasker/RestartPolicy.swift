/// When a task's supervisor starts its command again after it ends (`--restart`), as podman's
/// policies: never, after a failure (a non-zero exit or a signal; at most N times), or always.
/// `stop` and `rm` end a task for good whatever its policy.
public enum RestartPolicy: Equatable, Sendable, CustomStringConvertible {
  case no
  /// After a failure; nil: no bound on the restarts.
  case onFailure(Int?)
  case always

  /// Parses `no`, `on-failure`, `on-failure:N` (N at least 1) or `always`.
  public init?(parsing text: String) {
    switch text {
    case "no": self = .no
    case "always": self = .always
    case "on-failure": self = .onFailure(nil)
    default:
      guard text.hasPrefix("on-failure:"), let most = Int(text.dropFirst("on-failure:".count)), most >= 1,
        most <= Int(UInt32.max)
      else { return nil }
      self = .onFailure(most)
    }
  }

  /// The form `init(parsing:)` reads.
  public var description: String {
    switch self {
    case .no: return "no"
    case .always: return "always"
    case .onFailure(nil): return "on-failure"
    case .onFailure(let most?): return "on-failure:\(most)"
    }
  }
}
