/// How tasker talks to registries: what `--tls-verify`, `--cert-dir` and `--authfile` say.
public struct RegistryOptions: Sendable, Equatable {
  /// false (`--tls-verify=false`): certificates are not checked, and plain HTTP is used where
  /// the registry offers no TLS (podman's meaning: the registry is named insecure).
  public var tlsVerify: Bool
  /// Per-registry CAs and client certificates: `<dir>/HOST[:PORT]/*.crt, *.cert, *.key`.
  public var certsDirectory: String
  /// The auth.json to read and write; nil: `$REGISTRY_AUTH_FILE`, else
  /// `$XDG_RUNTIME_DIR/containers/auth.json` (root without XDG_RUNTIME_DIR:
  /// `/run/containers/0/auth.json`), then `~/.docker/config.json` for reading.
  public var authFile: String?
  /// Seconds without a byte before a transfer is given up (then retried).
  public var stallSeconds: Int
  /// Attempts per request after the first, on 429, 5xx, resets and stalls (with backoff).
  public var retries: Int

  public init(
    tlsVerify: Bool = true, certsDirectory: String = "/etc/containers/certs.d", authFile: String? = nil,
    stallSeconds: Int = 30, retries: Int = 4
  ) {
    self.tlsVerify = tlsVerify
    self.certsDirectory = certsDirectory
    self.authFile = authFile
    self.stallSeconds = stallSeconds
    self.retries = retries
  }
}

/// The source of a reference's documents and blobs.
public enum ImageSources {
  /// Opens `reference` (a path is taken as it is: the caller makes it absolute).
  public static func open(_ reference: ImageReference, registry: RegistryOptions) throws(ImageError)
    -> any ImageSource
  {
    switch reference {
    case .registry(let registryReference):
      return try RegistryClient(reference: registryReference, options: registry)
    case .ociLayout(let path, let tag): return try OCILayoutSource(path: path, tag: tag)
    case .ociArchive(let path, let tag): return try OCIArchiveSource(path: path, tag: tag)
    case .dockerArchive(let path, let name): return try DockerArchiveSource(path: path, name: name)
    }
  }
}
