import CTaskerShim
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
    #expect(Self.files("headers").contains { $0.hasSuffix("crash-20f18323fe5fbbd2eeca46b27da06ab6b0626729") })
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

  /// The headers target's inputs (its checks are the C target's: every kept value a string
  /// inside its field; refused only for a body announced over the bound).
  @Test(arguments: files("headers"))
  func headers(path: String) throws {
    let bytes = try FuzzCorpus.read(path)
    var request = tasker_http_request()
    request.max_body = 1000
    let status = bytes.withUnsafeBufferPointer { buffer in
      buffer.withMemoryRebound(to: CChar.self) { tasker_http_read_headers(&request, $0.baseAddress, $0.count) }
    }
    #expect(status == 0 || (request.too_large != 0 && request.content_length > request.max_body))
    #expect((0...9999).contains(request.status), "a status read past its digits: \(request.status)")
    let etag = withUnsafeBytes(of: request.etag) { $0.contains(0) }
    let authenticate = withUnsafeBytes(of: request.www_authenticate) { $0.contains(0) }
    #expect(etag && authenticate)
  }
}
