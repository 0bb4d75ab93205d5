import Foundation
import Glibc
import TaskerArchive
import TaskerImage

/// An `ImageSource` of the tests' own, standing in for the registry and layout readers: the
/// manifest, config and blobs it serves are files in a directory the test writes. Blobs are
/// checked as they stream (`VerifyingSource`), as every real source does. Counts the blobs
/// opened, per digest.
final class StandInImageSource: ImageSource, @unchecked Sendable {
  let directory: String
  let manifest: ImageManifest
  let config: ImageConfig
  let configBytes: [UInt8]
  private let lock = NSLock()
  private var opened: [String: Int] = [:]

  /// `layers`: tar streams (plain, or gzip'd with `gzip: true`), bottom first. `diffIDs`
  /// overrides the config's (a mismatch test).
  init(
    directory: String, layers: [(path: String, gzip: Bool)], defaults: ImageConfig.Defaults? = nil,
    diffIDs: [Digest]? = nil
  ) throws {
    self.directory = directory
    var descriptors: [Descriptor] = []
    var computed: [Digest] = []
    for layer in layers {
      let tar = try Array(Data(contentsOf: URL(fileURLWithPath: layer.path)))
      computed.append(try Digest(hex: sha256Hex(tar)))
      var blob = tar
      if layer.gzip {
        let packed = try run("/bin/sh", ["-c", "gzip -n -c < '\(layer.path)' > '\(layer.path).gz'"])
        guard packed.status == 0 else { throw POSIXError(.EIO) }
        blob = try Array(Data(contentsOf: URL(fileURLWithPath: layer.path + ".gz")))
      }
      let digest = try Digest(hex: sha256Hex(blob))
      try Data(blob).write(to: URL(fileURLWithPath: directory + "/" + digest.hex))
      descriptors.append(
        Descriptor(
          mediaType: layer.gzip ? MediaType.ociLayerGzip : MediaType.ociLayer, digest: digest,
          size: Int64(blob.count)))
    }
    config = ImageConfig(
      architecture: Platform.host.architecture, os: "linux", config: defaults,
      rootfs: .init(diff_ids: diffIDs ?? computed))
    configBytes = Array(try JSONEncoder().encode(config))
    let configDigest = try Digest(hex: sha256Hex(configBytes))
    // As a reader decodes it (the type has no memberwise initializer outside its module).
    struct Written: Encodable {
      var schemaVersion = 2
      var mediaType = MediaType.ociManifest
      var config: Descriptor
      var layers: [Descriptor]
    }
    let written = Written(
      config: Descriptor(mediaType: MediaType.ociConfig, digest: configDigest, size: Int64(configBytes.count)),
      layers: descriptors)
    manifest = try JSONDecoder().decode(ImageManifest.self, from: JSONEncoder().encode(written))
  }

  func resolve(platform: Platform) throws(ImageError) -> ResolvedImage {
    do {
      let manifestBytes = Array(try JSONEncoder().encode(manifest))
      return ResolvedImage(
        reference: "stand-in", manifestDigest: try Digest(hex: sha256Hex(manifestBytes)), manifest: manifest,
        configDigest: manifest.config.digest, config: config, configBytes: configBytes)
    } catch let error as ImageError {
      throw error
    } catch {
      throw .format("\(error)")
    }
  }

  func openBlob(_ descriptor: Descriptor) throws(ImageError) -> any ByteSource {
    lock.withLock { opened[descriptor.digest.hex, default: 0] += 1 }
    let fd = open(directory + "/" + descriptor.digest.hex, O_RDONLY | O_CLOEXEC)
    if fd < 0 { throw .format("no blob \(descriptor.digest)") }
    return VerifyingSource(
      OwnedFileSource(fd: fd), expected: descriptor.digest, size: descriptor.size, what: "layer \(descriptor.digest)")
  }

  func timesOpened(_ digest: Digest) -> Int { lock.withLock { opened[digest.hex] ?? 0 } }
}

/// A file read to its end, closed when the source goes.
final class OwnedFileSource: ByteSource {
  let fd: Int32
  init(fd: Int32) { self.fd = fd }
  deinit { close(fd) }
  func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
    if n < 0 { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    return n
  }
}

/// A tar of the tree `files` describes (path → contents; a path ending in `/` is a directory),
/// written by GNU tar in the order given.
func layerTar(at path: String, _ files: [(String, String)]) throws {
  let tree = try Scratch("tasker-layer")
  defer { tree.remove() }
  for (name, contents) in files {
    let target = tree.url.appendingPathComponent(name)
    if name.hasSuffix("/") {
      try FileManager.default.createDirectory(at: target, withIntermediateDirectories: true)
    } else {
      try FileManager.default.createDirectory(
        at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
      try Data(contents.utf8).write(to: target)
    }
  }
  let names = files.map { "./" + $0.0 }
  let packed = try run("/bin/tar", ["-C", tree.path, "--no-recursion", "-cf", path] + names)
  guard packed.status == 0 else { throw POSIXError(.EIO) }
}
