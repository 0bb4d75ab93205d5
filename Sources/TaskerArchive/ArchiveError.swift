import TaskerSystem

/// Why an image archive could not be extracted.
public enum ArchiveError: Error, Sendable, CustomStringConvertible {
  /// A member that would land outside the root (`..`, an absolute name, a hardlink out of the
  /// image) or that names something tasker will not create.
  case unsafeMember(path: String, reason: String)
  /// libarchive could not read the data: not a tar archive, a corrupt or truncated stream.
  case unreadable(String)
  /// The archive held no member at all.
  case empty
  /// A bound set by `ExtractionLimits` was crossed.
  case limitExceeded(String)
  /// Writing one member failed.
  case member(path: String, SystemError)
  /// The byte source feeding the archive failed (download error, read error).
  case source(any Error & Sendable)
  /// tasker-unpack, the confined process that extracts, could not confine itself, or ended
  /// without saying how the extraction went.
  case extractionProcess(String)

  public var description: String {
    switch self {
    case .unsafeMember(let path, let reason): return "refused archive member \"\(path)\": \(reason)"
    case .unreadable(let message): return "cannot read image archive: \(message)"
    case .empty: return "image archive is empty: no files in it"
    case .limitExceeded(let message): return "image archive too large: \(message)"
    case .member(let path, let error): return "cannot extract \"\(path)\": \(error)"
    case .source(let error): return String(describing: error)
    case .extractionProcess(let message): return "image extraction failed: \(message)"
    }
  }
}
