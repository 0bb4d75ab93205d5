import TaskerArchive

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

// The documents of the OCI image specification (image-spec v1.1) and their Docker schema 2
// equivalents, as tasker reads them from registries, image layouts and archives. Fields tasker
// does not use are not decoded; unknown fields are ignored, as the specification asks.

/// The media types tasker tells apart.
public enum MediaType {
  public static let ociIndex = "application/vnd.oci.image.index.v1+json"
  public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
  public static let ociConfig = "application/vnd.oci.image.config.v1+json"
  public static let ociLayer = "application/vnd.oci.image.layer.v1.tar"
  public static let ociLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip"
  public static let ociLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd"
  public static let dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
  public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
  public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
  public static let dockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
  /// An uncompressed layer of a Docker schema 2 manifest (what a `docker save` archive holds).
  public static let dockerLayer = "application/vnd.docker.image.rootfs.diff.tar"
  /// Schema 1 (signed or not): refused, with a message saying so.
  public static let dockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json"
  public static let dockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"

  /// Whether `type` is an index (OCI index or Docker manifest list).
  public static func isIndex(_ type: String?) -> Bool { type == ociIndex || type == dockerManifestList }
  /// Whether `type` is an image manifest (OCI or Docker schema 2).
  public static func isManifest(_ type: String?) -> Bool { type == ociManifest || type == dockerManifest }
}

/// `sha256:` and 64 lowercase hex digits: the only digest algorithm tasker accepts (as
/// containerd's default; sha512 is refused with a clear message).
public struct Digest: Hashable, Sendable, Codable, CustomStringConvertible {
  /// The 64 hex digits.
  public let hex: String

  /// Parses `sha256:<64 lowercase hex>`; anything else throws `ImageError.invalidDigest`.
  public init(_ text: String) throws(ImageError) {
    let prefix = "sha256:"
    guard text.hasPrefix(prefix) else { throw .invalidDigest(text) }
    let hex = text.dropFirst(prefix.count)
    guard hex.utf8.count == 64, hex.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
      throw .invalidDigest(text)
    }
    self.hex = String(hex)
  }

  public init(hex: String) throws(ImageError) { try self.init("sha256:" + hex) }

  public var description: String { "sha256:" + hex }

  public init(from decoder: any Decoder) throws {
    let text = try decoder.singleValueContainer().decode(String.self)
    do { try self.init(text) } catch {
      throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
    }
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(description)
  }
}

/// An OS and CPU an image is made for (`--platform os/arch[/variant]`).
public struct Platform: Hashable, Sendable, Codable, CustomStringConvertible {
  public var os: String
  public var architecture: String
  public var variant: String?

  enum CodingKeys: String, CodingKey {
    case os, architecture, variant
  }

  public init(os: String, architecture: String, variant: String? = nil) {
    self.os = os
    self.architecture = architecture
    self.variant = variant
  }

  /// `os/arch[/variant]`, as podman's `--platform` takes it.
  public init(parsing text: String) throws(ImageError) {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
    guard (2...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty }) else { throw .invalidPlatform(text) }
    self.init(os: parts[0], architecture: parts[1], variant: parts.count == 3 ? parts[2] : nil)
  }

  /// The platform of this process, in the OCI's names (GOOS/GOARCH).
  public static var host: Platform {
    #if arch(x86_64)
      return Platform(os: "linux", architecture: "amd64")
    #elseif arch(arm64)
      return Platform(os: "linux", architecture: "arm64", variant: "v8")
    #else
      return Platform(os: "linux", architecture: "unknown")
    #endif
  }

  public var description: String { [os, architecture, variant].compactMap { $0 }.joined(separator: "/") }
}

/// A reference to a blob: what it is, its digest and its size.
public struct Descriptor: Hashable, Sendable, Codable {
  public var mediaType: String
  public var digest: Digest
  public var size: Int64
  public var platform: Platform?
  public var annotations: [String: String]?
  /// Where else the blob may be fetched from (foreign layers): never followed.
  public var urls: [String]?

  public init(mediaType: String, digest: Digest, size: Int64, platform: Platform? = nil) {
    self.mediaType = mediaType
    self.digest = digest
    self.size = size
    self.platform = platform
  }

  /// The largest blob a descriptor may name (1 TiB): a size beyond it, or below zero, is a
  /// document that cannot be right, refused as it is decoded.
  public static let maxSize: Int64 = 1 << 40

  enum CodingKeys: String, CodingKey {
    case mediaType, digest, size, platform, annotations, urls
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    mediaType = try container.decode(String.self, forKey: .mediaType)
    digest = try container.decode(Digest.self, forKey: .digest)
    size = try container.decode(Int64.self, forKey: .size)
    guard (0...Self.maxSize).contains(size) else {
      throw DecodingError.dataCorruptedError(
        forKey: .size, in: container, debugDescription: "size \(size) is not between 0 and \(Self.maxSize)")
    }
    platform = try container.decodeIfPresent(Platform.self, forKey: .platform)
    annotations = try container.decodeIfPresent([String: String].self, forKey: .annotations)
    urls = try container.decodeIfPresent([String].self, forKey: .urls)
  }
}

/// An OCI image index or a Docker manifest list.
public struct ImageIndex: Sendable, Codable {
  public var schemaVersion: Int
  public var mediaType: String?
  public var manifests: [Descriptor]

  public init(schemaVersion: Int = 2, mediaType: String? = MediaType.ociIndex, manifests: [Descriptor]) {
    self.schemaVersion = schemaVersion
    self.mediaType = mediaType
    self.manifests = manifests
  }
}

/// An OCI image manifest or a Docker schema 2 manifest.
public struct ImageManifest: Sendable, Codable {
  public var schemaVersion: Int
  public var mediaType: String?
  public var config: Descriptor
  public var layers: [Descriptor]

  public init(
    schemaVersion: Int = 2, mediaType: String? = MediaType.ociManifest, config: Descriptor, layers: [Descriptor]
  ) {
    self.schemaVersion = schemaVersion
    self.mediaType = mediaType
    self.config = config
    self.layers = layers
  }
}

/// An image's configuration: what the image's author chose as the defaults of a task.
public struct ImageConfig: Sendable, Codable, Equatable {
  public var architecture: String?
  public var os: String?
  public var variant: String?
  public var config: Defaults?
  public var rootfs: RootFS

  /// The `config` object: the defaults. Its fields keep the document's own names (docker's
  /// capitalised keys), so that code reading them says what the image says.
  // swift-format-ignore: AlwaysUseLowerCamelCase
  public struct Defaults: Sendable, Codable, Equatable {
    public var User: String?
    public var Env: [String]?
    public var Entrypoint: [String]?
    public var Cmd: [String]?
    public var WorkingDir: String?
    public var StopSignal: String?
    public var ExposedPorts: [String: OpaqueObject]?
    public var Labels: [String: String]?

    public init() {}
  }

  /// The layers' uncompressed digests, bottom first (`diff_ids`, the document's name).
  // swift-format-ignore: AlwaysUseLowerCamelCase
  public struct RootFS: Sendable, Codable, Equatable {
    public var type: String
    public var diff_ids: [Digest]

    public init(type: String = "layers", diff_ids: [Digest]) {
      self.type = type
      self.diff_ids = diff_ids
    }
  }

  public init(architecture: String? = nil, os: String? = nil, config: Defaults? = nil, rootfs: RootFS) {
    self.architecture = architecture
    self.os = os
    self.config = config
    self.rootfs = rootfs
  }
}

/// A JSON object whose content tasker does not read (`ExposedPorts`' values are `{}`).
public struct OpaqueObject: Sendable, Codable, Equatable {
  public init() {}
  public init(from decoder: any Decoder) throws {}
  public func encode(to encoder: any Encoder) throws {
    _ = encoder.container(keyedBy: EmptyKey.self)
  }
  private struct EmptyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
  }
}

/// An image as a source resolved it for one platform: its manifest and config, each with the
/// digest its bytes were checked against.
public struct ResolvedImage: Sendable {
  /// What was asked for, as the user can type it again (`docker://host/repo:tag`).
  public var reference: String
  /// The digest of the manifest's bytes (an index's entry or the registry's answer).
  public var manifestDigest: Digest
  public var manifest: ImageManifest
  public var configDigest: Digest
  public var config: ImageConfig
  /// The config's bytes as they came (the image's ID is their digest).
  public var configBytes: [UInt8]

  public init(
    reference: String, manifestDigest: Digest, manifest: ImageManifest, configDigest: Digest, config: ImageConfig,
    configBytes: [UInt8]
  ) {
    self.reference = reference
    self.manifestDigest = manifestDigest
    self.manifest = manifest
    self.configDigest = configDigest
    self.config = config
    self.configBytes = configBytes
  }
}

/// Where an image's documents and blobs come from: a registry (`RegistryClient`), an OCI image
/// layout (`oci:`), an OCI or docker archive (`oci-archive:`, `docker-archive:`).
///
/// Every implementation checks what it hands out: a manifest's and a config's bytes against
/// their digests (and a size bound, `maxDocumentBytes`) before decoding them, and a blob's bytes
/// as they stream (`openBlob`'s source throws `ImageError.digestMismatch` at its end, or as soon
/// as more bytes than the descriptor's size arrive).
public protocol ImageSource: Sendable {
  /// The image for `platform`: an index is followed to the entry for that platform (for a
  /// platform with no variant, an entry of any variant, the first); a single manifest whose
  /// config names another platform is refused with `ImageError.platform`.
  func resolve(platform: Platform) throws(ImageError) -> ResolvedImage
  /// The blob `descriptor` names, verified as it streams. The caller reads it to its end.
  func openBlob(_ descriptor: Descriptor) throws(ImageError) -> any ByteSource
}

extension ImageSource {
  /// Manifests, indexes and configs larger than this are refused before they are read whole
  /// (containerd's limit is 4 MiB for manifests; configs of real images are far below).
  public static var maxDocumentBytes: Int { 8 << 20 }
}
