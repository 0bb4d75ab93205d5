/// The OCI runtime spec's state of a container, what a runtime's `state` command prints and what
/// hooks read on their stdin.
public struct ContainerState: Codable, Equatable, Sendable {
  /// Where a container is in its lifecycle (`status`).
  public enum Status: String, Codable, Sendable {
    /// The runtime is making the container (`creating`).
    case creating
    /// Made, and the user's program not yet started (`created`).
    case created
    /// The user's program is running (`running`).
    case running
    /// The user's program has ended (`stopped`).
    case stopped
  }

  /// The version of the spec the state follows (`ociVersion`).
  public var ociVersion: String
  /// The container's ID, unique on the host (`id`).
  public var id: String
  /// Where the container is in its lifecycle (`status`).
  public var status: Status
  /// The container's init process as the host sees it, while created or running (`pid`).
  public var pid: Int32?
  /// The absolute path of the container's bundle directory (`bundle`).
  public var bundle: String
  /// The annotations of the container's `config.json` (`annotations`).
  public var annotations: [String: String]?

  public init(
    ociVersion: String, id: String, status: Status, pid: Int32? = nil, bundle: String,
    annotations: [String: String]? = nil
  ) {
    self.ociVersion = ociVersion
    self.id = id
    self.status = status
    self.pid = pid
    self.bundle = bundle
    self.annotations = annotations
  }
}
