import Foundation
import TaskerArchive
import TaskerImage
import Testing

/// The transports' references, as skopeo and podman read them.
struct ImageReferenceTests {
  static let digest = "sha256:" + String(repeating: "ab", count: 32)

  @Test(
    arguments: [
      ("docker://busybox", "docker.io", "library/busybox", nil, false),
      ("docker://busybox:1.36", "docker.io", "library/busybox", "1.36", false),
      ("docker://index.docker.io/library/busybox", "docker.io", "library/busybox", nil, false),
      ("docker://org/app:v1", "docker.io", "org/app", "v1", false),
      ("docker://127.0.0.1:5000/busybox:latest", "127.0.0.1:5000", "busybox", "latest", false),
      ("docker://localhost/a/b/c", "localhost", "a/b/c", nil, false),
      ("docker://ghcr.io/o/r@\(digest)", "ghcr.io", "o/r", nil, true),
      ("docker://quay.io/o/r:t@\(digest)", "quay.io", "o/r", "t", true),
      ("docker://[::1]:5000/x", "[::1]:5000", "x", nil, false),
    ] as [(String, String, String, String?, Bool)])
  func readsRegistryReferences(text: String, host: String, repository: String, tag: String?, hasDigest: Bool) throws {
    guard case .registry(let reference) = try ImageReference(parsing: text) else {
      Issue.record("not a registry reference: \(text)")
      return
    }
    #expect(reference.host == host && reference.repository == repository && reference.tag == tag)
    #expect((reference.digest != nil) == hasDigest)
    // Printed and read again: the same reference.
    #expect(try ImageReference(parsing: ImageReference.registry(reference).description) == .registry(reference))
  }

  @Test func docker_ioTalksToItsAPIHost() throws {
    let hub = try RegistryReference(parsing: "busybox")
    #expect(hub.apiHost == "registry-1.docker.io" && hub.manifestReference == "latest")
    let pinned = try RegistryReference(parsing: "127.0.0.1:5000/x:t@\(Self.digest)")
    #expect(pinned.apiHost == "127.0.0.1:5000" && pinned.manifestReference == Self.digest)
  }

  @Test(arguments: [
    ("oci:/srv/layout", ImageReference.ociLayout(path: "/srv/layout", tag: nil)),
    ("oci:/srv/layout:v1", .ociLayout(path: "/srv/layout", tag: "v1")),
    ("oci-archive:img.tar:latest", .ociArchive(path: "img.tar", tag: "latest")),
    ("docker-archive:/x/save.tar", .dockerArchive(path: "/x/save.tar", name: nil)),
    ("docker-archive:/x/save.tar:busybox:latest", .dockerArchive(path: "/x/save.tar", name: "busybox:latest")),
  ])
  func readsLayoutsAndArchives(text: String, expected: ImageReference) throws {
    #expect(try ImageReference(parsing: text) == expected)
    #expect(expected.description == text)
  }

  @Test(arguments: [
    "docker://", "docker://Busybox", "docker://a//b", "docker://x:bad tag", "docker://x@sha256:12",
    "docker://host:99999/x", "docker://-a.io/x", "oci:", "oci-archive::tag", "oci:/p:", "docker-archive:/f:UPPER/x",
    "docker-archive:/f:x:", "dir:/x", "http://x", "busybox",
  ])
  func refusesMalformed(text: String) {
    #expect(throws: ImageError.self) { try ImageReference(parsing: text) }
  }

  @Test func onlyTransportsArePrefixes() {
    #expect(ImageReference.hasTransport("docker://x") && ImageReference.hasTransport("oci:x"))
    #expect(!ImageReference.hasTransport("./oci:thing.tar") && !ImageReference.hasTransport("/images/a:b.tar"))
  }
}

/// Digests, platforms and an index's choice of manifest.
struct ImageDocumentTests {
  func descriptor(_ platform: Platform?, _ fill: String) throws -> Descriptor {
    Descriptor(
      mediaType: MediaType.ociManifest, digest: try Digest(hex: String(repeating: fill, count: 64)), size: 1,
      platform: platform)
  }

  @Test func digestsAreSHA256InLowercaseHex() throws {
    #expect(try Digest("sha256:" + String(repeating: "0", count: 64)).hex.count == 64)
    for bad in [
      "sha512:" + String(repeating: "0", count: 128), "sha256:" + String(repeating: "A", count: 64), "sha256:0",
    ] {
      #expect(throws: ImageError.self) { try Digest(bad) }
    }
  }

  @Test func platformsReadAsPodmanWritesThem() throws {
    #expect(try Platform(parsing: "linux/arm64/v8") == Platform(os: "linux", architecture: "arm64", variant: "v8"))
    #expect(try Platform(parsing: "linux/amd64").description == "linux/amd64")
    for bad in ["linux", "linux/", "/amd64", "a/b/c/d"] {
      #expect(throws: ImageError.self) { try Platform(parsing: bad) }
    }
  }

  @Test func anIndexGivesTheEntryForThePlatform() throws {
    let amd = try descriptor(Platform(os: "linux", architecture: "amd64"), "1")
    let armV7 = try descriptor(Platform(os: "linux", architecture: "arm", variant: "v7"), "2")
    let arm64 = try descriptor(Platform(os: "linux", architecture: "arm64"), "3")
    let attestation = try descriptor(Platform(os: "unknown", architecture: "unknown"), "4")
    let index = ImageIndex(
      schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [attestation, amd, armV7, arm64])
    #expect(try index.manifest(for: Platform(os: "linux", architecture: "amd64"), reference: "r") == amd)
    #expect(try index.manifest(for: Platform(os: "linux", architecture: "arm", variant: "v7"), reference: "r") == armV7)
    #expect(
      try index.manifest(for: Platform(os: "linux", architecture: "arm64", variant: "v8"), reference: "r") == arm64)
    // An arm v8 machine in 32-bit mode takes v7, the best it can run; v6 has nothing to take.
    #expect(try index.manifest(for: Platform(os: "linux", architecture: "arm", variant: "v8"), reference: "r") == armV7)
    #expect(throws: ImageError.self) {
      try index.manifest(for: Platform(os: "linux", architecture: "arm", variant: "v6"), reference: "r")
    }
    #expect {
      try index.manifest(for: Platform(os: "linux", architecture: "s390x"), reference: "docker://h/r")
    } throws: { error in
      "\(error)" == "no image for linux/s390x in docker://h/r (it has linux/amd64, linux/arm/v7, linux/arm64): "
        + "choose one with --platform"
    }
  }

  final class Bytes: ByteSource {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
      let n = min(buffer.count, bytes.count - offset, 3)  // short reads, as a socket gives them
      for i in 0..<n { buffer[i] = bytes[offset + i] }
      offset += n
      return n
    }
  }

  func readAll(_ source: VerifyingSource) throws -> [UInt8] {
    var result: [UInt8] = []
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 16, alignment: 1)
    defer { buffer.deallocate() }
    while true {
      let n = try source.read(into: buffer)
      if n == 0 { return result }
      result += buffer[0..<n]
    }
  }

  @Test func aBlobIsCheckedAsItStreams() throws {
    let bytes = Array("hello, layer".utf8)
    let digest = try Digest(hex: sha256Hex(bytes))
    #expect(try readAll(VerifyingSource(Bytes(bytes), expected: digest, size: 12, what: "blob")) == bytes)
    // A byte changed, a byte more, a byte less: each refused.
    var changed = bytes
    changed[0] = UInt8(ascii: "j")
    for (other, size) in [(changed, 12), (bytes + [0], 12), (Array(bytes.dropLast()), 12), (bytes, 13)] {
      #expect(throws: ImageError.self) {
        try readAll(VerifyingSource(Bytes(other), expected: digest, size: Int64(size), what: "blob"))
      }
    }
    // A size no blob has (from a hostile manifest) neither overflows nor passes.
    #expect(throws: ImageError.self) {
      try readAll(VerifyingSource(Bytes(bytes), expected: digest, size: Int64.max, what: "blob"))
    }
    #expect(throws: ImageError.self) {
      try readAll(VerifyingSource(Bytes(bytes), expected: digest, size: -1, what: "blob"))
    }
    #expect(throws: ImageError.self) { try VerifyingSource.check(changed, expected: digest, size: 12, what: "config") }
    try VerifyingSource.check(bytes, expected: digest, size: nil, what: "config")
  }
}

/// Descriptors with sizes no blob has are refused as they are decoded.
struct DescriptorSizeTests {
  @Test(arguments: ["9223372036854775807", "-1", "1099511627777"])
  func refusesImpossibleSizes(size: String) {
    let json = #"{"mediaType":"x","digest":"sha256:\#(String(repeating: "0", count: 64))","size":\#(size)}"#
    #expect(throws: DecodingError.self) { try JSONDecoder().decode(Descriptor.self, from: Data(json.utf8)) }
  }

  @Test func readsARealOne() throws {
    let json = #"{"mediaType":"x","digest":"sha256:\#(String(repeating: "0", count: 64))","size":12,"urls":["u"]}"#
    let descriptor = try JSONDecoder().decode(Descriptor.self, from: Data(json.utf8))
    #expect(descriptor.size == 12 && descriptor.urls == ["u"])
  }
}
