import ArgumentParser
import TaskerImage

struct Logout: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Remove the credentials stored for a registry.",
    discussion: """
      Removes HOST's entry from the auth.json login writes (--authfile, else $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json); other entries are kept. A registry with no entry there is an error. Credentials in ~/.docker/config.json are read by tasker but never changed.

      Examples:
        tasker logout registry.example.com
        tasker logout --all
      """)

  @Flag(name: [.short, .long], help: "Remove the credentials of every registry.")
  var all = false

  @Option(
    name: .customLong("authfile"),
    help: ArgumentHelp(
      "The auth.json of registry credentials (default $XDG_RUNTIME_DIR/containers/auth.json).", valueName: "file"))
  var authFile: String?

  @Argument(help: ArgumentHelp("The registry: HOST[:PORT].", valueName: "host"))
  var host: String?

  func validate() throws {
    if all && host != nil { throw ValidationError("give a registry or --all, not both") }
    if !all && host == nil { throw ValidationError("give the registry to log out of, or --all") }
    if let host { try checkRegistryHost(host) }
  }

  func run() async throws {
    let path = AuthFile.primaryPath(explicit: authFile, environment: AuthFile.processEnvironment)
    do {
      if all {
        _ = try AuthFile.removeAll(from: path)
        print("Removed login credentials for all registries")
      } else if let host {
        guard try AuthFile.remove(host: host, from: path) else {
          printError("not logged in to \(host)")
          throw ExitCode(1)
        }
        print("Removed login credentials for \(host)")
      }
    } catch let error as ImageError {
      printError("logout: \(error)")
      throw ExitCode(1)
    }
  }
}
