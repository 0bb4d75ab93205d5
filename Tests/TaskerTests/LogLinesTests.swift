import Glibc
import Tasker
import Testing

/// Reading a log and its index (one entry per supervisor read) a line at a time.
struct LogLinesTests {
  typealias Time = LogLines.Time

  /// The lines `next(final:)` hands out, each with its text and time.
  static func lines(_ stream: LogLines, final: Bool = true) throws -> [(text: String, time: Time?)] {
    var lines: [(String, Time?)] = []
    while let line = try stream.next(final: final) {
      lines.append((String(decoding: try stream.bytes(of: line), as: UTF8.self), line.time))
    }
    return lines
  }

  @Test func linesOfOneReadShareItsEntry() throws {
    try withTemporaryDirectory { dir in
      // Two reads: "a\nb\nc" at 10 s, then "d\ne\n" at 20 s; "d" continues the line "c" began.
      try writeFile(dir + "/log", Array("a\nb\ncd\ne\n".utf8))
      try writeFile(dir + "/index", Array("0 10 1\n7 20 2\n".utf8))
      let stream = try LogLines(log: dir + "/log", index: dir + "/index", to: -1)
      let lines = try Self.lines(stream)
      #expect(lines.map(\.text) == ["a\n", "b\n", "cd\n", "e\n"])
      let ten = Time(seconds: 10, nanoseconds: 1)
      let twenty = Time(seconds: 20, nanoseconds: 2)
      #expect(lines.map(\.time) == [ten, ten, ten, twenty])
    }
  }

  @Test func anEntryPerLineStillTimesEachLine() throws {
    try withTemporaryDirectory { dir in
      // The index an earlier supervisor wrote: one entry per line.
      try writeFile(dir + "/log", Array("a\nb\nc\n".utf8))
      try writeFile(dir + "/index", Array("0 1 0\n2 2 0\n4 3 0\n".utf8))
      let stream = try LogLines(log: dir + "/log", index: dir + "/index", to: -1)
      #expect(try Self.lines(stream).map { $0.time?.seconds } == [1, 2, 3])
    }
  }

  @Test func anUnfinishedLineWaitsUnlessFinal() throws {
    try withTemporaryDirectory { dir in
      try writeFile(dir + "/log", Array("a\npartial".utf8))
      try writeFile(dir + "/index", Array("0 5 0\n".utf8))
      let stream = try LogLines(log: dir + "/log", index: dir + "/index", to: -1)
      #expect(try Self.lines(stream, final: false).map(\.text) == ["a\n"])
      try appendToFile(dir + "/log", Array(" line\n".utf8))
      #expect(try Self.lines(stream, final: false).isEmpty, "the end met is not read again until asked")
      stream.lookAgain()
      #expect(try Self.lines(stream, final: false).map(\.text) == ["partial line\n"])
      try appendToFile(dir + "/log", Array("end".utf8))
      stream.lookAgain()
      #expect(try Self.lines(stream, final: false).isEmpty)
      #expect(try Self.lines(stream, final: true).map(\.text) == ["end"])
    }
  }

  @Test func aLongLineComesInPiecesWithItsTime() throws {
    try withTemporaryDirectory { dir in
      let longest = LogLines.longestLine
      let long = [UInt8](repeating: 120, count: 2 * longest + 10) + [10]
      try writeFile(dir + "/log", long + Array("z\n".utf8))
      try writeFile(dir + "/index", Array("0 7 0\n\(long.count) 8 0\n".utf8))
      let stream = try LogLines(log: dir + "/log", index: dir + "/index", to: -1)
      var pieces: [LogLines.Line] = []
      while let line = try stream.next(final: true) { pieces.append(line) }
      #expect(pieces.map(\.count) == [longest, longest, 11, 2])
      #expect(pieces.map { $0.time?.seconds } == [7, 7, 7, 8])
      #expect(try stream.bytes(of: pieces[0]) == Array(long[..<longest]), "read again once gone from the buffer")
    }
  }

  @Test func streamsMergeByTimeFirstStreamFirstAtTies() throws {
    try withTemporaryDirectory { dir in
      try writeFile(dir + "/out", Array("o1\no2\no3\n".utf8))
      try writeFile(dir + "/out.index", Array("0 1 0\n3 3 0\n".utf8))
      try writeFile(dir + "/err", Array("e1\ne2\n".utf8))
      try writeFile(dir + "/err.index", Array("0 2 0\n3 3 0\n".utf8))
      let out = try LogLines(log: dir + "/out", index: dir + "/out.index", to: -1, stream: 0)
      let err = try LogLines(log: dir + "/err", index: dir + "/err.index", to: -1, stream: 1)
      let merged = LogMerge([out, err])
      var texts: [String] = []
      while let line = try merged.next(final: true) {
        texts.append(String(decoding: try [out, err][line.stream].bytes(of: line), as: UTF8.self))
      }
      #expect(texts == ["o1\n", "e1\n", "o2\n", "o3\n", "e2\n"])
    }
  }

  @Test func readingStopsAtTheEndGiven() throws {
    try withTemporaryDirectory { dir in
      try writeFile(dir + "/log", Array("a\nb\nc\n".utf8))
      let stream = try LogLines(log: dir + "/log", index: dir + "/none", to: -1, end: 4)
      #expect(try Self.lines(stream).map(\.text) == ["a\n", "b\n"])
      #expect(try stream.lacksTimes())
    }
  }
}
