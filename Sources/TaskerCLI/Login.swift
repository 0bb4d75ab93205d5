import ArgumentParser
import Glibc
import TaskerImage

struct Login: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Store credentials for a registry, after checking them against it.",
    usage: "tasker login [<options>] [-u <user>] [-p <pw> | --password-stdin] <host>",
    discussion: """
      The user name and password are sent to the registry (GET /v2/ through its authentication, Basic or Bearer token) and stored only if it accepts them, base64-encoded in the containers auth.json that podman and skopeo read: --authfile, else $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json (root without XDG_RUNTIME_DIR: /run/containers/0/auth.json). The file is written whole and renamed into place, mode 0600; other registries' entries are kept.

      What is not given is asked for when stdin is a terminal (the password without echo). --password-stdin reads the password from stdin, for scripts.

      Examples:
        tasker login -u alice registry.example.com
        printf '%s' "$TOKEN" | tasker login -u ci --password-stdin ghcr.io
        tasker login --cert-dir ./certs -u alice 127.0.0.1:5000
      """)

  @Option(name: [.short, .long], help: ArgumentHelp("The user name.", valueName: "user"))
  var username: String?

  @Option(
    name: [.short, .long],
    help: ArgumentHelp("The password (visible to other users in ps: prefer --password-stdin).", valueName: "password"))
  var password: String?

  @Flag(name: .customLong("password-stdin"), help: "Read the password from stdin.")
  var passwordStdin = false

  @OptionGroup var registry: RegistryCLIOptions

  @Argument(help: ArgumentHelp("The registry: HOST[:PORT].", valueName: "host"))
  var host: String

  func validate() throws {
    if password != nil && passwordStdin { throw ValidationError("--password and --password-stdin exclude each other") }
    try checkRegistryHost(host)
    if passwordStdin && username == nil { throw ValidationError("--password-stdin needs --username") }
  }

  func run() async throws {
    let terminal = isatty(STDIN_FILENO) == 1
    guard let user = username ?? (terminal ? prompt("Username: ", echo: true) : nil), !user.isEmpty else {
      throw ValidationError("no user name: give --username (stdin is not a terminal to ask on)")
    }
    let secret: String?
    if passwordStdin {
      secret = readStandardInput()
    } else {
      secret = password ?? (terminal ? prompt("Password: ", echo: false) : nil)
    }
    guard let secret, !secret.isEmpty else {
      throw ValidationError("no password: give --password-stdin or --password (stdin is not a terminal to ask on)")
    }
    let credentials = AuthFile.Credentials(username: user, password: secret)
    let options = registry.registry
    do {
      let client = try RegistryClient(
        reference: RegistryReference(host: host, repository: ""), options: options, credentials: credentials)
      try client.checkAccess()
    } catch {
      printError("login to \(host) failed: \(error)")
      throw ExitCode(1)
    }
    let path = AuthFile.primaryPath(explicit: options.authFile, environment: AuthFile.processEnvironment)
    do {
      try AuthFile.store(credentials, for: host, in: path)
    } catch {
      printError("login to \(host): cannot store the credentials: \(error)")
      throw ExitCode(1)
    }
    print("Login Succeeded!")
  }
}

/// A registry host as login and logout take it: HOST[:PORT], no scheme, no path.
func checkRegistryHost(_ host: String) throws {
  guard !host.isEmpty, !host.contains("/"), !host.contains("@"),
    host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f })
  else {
    throw ValidationError("invalid registry \"\(host)\": expected HOST[:PORT], as registry.example.com:5000")
  }
}

/// Asks on the terminal (stderr) and reads one line from it; without echo for a password
/// (termios ECHO off, restored after).
private func prompt(_ text: String, echo: Bool) -> String? {
  var saved = termios()
  let quiet = !echo && tcgetattr(STDIN_FILENO, &saved) == 0
  if quiet {
    // Echo off before the prompt is shown: what is typed after it is never echoed, and the
    // flush (of what was typed before it) cannot discard the password.
    var silent = saved
    silent.c_lflag &= ~tcflag_t(ECHO)
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &silent)
  }
  defer {
    if quiet {
      tcsetattr(STDIN_FILENO, TCSANOW, &saved)
      _ = write(STDERR_FILENO, "\n", 1)
    }
  }
  text.withCString { _ = write(STDERR_FILENO, $0, strlen($0)) }
  return readLine(strippingNewline: true)
}

/// All of stdin without its trailing newline (as podman's --password-stdin).
private func readStandardInput() -> String {
  var bytes: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 4096)
  while bytes.count < 1 << 20 {
    let n = read(STDIN_FILENO, &buffer, buffer.count)
    if n < 0 && errno == EINTR { continue }
    if n <= 0 { break }
    bytes += buffer[0..<n]
  }
  while let last = bytes.last, last == 0x0a || last == 0x0d { bytes.removeLast() }
  return String(decoding: bytes, as: UTF8.self)
}
