#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

extension RegistryClient {
  /// Answers a 401's challenge: Bearer → a token from the realm (with the user's credentials if
  /// there are any), Basic → the credentials. The header value is kept for the scope for the
  /// client's life, so each scope is authenticated once.
  func authenticate(_ header: String?, scope: String?, what: String) throws(ImageError) {
    let challenges = AuthChallenge.parse(header ?? "")
    if let bearer = challenges.first(where: { $0.scheme == "bearer" }) {
      let token = try fetchToken(bearer, scope: scope, what: what)
      state.withLock { $0.authorizations[scope ?? ""] = "Bearer " + token }
    } else if challenges.contains(where: { $0.scheme == "basic" }) {
      guard let credentials else {
        throw .registry("\(host): \(what): authentication required (no credentials: use tasker login \(host))")
      }
      state.withLock { $0.authorizations[scope ?? ""] = "Basic " + credentials.encoded }
    } else {
      throw .registry(
        "\(host): \(what): 401 Unauthorized with "
          + (header.map { "an unsupported challenge \"\(String($0.prefix(200)))\"" } ?? "no WWW-Authenticate challenge")
      )
    }
  }

  /// GET realm?service=..&scope=.. (the distribution token protocol); `token` or `access_token`
  /// of the JSON answer.
  private func fetchToken(_ challenge: AuthChallenge, scope: String?, what: String) throws(ImageError) -> String {
    guard let realm = challenge.parameters["realm"], realm.hasPrefix("https://") || realm.hasPrefix("http://")
    else { throw .registry("\(host): \(what): the Bearer challenge names no http(s) realm") }
    // Credentials go to the realm (often a host of its own, as auth.docker.io): never in clear
    // text unless the user named the registry insecure.
    if !Self.mayAsk(realm: realm, tlsVerify: options.tlsVerify) {
      throw .registry("\(host): \(what): the token realm \(realm) is not https (--tls-verify=false to allow it)")
    }
    var query: [String] = []
    if let service = challenge.parameters["service"] { query.append("service=" + Self.formEncoded(service)) }
    if let scope = scope ?? challenge.parameters["scope"] { query.append("scope=" + Self.formEncoded(scope)) }
    let tokenURL = realm + (query.isEmpty ? "" : (realm.contains("?") ? "&" : "?") + query.joined(separator: "&"))
    var request = tls
    request.keepErrors = true
    request.maxBody = 1 << 20
    if let credentials { request.headers.append("Authorization: Basic " + credentials.encoded) }
    let prefix = "\(host): \(what): the token endpoint \(realm)"
    let bytes: [UInt8]
    let status: Int
    do {
      let source = try HTTPSource(url: tokenURL, options: request, stallSeconds: options.stallSeconds)
      status = try source.responseHead().status
      bytes = try readWhole(source, what: "token")
    } catch {
      throw .registry("\(prefix) failed: \(Self.reason(Self.imageError(error)))")
    }
    switch status {
    case 200: break
    case 401, 403:
      throw .registry(
        "\(prefix) refused "
          + (credentials == nil
            ? "anonymous access (\(status)): use tasker login \(host)" : "the credentials (\(status))"))
    default: throw .registry("\(prefix) answered \(status)")
    }
    struct Answer: Decodable {
      var token: String?
      var accessToken: String?
      enum CodingKeys: String, CodingKey {
        case token
        case accessToken = "access_token"
      }
    }
    guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(bytes)),
      let token = answer.token ?? answer.accessToken, !token.isEmpty
    else { throw .registry("\(prefix) answered no token (not JSON with token or access_token)") }
    guard token.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
      throw .registry("\(prefix) answered a token with spaces or control characters")
    }
    return token
  }

  /// application/x-www-form-urlencoded, as the token protocol's query wants.
  static func formEncoded(_ text: String) -> String {
    var out = ""
    for byte in text.utf8 {
      let unreserved =
        (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte) || "-._~".utf8.contains(byte)
      if unreserved {
        out.append(Character(UnicodeScalar(byte)))
      } else {
        let digits = Array("0123456789ABCDEF")
        out += "%" + String(digits[Int(byte >> 4)]) + String(digits[Int(byte & 15)])
      }
    }
    return out
  }

  /// Whether a token realm may be asked (with the user's credentials): https, or anything when
  /// the user turned TLS verification off.
  static func mayAsk(realm: String, tlsVerify: Bool) -> Bool {
    !tlsVerify || realm.lowercased().hasPrefix("https://")
  }
}
