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
  /// Members whose owner the extracting process's user namespace does not map (a rootless
  /// extraction without subordinate ids): they belong to the extracting user instead.
  public var unmappedOwners = 0
  /// Layer mode: the whiteouts made (character devices 0/0, overlayfs's "deleted here").
  public var whiteouts = 0
  /// Layer mode: the directories a `.wh..wh..opq` marked opaque, relative to the root, each
  /// once, in archive order, as the raw bytes of their names (a name need not be UTF-8). The
  /// marker itself (`trusted.overlay.opaque`) is written by `LayerMarkers.markOpaque`, in
  /// tasker, because writing a `trusted.*` attribute needs CAP_SYS_ADMIN, which tasker-unpack
  /// never holds.
  public var opaqueDirectories: [[UInt8]] = []
  /// Layer mode: the SHA-256 of the decompressed tar stream (the layer's diff_id, 64 hex
  /// digits), when the extracting process computed it.
  public var diffID: String?

  public init() {}
}
