import ArgumentParser
import Glibc
import Tasker

struct Export: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write a task's root filesystem as a tar archive.",
    discussion: """
      The root as the task sees it (its image and what it wrote; not the /proc, /dev and other mounts of its jail), with owners, modes, extended attributes, symlinks and hardlinks, as a tar archive that create reads: a task's result becomes an image. Written to stdout (refused when stdout is a terminal) or to --output.

      A file with holes is written as a sparse member (its data only). A file another process holds a lease on (fcntl F_SETLEASE) is left out with a warning, instead of waiting for the lease to be given up; the exit status is still 0.

      Examples:
        tasker export web > web.tar
        tasker create ./web.tar "ls /"
      """)

  @OptionGroup var state: StateOptions

  @Option(name: [.short, .long], help: ArgumentHelp("Write to FILE instead of stdout.", valueName: "file"))
  var output: String?

  @Argument(help: "The task's ID, unique ID prefix, or name.", completion: .taskIDs)
  var id: String

  func run() async throws {
    if output == nil, isatty(STDOUT_FILENO) == 1 {
      printError("refusing to write a tar archive to a terminal: redirect stdout or use --output FILE")
      throw ExitCode(64)
    }
    let manager = try await state.manager()
    var fd = STDOUT_FILENO
    if let output {
      fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
      if fd < 0 {
        printError("cannot open \(output): \(String(cString: strerror(errno)))")
        throw ExitCode(1)
      }
    }
    defer { if fd != STDOUT_FILENO { close(fd) } }
    do {
      for warning in try await manager.export(id, to: fd) { printError("warning: " + warning) }
    } catch {
      printError(error.message)
      // A half-written file is no archive.
      if let output { unlink(output) }
      throw ExitCode(1)
    }
  }
}
