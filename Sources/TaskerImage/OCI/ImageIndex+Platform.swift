extension ImageIndex {
  /// The entry for `platform`, as containerd and podman choose it: same OS and architecture,
  /// and the variant asked for (none asked: the first entry of any variant). Entries that are
  /// not images (attestations, signatures: no platform or os `unknown`) are passed over. An
  /// index with no such entry throws `ImageError.platform`, naming what it has.
  public func manifest(for platform: Platform, reference: String) throws(ImageError) -> Descriptor {
    let images = manifests.filter { $0.platform != nil && $0.platform?.os != "unknown" }
    let matching = images.filter {
      $0.platform?.os == platform.os && $0.platform?.architecture == platform.architecture
    }
    if let variant = platform.variant {
      if let exact = matching.first(where: { $0.platform?.variant == variant }) { return exact }
      // arm64's only variant is v8: an entry without one is it.
      if variant == "v8", let plain = matching.first(where: { $0.platform?.variant == nil }) { return plain }
      // An armvN machine runs code for any earlier vM: the best of those (as containerd's matcher).
      if let wanted = Self.armLevel(variant) {
        let older = matching.compactMap { entry in
          entry.platform?.variant.flatMap(Self.armLevel).flatMap { $0 < wanted ? ($0, entry) : nil }
        }
        if let best = older.max(by: { $0.0 < $1.0 }) { return best.1 }
      }
    } else if let first = matching.first {
      return first
    }
    let offered = images.compactMap { $0.platform?.description }
    throw .platform(
      "no image for \(platform) in \(reference)"
        + (offered.isEmpty ? " (its index names no platform)" : " (it has \(offered.joined(separator: ", ")))")
        + ": choose one with --platform")
  }

  /// 5 for "v5", ...; nil for what is not an arm level.
  static func armLevel(_ variant: String) -> Int? {
    guard variant.hasPrefix("v"), let level = Int(variant.dropFirst()), (5...8).contains(level) else { return nil }
    return level
  }
}
