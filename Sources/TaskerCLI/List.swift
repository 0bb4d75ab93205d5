import ArgumentParser
import Tasker

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

struct List: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "list",
    abstract: "List tasks.",
    discussion: """
      One row per task: ID, STATUS (running, stopped, exited (code), killed (signal)), PID, CREATED and COMMAND; a NAME column appears when a task has a name. A task whose record is damaged is reported on stderr and shown as "damaged".

      Examples:
        tasker list
        tasker ps --quiet | xargs tasker rm --force
        tasker list --json
      """,
    aliases: ["ps"])

  @OptionGroup var state: StateOptions

  @Flag(name: .long, help: "Print a JSON array of the objects health_check --json prints.")
  var json = false

  @Flag(name: [.short, .long], help: "Print the IDs only.")
  var quiet = false

  func run() async throws {
    let manager = try await state.manager()
    let entries = manager.list()
    for entry in entries {
      if case .failure(let error) = entry.result { printError(error.message) }
    }
    if quiet {
      for entry in entries { print(entry.id) }
    } else if json {
      let statuses = entries.compactMap { try? $0.result.get() }
      print(TaskerJSON.encode(statuses))
    } else {
      print(table(entries), terminator: "")
    }
  }

  func table(_ entries: [TaskListEntry]) -> String {
    let now = Date()
    let named = entries.contains { (try? $0.result.get())?.name != nil }
    var rows = [["ID"] + (named ? ["NAME"] : []) + ["STATUS", "PID", "CREATED", "COMMAND"]]
    for entry in entries {
      switch entry.result {
      case .success(let status):
        rows.append(
          [status.id.rawValue] + (named ? [status.name ?? "-"] : [])
            + [
              status.summary, String(status.pid), relativeTime(from: status.createdAt, to: now),
              ShellWords.join(status.command),
            ])
      case .failure:
        rows.append([entry.id.rawValue] + (named ? ["-"] : []) + ["damaged", "-", "-", "-"])
      }
    }
    return alignedTable(rows)
  }
}

/// Rows as columns three blanks apart; the last column is not padded.
func alignedTable(_ rows: [[String]]) -> String {
  guard let header = rows.first else { return "" }
  let widths = (0..<header.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
  return rows.map { row in
    row.enumerated().map { index, cell in
      index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count + 3)
    }.joined() + "\n"
  }.joined()
}

/// "just now", "5 seconds ago", "3 minutes ago", "2 hours ago", "4 days ago".
func relativeTime(from date: Date, to now: Date) -> String {
  let seconds = Int(now.timeIntervalSince(date))
  func ago(_ count: Int, _ unit: String) -> String { "\(count) \(unit)\(count == 1 ? "" : "s") ago" }
  switch seconds {
  case ..<1: return "just now"
  case ..<60: return ago(seconds, "second")
  case ..<3600: return ago(seconds / 60, "minute")
  case ..<86400: return ago(seconds / 3600, "hour")
  default: return ago(seconds / 86400, "day")
  }
}
