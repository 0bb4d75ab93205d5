import ArgumentParser
import Glibc
import Tasker
import TaskerSystem

extension CompletionKind {
  /// Task IDs and names, for every argument that takes one: read from the state root's
  /// directories only (no record is opened, nothing is cleaned up), so a Tab press costs one
  /// short tasker run. The state root is the command line's `--root`, else the usual
  /// environment, configuration file and default.
  static var taskIDs: CompletionKind {
    .custom { words, _, prefix in taskIDCompletions(words: words, prefix: prefix) }
  }
}

/// The IDs and names under the state root that start with `prefix`.
func taskIDCompletions(words: [String], prefix: String) -> [String] {
  var root: String?
  for (index, word) in words.enumerated() {
    if word == "--root", index + 1 < words.count {
      root = words[index + 1]
    } else if word.hasPrefix("--root=") {
      root = String(word.dropFirst("--root=".count))
    }
  }
  let store = TaskStore(root: (try? TaskerSettings.stateRoot(flag: root)) ?? TaskerSettings.defaultStateRoot())
  let (ids, names) = store.recordedIDsAndNames()
  return (ids.map(\.rawValue) + names).filter { $0.hasPrefix(prefix) }
}

extension TaskerCommand {
  /// `--generate-completion-script [SHELL]`: argument-parser's script, with the commands'
  /// aliases added (its generators know only the commands' names). Nil for any other command
  /// line.
  static func completionScript(_ arguments: [String]) throws -> String? {
    guard let first = arguments.first,
      first == "--generate-completion-script" || first.hasPrefix("--generate-completion-script=")
    else { return nil }
    let name =
      first.contains("=") ? String(first.drop { $0 != "=" }.dropFirst()) : arguments.dropFirst().first
    guard let shell = name.map({ CompletionShell(rawValue: $0) }) ?? CompletionShell.autodetected() else {
      throw ValidationError("unknown shell \"\(name ?? "")\": use bash, zsh or fish")
    }
    var aliases: [(name: String, alias: String)] = []
    for command in configuration.subcommands {
      for alias in command.configuration.aliases { aliases.append((command._commandName, alias)) }
    }
    return CompletionAliases(program: _commandName, aliases: aliases).add(to: completionScript(for: shell), for: shell)
  }
}

/// Adds subcommand aliases to argument-parser's completion scripts, by the shapes its
/// generators write (a `case` of the subcommand names and a word list in bash and zsh; a
/// `switch` and one `complete` line per command in fish). Each alias completes as its
/// command does; tests check the scripts and run the bash one.
struct CompletionAliases {
  var program: String
  var aliases: [(name: String, alias: String)]

  func add(to script: String, for shell: CompletionShell) -> String {
    guard !aliases.isEmpty else { return script }
    var lines = script.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    switch shell {
    case .bash, .zsh:
      lines = lines.flatMap { line -> [String] in
        let trimmed = line.drop { $0 == " " }
        let indent = String(line.prefix(line.count - trimmed.count))
        // The dispatch: `create|run|health_check|...)`.
        if trimmed.hasSuffix(")"), trimmed.dropLast().split(separator: "|").count > 1,
          trimmed.dropLast().split(separator: "|").allSatisfy({ !$0.contains(" ") })
        {
          let names = trimmed.dropLast().split(separator: "|").map(String.init)
          return [
            indent + (names + aliases.filter { names.contains($0.name) }.map(\.alias)).joined(separator: "|") + ")"
          ]
        }
        // bash's word list: `compgen -W 'create run ...' -- "${cur}"`.
        if trimmed.contains("compgen -W '"), let start = line.range(of: "compgen -W '"),
          let end = line[start.upperBound...].firstIndex(of: "'")
        {
          let names = line[start.upperBound..<end].split(separator: " ").map(String.init)
          let extra = aliases.filter { names.contains($0.name) }.map(\.alias)
          if !extra.isEmpty {
            return [line[..<end] + " " + extra.joined(separator: " ") + line[end...]]
          }
        }
        // zsh's described list: `'health_check:Say whether ...'`.
        for (name, alias) in aliases where trimmed.hasPrefix("'\(name):") {
          return [line, indent + "'" + alias + trimmed.dropFirst(1 + name.count)]
        }
        return [line]
      }
      // Each alias's function before the lines that run the script's entry point (zsh's, when
      // the file is autoloaded as `_tasker`, calls it at once).
      let functions = aliases.map { name, alias in "_\(program)_\(alias)() { _\(program)_\(name) \"$@\"; }" }
      let entry = lines.firstIndex { $0.hasPrefix("if [[ \"${funcstack[1]}\"") } ?? lines.endIndex
      lines.insert(contentsOf: functions, at: entry)
    default:
      lines = lines.flatMap { line -> [String] in
        let trimmed = line.drop { $0 == " " }
        let indent = String(line.prefix(line.count - trimmed.count))
        for (name, alias) in aliases {
          if trimmed == "case '\(name)'" { return [indent + "case '\(name)' '\(alias)'"] }
          let path = "\"\(program) \(name)\""
          if line.contains(path) { return [line, line.replacing(path, with: "\"\(program) \(alias)\"")] }
          if line.contains("-fa '\(name)'") && line.contains("\"\(program)\" -eq 1") {
            return [line, line.replacing("-fa '\(name)'", with: "-fa '\(alias)'")]
          }
        }
        return [line]
      }
    }
    return lines.joined(separator: "\n")
  }
}
