/// The headers of a response the registry protocol reads.
public struct HTTPResponseHead: Sendable, Equatable {
  public var status: Int
  public var contentType: String?
  public var contentLength: Int64?
  public var dockerContentDigest: String?
  public var wwwAuthenticate: String?
  public var retryAfter: String?
  public var contentRange: String?
}

extension HTTPSource {
  /// Waits until the final response's headers are in (the first body byte, or the end of the
  /// transfer), and returns them. Transfer failures (refused, TLS, stall, too large) are thrown.
  public func responseHead() throws -> HTTPResponseHead {
    _ = try hasBody()
    let r = request.pointee
    return HTTPResponseHead(
      status: r.status, contentType: text(r.content_type),
      contentLength: r.content_length >= 0 ? r.content_length : nil,
      dockerContentDigest: text(r.docker_content_digest), wwwAuthenticate: text(r.www_authenticate),
      retryAfter: text(r.retry_after), contentRange: text(r.content_range))
  }

  /// libcurl's code for how the transfer ended (0 while it runs or when it succeeded).
  public var transferCode: Int32 { outcome.code }

  /// Whether the body was refused for being longer than `HTTPRequestOptions.maxBody`.
  public var bodyTooLarge: Bool { request.pointee.too_large != 0 }

  /// Where the last response came from, after redirects (once the transfer has ended).
  public var finalURL: String? { text(request.pointee.final_url) }
}
