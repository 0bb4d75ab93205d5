import ArgumentParser
import CTaskerShim
import Foundation
import Glibc
import Tasker

/// The options create and run share.
struct BundleOptions: ParsableArguments {
  @Option(name: [.customShort("b"), .long], help: "The bundle directory (config.json and the root).")
  var bundle: String = "."
  @Option(name: .customLong("pid-file"), help: "Where to write the container process's PID.")
  var pidFile: String?
  @Option(name: .customLong("console-socket"), help: "A unix socket that receives the terminal's master end.")
  var consoleSocket: String?
  @Flag(name: .customLong("no-pivot"), help: "Move the root over / and chroot instead of pivot_root.")
  var noPivot = false
  @Flag(name: .customLong("no-new-keyring"), help: "Accepted for runc's sake: tasker makes no session keyring.")
  var noNewKeyring = false
  @Option(name: .customLong("preserve-fds"), help: "Pass this many descriptors from 3 up to the container.")
  var preserveFDs: Int = 0

  func createOptions() throws -> ContainerRuntime.CreateOptions {
    guard (0...1000).contains(preserveFDs) else { throw ValidationError("--preserve-fds must be 0 to 1000") }
    return ContainerRuntime.CreateOptions(
      pidFile: pidFile, consoleSocket: try consoleSocket.map(connectConsole), noPivot: noPivot,
      preservedDescriptors: preserveFDs)
  }
}

func connectConsole(_ path: String) throws -> Int32 {
  let fd = tasker_connect_unix(path)
  guard fd >= 0 else {
    throw TaskerError(.invalidArgument, "--console-socket \(path): \(String(cString: strerror(errno)))")
  }
  return fd
}

struct Create: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Create a container (its process waits for start).")
  @OptionGroup var options: BundleOptions
  @Argument(help: "The container's ID.") var id: String

  func run() throws {
    _ = try RuntimeCommand.runtime.create(id: id, bundle: options.bundle, options: try options.createOptions())
  }
}

struct Start: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Start a created container's process.")
  @Argument var id: String
  func run() throws { try RuntimeCommand.runtime.start(id: id) }
}

struct Run: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Create and start a container; wait for it and delete it (unless --detach).")
  @OptionGroup var options: BundleOptions
  @Flag(name: [.customShort("d"), .long], help: "Return once started.") var detach = false
  @Flag(name: .long, help: "Keep the container after it ends.") var keep = false
  @Argument var id: String

  func run() throws {
    let runtime = RuntimeCommand.runtime
    // The container's process is left to us when the supervisor exits: we wait for it.
    if !detach { _ = tasker_become_subreaper() }
    let record = try runtime.create(id: id, bundle: options.bundle, options: try options.createOptions())
    do {
      try runtime.start(id: id)
    } catch {
      try? runtime.delete(id: id, force: true)
      throw error
    }
    if detach { return }
    let status = waitForwardingSignals(record.pid)
    if !keep { try? runtime.delete(id: id, force: true) }
    throw ExitCode(status)
  }
}

/// Waits for PID (our child once reparented), passing on the signals we get; its exit status,
/// 128+N for signal N.
func waitForwardingSignals(_ pid: Int32) -> Int32 {
  var all = sigset_t()
  sigfillset(&all)
  sigdelset(&all, SIGCHLD)
  for signal in [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH] {
    Glibc.signal(signal) { number in Glibc.kill(forwardedPID, number) }
  }
  forwardedPID = pid
  var status: Int32 = 0
  while true {
    let done = waitpid(-1, &status, 0)
    if done == pid { break }
    if done < 0, errno == ECHILD { return 255 }
  }
  if status & 0x7f == 0 { return (status >> 8) & 0xff }
  return 128 + (status & 0x7f)
}

nonisolated(unsafe) var forwardedPID: Int32 = 0

struct State: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Print a container's state (JSON).")
  @Argument var id: String
  func run() throws {
    printJSON(try RuntimeCommand.runtime.state(id: id))
  }
}

func printJSON<T: Encodable>(_ value: T) {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
  let data = (try? encoder.encode(value)) ?? Data()
  print(String(decoding: data, as: UTF8.self))
}

struct Kill: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Send a signal to a container's process.")
  @Flag(name: [.customShort("a"), .long], help: "Signal every process of the container.") var all = false
  @Argument var id: String
  @Argument var signal: String = "SIGTERM"

  func run() throws {
    try RuntimeCommand.runtime.kill(id: id, signal: try parseSignal(signal), all: all)
  }
}

/// A signal by number or name, with or without SIG.
func parseSignal(_ text: String) throws -> Int32 {
  if let number = Int32(text), (1..<65).contains(number) { return number }
  var name = text.uppercased()
  if name.hasPrefix("SIG") { name.removeFirst(3) }
  let names: [String: Int32] = [
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
    "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17, "CONT": 18,
    "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25, "VTALRM": 26, "PROF": 27,
    "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
  ]
  if let number = names[name] { return number }
  if name.hasPrefix("RTMIN+"), let offset = Int32(name.dropFirst(6)), (0...30).contains(offset) { return 34 + offset }
  if name == "RTMIN" { return 34 }
  if name == "RTMAX" { return 64 }
  throw TaskerError(.invalidArgument, "unknown signal \"\(text)\"")
}

struct Delete: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Delete a container (its cgroups and state).")
  @Flag(name: [.customShort("f"), .long], help: "Kill it first if it still runs.") var force = false
  @Argument var id: String
  func run() throws {
    do {
      try RuntimeCommand.runtime.delete(id: id, force: force)
    } catch {
      // runc: delete --force of a missing container succeeds.
      guard error.code == .notFound, force else { throw error }
    }
  }
}

struct Pause: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Freeze every process of a container.")
  @Argument var id: String
  func run() throws { try RuntimeCommand.runtime.pause(id: id) }
}

struct Resume: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Thaw a paused container.")
  @Argument var id: String
  func run() throws { try RuntimeCommand.runtime.resume(id: id) }
}
