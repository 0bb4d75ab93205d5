import Foundation
import Glibc
import Tasker
import Testing

/// The library as a Swift program uses it: create with the caller's own descriptors.
@Suite(.enabled(if: isRoot, rootReason))
struct LibraryAPITests {
  @Test func outputGoesToTheCallersDescriptors() async throws {
    let images = try Images.shared()
    let scratch = try Scratch()
    defer { scratch.remove() }
    let settings = TaskerSettings(
      stateRoot: try scratch.sub("state").path, downloadPath: try scratch.sub("downloads").path,
      supervisorPath: binDirectory.appendingPathComponent("tasker-supervisor").path)
    let manager = TaskManager(settings: settings)
    let out = Pipe()
    let err = Pipe()
    let spec = TaskSpec(
      image: images.url("busybox.tar.gz"), command: ["/bin/sh", "-c", "echo to-out; echo to-err >&2"],
      output: .fileDescriptors(
        stdout: out.fileHandleForWriting.fileDescriptor, stderr: err.fileHandleForWriting.fileDescriptor))
    let handle = try await manager.create(spec)
    try out.fileHandleForWriting.close()
    try err.fileHandleForWriting.close()
    #expect(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) == "to-out\n")
    #expect(String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) == "to-err\n")
    #expect(handle.pid > 0)
    #expect(handle.rootfs == settings.downloadPath + "/" + handle.id.rawValue)
    #expect(try eventually { try manager.status(of: handle.id.rawValue).exitCode == 0 })
  }

  @Test func errorsCarryACode() async throws {
    let scratch = try Scratch()
    defer { scratch.remove() }
    let manager = TaskManager(
      settings: TaskerSettings(
        stateRoot: try scratch.sub("state").path, downloadPath: try scratch.sub("downloads").path,
        supervisorPath: binDirectory.appendingPathComponent("tasker-supervisor").path))
    do {
      _ = try manager.status(of: "0123456789ab")
      Issue.record("expected notFound")
    } catch {
      #expect(error.code == .notFound)
    }
    do {
      _ = try await manager.create(TaskSpec(image: "gopher://x/y", command: ["true"]))
      Issue.record("expected invalidArgument")
    } catch {
      #expect(error.code == .invalidArgument)
    }
  }
}
