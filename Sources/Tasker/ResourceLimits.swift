/// Limits on what a jailed task may use, enforced through its cgroup.
public struct ResourceLimits: Equatable, Sendable, Codable {
  /// Bytes of memory (swap included, where the host lets tasker say so).
  public var memoryBytes: UInt64?
  /// Processes and threads at once.
  public var pids: Int?
  /// CPUs' worth of time per period (1.5 = one and a half CPUs).
  public var cpus: Double?

  public init(memoryBytes: UInt64? = nil, pids: Int? = nil, cpus: Double? = nil) {
    self.memoryBytes = memoryBytes
    self.pids = pids
    self.cpus = cpus
  }

  public var isEmpty: Bool { memoryBytes == nil && pids == nil && cpus == nil }

  /// Parses a size: bytes, or a number with `k`, `m`, `g`, `t` (powers of 1024, either case,
  /// optionally followed by `b` or `ib`): `32M`, `1.5g`, `512KiB`, `4096`.
  public static func parseSize(_ text: String) -> UInt64? {
    var digits = Substring(text.lowercased())
    for suffix in ["ib", "b"] where digits.hasSuffix(suffix) && digits.count > suffix.count {
      digits = digits.dropLast(suffix.count)
      break
    }
    var multiplier: Double = 1
    if let last = digits.last, let power = ["k": 1, "m": 2, "g": 3, "t": 4][String(last)] {
      multiplier = pow1024(power)
      digits = digits.dropLast()
    }
    guard !digits.isEmpty, digits.allSatisfy({ $0.isNumber || $0 == "." }), let value = Double(digits), value > 0
    else { return nil }
    let bytes = value * multiplier
    guard bytes >= 1, bytes < 1.8e19 else { return nil }
    return UInt64(bytes)
  }

  /// A size as `parseSize` reads it, in the largest unit that divides it: `8m`, `1536k`, `1g`,
  /// `1000`.
  public static func sizeText(_ bytes: UInt64) -> String {
    for (suffix, shift) in [("t", 40), ("g", 30), ("m", 20), ("k", 10)] as [(String, UInt64)]
    where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
      return String(bytes >> shift) + suffix
    }
    return String(bytes)
  }

  private static func pow1024(_ power: Int) -> Double {
    (0..<power).reduce(1.0) { value, _ in value * 1024 }
  }
}
