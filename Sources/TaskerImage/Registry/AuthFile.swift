import Glibc
import TaskerSystem

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Registry credentials in the containers `auth.json` format that podman, skopeo and buildah
/// share: `{"auths": {"HOST[:PORT]": {"auth": base64("user:password")}}}`. Docker's
/// `~/.docker/config.json` has the same shape and is read as a fallback, never written.
/// Credential helpers (`credHelpers`, `credsStore`) are not run: their entries are ignored.
public struct AuthFile: Sendable {
  /// A user name and password for one registry.
  public struct Credentials: Sendable, Equatable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
      self.username = username
      self.password = password
    }

    /// `base64(user:password)`, the value of `auth` and of a Basic Authorization header.
    public var encoded: String { Data("\(username):\(password)".utf8).base64EncodedString() }
  }

  /// The file written by `tasker login` (and read first): `explicit` (`--authfile`), else
  /// `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`, else, for root,
  /// `/run/containers/0/auth.json` as podman; for others without XDG_RUNTIME_DIR,
  /// `~/.config/containers/auth.json`.
  public static func primaryPath(explicit: String?, environment: [String: String]) -> String {
    if let explicit, !explicit.isEmpty { return explicit }
    if let file = environment["REGISTRY_AUTH_FILE"], !file.isEmpty { return file }
    if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty { return runtime + "/containers/auth.json" }
    if UserNamespace.hostUID == 0 { return "/run/containers/0/auth.json" }
    return (environment["HOME"] ?? "") + "/.config/containers/auth.json"
  }

  /// The files credentials are looked up in, in order: the primary file, then (unless a file was
  /// named explicitly) `~/.docker/config.json`.
  public static func lookupPaths(explicit: String?, environment: [String: String]) -> [String] {
    let primary = primaryPath(explicit: explicit, environment: environment)
    if explicit != nil && !(explicit ?? "").isEmpty { return [primary] }
    guard let home = environment["HOME"], !home.isEmpty else { return [primary] }
    return [primary, home + "/.docker/config.json"]
  }

  /// The process's environment as a dictionary.
  public static var processEnvironment: [String: String] {
    var result: [String: String] = [:]
    var entry = environ
    while let pointer = entry.pointee {
      let text = String(cString: pointer)
      if let equals = text.firstIndex(of: "=") {
        result[String(text[..<equals])] = String(text[text.index(after: equals)...])
      }
      entry += 1
    }
    return result
  }

  /// The credentials stored for `host` (`HOST[:PORT]`) in the first of `paths` that has them.
  /// Docker Hub's are also found under `https://index.docker.io/v1/`, as docker writes them.
  public static func credentials(for host: String, paths: [String]) throws(ImageError) -> Credentials? {
    let keys = host == "docker.io" ? ["docker.io", "https://index.docker.io/v1/", "index.docker.io"] : [host]
    for path in paths {
      guard let document = try read(path) else { continue }
      for key in keys {
        guard case .string(let auth) = document["auths"]?[key]?["auth"] else { continue }
        return try decode(auth, host: host, path: path)
      }
    }
    return nil
  }

  /// Stores `credentials` for `host` in `path`, keeping every other entry: written whole to a
  /// new file renamed over the old (mode 0600; a missing parent is made 0700).
  public static func store(_ credentials: Credentials, for host: String, in path: String) throws(ImageError) {
    var document = try read(path) ?? .object([:])
    var auths = document["auths"] ?? .object([:])
    auths[host] = .object(["auth": .string(credentials.encoded)])
    document["auths"] = auths
    try write(document, to: path)
  }

  /// Removes `host`'s entry from `path`: false if it had none.
  public static func remove(host: String, from path: String) throws(ImageError) -> Bool {
    guard var document = try read(path), var auths = document["auths"], auths[host] != nil else { return false }
    auths[host] = nil
    document["auths"] = auths
    try write(document, to: path)
    return true
  }

  /// Removes every entry from `path`: false if it had none.
  public static func removeAll(from path: String) throws(ImageError) -> Bool {
    guard var document = try read(path), case .object(let auths)? = document["auths"], !auths.isEmpty else {
      return false
    }
    document["auths"] = .object([:])
    try write(document, to: path)
    return true
  }

  /// The hosts `path` holds credentials for.
  public static func hosts(in path: String) throws(ImageError) -> [String] {
    guard let document = try read(path), case .object(let auths)? = document["auths"] else { return [] }
    return auths.keys.sorted()
  }

  private static func decode(_ auth: String, host: String, path: String) throws(ImageError) -> Credentials {
    guard let data = Data(base64Encoded: auth), let text = String(bytes: data, encoding: .utf8),
      let colon = text.firstIndex(of: ":")
    else { throw .format("\(path): the credentials for \(host) are not base64 of user:password") }
    return Credentials(username: String(text[..<colon]), password: String(text[text.index(after: colon)...]))
  }

  private static func read(_ path: String) throws(ImageError) -> JSONValue? {
    let bytes: [UInt8]
    do {
      bytes = try readFileBytes(path, limit: 4 << 20)
    } catch {
      if error.errno == ENOENT || error.errno == ENOTDIR { return nil }
      throw .file(error)
    }
    if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0a || $0 == 0x09 || $0 == 0x0d }) { return nil }
    do {
      let value = try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
      guard case .object = value else { throw ImageError.format("\(path): not a JSON object") }
      return value
    } catch {
      throw .format("\(path): invalid auth file: \(error)")
    }
  }

  private static func write(_ document: JSONValue, to path: String) throws(ImageError) {
    let parent = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    do {
      try makeDirectories(parent)
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
      let bytes = try encoder.encode(document)
      try writeFileAtomically(path, Array(bytes) + [0x0a], mode: 0o600)
    } catch let error as SystemError {
      throw .file(error)
    } catch {
      throw .format("\(path): cannot encode the auth file: \(error)")
    }
  }

  /// `mkdir -p` with mode 0700 for what it makes: credentials' directories are private.
  private static func makeDirectories(_ path: String) throws(SystemError) {
    guard !path.isEmpty, !pathExists(path) else { return }
    let parent = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    try makeDirectories(parent)
    if mkdir(path, 0o700) != 0 && errno != EEXIST { throw SystemError("mkdir", path: path, errno: errno) }
  }
}
