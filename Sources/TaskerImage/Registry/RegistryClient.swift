import Synchronization
import TaskerArchive

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// An image in a registry, read through the registry HTTP API v2 (the OCI distribution spec):
/// manifests negotiated (OCI index and manifest, Docker manifest list and schema 2), an index
/// followed to the platform asked for, every document and blob checked against its digest,
/// bearer and basic authentication, per-registry TLS, retries and resumed blobs.
public final class RegistryClient: ImageSource, Sendable {
  public let reference: RegistryReference
  let options: RegistryOptions
  let tls: HTTPRequestOptions
  let credentials: AuthFile.Credentials?
  let retry: RetryPolicy
  let state = Mutex(State())

  struct State {
    /// "https", or "http" once https failed for a registry with TLS verification off.
    var scheme = "https"
    var schemeChosen = false
    /// Authorization header values, by scope ("" for the registry's root).
    var authorizations: [String: String] = [:]
  }

  /// What every manifest request accepts, most wanted first.
  static let manifestTypes = [
    MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest,
  ]

  /// A client for `reference`'s registry. Credentials are `credentials` if given, else those
  /// stored for the host (`AuthFile`); `backoffBase` is the first retry's wait in seconds.
  public init(
    reference: RegistryReference, options: RegistryOptions, credentials: AuthFile.Credentials? = nil,
    backoffBase: Double = 0.25
  ) throws(ImageError) {
    self.reference = reference
    self.options = options
    tls = try RegistryTLS.options(host: reference.host, registry: options)
    if let credentials {
      self.credentials = credentials
    } else {
      let paths = AuthFile.lookupPaths(explicit: options.authFile, environment: AuthFile.processEnvironment)
      self.credentials = try AuthFile.credentials(for: reference.host, paths: paths)
    }
    retry = RetryPolicy(retries: max(0, options.retries), base: backoffBase)
  }

  var host: String { reference.host }
  var scope: String { "repository:\(reference.repository):pull" }

  func url(_ path: String) -> String {
    state.withLock { $0.scheme } + "://" + reference.apiHost + path
  }

  // MARK: ImageSource

  public func resolve(platform: Platform) throws(ImageError) -> ResolvedImage {
    let name = "docker://" + reference.description
    let asked = reference.manifestReference
    var (bytes, contentType) = try manifest(asked, expected: reference.digest, size: nil)
    var manifestDigest = try Digest(hex: sha256Hex(bytes))
    var fromIndex = false
    if MediaType.isIndex(try mediaType(of: bytes, contentType: contentType, what: asked)) {
      let index: ImageIndex = try decode(bytes, what: "the index of \(name)")
      let entry = try index.manifest(for: platform, reference: name)
      (bytes, contentType) = try manifest(entry.digest.description, expected: entry.digest, size: entry.size)
      manifestDigest = entry.digest
      fromIndex = true
      guard MediaType.isManifest(try mediaType(of: bytes, contentType: contentType, what: entry.digest.description))
      else { throw .format("\(host): \(reference.repository)@\(entry.digest) is not an image manifest") }
    }
    let manifest: ImageManifest = try decode(bytes, what: "the manifest of \(name)")
    let configBytes = try blobDocument(manifest.config, what: "the config of \(name)")
    let config: ImageConfig = try decode(configBytes, what: "the config of \(name)")
    // An index's entry was chosen for the platform; a lone manifest says its own in the config.
    if !fromIndex, let os = config.os, let architecture = config.architecture,
      os != platform.os || architecture != platform.architecture
    {
      throw .platform("no image for \(platform) in \(name) (it is \(os)/\(architecture)): choose one with --platform")
    }
    return ResolvedImage(
      reference: name, manifestDigest: manifestDigest, manifest: manifest, configDigest: manifest.config.digest,
      config: config, configBytes: configBytes)
  }

  public func openBlob(_ descriptor: Descriptor) throws(ImageError) -> any ByteSource {
    let blob = try RegistryBlobSource(client: self, descriptor: descriptor)
    return VerifyingSource(blob, expected: descriptor.digest, size: descriptor.size, what: "blob \(descriptor.digest)")
  }

  /// Checks that the registry answers and accepts the client's credentials (`GET /v2/` through
  /// the authentication flow): what `tasker login` does before it stores them.
  public func checkAccess() throws(ImageError) {
    let (source, head) = try send("/v2/", accept: nil, range: nil, maxBody: 64 << 10, scope: nil, what: "/v2/")
    if head.status == 200 { return }
    throw failure(head, source: source, what: "the registry's API (/v2/)")
  }

  // MARK: Documents

  /// The manifest or index `ref` (a tag or digest), bounded by `maxDocumentBytes` and checked
  /// against `expected` (when asked by digest) and the registry's Docker-Content-Digest.
  func manifest(_ ref: String, expected: Digest?, size: Int64?) throws(ImageError) -> ([UInt8], String?) {
    let what = "manifest \(reference.repository)" + (ref.hasPrefix("sha256:") ? "@" : ":") + ref
    var attempt = 0
    var result: ([UInt8], HTTPResponseHead)?
    while result == nil {
      let (source, head) = try send(
        "/v2/\(reference.repository)/manifests/\(ref)", accept: Self.manifestTypes, range: nil,
        maxBody: Int64(Self.maxDocumentBytes), scope: scope, what: what)
      guard head.status == 200 else { throw failure(head, source: source, what: what) }
      do {
        result = (try readWhole(source, what: what), head)
      } catch {
        // A body cut or stalled after its headers: the whole request again, as for a reset.
        guard attempt < retry.retries, RetryPolicy.retryableTransfers.contains(source.transferCode) else {
          throw error
        }
        RetryPolicy.sleep(seconds: retry.delay(afterAttempt: attempt, retryAfter: nil))
        attempt += 1
      }
    }
    guard let (bytes, head) = result else { throw .registry("\(host): \(what): no answer") }
    if let expected {
      try VerifyingSource.check(bytes, expected: expected, size: size, what: what)
    } else if let announced = head.dockerContentDigest, let digest = try? Digest(announced) {
      try VerifyingSource.check(bytes, expected: digest, size: nil, what: what)
    }
    return (bytes, head.contentType)
  }

  /// A small blob held whole (the config), bounded and verified.
  func blobDocument(_ descriptor: Descriptor, what: String) throws(ImageError) -> [UInt8] {
    guard descriptor.size <= Int64(Self.maxDocumentBytes) else {
      throw .format("\(what) is \(descriptor.size) bytes, more than the \(Self.maxDocumentBytes) allowed")
    }
    let source = try openBlob(descriptor)
    do {
      return try source.readToEnd()
    } catch let error as ImageError {
      throw error
    } catch {
      throw .registry("\(host): \(what): \(error)")
    }
  }

  /// The whole body of a response whose size the transfer bounds.
  func readWhole(_ source: HTTPSource, what: String) throws(ImageError) -> [UInt8] {
    do {
      return try source.readToEnd()
    } catch {
      if source.bodyTooLarge {
        throw .format("\(host): \(what) is larger than \(Self.maxDocumentBytes) bytes: refused")
      }
      throw .registry("\(host): \(what): \(Self.reason(Self.imageError(error)))")
    }
  }

  /// The document's media type: its `mediaType` member, else the response's Content-Type.
  /// Docker schema 1 is refused here.
  func mediaType(of bytes: [UInt8], contentType: String?, what: String) throws(ImageError) -> String? {
    struct Probe: Decodable {
      var schemaVersion: Int?
      var mediaType: String?
    }
    let probe = try? JSONDecoder().decode(Probe.self, from: Data(bytes))
    let header = contentType.map { String($0.prefix { $0 != ";" }).trimmingBlanks }
    let type = probe?.mediaType ?? header
    if probe?.schemaVersion == 1 || type == MediaType.dockerSchema1 || type == MediaType.dockerSchema1Signed {
      throw .format(
        "\(host): \(reference.repository):\(what) is a Docker schema 1 manifest, which tasker does not support:"
          + " push the image again with a current docker or podman (schema 2 or OCI)")
    }
    if let type, !MediaType.isIndex(type), !MediaType.isManifest(type) {
      throw .format("\(host): \(reference.repository):\(what) has media type \(type), not an image manifest or index")
    }
    return type
  }

  func decode<T: Decodable>(_ bytes: [UInt8], what: String) throws(ImageError) -> T {
    do {
      return try JSONDecoder().decode(T.self, from: Data(bytes))
    } catch {
      throw .format("\(host): \(what) is not valid JSON for its type: \(error)")
    }
  }

  static func imageError(_ error: any Error) -> ImageError {
    (error as? ImageError) ?? .registry("\(error)")
  }
}
