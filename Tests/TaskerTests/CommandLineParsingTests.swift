import Foundation
import Glibc
import Tasker
import TaskerSystem
import Testing

struct ShellWordsTests {
  @Test(arguments: [
    ("sleep 30", ["sleep", "30"]),
    ("  sleep   30  ", ["sleep", "30"]),
    ("sh -c 'echo hi; exit 3'", ["sh", "-c", "echo hi; exit 3"]),
    (#"echo "a \"b\" \\ \$HOME" c"#, ["echo", #"a "b" \ $HOME"#, "c"]),
    (#"echo "keep \n as is""#, ["echo", #"keep \n as is"#]),
    (#"a\ b c"#, ["a b", "c"]),
    ("''", [""]),
    ("a''b", ["ab"]),
    ("echo $HOME *", ["echo", "$HOME", "*"]),
    ("", []),
  ])
  func splitsLikeAShell(line: String, words: [String]) throws {
    #expect(try ShellWords.split(line) == words)
  }

  @Test func rejectsUnterminatedInput() {
    #expect(throws: ShellWords.Failure.unterminatedQuote("'")) { try ShellWords.split("echo 'oops") }
    #expect(throws: ShellWords.Failure.unterminatedQuote("\"")) { try ShellWords.split("echo \"oops") }
    #expect(throws: ShellWords.Failure.trailingBackslash) { try ShellWords.split("echo \\") }
  }
}

struct SignalTests {
  @Test(arguments: [("SIGINT", 2), ("INT", 2), ("int", 2), ("2", 2), ("sigkill", 9), ("TERM", 15), ("64", 64)])
  func parses(text: String, number: Int32) {
    #expect(Signals.parse(text) == number)
  }

  @Test(arguments: ["", "0", "65", "-1", "SIG", "SIGFOO", "INT2", "RTMIN+100"])
  func rejects(text: String) {
    #expect(Signals.parse(text) == nil)
  }

  @Test func realTimeSignals() throws {
    let rtMin = try #require(Signals.parse("RTMIN"))
    #expect(Signals.parse("SIGRTMIN+2") == rtMin + 2)
    #expect(Signals.name(of: rtMin + 2) == "SIGRTMIN+2")
    #expect(Signals.name(of: 2) == "SIGINT")
    #expect(Signals.name(of: 6) == "SIGABRT")
  }
}

struct ProcessStatTests {
  @Test func parsesFieldsAfterTheCommandName() throws {
    // A command name may hold spaces and parentheses; fields are counted from the last ")".
    let line = "4242 (evil) S 1 (x) R 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 200"
    let stat = try #require(ProcessStat.parse(line))
    #expect(stat.stateCode == "R")
    #expect(stat.startTime == 987_654)
    #expect(stat.stateName == "running")
  }

  @Test func stateWords() {
    let words: [Character: String] = [
      "R": "running", "S": "sleeping", "D": "disk-sleep", "T": "stopped", "t": "tracing-stop", "Z": "zombie",
      "X": "dead", "I": "idle",
    ]
    for (code, word) in words { #expect(ProcessStat.stateName(code) == word) }
  }

  @Test func readsItself() throws {
    let stat = try #require(ProcessStat.read(pid: getpid()))
    // The main thread's state: running, or sleeping while a test thread runs.
    #expect(["R", "S"].contains(stat.stateCode))
    #expect(stat.startTime > 0)
    #expect(ProcessStat.read(pid: Int32.max) == nil)
  }
}

struct TaskIDTests {
  @Test func generatedIDsAreWellFormedAndDistinct() {
    let ids = (0..<1000).map { _ in TaskID.generate() }
    #expect(Set(ids).count == ids.count)
    for id in ids { #expect(TaskID.isWellFormed(id.rawValue)) }
  }

  @Test(arguments: ["", "0123456789a", "0123456789abc", "0123456789AB", "../../etc/x", "0123456789ag"])
  func rejectsMalformed(text: String) {
    #expect(TaskID(text) == nil)
  }
}

struct ShellWordsUnicodeTests {
  /// Found by fuzzing: a combining mark right after a quote must not swallow the quote.
  @Test func combiningMarksDoNotFuseWithQuotes() throws {
    #expect(try ShellWords.split("'\u{032C}'") == ["\u{032C}"])
    #expect(try ShellWords.split("echo \"\u{0301}x\"") == ["echo", "\u{0301}x"])
  }
}

/// `ShellWords.quote`, which `tasker list` shows commands with and the fuzz harness checks.
struct ShellWordsQuoteTests {
  @Test(arguments: [
    ("sleep", "sleep"), ("/bin/sh", "/bin/sh"), ("--max-size", "--max-size"), ("", "''"), ("a b", "'a b'"),
    ("it's", "'it'\\''s'"), ("'\u{032C}", "''\\''\u{032C}'"), ("x=1", "'x=1'"), ("~", "'~'"), ("$HOME", "'$HOME'"),
    ("*", "'*'"), ("#", "'#'"), ("caf\u{E9}", "'caf\u{E9}'"), ("tab\there", "'tab\there'"),
  ])
  func quotesOnlyWhatNeedsIt(word: String, typed: String) {
    #expect(ShellWords.quote(word) == typed)
  }

  /// Quotes followed by combining marks (one `Character` with them), backslashes, NUL and
  /// control characters: every word splits back.
  static let awkward = [
    "'\u{032C}", "\u{032C}'", "\\\u{032C}", "\"\u{0301}", "'\u{032C}/..\u{0}O\u{0}", "\u{0}c", "''", "'\"'",
    "new\nline", "\u{1B}[31m", "\u{7F}", " ", "a\\", "x'y'z", "\u{FEFF}", "e\u{301}'\u{301}\u{301}",
  ]

  @Test func everyWordSplitsBack() throws {
    for word in Self.awkward {
      #expect(try ShellWords.split(ShellWords.quote(word)) == [word], "\(ShellWords.quote(word))")
    }
    #expect(try ShellWords.split(ShellWords.join(Self.awkward)) == Self.awkward)
  }

  /// Pasted into /bin/sh, the quoted words are the same words (a shell word cannot hold NUL).
  @Test func theShellSplitsThemBackToo() throws {
    let words = Self.awkward.filter { !$0.unicodeScalars.contains("\u{0}") } + ["sleep", "30", "--", "x=1", ""]
    let script = "set -- " + ShellWords.join(words) + "; for w; do printf '%s\\0' \"$w\"; done"
    let shell = Process()
    shell.executableURL = URL(fileURLWithPath: "/bin/sh")
    shell.arguments = ["-c", script]
    let output = Pipe()
    shell.standardOutput = output
    try shell.run()
    let bytes = output.fileHandleForReading.readDataToEndOfFile()
    shell.waitUntilExit()
    #expect(shell.terminationStatus == 0)
    let printed = bytes.split(separator: 0, omittingEmptySubsequences: false).dropLast().map {
      String(decoding: $0, as: UTF8.self)
    }
    #expect(printed == words)
  }
}

/// Global options before a subcommand (`tasker --root DIR list`, runc's `--root DIR state ID`).
struct LeadingOptionsTests {
  @Test func takesKnownOptionsUpToTheCommand() throws {
    var arguments = ["--root", "/a", "--download-path=/b", "list", "--root", "/c"]
    let taken = try LeadingOptions.take(from: &arguments, valued: ["root", "download-path"])
    #expect(taken == [.init(name: "root", value: "/a"), .init(name: "download-path", value: "/b")])
    #expect(arguments == ["list", "--root", "/c"])
  }

  @Test func stopsAtAnythingElse() throws {
    for line in [["--version"], ["---completion", "x"], ["--", "--root", "/a"], ["-root", "/a"], ["--other", "x"]] {
      var arguments = line
      #expect(try LeadingOptions.take(from: &arguments, valued: ["root"]).isEmpty)
      #expect(arguments == line)
    }
  }

  @Test func singleDashAndFlags() throws {
    var arguments = ["-root", "/a", "--debug", "-log=x", "state", "id"]
    let taken = try LeadingOptions.take(from: &arguments, valued: ["root", "log"], flags: ["debug"], singleDash: true)
    #expect(taken.map(\.name) == ["root", "debug", "log"])
    #expect(arguments == ["state", "id"])
  }

  @Test func aMissingValueIsAnError() {
    for line in [["--root"], ["--root="]] {
      var arguments = line
      #expect(throws: TaskerError.self) { try LeadingOptions.take(from: &arguments, valued: ["root"]) }
    }
  }
}

struct SizeTextTests {
  @Test(arguments: [(UInt64(8 << 20), "8m"), (1536 << 10, "1536k"), (1 << 30, "1g"), (1000, "1000"), (262_144, "256k")])
  func largestUnitThatDividesIt(bytes: UInt64, text: String) {
    #expect(ResourceLimits.sizeText(bytes) == text)
    #expect(ResourceLimits.parseSize(text) == bytes)
  }
}
