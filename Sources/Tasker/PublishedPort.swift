import Glibc

/// A task port published on the host (`-p/--publish [HOST_IP:]HOST_PORT:TASK_PORT[/tcp|udp]`):
/// connections to HOST_PORT on the host (on HOST_IP only, if given) reach TASK_PORT in the
/// task's private network.
public struct PublishedPort: Equatable, Hashable, Sendable, CustomStringConvertible {
  public enum Transport: String, Equatable, Hashable, Sendable, CaseIterable {
    case tcp, udp
  }

  /// A numeric IPv4 or IPv6 address; nil listens on every address of the host.
  public var hostAddress: String?
  public var hostPort: UInt16
  public var taskPort: UInt16
  public var transport: Transport

  public init(hostAddress: String? = nil, hostPort: UInt16, taskPort: UInt16, transport: Transport = .tcp) {
    self.hostAddress = hostAddress
    self.hostPort = hostPort
    self.taskPort = taskPort
    self.transport = transport
  }

  /// Parses `[HOST_IP:]HOST_PORT:TASK_PORT[/tcp|udp]`; an IPv6 address goes in brackets
  /// (`[::1]:8080:80`). Ports are 1 to 65535.
  public init(parsing text: String) throws(TaskerError) {
    func invalid(_ why: String) -> TaskerError {
      TaskerError(
        .invalidArgument, "invalid --publish \"\(text)\": \(why) (use [HOST_IP:]HOST_PORT:TASK_PORT[/tcp|udp])")
    }
    var rest = Substring(text)
    transport = .tcp
    if let slash = rest.lastIndex(of: "/") {
      let name = rest[rest.index(after: slash)...].lowercased()
      guard let parsed = Transport(rawValue: name) else { throw invalid("unknown protocol \"\(name)\"") }
      transport = parsed
      rest = rest[..<slash]
    }
    var address: Substring?
    if rest.hasPrefix("[") {
      guard let close = rest.firstIndex(of: "]") else { throw invalid("no ] after the IPv6 address") }
      address = rest[rest.index(after: rest.startIndex)..<close]
      rest = rest[rest.index(after: close)...]
      guard rest.hasPrefix(":") else { throw invalid("no port after the address") }
      rest = rest.dropFirst()
    }
    var fields = rest.split(separator: ":", omittingEmptySubsequences: false)
    if address == nil, fields.count == 3 { address = fields.removeFirst() }
    guard fields.count == 2 else { throw invalid("expected HOST_PORT:TASK_PORT") }
    func port(_ field: Substring, _ role: String) throws(TaskerError) -> UInt16 {
      guard !field.isEmpty, field.utf8.allSatisfy({ (48...57).contains($0) }), let value = Int(field),
        (1...65535).contains(value)
      else { throw invalid("\(role) port \"\(field)\" is not a number from 1 to 65535") }
      return UInt16(value)
    }
    hostPort = try port(fields[0], "host")
    taskPort = try port(fields[1], "task")
    if let address {
      guard Self.isNumericAddress(String(address)) else {
        throw invalid("\"\(address)\" is not a numeric IPv4 or IPv6 address")
      }
      hostAddress = String(address)
    } else {
      hostAddress = nil
    }
  }

  /// Whether `text` is an IPv4 address in dotted decimal or an IPv6 address (inet_pton).
  static func isNumericAddress(_ text: String) -> Bool {
    var buffer = (UInt64(0), UInt64(0))
    return withUnsafeMutableBytes(of: &buffer) { bytes in
      inet_pton(AF_INET, text, bytes.baseAddress) == 1 || inet_pton(AF_INET6, text, bytes.baseAddress) == 1
    }
  }

  public var description: String {
    let address = hostAddress.map { $0.contains(":") ? "[\($0)]:" : "\($0):" } ?? ""
    return "\(address)\(hostPort):\(taskPort)/\(transport.rawValue)"
  }

  /// The port as pasta's `-t`/`-u` SPEC: `[ADDR/]HOST_PORT:TASK_PORT`.
  var pastaSpec: String {
    (hostAddress.map { $0 + "/" } ?? "") + "\(hostPort):\(taskPort)"
  }
}
