import Foundation
import Tasker
import Testing

/// The OCI runtime spec's documents: `config.json` as runc and crun write it, read and written back
/// whole, and its structural rules; the state document.
struct RuntimeSpecTests {
  static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/oci")

  /// What `runc spec`, `runc spec --rootless`, `crun spec` and `crun spec --rootless` print (runc
  /// 1.1.5 and crun 1.8.1, run as root), and a document with every field.
  static let documents = [
    "runc-spec.json", "runc-spec-rootless.json", "crun-spec.json", "crun-spec-rootless.json", "maximal.json",
  ]

  static func bytes(_ name: String) throws -> [UInt8] {
    Array(try Data(contentsOf: fixtures.appendingPathComponent(name)))
  }

  static func fixture(_ name: String) throws -> RuntimeSpec {
    try RuntimeSpec.decode(bytes(name))
  }

  static func encode(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
  }

  @Test(arguments: documents)
  func aDocumentReadsAndWritesBackWhole(name: String) throws {
    let spec = try Self.fixture(name)
    let written = try JSONEncoder().encode(spec)
    #expect(try JSONDecoder().decode(RuntimeSpec.self, from: written) == spec)
    // Nothing the document holds is lost on the way: as JSON values, what is written is what was read.
    let read = try JSONDecoder().decode(RuntimeSpec.OpaqueValue.self, from: Data(Self.bytes(name)))
    #expect(try JSONDecoder().decode(RuntimeSpec.OpaqueValue.self, from: written) == read)
  }

  @Test func runcDefaultIsWhatRuncSpecPrints() throws {
    #expect(RuntimeSpec.runcDefault(args: ["sh"]) == (try Self.fixture("runc-spec.json")))
    var other = try Self.fixture("runc-spec.json")
    other.process?.args = ["/bin/true", "x"]
    #expect(RuntimeSpec.runcDefault(args: ["/bin/true", "x"]) == other)
    #expect(RuntimeSpec.runcDefault(args: ["/bin/true"]) != other)
  }

  @Test func runcRootlessIsWhatRuncSpecRootlessPrints() throws {
    #expect(RuntimeSpec.runcRootless(args: ["sh"], uid: 0, gid: 0) == (try Self.fixture("runc-spec-rootless.json")))
    let spec = RuntimeSpec.runcRootless(args: ["sh"], uid: 1000, gid: 100)
    #expect(spec.linux?.uidMappings == [RuntimeSpec.IDMapping(containerID: 0, hostID: 1000, size: 1)])
    #expect(spec.linux?.gidMappings == [RuntimeSpec.IDMapping(containerID: 0, hostID: 100, size: 1)])
    #expect(spec.linux?.namespaces?.map(\.type) == ["pid", "ipc", "uts", "mount", "user"])
    #expect(spec.linux?.resources == nil)
    let sys = spec.mounts?.first { $0.destination == "/sys" }
    #expect(sys?.type == "none" && sys?.source == "/sys" && sys?.options?.first == "rbind")
    #expect(spec.mounts?.first { $0.destination == "/dev/pts" }?.options?.contains("gid=5") == false)
    #expect(spec.mounts?.count == 7)
    #expect(throws: Never.self) { try spec.validate() }
  }

  @Test func crunSpecIsRuncsWithItsOwnNameAndAnEmptyInheritableSet() throws {
    var expected = RuntimeSpec.runcDefault(args: ["sh"])
    expected.ociVersion = "1.0.0"
    expected.hostname = "crun"
    expected.process?.capabilities?.inheritable = []
    #expect(try Self.fixture("crun-spec.json") == expected)
  }

  @Test func everyFieldIsRead() throws {
    let spec = try Self.fixture("maximal.json")
    let process = try #require(spec.process)
    #expect(process.consoleSize == RuntimeSpec.ConsoleSize(height: 25, width: 80))
    #expect(process.user?.uid == 4_294_967_294 && process.user?.umask == 18 && process.user?.username == "alice")
    #expect(process.user?.additionalGids == [5, 6, 4_294_967_294])
    #expect(process.capabilities?.inheritable == [] && process.capabilities?.ambient == ["CAP_NET_BIND_SERVICE"])
    #expect(process.rlimits?[1] == RuntimeSpec.Rlimit(type: "RLIMIT_CORE", hard: .max, soft: .max))
    #expect(process.oomScoreAdj == -500 && process.ioPriority?.priority == 4)
    #expect(process.scheduler?.nice == -5 && process.scheduler?.deadline == 20_000_000)
    #expect(process.execCPUAffinity?.final == "1-3")
    #expect(spec.mounts?[1].uidMappings?.first?.hostID == 100_000)
    #expect(spec.hooks?.createContainer?.first?.timeout == 5)
    #expect(spec.hooks?.poststop?.first?.args == ["cleanup.sh", "-f"])
    #expect(spec.annotations?["com.example.empty"] == "")
    let linux = try #require(spec.linux)
    #expect(linux.namespaces?[1] == RuntimeSpec.Linux.Namespace(type: "network", path: "/var/run/netns/box"))
    #expect(linux.timeOffsets?["monotonic"] == RuntimeSpec.Linux.TimeOffset(secs: -86400, nanosecs: 500))
    #expect(linux.devices?[0].fileMode == 0o666 && linux.devices?[2].major == nil)
    #expect(linux.netDevices?["eth2"] == RuntimeSpec.Linux.NetDevice())
    let resources = try #require(linux.resources)
    #expect(resources.devices?[2].minor == nil && resources.devices?[1].minor == 229)
    #expect(resources.memory?.kernel == -1 && resources.memory?.checkBeforeUpdate == true)
    #expect(resources.cpu?.quota == 1_000_000 && resources.cpu?.idle == 1 && resources.cpu?.mems == "0-7")
    #expect(resources.pids?.limit == 32771)
    #expect(resources.blockIO?.weightDevice?[1].leafWeight == nil)
    #expect(resources.blockIO?.throttleWriteIOPSDevice?.first?.rate == .max)
    #expect(resources.hugepageLimits?.map(\.pageSize) == ["2MB", "1GB"])
    #expect(resources.network?.classID == 1_048_577 && resources.network?.priorities?.last?.priority == 1000)
    #expect(resources.rdma?["mlx4_0"] == RuntimeSpec.Linux.Resources.Rdma(hcaObjects: 1000))
    #expect(resources.unified?["io.max"] == "8:0 rbps=1048576")
    #expect(linux.seccomp?.listenerMetadata == "opaque-metadata")
    #expect(linux.seccomp?.syscalls?.last?.args?.first?.op == .notEqual)
    #expect(linux.intelRdt?.enableMonitoring == true && linux.personality?.flags == [])
    guard case .object(let windows) = spec.windows else {
      Issue.record("windows: \(String(describing: spec.windows))")
      return
    }
    #expect(windows["credentialSpec"] == .null && windows["ignoreFlushesDuringBoot"] == .bool(true))
    #expect(
      windows["resources"]
        == .object(["memory": .object(["limit": .integer(2_097_152)]), "cpu": .object(["maximum": .number(0.5)])]))
    #expect(spec.vm != nil && spec.solaris != nil && spec.zos != nil)
  }

  @Test func unknownKeysAreIgnored() throws {
    let json = #"""
      {"ociVersion": "1.3.0", "root": {"path": "rootfs", "future": 1}, "future": {"a": [1, 2]},
       "linux": {"memoryPolicy": {"mode": "MPOL_BIND"}, "namespaces": [{"type": "pid", "future": true}]}}
      """#
    let spec = try RuntimeSpec.decode(Array(json.utf8))
    #expect(
      spec
        == RuntimeSpec(ociVersion: "1.3.0", root: .init(path: "rootfs"), linux: .init(namespaces: [.init(type: "pid")]))
    )
  }

  @Test func absentFieldsAreLeftOut() throws {
    let spec = RuntimeSpec(
      ociVersion: "1.0.2", process: .init(args: ["sh"], cwd: "/"), root: .init(path: "rootfs"),
      linux: .init(resources: .init(memory: .init(limit: 1 << 20))))
    #expect(
      try Self.encode(spec)
        == #"{"linux":{"resources":{"memory":{"limit":1048576}}},"ociVersion":"1.0.2","#
        + #""process":{"args":["sh"],"cwd":"/"},"root":{"path":"rootfs"}}"#)
  }

  @Test(arguments: [
    ("not json", "config.json: not valid JSON"),
    (#"{"root": {"path": "rootfs"}}"#, "ociVersion: missing"),
    (#"{"ociVersion": 1}"#, "ociVersion: expected a string"),
    (#"{"ociVersion": "1.0.2", "mounts": [{"type": "proc"}]}"#, "mounts[0].destination: missing"),
    (#"{"ociVersion": "1.0.2", "process": {"cwd": "/", "user": {"gid": 0}}}"#, "process.user.uid: missing"),
    (
      #"{"ociVersion": "1.0.2", "process": {"cwd": "/", "user": {"uid": -1, "gid": 0}}}"#,
      "config.json: a number does not fit"
    ),
    (#"{"ociVersion": "1.0.2", "mounts": {}}"#, "mounts: expected an array"),
    (#"{"ociVersion": "1.0.2", "linux": {"sysctl": {"a": 1}}}"#, "linux.sysctl.a: expected a string"),
    (#"{"ociVersion": "1.0.2", "linux": {"resources": {"pids": {}}}}"#, "linux.resources.pids.limit: missing"),
    (
      #"{"ociVersion": "1.0.2", "linux": {"seccomp": {"defaultAction": "SCMP_ACT_NOPE"}}}"#,
      "linux.seccomp.defaultAction: "
    ),
  ])
  func aMalformedDocumentNamesItsField(json: String, message: String) {
    do {
      _ = try RuntimeSpec.decode(Array(json.utf8))
      Issue.record("decoded \(json)")
    } catch {
      #expect(error.code == .invalidArgument)
      #expect(error.message.hasPrefix(message), "\(error.message)")
    }
  }

  @Test(arguments: ["runc-spec.json", "runc-spec-rootless.json", "crun-spec.json", "maximal.json"])
  func theRuntimesDocumentsAreValid(name: String) throws {
    #expect(throws: Never.self) { try Self.fixture(name).validate() }
  }

  /// crun's rootless default has a new user namespace and no mappings: crun maps the caller's own
  /// IDs itself. tasker asks for them to be written.
  @Test func crunsRootlessDefaultLacksMappings() throws {
    #expect(throws: TaskerError.self) { try Self.fixture("crun-spec-rootless.json").validate() }
  }

  /// A change to `runc spec`'s document, and the error it makes `validate()` throw.
  struct Breakage: Sendable, CustomTestStringConvertible {
    let message: String
    let change: @Sendable (inout RuntimeSpec) -> Void
    init(_ message: String, _ change: @escaping @Sendable (inout RuntimeSpec) -> Void) {
      self.message = message
      self.change = change
    }
    var testDescription: String { message }
  }

  static let breakages: [Breakage] = [
    Breakage(#"ociVersion: unsupported major version in "2.0.0""#) { $0.ociVersion = "2.0.0" },
    Breakage(#"ociVersion: "latest" is not a SemVer version"#) { $0.ociVersion = "latest" },
    Breakage("root.path: missing") { $0.root = nil },
    Breakage("root.path: must not be empty") { $0.root?.path = "" },
    Breakage("process.args: must not be empty") { $0.process?.args = [] },
    Breakage("process.args: must not be empty") { $0.process?.args = nil },
    Breakage("process.args[0]: must not be empty") { $0.process?.args = [""] },
    Breakage("process.cwd: must be absolute") { $0.process?.cwd = "home" },
    Breakage(#"process.env[2]: "FOO" is not KEY=value"#) { $0.process?.env?.append("FOO") },
    Breakage(#"process.env[2]: "=x" is not KEY=value"#) { $0.process?.env?.append("=x") },
    Breakage(#"process.capabilities.bounding[0]: unknown capability "CAP_FOO""#) {
      $0.process?.capabilities?.bounding?[0] = "CAP_FOO"
    },
    Breakage(#"process.capabilities.ambient[1]: unknown capability "KILL""#) {
      $0.process?.capabilities?.ambient?[1] = "KILL"
    },
    Breakage(#"process.capabilities.inheritable[0]: unknown capability "cap_kill""#) {
      $0.process?.capabilities?.inheritable = ["cap_kill"]
    },
    Breakage(#"process.rlimits[0].type: unknown rlimit "RLIMIT_FOO""#) { $0.process?.rlimits?[0].type = "RLIMIT_FOO" },
    Breakage(#"process.rlimits[1].type: duplicate rlimit "RLIMIT_NOFILE""#) {
      $0.process?.rlimits?.append(.init(type: "RLIMIT_NOFILE", hard: 1, soft: 1))
    },
    Breakage("process.rlimits[0].soft: 2048 exceeds the hard limit 1024") { $0.process?.rlimits?[0].soft = 2048 },
    Breakage("process.oomScoreAdj: 1001 is out of range -1000...1000") { $0.process?.oomScoreAdj = 1001 },
    Breakage(#"process.ioPriority.class: unknown class "IOPRIO_CLASS_NONE""#) {
      $0.process?.ioPriority = .init(class: "IOPRIO_CLASS_NONE")
    },
    Breakage(#"process.scheduler.policy: unknown policy "SCHED_FAST""#) {
      $0.process?.scheduler = .init(policy: "SCHED_FAST")
    },
    Breakage("mounts[3].destination: must be absolute") { $0.mounts?[3].destination = "dev/shm" },
    Breakage("hooks.poststop[0].path: must be absolute") { $0.hooks = .init(poststop: [.init(path: "cleanup.sh")]) },
    Breakage("hooks.createRuntime[1].timeout: must be positive") {
      $0.hooks = .init(createRuntime: [.init(path: "/a"), .init(path: "/b", timeout: 0)])
    },
    Breakage(#"linux.namespaces[2].type: unknown namespace "foo""#) { $0.linux?.namespaces?[2].type = "foo" },
    Breakage(#"linux.namespaces[5].type: duplicate namespace "pid""#) {
      $0.linux?.namespaces?.append(.init(type: "pid"))
    },
    Breakage("linux.namespaces[1].path: must be absolute") { $0.linux?.namespaces?[1].path = "netns" },
    Breakage("linux.uidMappings: required for a new user namespace") {
      $0.linux?.namespaces?.append(.init(type: "user"))
    },
    Breakage("linux.gidMappings: required for a new user namespace") {
      $0 = .runcRootless(args: ["sh"], uid: 1000, gid: 1000)
      $0.linux?.gidMappings = []
    },
    Breakage("linux.uidMappings: needs a user namespace") {
      $0.linux?.uidMappings = [.init(containerID: 0, hostID: 1000, size: 1)]
    },
    Breakage("linux.uidMappings[0].size: must not be 0") {
      $0 = .runcRootless(args: ["sh"], uid: 1000, gid: 1000)
      $0.linux?.uidMappings?[0].size = 0
    },
    Breakage("linux.timeOffsets: needs a new time namespace") { $0.linux?.timeOffsets = ["boottime": .init(secs: 1)] },
    Breakage("linux.timeOffsets.realtime: unknown clock") {
      $0.linux?.namespaces?.append(.init(type: "time"))
      $0.linux?.timeOffsets = ["realtime": .init(secs: 1)]
    },
    Breakage(#"linux.devices[0].type: unknown device type "x""#) {
      $0.linux?.devices = [.init(type: "x", path: "/dev/x", major: 1, minor: 1)]
    },
    Breakage(#"linux.devices[0].minor: required for type "c""#) {
      $0.linux?.devices = [.init(type: "c", path: "/dev/null", major: 1)]
    },
    Breakage("linux.devices[0].path: must be absolute") { $0.linux?.devices = [.init(type: "p", path: "fifo")] },
    Breakage(#"linux.resources.devices[0].access: "rwx" is not a combination of r, w and m"#) {
      $0.linux?.resources?.devices?[0].access = "rwx"
    },
    Breakage("linux.resources.memory.swappiness: 101 is out of range 0...100") {
      $0.linux?.resources?.memory = .init(swappiness: 101)
    },
    Breakage("linux.resources.blockIO.weightDevice[0].weight: 5 is out of range 10...1000") {
      $0.linux?.resources?.blockIO = .init(weightDevice: [.init(major: 8, minor: 0, weight: 5)])
    },
    Breakage(#"linux.rootfsPropagation: unknown propagation "rshare""#) { $0.linux?.rootfsPropagation = "rshare" },
    Breakage("linux.maskedPaths[10]: must be absolute") { $0.linux?.maskedPaths?.append("proc/x") },
    Breakage("linux.readonlyPaths[0]: must be absolute") { $0.linux?.readonlyPaths?[0] = "" },
    Breakage(#"linux.personality.domain: unknown domain "LINUX64""#) {
      $0.linux?.personality = .init(domain: "LINUX64")
    },
  ]

  @Test(arguments: breakages)
  func aBrokenRuleNamesItsField(breakage: Breakage) {
    var spec = RuntimeSpec.runcDefault(args: ["sh"])
    breakage.change(&spec)
    do {
      try spec.validate()
      Issue.record("\(breakage.message): validated")
    } catch {
      #expect(error.code == .invalidArgument)
      #expect(error.message == breakage.message)
    }
  }

  @Test func theStateDocument() throws {
    let state = ContainerState(
      ociVersion: "1.0.2", id: "x", status: .running, pid: 4422, bundle: "/b", annotations: [:])
    #expect(
      try Self.encode(state)
        == #"{"annotations":{},"bundle":"/b","id":"x","ociVersion":"1.0.2","pid":4422,"status":"running"}"#)
    let stopped = ContainerState(ociVersion: "1.0.2", id: "x", status: .stopped, bundle: "/b")
    #expect(try Self.encode(stopped) == #"{"bundle":"/b","id":"x","ociVersion":"1.0.2","status":"stopped"}"#)
    // The spec's own example.
    let example = #"""
      {"ociVersion": "0.2.0", "id": "oci-container1", "status": "running", "pid": 4422,
       "bundle": "/containers/redis", "annotations": {"myKey": "myValue"}}
      """#
    #expect(
      try JSONDecoder().decode(ContainerState.self, from: Data(example.utf8))
        == ContainerState(
          ociVersion: "0.2.0", id: "oci-container1", status: .running, pid: 4422, bundle: "/containers/redis",
          annotations: ["myKey": "myValue"]))
    for status in ["creating", "created", "running", "stopped"] {
      let json = #"{"ociVersion": "1.0.2", "id": "x", "status": "\#(status)", "bundle": "/b"}"#
      #expect(try JSONDecoder().decode(ContainerState.self, from: Data(json.utf8)).status.rawValue == status)
    }
    #expect(throws: DecodingError.self) {
      try JSONDecoder().decode(
        ContainerState.self, from: Data(#"{"ociVersion": "1.0.2", "id": "x", "status": "paused", "bundle": "/b"}"#.utf8)
      )
    }
  }
}
