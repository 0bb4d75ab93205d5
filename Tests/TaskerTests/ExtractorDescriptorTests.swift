import Glibc
import TaskerArchive
import Testing

/// The extractor holds descriptors into the tree it writes (the root, a cached parent, hardlink
/// targets); none may outlive it, whichever way the extraction ended.
@Suite struct ExtractorDescriptorTests {
  @Test func noDescriptorIntoTheTreeOutlivesTheExtractor() throws {
    let limits = ExtractionLimits(maxBytes: 4 << 20, maxEntries: 50, maxPathLength: 4095)
    let scenarios: [(String, (TarBuilder) throws -> Void)] = [
      ("success", { try ExtractorRoundTripTests.writeImage($0) }),
      (
        "write through a dangling symlink",
        { tar in
          try tar.file("d/a", "a\n")
          try tar.symlink("evil", target: "/nowhere")
          try tar.file("evil/pwned", "x\n")
        }
      ),
      (
        "hardlink to a missing member",
        { tar in
          try tar.file("d/a", "a\n")
          try tar.hardlink("d/hl", target: "d/missing")
        }
      ),
      (
        "unsafe member after a cached parent",
        { tar in
          try tar.file("d/a", "a\n")
          try tar.file("d/b", "b\n")
          try tar.file("../escape", "x\n")
        }
      ),
      ("byte limit", { tar in try tar.zeros("d/big", size: 5 << 20) }),
      ("entry limit", { tar in for index in 0..<60 { try tar.file("d/f\(index)") } }),
    ]
    try withTemporaryDirectory { dir in
      for (index, scenario) in scenarios.enumerated() {
        let archive = dir + "/archive-\(index)"
        let tar = try TarBuilder(path: archive)
        try scenario.1(tar)
        try tar.finish()
        let root = dir + "/root-\(index)"
        try makeDirectory(root)
        let result = try extractArchive(archive, into: root, options: ExtractionOptions(limits: limits))
        #expect((result.failure == nil) == (index == 0), "\(scenario.0): \(result)")
        let leaked = descriptors().filter { $0.value.hasPrefix(dir) }
        #expect(leaked.isEmpty, "\(scenario.0): still open: \(leaked)")
      }
    }
  }
}

/// This process's open descriptors and what they name (from /proc/self/fd).
private func descriptors() -> [Int32: String] {
  var result: [Int32: String] = [:]
  for name in directoryEntries("/proc/self/fd") {
    guard let fd = Int32(name), let target = linkTarget("/proc/self/fd/" + name) else { continue }
    result[fd] = target
  }
  return result
}
