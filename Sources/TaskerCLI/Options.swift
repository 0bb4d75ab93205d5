import ArgumentParser
import Glibc
import Tasker

/// Options every command that reads the state root takes.
struct StateOptions: ParsableArguments {
  @Option(
    name: .long,
    help: ArgumentHelp(
      "State root: task records and logs (env TASKER_ROOT; default /var/lib/tasker).", valueName: "path"))
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
