import Glibc
import TaskerImage
import TaskerSystem

extension TaskSpec {
  /// The spec with a layered image's config filled in, as docker reads the config: the command
  /// is `Entrypoint` + `Cmd`, where COMMANDS replace `Cmd` and `--entrypoint` replaces
  /// `Entrypoint` (and drops the image's `Cmd`, which belonged to the old entrypoint); `Env`
  /// under the `-e` entries; `WorkingDir`, `User` and `StopSignal` unless given.
  func applyingDefaults(of config: ImageConfig) throws(TaskerError) -> TaskSpec {
    let defaults = config.config ?? ImageConfig.Defaults()
    var spec = self
    let entrypoint = self.entrypoint ?? defaults.Entrypoint ?? []
    let arguments = !command.isEmpty ? command : self.entrypoint != nil ? [] : defaults.Cmd ?? []
    spec.command = entrypoint + arguments
    guard let first = spec.command.first, !first.isEmpty else {
      throw TaskerError(.invalidArgument, "no command given and the image has none")
    }
    var imageEnvironment = defaults.Env ?? []
    // As docker: an image without PATH gets the default one.
    if !imageEnvironment.contains(where: { $0.hasPrefix("PATH=") }) {
      imageEnvironment.insert(TaskSpec.defaultEnvironment[0], at: 0)
    }
    if let additions = environmentAdditions {
      spec.environment = Self.merged(imageEnvironment, additions)
      spec.environmentSetsHome = (imageEnvironment + additions).contains { $0.hasPrefix("HOME=") }
    } else if environment == nil {
      spec.environment = imageEnvironment
      spec.environmentSetsHome = imageEnvironment.contains { $0.hasPrefix("HOME=") }
    }
    if !given.contains(.workdir), let directory = defaults.WorkingDir, !directory.isEmpty {
      spec.workdir = directory.hasPrefix("/") ? directory : "/" + directory
    }
    if user == nil, let imageUser = defaults.User, !imageUser.isEmpty {
      // Not dropped silently: the command would run as root instead.
      guard jail.isolation == .jail else {
        throw TaskerError(.invalidArgument, "the image's User \"\(imageUser)\" needs --isolation jail")
      }
      spec.user = imageUser
    }
    if !given.contains(.stopSignal), let name = defaults.StopSignal, !name.isEmpty {
      guard let number = Signals.parse(name) else {
        throw TaskerError(.image, "the image's StopSignal \"\(name)\" is not a signal")
      }
      spec.stopSignal = number
    }
    return spec
  }

  /// `base` with `additions` laid over it: a later value of a name replaces an earlier one.
  static func merged(_ base: [String], _ additions: [String]) -> [String] {
    var order: [String] = []
    var values: [String: String] = [:]
    for entry in base + additions {
      let name = String(entry.prefix { $0 != "=" })
      if values[name] == nil { order.append(name) }
      values[name] = entry
    }
    return order.compactMap { values[$0] }
  }
}
