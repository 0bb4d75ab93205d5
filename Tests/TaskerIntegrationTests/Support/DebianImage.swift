import Foundation
import Glibc

/// A real Debian 12 root (`mmdebstrap --variant=minbase bookworm`, from the machine's apt
/// mirror), used as a `dir:` image. Built once and kept in the package's ignored build area
/// (`.build/test-images/bookworm-minbase`, about 180 MB) so later runs reuse it; delete that
/// directory to rebuild. tasker only ever reads it (it is an overlay's lower layer).
enum DebianImage {
  private static let built = Result { try build() }

  /// The image's directory, built on first use (serialized across test processes by a lock).
  static func directory() throws -> String { try built.get() }

  static var image: String { get throws { "dir:" + (try directory()) } }

  private static func build() throws -> String {
    let area = repositoryRoot.appendingPathComponent(".build/test-images")
    try FileManager.default.createDirectory(at: area, withIntermediateDirectories: true)
    let target = area.appendingPathComponent("bookworm-minbase").path
    let lock = open(area.appendingPathComponent("lock").path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    guard lock >= 0 else { throw ImagesError.build("cannot open the test-images lock") }
    defer { close(lock) }
    flock(lock, LOCK_EX)
    if FileManager.default.fileExists(atPath: target + "/etc/debian_version") { return target }
    let staging = target + ".tmp-\(getpid())"
    let result = try run(
      "/usr/bin/mmdebstrap", ["--variant=minbase", "--quiet", "bookworm", staging],
      environment: ["TMPDIR": ProcessInfo.processInfo.environment["TMPDIR"] ?? "/tmp"])
    guard result.status == 0 else {
      _ = try? run("/bin/rm", ["-rf", "--one-file-system", staging])
      throw ImagesError.build("mmdebstrap (scripts/install-deps.sh installs it): \(result.stderr)")
    }
    guard rename(staging, target) == 0 else { throw ImagesError.build("rename \(staging): \(errno)") }
    return target
  }
}
