import ArgumentParser
import Glibc
import Tasker

struct Logs: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print what a task wrote: its stdout on stdout, its stderr on stderr.",
    usage: "tasker logs [--follow] [--tail <n>] [--since <time>] [--timestamps] <id>",
    discussion: """
      Logs stay readable after the task ends, until rm. --follow keeps printing until the task ends. Without --tail, --since or --timestamps the logs are printed byte for byte (all of stdout, then all of stderr); with any of them, line by line in the order the lines were written. A task with a terminal (-t) has one stream, in its stdout log.

      Examples:
        tasker logs 3f9c2a7b1e04
        tasker logs --follow web
        tasker logs --tail 20 --timestamps web
        tasker logs --since 10m web
        tasker logs --since 2026-12-02T03:00:00Z web
      """)

  @OptionGroup var state: StateOptions

  @Flag(name: [.short, .long], help: "Keep printing new output until the task ends.")
  var follow = false

  @Option(
    name: .long, parsing: .unconditional,
    help: ArgumentHelp("Only the last N lines (of stdout and stderr together).", valueName: "n"))
  var tail: Int?

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Only lines written since TIME: RFC 3339 (2026-12-02T03:00:00Z), a date, seconds since 1970, or a duration "
        + "before now (10m, 1h30m).",
      valueName: "time"))
  var since: String?

  @Flag(
    name: [.customShort("t"), .long],
    help: "Prefix each line with the time it was written (RFC 3339, UTC, nanoseconds).")
  var timestamps = false

  @Argument(help: "The task's ID, unique ID prefix, or name.", completion: .taskIDs)
  var id: String

  func validate() throws {
    if let tail, tail < 0 { throw ValidationError("--tail must be 0 or more") }
    if let since, LogSelection.parseTime(since, now: 0) == nil {
      throw ValidationError(
        "invalid --since \"\(since)\": use RFC 3339 (2026-12-02T03:00:00Z), seconds since 1970, or a duration (10m)")
    }
  }

  func run() async throws {
    var now = timespec()
    clock_gettime(CLOCK_REALTIME, &now)
    let selection = LogSelection(
      tail: tail,
      since: since.flatMap { LogSelection.parseTime($0, now: Double(now.tv_sec) + Double(now.tv_nsec) / 1e9) },
      timestamps: timestamps)
    let manager = try await state.manager()
    try await reportingErrors { try await manager.copyLogs(of: id, follow: follow, selection: selection) }
  }
}
