/// An archive member's name, checked and split into components.
///
/// Names are kept as bytes: a tar member's name need not be UTF-8, and rewriting it would
/// create a different file than the image asked for.
public struct MemberPath: Equatable, Sendable {
  /// The components, none empty, `.` or `..`. Empty for the root itself (`./`).
  public var components: [[UInt8]]

  /// Why a member name is refused.
  public enum Refusal: Error, Equatable, Sendable, CustomStringConvertible {
    case absolute
    case parentReference
    case empty
    case tooLong(Int)

    public var description: String {
      switch self {
      case .absolute: return "absolute path outside the image root"
      case .parentReference: return "path contains \"..\" and could leave the image root"
      case .empty: return "empty name"
      case .tooLong(let limit): return "name longer than \(limit) bytes"
      }
    }
  }

  /// Parses a member name. A leading `./` (one or many) is the image root and is dropped; `.`
  /// components and repeated slashes are dropped; absolute names and `..` are refused.
  public init(_ bytes: [UInt8], maxLength: Int = 4095) throws(Refusal) {
    if bytes.isEmpty { throw .empty }
    if bytes.count > maxLength { throw .tooLong(maxLength) }
    if bytes[0] == UInt8(ascii: "/") { throw .absolute }
    var components: [[UInt8]] = []
    for part in bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
      if part.elementsEqual([UInt8(ascii: ".")]) { continue }
      if part.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) { throw .parentReference }
      components.append(Array(part))
    }
    self.components = components
  }

  /// Whether this is the image root itself.
  public var isRoot: Bool { components.isEmpty }

  /// The path relative to the root, components joined by `/` (`.` for the root).
  public var relative: [UInt8] {
    if components.isEmpty { return [UInt8(ascii: ".")] }
    return Array(components.joined(separator: [UInt8(ascii: "/")]))
  }

  /// The parent's relative path (`.` at the top).
  public var parent: [UInt8] {
    if components.count <= 1 { return [UInt8(ascii: ".")] }
    return Array(components.dropLast().joined(separator: [UInt8(ascii: "/")]))
  }

  /// The last component.
  public var leaf: [UInt8] { components.last ?? [UInt8(ascii: ".")] }
}

extension Array where Element == UInt8 {
  /// Calls `body` with these bytes as a NUL-terminated C string.
  @inlinable
  func withCString<R>(_ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
    var copy = self
    copy.append(0)
    return try copy.withUnsafeBufferPointer { buffer in
      try buffer.withMemoryRebound(to: CChar.self) { try body($0.baseAddress.unsafelyUnwrapped) }
    }
  }

  /// The bytes as text for messages (invalid UTF-8 shown as U+FFFD).
  var display: String { String(decoding: self, as: UTF8.self) }
}
