import TaskerArchive
import TaskerSystem

/// Why an image could not be fetched.
public enum ImageError: Error, Sendable, CustomStringConvertible {
  /// The location is neither http(s), file, nor a path.
  case unsupportedScheme(String)
  /// A `file://` URL that is not a local path.
  case invalidURL(String)
  /// The server answered with an HTTP error status.
  case httpStatus(Int, url: String)
  /// The transfer failed (refused, stalled, cut short, TLS, ...).
  case download(String, url: String)
  /// A local image could not be opened or read.
  case file(SystemError)
  /// The bytes did not have the SHA-256 the caller asked for.
  case checksumMismatch(expected: String, actual: String)
  /// `--sha256` was not 64 hex digits.
  case invalidChecksum(String)
  /// Not `sha256:` and 64 lowercase hex digits.
  case invalidDigest(String)
  /// Not `os/arch[/variant]`.
  case invalidPlatform(String)
  /// An image reference (`docker://...`, `oci:...`, ...) that cannot be read: the text, why.
  case invalidReference(String, reason: String)
  /// A blob, manifest or config whose bytes do not have the digest (or size) that names it.
  case digestMismatch(what: String, expected: String, actual: String)
  /// A document of the image that cannot be used: one line saying what and why (schema 1, a
  /// manifest too large, a config naming no layers, ...).
  case format(String)
  /// No image for the platform asked for: the reference, the platform, what there is.
  case platform(String)
  /// The registry refused or failed: one line (status, what was asked, the registry's reason).
  case registry(String)

  public var description: String {
    switch self {
    case .unsupportedScheme(let scheme):
      return "unsupported URL scheme \"\(scheme)\": use http://, https://, file:// or a local path"
    case .invalidURL(let url): return "invalid image URL \"\(url)\""
    case .httpStatus(let status, let url):
      return "download failed: HTTP \(status)\(Self.reason(status).map { " " + $0 } ?? "") from \(url)"
    case .download(let message, let url): return "download failed: \(message) (\(url))"
    case .file(let error): return "cannot read image: \(error)"
    case .checksumMismatch(let expected, let actual):
      return "image checksum mismatch: expected sha256 \(expected), got \(actual)"
    case .invalidChecksum(let text): return "invalid --sha256 \"\(text)\": expected 64 hex digits"
    case .invalidDigest(let text): return "invalid digest \"\(text)\": expected sha256: and 64 lowercase hex digits"
    case .invalidPlatform(let text): return "invalid platform \"\(text)\": expected os/arch[/variant], as linux/amd64"
    case .invalidReference(let text, let reason): return "invalid image reference \"\(text)\": \(reason)"
    case .digestMismatch(let what, let expected, let actual):
      return "\(what) does not match its digest: expected \(expected), got \(actual)"
    case .format(let message), .platform(let message), .registry(let message): return message
    }
  }

  private static func reason(_ status: Int) -> String? {
    switch status {
    case 400: return "Bad Request"
    case 401: return "Unauthorized"
    case 403: return "Forbidden"
    case 404: return "Not Found"
    case 408: return "Request Timeout"
    case 410: return "Gone"
    case 429: return "Too Many Requests"
    case 500: return "Internal Server Error"
    case 502: return "Bad Gateway"
    case 503: return "Service Unavailable"
    case 504: return "Gateway Timeout"
    default: return nil
    }
  }
}
