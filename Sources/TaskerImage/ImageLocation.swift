#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Where an image comes from: an http(s) URL or a local file (a `file://` URL or a path).
public enum ImageLocation: Equatable, Sendable, CustomStringConvertible {
  case http(String)
  case file(String)

  /// Parses what the user typed. A string with no `scheme://` is a local path.
  public init(_ text: String) throws(ImageError) {
    guard let separator = text.firstRange(of: "://") else {
      if text.isEmpty { throw .invalidURL(text) }
      self = .file(text)
      return
    }
    let scheme = text[..<separator.lowerBound].lowercased()
    switch scheme {
    case "http", "https":
      self = .http(text)
    case "file":
      guard let url = URL(string: text), url.host == nil || url.host == "" || url.host == "localhost"
      else { throw .invalidURL(text) }
      let path = url.path(percentEncoded: false)
      if path.isEmpty { throw .invalidURL(text) }
      self = .file(path)
    default:
      throw .unsupportedScheme(String(text[..<separator.lowerBound]))
    }
  }

  public var description: String {
    switch self {
    case .http(let url): return url
    case .file(let path): return path
    }
  }
}
