import TaskerSystem

/// What tasker-unpack tells tasker about one extraction, on a pipe: the summary or the error,
/// so that tasker prints exactly what it would have printed had it extracted in-process.
///
/// One record per line, fields separated by tabs; `%`, tab, CR, LF and other control bytes
/// inside a field are written `%XX`, so a member's name can hold any byte. A field that must
/// come back as the same bytes (an opaque directory, which tasker opens by that name) has every
/// byte outside printable ASCII written `%XX` too: text fields are decoded as UTF-8, which
/// turns a byte that is not UTF-8 into U+FFFD, another name. Lines that are not records (a
/// library's complaint on stderr, which shares the pipe) are kept as they are.
public struct ExtractionReport: Equatable, Sendable {
  /// Set when the extraction finished.
  public var summary: ExtractionSummary?
  /// Set when it failed.
  public var error: ReportedFailure?
  /// `--probe` results (tests): a name and what the call returned.
  public var probes: [String: String] = [:]
  /// Lines that were not records.
  public var otherLines: [String] = []

  public init(summary: ExtractionSummary? = nil, error: ReportedFailure? = nil) {
    self.summary = summary
    self.error = error
  }

  /// An `ArchiveError` as it crosses the pipe (its `SystemError` and messages kept whole).
  public enum ReportedFailure: Equatable, Sendable {
    case archive(ArchiveErrorRecord)
    /// A confinement step failed: its name and errno.
    case confinement(step: String, errno: Int32)
  }

  /// The fields of an `ArchiveError`.
  public enum ArchiveErrorRecord: Equatable, Sendable {
    case unsafeMember(path: String, reason: String)
    case unreadable(String)
    case empty
    case limitExceeded(String)
    case member(path: String, SystemError)
    case source(String)
    case extractionProcess(String)

    public init(_ error: ArchiveError) {
      switch error {
      case .unsafeMember(let path, let reason): self = .unsafeMember(path: path, reason: reason)
      case .unreadable(let message): self = .unreadable(message)
      case .empty: self = .empty
      case .limitExceeded(let message): self = .limitExceeded(message)
      case .member(let path, let error): self = .member(path: path, error)
      case .source(let error): self = .source(String(describing: error))
      case .extractionProcess(let message): self = .extractionProcess(message)
      }
    }

    /// The error tasker throws for it.
    public var archiveError: ArchiveError {
      switch self {
      case .unsafeMember(let path, let reason): return .unsafeMember(path: path, reason: reason)
      case .unreadable(let message): return .unreadable(message)
      case .empty: return .empty
      case .limitExceeded(let message): return .limitExceeded(message)
      case .member(let path, let error): return .member(path: path, error)
      case .source(let message): return .source(ReportedMessage(message))
      case .extractionProcess(let message): return .extractionProcess(message)
      }
    }
  }

  // MARK: - Writing

  /// The records for a finished extraction.
  public static func encode(_ summary: ExtractionSummary) -> [UInt8] {
    var lines: [[Field]] = []
    for member in summary.skippedUnsafe { lines.append(["unsafe", .text(member)]) }
    for skipped in summary.skippedAttributes { lines.append(["xattr", .text(skipped.member), .text(skipped.name)]) }
    for directory in summary.opaqueDirectories { lines.append(["opaque", .bytes(directory)]) }
    if summary.whiteouts > 0 { lines.append(["whiteouts", .text(String(summary.whiteouts))]) }
    if summary.unmappedOwners > 0 { lines.append(["unmapped", .text(String(summary.unmappedOwners))]) }
    if let diffID = summary.diffID { lines.append(["diffid", .text(diffID)]) }
    lines.append([
      "done", .text(String(summary.entries)), .text(String(summary.bytes)),
      .text(String(summary.skippedSpecialFiles)),
    ])
    return render(lines)
  }

  /// The record for a failure.
  public static func encode(_ failure: ReportedFailure) -> [UInt8] {
    switch failure {
    case .confinement(let step, let errno): return render([["error", "confine", step, String(errno)]])
    case .archive(let record):
      switch record {
      case .unsafeMember(let path, let reason): return render([["error", "unsafe-member", path, reason]])
      case .unreadable(let message): return render([["error", "unreadable", message]])
      case .empty: return render([["error", "empty"]])
      case .limitExceeded(let message): return render([["error", "limit", message]])
      case .member(let path, let error):
        return render([
          [
            "error", "member", path, error.operation, error.path == nil ? "0" : "1", error.path ?? "",
            String(error.errno),
          ]
        ])
      case .source(let message): return render([["error", "source", message]])
      case .extractionProcess(let message): return render([["error", "process", message]])
      }
    }
  }

  /// The record of one probe.
  public static func encodeProbe(_ name: String, _ result: String) -> [UInt8] { render([["probe", name, result]]) }

  /// One field of a record: text (UTF-8 kept as it is) or bytes (only printable ASCII kept).
  private enum Field: ExpressibleByStringLiteral {
    case text(String)
    case bytes([UInt8])

    init(stringLiteral value: String) { self = .text(value) }
  }

  private static func render(_ lines: [[String]]) -> [UInt8] { render(lines.map { $0.map(Field.text) }) }

  private static func render(_ lines: [[Field]]) -> [UInt8] {
    var out: [UInt8] = []
    for fields in lines {
      for (index, field) in fields.enumerated() {
        if index > 0 { out.append(0x09) }
        let bytes: [UInt8]
        let keepsNonASCII: Bool
        switch field {
        case .text(let text): (bytes, keepsNonASCII) = (Array(text.utf8), true)
        case .bytes(let raw): (bytes, keepsNonASCII) = (raw, false)
        }
        for byte in bytes {
          if byte < 0x20 || byte == 0x25 || byte == 0x7f || (byte > 0x7f && !keepsNonASCII) {
            out.append(0x25)
            out.append(hexDigit(byte >> 4))
            out.append(hexDigit(byte & 0xf))
          } else {
            out.append(byte)
          }
        }
      }
      out.append(0x0a)
    }
    return out
  }

  // MARK: - Reading

  /// Parses what the pipe carried. Unknown or malformed lines go to `otherLines`.
  public static func decode(_ bytes: [UInt8]) -> ExtractionReport {
    var report = ExtractionReport()
    var summary = ExtractionSummary()
    for line in bytes.split(separator: 0x0a, omittingEmptySubsequences: true) {
      let raw = line.split(separator: 0x09, omittingEmptySubsequences: false).map { unescape(Array($0)) }
      let fields = raw.map { String(decoding: $0, as: UTF8.self) }
      switch (fields.first, fields.count) {
      case ("unsafe", 2): summary.skippedUnsafe.append(fields[1])
      case ("xattr", 3): summary.skippedAttributes.append(SkippedAttribute(member: fields[1], name: fields[2]))
      case ("opaque", 2): summary.opaqueDirectories.append(raw[1])
      case ("whiteouts", 2) where Int(fields[1]) != nil: summary.whiteouts = Int(fields[1]) ?? 0
      case ("diffid", 2): summary.diffID = fields[1]
      case ("unmapped", 2) where Int(fields[1]) != nil: summary.unmappedOwners = Int(fields[1]) ?? 0
      case ("done", 4):
        if let entries = Int(fields[1]), let bytes = UInt64(fields[2]), let specials = Int(fields[3]) {
          summary.entries = entries
          summary.bytes = bytes
          summary.skippedSpecialFiles = specials
          report.summary = summary
        } else {
          report.otherLines.append(String(decoding: line, as: UTF8.self))
        }
      case ("probe", 3): report.probes[fields[1]] = fields[2]
      case ("error", _):
        if let failure = decodeError(Array(fields.dropFirst())) {
          report.error = failure
        } else {
          report.otherLines.append(String(decoding: line, as: UTF8.self))
        }
      default: report.otherLines.append(String(decoding: line, as: UTF8.self))
      }
    }
    return report
  }

  private static func decodeError(_ fields: [String]) -> ReportedFailure? {
    switch (fields.first, fields.count) {
    case ("confine", 3): return Int32(fields[2]).map { .confinement(step: fields[1], errno: $0) }
    case ("unsafe-member", 3): return .archive(.unsafeMember(path: fields[1], reason: fields[2]))
    case ("unreadable", 2): return .archive(.unreadable(fields[1]))
    case ("empty", 1): return .archive(.empty)
    case ("limit", 2): return .archive(.limitExceeded(fields[1]))
    case ("member", 6):
      guard let code = Int32(fields[5]) else { return nil }
      let error = SystemError(fields[2], path: fields[3] == "1" ? fields[4] : nil, errno: code)
      return .archive(.member(path: fields[1], error))
    case ("source", 2): return .archive(.source(fields[1]))
    case ("process", 2): return .archive(.extractionProcess(fields[1]))
    default: return nil
    }
  }

  private static func unescape(_ bytes: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    var index = 0
    while index < bytes.count {
      if bytes[index] == 0x25, index + 2 < bytes.count, let high = hexValue(bytes[index + 1]),
        let low = hexValue(bytes[index + 2])
      {
        out.append(high << 4 | low)
        index += 3
      } else {
        out.append(bytes[index])
        index += 1
      }
    }
    return out
  }

  private static func hexDigit(_ value: UInt8) -> UInt8 { value < 10 ? 0x30 + value : 0x41 + value - 10 }

  private static func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x30...0x39: return byte - 0x30
    case 0x41...0x46: return byte - 0x41 + 10
    case 0x61...0x66: return byte - 0x61 + 10
    default: return nil
    }
  }
}

/// An error's message, carried across the pipe as text.
public struct ReportedMessage: Error, Sendable, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}
