import Foundation
import Tasker
import Testing

/// logs --tail, --since, --timestamps: real line times, noted by the supervisor as the lines
/// came; logs without options print the raw bytes as ever.
@Suite(.enabled(if: isRoot, rootReason))
struct LogOptionsTests {
  /// `TIME TEXT` lines as --timestamps prints them.
  static func stamped(_ output: String) -> [(time: String, text: String)] {
    output.split(separator: "\n").map { line in
      let parts = line.split(separator: " ", maxSplits: 1)
      return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
    }
  }

  static func seconds(_ time: String) -> Double? {
    // 2026-12-02T03:00:00.123456789Z: the digits after the point are nanoseconds.
    guard time.count == 30, time.hasSuffix("Z"),
      let whole = LogSelection.parseTime(String(time.prefix(19)) + "Z", now: 0),
      let nanos = Double(time.dropFirst(20).dropLast())
    else { return nil }
    return whole + nanos / 1e9
  }

  @Test func tailSinceAndTimestampsPickLines() throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--network", "none"])
    defer { box.removeEverything() }
    let script = "echo one; echo two >&2; sleep 1; echo three; printf unfinished"
    let id = try box.create(images.url("busybox.tar.gz"), ["--", "/bin/sh", "-c", script])
    #expect(try box.tasker(["wait", id]).status == 0)
    // No options: the bytes as written, stdout then stderr.
    let raw = try box.tasker(["logs", id])
    #expect(raw.stdout == "one\nthree\nunfinished" && raw.stderr == "two\n")
    // --tail counts the lines of both streams together, in the order written.
    let last = try box.tasker(["logs", "--tail", "2", id])
    #expect(last.stdout == "three\nunfinished" && last.stderr == "")
    let three = try box.tasker(["logs", "--tail", "3", id])
    #expect(three.stdout == "three\nunfinished" && three.stderr == "two\n")
    #expect(try box.tasker(["logs", "--tail", "0", id]).stdout == "")
    // --timestamps: each line's start, RFC 3339 with nanoseconds, UTC.
    let timed = try box.tasker(["logs", "--timestamps", id])
    #expect(timed.status == 0, "\(timed.stderr)")
    let out = Self.stamped(timed.stdout)
    let err = Self.stamped(timed.stderr)
    #expect(out.map(\.text) == ["one", "three", "unfinished"] && err.map(\.text) == ["two"], "\(timed.stdout)")
    let times = try out.map { try #require(Self.seconds($0.time), "\($0.time)") }
    #expect(times[1] - times[0] >= 0.9, "three came a second after one: \(timed.stdout)")
    #expect(times[1] <= times[2])
    // --since: the lines from a time on (the time of "three" as printed).
    let since = try box.tasker(["logs", "--since", out[1].time, id])
    #expect(since.stdout == "three\nunfinished" && since.stderr == "", "\(since.stdout)")
    let recent = try box.tasker(["logs", "--since", "1h", id])
    #expect(recent.stdout == raw.stdout && recent.stderr == raw.stderr)
    let future = try box.tasker(["logs", "--since", "2099-01-01T00:00:00Z", id])
    #expect(future.status == 0 && future.stdout == "" && future.stderr == "")
    let bad = try box.tasker(["logs", "--since", "last tuesday", id])
    #expect(bad.status == 64 && bad.stderr.contains("invalid --since"))
    #expect(try box.tasker(["logs", "--tail", "-1", id]).status == 64)
  }

  @Test func followWithTimestampsStampsNewLines() throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--network", "none"])
    defer { box.removeEverything() }
    let id = try box.create(
      images.url("busybox.tar.gz"), ["--", "/bin/sh", "-c", "echo a; sleep 0.5; echo b; sleep 0.5; echo c"])
    let followed = try box.tasker(["logs", "--follow", "--timestamps", "--tail", "5", id])
    #expect(followed.status == 0)
    let lines = Self.stamped(followed.stdout)
    #expect(lines.map(\.text) == ["a", "b", "c"], "\(followed.stdout)")
    #expect(lines.allSatisfy { Self.seconds($0.time) != nil })
  }

  /// Two million empty lines: the index grows with the supervisor's reads, not the lines, and
  /// `--tail 1` still finds the last line (read as a stream, never held whole).
  @Test func manyLinesLeaveASmallIndex() throws {
    let images = try Images.shared()
    let box = try Sandbox(createOptions: ["--network", "none"])
    defer { box.removeEverything() }
    let script = "yes '' | head -c 2000000; echo last"
    let id = try box.create(images.url("busybox.tar.gz"), ["--", "/bin/sh", "-c", script])
    #expect(try box.tasker(["wait", id]).status == 0)
    let directory = box.state.appendingPathComponent("tasks/\(id)")
    let size = { (name: String) throws -> Int in
      try #require(
        FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(name).path)[.size] as? Int)
    }
    let (log, index) = (try size("stdout.log"), try size("stdout.index"))
    #expect(log == 2_000_005)
    #expect(index > 0 && index < log / 100, "a \(index)-byte index for a \(log)-byte log")
    let tail = try box.tasker(["logs", "--tail", "1", id])
    #expect(tail.status == 0 && tail.stdout == "last\n" && tail.stderr == "", "\(tail.stderr)")
    let stamped = try box.tasker(["logs", "--tail", "2", "--timestamps", id])
    let lines = Self.stamped(stamped.stdout)
    #expect(lines.map(\.text) == ["", "last"], "\(stamped.stdout.prefix(200))")
    #expect(lines.allSatisfy { Self.seconds($0.time) != nil })
  }
}
