import Glibc
import TaskerArchive
import TaskerImage

/// Where a task's stdout and stderr go.
public enum TaskOutput: Sendable, Equatable {
  /// To `stdout.log` and `stderr.log` in the task's state directory (what `logs` reads).
  case logFiles
  /// To descriptors the caller chooses (duplicated into the task; the caller keeps its own).
  case fileDescriptors(stdout: Int32, stderr: Int32)
}

/// Everything a create needs to know.
public struct TaskSpec: Sendable {
  /// `http://`, `https://`, `file://` URL or a local path of a tar archive (plain, gz, bz2, xz,
  /// zstd); `dir:/path`; or a layered image's reference (`docker://`, `oci:`, `oci-archive:`,
  /// `docker-archive:`), whose config gives the defaults below.
  public var image: String
  /// The command's argv; `command[0]` is looked up in the image's PATH unless it has a `/`.
  /// For a layered image: the arguments that replace its `Cmd` (empty: the image's `Cmd`).
  public var command: [String]
  /// The SHA-256 the archive's bytes must have (64 hex digits).
  public var sha256: String?
  /// `K=V` pairs; nil gives the default environment.
  public var environment: [String]?
  /// The working directory inside the task's root.
  public var workdir: String
  public var output: TaskOutput
  /// Seconds without a byte before a download fails.
  public var stallTimeout: Int
  /// A unique name, usable wherever the ID is.
  public var name: String?
  /// Isolation, capabilities, network and resource limits.
  public var jail: JailOptions
  /// Bounds on what the image may make tasker write.
  public var extractionLimits: ExtractionLimits
  /// When the image cache may serve the image.
  public var pull: PullPolicy
  /// Called as the archive's bytes go by: (bytes so far, total if known). Often: throttle it.
  public var progress: (@Sendable (Int64, Int64?) -> Void)?
  /// Skip archive members that would escape the task's directory (reported in
  /// `TaskHandle.warnings`) instead of failing the create.
  public var skipUnsafeMembers: Bool
  /// `--user UID[:GID]` or `NAME[:GROUP]`, resolved in the image's `/etc/passwd` and
  /// `/etc/group` (see `ImageUser`); nil runs the command as root.
  public var user: String?
  /// `--group-add GROUP|GID`: supplementary groups besides the image's for the user.
  public var groupAdd: [String] = []
  /// Whether `environment` sets HOME on purpose; otherwise a `user` gets HOME from the image's
  /// passwd entry.
  public var environmentSetsHome = false
  /// Keep the command's stdin open, fed from whoever attaches (`-i`; else it is /dev/null).
  public var interactive = false
  /// Give the command a pseudo-terminal of this size, made in the jail's own devpts (`-t`).
  /// Its output goes to `stdout.log`; `attach` relays it.
  public var terminal: JailPlan.Terminal?
  /// The signal `stop` sends before SIGKILL (`--stop-signal`).
  public var stopSignal: Int32 = SIGTERM
  /// When the supervisor starts the command again after it ends (`--restart`).
  public var restart: RestartPolicy = .no
  /// Layered images: the platform to choose from an index (nil: the host's).
  public var platform: Platform?
  /// Layered images: how registries are reached.
  public var registry = RegistryOptions()
  /// Layered images: replaces the image's `Entrypoint` (`--entrypoint`; empty: none); nil keeps it.
  public var entrypoint: [String]?
  /// Layered images: `K=V` entries laid over the image's `Env` (`-e`); when nil, `environment`
  /// (if set) is the whole environment, as for other images.
  public var environmentAdditions: [String]?
  /// Layered images: called as each layer is fetched and unpacked (from the layers' threads).
  public var layerProgress: (@Sendable (LayerProgress) -> Void)?
  /// Layered images: which settings the caller chose itself, so that the image's do not apply
  /// (`workdir` and `stopSignal` have values either way). `user` nil takes the image's `User`.
  public var given: GivenSettings = []

  /// Settings a caller gave on purpose.
  public struct GivenSettings: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// `workdir` (`-w`): the image's `WorkingDir` does not apply.
    public static let workdir = GivenSettings(rawValue: 1)
    /// `stopSignal` (`--stop-signal`): the image's `StopSignal` does not apply.
    public static let stopSignal = GivenSettings(rawValue: 2)
  }

  /// The default environment with `variables` (`K=V`) laid over it: a later value of a name
  /// replaces an earlier one, and PATH and HOME keep their defaults unless given.
  public static func environment(merging variables: [String]) -> [String] {
    var order: [String] = []
    var values: [String: String] = [:]
    for entry in defaultEnvironment + variables {
      let name = String(entry.prefix { $0 != "=" })
      if values[name] == nil { order.append(name) }
      values[name] = entry
    }
    return order.compactMap { values[$0] }
  }

  /// The environment a command gets when the spec gives none.
  public static let defaultEnvironment = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
  ]

  public init(
    image: String, command: [String], sha256: String? = nil, environment: [String]? = nil,
    workdir: String = "/", output: TaskOutput = .logFiles, stallTimeout: Int = 30, name: String? = nil,
    jail: JailOptions = JailOptions(), extractionLimits: ExtractionLimits = .default, skipUnsafeMembers: Bool = false,
    pull: PullPolicy = .missing, progress: (@Sendable (Int64, Int64?) -> Void)? = nil
  ) {
    self.pull = pull
    self.progress = progress
    self.name = name
    self.jail = jail
    self.extractionLimits = extractionLimits
    self.skipUnsafeMembers = skipUnsafeMembers
    self.image = image
    self.command = command
    self.sha256 = sha256
    self.environment = environment
    self.workdir = workdir
    self.output = output
    self.stallTimeout = stallTimeout
  }
}

/// A task just created.
public struct TaskHandle: Sendable, Equatable {
  public var id: TaskID
  /// The command's PID on the host. Use it for display only: act on a task through its ID.
  public var pid: Int32
  /// The task's root filesystem directory.
  public var rootfs: String
  /// What the create passed over and wants the user to know (skipped unsafe members).
  public var warnings: [String] = []
}
