import Foundation
import Glibc
import Testing

/// Whether integration tests can run: they make chroots, which needs root.
let isRoot = geteuid() == 0
let rootReason: Comment = "needs root (chroot, ownership): run the tests as root"

/// The repository's root, found from this file's path, or `$TASKER_TEST_REPOSITORY` (the rootless
/// run's copy of the scripts and fixtures, where its user cannot reach the clone).
let repositoryRoot: URL =
  ProcessInfo.processInfo.environment["TASKER_TEST_REPOSITORY"].map { URL(fileURLWithPath: $0) }
  ?? URL(fileURLWithPath: #filePath)
  .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
  .deletingLastPathComponent()

/// The directory holding the built `tasker` and `tasker-supervisor` (beside the test bundle).
let binDirectory: URL = {
  let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? ""
  var url = URL(fileURLWithPath: executable).deletingLastPathComponent()
  // The test binary sits in <bin>/taskerPackageTests.xctest (a file on Linux).
  while !FileManager.default.fileExists(atPath: url.appendingPathComponent("tasker").path), url.path != "/" {
    url.deleteLastPathComponent()
  }
  return url
}()

var taskerPath: String { binDirectory.appendingPathComponent("tasker").path }

/// What one run of a command gave.
struct Outcome {
  var status: Int32
  var stdout: String
  var stderr: String
  var stderrLines: [Substring] { stderr.split(separator: "\n") }
}

/// Runs `tasker` with `arguments`, in `directory`, with `environment` added to a clean one.
@discardableResult
func tasker(_ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:])
  throws -> Outcome
{
  try run(taskerPath, arguments, in: directory, environment: environment)
}

func run(_ path: String, _ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:])
  throws -> Outcome
{
  let process = Process()
  process.executableURL = URL(fileURLWithPath: path)
  process.arguments = arguments
  var env = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
  env.merge(environment) { $1 }
  process.environment = env
  if let directory { process.currentDirectoryURL = directory }
  let out = Pipe()
  let err = Pipe()
  process.standardOutput = out
  process.standardError = err
  process.standardInput = FileHandle.nullDevice
  try process.run()
  // Read both pipes to the end before waiting, so a chatty child cannot block on a full pipe.
  let group = DispatchGroup()
  nonisolated(unsafe) var outData = Data()
  nonisolated(unsafe) var errData = Data()
  group.enter()
  DispatchQueue.global().async {
    outData = out.fileHandleForReading.readDataToEndOfFile()
    group.leave()
  }
  errData = err.fileHandleForReading.readDataToEndOfFile()
  group.wait()
  process.waitUntilExit()
  return Outcome(
    status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
    stderr: String(decoding: errData, as: UTF8.self))
}

/// A fresh directory under /tmp (for a user other than root, under `$TMPDIR` where set: the
/// rootless run checks that nothing outside its own directories changed), removed by `remove()`.
struct Scratch {
  let url: URL
  init(_ name: String = "tasker-test") throws {
    let temporary = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.hasPrefix("/") ? $0 : nil }
    let parent = isRoot ? "/tmp" : temporary ?? "/tmp"
    var template = Array("\(parent)/\(name)-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
    url = URL(fileURLWithPath: String(cString: made))
  }
  var path: String { url.path }
  func sub(_ name: String) throws -> URL {
    let child = url.appendingPathComponent(name)
    try FileManager.default.createDirectory(at: child, withIntermediateDirectories: true)
    return child
  }
  /// Detaches what tasks left mounted below (their nosuid task directories), then deletes. A user
  /// other than root deletes from a user namespace of their own (`unshare --map-auto`): a rootless
  /// task's files belong to the user's subordinate ids.
  func remove() {
    let mountinfo = (try? run("/bin/cat", ["/proc/self/mountinfo"]).stdout) ?? ""
    let mounts = mountinfo.split(separator: "\n").compactMap { line -> String? in
      let fields = line.split(separator: " ")
      return fields.count > 4 && fields[4].hasPrefix(url.path + "/") ? String(fields[4]) : nil
    }
    for mount in mounts.sorted(by: { $0.count > $1.count }) { umount2(mount, Int32(MNT_DETACH)) }
    if isRoot {
      _ = try? run("/bin/rm", ["-rf", "--one-file-system", url.path])
    } else {
      _ = try? run(
        "/usr/bin/unshare",
        ["--user", "--map-auto", "--map-root-user", "/bin/rm", "-rf", "--one-file-system", url.path])
      _ = try? run("/bin/rm", ["-rf", "--one-file-system", url.path])
    }
  }
}

/// Polls `condition` every 20 ms until it holds or `seconds` pass. Returns whether it held.
/// (A wait for a state, never an assertion about how long something took.)
func eventually(seconds: Double = 10, _ condition: () throws -> Bool) rethrows -> Bool {
  let deadline = Date().addingTimeInterval(seconds)
  while Date() < deadline {
    if try condition() { return true }
    usleep(20_000)
  }
  return try condition()
}

/// Entries of a directory, sorted (hidden ones included).
func listing(_ url: URL) -> [String] {
  ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).sorted()
}

/// A value shared between threads, behind a lock.
final class Locked<Value>: @unchecked Sendable {
  private let lock = NSLock()
  private var stored: Value
  init(_ value: Value) { stored = value }
  var value: Value { lock.withLock { stored } }
  func update(_ body: (inout Value) -> Void) { lock.withLock { body(&stored) } }
}
