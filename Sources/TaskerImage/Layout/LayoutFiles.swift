import TaskerArchive

/// Where an image layout's files are read from: a directory (`oci:`) or the members of a tar
/// (`oci-archive:`, `docker-archive:`). Paths are relative (`index.json`, `blobs/sha256/HEX`).
protocol LayoutFiles: Sendable {
  /// The reference the files belong to, for messages (`oci:/srv/layout`).
  var label: String { get }
  /// The bytes of the regular file `path`, nil when there is none; one of more than `limit`
  /// bytes is refused before it is read whole.
  func read(_ path: String, limit: Int) throws(ImageError) -> [UInt8]?
  /// The regular file `path` as a stream from its start, nil when there is none.
  func open(_ path: String) throws(ImageError) -> (any ByteSource)?
}
