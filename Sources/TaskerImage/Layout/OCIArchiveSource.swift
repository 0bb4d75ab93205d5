import TaskerArchive

/// `oci-archive:FILE[:TAG]`: an OCI image layout in a tar, read in place (`TarMembers`: the
/// members indexed once, then served by offset). A compressed archive is refused, since it
/// could only be read front to back, once per blob.
public struct OCIArchiveSource: ImageSource {
  private let reader: OCILayoutReader

  /// Indexes the archive at the absolute `path` and checks its `oci-layout` version.
  public init(path: String, tag: String?) throws(ImageError) {
    reader = try OCILayoutReader(files: TarMembers(path: path, label: "oci-archive:" + path), tag: tag)
  }

  public func resolve(platform: Platform) throws(ImageError) -> ResolvedImage {
    try reader.resolve(platform: platform)
  }

  public func openBlob(_ descriptor: Descriptor) throws(ImageError) -> any ByteSource {
    try reader.openBlob(descriptor)
  }
}
