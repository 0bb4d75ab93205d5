import Foundation
import Glibc
import TaskerArchive
import TaskerImage
import Testing

/// The registry client and `tasker login`/`logout` against a real registry (docker-registry
/// with TLS and htpasswd, filled by skopeo from a busybox OCI archive).
@Suite(.serialized, .enabled(if: TestRegistry.available, TestRegistry.missingReason))
struct RegistryTests {
  /// A registry holding busybox:latest, and a scratch directory; both removed by `cleanup`.
  static func withBusybox(_ body: (TestRegistry, Scratch) throws -> Void) throws {
    let registry = try TestRegistry()
    let scratch = try Scratch("tasker-registry-test")
    defer {
      registry.stop()
      scratch.remove()
    }
    let archive = scratch.path + "/busybox.tar"
    let made = try run(
      "/bin/bash",
      [repositoryRoot.appendingPathComponent("scripts/make-oci-image.sh").path, archive, "test/busybox:latest"])
    try #require(made.status == 0, "make-oci-image.sh: \(made.stderr)")
    try registry.push("oci-archive:" + archive, as: "busybox:latest")
    try body(registry, scratch)
  }

  static func client(
    _ registry: TestRegistry, certs: String? = nil, tlsVerify: Bool = true, credentials: AuthFile.Credentials?
  ) throws -> RegistryClient {
    let options = RegistryOptions(
      tlsVerify: tlsVerify, certsDirectory: certs ?? registry.certsDirectory, authFile: "/nonexistent/auth.json",
      retries: 1)
    return try RegistryClient(
      reference: RegistryReference(host: registry.host, repository: "busybox", tag: "latest"), options: options,
      credentials: credentials, backoffBase: 0.01)
  }

  static func failure(_ body: () throws -> Void) -> String {
    do {
      try body()
      return ""
    } catch {
      return "\(error)"
    }
  }

  @Test func resolvesAndStreamsWithCredentialsOnly() throws {
    try Self.withBusybox { registry, _ in
      let anonymous = Self.failure { _ = try Self.client(registry, credentials: nil).resolve(platform: .host) }
      #expect(
        anonymous.hasPrefix("\(registry.host): manifest busybox:latest: authentication required")
          && anonymous.contains("tasker login \(registry.host)"))
      let wrong = Self.failure {
        _ = try Self.client(registry, credentials: .init(username: "tasker", password: "nope")).resolve(platform: .host)
      }
      #expect(wrong.contains("the credentials were refused"))
      let client = try Self.client(registry, credentials: .init(username: "tasker", password: "secret"))
      let image = try client.resolve(platform: .host)
      #expect(image.config.config?.Cmd == ["/bin/sh"])
      #expect(image.config.rootfs.diff_ids.count == image.manifest.layers.count)
      let layer = try client.openBlob(image.manifest.layers[0])
      var total: Int64 = 0
      var buffer = [UInt8](repeating: 0, count: 64 << 10)
      while true {
        let n = try buffer.withUnsafeMutableBytes { try layer.read(into: $0) }
        if n == 0 { break }
        total += Int64(n)
      }
      #expect(total == image.manifest.layers[0].size)
      // By digest too: the manifest's bytes are checked against it.
      let pinned = try RegistryClient(
        reference: RegistryReference(host: registry.host, repository: "busybox", digest: image.manifestDigest),
        options: RegistryOptions(certsDirectory: registry.certsDirectory, authFile: "/nonexistent/auth.json"),
        credentials: .init(username: "tasker", password: "secret"))
      #expect(try pinned.resolve(platform: .host).configDigest == image.configDigest)
    }
  }

  @Test func aCAThatDidNotSignTheRegistryIsRefused() throws {
    try Self.withBusybox { registry, _ in
      let credentials = AuthFile.Credentials(username: "tasker", password: "secret")
      let refused = Self.failure {
        _ = try Self.client(registry, certs: registry.wrongCertsDirectory, credentials: credentials)
          .resolve(platform: .host)
      }
      #expect(refused.hasPrefix("\(registry.host): manifest busybox:latest:") && refused.contains("certificate"))
      #expect(!refused.contains("\n"))
      // --tls-verify=false: the same CA is no obstacle.
      let image = try Self.client(
        registry, certs: registry.wrongCertsDirectory, tlsVerify: false, credentials: credentials
      ).resolve(platform: .host)
      #expect(image.config.config?.Cmd == ["/bin/sh"])
    }
  }

  @Test func loginStoresCheckedCredentialsAndLogoutRemovesThem() throws {
    try Self.withBusybox { registry, scratch in
      let authFile = scratch.path + "/auth/containers/auth.json"
      let common = ["--cert-dir", registry.certsDirectory, "--authfile", authFile]
      let wrong = try tasker(["login", "-u", "tasker", "-p", "nope"] + common + [registry.host])
      #expect(wrong.status == 1)
      #expect(wrong.stderrLines.count == 1 && wrong.stderr.hasPrefix("tasker: login to \(registry.host) failed: "))
      #expect(!FileManager.default.fileExists(atPath: authFile))
      let good = try tasker(["login", "-u", "tasker", "-p", "secret"] + common + [registry.host])
      #expect(good.status == 0, "\(good.stderr)")
      var info = stat()
      #expect(stat(authFile, &info) == 0 && info.st_mode & 0o777 == 0o600)
      #expect(
        try AuthFile.credentials(for: registry.host, paths: [authFile]) == .init(username: "tasker", password: "secret")
      )
      // The stored credentials are what the client uses.
      let options = RegistryOptions(certsDirectory: registry.certsDirectory, authFile: authFile)
      let client = try RegistryClient(
        reference: RegistryReference(host: registry.host, repository: "busybox", tag: "latest"), options: options)
      #expect(try client.resolve(platform: .host).manifest.layers.count >= 1)
      let out = try tasker(["logout", "--authfile", authFile, registry.host])
      #expect(out.status == 0)
      #expect(try AuthFile.credentials(for: registry.host, paths: [authFile]) == nil)
      let again = try tasker(["logout", "--authfile", authFile, registry.host])
      #expect(again.status == 1 && again.stderr == "tasker: not logged in to \(registry.host)\n")
    }
  }

  @Test func loginAsksOnATerminalWithoutEchoingThePassword() throws {
    try Self.withBusybox { registry, scratch in
      let box = try Sandbox()
      defer { box.scratch.remove() }
      let authFile = scratch.path + "/auth.json"
      let terminal = try PseudoTerminal()
      let login = try terminal.start(
        ["login", "--cert-dir", registry.certsDirectory, "--authfile", authFile, registry.host], box: box)
      #expect(terminal.read(until: "Username: "))
      terminal.type("tasker\n")
      #expect(terminal.read(until: "Password: "))
      terminal.type("secret\n")
      #expect(terminal.read(until: "Login Succeeded!"))
      #expect(finish(login, on: terminal) == 0)
      #expect(!terminal.text.contains("secret"), "\(terminal.text)")
      #expect(
        try AuthFile.credentials(for: registry.host, paths: [authFile]) == .init(username: "tasker", password: "secret")
      )
      // --password-stdin, for scripts: the trailing newline is not part of it.
      let input = scratch.path + "/password"
      try "secret\n".write(toFile: input, atomically: false, encoding: .utf8)
      let other = scratch.path + "/other.json"
      let piped = try tasker(
        [
          "login", "-u", "tasker", "--password-stdin", "--cert-dir", registry.certsDirectory, "--authfile", other,
          registry.host,
        ], box: box, stdinFile: input)
      #expect(piped.status == 0, "\(piped.stderr)")
      #expect(try AuthFile.credentials(for: registry.host, paths: [other])?.password == "secret")
    }
  }
}
