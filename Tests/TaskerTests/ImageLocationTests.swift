import TaskerImage
import Testing

@Suite struct ImageLocationTests {
  @Test(arguments: [
    ("http://x/y", ImageLocation.http("http://x/y")),
    ("HTTPS://x", .http("HTTPS://x")),
    ("https://example.test:8443/a/b.tar.gz?x=1", .http("https://example.test:8443/a/b.tar.gz?x=1")),
    ("file:///tmp/a%20b.tar", .file("/tmp/a b.tar")),
    ("file:///tmp/plain.tar", .file("/tmp/plain.tar")),
    ("file:///tmp/a b.tar", .file("/tmp/a b.tar")),
    ("FILE:///tmp/upper.tar", .file("/tmp/upper.tar")),
    ("file://localhost/srv/x.tar", .file("/srv/x.tar")),
    ("./relative.tar", .file("./relative.tar")),
    ("relative.tar", .file("relative.tar")),
    ("/abs/image.tar.zst", .file("/abs/image.tar.zst")),
  ])
  func parses(text: String, location: ImageLocation) throws {
    #expect(try ImageLocation(text) == location)
  }

  @Test(arguments: ["file://otherhost/x", "file://", "file://localhost", ""])
  func invalidURL(_ text: String) {
    let error = #expect(throws: ImageError.self) { try ImageLocation(text) }
    guard case .invalidURL(let echoed) = error else {
      Issue.record("expected invalidURL, got \(String(describing: error))")
      return
    }
    #expect(echoed == text)
  }

  @Test(arguments: [("ftp://x", "ftp"), ("s3://bucket/key", "s3"), ("FTP://x", "FTP")])
  func unsupportedScheme(text: String, scheme: String) {
    let error = #expect(throws: ImageError.self) { try ImageLocation(text) }
    guard case .unsupportedScheme(let named) = error else {
      Issue.record("expected unsupportedScheme, got \(String(describing: error))")
      return
    }
    #expect(named == scheme)
    #expect(String(describing: error).contains(scheme))
  }

  @Test func descriptionIsWhatWasFetched() throws {
    #expect(try ImageLocation("http://x/y").description == "http://x/y")
    #expect(try ImageLocation("file:///tmp/a%20b.tar").description == "/tmp/a b.tar")
  }
}
