import Tasker
import Testing

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
