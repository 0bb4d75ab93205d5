import Foundation
import Glibc

/// A real registry for the tests: Debian's `docker-registry` (the CNCF distribution registry) on
/// 127.0.0.1 at a free port, with TLS from a CA this test run makes (`openssl`) and htpasswd
/// authentication (`htpasswd -Bbn`), storage in a scratch directory; images are pushed into it
/// with `skopeo copy`.
///
/// This is the images-bench branch's stand-in for the registry branch's TestRegistry, with the part
/// of its API the container image tests use (`init(username:password:)`, `host`, `username`,
/// `password`, `certsDirectory`, `push(_:as:)`, `stop()`): at the merge the registry branch's file
/// replaces this one. (Authentication is always on here: a nil username stands for "tasker".)
final class TestRegistry: @unchecked Sendable {
  let scratch: Scratch
  let port: Int
  /// `127.0.0.1:PORT`, the registry's host as references name it.
  let host: String
  let username: String?
  let password: String
  /// A directory to pass as `--cert-dir` (it holds `127.0.0.1:PORT/ca.crt`, as
  /// /etc/containers/certs.d does).
  let certsDirectory: String
  private let server: Process

  /// Starts a registry and waits until it answers.
  init(username: String? = "tasker", password: String = "secret-\(getpid())") throws {
    scratch = try Scratch("tasker-registry")
    self.username = username
    self.password = password
    let dir = scratch.path
    do {
      port = try Self.freePort()
      host = "127.0.0.1:\(port)"
      certsDirectory = dir + "/certs.d"
      try FileManager.default.createDirectory(atPath: certsDirectory + "/" + host, withIntermediateDirectories: true)
      try Self.check(
        run(
          "/usr/bin/openssl",
          [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=tasker test CA",
            "-keyout", dir + "/ca.key", "-out", dir + "/ca.crt",
          ]))
      try Self.check(
        run(
          "/usr/bin/openssl",
          [
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", dir + "/server.key",
            "-out", dir + "/server.csr",
          ]))
      try "subjectAltName=IP:127.0.0.1\n".write(toFile: dir + "/san.ext", atomically: true, encoding: .utf8)
      try Self.check(
        run(
          "/usr/bin/openssl",
          [
            "x509", "-req", "-in", dir + "/server.csr", "-CA", dir + "/ca.crt", "-CAkey", dir + "/ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", dir + "/san.ext", "-out", dir + "/server.crt",
          ]))
      try FileManager.default.copyItem(atPath: dir + "/ca.crt", toPath: certsDirectory + "/" + host + "/ca.crt")
      let htpasswd = try run("/usr/bin/htpasswd", ["-Bbn", username ?? "tasker", password])
      try Self.check(htpasswd)
      try htpasswd.stdout.write(toFile: dir + "/htpasswd", atomically: true, encoding: .utf8)
      let config = """
        version: 0.1
        log:
          level: error
          accesslog:
            disabled: true
        storage:
          filesystem:
            rootdirectory: \(dir)/storage
        auth:
          htpasswd:
            realm: tasker-test
            path: \(dir)/htpasswd
        http:
          addr: \(host)
          tls:
            certificate: \(dir)/server.crt
            key: \(dir)/server.key

        """
      try config.write(toFile: dir + "/config.yml", atomically: true, encoding: .utf8)
      server = Process()
      server.executableURL = URL(fileURLWithPath: "/usr/bin/docker-registry")
      server.arguments = ["serve", dir + "/config.yml"]
      server.standardOutput = FileHandle.nullDevice
      server.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: Self.touch(dir + "/registry.log")))
      server.standardInput = FileHandle.nullDevice
      try server.run()
    } catch {
      scratch.remove()
      throw error
    }
    // Up when /v2/ answers 401 over TLS with the test's CA.
    let up = eventually(seconds: 20) {
      let probe = try? run(
        "/usr/bin/curl",
        ["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", dir + "/ca.crt", "https://\(host)/v2/"])
      return probe?.stdout == "401"
    }
    guard up else {
      let log = (try? String(contentsOfFile: dir + "/registry.log", encoding: .utf8)) ?? ""
      stop()
      throw ImagesError.server("docker-registry did not start: \(log)")
    }
  }

  /// Copies `source` (a skopeo reference: `oci:DIR:TAG`, `oci-archive:FILE`, ...) to `name`
  /// (`busybox:latest`) in this registry (of an index, the host's platform alone: skopeo's default).
  func push(_ source: String, as name: String) throws {
    try Self.check(
      run(
        "/usr/bin/skopeo",
        [
          "copy", "-q", "--dest-cert-dir", certsDirectory + "/" + host,
          "--dest-creds", "\(username ?? "tasker"):\(password)", source, "docker://\(host)/\(name)",
        ]))
  }

  /// Stops the registry and removes everything it had.
  func stop() {
    if server.isRunning {
      server.terminate()
      server.waitUntilExit()
    }
    scratch.remove()
  }

  private static func freePort() throws -> Int {
    let picked = try run(
      "/usr/bin/python3",
      ["-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"])
    guard let port = Int(picked.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
      throw ImagesError.server("no free port: \(picked.stderr)")
    }
    return port
  }

  private static func check(_ outcome: Outcome) throws {
    guard outcome.status == 0 else { throw ImagesError.build(outcome.stderr) }
  }

  private static func touch(_ path: String) -> String {
    FileManager.default.createFile(atPath: path, contents: nil)
    return path
  }
}
