import ArgumentParser
import Tasker

struct Volume: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Manage named volumes: directories under the state root that outlive tasks.",
    discussion: """
      A volume is <state root>/volumes/NAME/data. A task mounts one with -v NAME:/path (made on first use) or --mount type=volume,source=NAME,target=/path.

      Examples:
        tasker volume create cache
        tasker run -v cache:/data ./rootfs.tar "sh -c 'date >> /data/log'"
        tasker volume ls
        tasker volume rm cache
      """,
    subcommands: [VolumeCreate.self, VolumeList.self, VolumeRemove.self])
}

struct VolumeCreate: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "create", abstract: "Make a volume (letters, digits, _ . -); prints its name.")

  @OptionGroup var state: StateOptions

  @Argument(help: "The volume's name.")
  var name: String

  func run() async throws {
    let manager = try await state.manager()
    let exitCode = { (error: TaskerError) -> Int32 in error.code == .invalidArgument ? 64 : 1 }
    try await reportingErrors(exitCode: exitCode, { try manager.createVolume(name) })
    print(name)
  }
}

struct VolumeList: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ls", abstract: "List volumes: NAME, TASKS (using it), PATH.", aliases: ["list"])

  @OptionGroup var state: StateOptions

  @Flag(name: [.short, .long], help: "Print the names only.")
  var quiet = false

  func run() async throws {
    let volumes = try await state.manager().volumes()
    if quiet {
      for volume in volumes { print(volume.name) }
      return
    }
    let rows = [["NAME", "TASKS", "PATH"]] + volumes.map { [$0.name, String($0.tasks.count), $0.path] }
    let widths = (0..<2).map { column in rows.map { $0[column].count }.max() ?? 0 }
    for row in rows {
      func padded(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: width - text.count) }
      print(padded(row[0], widths[0]) + "  " + padded(row[1], widths[1]) + "  " + row[2])
    }
  }
}

struct VolumeRemove: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "rm",
    abstract: "Remove volumes and their contents.",
    discussion: """
      A volume a task uses (running or ended, until that task is removed) is refused, as podman refuses; --force removes those tasks first (as rm --force), then the volume.
      """,
    aliases: ["remove"])

  @OptionGroup var state: StateOptions

  @Flag(name: [.short, .long], help: "Remove the tasks that use it first.")
  var force = false

  @Argument(help: "Volume names.")
  var names: [String]

  func validate() throws {
    if names.isEmpty { throw ValidationError("give at least one volume name") }
  }

  func run() async throws {
    let manager = try await state.manager()
    try await reportEach(names) { (name) throws(TaskerError) in
      try await manager.removeVolume(name, force: force)
      return name
    }
  }
}
