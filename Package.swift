// swift-tools-version: 6.1
import PackageDescription

let package = Package(
  name: "tasker",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "Tasker", targets: ["Tasker"]),
    .executable(name: "tasker", targets: ["TaskerCLI"]),
    .executable(name: "tasker-supervisor", targets: ["TaskerSupervisor"]),
  ],
  dependencies: [.package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")],
  targets: [
    // System libraries, found through pkg-config (Debian: libarchive-dev, libcurl4-openssl-dev,
    // libssl-dev).
    .systemLibrary(
      name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
    .systemLibrary(
      name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
    .systemLibrary(
      name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
    // Syscalls Glibc does not wrap, libcurl's variadic setters, and the fork/exec that must
    // be written in C (only async-signal-safe calls after fork).
    .target(name: "CTaskerShim", dependencies: ["CCurl"]),
    // The per-task supervisor: a small static C program, so that each running task costs
    // kilobytes, not a Swift runtime.
    .executableTarget(
      name: "TaskerSupervisor",
      linkerSettings: [.unsafeFlags(["-static-executable"])]
    ),
    .target(name: "TaskerSystem", dependencies: ["CTaskerShim"]),
    .target(name: "TaskerArchive", dependencies: ["TaskerSystem", "CArchive"]),
    .target(
      name: "TaskerImage",
      dependencies: ["TaskerSystem", "TaskerArchive", "CTaskerShim", "CCrypto"]),
    .target(
      name: "Tasker",
      dependencies: [
        "TaskerSystem", "TaskerArchive", "TaskerImage", "CTaskerShim",
      ]),
    // Fuzzing: the harness (also replayed by the tests over the kept corpus) and two libFuzzer
    // targets, built with -sanitize=fuzzer by scripts/fuzz.sh.
    .target(name: "TaskerFuzzHarness", dependencies: ["Tasker", "TaskerArchive", "TaskerImage", "TaskerSystem"]),
    .executableTarget(name: "TaskerFuzzArchive", dependencies: ["TaskerFuzzHarness"]),
    .executableTarget(name: "TaskerFuzzInputs", dependencies: ["TaskerFuzzHarness"]),
    .executableTarget(
      name: "TaskerCLI",
      dependencies: [
        "Tasker", "TaskerSystem", "TaskerArchive",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),
    .testTarget(
      name: "TaskerTests",
      dependencies: [
        "Tasker", "TaskerArchive", "TaskerImage", "TaskerSystem", "CArchive", "CTaskerShim", "TaskerFuzzHarness",
      ]),
    .testTarget(
      name: "TaskerIntegrationTests",
      dependencies: ["Tasker", "TaskerSystem", "TaskerCLI", "TaskerSupervisor"]),
  ]
)
