import Foundation
import Glibc
import Tasker
import TaskerImage
import Testing

/// Layered images through the library, served by a stand-in source: the layer store, the
/// overlay of the layer stack, the config's defaults, prune.
@Suite(.enabled(if: isRoot, rootReason))
struct LayeredImageTests {
  /// A state root, a download path and a directory for blobs and layer tars.
  struct Fixture {
    let scratch: Scratch
    let settings: TaskerSettings
    let blobs: String

    init() throws {
      scratch = try Scratch()
      settings = TaskerSettings(
        stateRoot: try scratch.sub("state").path, downloadPath: try scratch.sub("downloads").path,
        supervisorPath: binDirectory.appendingPathComponent("tasker-supervisor").path,
        unpackPath: binDirectory.appendingPathComponent("tasker-unpack").path)
      blobs = try scratch.sub("blobs").path
    }

    func manager(_ source: StandInImageSource) -> TaskManager {
      var manager = TaskManager(settings: settings)
      manager.imageSourceOpener = { _, _ in source }
      return manager
    }

    /// busybox, then a layer that deletes /bin/vi and adds /data, then one that makes
    /// /data/old opaque.
    func layers() throws -> [(path: String, gzip: Bool)] {
      let bottom = try Images.shared().path("busybox.tar")
      let middle = blobs + "/middle.tar"
      try layerTar(
        at: middle,
        [("bin/.wh.vi", ""), ("data/", ""), ("data/keep", "keep\n"), ("data/old/", ""), ("data/old/x", "x\n")])
      let top = blobs + "/top.tar"
      try layerTar(at: top, [("data/old/", ""), ("data/old/.wh..wh..opq", ""), ("data/old/new", "new\n")])
      return [(bottom, false), (middle, true), (top, true)]
    }

    func layerDirectories() -> [String] {
      listing(URL(fileURLWithPath: settings.stateRoot + "/layers")).filter { $0.utf8.count == 64 }
    }

    func remove() { scratch.remove() }
  }

  /// Prunes until `done` holds (a child another test forks holds copies of this process's lock
  /// descriptors until it execs, so a lock prune takes without waiting may be busy for a
  /// moment); returns everything removed.
  func prune(_ manager: TaskManager, until done: (TaskManager.Pruned) -> Bool) -> TaskManager.Pruned {
    var all = manager.prune()
    for _ in 0..<50 where !done(all) {
      usleep(100_000)
      let more = manager.prune()
      all.layeredImages += more.layeredImages
      all.layers += more.layers
    }
    return all
  }

  /// Runs `spec` with its output in a pipe; returns stdout once the task ended, and its ID.
  func output(of spec: TaskSpec, with manager: TaskManager) async throws -> (String, TaskID) {
    var spec = spec
    let out = Pipe()
    spec.output = .fileDescriptors(stdout: out.fileHandleForWriting.fileDescriptor, stderr: 2)
    let handle = try await manager.create(spec)
    try out.fileHandleForWriting.close()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    #expect(try eventually { try manager.status(of: handle.id.rawValue).exitCode != nil })
    return (text, handle.id)
  }

  @Test func aThreeLayerImageShowsWhiteoutsAndOpaqueDirectories() async throws {
    let fixture = try Fixture()
    defer { fixture.remove() }
    let source = try StandInImageSource(directory: fixture.blobs, layers: try fixture.layers())
    let manager = fixture.manager(source)
    let spec = TaskSpec(
      image: "oci:/stand-in:three",
      command: ["/bin/sh", "-c", "test -e /bin/vi && echo vi || echo no-vi; ls /data/old; cat /data/keep; ls /bin/ls"])
    let (text, id) = try await output(of: spec, with: manager)
    #expect(text == "no-vi\nnew\nkeep\n/bin/ls\n")
    // The task's writes go to its own upper layer; the layers are as they were unpacked.
    #expect(fixture.layerDirectories().count == 3)
    _ = try await manager.remove(id.rawValue, force: true)
  }

  /// Sixty layers: their paths fill more than the page mount(2) takes its options in, so the
  /// root is made with one `lowerdir+` per layer.
  @Test func manyLayersAreMountedOneByOne() async throws {
    let fixture = try Fixture()
    defer { fixture.remove() }
    var layers = [(path: try Images.shared().path("busybox.tar"), gzip: false)]
    for index in 1...60 {
      let path = fixture.blobs + "/layer-\(index).tar"
      try layerTar(at: path, [("layers/", ""), ("layers/\(index)", "\(index)\n")])
      layers.append((path, false))
    }
    let source = try StandInImageSource(directory: fixture.blobs, layers: layers)
    let manager = fixture.manager(source)
    let paths = fixture.layerDirectories().count
    #expect(paths == 0)
    let (text, id) = try await output(
      of: TaskSpec(image: "oci:/stand-in:many", command: ["/bin/sh", "-c", "ls /layers | wc -l"]), with: manager)
    #expect(text.trimmingCharacters(in: .whitespacesAndNewlines) == "60")
    let lowers = fixture.layerDirectories().map { fixture.settings.stateRoot + "/layers/" + $0 + "/diff" }
    #expect(lowers.joined(separator: ":").utf8.count > 4096)
    _ = try await manager.remove(id.rawValue, force: true)
  }

  @Test func twoImagesSharingTheirBottomLayerStoreItOnce() async throws {
    let fixture = try Fixture()
    defer { fixture.remove() }
    let layers = try fixture.layers()
    let first = try StandInImageSource(directory: fixture.blobs, layers: Array(layers.prefix(2)))
    let second = try StandInImageSource(directory: fixture.blobs, layers: [layers[0], layers[2]])
    let pulledFirst = try await fixture.manager(first).pull("oci:/stand-in:first")
    #expect(pulledFirst.layersUnpacked == 2)
    let pulledSecond = try await fixture.manager(second).pull("oci:/stand-in:second")
    #expect(pulledSecond.layersUnpacked == 1)
    #expect(second.timesOpened(second.manifest.layers[0].digest) == 0)
    #expect(fixture.layerDirectories().count == 3)
    // Pulled again (policy missing): the reference is known, nothing is asked of the source.
    let again = try await fixture.manager(second).pull("oci:/stand-in:second")
    #expect(again.layersUnpacked == 0)
    #expect(second.timesOpened(second.manifest.layers[1].digest) == 1)
    let rows = fixture.manager(second).layeredImages()
    #expect(rows.count == 2)
    #expect(rows.allSatisfy { $0.sharedLayers == 1 && $0.image.diffIDs.count == 2 })
  }

  @Test func aLayerWhoseDiffIDDiffersLeavesNoLayerAndNoImage() async throws {
    let fixture = try Fixture()
    defer { fixture.remove() }
    let layers = try fixture.layers()
    let honest = try StandInImageSource(directory: fixture.blobs, layers: layers)
    var diffIDs = honest.config.rootfs.diff_ids
    diffIDs[1] = try Digest(hex: String(repeating: "0", count: 64))
    let lying = try StandInImageSource(directory: fixture.blobs, layers: layers, diffIDs: diffIDs)
    let manager = fixture.manager(lying)
    await #expect {
      _ = try await manager.pull("oci:/stand-in:lying")
    } throws: { error in
      let message = (error as? TaskerError)?.message ?? ""
      return message.contains("uncompressed") && message.contains(diffIDs[1].description)
    }
    #expect(!fixture.layerDirectories().contains(diffIDs[1].hex))
    #expect(!fixture.layerDirectories().contains(honest.config.rootfs.diff_ids[1].hex))
    let state = URL(fileURLWithPath: fixture.settings.stateRoot)
    #expect(listing(state.appendingPathComponent("layers")).filter { $0.hasPrefix(".tmp-") }.isEmpty)
    #expect(listing(state.appendingPathComponent("images/oci")).isEmpty)
    // And a create of it makes no task.
    await #expect(throws: TaskerError.self) {
      _ = try await manager.create(TaskSpec(image: "oci:/stand-in:lying", command: ["true"]))
    }
    #expect(listing(state.appendingPathComponent("tasks")).filter { !$0.hasPrefix(".") }.isEmpty)
    // What the failed pulls leave, their lock files and the good bottom layer, prune removes.
    _ = prune(manager) { _ in fixture.layerDirectories().isEmpty }
    #expect(fixture.layerDirectories().isEmpty)
    #expect(listing(state.appendingPathComponent("layers/locks")).isEmpty)
    #expect(listing(state.appendingPathComponent("images/refs")).isEmpty)
  }

  @Test func concurrentPullsOfOneImageUnpackEachLayerOnce() async throws {
    let fixture = try Fixture()
    defer { fixture.remove() }
    let source = try StandInImageSource(directory: fixture.blobs, layers: try fixture.layers())
    let manager = fixture.manager(source)
    async let one = manager.pull("oci:/stand-in:same")
    async let two = manager.pull("oci:/stand-in:same")
    let (a, b) = try await (one, two)
    #expect(a.layersUnpacked + b.layersUnpacked == 3)
    #expect(a.image.id == b.image.id)
    for layer in source.manifest.layers { #expect(source.timesOpened(layer.digest) == 1) }
  }

  /// Two images with the same layers pulled at once, and one image that has a layer twice:
  /// each layer unpacked once, and no pull waits on the other's use of a layer.
  @Test(.timeLimit(.minutes(2))) func pullsSharingLayersDoNotWaitOnEachOther() async throws {
    let fixture = try Fixture()
    defer { fixture.remove() }
    let layers = try fixture.layers()
    var other = ImageConfig.Defaults()
    other.Cmd = ["true"]
    let first = try StandInImageSource(directory: fixture.blobs, layers: layers)
    let second = try StandInImageSource(directory: fixture.blobs, layers: layers + [layers[1]], defaults: other)
    async let one = fixture.manager(first).pull("oci:/stand-in:first")
    async let two = fixture.manager(second).pull("oci:/stand-in:second")
    let (a, b) = try await (one, two)
    #expect(a.layersUnpacked + b.layersUnpacked == 3)
    #expect(a.image.id != b.image.id)
    #expect(fixture.layerDirectories().count == 3)
    // The layer that is there twice is mounted once, at its upper place.
    let (text, id) = try await output(
      of: TaskSpec(image: "oci:/stand-in:second", command: ["/bin/sh", "-c", "cat /data/keep; ls /data/old"]),
      with: fixture.manager(second))
    #expect(text == "keep\nnew\nx\n")
    _ = try await fixture.manager(second).remove(id.rawValue, force: true)
  }

  @Test func theConfigGivesTheDefaultsAndTheCallerReplacesThem() async throws {
    let fixture = try Fixture()
    defer { fixture.remove() }
    var defaults = ImageConfig.Defaults()
    defaults.Cmd = ["-c", "echo ran; pwd; id -u; echo $GREETING"]
    defaults.Entrypoint = ["/bin/sh"]
    defaults.WorkingDir = "/data"
    defaults.User = "nobody"
    defaults.Env = ["GREETING=hello", "PATH=/bin"]
    defaults.StopSignal = "SIGUSR1"
    let source = try StandInImageSource(
      directory: fixture.blobs, layers: Array(try fixture.layers().prefix(2)), defaults: defaults)
    let manager = fixture.manager(source)
    let image = "oci:/stand-in:defaults"

    let (byDefault, id) = try await output(of: TaskSpec(image: image, command: []), with: manager)
    #expect(byDefault == "ran\n/data\n65534\nhello\n")
    #expect(try manager.store.record(of: id).stopSignal == SIGUSR1)

    // COMMANDS replace Cmd; -e over Env; -w, --user and --stop-signal over the image's.
    var given = TaskSpec(image: image, command: ["-c", "echo given; pwd; id -u; echo $GREETING"], workdir: "/")
    given.environmentAdditions = ["GREETING=bye"]
    given.user = "0"
    given.stopSignal = SIGINT
    given.given = [.workdir, .stopSignal]
    let (replaced, other) = try await output(of: given, with: manager)
    #expect(replaced == "given\n/\n0\nbye\n")
    #expect(try manager.store.record(of: other).stopSignal == SIGINT)

    // --entrypoint replaces the entrypoint and drops the image's Cmd.
    var entry = TaskSpec(image: image, command: [])
    entry.entrypoint = ["/bin/echo", "from the entrypoint"]
    let (entryOutput, third) = try await output(of: entry, with: manager)
    #expect(entryOutput == "from the entrypoint\n")

    // --entrypoint '' with no COMMANDS: nothing to run.
    var none = TaskSpec(image: image, command: [])
    none.entrypoint = []
    await #expect {
      _ = try await manager.create(none)
    } throws: { error in
      (error as? TaskerError)?.message == "no command given and the image has none"
    }
    for task in [id, other, third] { _ = try await manager.remove(task.rawValue, force: true) }
  }

  /// What a create holds from its pull until its record is written: prune leaves the image
  /// and its layers alone meanwhile.
  @Test func pruneLeavesAnImageACreateIsSettingUp() throws {
    let fixture = try Fixture()
    defer { fixture.remove() }
    let source = try StandInImageSource(directory: fixture.blobs, layers: try fixture.layers())
    let manager = fixture.manager(source)
    var locks: [Int32] = []
    _ = try manager.pullNow("oci:/stand-in:held", options: PullOptions(), locks: &locks)
    let held = manager.prune()
    #expect(held.layeredImages.isEmpty)
    #expect(held.layers.isEmpty)
    #expect(fixture.layerDirectories().count == 3)
    for lock in locks { close(lock) }
    let released = prune(manager) { $0.layers.count == 3 && !$0.layeredImages.isEmpty }
    #expect(released.layeredImages == [source.manifest.config.digest.description])
    #expect(released.layers.count == 3)
    #expect(fixture.layerDirectories().isEmpty)
  }

  @Test func pruneRemovesWhatNoImageNamesAndKeepsWhatATaskUses() async throws {
    let fixture = try Fixture()
    defer { fixture.remove() }
    let layers = try fixture.layers()
    let used = try StandInImageSource(directory: fixture.blobs, layers: Array(layers.prefix(2)))
    let unused = try StandInImageSource(directory: fixture.blobs, layers: [layers[0], layers[2]])
    let manager = fixture.manager(used)
    let (_, id) = try await output(of: TaskSpec(image: "oci:/stand-in:used", command: ["true"]), with: manager)
    _ = try await fixture.manager(unused).pull("oci:/stand-in:unused")
    #expect(fixture.layerDirectories().count == 3)

    let pruned = prune(manager) { $0.layers.count == 1 && !$0.layeredImages.isEmpty }
    #expect(pruned.layeredImages == [unused.manifest.config.digest.description])
    #expect(pruned.layers == [unused.config.rootfs.diff_ids[1].description])
    #expect(Set(fixture.layerDirectories()) == Set(used.config.rootfs.diff_ids.map(\.hex)))
    // The task's image still runs a new task, from the store alone.
    let again = TaskSpec(image: "oci:/stand-in:used", command: ["true"], pull: .never)
    let (_, second) = try await output(of: again, with: manager)
    for task in [id, second] { _ = try await manager.remove(task.rawValue, force: true) }
    #expect(prune(manager) { $0.layers.count == 2 }.layers.count == 2)
  }
}

/// The command line over a layer store the library filled (the CLI has no stand-in source: a
/// known reference is used without asking its source, as `--pull missing` promises).
@Suite(.enabled(if: isRoot, rootReason))
struct LayeredImageCommandLineTests {
  /// Pulls a two-layer image with `defaults` as `reference` into the sandbox's state root.
  func pulled(_ reference: String, into box: Sandbox, defaults: ImageConfig.Defaults? = nil) async throws
    -> StandInImageSource
  {
    let blobs = try box.scratch.sub("blobs-\(UUID().uuidString)").path
    let top = blobs + "/top.tar"
    try layerTar(at: top, [("srv/", ""), ("srv/greeting", "hello from the layer\n")])
    let source = try StandInImageSource(
      directory: blobs, layers: [(try Images.shared().path("busybox.tar"), false), (top, true)], defaults: defaults)
    var manager = TaskManager(
      settings: TaskerSettings(
        stateRoot: box.state.path, downloadPath: box.downloads.path,
        supervisorPath: binDirectory.appendingPathComponent("tasker-supervisor").path,
        unpackPath: binDirectory.appendingPathComponent("tasker-unpack").path))
    manager.imageSourceOpener = { _, _ in source }
    _ = try await manager.pull(reference)
    return source
  }

  @Test func runUsesTheImagesCommandAndTheOptionsReplaceIt() async throws {
    let box = try Sandbox()
    defer { box.removeEverything() }
    var defaults = ImageConfig.Defaults()
    defaults.Entrypoint = ["/bin/sh", "-c"]
    defaults.Cmd = ["cat greeting; echo $WHO"]
    defaults.WorkingDir = "/srv"
    defaults.Env = ["WHO=image"]
    _ = try await pulled("oci:/stand-in/cli:1", into: box, defaults: defaults)

    let byDefault = try box.tasker(["run", "--rm", "oci:/stand-in/cli:1"])
    #expect(byDefault.status == 0, "\(byDefault.stderr)")
    #expect(byDefault.stdout == "hello from the layer\nimage\n")
    let replaced = try box.tasker(["run", "--rm", "-e", "WHO=option", "oci:/stand-in/cli:1", "--", "echo $WHO; pwd"])
    #expect(replaced.stdout == "option\n/srv\n", "\(replaced.stderr)")
    let entry = try box.tasker(["run", "--rm", "--entrypoint", "[\"/bin/echo\",\"a b\"]", "oci:/stand-in/cli:1"])
    #expect(entry.stdout == "a b\n", "\(entry.stderr)")
    let program = try box.tasker(["run", "--rm", "-w", "/", "--entrypoint", "/bin/pwd", "oci:/stand-in/cli:1"])
    #expect(program.stdout == "/\n", "\(program.stderr)")
    let nothing = try box.tasker(["run", "--rm", "--entrypoint", "", "oci:/stand-in/cli:1"])
    #expect(nothing.status == 64)
    #expect(nothing.stderr == "tasker: no command given and the image has none\n" || nothing.stderrLines.count == 1)
    #expect(box.tasksOnRecord().filter { !$0.hasPrefix(".") }.isEmpty)
  }

  @Test func imagesListsLayeredImagesAndPruneRemovesTheirLayers() async throws {
    let box = try Sandbox()
    defer { box.removeEverything() }
    let first = try await pulled("oci:/stand-in/one:1", into: box)
    _ = try await pulled("oci:/stand-in/two:1", into: box)
    let table = try box.tasker(["images"])
    #expect(table.status == 0)
    let lines = table.stdout.split(separator: "\n")
    #expect(lines.first?.hasPrefix("REFERENCE") == true, "\(table.stdout)")
    let row = try #require(lines.first { $0.hasPrefix("oci:/stand-in/one:1") })
    #expect(row.contains(first.manifest.config.digest.hex.prefix(12)))
    // Each has its own top layer (the tar's mtimes differ) and shares busybox.
    #expect(row.contains("2 (1 shared)"), "\(table.stdout)")

    let json = try box.tasker(["images", "--json"])
    let rows = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
    #expect(rows.count == 2)
    let one = try #require(rows.first { ($0["references"] as? [String]) == ["oci:/stand-in/one:1"] })
    #expect(one["id"] as? String == first.manifest.config.digest.description)
    #expect((one["layers"] as? [String])?.count == 2)
    #expect(one["sharedLayers"] as? Int == 1)
    #expect(one["tasks"] as? Int == 0)

    let pruned = try box.tasker(["prune"])
    #expect(pruned.stdout.contains("2 unused images, 3 unused layers"), "\(pruned.stdout)")
    #expect(listing(box.state.appendingPathComponent("layers")).filter { $0.utf8.count == 64 }.isEmpty)
    #expect(try box.tasker(["images", "-q"]).stdout.isEmpty)
  }

  @Test func badReferencesAndOptionsAreOneLine() throws {
    let box = try Sandbox()
    defer { box.removeEverything() }
    // The readers of layouts and registries are not in this branch: their error, and nothing made.
    let missing = try box.tasker(["create", "oci:/nonexistent/layout:1"])
    #expect(missing.status != 0)
    #expect(missing.stderrLines.count == 1, "\(missing.stderr)")
    #expect(box.tasksOnRecord().filter { !$0.hasPrefix(".") }.isEmpty)
    #expect(listing(box.downloads).isEmpty)
    let notLayered = try box.tasker(["create", "--entrypoint", "/bin/sh", "/tmp/rootfs.tar", "true"])
    #expect(notLayered.status == 64)
    #expect(notLayered.stderr.contains("need a layered image"))
    let platform = try box.tasker(["pull", "--platform", "linux", "oci:/x"])
    #expect(platform.status == 64)
    let pull = try box.tasker(["pull", "/tmp/rootfs.tar"])
    #expect(pull.status == 64)
    #expect(pull.stderr.contains("not a layered image reference"))
    let never = try box.tasker(["run", "--pull", "never", "oci:/never/pulled:1", "true"])
    #expect(never.status != 0)
    #expect(never.stderr.contains("not pulled yet"), "\(never.stderr)")
  }
}
