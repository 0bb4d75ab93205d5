import Glibc
import TaskerSystem

/// A registry's TLS settings, read as podman reads them from `certs.d/HOST[:PORT]/`: every
/// `*.crt` is a CA trusted besides the system's, every `*.cert` a client certificate whose key
/// is the `*.key` of the same name (one without the other is an error).
enum RegistryTLS {
  /// Debian's bundle of the system's CAs (ca-certificates), the one libcurl uses by default.
  static let systemBundle = "/etc/ssl/certs/ca-certificates.crt"

  /// The request options for `host` (as typed, with its port).
  ///
  /// The CAs go to libcurl as one in-memory PEM (CURLOPT_CAINFO_BLOB), the system bundle
  /// followed by the registry's `*.crt`: CAPATH would need a directory of hashed names, which
  /// certs.d is not, and a merged bundle on disk would be a file written outside tasker's state.
  static func options(host: String, registry: RegistryOptions) throws(ImageError) -> HTTPRequestOptions {
    var options = HTTPRequestOptions()
    options.insecure = !registry.tlsVerify
    let directory = registry.certsDirectory + "/" + host
    let names = directoryEntries(directory).sorted()
    let cas = names.filter { $0.hasSuffix(".crt") }
    if !cas.isEmpty {
      var pem: [UInt8] = []
      if let system = try? readFileBytes(systemBundle, limit: 16 << 20) { pem = system + [0x0a] }
      for name in cas {
        do {
          pem += try readFileBytes(directory + "/" + name, limit: 1 << 20) + [0x0a]
        } catch {
          throw .file(error)
        }
      }
      options.caPEM = pem
    }
    for name in names where name.hasSuffix(".cert") {
      let key = String(name.dropLast(".cert".count)) + ".key"
      guard names.contains(key) else {
        throw .format("\(directory)/\(name): client certificate without its key \(key)")
      }
      options.clientCertificate = directory + "/" + name
      options.clientKey = directory + "/" + key
    }
    for name in names where name.hasSuffix(".key") {
      let certificate = String(name.dropLast(".key".count)) + ".cert"
      guard names.contains(certificate) else {
        throw .format("\(directory)/\(name): client key without its certificate \(certificate)")
      }
    }
    return options
  }
}
