import Foundation
import TaskerArchive
import TaskerImage
import Testing

/// The registry client against a registry that misbehaves on purpose (fake_registry.py): each
/// hostile answer is one clear error, and what should recover does.
@Suite(.serialized) struct FakeRegistryTests {
  /// Plain HTTP (the fake has no TLS: --tls-verify=false lets the client fall back to http),
  /// no certs.d and no stored credentials of the user's, quick retries.
  static func client(_ registry: FakeRegistry, _ repository: String, stallSeconds: Int = 5, retries: Int = 2)
    throws -> RegistryClient
  {
    let options = RegistryOptions(
      tlsVerify: false, certsDirectory: "/nonexistent", authFile: "/nonexistent/auth.json",
      stallSeconds: stallSeconds, retries: retries)
    let reference = RegistryReference(host: registry.host, repository: repository, tag: "latest")
    return try RegistryClient(reference: reference, options: options, backoffBase: 0.01)
  }

  static func drain(_ source: any ByteSource) throws -> Int {
    var total = 0
    var buffer = [UInt8](repeating: 0, count: 64 << 10)
    while true {
      let n = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
      if n == 0 { return total }
      total += n
    }
  }

  /// The message `body` fails with (an empty string if it does not fail).
  static func failure(_ body: () throws -> Void) -> String {
    do {
      try body()
      return ""
    } catch {
      return "\(error)"
    }
  }

  let amd64 = Platform(os: "linux", architecture: "amd64")

  @Test func resolvesAndStreamsAnImage() throws {
    let registry = try FakeRegistry()
    defer { registry.stop() }
    let image = try Self.client(registry, "ok").resolve(platform: amd64)
    #expect(image.config.config?.Env == ["ARCH=amd64"])
    #expect(image.manifest.layers.count == 1)
    let layer = try Self.client(registry, "ok").openBlob(image.manifest.layers[0])
    #expect(try Self.drain(layer) == 256 * 1024)
    // Through ImageSources, as create and pull reach it.
    let opened = try ImageSources.open(
      try ImageReference(parsing: "docker://\(registry.host)/ok:latest"),
      registry: RegistryOptions(tlsVerify: false, certsDirectory: "/nonexistent", authFile: "/nonexistent/a.json"))
    #expect(try opened.resolve(platform: amd64).manifestDigest == image.manifestDigest)
  }

  @Test func plainHTTPOnlyWithTLSVerificationOff() throws {
    let registry = try FakeRegistry()
    defer { registry.stop() }
    let options = RegistryOptions(certsDirectory: "/nonexistent", authFile: "/nonexistent/auth.json", retries: 0)
    let client = try RegistryClient(
      reference: RegistryReference(host: registry.host, repository: "ok", tag: "latest"), options: options)
    let message = Self.failure { _ = try client.resolve(platform: amd64) }
    #expect(message.hasPrefix("\(registry.host): manifest ok:latest: ") && !message.contains("\n"))
    #expect(try registry.count("manifest") == 0)
  }

  @Test func choosesThePlatformFromAnIndex() throws {
    let registry = try FakeRegistry()
    defer { registry.stop() }
    let client = try Self.client(registry, "multi")
    let arm = try client.resolve(platform: Platform(os: "linux", architecture: "arm64"))
    #expect(arm.config.config?.Env == ["ARCH=arm64"])
    let amd = try client.resolve(platform: amd64)
    #expect(amd.config.config?.Env == ["ARCH=amd64"])
    #expect(arm.manifestDigest != amd.manifestDigest)
    let missing = Self.failure { _ = try client.resolve(platform: Platform(os: "linux", architecture: "s390x")) }
    #expect(missing.contains("no image for linux/s390x") && missing.contains("linux/amd64, linux/arm64"))
    // A lone manifest for another platform is refused too.
    let lone = Self.failure {
      _ = try Self.client(registry, "ok").resolve(platform: Platform(os: "linux", architecture: "arm64"))
    }
    #expect(lone.contains("no image for linux/arm64") && lone.contains("linux/amd64"))
  }

  @Test func aBlobThatDoesNotMatchItsDigestFails() throws {
    let registry = try FakeRegistry()
    defer { registry.stop() }
    let client = try Self.client(registry, "badblob")
    let image = try client.resolve(platform: amd64)
    let message = Self.failure { _ = try Self.drain(try client.openBlob(image.manifest.layers[0])) }
    #expect(
      message.contains("does not match its digest") && message.contains(image.manifest.layers[0].digest.description))
  }

  @Test(arguments: ["bigmanifest", "bigchunked"]) func aHugeManifestIsRefused(_ mode: String) throws {
    let registry = try FakeRegistry()
    defer { registry.stop() }
    let message = Self.failure { _ = try Self.client(registry, mode).resolve(platform: amd64) }
    #expect(message.contains("larger than \(8 << 20) bytes: refused") && message.contains(mode))
  }

  @Test func aManifestNotMatchingTheRegistrysDigestIsRefused() throws {
    let registry = try FakeRegistry()
    defer { registry.stop() }
    let message = Self.failure { _ = try Self.client(registry, "wrongdigest").resolve(platform: amd64) }
    #expect(message.hasPrefix("manifest wrongdigest:latest does not match its digest"))
  }

  @Test func schema1IsRefusedWithWhatToDo() throws {
    let registry = try FakeRegistry()
    defer { registry.stop() }
    let message = Self.failure { _ = try Self.client(registry, "schema1").resolve(platform: amd64) }
    #expect(message.contains("Docker schema 1") && message.contains("push the image again"))
  }

  @Test func redirectsAreFollowedAndALoopIsNamed() throws {
    let registry = try FakeRegistry()
    defer { registry.stop() }
    let client = try Self.client(registry, "redirect")
    let image = try client.resolve(platform: amd64)
    #expect(try Self.drain(try client.openBlob(image.manifest.layers[0])) == 256 * 1024)
    let loop = Self.failure { _ = try Self.client(registry, "redirectloop").resolve(platform: amd64) }
    #expect(loop.contains("redirect loop") && loop.contains(registry.host))
  }

  @Test func bearerTokensAreFetchedOncePerScope() throws {
    let registry = try FakeRegistry()
    defer { registry.stop() }
    let client = try Self.client(registry, "token")
    let image = try client.resolve(platform: amd64)
    #expect(try Self.drain(try client.openBlob(image.manifest.layers[0])) == 256 * 1024)
    #expect(try registry.count("token") == 1)
  }

  @Test func aFailingTokenEndpointIsOneLine() throws {
    let registry = try FakeRegistry()
    defer { registry.stop() }
    let down = Self.failure { _ = try Self.client(registry, "tokenfail").resolve(platform: amd64) }
    #expect(down.contains("token endpoint") && down.contains("answered 500") && !down.contains("\n"))
    let garbage = Self.failure { _ = try Self.client(registry, "tokenjson").resolve(platform: amd64) }
    #expect(garbage.contains("token endpoint") && garbage.contains("no token"))
  }

  @Test func refusalsNameTheHostAndWhatWasAsked() throws {
    let registry = try FakeRegistry()
    defer { registry.stop() }
    let unauthorized = Self.failure { _ = try Self.client(registry, "status401").resolve(platform: amd64) }
    #expect(unauthorized.contains("authentication required") && unauthorized.contains("tasker login \(registry.host)"))
    let forbidden = Self.failure { _ = try Self.client(registry, "status403").resolve(platform: amd64) }
    #expect(forbidden.contains("access denied") && forbidden.contains("status403:latest"))
    let missing = Self.failure { _ = try Self.client(registry, "status404").resolve(platform: amd64) }
    #expect(
      missing
        == "\(registry.host): manifest status404:latest: manifest unknown (404 Not Found): MANIFEST_UNKNOWN: manifest unknown"
    )
    let busy = Self.failure { _ = try Self.client(registry, "status429", retries: 1).resolve(platform: amd64) }
    #expect(busy.contains("too many requests (429), still after 1 retries"))
  }

  @Test func aPassingOutageIsRetried() throws {
    let registry = try FakeRegistry()
    defer { registry.stop() }
    let image = try Self.client(registry, "flaky").resolve(platform: amd64)
    #expect(image.config.config?.Cmd == ["/bin/sh"])
    #expect(try registry.count("manifest") == 2)
    let none = Self.failure { _ = try Self.client(registry, "flaky", retries: 0).resolve(platform: amd64) }
    #expect(none.isEmpty)  // the outage was the server's first request only
  }

  @Test func aCutBlobIsResumedWithRange() throws {
    let registry = try FakeRegistry()
    defer { registry.stop() }
    let client = try Self.client(registry, "cut")
    let image = try client.resolve(platform: amd64)
    #expect(try Self.drain(try client.openBlob(image.manifest.layers[0])) == 256 * 1024)
    #expect(try registry.count("range") == 1)
    // Without retries the cut is the error.
    let cut = Self.failure {
      _ = try Self.drain(try Self.client(registry, "cut", retries: 0).openBlob(image.manifest.layers[0]))
    }
    #expect(cut.contains(registry.host) && cut.contains("blob \(image.manifest.layers[0].digest)"))
  }

  @Test func aStalledRegistryTimesOut() throws {
    let registry = try FakeRegistry()
    defer { registry.stop() }
    let message = Self.failure {
      _ = try Self.client(registry, "stall", stallSeconds: 1, retries: 1).resolve(platform: amd64)
    }
    #expect(message.contains("no data received for 1 seconds") && message.contains("stall:latest"))
  }

  /// `create --timeout` is the registry client's stall limit as well (it used to stay 30 s, so a
  /// stalled registry failed a create only after minutes whatever --timeout said).
  @Test func createsTimeoutAppliesToARegistry() throws {
    let registry = try FakeRegistry()
    defer { registry.stop() }
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let result = try box.tasker([
      "create", "--quiet", "--timeout", "1", "--tls-verify=false", "--cert-dir", "/nonexistent",
      "--authfile", "/nonexistent/auth.json", "docker://\(registry.host)/stall:latest",
    ])
    #expect(result.status != 0 && result.stdout.isEmpty)
    #expect(result.stderr.contains("no data received for 1 seconds"), "\(result.stderr)")
    #expect(box.tasksOnRecord().isEmpty)
  }
}

/// Recovery paths of blobs: a registry that ignores Range, a stall mid-blob, and credentials
/// kept from the host a redirect leads to.
@Suite(.serialized) struct FakeRegistryRecoveryTests {
  let amd64 = Platform(os: "linux", architecture: "amd64")

  @Test func aRetryAnsweredWholeSkipsWhatWasAlreadyPassedOn() throws {
    let registry = try FakeRegistry()
    defer { registry.stop() }
    let client = try FakeRegistryTests.client(registry, "cutnorange")
    let image = try client.resolve(platform: amd64)
    #expect(try FakeRegistryTests.drain(try client.openBlob(image.manifest.layers[0])) == 256 * 1024)
    #expect(try registry.count("range") == 1)
  }

  @Test func aBlobStalledHalfWayIsResumed() throws {
    let registry = try FakeRegistry()
    defer { registry.stop() }
    let client = try FakeRegistryTests.client(registry, "stallblob", stallSeconds: 1)
    let image = try client.resolve(platform: amd64)
    #expect(try FakeRegistryTests.drain(try client.openBlob(image.manifest.layers[0])) == 256 * 1024)
    #expect(try registry.count("range") == 1)
  }

  @Test func theTokenIsNotSentToTheHostARedirectLeadsTo() throws {
    let registry = try FakeRegistry()
    defer { registry.stop() }
    let client = try FakeRegistryTests.client(registry, "tokenredirect")
    let image = try client.resolve(platform: amd64)
    #expect(try FakeRegistryTests.drain(try client.openBlob(image.manifest.layers[0])) == 256 * 1024)
    #expect(try registry.count("token") == 1)
    #expect(try registry.count("storageauth") == 0)
  }
}
