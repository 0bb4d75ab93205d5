import Glibc
import Testing

@testable import Tasker

/// `logs --since` and `--timestamps`: the times they read and print.
struct LogSelectionTests {
  static let now = 1_796_180_400.0  // 2026-12-02T03:00:00Z

  @Test(arguments: [
    ("2026-12-02T03:00:00Z", now),
    ("2026-12-02t03:00:00z", now),
    ("2026-12-02T03:00:00.25Z", now + 0.25),
    ("2026-12-02T04:30:00+01:30", now),
    ("2026-12-02T01:00:00-02:00", now),
    ("1796180400", now),
    ("1796180400.5", now + 0.5),
    ("10m", now - 600),
    ("1h30m", now - 5400),
    ("1.5s", now - 1.5),
    ("500ms", now - 0.5),
  ])
  func readsPodmansTimes(text: String, seconds: Double) {
    #expect(LogSelection.parseTime(text, now: Self.now) == seconds)
  }

  @Test(arguments: [
    "", "yesterday", "10x", "10", "m", "2026-13-02T03:00:00Z", "2026-12-02T25:00:00Z", "2026-12-02T03:00:00+1",
    "2026-12-02T03:00:00Zjunk", "2026-12-02T03:00", "1.2.3",
  ])
  func refusesOtherText(text: String) {
    if text == "10" {
      #expect(LogSelection.parseTime(text, now: Self.now) == 10, "bare digits are seconds since 1970")
    } else {
      #expect(LogSelection.parseTime(text, now: Self.now) == nil)
    }
  }

  @Test func aDateAloneIsLocalMidnight() {
    #expect(LogSelection.parseTime("2026-12-02", now: Self.now) != nil)
  }

  @Test func printsNanosecondsInUTC() {
    #expect(LogSelection.format(seconds: 1_796_180_400, nanoseconds: 5) == "2026-12-02T03:00:00.000000005Z")
    #expect(LogSelection.format(seconds: 0, nanoseconds: 123_456_789) == "1970-01-01T00:00:00.123456789Z")
  }

  @Test func noOptionsMeansEveryByte() {
    #expect(LogSelection().isEverything)
    #expect(!LogSelection(tail: 0).isEverything && !LogSelection(timestamps: true).isEverything)
  }
}

/// `--detach-keys` in podman's notation.
struct DetachKeysTests {
  @Test(arguments: [
    ("ctrl-p,ctrl-q", [16, 17] as [UInt8]),
    ("ctrl-a,d", [1, 100]),
    ("CTRL-X", [24]),
    ("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", [0, 27, 28, 29, 30, 31]),
    ("", []),
  ])
  func readsPodmansNotation(text: String, keys: [UInt8]) {
    #expect(TaskAttachment.parseDetachKeys(text) == keys)
  }

  @Test(arguments: ["ctrl-1", "ctrl-", "ab", "ctrl-p,", "é", "ctrl-pq"])
  func refusesOthers(text: String) {
    #expect(TaskAttachment.parseDetachKeys(text) == nil)
  }
}

/// How a relay tells a supervisor that never let it in (the task ended while the connection
/// waited to be accepted: `run -t` then prints the task's logs) from one that was cut off.
struct AttachmentEndingTests {
  /// A relay over one end of a socket pair whose other end sends `frames`, then closes.
  func relay(after frames: [UInt8]) throws -> (TaskAttachment.Ending, heard: Bool) {
    var ends: [Int32] = [-1, -1]
    #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &ends) == 0)
    let attachment = TaskAttachment(
      id: try #require(TaskID("0123456789ab")), socket: ends[0], terminal: true, interactive: false)
    if !frames.isEmpty { #expect(write(ends[1], frames, frames.count) == frames.count) }
    close(ends[1])
    let sink = open("/dev/null", O_WRONLY)
    defer { close(sink) }
    let ending = try attachment.relay(input: nil, stdout: sink, stderr: sink)
    return (ending, attachment.heardFromSupervisor)
  }

  @Test func aConnectionClosedUnheardIsLostUnheard() throws {
    let (ending, heard) = try relay(after: [])
    #expect(ending == .lost && !heard)
  }

  @Test func aConnectionCutAfterOutputIsLostHeard() throws {
    let (ending, heard) = try relay(after: [UInt8(ascii: "o"), 0, 0, 0, 2, UInt8(ascii: "h"), UInt8(ascii: "i")])
    #expect(ending == .lost && heard)
  }

  @Test func anEndFrameGivesTheStatus() throws {
    let (ending, heard) = try relay(after: [UInt8(ascii: "x"), 0, 0, 0, 4, 0, 0, 4, 0])
    #expect(ending == .ended(waitStatus: 0x400) && heard)
  }
}
