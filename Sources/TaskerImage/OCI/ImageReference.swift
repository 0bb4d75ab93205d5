/// An image named with one of skopeo's and podman's transports. The prefix is required, so that
/// a local path (even one with a colon) stays a tarball location (`ImageLocation`).
///
///     docker://HOST[:PORT]/REPO[:TAG|@sha256:DIGEST]   a registry (HTTP API v2)
///     oci:DIR[:TAG]                                    an OCI image layout
///     oci-archive:FILE[:TAG]                           an OCI image layout in a tar
///     docker-archive:FILE[:NAME:TAG]                   `docker save` output
public enum ImageReference: Hashable, Sendable, CustomStringConvertible {
  case registry(RegistryReference)
  case ociLayout(path: String, tag: String?)
  case ociArchive(path: String, tag: String?)
  case dockerArchive(path: String, name: String?)

  /// The transports' prefixes, as typed.
  public static let prefixes = ["docker://", "oci:", "oci-archive:", "docker-archive:"]

  /// Whether `text` names an image by a transport (then `init(parsing:)` must accept it).
  public static func hasTransport(_ text: String) -> Bool { prefixes.contains { text.hasPrefix($0) } }

  /// Parses a reference with its transport prefix.
  public init(parsing text: String) throws(ImageError) {
    func fail(_ reason: String) -> ImageError { .invalidReference(text, reason: reason) }
    if text.hasPrefix("docker://") {
      self = .registry(try RegistryReference(parsing: String(text.dropFirst("docker://".count)), whole: text))
      return
    }
    for (prefix, make) in [
      ("oci-archive:", { (path: String, rest: String?) in ImageReference.ociArchive(path: path, tag: rest) }),
      ("docker-archive:", { ImageReference.dockerArchive(path: $0, name: $1) }),
      ("oci:", { ImageReference.ociLayout(path: $0, tag: $1) }),
    ] where text.hasPrefix(prefix) {
      let body = text.dropFirst(prefix.count)
      // As containers/image: the path ends at the first colon.
      let path = String(body.prefix { $0 != ":" })
      let rest = path.count < body.count ? String(body.dropFirst(path.count + 1)) : nil
      guard !path.isEmpty else { throw fail("no path after \"\(prefix)\"") }
      guard !path.utf8.contains(0) else { throw fail("the path holds a NUL byte") }
      if let rest {
        guard !rest.isEmpty else { throw fail("empty name after the path's colon") }
        if prefix == "docker-archive:" {
          // NAME:TAG, a docker reference without transport.
          _ = try RegistryReference(parsing: rest, whole: text)
        } else {
          guard RegistryReference.isValidTag(rest) || Self.isValidLayoutName(rest) else {
            throw fail("invalid tag \"\(rest)\"")
          }
        }
      }
      self = make(path, rest)
      return
    }
    throw fail("expected docker://, oci:, oci-archive: or docker-archive:")
  }

  /// An OCI layout's `org.opencontainers.image.ref.name` may be more than a tag (image-spec:
  /// components of alphanumerics separated by `-._:@/+`).
  static func isValidLayoutName(_ text: String) -> Bool {
    !text.isEmpty && text.utf8.count <= 255
      && text.utf8.allSatisfy { byte in
        (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte)
          || "-._:@/+".utf8.contains(byte)
      }
  }

  public var description: String {
    switch self {
    case .registry(let reference): return "docker://" + reference.description
    case .ociLayout(let path, let tag): return "oci:" + path + (tag.map { ":" + $0 } ?? "")
    case .ociArchive(let path, let tag): return "oci-archive:" + path + (tag.map { ":" + $0 } ?? "")
    case .dockerArchive(let path, let name): return "docker-archive:" + path + (name.map { ":" + $0 } ?? "")
    }
  }
}

/// `HOST[:PORT]/REPO[:TAG][@sha256:DIGEST]`, normalised as docker and podman do: a first
/// component that has no `.` or `:` and is not `localhost` is a path on Docker Hub (`docker.io`,
/// `library/` before a single component).
public struct RegistryReference: Hashable, Sendable, CustomStringConvertible {
  /// `host` or `host:port` as typed (`docker.io` for Docker Hub).
  public var host: String
  /// The repository's path: `library/busybox`, `org/app`.
  public var repository: String
  public var tag: String?
  public var digest: Digest?

  public init(host: String, repository: String, tag: String? = nil, digest: Digest? = nil) {
    self.host = host
    self.repository = repository
    self.tag = tag
    self.digest = digest
  }

  /// Parses the part after `docker://`; `whole` is what the user typed, for messages.
  public init(parsing text: String, whole: String? = nil) throws(ImageError) {
    func fail(_ reason: String) -> ImageError { .invalidReference(whole ?? text, reason: reason) }
    var rest = Substring(text)
    if let at = rest.firstIndex(of: "@") {
      digest = try Digest(String(rest[rest.index(after: at)...]))
      rest = rest[..<at]
    }
    var components = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
    guard !components.isEmpty, components.allSatisfy({ !$0.isEmpty }) else {
      throw fail("empty name or path component")
    }
    // A tag is after the last component's colon (a host's port is in the first component, and a
    // name alone is a repository on Docker Hub: `localhost:5000` alone is `localhost`, tag 5000).
    let last = components[components.count - 1]
    if let colon = last.lastIndex(of: ":") {
      let tag = String(last[last.index(after: colon)...])
      guard Self.isValidTag(tag) else { throw fail("invalid tag \"\(tag)\"") }
      self.tag = tag
      components[components.count - 1] = String(last[..<colon])
    }
    let first = components[0]
    if components.count > 1, first.contains(".") || first.contains(":") || first == "localhost" {
      host = first.lowercased() == "index.docker.io" ? "docker.io" : first
      components.removeFirst()
      guard Self.isValidHost(host) else { throw fail("invalid registry host \"\(host)\"") }
    } else {
      host = "docker.io"
    }
    if host == "docker.io" && components.count == 1 { components.insert("library", at: 0) }
    for component in components where !Self.isValidPathComponent(component) {
      throw fail(
        "invalid repository name component \"\(component)\" (lowercase letters, digits, and . _ - between them)")
    }
    repository = components.joined(separator: "/")
    guard repository.utf8.count <= 255 else { throw fail("repository name longer than 255 characters") }
  }

  /// The host the HTTP API is asked (Docker Hub's API has a host of its own).
  public var apiHost: String { host == "docker.io" ? "registry-1.docker.io" : host }

  /// What a manifest request names: the digest if there is one, else the tag (`latest` if none).
  public var manifestReference: String { digest?.description ?? tag ?? "latest" }

  public var description: String {
    host + "/" + repository + (tag.map { ":" + $0 } ?? "") + (digest.map { "@" + $0.description } ?? "")
  }

  /// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
  public static func isValidTag(_ text: String) -> Bool {
    guard let first = text.utf8.first, text.utf8.count <= 128 else { return false }
    func word(_ byte: UInt8) -> Bool {
      (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte) || byte == 95
    }
    return word(first) && text.utf8.allSatisfy { word($0) || $0 == 46 || $0 == 45 }
  }

  /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
  static func isValidPathComponent(_ text: String) -> Bool {
    func alnum(_ byte: UInt8) -> Bool { (48...57).contains(byte) || (97...122).contains(byte) }
    let bytes = Array(text.utf8)
    guard let first = bytes.first, let last = bytes.last, alnum(first), alnum(last) else { return false }
    var i = 0
    while i < bytes.count {
      if alnum(bytes[i]) {
        i += 1
        continue
      }
      var j = i
      while j < bytes.count && !alnum(bytes[j]) { j += 1 }
      let separator = bytes[i..<j]
      let dashes = separator.allSatisfy { $0 == 45 }
      guard
        dashes || separator.elementsEqual([46]) || separator.elementsEqual([95]) || separator.elementsEqual([95, 95])
      else { return false }
      i = j
    }
    return true
  }

  /// A DNS name or IPv4 address (or `[IPv6]`), with an optional port.
  static func isValidHost(_ text: String) -> Bool {
    var name = Substring(text)
    if name.hasPrefix("[") {
      guard let close = name.firstIndex(of: "]") else { return false }
      let inside = name[name.index(after: name.startIndex)..<close]
      guard !inside.isEmpty, inside.utf8.allSatisfy({ $0 == 58 || isHex($0) }) else { return false }
      name = name[name.index(after: close)...]
      if name.isEmpty { return true }
      guard name.hasPrefix(":") else { return false }
      return isPort(name.dropFirst())
    }
    if let colon = name.lastIndex(of: ":") {
      guard isPort(name[name.index(after: colon)...]) else { return false }
      name = name[..<colon]
    }
    return !name.isEmpty
      && name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
        !label.isEmpty && label.utf8.count <= 63 && label.first != "-" && label.last != "-"
          && label.utf8.allSatisfy {
            isHex($0) || (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) || $0 == 45
          }
      }
  }

  private static func isHex(_ byte: UInt8) -> Bool {
    (48...57).contains(byte) || (97...102).contains(byte) || (65...70).contains(byte)
  }

  private static func isPort(_ text: Substring) -> Bool {
    guard !text.isEmpty, text.utf8.count <= 5, text.utf8.allSatisfy({ (48...57).contains($0) }), let value = Int(text)
    else { return false }
    return (1...65535).contains(value)
  }
}
