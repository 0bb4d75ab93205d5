import TaskerArchive

/// An OCI image layout (image-spec `image-layout.md`) read through its files, wherever they are:
/// `oci-layout` checked, `index.json`, the entry TAG names, nested indexes followed to the
/// platform's manifest, every document bounded and checked against its descriptor, and blobs
/// streamed through `VerifyingSource`.
struct OCILayoutReader: Sendable {
  let files: any LayoutFiles
  let tag: String?

  /// The annotation that names an entry of `index.json` (skopeo's and umoci's tag).
  static let refName = "org.opencontainers.image.ref.name"
  /// Indexes inside indexes are followed this deep at most.
  static let maxIndexDepth = 4

  private var maxDocumentBytes: Int { OCILayoutSource.maxDocumentBytes }

  init(files: any LayoutFiles, tag: String?) throws(ImageError) {
    self.files = files
    self.tag = tag
    try checkVersion()
  }

  /// `oci-layout` must say `{"imageLayoutVersion": "1.0.0"}` (the only version there is).
  private func checkVersion() throws(ImageError) {
    struct LayoutFile: Decodable { var imageLayoutVersion: String }
    guard let bytes = try files.read("oci-layout", limit: 4096) else {
      throw .format("\(files.label) is not an OCI image layout: it has no oci-layout file")
    }
    let layout = try LayoutDocuments.decode(LayoutFile.self, bytes, what: "oci-layout of \(files.label)")
    guard layout.imageLayoutVersion == "1.0.0" else {
      throw .format(
        "\(files.label) is an OCI image layout of version \(layout.imageLayoutVersion), which tasker does not read"
          + " (it reads 1.0.0)")
    }
  }

  func resolve(platform: Platform) throws(ImageError) -> ResolvedImage {
    guard let bytes = try files.read("index.json", limit: maxDocumentBytes) else {
      throw .format("\(files.label) is not an OCI image layout: it has no index.json")
    }
    let index = try LayoutDocuments.decode(ImageIndex.self, bytes, what: "index.json of \(files.label)")
    let chosen = try entry(of: index, platform: platform)
    return try follow(chosen, platform: platform, depth: 0)
  }

  /// The entry of `index.json` TAG names; with no TAG, the only one (or, when the index is one
  /// image's platforms and names none, the platform's).
  private func entry(of index: ImageIndex, platform: Platform) throws(ImageError) -> Descriptor {
    let names = index.manifests.compactMap { $0.annotations?[Self.refName] }
    let listed = names.isEmpty ? "it names none" : "it has " + names.map { "\"\($0)\"" }.joined(separator: ", ")
    let candidates: [Descriptor]
    if let tag {
      candidates = index.manifests.filter { $0.annotations?[Self.refName] == tag }
      guard !candidates.isEmpty else { throw .format("\(files.label) has no image named \"\(tag)\" (\(listed))") }
    } else {
      guard !index.manifests.isEmpty else { throw .format("\(files.label) holds no image (its index.json is empty)") }
      let untaggedPlatforms = names.isEmpty && index.manifests.allSatisfy { $0.platform != nil }
      guard index.manifests.count == 1 || untaggedPlatforms else {
        throw .format("\(files.label) holds \(index.manifests.count) images: name one after a colon (\(listed))")
      }
      candidates = index.manifests
    }
    if candidates.count == 1 { return candidates[0] }
    // One name on several entries: the platforms of one image, as an index lists them.
    return try ImageIndex(schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: candidates)
      .manifest(for: platform, reference: reference)
  }

  /// What the user asked for, as typed again.
  var reference: String { files.label + (tag.map { ":" + $0 } ?? "") }

  /// Follows `descriptor` (an index or a manifest) to the image for `platform`.
  private func follow(_ descriptor: Descriptor, platform: Platform, depth: Int) throws(ImageError) -> ResolvedImage {
    let what = "manifest \(descriptor.digest) of \(reference)"
    if let refusal = LayoutDocuments.unsupported(descriptor.mediaType, what: what) { throw refusal }
    let bytes = try document(descriptor, what: what)
    if MediaType.isIndex(descriptor.mediaType) {
      guard depth < Self.maxIndexDepth else {
        throw .format("\(reference): indexes nested more than \(Self.maxIndexDepth) deep: refused")
      }
      let index = try LayoutDocuments.decode(ImageIndex.self, bytes, what: "index \(descriptor.digest) of \(reference)")
      return try follow(index.manifest(for: platform, reference: reference), platform: platform, depth: depth + 1)
    }
    let manifest = try LayoutDocuments.decode(ImageManifest.self, bytes, what: what)
    let configBytes = try document(manifest.config, what: "config \(manifest.config.digest) of \(reference)")
    let config = try LayoutDocuments.decode(
      ImageConfig.self, configBytes, what: "config \(manifest.config.digest) of \(reference)")
    try LayoutDocuments.check(config, manifest: manifest, platform: platform, reference: reference)
    return ResolvedImage(
      reference: reference, manifestDigest: descriptor.digest, manifest: manifest, configDigest: manifest.config.digest,
      config: config, configBytes: configBytes)
  }

  /// A document's bytes, bounded by `maxDocumentBytes` and checked against its descriptor.
  private func document(_ descriptor: Descriptor, what: String) throws(ImageError) -> [UInt8] {
    guard descriptor.size <= Int64(maxDocumentBytes) else {
      throw .format(
        "\(what) is \(descriptor.size) bytes, more than the \(maxDocumentBytes) a document may have: refused")
    }
    guard let bytes = try files.read(Self.blobPath(descriptor.digest), limit: maxDocumentBytes) else {
      throw .format("\(what) is missing from \(files.label) (no \(Self.blobPath(descriptor.digest)))")
    }
    try VerifyingSource.check(bytes, expected: descriptor.digest, size: descriptor.size, what: what)
    return bytes
  }

  func openBlob(_ descriptor: Descriptor) throws(ImageError) -> any ByteSource {
    let what = "blob \(descriptor.digest) of \(reference)"
    guard let source = try files.open(Self.blobPath(descriptor.digest)) else {
      throw .format("\(what) is missing (no \(Self.blobPath(descriptor.digest)))")
    }
    return VerifyingSource(source, expected: descriptor.digest, size: descriptor.size, what: what)
  }

  /// Where a layout keeps the blob `digest`.
  static func blobPath(_ digest: Digest) -> String { "blobs/sha256/" + digest.hex }
}
