import Glibc
import Tasker
import TaskerArchive
import TaskerImage
import TaskerSystem

/// What the fuzz targets run on each input, and what the regression tests replay the kept
/// corpus through. A broken invariant stops the process (`preconditionFailure`), which is how
/// libFuzzer learns of it.
public enum FuzzHarness {
  /// Extracts `bytes` as an image into `<tmp>/root`, beside a sentinel tree, then checks that
  /// nothing outside `root` changed. Errors are fine; escapes and crashes are not.
  public static func extractArchive(_ bytes: [UInt8]) {
    var template = Array("/tmp/tasker-fuzz-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { preconditionFailure("mkdtemp failed") }
    let base = String(cString: made)
    defer { try? removeTree(base) }
    mkdir(base + "/root", 0o755)
    mkdir(base + "/sentinel", 0o755)
    try? writeFileAtomically(base + "/sentinel/file", Array("sentinel\n".utf8))
    let rootFD = open(base + "/root", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    precondition(rootFD >= 0, "cannot open the fuzz root")
    defer { close(rootFD) }
    let limits = ExtractionLimits(maxBytes: 16 << 20, maxEntries: 10_000, maxPathLength: 4095)
    let options = ExtractionOptions(limits: limits, skipUnsafeMembers: bytes.first.map { $0 & 1 == 1 } ?? false)
    _ = try? Extractor(rootFD: rootFD, options: options).extract(from: BytesSource(bytes))

    let outside = Set(directoryNames(base))
    precondition(outside == ["root", "sentinel"], "extraction wrote beside the root: \(outside)")
    precondition(directoryNames(base + "/sentinel") == ["file"], "extraction wrote into the sentinel")
    precondition((try? readSmallFile(base + "/sentinel/file")) == "sentinel\n", "the sentinel changed")
    readImageArchive(bytes, in: base)
  }

  /// Reads `bytes` as an oci-archive and as a docker-archive (a file in `base`): whatever
  /// resolves must hand out a config with its digest, and every blob is read to its end.
  static func readImageArchive(_ bytes: [UInt8], in base: String) {
    let path = base + "/image.tar"
    guard (try? writeFileAtomically(path, bytes)) != nil else { preconditionFailure("cannot write \(path)") }
    defer { unlink(path) }
    let candidates: [(any ImageSource)?] = [
      try? OCIArchiveSource(path: path, tag: nil), try? DockerArchiveSource(path: path, name: nil),
    ]
    let sources = candidates.compactMap { $0 }
    for source in sources {
      guard let image = try? source.resolve(platform: .host) else { continue }
      precondition(image.configDigest.hex == sha256Hex(image.configBytes), "config digest of \(image.reference)")
      for descriptor in image.manifest.layers + [image.manifest.config] {
        guard let blob = try? source.openBlob(descriptor) else { continue }
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while let n = try? buffer.withUnsafeMutableBytes({ try blob.read(into: $0) }), n > 0 {}
      }
    }
  }

  /// Feeds `bytes` to every parser of user input and checks their promises.
  public static func parseInputs(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    _ = try? ImageLocation(text)
    // An image reference printed reads back as itself; so does a platform.
    if let reference = try? ImageReference(parsing: text) {
      precondition((try? ImageReference(parsing: reference.description)) == reference, "reference: \(reference)")
    }
    if let platform = try? Platform(parsing: text) {
      precondition((try? Platform(parsing: platform.description)) == platform, "platform: \(platform)")
    }
    _ = TaskID(text)
    _ = TaskStore.isValidName(text)
    _ = Capabilities.number(of: text)
    if let signal = Signals.parse(text) {
      precondition((1...Signals.maximum).contains(signal), "signal out of range: \(signal)")
    }
    if let size = ResourceLimits.parseSize(text) {
      precondition(size > 0, "a size of zero")
    }
    if let words = try? ShellWords.split(text) {
      // Quoting the words (as `tasker list` shows them) and splitting again gives the same
      // words; so does quoting each word alone.
      let quoted = ShellWords.join(words)
      precondition((try? ShellWords.split(quoted)) == words, "split/quote round trip failed for \(words)")
      for word in words {
        precondition((try? ShellWords.split(ShellWords.quote(word))) == [word], "quote failed for \(word)")
      }
    }
    // Any text, quoted, is one word: itself.
    precondition((try? ShellWords.split(ShellWords.quote(text))) == [text], "quote failed for \(text)")
    // A mount that parses has a target inside the root that is none of tasker's own, and
    // lowers to steps below the root.
    let mounts = [try? TaskMount.parseVolume(text), try? TaskMount.parseMount(text), try? TaskMount.parseTmpfs(text)]
    for mount in mounts.compactMap({ $0 }) {
      let target = mount.target
      let components = target.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
      precondition(target.hasPrefix("/") && target != "/", "mount target: \(target)")
      precondition(!components.contains("..") && !components.contains("") && !components.contains("."), target)
      precondition(target != "/proc" && !target.hasPrefix("/proc/") && target != "/dev", "reserved target \(target)")
      for step in JailPlan.userMountSteps(mounts: [mount], trees: [(16, .directory)], readOnlyRoot: true) {
        switch step {
        case .mkdir(let path, _), .mount(_, let path, _, _, _), .attach(_, let path, _):
          precondition(!path.hasPrefix("/") && !path.split(separator: "/").contains(".."), "step \(step)")
        default: preconditionFailure("unexpected step \(step)")
        }
      }
    }
    // passwd and group parse to entries whose names are printable words; a user that resolves
    // has at most the supervisor's number of groups, and is the entry of that name — but a
    // number is always a uid, as runc and podman read `--user 1000` (an entry named "74407" is
    // not user 74407's).
    if let passwd = try? ImageUser.parsePasswd(bytes), let groups = try? ImageUser.parseGroup(bytes) {
      for entry in passwd { precondition(!entry.name.isEmpty && !entry.name.contains(":"), "\(entry)") }
      if let first = passwd.first,
        let user = try? ImageUser.resolve(first.name, groupAdd: [], passwd: passwd, groups: groups)
      {
        let uid = ImageUser.number(first.name) ?? first.uid
        precondition(user.uid == uid && user.additionalGids.count <= ImageUser.maxGroups, "\(user)")
      }
    }
    // A published port prints as it parses: parse → print → parse is the identity.
    if let port = try? PublishedPort(parsing: text) {
      precondition(port.hostPort >= 1 && port.taskPort >= 1, "a port of zero: \(port)")
      precondition((try? PublishedPort(parsing: port.description)) == port, "publish round trip failed: \(port)")
    }
    // A seccomp profile that decodes either settles into a filter whose every rule names a
    // plausible system call with an errno the kernel can return, or is refused as a TaskerError
    // (never a crash); and what settles once settles the same again.
    if let profile = try? SeccompProfile.decode(bytes) {
      if let filter = try? profile.filter(capabilities: .default) {
        precondition((0...4095).contains(filter.defaultErrno), "default errno out of range")
        for rule in filter.rules {
          precondition(!rule.name.isEmpty && rule.name.utf8.count <= 64, "rule name: \(rule.name)")
          precondition((0...4095).contains(rule.errno) && rule.arguments.count <= 6, "rule: \(rule)")
          precondition(rule.arguments.allSatisfy { (0..<6).contains($0.index) }, "argument index: \(rule)")
        }
        precondition((try? profile.filter(capabilities: .default)) == filter, "filter not deterministic")
      }
    }
    // An OCI config that decodes either lowers to a plan that stays where it should — every
    // filesystem step a path below the root, every cgroup and cgroup file below the container's
    // own directories — or is refused as a TaskerError; and it lowers the same way twice.
    if let spec = try? RuntimeSpec.decode(bytes) {
      let host = CgroupHost(
        unifiedMount: "/fuzz/cgroup/unified", unifiedControllers: [],
        v1Mounts: [
          "memory": "/fuzz/cgroup/memory", "pids": "/fuzz/cgroup/pids", "hugetlb": "/fuzz/cgroup/hugetlb",
          "devices": "/fuzz/cgroup/devices", "cpu": "/fuzz/cgroup/cpu", "freezer": "/fuzz/cgroup/freezer",
        ])
      let options = ContainerPlan.Options(consoleSocket: true, creating: true)
      if let container = try? ContainerPlan.make(
        spec: spec, id: "fuzz", bundle: "/fuzz/bundle", host: host, options: options)
      {
        func below(_ path: String) -> Bool {
          !path.hasPrefix("/") && !path.split(separator: "/").contains("..")
        }
        for step in container.jail.steps {
          switch step {
          case .mkdir(let path, _), .readOnly(let path), .mask(let path), .write(let path, _),
            .propagation(let path, _):
            precondition(below(path), "a step outside the root: \(step)")
          case .mount(_, let target, _, _, _), .bind(_, let target, _), .symlink(_, let target),
            .attach(_, let target, _):
            precondition(below(target), "a step outside the root: \(step)")
          case .device(let path, _, _, _, _, _, _):
            precondition(below(path), "a device outside the root: \(step)")
          }
        }
        for directory in container.cgroups {
          precondition(directory.hasPrefix("/fuzz/cgroup/") && !directory.contains(".."), "cgroup \(directory)")
        }
        for write in container.jail.cgroupWrites {
          precondition(!write.file.contains("/../") && !write.file.hasSuffix("/.."), "cgroup file \(write.file)")
          precondition(write.file.hasPrefix("/fuzz/cgroup/"), "cgroup file \(write.file)")
        }
        let again = try? ContainerPlan.make(
          spec: spec, id: "fuzz", bundle: "/fuzz/bundle", host: host, options: options)
        precondition(again == container, "lowering not deterministic")
      }
    }
    checkVerifiedBlob(bytes)
    // A registry's WWW-Authenticate challenges: each has a lowercased token for a scheme and
    // lowercased parameter names, and each, written back as a header (every value quoted), reads
    // back as itself.
    for challenge in AuthChallenge.parse(text) {
      precondition(!challenge.scheme.isEmpty && challenge.scheme == challenge.scheme.lowercased(), "\(challenge)")
      precondition(challenge.parameters.keys.allSatisfy { $0 == $0.lowercased() && !$0.isEmpty }, "\(challenge)")
      let header = Self.header(of: challenge)
      precondition(AuthChallenge.parse(header) == [challenge], "challenge round trip failed: \(challenge)")
    }
    if let path = try? MemberPath(bytes) {
      for component in path.components {
        precondition(!component.isEmpty && component != [46] && component != [46, 46], "bad component")
        precondition(!component.contains(47), "a component with a slash")
      }
    }
  }

  /// A blob or document is handed out only as its descriptor names it: exactly its bytes, of its
  /// size and SHA-256. One byte changed, one byte more or fewer, or another size (the input's
  /// first eight bytes as a hostile one: negative, huge) fails the read, and the whole-bytes
  /// check of manifests and configs agrees.
  static func checkVerifiedBlob(_ bytes: [UInt8]) {
    guard let digest = try? Digest(hex: sha256Hex(bytes)) else { preconditionFailure("sha256Hex is not a digest") }
    let size = Int64(bytes.count)
    func drained(_ source: [UInt8], size: Int64) -> [UInt8]? {
      let verifying = VerifyingSource(BytesSource(source), expected: digest, size: size, what: "fuzz")
      var out: [UInt8] = []
      var buffer = [UInt8](repeating: 0, count: 4096)
      while true {
        guard let n = try? buffer.withUnsafeMutableBytes({ try verifying.read(into: $0) }) else { return nil }
        if n == 0 { return out }
        out += buffer[0..<n]
      }
    }
    func checked(_ source: [UInt8], size: Int64?) -> Bool {
      (try? VerifyingSource.check(source, expected: digest, size: size, what: "fuzz")) != nil
    }
    precondition(drained(bytes, size: size) == bytes && checked(bytes, size: size), "the blob itself is refused")
    precondition(drained(bytes + [0], size: size) == nil && !checked(bytes + [0], size: nil), "a longer blob passed")
    if !bytes.isEmpty {
      var changed = bytes
      changed[changed.count / 2] ^= 1
      precondition(drained(changed, size: size) == nil && !checked(changed, size: size), "a changed blob passed")
      precondition(drained(Array(bytes.dropLast()), size: size) == nil, "a shorter blob passed")
    }
    if bytes.count >= 8 {
      let claimed = bytes.prefix(8).reduce(Int64(0)) { $0 << 8 | Int64($1) }
      if claimed != size {
        precondition(drained(bytes, size: claimed) == nil && !checked(bytes, size: claimed), "size \(claimed) passed")
      }
    }
  }

  /// A challenge as a header value, every parameter quoted, `"` and `\` escaped byte by byte (a
  /// quote followed by a combining mark is one Character, which a String replacement misses).
  static func header(of challenge: AuthChallenge) -> String {
    var bytes = Array(challenge.scheme.utf8)
    for (index, name) in challenge.parameters.keys.sorted().enumerated() {
      bytes += Array((index == 0 ? " " : ", ").utf8) + Array(name.utf8) + Array("=\"".utf8)
      for byte in (challenge.parameters[name] ?? "").utf8 {
        if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { bytes.append(UInt8(ascii: "\\")) }
        bytes.append(byte)
      }
      bytes.append(UInt8(ascii: "\""))
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  private static func directoryNames(_ path: String) -> [String] {
    directoryEntries(path).sorted()
  }
}

/// A `ByteSource` over bytes in memory.
public final class BytesSource: ByteSource {
  private let bytes: [UInt8]
  private var offset = 0

  public init(_ bytes: [UInt8]) { self.bytes = bytes }

  public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    let count = min(buffer.count, bytes.count - offset)
    if count > 0 {
      bytes.withUnsafeBytes { source in
        buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<offset + count]))
      }
      offset += count
    }
    return count
  }
}

/// The files of a kept corpus.
public enum FuzzCorpus {
  public static func read(_ path: String) throws -> [UInt8] {
    try readFileBytes(path, limit: 64 << 20)
  }
}

#if FUZZING
  @_silgen_name("LLVMFuzzerRunDriver")
  private func runDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
  ) -> Int32

  /// Starts libFuzzer's driver (libclang_rt.fuzzer) with the process's arguments.
  public enum FuzzDriver {
    public static func run(
      _ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
      _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
    ) -> Int32 {
      var count = argc
      var vector = argv
      return runDriver(&count, &vector, callback)
    }
  }
#endif
