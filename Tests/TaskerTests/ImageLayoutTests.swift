import Foundation
import Glibc
import TaskerArchive
import Testing

@testable import TaskerImage

/// `oci:`, `oci-archive:` and `docker-archive:` sources, over layouts the tests write and the
/// archives skopeo makes of them.
@Suite struct ImageLayoutTests {
  /// A layout at `<dir>/layout` with one image of two layers tagged `v1`.
  struct Fixture {
    var layout: LayoutBuilder
    var layers: [[UInt8]]
    var config: [UInt8]
    var manifestDigest: String
  }

  static func fixture(_ dir: String, tag: String = "v1") throws -> Fixture {
    let layout = try LayoutBuilder(path: dir + "/layout")
    let layers = [
      try LayoutBuilder.layer(at: dir + "/l1.tar", [("./bin/hello", "hello\n"), ("./etc/hostname", "one\n")]),
      try LayoutBuilder.layer(at: dir + "/l2.tar", [("./etc/hostname", "two\n")]),
    ]
    let image = try layout.image(layers: layers, cmd: ["/bin/hello"])
    try layout.writeIndex([LayoutBuilder.descriptor(MediaType.ociManifest, image.digest, image.size, name: tag)])
    return Fixture(layout: layout, layers: layers, config: image.config, manifestDigest: image.digest)
  }

  /// Resolves for the host and reads every layer, checking the bytes against what was written.
  static func checkReads(_ source: any ImageSource, _ fixture: Fixture, sameConfig: Bool = true) throws {
    let image = try source.resolve(platform: .host)
    #expect(image.config.config?.Cmd == ["/bin/hello"])
    #expect(image.manifest.layers.count == fixture.layers.count)
    if sameConfig { #expect(image.configBytes == fixture.config) }
    for (descriptor, bytes) in zip(image.manifest.layers, fixture.layers) {
      let blob = try readToEnd(source.openBlob(descriptor))
      if descriptor.mediaType == MediaType.ociLayerGzip {
        // skopeo compresses layers as it writes an oci-archive: the tar inside is what was written.
        #expect(blob.starts(with: [0x1f, 0x8b]))
        let plain = try DecompressingSource(source.openBlob(descriptor))
        defer { plain.finish() }
        #expect(try readToEnd(plain) == bytes)
      } else {
        #expect(blob == bytes)
      }
    }
    #expect(try readToEnd(source.openBlob(image.manifest.config)) == image.configBytes)
  }

  @Test func layoutResolvesAndReadsEveryBlob() throws {
    try withTemporaryDirectory { dir in
      let fixture = try Self.fixture(dir)
      let path = fixture.layout.path
      for source in [
        try OCILayoutSource(path: path, tag: "v1"), try OCILayoutSource(path: path, tag: nil),
        try ImageSources.open(.ociLayout(path: path, tag: "v1"), registry: RegistryOptions()),
      ] {
        try Self.checkReads(source, fixture)
        #expect(try source.resolve(platform: .host).manifestDigest.description == fixture.manifestDigest)
      }
    }
  }

  @Test(arguments: [ArchiveFormat.pax, .gnutar], [false, true])
  func archiveReadInPlace(format: ArchiveFormat, extendedHeaders: Bool) throws {
    try withTemporaryDirectory { dir in
      let fixture = try Self.fixture(dir)
      try fixture.layout.pack(into: dir + "/image.tar", format: format, extendedHeaders: extendedHeaders)
      try Self.checkReads(OCIArchiveSource(path: dir + "/image.tar", tag: "v1"), fixture)
      try Self.checkReads(
        ImageSources.open(.ociArchive(path: dir + "/image.tar", tag: nil), registry: RegistryOptions()), fixture)
    }
  }

  @Test func skopeoArchivesResolve() throws {
    guard access("/usr/bin/skopeo", X_OK) == 0 else {
      print("skipped: /usr/bin/skopeo is missing (apt-get install skopeo)")
      return
    }
    try withTemporaryDirectory { dir in
      let fixture = try Self.fixture(dir)
      let layout = fixture.layout.path
      try skopeo(dir, "oci:\(layout):v1", "oci-archive:\(dir)/oci.tar:v1")
      try Self.checkReads(OCIArchiveSource(path: dir + "/oci.tar", tag: "v1"), fixture)
      try skopeo(dir, "oci:\(layout):v1", "docker-archive:\(dir)/docker.tar:busybox:latest")
      for name in ["busybox:latest", "busybox", "docker.io/library/busybox:latest", nil] {
        let source = try DockerArchiveSource(path: dir + "/docker.tar", name: name)
        // skopeo writes the config again (docker's own form), so its bytes are not the layout's.
        try Self.checkReads(source, fixture, sameConfig: false)
        let image = try source.resolve(platform: .host)
        #expect(image.manifest.mediaType == MediaType.dockerManifest)
        #expect(image.manifest.layers.allSatisfy { $0.mediaType == MediaType.dockerLayer })
        #expect(image.configDigest.hex == sha256Hex(image.configBytes))
      }
      let error = #expect(throws: ImageError.self) {
        try DockerArchiveSource(path: dir + "/docker.tar", name: "alpine:3")
      }
      #expect(error?.description.contains("no image named \"alpine:3\"") == true)
      #expect(error?.description.contains("\"docker.io/library/busybox:latest\"") == true)
    }
  }

  @Test func tagSelection() throws {
    try withTemporaryDirectory { dir in
      let layout = try LayoutBuilder(path: dir + "/layout")
      let layer = try LayoutBuilder.layer(at: dir + "/l.tar", [("./x", "x\n")])
      let a = try layout.image(layers: [layer], cmd: ["a"])
      let b = try layout.image(layers: [layer], cmd: ["b"])
      try layout.writeIndex([
        LayoutBuilder.descriptor(MediaType.ociManifest, a.digest, a.size, name: "a"),
        LayoutBuilder.descriptor(MediaType.ociManifest, b.digest, b.size, name: "b"),
      ])
      #expect(try OCILayoutSource(path: layout.path, tag: "b").resolve(platform: .host).config.config?.Cmd == ["b"])
      #expect(try OCILayoutSource(path: layout.path, tag: "a").resolve(platform: .host).config.config?.Cmd == ["a"])
      let none = #expect(throws: ImageError.self) {
        try OCILayoutSource(path: layout.path, tag: nil).resolve(platform: .host)
      }
      #expect(none?.description == "oci:\(layout.path) holds 2 images: name one after a colon (it has \"a\", \"b\")")
      let missing = #expect(throws: ImageError.self) {
        try OCILayoutSource(path: layout.path, tag: "c").resolve(platform: .host)
      }
      #expect(missing?.description == "oci:\(layout.path) has no image named \"c\" (it has \"a\", \"b\")")
    }
  }

  @Test func platformSelection() throws {
    try withTemporaryDirectory { dir in
      let layout = try LayoutBuilder(path: dir + "/layout")
      let layer = try LayoutBuilder.layer(at: dir + "/l.tar", [("./x", "x\n")])
      let amd64 = try layout.image(layers: [layer], architecture: "amd64", cmd: ["amd64"])
      let arm64 = try layout.image(layers: [layer], architecture: "arm64", cmd: ["arm64"])
      let index = try layout.index([
        LayoutBuilder.descriptor(MediaType.ociManifest, amd64.digest, amd64.size, platform: ("linux", "amd64", nil)),
        LayoutBuilder.descriptor(
          MediaType.ociManifest, arm64.digest, arm64.size, platform: ("linux", "arm64", "v8")),
      ])
      try layout.writeIndex([LayoutBuilder.descriptor(MediaType.ociIndex, index.digest, index.size, name: "multi")])
      let source = try OCILayoutSource(path: layout.path, tag: "multi")
      let x86 = try source.resolve(platform: Platform(os: "linux", architecture: "amd64"))
      #expect(x86.config.config?.Cmd == ["amd64"])
      #expect(x86.manifestDigest.description == amd64.digest)
      let arm = try source.resolve(platform: Platform(parsing: "linux/arm64/v8"))
      #expect(arm.config.architecture == "arm64")
      let error = #expect(throws: ImageError.self) {
        try source.resolve(platform: Platform(os: "linux", architecture: "s390x"))
      }
      guard case .platform(let message) = error else {
        Issue.record("expected a platform error, got \(String(describing: error))")
        return
      }
      #expect(message.contains("linux/s390x") && message.contains("linux/amd64, linux/arm64/v8"))

      // An index.json that is itself one image's platforms (no names): the platform's entry.
      try layout.writeIndex([
        LayoutBuilder.descriptor(MediaType.ociManifest, arm64.digest, arm64.size, platform: ("linux", "arm64", "v8")),
        LayoutBuilder.descriptor(MediaType.ociManifest, amd64.digest, amd64.size, platform: ("linux", "amd64", nil)),
      ])
      let untagged = try OCILayoutSource(path: layout.path, tag: nil)
      #expect(
        try untagged.resolve(platform: Platform(os: "linux", architecture: "amd64")).config.config?.Cmd == ["amd64"])
      #expect(try untagged.resolve(platform: Platform(parsing: "linux/arm64/v8")).config.config?.Cmd == ["arm64"])

      // A single manifest for another platform than the one asked for is refused too.
      try layout.writeIndex([LayoutBuilder.descriptor(MediaType.ociManifest, arm64.digest, arm64.size, name: "arm")])
      let single = #expect(throws: ImageError.self) {
        try OCILayoutSource(path: layout.path, tag: "arm").resolve(
          platform: Platform(os: "linux", architecture: "amd64"))
      }
      #expect(single?.description.contains("is an image for linux/arm64") == true)
    }
  }

  @Test func blobNotMatchingItsDigest() throws {
    try withTemporaryDirectory { dir in
      let fixture = try Self.fixture(dir)
      let source = try OCILayoutSource(path: fixture.layout.path, tag: "v1")
      let image = try source.resolve(platform: .host)
      var bytes = fixture.layers[1]
      bytes[600] ^= 0xff
      try writeFile(fixture.layout.blobPath(image.manifest.layers[1].digest.description), bytes)
      let error = #expect(throws: ImageError.self) { try readToEnd(source.openBlob(image.manifest.layers[1])) }
      guard case .digestMismatch = error else {
        Issue.record("expected a digest mismatch, got \(String(describing: error))")
        return
      }
      // A manifest changed in place fails the resolve.
      try writeFile(fixture.layout.blobPath(fixture.manifestDigest), Array("{\"schemaVersion\":2}".utf8))
      let manifest = #expect(throws: ImageError.self) { try source.resolve(platform: .host) }
      guard case .digestMismatch = manifest else {
        Issue.record("expected a digest mismatch, got \(String(describing: manifest))")
        return
      }
    }
  }

  @Test func archivedBlobNotMatchingItsDigest() throws {
    try withTemporaryDirectory { dir in
      let fixture = try Self.fixture(dir)
      try fixture.layout.pack(into: dir + "/image.tar")
      // The second layer's only file says "two\n": change it in the archive, in place.
      var bytes = try readFile(dir + "/image.tar")
      let marker = Array("two\n".utf8)
      let at = try #require(
        (0...(bytes.count - marker.count)).first { bytes[$0..<($0 + marker.count)].elementsEqual(marker) })
      bytes[at + 2] = UInt8(ascii: "x")
      try writeFile(dir + "/image.tar", bytes)
      let source = try OCIArchiveSource(path: dir + "/image.tar", tag: "v1")
      let image = try source.resolve(platform: .host)
      #expect(try readToEnd(source.openBlob(image.manifest.layers[0])) == fixture.layers[0])
      let error = #expect(throws: ImageError.self) { try readToEnd(source.openBlob(image.manifest.layers[1])) }
      guard case .digestMismatch = error else {
        Issue.record("expected a digest mismatch, got \(String(describing: error))")
        return
      }
    }
  }

  @Test func symlinkedBlobIsRefused() throws {
    try withTemporaryDirectory { dir in
      let fixture = try Self.fixture(dir)
      let source = try OCILayoutSource(path: fixture.layout.path, tag: "v1")
      let image = try source.resolve(platform: .host)
      // The link's target has the right bytes: it is refused for being a link, not for them.
      try writeFile(dir + "/outside", fixture.layers[0])
      let blob = fixture.layout.blobPath(image.manifest.layers[0].digest.description)
      unlink(blob)
      #expect(symlink(dir + "/outside", blob) == 0)
      let error = #expect(throws: ImageError.self) { try source.openBlob(image.manifest.layers[0]) }
      #expect(error?.description.contains("symbolic link") == true)
    }
  }

  @Test func fifoInPlaceOfIndexIsRefused() throws {
    try withTemporaryDirectory { dir in
      let fixture = try Self.fixture(dir)
      unlink(fixture.layout.path + "/index.json")
      #expect(mkfifo(fixture.layout.path + "/index.json", 0o644) == 0)
      // Opened without blocking (no writer ever comes), then refused.
      let error = #expect(throws: ImageError.self) {
        try OCILayoutSource(path: fixture.layout.path, tag: "v1").resolve(platform: .host)
      }
      #expect(error?.description == "index.json of oci:\(fixture.layout.path) is not a regular file: refused")
      let notLayout = #expect(throws: ImageError.self) { try OCILayoutSource(path: dir + "/nowhere", tag: nil) }
      #expect(notLayout?.description == "oci:\(dir)/nowhere: no such directory")
    }
  }

  @Test func hugeIndexIsRefused() throws {
    try withTemporaryDirectory { dir in
      let fixture = try Self.fixture(dir)
      try writeFile(fixture.layout.path + "/index.json", [UInt8](repeating: 32, count: 20 << 20))
      let error = #expect(throws: ImageError.self) {
        try OCILayoutSource(path: fixture.layout.path, tag: "v1").resolve(platform: .host)
      }
      #expect(error?.description.contains("index.json of oci:\(fixture.layout.path) is larger than") == true)
    }
  }

  @Test func missingBlob() throws {
    try withTemporaryDirectory { dir in
      let fixture = try Self.fixture(dir)
      let source = try OCILayoutSource(path: fixture.layout.path, tag: "v1")
      let image = try source.resolve(platform: .host)
      unlink(fixture.layout.blobPath(image.manifest.layers[1].digest.description))
      let error = #expect(throws: ImageError.self) { try source.openBlob(image.manifest.layers[1]) }
      #expect(error?.description.contains("is missing") == true)
      unlink(fixture.layout.blobPath(image.configDigest.description))
      let config = #expect(throws: ImageError.self) { try source.resolve(platform: .host) }
      #expect(config?.description.contains("config \(image.configDigest) of oci:") == true)
    }
  }

  @Test func layoutVersionTwoIsRefused() throws {
    try withTemporaryDirectory { dir in
      let layout = try LayoutBuilder(path: dir + "/layout", version: "2.0.0")
      try layout.writeIndex([])
      let error = #expect(throws: ImageError.self) { try OCILayoutSource(path: layout.path, tag: nil) }
      #expect(error?.description.contains("of version 2.0.0, which tasker does not read") == true)
    }
  }

  @Test func truncatedArchive() throws {
    try withTemporaryDirectory { dir in
      let fixture = try Self.fixture(dir)
      try fixture.layout.pack(into: dir + "/image.tar")
      let whole = try readFile(dir + "/image.tar")
      // Cut inside the last blob's data: its member claims more bytes than the file has.
      for cut in [whole.count / 2, whole.count - 2048, 700] {
        try writeFile(dir + "/cut.tar", Array(whole[0..<cut]))
        #expect(throws: ImageError.self) {
          try OCIArchiveSource(path: dir + "/cut.tar", tag: "v1").resolve(platform: .host)
        }
      }
    }
  }

  @Test func compressedArchiveIsRefused() throws {
    try withTemporaryDirectory { dir in
      let fixture = try Self.fixture(dir)
      try fixture.layout.pack(into: dir + "/image.tar.gz", compression: .gzip)
      let error = #expect(throws: ImageError.self) { try OCIArchiveSource(path: dir + "/image.tar.gz", tag: "v1") }
      #expect(error?.description.contains("is compressed (gzip)") == true)
    }
  }

  @Test func duplicateMemberIsRefused() throws {
    try withTemporaryDirectory { dir in
      let fixture = try Self.fixture(dir)
      let tar = try TarBuilder(path: dir + "/dup.tar")
      try tar.file("./oci-layout", bytes: readFile(fixture.layout.path + "/oci-layout"))
      try tar.file("index.json", bytes: readFile(fixture.layout.path + "/index.json"))
      try tar.file("./index.json", "{}")
      try tar.finish()
      let error = #expect(throws: ImageError.self) { try OCIArchiveSource(path: dir + "/dup.tar", tag: nil) }
      #expect(error?.description.contains("holds \"index.json\" twice") == true)
    }
  }

  @Test(arguments: ["../../etc/passwd", "/etc/passwd"])
  func dockerArchiveLayerOutsideIsRefused(layer: String) throws {
    try withTemporaryDirectory { dir in
      let fixture = try Self.fixture(dir)
      let configHex = sha256Hex(fixture.config)
      let tar = try TarBuilder(path: dir + "/docker.tar")
      try tar.file(configHex + ".json", bytes: fixture.config)
      try tar.file("l1/layer.tar", bytes: fixture.layers[0])
      try tar.file(
        "manifest.json",
        "[{\"Config\":\"\(configHex).json\",\"RepoTags\":[\"x:1\"],\"Layers\":[\"l1/layer.tar\",\"\(layer)\"]}]")
      try tar.finish()
      let error = #expect(throws: ImageError.self) { try DockerArchiveSource(path: dir + "/docker.tar", name: nil) }
      #expect(error?.description.contains("names layer \"\(layer)\"") == true)
      #expect(error?.description.contains("refused") == true)
    }
  }

  @Test func dockerArchiveByHand() throws {
    try withTemporaryDirectory { dir in
      let fixture = try Self.fixture(dir)
      let configHex = sha256Hex(fixture.config)
      func write(_ config: String, tags: String) throws {
        let tar = try TarBuilder(path: dir + "/docker.tar")
        try tar.file(config, bytes: fixture.config)
        try tar.file("l1/layer.tar", bytes: fixture.layers[0])
        try tar.file("l2/layer.tar", bytes: fixture.layers[1])
        try tar.file(
          "manifest.json",
          "[{\"Config\":\"\(config)\",\"RepoTags\":\(tags),\"Layers\":[\"l1/layer.tar\",\"./l2/layer.tar\"]},"
            + "{\"Config\":\"\(config)\",\"RepoTags\":[\"other:2\"],\"Layers\":[\"l1/layer.tar\",\"l2/layer.tar\"]}]")
        try tar.finish()
      }
      try write(configHex + ".json", tags: "[\"quay.io/org/app:1.0\"]")
      try Self.checkReads(DockerArchiveSource(path: dir + "/docker.tar", name: "quay.io/org/app:1.0"), fixture)
      let none = #expect(throws: ImageError.self) { try DockerArchiveSource(path: dir + "/docker.tar", name: nil) }
      #expect(none?.description.contains("holds 2 images") == true)
      #expect(none?.description.contains("\"quay.io/org/app:1.0\", \"other:2\"") == true)
      // A config named by a digest its bytes do not have.
      try write(String(repeating: "a", count: 64) + ".json", tags: "null")
      let named = #expect(throws: ImageError.self) {
        try DockerArchiveSource(path: dir + "/docker.tar", name: "other:2")
      }
      guard case .digestMismatch = named else {
        Issue.record("expected a digest mismatch, got \(String(describing: named))")
        return
      }
    }
  }

  @Test func dockerArchiveWithLayoutInside() throws {
    try withTemporaryDirectory { dir in
      // Docker 25 and later: an OCI layout, and a manifest.json naming its blobs.
      let fixture = try Self.fixture(dir)
      let config = "blobs/sha256/" + sha256Hex(fixture.config)
      let layers = fixture.layers.map { "\"blobs/sha256/" + sha256Hex($0) + "\"" }.joined(separator: ",")
      let manifest = "[{\"Config\":\"\(config)\",\"RepoTags\":[\"app:1\"],\"Layers\":[\(layers)]}]"
      try fixture.layout.pack(into: dir + "/docker.tar", extra: [("manifest.json", Array(manifest.utf8))])
      let source = try ImageSources.open(
        .dockerArchive(path: dir + "/docker.tar", name: "app:1"), registry: RegistryOptions())
      try Self.checkReads(source, fixture)
      // The same archive is an oci-archive too.
      try Self.checkReads(OCIArchiveSource(path: dir + "/docker.tar", tag: "v1"), fixture)
    }
  }

  @Test func dockerArchiveRepeatedLayerIsALink() throws {
    try withTemporaryDirectory { dir in
      let fixture = try Self.fixture(dir)
      let diffID = "sha256:" + sha256Hex(fixture.layers[0])
      let config = Array(
        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/hello\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"\(diffID)\",\"\(diffID)\"]}}"
          .utf8)
      func write(link: String) throws {
        let tar = try TarBuilder(path: dir + "/docker.tar")
        try tar.file("config.json", bytes: config)
        try tar.file("l1/layer.tar", bytes: fixture.layers[0])
        try tar.directory("l2/")
        try tar.symlink("l2/layer.tar", target: link)
        try tar.file(
          "manifest.json",
          "[{\"Config\":\"config.json\",\"RepoTags\":null,\"Layers\":[\"l1/layer.tar\",\"l2/layer.tar\"]}]")
        try tar.finish()
      }
      // As docker save writes a layer an image holds twice: a link to its first copy.
      try write(link: "../l1/layer.tar")
      let source = try DockerArchiveSource(path: dir + "/docker.tar", name: nil)
      let image = try source.resolve(platform: .host)
      #expect(image.manifest.layers.map(\.digest.description) == [diffID, diffID])
      #expect(try readToEnd(source.openBlob(image.manifest.layers[1])) == fixture.layers[0])
      for outside in ["../../l1/layer.tar", "/l1/layer.tar"] {
        try write(link: outside)
        let error = #expect(throws: ImageError.self) { try DockerArchiveSource(path: dir + "/docker.tar", name: nil) }
        #expect(error?.description.contains("outside the archive: refused") == true)
      }
      try write(link: "layer.tar")
      let loop = #expect(throws: ImageError.self) { try DockerArchiveSource(path: dir + "/docker.tar", name: nil) }
      #expect(loop?.description.contains("a chain of more than") == true)
    }
  }

  /// A layer manifest.json lists many times is read and hashed once, and every listing gets
  /// the same descriptor.
  @Test func dockerArchiveRepeatedMemberIsHashedOnce() throws {
    try withTemporaryDirectory { dir in
      let fixture = try Self.fixture(dir)
      let diffID = "sha256:" + sha256Hex(fixture.layers[0])
      let repeats = 50
      let diffIDs = Array(repeating: "\"\(diffID)\"", count: repeats).joined(separator: ",")
      let layers = Array(repeating: "\"l1/layer.tar\"", count: repeats).joined(separator: ",")
      let tar = try TarBuilder(path: dir + "/docker.tar")
      try tar.file(
        "config.json",
        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\(diffIDs)]}}")
      try tar.file("l1/layer.tar", bytes: fixture.layers[0])
      try tar.file("manifest.json", "[{\"Config\":\"config.json\",\"RepoTags\":null,\"Layers\":[\(layers)]}]")
      try tar.finish()
      var hashed: [String] = []
      let source = try DockerArchiveSource(path: dir + "/docker.tar", name: nil) { hashed.append($0) }
      #expect(hashed == ["l1/layer.tar"])
      let image = try source.resolve(platform: .host)
      #expect(image.manifest.layers.count == repeats)
      #expect(Set(image.manifest.layers).count == 1)
      #expect(image.manifest.layers[0].digest.description == diffID)
      #expect(image.manifest.layers[0].size == Int64(fixture.layers[0].count))
      #expect(try readToEnd(source.openBlob(image.manifest.layers[repeats - 1])) == fixture.layers[0])
    }
  }

  @Test func nestedIndexesAreBounded() throws {
    try withTemporaryDirectory { dir in
      let layout = try LayoutBuilder(path: dir + "/layout")
      let layer = try LayoutBuilder.layer(at: dir + "/l.tar", [("./x", "x\n")])
      let image = try layout.image(layers: [layer], cmd: ["deep"])
      var top = LayoutBuilder.descriptor(
        MediaType.ociManifest, image.digest, image.size, platform: ("linux", "amd64", nil))
      func tagged(_ entry: String) throws {
        try layout.writeIndex([
          String(entry.dropLast()) + ",\"annotations\":{\"org.opencontainers.image.ref.name\":\"t\"}}"
        ])
      }
      for depth in 1...5 {
        let index = try layout.index([top])
        top = LayoutBuilder.descriptor(MediaType.ociIndex, index.digest, index.size, platform: ("linux", "amd64", nil))
        try tagged(top)
        if depth == 4 {
          #expect(
            try OCILayoutSource(path: layout.path, tag: "t").resolve(platform: .host).config.config?.Cmd == ["deep"])
        }
      }
      let error = #expect(throws: ImageError.self) {
        try OCILayoutSource(path: layout.path, tag: "t").resolve(platform: .host)
      }
      #expect(error?.description.contains("nested more than 4 deep") == true)
    }
  }

  @Test func schemaOneIsRefused() throws {
    try withTemporaryDirectory { dir in
      let layout = try LayoutBuilder(path: dir + "/layout")
      let digest = try layout.blob(Array("{\"schemaVersion\":1}".utf8))
      try layout.writeIndex([LayoutBuilder.descriptor(MediaType.dockerSchema1Signed, digest, 19, name: "old")])
      let error = #expect(throws: ImageError.self) {
        try OCILayoutSource(path: layout.path, tag: "old").resolve(platform: .host)
      }
      #expect(error?.description.contains("Docker schema 1 manifest") == true)
    }
  }

  @Test func fuzzSeedsAreImages() throws {
    // The fuzz harness reads each archive of the corpus as an image too: these two seeds give
    // it images that resolve, for the fuzzer to mutate.
    let seeds = FuzzCorpusTests.files("archive")
    let oci = try #require(seeds.first { $0.hasSuffix("/seed-oci-archive.tar") })
    let docker = try #require(seeds.first { $0.hasSuffix("/seed-docker-archive.tar") })
    #expect(try OCIArchiveSource(path: oci, tag: "v1").resolve(platform: .host).config.config?.Cmd == ["/bin/sh"])
    let image = try DockerArchiveSource(path: docker, name: "seed").resolve(platform: .host)
    #expect(image.config.config?.Cmd == ["/bin/sh"])
  }

  /// Runs `skopeo copy` with its scratch files in `dir`.
  private func skopeo(_ dir: String, _ from: String, _ to: String) throws {
    let child = Foundation.Process()
    child.executableURL = URL(fileURLWithPath: "/usr/bin/skopeo")
    child.arguments = ["--insecure-policy", "--tmpdir", dir, "copy", "--quiet", from, to]
    child.environment = ["TMPDIR": dir, "PATH": "/usr/bin:/bin"]
    try child.run()
    child.waitUntilExit()
    guard child.terminationStatus == 0 else { throw SetupError("skopeo copy \(from) \(to)", dir, errno: EIO) }
  }
}

/// Everything `source` gives, to its end.
func readToEnd(_ source: any ByteSource) throws -> [UInt8] {
  var bytes: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 4096)
  while true {
    let n = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
    if n == 0 { return bytes }
    bytes += buffer[0..<n]
  }
}
