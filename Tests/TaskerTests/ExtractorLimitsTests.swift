import Glibc
import TaskerArchive
import Testing

/// Decompression bombs and archives of very many members stop at `ExtractionLimits`.
@Suite struct ExtractorLimitsTests {
  /// 1 GiB of zeros in one member, about 4.5 MiB gzip-compressed, against a 64 MiB budget.
  @Test func gzipBombStopsAtTheByteLimit() throws {
    let limits = ExtractionLimits(maxBytes: 64 << 20, maxEntries: 100, maxPathLength: 4095)
    try HostileFixture.run(compression: .gzip, compressionLevel: 1, options: ExtractionOptions(limits: limits)) {
      tar, fixture in
      try tar.zeros("bomb", size: 1 << 30)
      _ = fixture
    } check: { result, fixture in
      #expect(try #require(fileStatus(fixture.archive)).st_size < 8 << 20)
      let error = try #require(result.failure)
      guard case .limitExceeded(let message) = error else {
        Issue.record("expected limitExceeded, got \(error)")
        return
      }
      #expect(message.contains("\(64 << 20) bytes"))
      // Nothing past the budget reached the disk.
      let written = fileStatus(fixture.root + "/bomb").map { Int($0.st_size) } ?? 0
      #expect(written <= 64 << 20)
    }
  }

  /// The budget is for the whole archive, not per member.
  @Test func byteLimitCountsAllMembers() throws {
    let limits = ExtractionLimits(maxBytes: 10 << 20, maxEntries: 100, maxPathLength: 4095)
    try HostileFixture.run(compression: .zstd, options: ExtractionOptions(limits: limits)) { tar, _ in
      for index in 0..<20 { try tar.zeros("part-\(index)", size: 1 << 20) }
    } check: { result, fixture in
      let error = try #require(result.failure)
      guard case .limitExceeded = error else {
        Issue.record("expected limitExceeded, got \(error)")
        return
      }
      let parts = directoryEntries(fixture.root)
      #expect(parts.count == 10)  // the 11th is refused at its first block, before it is made
      let total = parts.compactMap { fileStatus(fixture.root + "/" + $0) }.reduce(0) { $0 + Int($1.st_size) }
      #expect(total <= 10 << 20)
    }
  }

  /// Exactly at the limit is still fine.
  @Test func byteLimitIsInclusive() throws {
    let limits = ExtractionLimits(maxBytes: 3 << 20, maxEntries: 100, maxPathLength: 4095)
    try HostileFixture.run(options: ExtractionOptions(limits: limits)) { tar, _ in
      for index in 0..<3 { try tar.zeros("part-\(index)", size: 1 << 20) }
    } check: { result, _ in
      let summary = try result.get()
      #expect(summary.bytes == 3 << 20)
    }
  }

  @Test func tooManyMembersStopAtTheEntryLimit() throws {
    let limits = ExtractionLimits(maxBytes: 1 << 30, maxEntries: 1000, maxPathLength: 4095)
    try HostileFixture.run(compression: .gzip, compressionLevel: 1, options: ExtractionOptions(limits: limits)) {
      tar, _ in
      for index in 0..<100_000 { try tar.file("f\(index)") }
    } check: { result, fixture in
      let error = try #require(result.failure)
      guard case .limitExceeded(let message) = error else {
        Issue.record("expected limitExceeded, got \(error)")
        return
      }
      #expect(message.contains("1000 members"))
      #expect(directoryEntries(fixture.root).count == 1000)
    }
  }

  /// Many small members extract (no timing asserted: benchmarks measure speed).
  @Test func twentyThousandEmptyFilesExtract() throws {
    try HostileFixture.run(compression: .gzip, compressionLevel: 1) { tar, _ in
      for directory in 0..<20 {
        try tar.directory("d\(directory)/")
        for index in 0..<1000 { try tar.file("d\(directory)/f\(index)", mode: 0o600) }
      }
    } check: { result, fixture in
      let summary = try result.get()
      #expect(summary.entries == 20_020)
      #expect(summary.bytes == 0)
      var files = 0
      for directory in directoryEntries(fixture.root) {
        files += directoryEntries(fixture.root + "/" + directory).count
      }
      #expect(files == 20_000)
      #expect(fileStatus(fixture.root + "/d19/f999").map(permissions) == 0o600)
    }
  }
}
