/// What a request carries beyond its URL: for the registry protocol, which needs headers, HEAD,
/// error answers it can read, a bounded body and its own TLS trust.
public struct HTTPRequestOptions: Sendable, Equatable {
  /// Extra headers, as "Name: value" (Accept, Authorization, Range).
  public var headers: [String] = []
  /// HEAD instead of GET.
  public var head = false
  /// An HTTP error status is answered like any other (its headers and body can be read), not thrown.
  public var keepErrors = false
  /// A body longer than this fails ("the response is longer than N bytes"): refused from its
  /// Content-Length when announced, else aborted once exceeded. nil: no bound.
  public var maxBody: Int64?
  /// Trusted CAs as PEM (nil: the system's bundle, as libcurl finds it).
  public var caPEM: [UInt8]?
  /// A client certificate and its key (PEM files).
  public var clientCertificate: String?
  public var clientKey: String?
  /// Neither the peer's certificate nor its name is checked (`--tls-verify=false`).
  public var insecure = false

  public init() {}
}
