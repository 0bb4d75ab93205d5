import ArgumentParser
import Tasker
import TaskerImage

/// What reaching a registry takes, as podman spells it (create, run, pull, login).
struct RegistryCLIOptions: ParsableArguments {
  @Option(
    name: .customLong("tls-verify"),
    help: ArgumentHelp(
      "Check registries' TLS certificates and require HTTPS (--tls-verify=false: neither).", valueName: "bool"))
  var tlsVerify: Bool = true

  @Option(
    name: .customLong("cert-dir"),
    help: ArgumentHelp(
      "Per-registry CAs and client certificates: DIR/HOST[:PORT]/*.crt, *.cert, *.key.", valueName: "dir"))
  var certDirectory: String = "/etc/containers/certs.d"

  @Option(
    name: .customLong("authfile"),
    help: ArgumentHelp(
      "The auth.json of registry credentials (default $XDG_RUNTIME_DIR/containers/auth.json).", valueName: "file"))
  var authFile: String?

  var registry: RegistryOptions {
    RegistryOptions(tlsVerify: tlsVerify, certsDirectory: certDirectory, authFile: authFile)
  }
}
