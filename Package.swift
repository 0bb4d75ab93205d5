// swift-tools-version: 6.1
import PackageDescription

let package = Package(
  name: "tasker",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "Tasker", targets: ["Tasker"]),
    .executable(name: "tasker", targets: ["TaskerCLI"]),
    .executable(name: "tasker-supervisor", targets: ["TaskerSupervisor"]),
    .executable(name: "tasker-unpack", targets: ["TaskerUnpack"]),
    .executable(name: "tasker-runtime", targets: ["TaskerRuntime"]),
  ],
  dependencies: [.package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")],
  targets: [
    // System libraries' headers (Debian: libarchive-dev, libcurl4-openssl-dev, libssl-dev). They
    // are not linked: CTaskerShim/lazy.c loads them on first use, so that commands which need
    // none of them (health_check, list, a run from a cached image) start fast.
    .systemLibrary(name: "CArchive", providers: [.apt(["libarchive-dev"])]),
    .systemLibrary(name: "CCurl", providers: [.apt(["libcurl4-openssl-dev"])]),
    .systemLibrary(name: "CCrypto", providers: [.apt(["libssl-dev"])]),
    // libseccomp (Debian: libseccomp-dev), linked into tasker-unpack only.
    .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
    // Syscalls Glibc does not wrap, libcurl's variadic setters, and the fork/exec that must
    // be written in C (only async-signal-safe calls after fork).
    .target(name: "CTaskerShim", dependencies: ["CCurl", "CArchive", "CCrypto"]),
    // The per-task supervisor: a small static C program, so that each running task costs
    // kilobytes, not a Swift runtime.
    .executableTarget(
      name: "TaskerSupervisor",
      // libseccomp (Debian: libseccomp-dev) compiles the syscall filters; linked in statically.
      linkerSettings: [.linkedLibrary("seccomp"), .unsafeFlags(["-static-executable"])]
    ),
    .target(name: "TaskerSystem", dependencies: ["CTaskerShim"]),
    // The privileged steps of tasker-unpack's confinement (namespaces, pivot_root, capabilities,
    // seccomp), in C: one small file to audit.
    .target(name: "CTaskerConfine", dependencies: ["CSeccomp"]),
    // tasker-unpack: decompresses and extracts an image archive read from its stdin, confined
    // to the staging directory, and reports back to tasker (TaskerImage/ConfinedExtractor).
    .executableTarget(
      name: "TaskerUnpack",
      dependencies: ["TaskerArchive", "TaskerImage", "TaskerSystem", "CTaskerShim", "CTaskerConfine"]),
    .target(name: "TaskerArchive", dependencies: ["TaskerSystem", "CArchive"]),
    .target(
      name: "TaskerImage",
      dependencies: ["TaskerSystem", "TaskerArchive", "CTaskerShim", "CCrypto"]),
    .target(
      name: "Tasker",
      dependencies: [
        "TaskerSystem", "TaskerArchive", "TaskerImage", "CTaskerShim",
      ],
      // The default seccomp profile, an OCI document compiled into the library.
      resources: [.embedInCode("Resources/seccomp.json")]),
    // Fuzzing: the harness (also replayed by the tests over the kept corpus) and two libFuzzer
    // targets, built with -sanitize=fuzzer by scripts/fuzz.sh.
    .target(name: "TaskerFuzzHarness", dependencies: ["Tasker", "TaskerArchive", "TaskerImage", "TaskerSystem"]),
    .executableTarget(name: "TaskerFuzzArchive", dependencies: ["TaskerFuzzHarness"]),
    .executableTarget(name: "TaskerFuzzInputs", dependencies: ["TaskerFuzzHarness"]),
    .executableTarget(
      name: "TaskerCLI",
      dependencies: [
        "Tasker", "TaskerSystem", "TaskerArchive", "TaskerImage",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    // tasker-runtime: an OCI runtime with runc's command line, on the library's ContainerRuntime.
    .executableTarget(
      name: "TaskerRuntime",
      dependencies: [
        "Tasker", "TaskerSystem", "CTaskerShim", .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    .testTarget(
      name: "TaskerTests",
      dependencies: [
        "Tasker", "TaskerArchive", "TaskerImage", "TaskerSystem", "CArchive", "CTaskerShim", "TaskerFuzzHarness",
      ],
      // The tests write archives with more of libarchive than tasker itself forwards (lazy.c).
      linkerSettings: [.linkedLibrary("archive")]),
    .testTarget(
      name: "TaskerIntegrationTests",
      dependencies: [
        "Tasker", "TaskerSystem", "TaskerArchive", "TaskerImage", "TaskerCLI", "TaskerSupervisor", "TaskerUnpack",
        "TaskerRuntime", "CTaskerShim",
      ]),
  ]
)
