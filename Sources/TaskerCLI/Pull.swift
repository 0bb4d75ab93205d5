import ArgumentParser
import Tasker
import TaskerImage

struct Pull: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Pull a layered image into the layer store and print its ID.",
    usage: "tasker pull [<options>] <REFERENCE>",
    discussion: """
      REFERENCE is docker://HOST[:PORT]/REPO[:TAG|@sha256:DIGEST], oci:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE[:NAME:TAG]. The reference is resolved again; each layer is fetched and unpacked once, kept by its uncompressed digest and shared by every image that has it, three layers at a time. The image ID (the digest of its config) is printed at the end; the layers' progress goes to stderr.

      Examples:
        tasker pull docker://127.0.0.1:5000/busybox:latest
        tasker pull --platform linux/arm64/v8 oci:/srv/images/app:1.0
      """)

  @OptionGroup var state: StateOptions

  @Option(
    name: .long,
    help: ArgumentHelp("The platform to choose from an index (default: the host's).", valueName: "os/arch[/variant]"))
  var platform: String?

  @Flag(name: [.short, .long], help: "No progress lines.")
  var quiet = false

  @OptionGroup var registry: RegistryCLIOptions

  @Argument(help: ArgumentHelp("The image to pull.", valueName: "REFERENCE"))
  var reference: String

  func validate() throws {
    guard ImageReference.hasTransport(reference) else {
      throw ValidationError(
        "\(reference): not a layered image reference (docker://, oci:, oci-archive:, docker-archive:)")
    }
    if let platform {
      do {
        _ = try Platform(parsing: platform)
      } catch {
        throw ValidationError(error.description)
      }
    }
  }

  func run() async throws {
    let manager = try await state.manager()
    let display = LayerProgressDisplay.make(quiet: quiet, linesWhenDone: true)
    let options = PullOptions(
      platform: try platform.map { text in try Platform(parsing: text) }, registry: registry.registry,
      policy: .always, progress: display?.callback)
    let pulled = try await reportingErrors { try await manager.pull(reference, options: options) }
    print(pulled.image.id)
  }
}
