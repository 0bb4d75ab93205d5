/// The one error the library's public API throws: a code to branch on, a message for people,
/// and the underlying cause.
public struct TaskerError: Error, CustomStringConvertible, Sendable {
  /// What kind of failure this is. New codes may be added.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public init(_ name: String) { self.name = name }
    public var description: String { name }

    /// Bad input: an unparseable command line, signal, URL or option value.
    public static let invalidArgument = Code("invalidArgument")
    /// No task has this ID (or it was removed).
    public static let notFound = Code("notFound")
    /// The task exists but has ended, for an operation that needs it running.
    public static let notRunning = Code("notRunning")
    /// The task is running, for an operation that needs it ended.
    public static let running = Code("running")
    /// The image could not be fetched or extracted.
    public static let image = Code("image")
    /// The command could not be found in the image.
    public static let commandNotFound = Code("commandNotFound")
    /// The command exists but could not be executed.
    public static let commandNotExecutable = Code("commandNotExecutable")
    /// Setting up or starting the task failed.
    public static let startFailed = Code("startFailed")
    /// The task's record is damaged or unreadable.
    public static let corruptRecord = Code("corruptRecord")
    /// The configuration file is unreadable or malformed.
    public static let configuration = Code("configuration")
    /// A system call failed.
    public static let system = Code("system")
  }

  public var code: Code
  public var message: String
  public var cause: (any Error & Sendable)?

  public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
    self.code = code
    self.message = message
    self.cause = cause
  }

  public var description: String { message }
}
