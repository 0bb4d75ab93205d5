import ArgumentParser
import Tasker

struct Stats: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show running tasks' CPU, memory and process counts.",
    discussion: """
      One line per running task (every running task, or those named): ID, NAME, CPU % (CPU time per second over half a second, in percent of one CPU), MEM USAGE / LIMIT (the host's memory when the task has no limit), PIDS; "--" where the host cannot measure. One measurement, as podman stats --no-stream: there is no streaming mode.

      Examples:
        tasker stats
        tasker stats --json web
      """)

  @OptionGroup var state: StateOptions

  @Flag(name: .long, help: "Print a JSON array: id, name, cpuPercent, memoryBytes, memoryLimitBytes, processes.")
  var json = false

  @Flag(name: .customLong("no-stream"), help: "One measurement and exit (the only mode; accepted for podman's sake).")
  var noStream = false

  @Argument(help: "IDs, unique ID prefixes, or names (default: every running task).", completion: .taskIDs)
  var ids: [String] = []

  func run() async throws {
    let manager = try await state.manager()
    let rows = try await reportingErrors { try await manager.stats(ids) }
    if json {
      print(TaskerJSON.encode(rows))
      return
    }
    var table = [["ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "PIDS"]]
    for row in rows {
      let cpu = row.cpuPercent.map { String(format2: $0) + "%" } ?? "--"
      let memory = "\(row.memoryBytes.map(humanSize) ?? "--") / \(row.memoryLimitBytes.map(humanSize) ?? "--")"
      table.append([row.id.rawValue, row.name ?? "-", cpu, memory, row.processes.map(String.init) ?? "--"])
    }
    print(alignedTable(table), terminator: "")
  }
}

extension String {
  /// A number with two decimals (`12.50`).
  init(format2 value: Double) {
    let hundredths = Int((value * 100).rounded())
    let fraction = hundredths % 100
    self = "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
  }
}

/// Bytes as podman shows them: `1.5MB`, `512kB`, `2GB` (powers of 1000).
func humanSize(_ bytes: UInt64) -> String {
  let units = ["B", "kB", "MB", "GB", "TB"]
  var value = Double(bytes)
  var unit = 0
  while value >= 1000, unit < units.count - 1 {
    value /= 1000
    unit += 1
  }
  if unit == 0 { return "\(bytes)B" }
  let tenths = Int((value * 10).rounded())
  return tenths % 10 == 0 ? "\(tenths / 10)\(units[unit])" : "\(tenths / 10).\(tenths % 10)\(units[unit])"
}
