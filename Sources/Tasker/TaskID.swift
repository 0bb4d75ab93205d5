import TaskerSystem

/// A task's identity: 12 lowercase hex digits drawn from the kernel's random source.
///
/// Never a PID (PIDs are reused), short enough to type, and safe as a file name.
public struct TaskID: Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
  public let rawValue: String

  /// Number of hex digits in an ID.
  public static let length = 12

  /// Validates `text` as a full ID.
  public init?(_ text: String) {
    guard Self.isWellFormed(text) else { return nil }
    rawValue = text
  }

  /// A fresh random ID.
  public static func generate() -> TaskID {
    TaskID(unchecked: randomHex(bytes: length / 2))
  }

  init(unchecked text: String) { rawValue = text }

  /// Whether `text` has the shape of an ID.
  public static func isWellFormed(_ text: String) -> Bool {
    text.utf8.count == length && isHexPrefix(text)
  }

  /// Whether `text` is non-empty lowercase hex, at most an ID long (a prefix one could type).
  public static func isHexPrefix(_ text: String) -> Bool {
    !text.isEmpty && text.utf8.count <= length
      && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
  }

  public var description: String { rawValue }
  public static func < (lhs: TaskID, rhs: TaskID) -> Bool { lhs.rawValue < rhs.rawValue }

  public init(from decoder: any Decoder) throws {
    let text = try decoder.singleValueContainer().decode(String.self)
    guard Self.isWellFormed(text) else {
      throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "bad task ID"))
    }
    rawValue = text
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(rawValue)
  }
}
