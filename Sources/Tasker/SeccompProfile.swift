import Glibc
import TaskerSystem

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// A system-call filter in the OCI runtime spec's seccomp format (`linux.seccomp` of a
/// `config.json`), with the `includes`/`excludes` conditions of Docker's and Podman's
/// `seccomp.json`, so a profile written for either is read as they read it.
///
/// tasker's own default (`Sources/Tasker/Resources/seccomp.json`) is an allowlist: every call
/// it does not name fails with `ENOSYS`, so a call newer than the profile fails closed and
/// programs fall back as they do on an older kernel.
public struct SeccompProfile: Codable, Equatable, Sendable {
  public var defaultAction: SeccompAction
  public var defaultErrnoRet: Int?
  public var architectures: [String]?
  public var flags: [String]?
  public var listenerPath: String?
  /// Opaque data passed to the listener with the notify fd (`listenerMetadata`); kept so a
  /// `config.json` reads and writes back whole.
  public var listenerMetadata: String?
  public var syscalls: [Rule]?

  public struct Rule: Codable, Equatable, Sendable {
    public var names: [String]?
    /// The older single-name form some profiles still use.
    public var name: String?
    public var action: SeccompAction
    public var errnoRet: Int?
    public var args: [Argument]?
    public var includes: Condition?
    public var excludes: Condition?
    public var comment: String?

    public init(
      names: [String], action: SeccompAction, errnoRet: Int? = nil, args: [Argument]? = nil,
      includes: Condition? = nil, excludes: Condition? = nil
    ) {
      self.names = names
      self.action = action
      self.errnoRet = errnoRet
      self.args = args
      self.includes = includes
      self.excludes = excludes
    }
  }

  public struct Argument: Codable, Equatable, Sendable {
    public var index: Int
    public var value: UInt64
    public var valueTwo: UInt64?
    public var op: SeccompOperator

    public init(index: Int, value: UInt64, valueTwo: UInt64? = nil, op: SeccompOperator) {
      self.index = index
      self.value = value
      self.valueTwo = valueTwo
      self.op = op
    }
  }

  /// A rule applies only when the task holds every capability in `caps` (includes) or none of
  /// them (excludes), and runs on one of `arches`.
  public struct Condition: Codable, Equatable, Sendable {
    public var caps: [String]?
    public var arches: [String]?
    public var minKernel: String?
  }

  public init(defaultAction: SeccompAction, defaultErrnoRet: Int? = nil, syscalls: [Rule]) {
    self.defaultAction = defaultAction
    self.defaultErrnoRet = defaultErrnoRet
    self.syscalls = syscalls
  }

  /// tasker's default profile, compiled into the library from `Resources/seccomp.json`.
  public static let standard: SeccompProfile = {
    // The document is part of the build: a test decodes the same file, so a malformed one
    // fails there first.
    (try? SeccompProfile.decode(PackageResources.seccomp_json)) ?? SeccompProfile(defaultAction: .kill, syscalls: [])
  }()

  /// Reads a profile from JSON bytes; the error names what is wrong.
  public static func decode(_ bytes: [UInt8]) throws(TaskerError) -> SeccompProfile {
    guard bytes.count <= 4 << 20 else { throw TaskerError(.invalidArgument, "seccomp profile larger than 4 MiB") }
    do {
      return try JSONDecoder().decode(SeccompProfile.self, from: Data(bytes))
    } catch let error as DecodingError {
      throw TaskerError(.invalidArgument, "invalid seccomp profile: \(Self.describe(error))")
    } catch {
      throw TaskerError(.invalidArgument, "invalid seccomp profile: \(error)")
    }
  }

  /// Reads a profile from a file.
  public static func load(path: String) throws(TaskerError) -> SeccompProfile {
    let bytes: [UInt8]
    do {
      bytes = try readFileBytes(path, limit: 4 << 20)
    } catch {
      throw TaskerError(.invalidArgument, "cannot read seccomp profile: \(error)", cause: error)
    }
    do {
      return try decode(bytes)
    } catch {
      throw TaskerError(.invalidArgument, "\(path): \(error.message)")
    }
  }

  /// The filter for a task holding `capabilities` on `architecture` (`SCMP_ARCH_X86_64`, ...):
  /// conditions settled, names checked, rules in the profile's order.
  public func filter(capabilities: Capabilities, architecture: String = SeccompProfile.nativeArchitecture)
    throws(TaskerError) -> SeccompFilter
  {
    if listenerPath != nil || defaultAction == .notify {
      throw TaskerError(.invalidArgument, "seccomp profile: SCMP_ACT_NOTIFY and listenerPath are not supported")
    }
    if let flags, let flag = flags.first(where: { !Self.harmlessFlags.contains($0) }) {
      throw TaskerError(.invalidArgument, "seccomp profile: flag \(flag) is not supported")
    }
    if let architectures, !architectures.isEmpty, !architectures.contains(architecture) {
      throw TaskerError(
        .invalidArgument, "seccomp profile: this host's architecture \(architecture) is not among its architectures")
    }
    func errno(_ value: Int?, default fallback: Int32) throws(TaskerError) -> Int32 {
      guard let value else { return fallback }
      guard (0...4095).contains(value) else {
        throw TaskerError(.invalidArgument, "seccomp profile: errnoRet \(value) is out of range")
      }
      return Int32(value)
    }
    func holds(_ condition: Condition?, all: Bool) throws(TaskerError) -> Bool {
      guard let condition else { return all }
      var results: [Bool] = []
      for name in condition.caps ?? [] {
        let bare = name.uppercased().hasPrefix("CAP_") ? String(name.dropFirst(4)) : name
        guard Capabilities.number(of: bare) != nil else {
          throw TaskerError(.invalidArgument, "seccomp profile: unknown capability \(name)")
        }
        results.append(capabilities.contains(bare))
      }
      if let arches = condition.arches, !arches.isEmpty { results.append(arches.contains(architecture)) }
      return all ? results.allSatisfy { $0 } : results.contains(true)
    }
    try defaultAction.check()
    var result = SeccompFilter(
      defaultAction: defaultAction, defaultErrno: try errno(defaultErrnoRet, default: EPERM), rules: [])
    for rule in syscalls ?? [] {
      try rule.action.check()
      guard try holds(rule.includes, all: true), try !holds(rule.excludes, all: false) else { continue }
      let ruleErrno = try errno(rule.errnoRet, default: EPERM)
      var arguments: [SeccompFilter.Comparison] = []
      for argument in rule.args ?? [] {
        guard (0..<6).contains(argument.index) else {
          throw TaskerError(.invalidArgument, "seccomp profile: argument index \(argument.index) is out of range")
        }
        arguments.append(
          SeccompFilter.Comparison(
            index: argument.index, op: argument.op, value: argument.value, valueTwo: argument.valueTwo ?? 0))
      }
      for name in (rule.names ?? []) + (rule.name.map { [$0] } ?? []) {
        guard !name.isEmpty, name.utf8.count <= 64, name.utf8.allSatisfy(Self.isNameByte) else {
          throw TaskerError(.invalidArgument, "seccomp profile: invalid system call name \"\(name)\"")
        }
        result.rules.append(
          SeccompFilter.Rule(name: name, action: rule.action, errno: ruleErrno, arguments: arguments))
      }
    }
    return result
  }

  /// The libseccomp name of the architecture this build runs on.
  public static var nativeArchitecture: String {
    #if arch(x86_64)
      return "SCMP_ARCH_X86_64"
    #elseif arch(arm64)
      return "SCMP_ARCH_AARCH64"
    #else
      return "SCMP_ARCH_NATIVE"
    #endif
  }

  static let harmlessFlags: Set<String> = ["SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_LOG"]

  static func isNameByte(_ byte: UInt8) -> Bool {
    (0x61...0x7a).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x5f
  }

  static func describe(_ error: DecodingError) -> String {
    func path(_ context: DecodingError.Context) -> String {
      let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined()
      return keys.isEmpty ? "" : " at \(keys.hasPrefix(".") ? String(keys.dropFirst()) : keys)"
    }
    switch error {
    case .dataCorrupted(let context):
      // With a coding path the JSON parsed, and a value in it is not one the format allows.
      return context.codingPath.isEmpty ? "not valid JSON" : "invalid value\(path(context))"
    case .keyNotFound(let key, let context): return "missing \(key.stringValue)\(path(context))"
    case .typeMismatch(_, let context), .valueNotFound(_, let context):
      return "\(context.debugDescription)\(path(context))"
    @unknown default: return "\(error)"
    }
  }
}

/// What a seccomp rule does to a matching call (the OCI names).
public enum SeccompAction: String, Codable, Sendable {
  case allow = "SCMP_ACT_ALLOW"
  case errno = "SCMP_ACT_ERRNO"
  case kill = "SCMP_ACT_KILL"
  case killProcess = "SCMP_ACT_KILL_PROCESS"
  case killThread = "SCMP_ACT_KILL_THREAD"
  case trap = "SCMP_ACT_TRAP"
  case log = "SCMP_ACT_LOG"
  case trace = "SCMP_ACT_TRACE"
  case notify = "SCMP_ACT_NOTIFY"

  /// The supervisor's word for it (see Sources/TaskerSupervisor/main.c).
  var planWord: String {
    switch self {
    case .allow: return "ALLOW"
    case .errno: return "ERRNO"
    case .kill, .killThread: return "KILL_THREAD"
    case .killProcess: return "KILL_PROCESS"
    case .trap: return "TRAP"
    case .log: return "LOG"
    case .trace, .notify: return "ERRNO"
    }
  }

  func check() throws(TaskerError) {
    if self == .trace || self == .notify {
      throw TaskerError(.invalidArgument, "seccomp profile: \(rawValue) is not supported")
    }
  }
}

/// How a rule compares a call's argument (the OCI names).
public enum SeccompOperator: String, Codable, Sendable {
  case notEqual = "SCMP_CMP_NE"
  case lessThan = "SCMP_CMP_LT"
  case lessOrEqual = "SCMP_CMP_LE"
  case equal = "SCMP_CMP_EQ"
  case greaterOrEqual = "SCMP_CMP_GE"
  case greaterThan = "SCMP_CMP_GT"
  case maskedEqual = "SCMP_CMP_MASKED_EQ"

  var planWord: String {
    switch self {
    case .notEqual: return "NE"
    case .lessThan: return "LT"
    case .lessOrEqual: return "LE"
    case .equal: return "EQ"
    case .greaterOrEqual: return "GE"
    case .greaterThan: return "GT"
    case .maskedEqual: return "MASKED_EQ"
    }
  }
}

/// A profile settled for one task: what the supervisor compiles with libseccomp.
public struct SeccompFilter: Equatable, Sendable {
  public struct Comparison: Equatable, Sendable {
    public var index: Int
    public var op: SeccompOperator
    public var value: UInt64
    public var valueTwo: UInt64
  }
  public struct Rule: Equatable, Sendable {
    public var name: String
    public var action: SeccompAction
    public var errno: Int32
    public var arguments: [Comparison]
  }
  public var defaultAction: SeccompAction
  public var defaultErrno: Int32
  public var rules: [Rule]
}
