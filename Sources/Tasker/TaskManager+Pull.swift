import Glibc
import Synchronization
import TaskerArchive
import TaskerImage
import TaskerSystem

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// How a pull goes.
public struct PullOptions: Sendable {
  /// nil: the host's platform.
  public var platform: Platform?
  public var registry: RegistryOptions
  public var policy: PullPolicy
  public var extractionLimits: ExtractionLimits
  /// Layers fetched and unpacked at once.
  public var concurrency: Int
  /// Called from the layers' threads as each one goes.
  public var progress: (@Sendable (LayerProgress) -> Void)?

  public init(
    platform: Platform? = nil, registry: RegistryOptions = RegistryOptions(), policy: PullPolicy = .missing,
    extractionLimits: ExtractionLimits = .default, concurrency: Int = 3,
    progress: (@Sendable (LayerProgress) -> Void)? = nil
  ) {
    self.platform = platform
    self.registry = registry
    self.policy = policy
    self.extractionLimits = extractionLimits
    self.concurrency = concurrency
    self.progress = progress
  }
}

/// Where one layer of a pull is.
public struct LayerProgress: Sendable, Equatable {
  public enum State: Sendable, Equatable {
    /// Its blob is coming in (`received` of `total` compressed bytes).
    case fetching
    /// Unpacked by this pull.
    case unpacked
    /// Already in the layer store: nothing fetched.
    case present
  }
  /// Bottom first, from 0.
  public var index: Int
  public var count: Int
  /// The compressed blob's digest.
  public var digest: Digest
  public var received: Int64
  public var total: Int64
  public var state: State
}

/// A layered image ready to be a task's root.
public struct PulledImage: Sendable {
  public var image: LayeredImage
  /// The layers' trees, bottom first.
  public var layerPaths: [String]
  /// Layers this pull unpacked (0: all were in the store).
  public var layersUnpacked: Int
  /// Files of its layers whose owner a rootless unpack could not map (no subordinate ids).
  public var unmappedOwners = 0
}

extension TaskManager {
  /// Pulls `reference` (`docker://`, `oci:`, `oci-archive:`, `docker-archive:`) into the layer
  /// store, each layer unpacked once by its diff_id, and records the image under its ID.
  /// `policy`: `missing` uses a reference pulled before without asking its source, `always`
  /// resolves it again (layers already here are not fetched), `never` needs it pulled before.
  public func pull(_ reference: String, options: PullOptions = PullOptions()) async throws(TaskerError)
    -> PulledImage
  {
    let result: Swift.Result<PulledImage, TaskerError> = await onBlockingThread {
      Swift.Result { () throws(TaskerError) in
        var locks: [Int32] = []
        defer { for lock in locks { close(lock) } }
        return try pullNow(reference, options: options, locks: &locks)
      }
    }
    return try result.get()
  }

  /// The reference as records name it: a layout's or archive's path made absolute.
  static func canonicalReference(_ text: String) throws(TaskerError) -> ImageReference {
    do {
      switch try ImageReference(parsing: text) {
      case .registry(let reference): return .registry(reference)
      case .ociLayout(let path, let tag): return .ociLayout(path: absolutePath(path), tag: tag)
      case .ociArchive(let path, let tag): return .ociArchive(path: absolutePath(path), tag: tag)
      case .dockerArchive(let path, let name): return .dockerArchive(path: absolutePath(path), name: name)
      }
    } catch {
      throw TaskerError(.invalidArgument, error.description, cause: error)
    }
  }

  /// The pull itself. `locks` receives shared locks on the image's layers and its record,
  /// which the caller closes once a task's record names the image (see `LayerStore.prune` and
  /// `LayeredImageStore.prune`).
  /// The most layers an image may have (overlayfs's limit on lower layers).
  static let maxLayers = 500

  package func pullNow(_ text: String, options: PullOptions, locks: inout [Int32]) throws(TaskerError) -> PulledImage {
    let reference = try Self.canonicalReference(text)
    let platform = options.platform ?? .host
    try store.prepare()  // a first pull into a new state root (`--root DIR`) makes it
    let images = LayeredImageStore(stateRoot: settings.stateRoot)
    let layers = LayerStore(stateRoot: settings.stateRoot)
    let name = reference.description
    let lock = try images.lockReference(name, platform: platform)
    defer { close(lock) }
    func complete(_ image: LayeredImage) -> PulledImage? {
      let paths = image.diffIDs.map { layers.diffPath($0) }
      var held = layers.lockShared(image.diffIDs)
      if let lock = images.lockShared(image.id) { held.append(lock) }
      // Checked once locked: a prune may have removed either meanwhile.
      guard paths.allSatisfy(pathExists), images.image(configHex: image.id.hex) != nil else {
        for lock in held { close(lock) }
        return nil
      }
      locks += held
      return PulledImage(
        image: image, layerPaths: paths, layersUnpacked: 0, unmappedOwners: layers.unmappedOwners(image.diffIDs))
    }
    if options.policy != .always, let known = images.known(name, platform: platform), let ready = complete(known) {
      return ready
    }
    if options.policy == .never {
      throw TaskerError(.image, "image not pulled yet (and --pull never): \(name)")
    }
    do {
      let source = try imageSourceOpener(reference, options.registry)
      let resolved = try source.resolve(platform: platform)
      let diffIDs = resolved.config.rootfs.diff_ids
      // overlayfs stacks at most 500 lower layers: an image with more could never run, and
      // fetching them first would only fill the disk.
      guard resolved.manifest.layers.count <= Self.maxLayers else {
        throw ImageError.format(
          "\(name): the image has \(resolved.manifest.layers.count) layers, more than the \(Self.maxLayers) "
            + "overlayfs can stack")
      }
      guard diffIDs.count == resolved.manifest.layers.count, !diffIDs.isEmpty else {
        throw ImageError.format(
          "\(name): the manifest has \(resolved.manifest.layers.count) layers and the config "
            + "\(diffIDs.count) diff_ids")
      }
      let unpacked = try fetchLayers(
        resolved.manifest.layers, diffIDs: diffIDs, from: source, options: options, locks: &locks)
      let image = LayeredImage(
        references: [name], manifestDigest: resolved.manifestDigest, id: resolved.configDigest,
        config: resolved.config, diffIDs: diffIDs, layers: resolved.manifest.layers, platform: platform.description,
        pulledAt: Date())
      // Saved, then share-locked and checked: a prune that removed the record between the two
      // makes it be saved again.
      var saved: LayeredImage?
      for attempt in 0..<3 where saved == nil {
        do {
          try images.save(image, reference: name, platform: platform)
        } catch {
          // A prune removed the image's folder under the save (ENOENT): once more.
          if attempt == 2 { throw error }
          continue
        }
        guard let lock = images.lockShared(image.id) else { continue }
        saved = images.image(configHex: image.id.hex)
        if saved == nil { close(lock) } else { locks.append(lock) }
      }
      guard let saved else { throw ImageError.format("cannot keep the record of image \(image.id)") }
      return PulledImage(
        image: saved, layerPaths: diffIDs.map { layers.diffPath($0) }, layersUnpacked: unpacked,
        unmappedOwners: layers.unmappedOwners(diffIDs))
    } catch {
      throw TaskerError.image(error)
    }
  }

  /// Fetches and unpacks the layers not in the store, `options.concurrency` at a time; the
  /// first failure (in layer order) is thrown once every thread has stopped. Returns how many
  /// this call unpacked.
  private func fetchLayers(
    _ descriptors: [Descriptor], diffIDs: [Digest], from source: any ImageSource, options: PullOptions,
    locks: inout [Int32]
  ) throws -> Int {
    let layers = LayerStore(stateRoot: settings.stateRoot)
    let extractor = ConfinedExtractor(
      helperPath: settings.unpackPath, options: ExtractionOptions(limits: options.extractionLimits, layer: true))
    let fetch = LayerFetch(
      descriptors: descriptors, diffIDs: diffIDs, source: source, layers: layers, extractor: extractor,
      progress: options.progress)
    let work: @Sendable () -> Void = { fetch.run() }
    var threads: [JoinableThread] = []
    for _ in 0..<max(1, min(options.concurrency, descriptors.count)) {
      do {
        threads.append(try JoinableThread(work))
      } catch {
        // Fewer threads than asked: the ones running take the rest.
        if threads.isEmpty { throw error }
        break
      }
    }
    for thread in threads { thread.join() }
    let outcome = fetch.outcome()
    locks += outcome.locks
    if let failure = outcome.failure { throw failure }
    return outcome.unpacked
  }
}

/// The layers of one pull, taken in turn by several threads.
private final class LayerFetch: Sendable {
  struct Shared {
    var next = 0
    var failures: [Int: any Error] = [:]
    var unpacked = 0
    var locks: [Int32] = []
  }
  let descriptors: [Descriptor]
  let diffIDs: [Digest]
  let source: any ImageSource
  let layers: LayerStore
  let extractor: ConfinedExtractor
  let progress: (@Sendable (LayerProgress) -> Void)?
  let state = Mutex(Shared())

  init(
    descriptors: [Descriptor], diffIDs: [Digest], source: any ImageSource, layers: LayerStore,
    extractor: ConfinedExtractor, progress: (@Sendable (LayerProgress) -> Void)?
  ) {
    self.descriptors = descriptors
    self.diffIDs = diffIDs
    self.source = source
    self.layers = layers
    self.extractor = extractor
    self.progress = progress
  }

  /// The first failure in layer order, the layers unpacked, and the layers' shared locks.
  func outcome() -> (failure: (any Error)?, unpacked: Int, locks: [Int32]) {
    state.withLock { ($0.failures.sorted { $0.key < $1.key }.first?.value, $0.unpacked, $0.locks) }
  }

  private func take() -> Int? {
    state.withLock { state in
      // After a failure no new layer is started.
      guard state.next < descriptors.count, state.failures.isEmpty else { return nil }
      state.next += 1
      return state.next - 1
    }
  }

  func run() {
    while let index = take() {
      let descriptor = descriptors[index]
      let count = descriptors.count
      let event: @Sendable (Int64, LayerProgress.State) -> LayerProgress = { received, state in
        LayerProgress(
          index: index, count: count, digest: descriptor.digest, received: received, total: descriptor.size,
          state: state)
      }
      var onBytes: (@Sendable (Int64) -> Void)?
      if let progress { onBytes = { progress(event($0, .fetching)) } }
      do {
        let obtained = try layers.obtain(
          descriptor, diffID: diffIDs[index], from: source, extractor: extractor, progress: onBytes)
        progress?(event(descriptor.size, obtained.unpacked ? .unpacked : .present))
        state.withLock { state in
          state.locks.append(obtained.lock)
          if obtained.unpacked { state.unpacked += 1 }
        }
      } catch {
        state.withLock { $0.failures[index] = error }
      }
    }
  }
}
