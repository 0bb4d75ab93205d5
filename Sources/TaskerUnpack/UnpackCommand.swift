import CTaskerConfine
import CTaskerShim
import Glibc
import TaskerArchive
import TaskerImage
import TaskerSystem

/// tasker-unpack: decompresses and extracts the image archive on its stdin into the directory
/// open as descriptor 3, confined to that directory, and writes an `ExtractionReport` on
/// stdout. tasker starts it (`ConfinedExtractor`) with the descriptors
///
///     0  the archive's raw bytes (a socket tasker writes into as it downloads and hashes)
///     1  the report pipe          2  stderr (the same pipe)
///     3  the staging directory, which becomes this process's `/`
///
/// and the options `--skip-unsafe-members`, `--owners` (apply the archive's owners), `--layer`
/// (an OCI layer: whiteouts become overlayfs markers, and the report gives the SHA-256 of the
/// decompressed stream, the layer's diff_id),
/// `--max-bytes N`, `--max-entries N`, `--max-path-length N`. `--probe` (for tests) reports,
/// after confinement and before extraction, what the kernel says of this process and what a
/// few calls it must not be able to make return.
@main
enum UnpackCommand {
  static let rootFD: Int32 = 3

  static func main() {
    var options = ExtractionOptions(preserveOwnership: false, rootIsProcessRoot: true)
    var probe = false
    var arguments = CommandLine.arguments.dropFirst()
    while let argument = arguments.popFirst() {
      func number() -> UInt64 {
        guard let text = arguments.popFirst(), let value = UInt64(text) else {
          fatalUsage("\(argument) needs a number")
        }
        return value
      }
      switch argument {
      case "--skip-unsafe-members": options.skipUnsafeMembers = true
      case "--owners": options.preserveOwnership = true
      case "--layer": options.layer = true
      case "--max-bytes": options.limits.maxBytes = number()
      case "--max-entries": options.limits.maxEntries = Int(clamping: number())
      case "--max-path-length": options.limits.maxPathLength = Int(clamping: number())
      case "--probe": probe = true
      default: fatalUsage("unknown argument \(argument)")
      }
    }
    var info = stat()
    guard fstat(rootFD, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
      fatalUsage("descriptor 3 must be the directory to extract into")
    }

    // Held: what tasker holds. Everything that needs a file of the host happens here, before
    // the first byte is read: libarchive (and the compression libraries it links) is loaded.
    tasker_load_archive()
    if options.layer {
      // libcrypto too, and its SHA-256 set up once (it reads its configuration then).
      tasker_load_crypto()
      _ = sha256Hex([])
    }
    let probeStatus = probe ? Probe.openStatus() : -1
    var failure = tasker_confine_failure()
    if tasker_confine(rootFD, probe ? 5 : 4, options.layer ? 1 : 0, &failure) != 0 {
      let step = failure.step.map { String(cString: $0) } ?? "?"
      finish(ExtractionReport.encode(.confinement(step: step, errno: failure.error)), status: 1)
    }
    // Held: CHOWN, DAC_OVERRIDE, FOWNER, FSETID, SETFCAP; the staging directory as `/`;
    // no_new_privs; the seccomp allowlist.
    if probe { Probe.run(status: probeStatus) }

    let report: [UInt8]
    let status: Int32
    do {
      let decompressing = try DecompressingSource(FileDescriptorSource(fd: 0, path: "stdin"))
      defer { decompressing.finish() }
      var summary: ExtractionSummary
      if options.layer {
        // The diff_id covers the whole decompressed stream, the zero blocks after the
        // archive's end too; what follows the end is read (and hashed) up to the byte limit.
        let hashing = SHA256Source(decompressing)
        summary = try Extractor(rootFD: rootFD, options: options).extract(from: hashing)
        if try hashing.drain(limit: options.limits.maxBytes) >= options.limits.maxBytes {
          throw ArchiveError.limitExceeded("more than \(options.limits.maxBytes) bytes after the archive's end")
        }
        summary.diffID = hashing.hexDigest()
      } else {
        summary = try Extractor(rootFD: rootFD, options: options).extract(from: decompressing)
      }
      report = ExtractionReport.encode(summary)
      status = 0
    } catch let error as ArchiveError {
      report = ExtractionReport.encode(.archive(.init(error)))
      status = 1
    } catch {
      report = ExtractionReport.encode(.archive(.extractionProcess(String(describing: error))))
      status = 1
    }
    finish(report, status: status)
  }

  /// Stops reading (tasker's writes then fail with EPIPE and it stops sending), writes the
  /// report and exits.
  static func finish(_ report: [UInt8], status: Int32) -> Never {
    close(0)
    _ = try? writeAll(fd: 1, report, path: "report")
    exit(status)
  }

  static func fatalUsage(_ message: String) -> Never {
    let text = "tasker-unpack: \(message) (it is started by tasker, not by hand)\n"
    _ = try? writeAll(fd: 2, Array(text.utf8), path: "stderr")
    exit(2)
  }
}

/// `--probe`: evidence, from inside, that the confinement holds.
enum Probe {
  /// /proc/self/status, opened before confinement (as descriptor 4) and read after it: the
  /// kernel writes it when it is read, so it tells the state then.
  static func openStatus() -> Int32 {
    let fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC)
    if fd >= 0 && fd != 4 {
      dup2(fd, 4)
      close(fd)
    }
    return 4
  }

  static func run(status fd: Int32) {
    func report(_ name: String, _ result: String) {
      _ = try? writeAll(fd: 1, ExtractionReport.encodeProbe(name, result), path: "report")
    }
    func outcome(_ rc: Int) -> String { rc >= 0 ? "ok" : SystemError.describe(errno) }
    let status = String(decoding: (try? readAll(fd: fd, limit: 1 << 16)) ?? [], as: UTF8.self)
    close(fd)
    for line in status.split(separator: "\n") {
      for key in ["CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"]
      where line.hasPrefix(key + ":") {
        report(key, line.dropFirst(key.count + 1).trimmingCharacters(in: " \t"))
      }
    }
    var buffer = [CChar](repeating: 0, count: 4096)
    report("cwd", getcwd(&buffer, buffer.count) != nil ? String(cString: buffer) : SystemError.describe(errno))
    report("open /proc/1/root", outcome(Int(open("/proc/1/root", O_RDONLY | O_CLOEXEC))))
    let up = openat(UnpackCommand.rootFD, "../../..", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    var upInfo = stat()
    var rootInfo = stat()
    let same =
      up >= 0 && fstat(up, &upInfo) == 0 && fstat(UnpackCommand.rootFD, &rootInfo) == 0
      && upInfo.st_ino == rootInfo.st_ino && upInfo.st_dev == rootInfo.st_dev
    report("open ..", up < 0 ? SystemError.describe(errno) : same ? "the root" : "outside the root")
    if up >= 0 { close(up) }
    report("socket", outcome(Int(socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0))))
    report("mount", outcome(Int(mount("none", "/", "tmpfs", 0, nil))))
    report("unshare", outcome(Int(tasker_confine_probe_unshare())))
    report("chroot", outcome(Int(chroot("/"))))
    report("kill 1", outcome(Int(kill(1, 0))))
    report("mknod", outcome(Int(mknodat(UnpackCommand.rootFD, "probe-device", S_IFCHR | 0o600, dev_t(1 << 8 | 3)))))
    report("mknod 0/0", outcome(Int(mknodat(UnpackCommand.rootFD, "probe-whiteout", S_IFCHR, 0))))
    report("setxattr trusted", outcome(Int(fsetxattr(UnpackCommand.rootFD, "trusted.probe", "1", 1, 0))))
  }
}

extension Substring {
  func trimmingCharacters(in set: String) -> String {
    String(drop { set.contains($0) }.reversed().drop { set.contains($0) }.reversed())
  }
}
