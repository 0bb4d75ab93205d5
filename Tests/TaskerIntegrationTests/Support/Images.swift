import Foundation
import Glibc

/// Busybox root filesystem images built once per test run, in every format, and a loopback
/// HTTP server (scripts/serve.py) that serves them.
final class Images: @unchecked Sendable {
  private static let cached = Result { try Images() }
  /// The images and server, built on first use.
  static func shared() throws -> Images { try cached.get() }

  let directory: URL
  let port: Int
  private let server: Process
  private let serverInput: Pipe

  static let formats = ["tar", "tar.gz", "tar.bz2", "tar.xz", "tar.zst"]
  nonisolated(unsafe) static var removeAtExit: String?

  private init() throws {
    let scratch = try Scratch("tasker-images")
    directory = scratch.url
    // The images serve every test of the run; they go when the test process exits.
    Self.removeAtExit = scratch.path
    atexit {
      if let path = Images.removeAtExit { try? FileManager.default.removeItem(atPath: path) }
    }
    let script = repositoryRoot.appendingPathComponent("scripts/make-busybox-rootfs.sh").path
    for format in Self.formats {
      let result = try run("/bin/bash", [script, directory.appendingPathComponent("busybox.\(format)").path])
      guard result.status == 0 else { throw ImagesError.build(result.stderr) }
    }
    // Not an archive at all, and an archive cut in half.
    try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) })
      .write(to: directory.appendingPathComponent("garbage.tar.gz"))
    let whole = try Data(contentsOf: directory.appendingPathComponent("busybox.tar.gz"))
    try whole.prefix(whole.count / 2).write(to: directory.appendingPathComponent("truncated.tar.gz"))

    // busybox plus the chroot-escape helper, the probe, the network probe and the lease holder
    // (Tests/Fixtures; the network probe also kept beside the images, for the tests' own
    // namespaces), and an image whose /proc is a symlink out.
    let tree = try Scratch("tasker-tree")
    defer { tree.remove() }
    let unpack = try run("/bin/tar", ["-C", tree.path, "-xf", directory.appendingPathComponent("busybox.tar").path])
    guard unpack.status == 0 else { throw ImagesError.build(unpack.stderr) }
    for helper in ["escape", "probe", "netprobe", "lease"] {
      let source = repositoryRoot.appendingPathComponent("Tests/Fixtures/\(helper).c").path
      let compiled = try run("/usr/bin/cc", ["-static", "-O2", "-o", tree.path + "/" + helper, source])
      guard compiled.status == 0 else { throw ImagesError.build(compiled.stderr) }
    }
    try FileManager.default.copyItem(
      atPath: tree.path + "/netprobe", toPath: directory.appendingPathComponent("netprobe").path)
    let packed = try run(
      "/bin/tar", ["-C", tree.path, "-cf", directory.appendingPathComponent("busybox-escape.tar").path, "."])
    guard packed.status == 0 else { throw ImagesError.build(packed.stderr) }
    try FileManager.default.removeItem(atPath: tree.path + "/proc")
    try FileManager.default.createSymbolicLink(atPath: tree.path + "/proc", withDestinationPath: "/etc")
    let badProc = try run(
      "/bin/tar", ["-C", tree.path, "-cf", directory.appendingPathComponent("busybox-badproc.tar").path, "."])
    guard badProc.status == 0 else { throw ImagesError.build(badProc.stderr) }

    server = Process()
    server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    server.arguments = [
      "python3", repositoryRoot.appendingPathComponent("scripts/serve.py").path, directory.path, "--exit-on-eof",
      "--log", directory.appendingPathComponent("requests.log").path,
    ]
    let output = Pipe()
    serverInput = Pipe()
    server.standardOutput = output
    server.standardInput = serverInput
    try server.run()
    let line = String(decoding: output.fileHandleForReading.availableDataUntilNewline(), as: UTF8.self)
    guard line.hasPrefix("PORT "), let port = Int(line.dropFirst(5).trimmingCharacters(in: .whitespacesAndNewlines))
    else { throw ImagesError.server(line) }
    self.port = port
  }

  /// The statuses the server answered for `path` (from its request log).
  func responses(for path: String) -> [String] {
    let log = (try? String(contentsOf: directory.appendingPathComponent("requests.log"), encoding: .utf8)) ?? ""
    return log.split(separator: "\n").compactMap { line in
      let fields = line.split(separator: " ")
      return fields.count == 2 && fields[1] == "/" + path ? String(fields[0]) : nil
    }
  }

  func url(_ name: String) -> String { "http://127.0.0.1:\(port)/\(name)" }
  func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
  func sha256(_ name: String) throws -> String {
    let result = try run("/usr/bin/sha256sum", [path(name)])
    return String(result.stdout.prefix(64))
  }
}

enum ImagesError: Error {
  case build(String)
  case server(String)
}

extension FileHandle {
  /// Reads byte by byte up to a newline (for a child's first line, without over-reading).
  func availableDataUntilNewline() -> Data {
    var data = Data()
    while true {
      let byte = readData(ofLength: 1)
      if byte.isEmpty || byte == Data([0x0a]) { return data }
      data.append(byte)
    }
  }
}
