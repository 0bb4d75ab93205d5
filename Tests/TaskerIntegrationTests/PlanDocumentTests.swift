import Foundation
import Glibc
import Tasker
import Testing

/// The plan crosses from Swift to the C supervisor as one versioned document: what the
/// supervisor parsed (`tasker-supervisor --print-plan`) must be, field by field, what the Swift
/// side wrote. Needs no root: nothing is carried out.
struct PlanDocumentTests {
  let id = TaskID("0123456789ab").unsafelyUnwrapped
  let hybrid = CgroupHost(
    unifiedMount: "/sys/fs/cgroup/unified", unifiedControllers: [],
    v1Mounts: ["memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids", "cpu": "/sys/fs/cgroup/cpu"],
    v1SwapAccounting: true)
  let pureV2 = CgroupHost(
    unifiedMount: "/sys/fs/cgroup", unifiedControllers: ["memory", "pids", "cpu", "io"], v1Mounts: [:])

  /// What the supervisor prints back for `document`, and its exit status.
  func parsedBySupervisor(_ document: String) throws -> Outcome {
    let input = FileManager.default.temporaryDirectory.appendingPathComponent("plan-\(UUID().uuidString)")
    try Data(document.utf8).write(to: input)
    defer { try? FileManager.default.removeItem(at: input) }
    let supervisor = binDirectory.appendingPathComponent("tasker-supervisor").path
    return try run("/bin/sh", ["-c", "exec \"$0\" --print-plan < \"$1\"", supervisor, input.path])
  }

  static let odd = "/a dir/with\ttab/new\nline/100%/ünï"

  @Test(arguments: [
    JailOptions(),
    JailOptions(network: .none, capAdd: ["SYS_PTRACE"], capDrop: ["CHOWN"]),
    JailOptions(hostname: "box", limits: ResourceLimits(memoryBytes: 64 << 20, pids: 9, cpus: 0.5)),
    JailOptions(privileged: true),
    JailOptions(isolation: .chroot),
    JailOptions(
      seccomp: .profile(
        SeccompProfile(
          defaultAction: .allow,
          syscalls: [
            .init(
              names: ["mkdir", "clone"], action: .errno, errnoRet: 13,
              args: [.init(index: 0, value: 0x1000_0000, valueTwo: 0x1000_0000, op: .maskedEqual)]),
            .init(names: ["kill"], action: .killProcess),
          ]))),
  ])
  func theSupervisorReadsWhatSwiftWrote(options: JailOptions) throws {
    for host in [hybrid, pureV2] {
      let plan = try JailPlan.make(id: id, options: options, host: host)
      let document = plan.document(workdir: Self.odd, reportRootfs: Self.odd + "/0123456789ab")
      let parsed = try parsedBySupervisor(document)
      #expect(parsed.status == 0, "\(parsed.stderr)")
      #expect(parsed.stdout == document)
    }
  }

  /// Every record an OCI container's plan adds, set at once, crosses intact.
  @Test func everyContainerRecordCrossesWhole() throws {
    var plan = try JailPlan.make(id: id, options: JailOptions(network: .none), host: hybrid)
    plan.mode = .oci
    plan.namespaces.append(.user)
    plan.joins = [.init(namespace: .net, path: "/var/run/netns/a b"), .init(namespace: .ipc, path: "/proc/9/ns/ipc")]
    plan.uidMappings = [.init(inside: 0, outside: 100_000, count: 65536), .init(inside: 70000, outside: 1, count: 1)]
    plan.gidMappings = [.init(inside: 0, outside: 200_000, count: 65536)]
    plan.steps += [
      .bind(hostPath: Self.odd, target: "mnt/x", flags: 1 | 2 | 4 | 8 | 0x4000),
      .device(path: "dev/fuse", type: "c", major: 10, minor: 229, mode: 0o666, uid: 0, gid: 5),
      .device(path: "dev/pipe", type: "p", major: 0, minor: 0, mode: 0o600, uid: 1, gid: 1),
      .write(path: "proc/sys/net/ipv4/ip_forward", value: "1"),
      .propagation(path: "mnt/x", flags: 0x0010_0000 | 0x4000),
    ]
    plan.readOnlyRoot = true
    plan.rootPropagation = 0x0004_0000 | 0x4000
    plan.noPivot = true
    plan.domainname = "example.org"
    plan.user = .init(uid: 1000, gid: 100, additionalGids: [5, 27, 4_294_967_294])
    plan.umask = 0o027
    let caps = Capabilities(mask: 0x3f)
    plan.capabilitySets = .init(
      bounding: .all, effective: caps, inheritable: Capabilities(mask: 0), permitted: caps, ambient: caps)
    plan.rlimits = [.init(resource: 7, soft: 1024, hard: 4096), .init(resource: 4, soft: .max, hard: .max)]
    plan.oomScoreAdj = -999
    plan.personality = 8
    plan.terminal = .init(rows: 24, columns: 80)
    plan.preservedDescriptors = 2
    plan.hookState = .init(
      prefix: "{\"ociVersion\":\"1.0.2\",\"id\":\"c\t1\",", suffix: ",\"bundle\":\"/b%\",\"annotations\":{}}")
    plan.hooks = [
      .init(phase: .prestart, path: "/bin/true", args: ["true", "a\nb"], env: ["A=1"], timeout: 5),
      .init(phase: .createContainer, path: "/x", args: [], env: [], timeout: 0),
      .init(phase: .poststop, path: "/bin/sh", args: ["sh", "-c", ""], env: ["B="], timeout: 86400),
    ]
    let document = plan.document(workdir: "/")
    let parsed = try parsedBySupervisor(document)
    #expect(parsed.status == 0, "\(parsed.stderr)")
    #expect(parsed.stdout == document)
    for record in [
      "mode\toci", "join\t", "uid-map\t", "gid-map\t", "mknod\t", "write\t", "propagation\t",
      "readonly-root", "root-propagation\t", "no-pivot", "domainname\t", "user\t", "umask\t27",
      "capability-sets\t", "rlimit\t", "oom-score-adj\t-999", "personality\t8", "terminal\t24\t80",
      "preserve-fds\t2", "hook-state\t", "hook\tprestart", "hook\tpoststop",
    ] {
      #expect(document.contains("\n" + record), "\(record)")
    }
  }

  /// A task's mounts: attached trees (every kind), tmpfs steps, a read-only root.
  @Test func theMountRecordsCrossWhole() throws {
    var plan = try JailPlan.make(id: id, options: JailOptions(network: .none), host: pureV2)
    plan.steps += JailPlan.userMountSteps(
      mounts: [
        TaskMount(source: .host(Self.odd), target: "/data/a b", readOnly: true),
        TaskMount(source: .volume("v"), target: "/v"),
        TaskMount(source: .tmpfs(options: "size=1024,mode=1777"), target: "/scratch", noExec: true),
      ],
      trees: [(JailPlan.attachDescriptorBase, .directory), (JailPlan.attachDescriptorBase + 63, .file), nil],
      readOnlyRoot: true)
    plan.steps.append(.attach(descriptor: 20, target: "etc/resolv.conf", kind: .replaceFile))
    plan.readOnlyRoot = true
    plan.user = .init(uid: 65534, gid: 65534, additionalGids: [100])
    let document = plan.document(workdir: "/")
    let parsed = try parsedBySupervisor(document)
    #expect(parsed.status == 0, "\(parsed.stderr)")
    #expect(parsed.stdout == document)
    for record in ["attach\t16\tdata/a b\tdir", "attach\t79\tv\tfile", "attach\t20\tetc/resolv.conf\treplace-file"] {
      #expect(document.contains("\n" + record + "\n"), "\(record)")
    }
  }

  /// A task's stream records (`run -i/-t`, the log relay) cross intact, in both isolations.
  @Test(arguments: [Isolation.jail, .chroot])
  func theStreamRecordsCrossWhole(isolation: Isolation) throws {
    var plan = try JailPlan.make(
      id: id, options: JailOptions(isolation: isolation, network: isolation == .jail ? .none : .host), host: hybrid)
    if isolation == .jail { plan.terminal = .init(rows: 50, columns: 132) }
    plan.logRelay = true
    plan.stdinPipe = true
    let document = plan.document(workdir: "/")
    let parsed = try parsedBySupervisor(document)
    #expect(parsed.status == 0, "\(parsed.stderr)")
    #expect(parsed.stdout == document)
    for record in ["log-relay\n", "stdin-pipe\n"] + (isolation == .jail ? ["terminal\t50\t132\n"] : []) {
      #expect(document.contains("\n" + record), "\(record)")
    }
  }

  @Test func theStandardProfileCrossesWhole() throws {
    let plan = try JailPlan.make(id: id, options: JailOptions(), host: pureV2)
    let rules = try #require(plan.seccomp).rules
    #expect(rules.count > 300, "the allowlist and its conditions")
    let document = plan.document(workdir: "/")
    #expect(document.split(separator: "\n").filter { $0.hasPrefix("seccomp-rule\t") }.count == rules.count)
    #expect(try parsedBySupervisor(document).stdout == document)
  }

  /// The kept corpus of the plan fuzz target (Tests/Fixtures/fuzz/plan, seeds and findings):
  /// each document is refused, or what the supervisor prints of it reads back the same.
  static let keptPlans: [String] = {
    let directory = repositoryRoot.appendingPathComponent("Tests/Fixtures/fuzz/plan")
    return ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
      .map { directory.appendingPathComponent($0).path }
  }()

  @Test func thePlanCorpusIsThere() { #expect(Self.keptPlans.count >= 2) }

  @Test(arguments: keptPlans)
  func aKeptPlanReadsBackTheSame(path: String) throws {
    let document = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
    let parsed = try parsedBySupervisor(document)
    guard parsed.status == 0 else {
      #expect(parsed.status == 2 && parsed.stderr.hasPrefix("tasker-supervisor: invalid plan"), "\(parsed.stderr)")
      return
    }
    #expect(try parsedBySupervisor(parsed.stdout).stdout == parsed.stdout)
  }

  @Test(arguments: [
    "tasker-plan\t3\nisolation\tjail\nworkdir\t/\nend\n",  // another version
    "tasker-plan\t2\nisolation\tjail\nworkdir\t/\n",  // no end: cut short
    "tasker-plan\t2\nisolation\tjail\nworkdir\t/\nend",  // last line unterminated
    "tasker-plan\t2\nisolation\tjail\nend\n",  // no workdir
    "tasker-plan\t2\nisolation\tjail\nworkdir\t/\nfrobnicate\nend\n",  // unknown record
    "tasker-plan\t2\nisolation\tjail\nworkdir\t/\nlog-relay\tyes\nend\n",  // a flag record with a field
    "tasker-plan\t2\nisolation\tjail\nworkdir\t/\nstdin-pipe\t1\nend\n",
    "tasker-plan\t2\nisolation\tjail\nworkdir\t/\nmkdir\tx\n999999\nend\n",  // bad mode
    "tasker-plan\t2\nisolation\tjail\nworkdir\t/%zz\nend\n",  // bad escape
    "tasker-plan\t2\nisolation\tjail\nworkdir\t/%00\nend\n",  // NUL
    "tasker-plan\t2\nisolation\tjail\nworkdir\t/\nseccomp-rule\tread\tALLOW\t0\t7\tEQ\t1\t0\nend\n",  // arg 7
    "tasker-plan\t2\nisolation\tjail\nworkdir\t/\nseccomp\tMAYBE\t1\nend\n",  // unknown action
    "tasker-plan\t2\nisolation\tjail\nworkdir\t/\nend\nend\n",  // after end
    "tasker-plan\t2\nisolation\tjail\nworkdir\t/\nattach\t15\tx\tdir\nend\n",  // below the trees' fds
    "tasker-plan\t2\nisolation\tjail\nworkdir\t/\nattach\t80\tx\tdir\nend\n",  // above them
    "tasker-plan\t2\nisolation\tjail\nworkdir\t/\nattach\t16\tx\tlink\nend\n",  // unknown kind
    "tasker-plan\t2\nisolation\tjail\nworkdir\t/\nattach\t16\t\tdir\nend\n",  // no target
  ])
  func aMalformedPlanIsRefused(document: String) throws {
    let parsed = try parsedBySupervisor(document)
    #expect(parsed.status == 2, "\(parsed.stdout)")
    #expect(parsed.stderr.hasPrefix("tasker-supervisor: invalid plan (line "), "\(parsed.stderr)")
    #expect(parsed.stdout.isEmpty)
  }
}

extension PlanDocumentTests {
  /// A restart policy crosses too, and the supervisor refuses one it does not know.
  @Test(arguments: [RestartPolicy.always, .onFailure(nil), .onFailure(3)])
  func theRestartPolicyCrosses(policy: RestartPolicy) throws {
    var plan = try JailPlan.make(id: id, options: JailOptions(network: .none), host: hybrid)
    plan.restart = policy
    let document = plan.document(workdir: "/")
    #expect(document.contains("restart\t"))
    let parsed = try parsedBySupervisor(document)
    #expect(parsed.status == 0, "\(parsed.stderr)")
    #expect(parsed.stdout == document)
    let bad = try parsedBySupervisor(document.replacingOccurrences(of: "restart\t", with: "restart\tsometimes"))
    #expect(bad.status != 0)
  }

  @Test func restartPoliciesParse() {
    #expect(RestartPolicy(parsing: "no") == RestartPolicy.no)
    #expect(RestartPolicy(parsing: "always") == .always)
    #expect(RestartPolicy(parsing: "on-failure") == .onFailure(nil))
    #expect(RestartPolicy(parsing: "on-failure:4") == .onFailure(4))
    for bad in ["", "sometimes", "on-failure:0", "on-failure:-1", "on-failure:x", "always:3"] {
      #expect(RestartPolicy(parsing: bad) == nil, "\(bad)")
    }
    #expect(RestartPolicy.onFailure(4).description == "on-failure:4")
  }
}
