import ArgumentParser
import Tasker

struct Create: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Fetch an image, start a command in it, print the task's ID.",
    discussion: """
      IMAGE_URL is http://, https://, file:// or a local path to a tar archive, plain or
      compressed with gzip, bzip2, xz or zstd (detected from its content). COMMANDS is one
      string split into words like a shell does (quotes respected, nothing expanded), or the
      words after --.

      Examples:
        tasker create http://127.0.0.1:8000/rootfs.tar.gz "sleep 30"
        tasker create --sha256 9f86d0... ./rootfs.tar.zst -- /bin/sh -c 'echo hi > /hello'
      """)

  @OptionGroup var state: StateOptions

  @Option(
    name: .long,
    help: ArgumentHelp(
      "Directory in which the task's directory is made (env TASKER_DOWNLOAD_PATH; default: the current directory).",
      valueName: "path"))
  var downloadPath: String?

  @Option(name: .long, help: ArgumentHelp("SHA-256 the image's bytes must have.", valueName: "hex"))
  var sha256: String?

  @Option(
    name: .long, parsing: .singleValue,
    help: ArgumentHelp("Set an environment variable for the command (repeatable).", valueName: "K=V"))
  var env: [String] = []

  @Option(name: .long, help: ArgumentHelp("Working directory inside the task's root.", valueName: "dir"))
  var workdir: String = "/"

  @Option(name: .long, help: ArgumentHelp("Seconds without data before a download fails.", valueName: "seconds"))
  var timeout: Int = 30

  @Argument(help: ArgumentHelp("Where the image is.", valueName: "IMAGE_URL"))
  var image: String

  @Argument(
    parsing: .captureForPassthrough,
    help: ArgumentHelp("The command: one string, or the words after --.", valueName: "COMMANDS"))
  var command: [String] = []

  func validate() throws {
    if command.isEmpty || command == ["--"] { throw ValidationError("missing COMMANDS") }
    if timeout < 1 { throw ValidationError("--timeout must be at least 1 second") }
    for entry in env where !entry.contains("=") || entry.hasPrefix("=") {
      throw ValidationError("--env expects K=V, got \"\(entry)\"")
    }
  }

  func run() async throws {
    let argv = try commandWords()
    let manager = try await state.manager(downloadPath: downloadPath)
    let environment = env.isEmpty ? nil : withDefaultPath(env)
    let spec = TaskSpec(
      image: image, command: argv, sha256: sha256, environment: environment, workdir: workdir,
      stallTimeout: timeout)
    let handle = try await reportingErrors(exitCode: createExitCode) {
      try await manager.create(spec)
    }
    print(handle.id)
  }

  /// The argv: the words after `--` as they are, or the one COMMANDS string split like a shell.
  func commandWords() throws -> [String] {
    if command.first == "--" { return Array(command.dropFirst()) }
    if command.count > 1 { return command }
    do {
      let words = try ShellWords.split(command[0])
      if words.isEmpty { throw ValidationError("COMMANDS is empty") }
      return words
    } catch let error as ShellWords.Failure {
      throw ValidationError(error.description)
    }
  }
}

/// The user's variables, with the default PATH added when they set none.
func withDefaultPath(_ env: [String]) -> [String] {
  if env.contains(where: { $0.hasPrefix("PATH=") }) { return env }
  return TaskSpec.defaultEnvironment.filter { $0.hasPrefix("PATH=") } + env
}

/// Exit codes as docker and the shells use them: 127 command not found, 126 not executable,
/// 125 anything else that kept the task from starting.
func createExitCode(_ error: TaskerError) -> Int32 {
  switch error.code {
  case .commandNotFound: return 127
  case .commandNotExecutable: return 126
  default: return 125
  }
}
