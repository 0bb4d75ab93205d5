import ArgumentParser
import Tasker

struct Create: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Fetch an image, start a command in it, print the task's ID.",
    discussion: """
      IMAGE_URL is http://, https://, file:// or a local path to a tar archive, plain or compressed with gzip, bzip2, xz or zstd (detected from its content). COMMANDS is one string split into words like a shell does (quotes respected, nothing expanded), or the words after --. Options go before IMAGE_URL (one after it is an error: the words after -- are the command's, whatever they look like).

      Examples:
        tasker create http://127.0.0.1:8000/rootfs.tar.gz "sleep 30"
        tasker create --name web --env PORT=80 ./rootfs.tar.zst -- /bin/sh -c 'env'
        tasker --root /srv/tasker create --env-file web.env ./rootfs.tar.zst "httpd"
      """)

  @OptionGroup var state: StateOptions
  @OptionGroup var options: CreateOptions

  func validate() throws { try options.checkPlacement(in: Self.self) }

  func run() async throws {
    let (_, handle) = try await options.createTask(state: state)
    print(handle.id)
  }
}
