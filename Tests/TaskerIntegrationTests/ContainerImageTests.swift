import Foundation
import Glibc
import Testing

/// The test images themselves (scripts/make-layered-image.py), checked with the peers that read
/// OCI images today: skopeo reads their documents and umoci applies their layers, so what the
/// end-to-end tests below expect of tasker is what the OCI format gives.
@Suite(.enabled(if: isRoot, rootReason), .serialized)
struct LayeredImageLayoutTests {
  /// The view a task of the busybox image must see, as a shell prints it.
  static let busyboxView =
    "whiteouts seen: 0\nopaque: . .. both upper-only\nfrom layer 2\nfrom layer 3\nfrom layer 1, never touched\n"

  @Test func busyboxHasThreeLayersAndAConfigATaskCanSee() throws {
    let layout = try LayeredImages.busybox()
    let config = try json(run("/usr/bin/skopeo", ["inspect", "--config", "oci:\(layout):latest"]))
    let inner = try #require(config["config"] as? [String: Any])
    #expect(inner["Cmd"] as? [String] == ["/bin/sh", "-c", "echo hello from the default command of the image"])
    #expect(inner["WorkingDir"] as? String == "/srv/work")
    #expect(inner["User"] as? String == "65534:65534")
    #expect(inner["StopSignal"] as? String == "SIGUSR1")
    #expect((inner["Env"] as? [String])?.contains("TASKER_IMAGE_ENV=from the image config") == true)
    let rootfs = try #require(config["rootfs"] as? [String: Any])
    #expect((rootfs["diff_ids"] as? [String])?.count == 3)
    // Each layer's diff_id is the digest of its uncompressed tar.
    let manifest = try json(run("/usr/bin/skopeo", ["inspect", "--raw", "oci:\(layout):latest"]))
    let layers = try #require(manifest["layers"] as? [[String: Any]])
    for (layer, diffID) in zip(layers, rootfs["diff_ids"] as? [String] ?? []) {
      let hex = try #require((layer["digest"] as? String)?.dropFirst("sha256:".count))
      let unpacked = try run("/bin/sh", ["-c", "gzip -dc \(layout)/blobs/sha256/\(hex) | sha256sum"])
      #expect("sha256:" + unpacked.stdout.prefix(64) == diffID)
    }
  }

  @Test func busyboxLayersGiveTheWhiteoutAndOpaqueView() throws {
    let scratch = try Scratch("tasker-umoci")
    defer { scratch.remove() }
    let bundle = scratch.path + "/bundle"
    let unpacked = try run("/usr/bin/umoci", ["unpack", "--image", "\(try LayeredImages.busybox()):latest", bundle])
    #expect(unpacked.status == 0, "\(unpacked.stderr)")
    let view = try run("/usr/sbin/chroot", [bundle + "/rootfs", "/bin/sh", "-c", Self.viewScript])
    #expect(view.stdout == Self.busyboxView, "\(view.stderr)")
    #expect(try run("/usr/bin/stat", ["-c", "%u:%g", bundle + "/rootfs/srv/work"]).stdout == "65534:65534\n")
  }

  /// Counts what a whiteout should hide in /etc (the deleted file and any marker; tasker adds
  /// /etc files of its own, so /etc is not listed whole), lists /opt/opaque and prints the three
  /// files whose layer matters.
  static let viewScript =
    "echo whiteouts seen: $(ls -a /etc | grep -c -e removed-by-whiteout -e '^\\.wh\\.');"
    + " echo opaque: $(ls -a /opt/opaque); cat /etc/replaced /opt/opaque/both /opt/kept"

  @Test func aRebuildGivesTheSameDigests() throws {
    let scratch = try Scratch("tasker-rebuild")
    defer { scratch.remove() }
    let script = repositoryRoot.appendingPathComponent("scripts/make-layered-image.py").path
    let rebuilt = try run("/usr/bin/python3", [script, "busybox", scratch.path + "/again"])
    #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
    let before = try String(contentsOfFile: LayeredImages.busybox() + "/index.json", encoding: .utf8)
    let after = try String(contentsOfFile: scratch.path + "/again/index.json", encoding: .utf8)
    #expect(before == after)
    // A second run into a finished layout is refused rather than mixed into it.
    let again = try run("/usr/bin/python3", [script, "busybox", scratch.path + "/again"])
    #expect(again.status == 1 && again.stderr.hasSuffix("already holds an image layout\n"), "\(again.stderr)")
  }

  /// split on a small root: a hard link whose name sorts before its target's, a setuid file and
  /// a directory of another owner survive a split into three layers, in each compression.
  @Test(arguments: ["gzip", "zstd", "none"])
  func splitKeepsLinksModesAndOwnersInEachCompression(compression: String) throws {
    let scratch = try Scratch("tasker-split")
    defer { scratch.remove() }
    let tree = try scratch.sub("tree").path
    let busybox = try run("/bin/sh", ["-c", "cp \"$(command -v busybox)\" \(tree)/busybox"])
    #expect(busybox.status == 0, "\(busybox.stderr)")
    let made = try run(
      "/bin/sh",
      [
        "-c",
        "cd \(tree) && mkdir -p srv/owned usr/bin && echo data > usr/bin/z-target && ln usr/bin/z-target a-link"
          + " && cp busybox usr/bin/setuid && chmod 4755 usr/bin/setuid && chown 42:7 srv/owned"
          + " && tar --numeric-owner -cf ../root.tar .",
      ])
    #expect(made.status == 0, "\(made.stderr)")
    let script = repositoryRoot.appendingPathComponent("scripts/make-layered-image.py").path
    let layout = scratch.path + "/layout"
    let split = try run(
      "/usr/bin/python3",
      [script, "split", scratch.path + "/root.tar", layout, "--layers", "3", "--compression", compression])
    #expect(split.status == 0, "\(split.stderr)")
    let manifest = try json(run("/usr/bin/skopeo", ["inspect", "--raw", "oci:\(layout):latest"]))
    let types = (manifest["layers"] as? [[String: Any]] ?? []).compactMap { $0["mediaType"] as? String }
    let suffix = ["gzip": "+gzip", "zstd": "+zstd", "none": ".tar"][compression] ?? "?"
    #expect(types.count == 3 && types.allSatisfy { $0.hasSuffix(suffix) }, "\(types)")
    // Each diff_id is the digest of the layer as its own decompressor gives it back.
    let config = try json(run("/usr/bin/skopeo", ["inspect", "--config", "oci:\(layout):latest"]))
    let diffIDs = (config["rootfs"] as? [String: Any])?["diff_ids"] as? [String] ?? []
    let decompress = ["gzip": "gzip -dc", "zstd": "zstd -dc", "none": "cat"][compression] ?? "false"
    let layers = (manifest["layers"] as? [[String: Any]] ?? []).compactMap { $0["digest"] as? String }
    #expect(layers.count == diffIDs.count)
    for (layer, diffID) in zip(layers, diffIDs) {
      let blob = "\(layout)/blobs/sha256/\(layer.dropFirst("sha256:".count))"
      #expect(
        "sha256:" + (try run("/bin/sh", ["-c", "\(decompress) \(blob) | sha256sum"]).stdout.prefix(64)) == diffID)
    }
    // Debian's umoci reads no zstd layers: the view is checked for the other two.
    guard compression != "zstd" else { return }
    let bundle = scratch.path + "/bundle"
    let unpacked = try run("/usr/bin/umoci", ["unpack", "--image", "\(layout):latest", bundle])
    #expect(unpacked.status == 0, "\(unpacked.stderr)")
    let root = bundle + "/rootfs"
    let stat = try run(
      "/usr/bin/stat",
      [
        "-c", "%i %a %u:%g", root + "/a-link", root + "/usr/bin/z-target", root + "/usr/bin/setuid",
        root + "/srv/owned",
      ])
    let rows = stat.stdout.split(separator: "\n").map { $0.split(separator: " ") }
    #expect(rows.count == 4, "\(stat.stderr)")
    if rows.count == 4 {
      #expect(rows[0][0] == rows[1][0], "one inode for both names: \(stat.stdout)")
      #expect(rows[2][1] == "4755" && rows[3][2] == "42:7", "\(stat.stdout)")
    }
    #expect(try String(contentsOfFile: root + "/a-link", encoding: .utf8) == "data\n")
  }

  @Test func twoPlatformIndexNamesEachArchitecture() throws {
    let layout = try LayeredImages.twoPlatform()
    let index = try json(run("/usr/bin/skopeo", ["inspect", "--raw", "oci:\(layout):multi"]))
    let platforms = (index["manifests"] as? [[String: Any]] ?? []).compactMap {
      ($0["platform"] as? [String: Any])?["architecture"] as? String
    }
    #expect(platforms == ["amd64", "arm64"])
    for arch in ["amd64", "arm64"] {
      let config = try json(
        run("/usr/bin/skopeo", ["inspect", "--override-arch", arch, "--config", "oci:\(layout):multi"]))
      #expect(config["architecture"] as? String == arch)
    }
  }

  @Test func archivesHoldTheSameImage() throws {
    let diffIDs = { (reference: String) throws -> [String] in
      let config = try json(run("/usr/bin/skopeo", ["inspect", "--config", reference]))
      return (config["rootfs"] as? [String: Any])?["diff_ids"] as? [String] ?? []
    }
    let layout = try diffIDs("oci:\(LayeredImages.busybox()):latest")
    #expect(layout.count == 3)
    #expect(try diffIDs("oci-archive:\(LayeredImages.busyboxOCIArchive()):latest") == layout)
    #expect(try diffIDs("docker-archive:\(LayeredImages.busyboxDockerArchive()):busybox:latest") == layout)
  }

  @Test func debianKeepsOwnersModesHardLinksAndTheFileCapability() throws {
    let layout = try LayeredImages.debian()
    let manifest = try json(run("/usr/bin/skopeo", ["inspect", "--raw", "oci:\(layout):bookworm"]))
    #expect((manifest["layers"] as? [Any])?.count == 4)
    let scratch = try Scratch("tasker-umoci")
    defer { scratch.remove() }
    let bundle = scratch.path + "/bundle"
    let unpacked = try run("/usr/bin/umoci", ["unpack", "--image", "\(layout):bookworm", bundle])
    #expect(unpacked.status == 0, "\(unpacked.stderr)")
    let checked = try run("/usr/sbin/chroot", [bundle + "/rootfs", "/bin/sh", "-c", ContainerImageTests.debianScript])
    #expect(checked.status == 0, "\(checked.stderr)")
    try ContainerImageTests.expectDebianView(checked.stdout)
  }

  @Test func registryServesPushedImagesToCredentialsOnly() throws {
    let registry = try TestRegistry()
    defer { registry.stop() }
    try pushEveryPlatform("oci:\(LayeredImages.twoPlatform()):multi", as: "busybox:multi", to: registry)
    let certs = registry.certsDirectory + "/" + registry.host
    let creds = "\(registry.username ?? ""):\(registry.password)"
    let reference = "docker://\(registry.host)/busybox:multi"
    let raw = try run("/usr/bin/skopeo", ["inspect", "--raw", "--cert-dir", certs, "--creds", creds, reference])
    #expect((try json(raw)["manifests"] as? [Any])?.count == 2, "\(raw.stderr)")
    let anonymous = try run("/usr/bin/skopeo", ["inspect", "--cert-dir", certs, reference])
    #expect(anonymous.status != 0)
    let untrusted = try run("/usr/bin/skopeo", ["inspect", "--creds", creds, reference])
    #expect(untrusted.status != 0 && untrusted.stderr.contains("certificate"), "\(untrusted.stderr)")
  }
}

/// The issue's "Done when", end to end through the CLI: images from a registry (TLS, a login),
/// from the three archive and layout transports, a platform from an index, and a real Debian root
/// in four layers. These need the registry client, the layout readers and the layer store.
@Suite(.enabled(if: isRoot, rootReason), .serialized)
struct ContainerImageTests {
  /// A registry with the busybox image (`busybox:latest`), the two-platform index
  /// (`busybox:multi`) and, when asked, the Debian image (`debian:bookworm`), and a sandbox logged
  /// in to it. The one place these tests use TestRegistry.
  struct World {
    let box: Sandbox
    let registry: TestRegistry
    /// `--cert-dir` and `--authfile` for every command that reaches the registry.
    var options: [String] { ["--cert-dir", registry.certsDirectory, "--authfile", authFile] }
    var authFile: String { box.scratch.path + "/auth.json" }

    init(debian: Bool = false) throws {
      box = try Sandbox()
      do {
        registry = try TestRegistry()
      } catch {
        box.removeEverything()
        throw error
      }
      try registry.push("oci:\(LayeredImages.busybox()):latest", as: "busybox:latest")
      try pushEveryPlatform("oci:\(LayeredImages.twoPlatform()):multi", as: "busybox:multi", to: registry)
      if debian { try registry.push("oci:\(LayeredImages.debian()):bookworm", as: "debian:bookworm") }
    }

    func login() throws -> Outcome {
      try box.tasker(
        ["login", "-u", registry.username ?? "", "-p", registry.password] + options + [registry.host])
    }

    func reference(_ name: String) -> String { "docker://\(registry.host)/\(name)" }

    func remove() {
      box.removeEverything()
      registry.stop()
    }
  }

  @Test func runFromTheRegistryPrintsTheDefaultCommandsOutput() throws {
    let world = try World()
    defer { world.remove() }
    let login = try world.login()
    #expect(login.status == 0, "\(login.stderr)")
    let auth = try String(contentsOfFile: world.authFile, encoding: .utf8)
    #expect(auth.contains(world.registry.host), "login stores the credentials in the auth file: \(auth)")
    let result = try world.box.tasker(["run"] + world.options + [world.reference("busybox:latest")])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout == LayeredImages.busyboxGreeting)
  }

  @Test func withoutLoginTheRegistryRefusesInOneLine() throws {
    let world = try World()
    defer { world.remove() }
    let result = try world.box.tasker(["run"] + world.options + [world.reference("busybox:latest")])
    #expect(result.status != 0)
    #expect(result.stderrLines.count == 1, "\(result.stderr)")
    #expect(result.stderr.contains(world.registry.host), "the line names the registry: \(result.stderr)")
    #expect(world.box.tasksOnRecord().isEmpty)
    #expect(try world.box.tasker(["images", "-q"]).stdout == "", "nothing is cached from a refused pull")
  }

  @Test func theConfigGivesUserWorkingDirAndEnvAndCommandsReplaceCmd() throws {
    let world = try World()
    defer { world.remove() }
    #expect(try world.login().status == 0)
    let image = world.reference("busybox:latest")
    let result = try world.box.tasker(
      ["run"] + world.options + [image, "--", "/bin/sh", "-c", "id -u; id -g; pwd; echo $TASKER_IMAGE_ENV"])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout == "65534\n65534\n/srv/work\nfrom the image config\n")
    // The layers' view: the whiteout, the replaced file and the opaque directory.
    let view = try world.box.tasker(
      ["run"] + world.options + [image, "--", "/bin/sh", "-c", LayeredImageLayoutTests.viewScript])
    #expect(view.stdout == LayeredImageLayoutTests.busyboxView, "\(view.stderr)")
    // --entrypoint replaces the (empty) entrypoint; COMMANDS become its arguments.
    let entry = try world.box.tasker(
      ["run"] + world.options + ["--entrypoint", "/bin/echo", image, "--", "from", "the", "entrypoint"])
    #expect(entry.stdout == "from the entrypoint\n", "\(entry.stderr)")
  }

  @Test func platformChoosesFromTheIndex() throws {
    let world = try World()
    defer { world.remove() }
    #expect(try world.login().status == 0)
    let image = world.reference("busybox:multi")
    let host = try world.box.tasker(["run"] + world.options + [image, "cat /etc/image-platform"])
    #expect(host.stdout == "linux/amd64\n", "\(host.stderr)")
    // The arm64 manifest's layers hold this machine's busybox, so its root runs here.
    let arm = try world.box.tasker(
      ["run"] + world.options + [
        "--platform", "linux/arm64", image, "--", "/bin/sh", "-c",
        "cat /etc/image-platform; echo $TASKER_IMAGE_PLATFORM",
      ])
    #expect(arm.stdout == "linux/arm64\nlinux/arm64\n", "\(arm.stderr)")
    let none = try world.box.tasker(["run"] + world.options + ["--platform", "linux/s390x", image, "true"])
    #expect(none.status != 0 && none.stderrLines.count == 1, "\(none.stderr)")
    #expect(none.stderr.contains("linux/s390x"), "\(none.stderr)")
  }

  @Test func pullThenImagesListsTheReference() throws {
    let world = try World()
    defer { world.remove() }
    #expect(try world.login().status == 0)
    let image = world.reference("busybox:latest")
    let pulled = try world.box.tasker(["pull", "-q"] + world.options + [image])
    #expect(pulled.status == 0, "\(pulled.stderr)")
    let config = try run(
      "/usr/bin/skopeo", ["inspect", "--format", "{{.Digest}}", "oci:\(LayeredImages.busybox()):latest"])
    #expect(!config.stdout.isEmpty)
    let images = try world.box.tasker(["images"])
    #expect(images.stdout.contains("busybox"), "\(images.stdout)")
    // The pulled image runs without the registry.
    world.registry.stop()
    let offline = try world.box.tasker(["run"] + world.options + [image])
    #expect(offline.stdout == LayeredImages.busyboxGreeting, "\(offline.stderr)")
  }

  @Test func layoutAndArchivesRunTheSameImage() throws {
    let box = try Sandbox()
    defer { box.removeEverything() }
    let references = [
      "oci:\(try LayeredImages.busybox()):latest",
      "oci-archive:\(try LayeredImages.busyboxOCIArchive()):latest",
      "docker-archive:\(try LayeredImages.busyboxDockerArchive()):busybox:latest",
    ]
    for reference in references {
      let result = try box.tasker(["run", reference])
      #expect(result.stdout == LayeredImages.busyboxGreeting, "\(reference): \(result.stderr)")
      let view = try box.tasker(["run", reference, "--", "/bin/sh", "-c", LayeredImageLayoutTests.viewScript])
      #expect(view.stdout == LayeredImageLayoutTests.busyboxView, "\(reference): \(view.stderr)")
    }
  }

  /// Prints apt's version line, then what the image must keep: /var/cache/apt/archives/partial's
  /// owner and mode, su's mode, whether two hard-linked names share an inode, and the file
  /// capability's permitted set (read with getxattr(2) through perl, the one tool of minbase
  /// that can: no getcap there).
  static let debianScript = """
    apt-get --version | head -n 1
    stat -c '%U %a' /var/cache/apt/archives/partial
    stat -c '%a' /usr/bin/su
    [ "$(stat -c %i /usr/bin/perl)" = "$(stat -c %i /usr/bin/perl5.36.0)" ] && echo same inode
    perl -e '($p, $a, $v) = ($ARGV[0], "security.capability", "\\0" x 64); $n = syscall(191, $p, $a, $v, 64);
      print $n < 20 ? "no capability\\n" : "permitted " . unpack("H8", substr($v, 4, 4)) . "\\n"' \
      \(LayeredImages.debianCapabilityFile)
    """

  static func expectDebianView(_ output: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let lines = output.split(separator: "\n", omittingEmptySubsequences: false)
    #expect(lines.first?.hasPrefix("apt ") == true, "\(output)", sourceLocation: sourceLocation)
    // CAP_NET_RAW is bit 13 of the first 32-bit word of the permitted set, little-endian.
    #expect(
      Array(lines.dropFirst()) == ["_apt 700", "4755", "same inode", "permitted 00200000", ""], "\(output)",
      sourceLocation: sourceLocation)
  }

  @Test func debianInFourLayersRunsAptWithOwnersModesLinksAndCapabilities() throws {
    let world = try World(debian: true)
    defer { world.remove() }
    #expect(try world.login().status == 0)
    let image = world.reference("debian:bookworm")
    let result = try world.box.tasker(["run"] + world.options + [image, "--", "/bin/sh", "-c", Self.debianScript])
    #expect(result.status == 0, "\(result.stderr)")
    try Self.expectDebianView(result.stdout)
  }
}

/// `skopeo copy --all`: every platform of an index (TestRegistry.push copies the host's alone).
private func pushEveryPlatform(_ source: String, as name: String, to registry: TestRegistry) throws {
  let pushed = try run(
    "/usr/bin/skopeo",
    [
      "copy", "-q", "--all", "--dest-cert-dir", registry.certsDirectory + "/" + registry.host, "--dest-creds",
      "\(registry.username ?? ""):\(registry.password)", source, "docker://\(registry.host)/\(name)",
    ])
  guard pushed.status == 0 else { throw ImagesError.build("skopeo copy --all \(source): \(pushed.stderr)") }
}

private func json(_ outcome: Outcome) throws -> [String: Any] {
  let object = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8))
  return try #require(object as? [String: Any], "\(outcome.stderr)")
}
