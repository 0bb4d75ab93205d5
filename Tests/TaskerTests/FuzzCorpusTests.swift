import Foundation
import TaskerFuzzHarness
import Testing

/// Every input kept from fuzzing (seeds and past findings, Tests/Fixtures/fuzz/) goes through
/// the fuzz harness again: what crashed once must not crash again.
struct FuzzCorpusTests {
  static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/fuzz")

  static func files(_ target: String) -> [String] {
    let directory = corpus.appendingPathComponent(target)
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.sorted().map { directory.appendingPathComponent($0).path }
  }

  @Test func theCorpusIsThere() {
    #expect(Self.files("archive").count >= 5)
    #expect(Self.files("inputs").contains { $0.hasSuffix("crash-combining-mark") })
    #expect(Self.files("inputs").contains { $0.hasSuffix("crash-4db64ef55052ef5b12f652a482a78842d8ccf53c") })
  }

  @Test(arguments: files("archive"))
  func archive(path: String) throws {
    FuzzHarness.extractArchive(try FuzzCorpus.read(path))
  }

  @Test(arguments: files("inputs"))
  func inputs(path: String) throws {
    FuzzHarness.parseInputs(try FuzzCorpus.read(path))
  }
}
