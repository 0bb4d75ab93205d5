import Foundation
import Glibc

/// Tests/Fixtures/registry/fake_registry.py on a loopback port: a registry whose repository
/// names choose how it misbehaves (see the script's docstring). Stopped by `stop()`.
final class FakeRegistry: @unchecked Sendable {
  let port: Int
  private let server: Process

  init() throws {
    server = Process()
    server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    server.arguments = [
      "python3", repositoryRoot.appendingPathComponent("Tests/Fixtures/registry/fake_registry.py").path,
    ]
    let output = Pipe()
    server.standardOutput = output
    server.standardInput = FileHandle.nullDevice
    try server.run()
    let line = String(decoding: output.fileHandleForReading.availableDataUntilNewline(), as: UTF8.self)
    guard line.hasPrefix("PORT "), let port = Int(line.dropFirst(5).trimmingCharacters(in: .whitespacesAndNewlines))
    else {
      kill(server.processIdentifier, SIGKILL)
      server.waitUntilExit()
      throw ImagesError.server(line)
    }
    self.port = port
  }

  /// `127.0.0.1:PORT`, the registry's host as a reference names it.
  var host: String { "127.0.0.1:\(port)" }

  /// How many requests of `kind` ("range", "manifest", "token") the server has seen.
  func count(_ kind: String) throws -> Int {
    let result = try run("/usr/bin/curl", ["-s", "http://\(host)/count/\(kind)"])
    return Int(result.stdout) ?? -1
  }

  /// SIGKILL: the test process may hand its children SIGTERM ignored.
  func stop() {
    kill(server.processIdentifier, SIGKILL)
    server.waitUntilExit()
  }
}
