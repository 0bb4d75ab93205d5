import TaskerArchive

/// `oci:DIR[:TAG]`: an OCI image layout in a directory (what `skopeo copy ... oci:DIR:TAG` and
/// `umoci` write). The directory is opened once and read only through that descriptor, without
/// following any symlink (`LayoutDirectory`).
public struct OCILayoutSource: ImageSource {
  private let reader: OCILayoutReader

  /// Opens the layout at the absolute `path` and checks its `oci-layout` version; TAG is the
  /// `org.opencontainers.image.ref.name` of the image (none: the layout's only image).
  public init(path: String, tag: String?) throws(ImageError) {
    reader = try OCILayoutReader(files: LayoutDirectory(path: path, label: "oci:" + path), tag: tag)
  }

  public func resolve(platform: Platform) throws(ImageError) -> ResolvedImage {
    try reader.resolve(platform: platform)
  }

  public func openBlob(_ descriptor: Descriptor) throws(ImageError) -> any ByteSource {
    try reader.openBlob(descriptor)
  }
}
