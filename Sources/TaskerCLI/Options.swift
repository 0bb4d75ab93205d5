import ArgumentParser
import Glibc
import Tasker

/// Options every command that reads the state root takes.
struct StateOptions: ParsableArguments {
  @Option(
    name: .long,
    help: ArgumentHelp(
      "State root: task records and logs (env TASKER_ROOT; default /var/lib/tasker, for other users ~/.local/share/tasker).",
      valueName: "path"))
  var root: String?

  /// The manager of the state root; a state root this user may not read is an error here, for
  /// every command (never an empty list or "no such task").
  func manager(downloadPath: String? = nil) async throws -> TaskManager {
    let settings = try await reportingErrors(exitCode: 1) {
      try await TaskerSettings.resolve(stateRoot: root, downloadPath: downloadPath)
    }
    let manager = TaskManager(settings: settings)
    try await reportingErrors(exitCode: 1) { try manager.store.checkReadable() }
    return manager
  }
}

/// Runs `body`; a `TaskerError` becomes one line on stderr and exit code `exitCode(error)`.
@discardableResult
func reportingErrors<T>(
  exitCode: (TaskerError) -> Int32 = { _ in 1 }, _ body: () async throws -> T
) async throws -> T {
  do {
    return try await body()
  } catch let error as TaskerError {
    printError(error.message)
    throw ExitCode(exitCode(error))
  }
}

@discardableResult
func reportingErrors<T>(exitCode: Int32, _ body: () async throws -> T) async throws -> T {
  try await reportingErrors(exitCode: { _ in exitCode }, body)
}

/// Writes `tasker: message` to stderr.
func printError(_ message: String) {
  var text = "tasker: " + message + "\n"
  text.withUTF8 { bytes in _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
}

/// Runs `body` for each of `names` (task IDs, names, volumes) in order, printing what it returns
/// (the ID as the command knows it); a failure is its one line on stderr and the others still
/// run, as podman's rm and stop do. Exit 1 if any failed.
func reportEach(_ names: [String], _ body: (String) async throws(TaskerError) -> String) async throws {
  var failed = false
  for name in names {
    do {
      print(try await body(name))
    } catch {
      printError(error.message)
      failed = true
    }
  }
  if failed { throw ExitCode(1) }
}

/// `stop`'s and `restart`'s `-t/--time` and their task arguments.
struct StopOptions: ParsableArguments {
  @Option(
    name: [.short, .customLong("time")], parsing: .unconditional,
    help: ArgumentHelp("Seconds to wait before SIGKILL when stopping.", valueName: "seconds"))
  var time: Int = 10

  @Argument(help: "IDs, unique ID prefixes, or names.", completion: .taskIDs)
  var ids: [String]

  func validate() throws {
    if ids.isEmpty { throw ValidationError("give at least one task ID") }
    if time < 0 { throw ValidationError("--time must not be negative") }
  }
}
