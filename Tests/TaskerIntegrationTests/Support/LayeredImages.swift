import Foundation
import Glibc

/// Multi-layer OCI image layouts made by scripts/make-layered-image.py, built once and kept in the
/// package's ignored build area (`.build/test-images/layered-<script digest>/`), like DebianImage:
/// a change to the script builds them again. tasker and skopeo only ever read them.
///
/// - `busybox` (tag `latest`): three gzip layers; /etc/removed-by-whiteout deleted by a whiteout in
///   layer 2, /etc/replaced replaced by layer 2, /opt/opaque made opaque by layer 3 (lower-only
///   hidden, both and upper-only from layer 3), /opt/kept untouched; config: Cmd prints
///   `busyboxGreeting`, Env TASKER_IMAGE_ENV, WorkingDir /srv/work, User 65534:65534,
///   StopSignal SIGUSR1.
/// - `twoPlatform` (tag `multi`): an index of linux/amd64 and linux/arm64 manifests of that image,
///   each naming its platform in /etc/image-platform and TASKER_IMAGE_PLATFORM.
/// - `debian` (tag `bookworm`): DebianImage's root in four gzip layers, plus
///   `debianCapabilityFile`, a copy of /usr/bin/true with the file capability cap_net_raw+ep.
/// - `busyboxOCIArchive`, `busyboxDockerArchive`: the busybox image as `skopeo copy` writes an
///   OCI archive (tag `latest`) and a `docker save` archive (name `busybox:latest`).
enum LayeredImages {
  static let busyboxTag = "latest"
  static let twoPlatformTag = "multi"
  static let debianTag = "bookworm"
  static let busyboxGreeting = "hello from the default command of the image\n"
  static let debianCapabilityFile = "/usr/local/bin/true-with-cap"

  static func busybox() throws -> String { try built.get().busybox }
  static func twoPlatform() throws -> String { try built.get().twoPlatform }
  static func busyboxOCIArchive() throws -> String { try built.get().ociArchive }
  static func busyboxDockerArchive() throws -> String { try built.get().dockerArchive }
  static func debian() throws -> String { try debianBuilt.get() }
  /// The `debian` layout if a run as root built it already, else nil: a user other than root can
  /// neither build it (mmdebstrap, real owners) nor take the build lock.
  static var builtDebian: String? { built("debian") }
  /// The `busybox` layout (tag `latest`) if a run as root built it already, else nil.
  static var builtBusybox: String? { built("busybox") }

  private static func built(_ name: String) -> String? {
    guard let digest = try? run("/usr/bin/sha256sum", [script]).stdout.prefix(12), digest.count == 12 else {
      return nil
    }
    let target = repositoryRoot.appendingPathComponent(".build/test-images/layered-\(digest)/\(name)").path
    return FileManager.default.fileExists(atPath: target + "/index.json") ? target : nil
  }

  private struct Busybox {
    var busybox: String
    var twoPlatform: String
    var ociArchive: String
    var dockerArchive: String
  }

  private static let script = repositoryRoot.appendingPathComponent("scripts/make-layered-image.py").path
  private static let built = Result { try buildBusybox() }
  private static let debianBuilt = Result { try buildDebian() }

  /// `.build/test-images/layered-<digest of the script>`, with an exclusive lock held over `body`
  /// (test processes of one run build it once between them).
  private static func withArea<T>(_ body: (String) throws -> T) throws -> T {
    let digest = try run("/usr/bin/sha256sum", [script]).stdout.prefix(12)
    guard digest.count == 12 else { throw ImagesError.build("cannot hash \(script)") }
    let parent = repositoryRoot.appendingPathComponent(".build/test-images").path
    let area = parent + "/layered-\(digest)"
    // The images of an earlier script are never used again: they go (about 120 MB each).
    for stale in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
    where stale.hasPrefix("layered-") && parent + "/" + stale != area {
      _ = try? run("/bin/rm", ["-rf", "--one-file-system", parent + "/" + stale])
    }
    try FileManager.default.createDirectory(atPath: area, withIntermediateDirectories: true)
    let lock = open(area + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
    guard lock >= 0 else { throw ImagesError.build("cannot open \(area)/lock") }
    defer { close(lock) }
    flock(lock, LOCK_EX)
    return try body(area)
  }

  /// Runs `command` to make `target` through a staging path renamed into place, so an
  /// interrupted build never looks finished.
  private static func make(_ target: String, _ command: (String) throws -> Outcome) throws {
    if FileManager.default.fileExists(atPath: target) { return }
    let staging = target + ".tmp-\(getpid())"
    _ = try? run("/bin/rm", ["-rf", staging])
    let result = try command(staging)
    guard result.status == 0 else {
      _ = try? run("/bin/rm", ["-rf", staging])
      throw ImagesError.build("\(target): \(result.stderr)")
    }
    guard rename(staging, target) == 0 else { throw ImagesError.build("rename \(staging): \(errno)") }
  }

  private static func buildBusybox() throws -> Busybox {
    try withArea { area in
      let images = Busybox(
        busybox: area + "/busybox", twoPlatform: area + "/busybox-two-platform",
        ociArchive: area + "/busybox-oci.tar", dockerArchive: area + "/busybox-docker.tar")
      try make(images.busybox) { try run("/usr/bin/python3", [script, "busybox", $0, "--tag", busyboxTag]) }
      try make(images.twoPlatform) {
        try run(
          "/usr/bin/python3",
          [script, "busybox", $0, "--tag", twoPlatformTag, "--platforms", "linux/amd64,linux/arm64"])
      }
      let source = "oci:\(images.busybox):\(busyboxTag)"
      try make(images.ociArchive) { try run("/usr/bin/skopeo", ["copy", "-q", source, "oci-archive:\($0):latest"]) }
      try make(images.dockerArchive) {
        try run("/usr/bin/skopeo", ["copy", "-q", source, "docker-archive:\($0):busybox:latest"])
      }
      return images
    }
  }

  private static func buildDebian() throws -> String {
    let root = try DebianImage.directory()
    return try withArea { area in
      let target = area + "/debian"
      try make(target) { staging in
        // The root as a tar with its owners, modes, hard links and xattrs, then one more file
        // carrying a file capability (a pax SCHILY.xattr.security.capability header).
        let work = try Scratch("tasker-debian-layers")
        defer { work.remove() }
        let tar = work.path + "/root.tar"
        let packed = try run(
          "/bin/tar", ["--numeric-owner", "--xattrs", "--xattrs-include=*", "-C", root, "-cf", tar, "."])
        guard packed.status == 0 else { return packed }
        let file = work.path + "/cap" + debianCapabilityFile
        try FileManager.default.createDirectory(
          atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: root + "/usr/bin/true", toPath: file)
        let capped = try run("/sbin/setcap", ["cap_net_raw+ep", file])
        guard capped.status == 0 else { return capped }
        let appended = try run(
          "/bin/tar",
          [
            "--numeric-owner", "--owner=0", "--group=0", "--xattrs", "--xattrs-include=*", "-C", work.path + "/cap",
            "-rf", tar, "." + debianCapabilityFile,
          ])
        guard appended.status == 0 else { return appended }
        return try run("/usr/bin/python3", [script, "split", tar, staging, "--layers", "4", "--tag", debianTag])
      }
      return target
    }
  }
}
