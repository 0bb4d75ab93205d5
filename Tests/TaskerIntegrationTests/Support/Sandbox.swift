import Foundation
import Testing

/// A state root and a download path of the test's own.
struct Sandbox {
  let scratch: Scratch
  let state: URL
  let downloads: URL
  /// Options every `create` of this sandbox gets (`--isolation chroot`, say).
  var createOptions: [String] = []

  init(createOptions: [String] = []) throws {
    self.createOptions = createOptions
    scratch = try Scratch()
    state = try scratch.sub("state")
    downloads = try scratch.sub("downloads")
  }

  func tasker(_ arguments: [String], environment: [String: String] = [:]) throws -> Outcome {
    try TaskerIntegrationTests.tasker(
      arguments, in: downloads, environment: ["TASKER_ROOT": state.path].merging(environment) { $1 })
  }

  func create(_ image: String, _ command: [String]) throws -> String {
    let result = try tasker(["create"] + createOptions + [image] + command)
    #expect(result.status == 0, "create failed: \(result.stderr)")
    let id = result.stdout.trimmingCharacters(in: .newlines)
    #expect(result.stdout == id + "\n", "create must print the ID alone on one line")
    return id
  }

  func health(_ id: String) throws -> String { try tasker(["health_check", id]).stdout }

  func json(_ id: String) throws -> [String: Any] {
    let result = try tasker(["health_check", "--json", id])
    let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
    return try #require(object as? [String: Any])
  }

  func tasksOnRecord() -> [String] { listing(state.appendingPathComponent("tasks")) }

  /// Ends and removes every task still on record (a test that failed half-way may leave one
  /// running), then the scratch directory.
  func removeEverything() {
    let ids = tasksOnRecord().filter { !$0.hasPrefix(".") }
    if !ids.isEmpty { _ = try? tasker(["rm", "--force"] + ids) }
    scratch.remove()
  }
}
