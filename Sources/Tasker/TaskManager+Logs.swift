import Glibc
import TaskerSystem

extension TaskManager {
  /// Copies the lines `selection` picks of what the task wrote so far, each to `stdout` or
  /// `stderr` as it was written, both streams in the order their lines started. With `follow`,
  /// keeps copying new lines until the task ends, and returns its final status. The line times
  /// come from `stdout.index` and `stderr.index`, which the supervisor writes beside the logs.
  /// The logs are streamed: `--tail N` keeps where the last N lines are (not their bytes), and
  /// no more than `LogLines.longestLine` bytes of a line are ever held.
  func copySelectedLogs(
    of id: TaskID, record: TaskRecord, selection: LogSelection, follow: Bool, stdout: Int32, stderr: Int32
  ) throws(TaskerError) -> TaskStatus {
    let store = self.store
    do {
      func openStreams(ends: [Int64?]) throws(SystemError) -> [LogLines] {
        [
          try LogLines(
            log: store.stdoutPath(of: id), index: store.directory(of: id) + "/stdout.index", to: stdout, stream: 0,
            end: ends[0]),
          try LogLines(
            log: store.stderrPath(of: id), index: store.directory(of: id) + "/stderr.index", to: stderr, stream: 1,
            end: ends[1]),
        ]
      }
      let streams = try openStreams(ends: [nil, nil])
      if selection.since != nil || selection.timestamps, try streams.contains(where: { try $0.lacksTimes() }) {
        throw TaskerError(
          .invalidArgument,
          "task \(id)'s logs carry no line times (it was started by an earlier tasker): --since and --timestamps need them"
        )
      }
      let merged = LogMerge(streams)
      func picked(_ line: LogLines.Line) -> Bool {
        guard let since = selection.since else { return true }
        return (line.time.map { Double($0.seconds) + Double($0.nanoseconds) / 1e9 } ?? 0) >= since
      }
      if let tail = selection.tail {
        // Two passes, so that no line is held: count the lines picked, then read the same
        // bytes again (up to where the count stopped) and print the last `tail` of them.
        var count = 0
        while let line = try merged.next(final: !follow) {
          if picked(line) { count += 1 }
        }
        let again = try openStreams(ends: streams.map(\.position))
        let replay = LogMerge(again)
        var skip = count - max(0, tail)
        while let line = try replay.next(final: true) {
          if !picked(line) { continue }
          if skip > 0 {
            skip -= 1
          } else {
            try again[line.stream].print(line, timestamps: selection.timestamps)
          }
        }
      } else {
        while let line = try merged.next(final: !follow) {
          if picked(line) { try streams[line.stream].print(line, timestamps: selection.timestamps) }
        }
      }
      guard follow else { return status(of: id, record: record) }
      var failure: SystemError?
      func copyNew(final: Bool) throws(SystemError) {
        merged.lookAgain()
        while let line = try merged.next(final: final) {
          try streams[line.stream].print(line, timestamps: selection.timestamps)
        }
      }
      let final = waitUntilEnded(id: id, record: record, pollMilliseconds: 50) {
        do throws(SystemError) {
          try copyNew(final: false)
          return true
        } catch {
          failure = error
          return false
        }
      }
      if let failure { throw failure }
      try copyNew(final: true)
      return final
    } catch let error as TaskerError {
      throw error
    } catch {
      throw TaskerError(.system, "cannot read logs of task \(id): \(error)", cause: SendableDescription(error))
    }
  }
}
