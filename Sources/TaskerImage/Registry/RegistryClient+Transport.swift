import TaskerArchive

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

extension RegistryClient {
  /// One request to the registry, through authentication and retries: the open response (its
  /// headers read, its body still to come), whatever its status. 401 is answered once by the
  /// challenge's scheme; 429 and 5xx, resets, cuts and stalls are retried with backoff.
  func send(
    _ path: String, accept: [String]?, range: Int64?, maxBody: Int64?, scope: String?, what: String
  ) throws(ImageError) -> (HTTPSource, HTTPResponseHead) {
    var authenticated = false
    var attempt = 0
    while true {
      var request = tls
      request.keepErrors = true
      request.maxBody = maxBody
      if let accept { request.headers.append("Accept: " + accept.joined(separator: ", ")) }
      if let range { request.headers.append("Range: bytes=\(range)-") }
      if let authorization = state.withLock({ $0.authorizations[scope ?? ""] }) {
        request.headers.append("Authorization: " + authorization)
      }
      let target = url(path)
      var opened: HTTPSource?
      let head: HTTPResponseHead
      do {
        let source = try HTTPSource(url: target, options: request, stallSeconds: options.stallSeconds)
        opened = source
        head = try source.responseHead()
      } catch {
        let code = opened?.transferCode ?? 0
        if fallBackToHTTP() { continue }
        if attempt < retry.retries, RetryPolicy.retryableTransfers.contains(code) {
          RetryPolicy.sleep(seconds: retry.delay(afterAttempt: attempt, retryAfter: nil))
          attempt += 1
          continue
        }
        if opened?.bodyTooLarge == true, let maxBody {
          throw .format("\(host): \(what) is larger than \(maxBody) bytes: refused")
        }
        throw .registry("\(host): \(what): \(Self.reason(Self.imageError(error)))")
      }
      guard let source = opened else { continue }
      markSchemeChosen()
      if head.status == 401 && !authenticated {
        authenticated = true
        try authenticate(head.wwwAuthenticate, scope: scope, what: what)
        continue
      }
      if RetryPolicy.retryableStatuses.contains(head.status) && attempt < retry.retries {
        RetryPolicy.sleep(seconds: retry.delay(afterAttempt: attempt, retryAfter: head.retryAfter))
        attempt += 1
        continue
      }
      return (source, head)
    }
  }

  /// An error response as one line: the host, what was asked, the status and the registry's reason.
  func failure(_ head: HTTPResponseHead, source: HTTPSource, what: String) -> ImageError {
    let detail = registryMessage(source)
    let status = head.status
    let why: String
    switch status {
    case 401:
      why =
        credentials == nil
        ? "authentication required (no credentials: use tasker login \(host))"
        : "the credentials were refused (401 Unauthorized)"
    case 403: why = "access denied (403 Forbidden)"
    case 404:
      why = what.hasPrefix("manifest") ? "manifest unknown (404 Not Found)" : "not found (404 Not Found)"
    case 429: why = "too many requests (429), still after \(retry.retries) retries"
    case 500...599: why = "server error \(status), still after \(retry.retries) retries"
    default: why = "unexpected status \(status)"
    }
    return .registry("\(host): \(what): \(why)" + (detail.map { ": " + $0 } ?? ""))
  }

  /// The first message of a registry error body (`{"errors":[{"code":..,"message":..}]}`).
  private func registryMessage(_ source: HTTPSource) -> String? {
    struct Body: Decodable {
      struct Entry: Decodable {
        var code: String?
        var message: String?
      }
      var errors: [Entry]?
    }
    let bytes = (try? source.readToEnd(limit: 64 << 10)) ?? []
    guard let body = try? JSONDecoder().decode(Body.self, from: Data(bytes)), let first = body.errors?.first else {
      return nil
    }
    let text = [first.code, first.message].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
    return text.isEmpty ? nil : String(text.prefix(300))
  }

  /// With TLS verification off, a registry that does not speak https is spoken to in plain http
  /// (podman's rule for an insecure registry); decided by the first request, then kept.
  private func fallBackToHTTP() -> Bool {
    guard !options.tlsVerify else { return false }
    return state.withLock { state in
      guard !state.schemeChosen, state.scheme == "https" else { return false }
      state.scheme = "http"
      state.schemeChosen = true
      return true
    }
  }

  private func markSchemeChosen() { state.withLock { $0.schemeChosen = true } }

  static func reason(_ error: ImageError) -> String {
    if case .download(let message, _) = error { return message }
    if case .httpStatus(let status, _) = error { return "HTTP \(status)" }
    return error.description
  }
}
