import Foundation
import Tasker
import Testing

struct SettingsTests {
  func withConfig(_ text: String?, _ body: (String) async throws -> Void) async throws {
    let path = "/tmp/tasker-config-\(UUID().uuidString).json"
    if let text { try Data(text.utf8).write(to: URL(fileURLWithPath: path)) }
    defer { try? FileManager.default.removeItem(atPath: path) }
    try await body(path)
  }

  @Test func flagBeatsEnvironmentBeatsFileBeatsDefault() async throws {
    try await withConfig(#"{"downloadPath": "/srv/file", "root": "/state/file"}"#) { config in
      let fileOnly = try await TaskerSettings.resolve(environment: ["TASKER_CONFIG": config])
      #expect(fileOnly.downloadPath == "/srv/file")
      #expect(fileOnly.stateRoot == "/state/file")

      let env = ["TASKER_CONFIG": config, "TASKER_DOWNLOAD_PATH": "/srv/env", "TASKER_ROOT": "/state/env"]
      let fromEnv = try await TaskerSettings.resolve(environment: env)
      #expect(fromEnv.downloadPath == "/srv/env")
      #expect(fromEnv.stateRoot == "/state/env")

      let fromFlags = try await TaskerSettings.resolve(
        stateRoot: "/state/flag", downloadPath: "/srv/flag", environment: env)
      #expect(fromFlags.downloadPath == "/srv/flag")
      #expect(fromFlags.stateRoot == "/state/flag")
    }
  }

  @Test func defaults() async throws {
    try await withConfig(nil) { missing in
      // TASKER_CONFIG unset: /etc/tasker/config.json may be absent, which is fine.
      let settings = try await TaskerSettings.resolve(environment: [:])
      #expect(settings.downloadPath == FileManager.default.currentDirectoryPath)
      if geteuid() == 0, !FileManager.default.fileExists(atPath: TaskerSettings.defaultConfigFile) {
        #expect(settings.stateRoot == "/var/lib/tasker")
      }
      // A file TASKER_CONFIG names must exist.
      await #expect(throws: TaskerError.self) {
        try await TaskerSettings.resolve(environment: ["TASKER_CONFIG": missing])
      }
    }
  }

  @Test func aUserOtherThanRootHasStateAndConfigurationOfTheirOwn() {
    #expect(TaskerSettings.defaultStateRoot(uid: 0, environment: ["HOME": "/home/u"]) == "/var/lib/tasker")
    #expect(TaskerSettings.defaultConfigFile(uid: 0, environment: [:]) == "/etc/tasker/config.json")
    #expect(
      TaskerSettings.defaultStateRoot(uid: 1000, environment: ["HOME": "/home/u"]) == "/home/u/.local/share/tasker")
    #expect(
      TaskerSettings.defaultConfigFile(uid: 1000, environment: ["HOME": "/home/u/"])
        == "/home/u/.config/tasker/config.json")
    let xdg = ["HOME": "/home/u", "XDG_DATA_HOME": "/data", "XDG_CONFIG_HOME": "/conf"]
    #expect(TaskerSettings.defaultStateRoot(uid: 1000, environment: xdg) == "/data/tasker")
    #expect(TaskerSettings.defaultConfigFile(uid: 1000, environment: xdg) == "/conf/tasker/config.json")
    // A relative XDG value is ignored, as the XDG base directory specification says.
    let relative = ["HOME": "/home/u", "XDG_DATA_HOME": "data"]
    #expect(TaskerSettings.defaultStateRoot(uid: 1000, environment: relative) == "/home/u/.local/share/tasker")
    // No HOME: the passwd entry's home directory (root's entry exists on every system).
    #expect(TaskerSettings.defaultStateRoot(uid: 0, environment: [:]) == "/var/lib/tasker")
    if let entry = getpwuid(geteuid()), geteuid() != 0 {
      let home = String(cString: entry.pointee.pw_dir)
      #expect(TaskerSettings.defaultStateRoot(uid: geteuid(), environment: [:]) == home + "/.local/share/tasker")
    }
  }

  @Test func malformedFileIsAnErrorNamingIt() async throws {
    try await withConfig("{ \"root\": ") { config in
      do {
        _ = try await TaskerSettings.resolve(environment: ["TASKER_CONFIG": config])
        Issue.record("expected an error")
      } catch let error as TaskerError {
        #expect(error.code == .configuration)
        #expect(error.message.contains(config))
        #expect(!error.message.contains("\n"))
      }
    }
  }

  @Test func relativePathsAreMadeAbsolute() async throws {
    let settings = try await TaskerSettings.resolve(
      stateRoot: "state", downloadPath: "tasks", environment: [:])
    let cwd = FileManager.default.currentDirectoryPath
    #expect(settings.stateRoot == cwd + "/state")
    #expect(settings.downloadPath == cwd + "/tasks")
  }
}
