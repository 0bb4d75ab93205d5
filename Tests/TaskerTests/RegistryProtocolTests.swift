import Foundation
import Glibc
import Testing

@testable import TaskerImage

@Suite struct AuthChallengeTests {
  @Test func bearerWithQuotedCommas() {
    let parsed = AuthChallenge.parse(
      #"Bearer realm="https://auth.example/token",service="registry,one",scope="repository:a/b:pull,push""#)
    #expect(
      parsed == [
        AuthChallenge(
          scheme: "bearer",
          parameters: [
            "realm": "https://auth.example/token", "service": "registry,one", "scope": "repository:a/b:pull,push",
          ])
      ])
  }

  @Test func severalChallengesAndCase() {
    let parsed = AuthChallenge.parse(#"Basic realm="Registry Realm", BEARER Realm="https://t", Service=svc"#)
    #expect(parsed.map(\.scheme) == ["basic", "bearer"])
    #expect(parsed[0].parameters == ["realm": "Registry Realm"])
    #expect(parsed[1].parameters == ["realm": "https://t", "service": "svc"])
  }

  @Test func escapesAndBlanks() {
    let parsed = AuthChallenge.parse("  Bearer  realm = \"a\\\"b\" ,  scope=\"x\"")
    #expect(parsed == [AuthChallenge(scheme: "bearer", parameters: ["realm": "a\"b", "scope": "x"])])
  }

  @Test func schemeWithoutParametersAndGarbage() {
    #expect(AuthChallenge.parse("Basic") == [AuthChallenge(scheme: "basic")])
    #expect(AuthChallenge.parse("") == [])
    #expect(AuthChallenge.parse("=\"x\"") == [])
  }
}

@Suite struct RetryPolicyTests {
  @Test func retryAfterSecondsAndDates() {
    let now = 784_111_777.0  // Sun, 06 Nov 1994 08:49:37 GMT
    #expect(RetryPolicy.parseRetryAfter("5", now: now) == 5)
    #expect(RetryPolicy.parseRetryAfter(" 0 ", now: now) == 0)
    #expect(RetryPolicy.parseRetryAfter("3600", now: now) == 60)
    #expect(RetryPolicy.parseRetryAfter("Sun, 06 Nov 1994 08:49:47 GMT", now: now) == 10)
    #expect(RetryPolicy.parseRetryAfter("Sun, 06 Nov 1994 08:49:00 GMT", now: now) == 0)
    // A date past year 9999 is no date (its arithmetic would overflow): nil, the default backoff.
    #expect(RetryPolicy.parseRetryAfter("Mon, 01 Jan 99999999999999 00:00:00 GMT", now: now) == nil)
    #expect(RetryPolicy.parseRetryAfter(String(repeating: "9", count: 40), now: now) == 60)
    #expect(RetryPolicy.parseRetryAfter("Mon, 07 Nov 1994 08:49:37 GMT", now: now) == 60)
    #expect(RetryPolicy.parseRetryAfter("soon", now: now) == nil)
    #expect(RetryPolicy.parseRetryAfter("-1", now: now) == nil)
    #expect(RetryPolicy.parseIMFDate("Thu, 01 Jan 1970 00:00:00 GMT") == 0)
    #expect(RetryPolicy.parseIMFDate("Tue, 29 Feb 2000 12:00:00 GMT") == 951_825_600)
  }

  @Test func backoffDoublesToItsCap() {
    let policy = RetryPolicy(retries: 5, base: 0.25, cap: 1)
    #expect((0..<4).map { policy.delay(afterAttempt: $0, retryAfter: nil) } == [0.25, 0.5, 1, 1])
    #expect(policy.delay(afterAttempt: 0, retryAfter: "2") == 2)
  }

  @Test func formEncoding() {
    #expect(RegistryClient.formEncoded("repository:a/b:pull") == "repository%3Aa%2Fb%3Apull")
    #expect(RegistryClient.formEncoded("fake,registry ~x") == "fake%2Cregistry%20~x")
  }
}

@Suite struct AuthFileTests {
  private func scratch() throws -> String {
    var template = Array("/tmp/tasker-authfile-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
    return String(cString: made)
  }

  @Test func roundTripKeepsOtherEntriesAndIsPrivate() throws {
    let dir = try scratch()
    defer { _ = try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/new/containers/auth.json"
    try FileManager.default.createDirectory(atPath: dir + "/new", withIntermediateDirectories: true)
    try AuthFile.store(.init(username: "alice", password: "p:ss/word"), for: "r.example:5000", in: path)
    try AuthFile.store(.init(username: "bob", password: "x"), for: "other.example", in: path)
    #expect(
      try AuthFile.credentials(for: "r.example:5000", paths: [path])
        == .init(username: "alice", password: "p:ss/word"))
    var info = stat()
    #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
    #expect(stat(dir + "/new/containers", &info) == 0 && info.st_mode & 0o777 == 0o700)
    #expect(try AuthFile.remove(host: "r.example:5000", from: path))
    #expect(try AuthFile.remove(host: "r.example:5000", from: path) == false)
    #expect(try AuthFile.credentials(for: "r.example:5000", paths: [path]) == nil)
    #expect(try AuthFile.hosts(in: path) == ["other.example"])
    #expect(try AuthFile.removeAll(from: path))
    #expect(try AuthFile.hosts(in: path) == [])
  }

  @Test func unknownKeysSurviveARewrite() throws {
    let dir = try scratch()
    defer { _ = try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/auth.json"
    try #"{"auths":{"a.example":{"auth":"dTpw","identitytoken":"tok"}},"credHelpers":{"gcr.io":"gcloud"}}"#
      .write(toFile: path, atomically: false, encoding: .utf8)
    try AuthFile.store(.init(username: "u", password: "q"), for: "b.example", in: path)
    let text = try String(contentsOfFile: path, encoding: .utf8)
    #expect(text.contains("\"credHelpers\"") && text.contains("\"identitytoken\" : \"tok\""))
    #expect(try AuthFile.credentials(for: "a.example", paths: [path]) == .init(username: "u", password: "p"))
  }

  @Test func lookupOrderAndDockerHubKey() throws {
    let dir = try scratch()
    defer { _ = try? FileManager.default.removeItem(atPath: dir) }
    let environment = ["XDG_RUNTIME_DIR": dir + "/run", "HOME": dir + "/home"]
    #expect(AuthFile.primaryPath(explicit: nil, environment: environment) == dir + "/run/containers/auth.json")
    #expect(
      AuthFile.primaryPath(explicit: nil, environment: environment.merging(["REGISTRY_AUTH_FILE": "/x.json"]) { $1 })
        == "/x.json")
    #expect(AuthFile.lookupPaths(explicit: "/y.json", environment: environment) == ["/y.json"])
    let paths = AuthFile.lookupPaths(explicit: nil, environment: environment)
    #expect(paths == [dir + "/run/containers/auth.json", dir + "/home/.docker/config.json"])
    try FileManager.default.createDirectory(atPath: dir + "/home/.docker", withIntermediateDirectories: true)
    let docker = #"{"auths":{"https://index.docker.io/v1/":{"auth":"ZDpo"},"both.example":{"auth":"ZDpo"}}}"#
    try docker.write(toFile: dir + "/home/.docker/config.json", atomically: false, encoding: .utf8)
    #expect(try AuthFile.credentials(for: "docker.io", paths: paths) == .init(username: "d", password: "h"))
    try AuthFile.store(.init(username: "p", password: "c"), for: "both.example", in: paths[0])
    // The containers file comes first.
    #expect(try AuthFile.credentials(for: "both.example", paths: paths) == .init(username: "p", password: "c"))
    #expect(try AuthFile.credentials(for: "none.example", paths: paths) == nil)
  }

  @Test func badBase64IsOneClearError() throws {
    let dir = try scratch()
    defer { _ = try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/auth.json"
    try #"{"auths":{"a.example":{"auth":"!!!"}}}"#.write(toFile: path, atomically: false, encoding: .utf8)
    #expect(throws: ImageError.self) { try AuthFile.credentials(for: "a.example", paths: [path]) }
    do {
      _ = try AuthFile.credentials(for: "a.example", paths: [path])
    } catch {
      #expect("\(error)".contains("a.example") && "\(error)".contains(path))
    }
  }
}

@Suite struct RegistryTLSTests {
  private func certsDirectory(_ files: [String]) throws -> String {
    var template = Array("/tmp/tasker-certsd-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
    let dir = String(cString: made)
    try FileManager.default.createDirectory(atPath: dir + "/r.example:5000", withIntermediateDirectories: true)
    for name in files {
      try "PEM of \(name)\n".write(toFile: dir + "/r.example:5000/" + name, atomically: false, encoding: .utf8)
    }
    return dir
  }

  @Test func casAreAddedToTheSystemsAndClientPairsFound() throws {
    let dir = try certsDirectory(["ca.crt", "extra.crt", "client.cert", "client.key"])
    defer { _ = try? FileManager.default.removeItem(atPath: dir) }
    let options = try RegistryTLS.options(host: "r.example:5000", registry: RegistryOptions(certsDirectory: dir))
    let pem = String(decoding: options.caPEM ?? [], as: UTF8.self)
    #expect(pem.hasSuffix("PEM of ca.crt\n\nPEM of extra.crt\n\n"))
    let system = (try? String(contentsOfFile: RegistryTLS.systemBundle, encoding: .utf8)) ?? ""
    #expect(pem.hasPrefix(system))
    #expect(options.clientCertificate == dir + "/r.example:5000/client.cert")
    #expect(options.clientKey == dir + "/r.example:5000/client.key")
    #expect(!options.insecure)
    // Another host's directory is not read; --tls-verify=false turns checking off.
    let other = try RegistryTLS.options(
      host: "other.example", registry: RegistryOptions(tlsVerify: false, certsDirectory: dir))
    #expect(other.caPEM == nil && other.clientCertificate == nil && other.insecure)
  }

  @Test(arguments: [["client.cert"], ["client.key"]]) func halfAClientPairIsAnError(_ files: [String]) throws {
    let dir = try certsDirectory(files)
    defer { _ = try? FileManager.default.removeItem(atPath: dir) }
    #expect(throws: ImageError.self) {
      _ = try RegistryTLS.options(host: "r.example:5000", registry: RegistryOptions(certsDirectory: dir))
    }
  }
}

/// A token realm is asked with the user's credentials: never over plain http unless TLS
/// verification is off.
struct TokenRealmTests {
  @Test func plainHTTPRealmsNeedTLSVerificationOff() {
    #expect(RegistryClient.mayAsk(realm: "https://auth.example.com/token", tlsVerify: true))
    #expect(!RegistryClient.mayAsk(realm: "http://auth.example.com/token", tlsVerify: true))
    #expect(RegistryClient.mayAsk(realm: "http://127.0.0.1:5000/token", tlsVerify: false))
  }
}
