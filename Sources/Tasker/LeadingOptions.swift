/// Options given before a command line's subcommand, the way runc's, crun's and podman's global
/// options are (`tasker --root DIR list`, `tasker-runtime --root DIR state ID`).
package enum LeadingOptions {
  /// One option taken off the command line.
  package struct Taken: Equatable, Sendable {
    package var name: String
    /// The value: an option's; nil for a flag (unless written `--flag=value`).
    package var value: String?

    package init(name: String, value: String?) {
      self.name = name
      self.value = value
    }
  }

  /// Takes the options named in `valued` (which take a value) and `flags` off the front of
  /// `arguments`, in order, and stops at the first word that is neither. Each is written
  /// `--name value` or `--name=value`; with `singleDash`, `-name` too (go's flag package's
  /// spelling, which runc accepts). A valued option without its value is an error.
  package static func take(
    from arguments: inout [String], valued: Set<String>, flags: Set<String> = [], singleDash: Bool = false
  ) throws(TaskerError) -> [Taken] {
    var taken: [Taken] = []
    while let first = arguments.first, first.hasPrefix("-"), first != "--" {
      var name = Substring(first.dropFirst(first.hasPrefix("--") ? 2 : 1))
      guard first.hasPrefix("--") || singleDash else { break }
      var value: String?
      if let equals = name.firstIndex(of: "=") {
        value = String(name[name.index(after: equals)...])
        name = name[..<equals]
      }
      let key = String(name)
      if flags.contains(key) {
        arguments.removeFirst()
        taken.append(Taken(name: key, value: value))
        continue
      }
      guard valued.contains(key) else { break }
      arguments.removeFirst()
      if value == nil, !arguments.isEmpty { value = arguments.removeFirst() }
      guard let value, !value.isEmpty else {
        throw TaskerError(.invalidArgument, "--\(key) needs a value")
      }
      taken.append(Taken(name: key, value: value))
    }
    return taken
  }
}
