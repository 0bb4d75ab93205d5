import Foundation
import Glibc
import Testing

/// A real registry for tests: Debian's `docker-registry` (the CNCF distribution registry) on
/// 127.0.0.1 with TLS from a CA made for it, and htpasswd authentication, in a scratch directory
/// that `stop()` removes with everything in it.
///
///     let registry = try TestRegistry()              // user "tasker", password "secret"
///     defer { registry.stop() }
///     try registry.push("oci-archive:/tmp/x/busybox.tar", as: "busybox:latest")
///     // docker://\(registry.host)/busybox:latest, --cert-dir \(registry.certsDirectory)
///
/// `certsDirectory` holds `127.0.0.1:PORT/ca.crt`, as `--cert-dir` and podman's certs.d want it.
final class TestRegistry: @unchecked Sendable {
  /// What the tests need installed (scripts/install-deps.sh): docker-registry, skopeo,
  /// apache2-utils (htpasswd), openssl.
  static let tools = ["/usr/bin/docker-registry", "/usr/bin/skopeo", "/usr/bin/htpasswd", "/usr/bin/openssl"]
  static var available: Bool { tools.allSatisfy { FileManager.default.isExecutableFile(atPath: $0) } }
  static let missingReason: Comment =
    "needs docker-registry, skopeo, htpasswd (apache2-utils) and openssl: scripts/install-deps.sh"

  let port: Int
  let username: String?
  let password: String
  let certsDirectory: String
  /// A certs.d with a CA that did not sign the registry's certificate.
  let wrongCertsDirectory: String
  private let scratch: Scratch
  private var server: Process?

  /// `127.0.0.1:PORT`.
  var host: String { "127.0.0.1:\(port)" }

  /// Starts a registry; with `username` nil, without authentication.
  init(username: String? = "tasker", password: String = "secret") throws {
    self.username = username
    self.password = password
    scratch = try Scratch("tasker-registry")
    let dir = scratch.path
    do {
      try Self.makeCertificates(in: dir, name: "ca")
      try Self.makeCertificates(in: dir, name: "other")
      if let username {
        let hashed = try Self.check(run("/usr/bin/htpasswd", ["-Bbn", username, password]), "htpasswd")
        try hashed.stdout.write(toFile: dir + "/htpasswd", atomically: false, encoding: .utf8)
      }
      var started: (Process, Int)?
      for _ in 0..<5 where started == nil {
        started = try Self.start(in: dir, withAuth: username != nil)
      }
      guard let (process, port) = started else { throw RegistryError.start("no port could be bound after 5 tries") }
      server = process
      self.port = port
      certsDirectory = dir + "/certs.d"
      wrongCertsDirectory = dir + "/wrong-certs.d"
      for (directory, ca) in [(certsDirectory, "ca"), (wrongCertsDirectory, "other")] {
        try FileManager.default.createDirectory(atPath: directory + "/" + host, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: dir + "/\(ca).crt", toPath: directory + "/\(host)/ca.crt")
      }
    } catch {
      if let server { kill(server.processIdentifier, SIGKILL) }
      scratch.remove()
      throw error
    }
  }

  /// Copies `source` (a skopeo reference: `oci-archive:/path.tar`, `oci:DIR:TAG`, ...) to
  /// `docker://HOST/NAME` (NAME as `busybox:latest`).
  func push(_ source: String, as name: String) throws {
    var arguments = ["copy", "--quiet", "--dest-cert-dir", certsDirectory + "/" + host]
    if let username { arguments += ["--dest-creds", "\(username):\(password)"] }
    arguments += [source, "docker://\(host)/\(name)"]
    try Self.check(run("/usr/bin/skopeo", arguments, environment: ["HOME": scratch.path]), "skopeo copy")
  }

  /// Stops the registry and removes its directory (storage, certificates, config).
  func stop() {
    if let server {
      kill(server.processIdentifier, SIGKILL)
      server.waitUntilExit()
    }
    server = nil
    scratch.remove()
  }

  private static func makeCertificates(in dir: String, name: String) throws {
    let curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    try check(
      run(
        "/usr/bin/openssl",
        ["req", "-x509"] + curve + [
          "-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).crt", "-days", "2", "-subj",
          "/CN=tasker test \(name)",
        ]), "openssl req (CA)")
    guard name == "ca" else { return }
    try check(
      run(
        "/usr/bin/openssl",
        ["req"] + curve + ["-keyout", "\(dir)/server.key", "-out", "\(dir)/server.csr", "-subj", "/CN=127.0.0.1"]),
      "openssl req (server)")
    try "subjectAltName=IP:127.0.0.1\n".write(toFile: "\(dir)/san.ext", atomically: false, encoding: .utf8)
    try check(
      run(
        "/usr/bin/openssl",
        [
          "x509", "-req", "-in", "\(dir)/server.csr", "-CA", "\(dir)/ca.crt", "-CAkey", "\(dir)/ca.key",
          "-CAcreateserial", "-out", "\(dir)/server.crt", "-days", "2", "-extfile", "\(dir)/san.ext",
        ]), "openssl x509")
  }

  /// One try on a free port: the process and its port once it answers, nil if the port was
  /// taken meanwhile (the registry exited).
  private static func start(in dir: String, withAuth: Bool) throws -> (Process, Int)? {
    let port = try freePort()
    let auth =
      withAuth
      ? """
      auth:
        htpasswd:
          realm: tasker-test
          path: \(dir)/htpasswd

      """ : ""
    let config = """
      version: 0.1
      log:
        level: error
      storage:
        filesystem:
          rootdirectory: \(dir)/storage
      http:
        addr: 127.0.0.1:\(port)
        tls:
          certificate: \(dir)/server.crt
          key: \(dir)/server.key
      \(auth)
      """
    try config.write(toFile: "\(dir)/config.yml", atomically: false, encoding: .utf8)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/docker-registry")
    process.arguments = ["serve", "\(dir)/config.yml"]
    process.standardInput = FileHandle.nullDevice
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle(forWritingAtPath: "/dev/null")
    try process.run()
    for _ in 0..<100 {
      if !process.isRunning { return nil }
      let probe = try run(
        "/usr/bin/curl",
        ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", "\(dir)/ca.crt", "https://127.0.0.1:\(port)/v2/"])
      if probe.stdout == "200" || probe.stdout == "401" { return (process, port) }
      usleep(100_000)
    }
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    throw RegistryError.start("docker-registry did not answer on port \(port)")
  }

  private static func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EIO) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
        guard bind(fd, pointer, length) == 0 else { return -1 }
        return getsockname(fd, pointer, &length)
      }
    }
    guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
    return Int(UInt16(bigEndian: address.sin_port))
  }

  @discardableResult
  private static func check(_ outcome: Outcome, _ what: String) throws -> Outcome {
    guard outcome.status == 0 else { throw RegistryError.tool(what, outcome.stderr) }
    return outcome
  }

  enum RegistryError: Error {
    case start(String)
    case tool(String, String)
  }
}
