/// Bounds on what one archive may make tasker write, so that a decompression bomb or an archive
/// of millions of entries stops cleanly instead of filling the disk.
public struct ExtractionLimits: Equatable, Sendable {
  /// Total bytes of file content written.
  public var maxBytes: UInt64
  /// Number of archive members.
  public var maxEntries: Int
  /// Length of a member's path in bytes.
  public var maxPathLength: Int

  public init(maxBytes: UInt64, maxEntries: Int, maxPathLength: Int) {
    self.maxBytes = maxBytes
    self.maxEntries = maxEntries
    self.maxPathLength = maxPathLength
  }

  /// 64 GiB, 4 million members, 4095-byte paths (Linux's PATH_MAX less the NUL).
  public static let `default` = ExtractionLimits(
    maxBytes: 64 << 30, maxEntries: 4_000_000, maxPathLength: 4095)
}

/// What an extraction did.
public struct ExtractionSummary: Equatable, Sendable {
  /// Members read from the archive.
  public var entries = 0
  /// Bytes of file content written.
  public var bytes: UInt64 = 0
  /// Device nodes and sockets passed over: the jail provides its own /dev.
  public var skippedSpecialFiles = 0
  /// Members refused as unsafe and skipped (only when `skipUnsafeMembers` is set).
  public var skippedUnsafe: [String] = []
  /// Extended attributes not written (`ExtendedAttributePolicy`), in archive order.
  public var skippedAttributes: [SkippedAttribute] = []

  public init() {}
}
