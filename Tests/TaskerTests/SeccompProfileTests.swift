import Foundation
import Tasker
import Testing

/// The seccomp profile: tasker's own, and the user's, settled for a task's capabilities.
struct SeccompProfileTests {
  static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

  func rules(_ filter: SeccompFilter, _ name: String) -> [SeccompFilter.Rule] {
    filter.rules.filter { $0.name == name }
  }

  @Test func theStandardProfileIsTheRepositorysDocument() throws {
    let bytes = try Data(
      contentsOf: Self.repositoryRoot.appendingPathComponent("Sources/Tasker/Resources/seccomp.json"))
    #expect(try SeccompProfile.decode(Array(bytes)) == SeccompProfile.standard)
    #expect(SeccompProfile.standard.defaultAction == .errno && SeccompProfile.standard.defaultErrnoRet == 38)
  }

  @Test func anAllowlistThatFailsClosed() throws {
    let filter = try SeccompProfile.standard.filter(capabilities: .default)
    #expect(filter.defaultAction == .errno && filter.defaultErrno == ENOSYS)
    #expect(rules(filter, "read").map(\.action) == [.allow])
    for denied in ["io_uring_setup", "io_uring_enter", "io_uring_register", "keyctl", "kexec_load", "mount", "bpf"] {
      #expect(rules(filter, denied).map(\.action) == [.errno], "\(denied)")
      #expect(rules(filter, denied).first?.errno == EPERM, "\(denied)")
    }
    // clone only without CLONE_NEWUSER; clone3 (flags out of a filter's sight) is ENOSYS.
    let clone = rules(filter, "clone")
    #expect(clone.count == 2 && clone.allSatisfy { $0.arguments.first?.op == .maskedEqual })
    #expect(clone.first { $0.action == .allow }?.arguments.first?.valueTwo == 0)
    #expect(rules(filter, "clone3").map(\.errno) == [ENOSYS])
    // personality: the harmless values allowed, every other persona bit refused.
    let personality = rules(filter, "personality")
    let allowed = personality.filter { $0.action == .allow }.compactMap { $0.arguments.first?.value }
    #expect(Set(allowed) == [0, 8, 0x20000, 0x20008, 0xffff_ffff])
    #expect(personality.filter { $0.action == .errno }.count == 30)
  }

  @Test func capabilitiesOpenWhatTheyGuard() throws {
    let admin = try SeccompProfile.standard.filter(
      capabilities: Capabilities.adjusted(.default, add: ["SYS_ADMIN", "SYS_TIME"], drop: []))
    #expect(rules(admin, "mount").map(\.action) == [.allow])
    #expect(rules(admin, "settimeofday").map(\.action) == [.allow])
    #expect(rules(admin, "clone").map(\.action) == [.allow] && rules(admin, "clone").first?.arguments == [])
    #expect(rules(admin, "kexec_load").map(\.action) == [.errno])
  }

  @Test func aUsersProfile() throws {
    let json = """
      {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
       "syscalls": [
         {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
         {"name": "rmdir", "action": "SCMP_ACT_KILL_PROCESS"},
         {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO", "excludes": {"caps": ["CAP_SYS_PTRACE"]}},
         {"names": ["write"], "action": "SCMP_ACT_LOG", "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]}
       ]}
      """
    let profile = try SeccompProfile.decode(Array(json.utf8))
    let filter = try profile.filter(capabilities: .default)
    #expect(filter.defaultAction == .allow)
    #expect(rules(filter, "mkdir").first?.errno == 13)
    #expect(rules(filter, "rmdir").first?.action == .killProcess)
    #expect(rules(filter, "ptrace").count == 1)
    let tracer = try profile.filter(capabilities: Capabilities.adjusted(.default, add: ["SYS_PTRACE"], drop: []))
    #expect(rules(tracer, "ptrace").isEmpty)
    #expect(rules(filter, "write").first?.arguments.first?.value == 2)
  }

  @Test(arguments: [
    "not json",
    #"{"syscalls": []}"#,
    #"{"defaultAction": "SCMP_ACT_NOPE"}"#,
    #"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}"#,
    #"{"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/x.sock"}"#,
    #"{"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 5000}"#,
    #"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_S390X"]}"#,
    #"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["Read;rm"], "action": "SCMP_ACT_ERRNO"}]}"#,
    #"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#,
    #"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_NOPE"]}}]}"#,
  ])
  func aBadProfileIsOneClearError(json: String) {
    #expect(throws: TaskerError.self) {
      try SeccompProfile.decode(Array(json.utf8)).filter(capabilities: .default)
    }
  }
}
