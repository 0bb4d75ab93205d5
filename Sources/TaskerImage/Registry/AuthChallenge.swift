/// One challenge of a `WWW-Authenticate` header (RFC 9110 §11.6.1): a scheme and its
/// parameters, as a registry sends them (`Bearer realm="https://auth/token",service="registry",
/// scope="repository:library/busybox:pull"`, or `Basic realm="Registry Realm"`).
public struct AuthChallenge: Sendable, Equatable {
  /// Lowercased: `bearer`, `basic`.
  public var scheme: String
  /// Parameter names lowercased; values unquoted (`\x` escapes undone).
  public var parameters: [String: String]

  public init(scheme: String, parameters: [String: String] = [:]) {
    self.scheme = scheme
    self.parameters = parameters
  }

  /// The challenges of a header value (several may be joined with commas; a comma inside a
  /// quoted value is part of it). Written by hand: neither libcurl nor Foundation exposes a
  /// parser for this grammar. Malformed text ends the parse; what was read before it is kept.
  public static func parse(_ header: String) -> [AuthChallenge] {
    var scanner = Scanner(Array(header.utf8))
    var challenges: [AuthChallenge] = []
    while true {
      scanner.skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: ",") }
      let scheme = scanner.token()
      if scheme.isEmpty { break }
      var challenge = AuthChallenge(scheme: scheme.lowercased())
      // Parameters: name=value pairs separated by commas, until a token not followed by "=",
      // which starts the next challenge.
      while true {
        let mark = scanner.position
        scanner.skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") || $0 == UInt8(ascii: ",") }
        let name = scanner.token()
        scanner.skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        guard !name.isEmpty, scanner.take(UInt8(ascii: "=")) else {
          scanner.position = mark
          break
        }
        scanner.skip { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        let value = scanner.peek == UInt8(ascii: "\"") ? scanner.quoted() : scanner.token()
        challenge.parameters[name.lowercased()] = value
      }
      challenges.append(challenge)
    }
    return challenges
  }

  private struct Scanner {
    let bytes: [UInt8]
    var position = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skip(while matches: (UInt8) -> Bool) {
      while let byte = peek, matches(byte) { position += 1 }
    }

    mutating func take(_ byte: UInt8) -> Bool {
      guard peek == byte else { return false }
      position += 1
      return true
    }

    /// RFC 9110's token characters.
    mutating func token() -> String {
      let start = position
      skip { byte in
        (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte)
          || "!#$%&'*+-.^_`|~/:".utf8.contains(byte)
      }
      return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    mutating func quoted() -> String {
      position += 1
      var value: [UInt8] = []
      while let byte = peek {
        position += 1
        if byte == UInt8(ascii: "\"") { break }
        if byte == UInt8(ascii: "\\"), let next = peek {
          position += 1
          value.append(next)
        } else {
          value.append(byte)
        }
      }
      return String(decoding: value, as: UTF8.self)
    }
  }
}
