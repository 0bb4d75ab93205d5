import Glibc
import TaskerSystem

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// Where tasker keeps its state and puts task directories, and where its supervisor lives.
///
/// Each value comes from, in order of precedence: the caller (a command-line flag), the
/// environment (`TASKER_ROOT`, `TASKER_DOWNLOAD_PATH`), the configuration file
/// (`/etc/tasker/config.json`, or the file `TASKER_CONFIG` names, with the keys `root` and
/// `downloadPath`), and the default (`/var/lib/tasker`; the current directory).
///
/// A user other than root has state and configuration of their own, where podman keeps a
/// rootless user's (the XDG base directories): the state root `$XDG_DATA_HOME/tasker` (default
/// `~/.local/share/tasker`), the configuration file `$XDG_CONFIG_HOME/tasker/config.json`
/// (default `~/.config/tasker/config.json`). So a user never reads nor lists root's tasks by
/// default.
public struct TaskerSettings: Sendable {
  /// The state root: task records, logs.
  public var stateRoot: String
  /// The directory in which each task's root filesystem directory is made.
  public var downloadPath: String
  /// The `tasker-supervisor` executable.
  public var supervisorPath: String
  /// The `tasker-unpack` executable, which extracts images confined.
  public var unpackPath: String

  /// Root's state root when nothing sets one.
  public static let defaultStateRoot = "/var/lib/tasker"
  /// Root's configuration file when `TASKER_CONFIG` names none.
  public static let defaultConfigFile = "/etc/tasker/config.json"

  /// The state root when nothing sets one, for the user `uid`: root's `/var/lib/tasker`, or the
  /// user's `$XDG_DATA_HOME/tasker` (`~/.local/share/tasker` when it is unset or, as the XDG
  /// specification says, not absolute).
  public static func defaultStateRoot(
    uid: uid_t = UserNamespace.hostUID, environment: [String: String] = currentEnvironment()
  ) -> String {
    guard uid != 0 else { return defaultStateRoot }
    return userDirectory("XDG_DATA_HOME", fallback: ".local/share", uid: uid, environment: environment) + "/tasker"
  }

  /// The configuration file when `TASKER_CONFIG` names none, for the user `uid`: root's
  /// `/etc/tasker/config.json`, or the user's `$XDG_CONFIG_HOME/tasker/config.json`
  /// (`~/.config/tasker/config.json`).
  public static func defaultConfigFile(
    uid: uid_t = UserNamespace.hostUID, environment: [String: String] = currentEnvironment()
  ) -> String {
    guard uid != 0 else { return defaultConfigFile }
    return userDirectory("XDG_CONFIG_HOME", fallback: ".config", uid: uid, environment: environment)
      + "/tasker/config.json"
  }

  /// An XDG base directory: the variable's value if it is an absolute path, else `fallback`
  /// under the home directory (`$HOME`, else the passwd entry's).
  private static func userDirectory(
    _ variable: String, fallback: String, uid: uid_t, environment: [String: String]
  ) -> String {
    if let value = environment[variable], value.hasPrefix("/") { return value }
    var home = environment["HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil }
    if home == nil, let entry = getpwuid(uid), let directory = entry.pointee.pw_dir {
      home = String(cString: directory)
    }
    let base = home ?? "/"
    return (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/" + fallback
  }

  public init(
    stateRoot: String, downloadPath: String, supervisorPath: String,
    unpackPath: String = besideExecutable("tasker-unpack")
  ) {
    self.stateRoot = stateRoot
    self.downloadPath = downloadPath
    self.supervisorPath = supervisorPath
    self.unpackPath = unpackPath
  }

  /// What the configuration file may say (every key optional).
  struct ConfigFile: Decodable {
    var root: String?
    var downloadPath: String?
  }

  /// Resolves the settings from flags, the environment, the configuration file and defaults.
  ///
  /// Written by hand, not with apple/swift-configuration, which does this layering: its JSON
  /// provider imports all of Foundation (and ICU), which cost every tasker command about ten
  /// milliseconds of start-up, more than a whole jailed `/bin/true`. Two keys do not need it.
  public static func resolve(
    stateRoot: String? = nil, downloadPath: String? = nil,
    environment: [String: String] = currentEnvironment()
  ) async throws(TaskerError) -> TaskerSettings {
    let explicitFile = environment["TASKER_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
    let configFile = explicitFile ?? defaultConfigFile(environment: environment)
    let file = try readConfigFile(configFile, mustExist: explicitFile != nil)
    func fromEnvironment(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
    let root =
      stateRoot ?? fromEnvironment("TASKER_ROOT") ?? file.root ?? defaultStateRoot(environment: environment)
    let download = downloadPath ?? fromEnvironment("TASKER_DOWNLOAD_PATH") ?? file.downloadPath ?? "."
    let supervisor = fromEnvironment("TASKER_SUPERVISOR") ?? defaultSupervisorPath()
    let unpack = fromEnvironment("TASKER_UNPACK") ?? besideExecutable("tasker-unpack")
    return TaskerSettings(
      stateRoot: absolutePath(root), downloadPath: absolutePath(download), supervisorPath: supervisor,
      unpackPath: unpack)
  }

  /// The state root alone, as `resolve` settles it (for callers that need nothing else, such
  /// as shell completion).
  public static func stateRoot(
    flag: String?, environment: [String: String] = currentEnvironment()
  ) throws(TaskerError) -> String {
    if let flag { return absolutePath(flag) }
    if let root = environment["TASKER_ROOT"], !root.isEmpty { return absolutePath(root) }
    let explicitFile = environment["TASKER_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
    let file = try readConfigFile(
      explicitFile ?? defaultConfigFile(environment: environment), mustExist: explicitFile != nil)
    return absolutePath(file.root ?? defaultStateRoot(environment: environment))
  }

  /// The configuration file's settings; a missing default file is fine, a missing file that
  /// TASKER_CONFIG names is not, and a malformed one never is.
  static func readConfigFile(_ path: String, mustExist: Bool) throws(TaskerError) -> ConfigFile {
    let bytes: [UInt8]
    do {
      bytes = try readFileBytes(path)
    } catch {
      if error.errno == ENOENT && !mustExist { return ConfigFile() }
      throw TaskerError(.configuration, "configuration file \(path): \(error.reason)", cause: error)
    }
    do {
      return try JSONDecoder().decode(ConfigFile.self, from: Data(bytes))
    } catch {
      throw TaskerError(
        .configuration, "configuration file \(path): \(describeDecodingError(error))",
        cause: SendableDescription(error))
    }
  }

  /// `tasker-supervisor` beside the running executable (both are built and installed together).
  public static func defaultSupervisorPath() -> String { besideExecutable("tasker-supervisor") }

  /// The program `name` in the running executable's directory (tasker, tasker-supervisor and
  /// tasker-unpack are built and installed together).
  public static func besideExecutable(_ name: String) -> String {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard n > 0 else { return name }
    let executable = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    guard let slash = executable.lastIndex(of: "/") else { return name }
    return executable[..<slash] + "/" + name
  }

  /// The process environment as a dictionary.
  public static func currentEnvironment() -> [String: String] {
    var result: [String: String] = [:]
    var pointer = environ
    while let entry = pointer.pointee {
      let text = String(cString: entry)
      if let equals = text.firstIndex(of: "=") {
        result[String(text[..<equals])] = String(text[text.index(after: equals)...])
      }
      pointer += 1
    }
    return result
  }
}

/// `path` made absolute against the current directory (not resolving symlinks).
func absolutePath(_ path: String) -> String {
  if path.hasPrefix("/") { return path }
  var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
  guard getcwd(&buffer, buffer.count) != nil else { return path }
  let cwd = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  if path == "." { return cwd }
  return (cwd == "/" ? "" : cwd) + "/" + path
}

/// One line for a person: what is wrong with the file, and where.
private func describeDecodingError(_ error: any Error) -> String {
  switch error as? DecodingError {
  case .typeMismatch(_, let context), .valueNotFound(_, let context):
    let key = context.codingPath.map(\.stringValue).joined(separator: ".")
    return "\"\(key)\" must be a string"
  case .dataCorrupted(let context):
    let key = context.codingPath.map(\.stringValue).joined(separator: ".")
    return key.isEmpty
      ? "not valid JSON (expected an object like {\"root\": \"/var/lib/tasker\"})" : "bad value at \(key)"
  default:
    let text = String(describing: error)
    return text.split(separator: "\n").first.map(String.init) ?? text
  }
}

/// An error's description, kept as a Sendable cause.
struct SendableDescription: Error, Sendable, CustomStringConvertible {
  let description: String
  init(_ error: any Error) { description = String(describing: error) }
}
