import Foundation
import Glibc
import Testing

/// The image cache: fetched once, revalidated, shared copy-on-write, pruned.
@Suite(.enabled(if: isRoot, rootReason))
struct ImageCacheTests {
  /// A copy of an image under a name no other test uses, so the server's log is this test's.
  func uniqueImage(_ images: Images, from name: String = "busybox.tar.gz") throws -> String {
    let unique = "cache-\(UUID().uuidString).tar.gz"
    try FileManager.default.copyItem(atPath: images.path(name), toPath: images.path(unique))
    return unique
  }

  func cachedImages(_ box: Sandbox) throws -> [[String: Any]] {
    let result = try box.tasker(["images", "--json"])
    return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
  }

  @Test func anImageIsFetchedOnceThenRevalidated() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let name = try uniqueImage(images)
    for _ in 0..<3 { _ = try box.create(images.url(name), ["true"]) }
    #expect(images.responses(for: name) == ["200", "304", "304"])
    let cached = try cachedImages(box)
    #expect(cached.count == 1)
    #expect(cached.first?["tasks"] as? Int == 3)
    let digest = try images.sha256(name)
    #expect(cached.first?["digest"] as? String == digest)

    // Asked by digest, a cached image needs no request at all; --pull never neither.
    let byDigest = try box.tasker(["create", "--sha256", try images.sha256(name), images.url(name), "true"])
    #expect(byDigest.status == 0)
    let never = try box.tasker(["create", "--pull", "never", images.url(name), "true"])
    #expect(never.status == 0)
    #expect(images.responses(for: name) == ["200", "304", "304"])
    // --pull always fetches the bytes again.
    #expect(try box.tasker(["create", "--pull", "always", images.url(name), "true"]).status == 0)
    #expect(images.responses(for: name).last == "200")

    // A changed image on the server is fetched again and cached beside the old one.
    sleep(1)  // Last-Modified has a resolution of one second
    try FileManager.default.removeItem(atPath: images.path(name))
    try FileManager.default.copyItem(atPath: images.path("busybox.tar.xz"), toPath: images.path(name))
    _ = try box.create(images.url(name), ["true"])
    #expect(images.responses(for: name).last == "200")
    #expect(try cachedImages(box).count == 2)
  }

  @Test func twentyCreatesAtOnceFetchOnce() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let name = try uniqueImage(images)
    let failures = Locked<[String]>([])
    DispatchQueue.concurrentPerform(iterations: 20) { _ in
      let result = try? box.tasker(["create", images.url(name), "true"])
      if result?.status != 0 { failures.update { $0.append(result?.stderr ?? "did not run") } }
    }
    #expect(failures.value.isEmpty, "\(failures.value)")
    #expect(images.responses(for: name).filter { $0 == "200" }.count == 1, "\(images.responses(for: name))")
    #expect(try cachedImages(box).count == 1)
    #expect(listing(box.downloads).count == 20)
  }

  @Test func aTasksWritesStayInItsDirectoryAndOutOfTheImage() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let writer = try box.create(images.url("busybox.tar.gz"), ["sh -c 'echo mine > /etc/written; rm /bin/ls'"])
    #expect(try box.tasker(["wait", writer]).status == 0)
    let taskDirectory = box.downloads.appendingPathComponent(writer)
    // Visible on the host, after the task ended, as the task saw it.
    #expect(try String(contentsOf: taskDirectory.appendingPathComponent("etc/written"), encoding: .utf8) == "mine\n")
    #expect(!FileManager.default.fileExists(atPath: taskDirectory.appendingPathComponent("bin/ls").path))
    // The cached image and the next task are untouched.
    let digest = try #require(try cachedImages(box).first?["digest"] as? String)
    let lower = box.state.appendingPathComponent("images/\(digest)/rootfs")
    #expect(!FileManager.default.fileExists(atPath: lower.appendingPathComponent("etc/written").path))
    #expect(FileManager.default.fileExists(atPath: lower.appendingPathComponent("bin/ls").path))
    let reader = try box.tasker(["run", images.url("busybox.tar.gz"), "sh -c 'cat /etc/written; ls /bin/ls'"])
    #expect(reader.stdout == "/bin/ls\n", "\(reader.stdout) \(reader.stderr)")
    #expect(try box.tasker(["rm", writer]).status == 0)
    #expect(!FileManager.default.fileExists(atPath: taskDirectory.path))
  }

  @Test func localFilesAreRevalidatedBySizeAndTime() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let file = box.scratch.url.appendingPathComponent("image.tar")
    try FileManager.default.copyItem(atPath: images.path("busybox.tar"), toPath: file.path)
    _ = try box.create(file.path, ["true"])
    _ = try box.create("file://" + file.path, ["true"])
    #expect(try cachedImages(box).count == 1)
    try FileManager.default.removeItem(at: file)
    try FileManager.default.copyItem(atPath: images.path("busybox.tar.zst"), toPath: file.path)
    _ = try box.create(file.path, ["true"])
    #expect(try cachedImages(box).count == 2)
  }

  @Test func pruneRemovesOnlyImagesNoTaskUses() throws {
    let images = try Images.shared()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let kept = try box.create(images.path("busybox.tar"), ["true"])
    let dropped = try box.create(images.path("busybox.tar.bz2"), ["true"])
    #expect(try cachedImages(box).count == 2)
    #expect(try box.tasker(["rm", dropped]).status == 0)
    let pruned = try box.tasker(["prune"])
    #expect(pruned.stdout.contains("1 unused image"), "\(pruned.stdout)")
    let left = try cachedImages(box)
    let keptDigest = try images.sha256("busybox.tar")
    #expect(left.count == 1 && left.first?["digest"] as? String == keptDigest)
    #expect(try box.tasker(["health_check", kept]).status == 0)
    #expect(try box.tasker(["run", "--pull", "never", images.path("busybox.tar"), "true"]).status == 0)
  }
}
