import Foundation
import Glibc
import Testing

/// The private network (the default): outbound connectivity through pasta, nothing of the
/// host's reachable, published ports. tasker runs inside a network namespace of the test's own
/// ("host sim"), so every packet stays in namespaces the test made.
@Suite(.enabled(if: isRoot, rootReason), .serialized)
struct NetworkTests {
  let probe = "/netprobe"

  func tasker(_ network: TestNetwork, _ box: Sandbox, _ arguments: [String]) throws -> Outcome {
    try network.run(
      in: network.hostSim, [taskerPath] + arguments, environment: ["TASKER_ROOT": box.state.path])
  }

  func image() throws -> (Images, String) {
    let images = try Images.shared()
    return (images, images.path("busybox-escape.tar"))
  }

  @Test func theDefaultNetworkReachesOutButNothingOfTheHost() throws {
    let (images, image) = try image()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let network = try TestNetwork()
    defer { network.remove() }
    let host = images.path("netprobe")
    try network.start(in: network.server, [host, "tcp-serve", "0.0.0.0", "8000", "outside-tcp"])
    try network.start(in: network.server, [host, "udp-serve", "0.0.0.0", "8001", "outside-udp"])
    try network.start(in: network.hostSim, [host, "tcp-serve", "127.0.0.1", "8002", "host-loopback"])
    try network.start(in: network.hostSim, [host, "unix-serve", "tasker-test-abstract"])
    let server = TestNetwork.serverAddress
    let script = """
      \(probe) tcp-get \(server) 8000; echo " $?"
      \(probe) udp-get \(server) 8001; echo " $?"
      \(probe) tcp-get 127.0.0.1 8002; echo " $?"
      \(probe) unix-get tasker-test-abstract; echo " $?"
      """
    let result = try tasker(
      network, box, ["run", "--rm", "--download-path", box.downloads.path, image, "--", "/bin/sh", "-c", script])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(
      result.stdout.split(separator: "\n") == ["outside-tcp 0", "outside-udp 0", " 1", " 1"],
      "\(result.stdout) \(result.stderr)")
    // The same probes on the host's network reach the host's loopback and abstract socket:
    // what the default keeps out.
    let shared = try tasker(
      network, box,
      [
        "run", "--rm", "--network", "host", "--download-path", box.downloads.path, image, "--", "/bin/sh", "-c",
        "\(probe) tcp-get 127.0.0.1 8002; \(probe) unix-get tasker-test-abstract",
      ])
    #expect(shared.stdout == "host-loopbackconnected\n", "\(shared.stdout) \(shared.stderr)")
    #expect(pastaProcesses(naming: box.state.path).isEmpty, "no pasta outlives a task")
  }

  /// A host address pasta does not copy into the task (another interface's) would reach pasta,
  /// which connects to it from the host: the task's namespace has a rule refusing every host
  /// address, so a service bound to all of the host's addresses does not answer.
  @Test func noOtherAddressOfTheHostIsReachable() throws {
    let (images, image) = try image()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let network = try TestNetwork()
    defer { network.remove() }
    for command in [
      // (a veth pair with both ends in the host sim: this kernel has no dummy interfaces)
      ["link", "add", "tasker-o1", "type", "veth", "peer", "name", "tasker-o2"],
      ["addr", "add", "10.78.0.1/32", "dev", "tasker-o1"], ["link", "set", "tasker-o1", "up"],
    ] {
      #expect(try network.run(in: network.hostSim, ["/usr/sbin/ip"] + command).status == 0)
    }
    try network.start(in: network.hostSim, [images.path("netprobe"), "tcp-serve", "0.0.0.0", "8003", "host-other"])
    let result = try tasker(
      network, box,
      [
        "run", "--rm", "--download-path", box.downloads.path, image, "--", "/bin/sh", "-c",
        "\(probe) tcp-get 10.78.0.1 8003; echo \" $?\"",
      ])
    #expect(result.status == 0, "\(result.stderr)")
    #expect(result.stdout == " 1\n", "\(result.stdout) \(result.stderr)")
    // The host's own network does reach it: the test can tell.
    let shared = try tasker(
      network, box,
      [
        "run", "--rm", "--network", "host", "--download-path", box.downloads.path, image, "--", "/bin/sh", "-c",
        "\(probe) tcp-get 10.78.0.1 8003",
      ])
    #expect(shared.stdout == "host-other", "\(shared.stdout) \(shared.stderr)")
  }

  @Test func publishedPortsAnswerOnTheHost() throws {
    let (images, image) = try image()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let network = try TestNetwork()
    defer { network.remove() }
    let host = images.path("netprobe")
    let created = try tasker(
      network, box,
      [
        "create", "--download-path", box.downloads.path, "-p", "9080:80", "--publish", "9081:81/udp", image, "--",
        "/bin/sh", "-c", "\(probe) tcp-serve 0.0.0.0 80 task-tcp & \(probe) udp-serve 0.0.0.0 81 task-udp & wait",
      ])
    #expect(created.status == 0, "\(created.stderr)")
    let id = created.stdout.trimmingCharacters(in: .newlines)
    defer { _ = try? box.tasker(["rm", "--force", id]) }
    #expect(pastaProcesses(naming: box.state.path).count == 1)
    // The servers may still be starting: ask until they answer.
    // TCP on the host sim's loopback, UDP on its address from the server's side (with Debian
    // 12's pasta, TCP to the host's other addresses and UDP on its loopback go unanswered).
    #expect(
      try eventually {
        try network.run(in: network.hostSim, [host, "tcp-get", "127.0.0.1", "9080"]).stdout == "task-tcp"
      })
    #expect(
      try eventually {
        try network.run(in: network.server, [host, "udp-get", TestNetwork.hostSimAddress, "9081"]).stdout
          == "task-udp"
      })
    // An unpublished port is not reachable.
    let closed = try network.run(in: network.hostSim, [host, "tcp-get", "127.0.0.1", "9082"])
    #expect(closed.status != 0)
    #expect(try box.tasker(["rm", "--force", id]).status == 0)
    #expect(
      try eventually { pastaProcesses(naming: box.state.path).isEmpty }, "no pasta outlives rm --force")
  }

  @Test func aMissingPastaFailsTheCreateWithOneLine() throws {
    let (_, image) = try image()
    let box = try Sandbox()
    defer { box.scratch.remove() }
    let result = try box.tasker(
      ["run", "--rm", image, "--", "/bin/true"], environment: ["TASKER_PASTA": "/nonexistent/pasta"])
    #expect(result.status == 125)
    #expect(result.stderrLines.count == 1, "\(result.stderr)")
    #expect(result.stderr.contains("--network host|none") && result.stderr.contains("passt"), "\(result.stderr)")
    #expect(box.tasksOnRecord().isEmpty)
  }

  @Test func publishIsCheckedBeforeAnythingIsMade() throws {
    let box = try Sandbox()
    defer { box.scratch.remove() }
    for bad in ["80", "0:80", "8080:65536", "8080:80/sctp", "host:8080:80", "[::1:8080:80", "1.2.3:80:80"] {
      let result = try box.tasker(["run", "-p", bad, "/nonexistent.tar", "--", "/bin/true"])
      #expect(result.status == 64, "\(bad): \(result.stderr)")
      #expect(result.stderr.contains("invalid --publish \"\(bad)\""), "\(bad): \(result.stderr)")
    }
    let host = try box.tasker(["run", "--network", "host", "-p", "8080:80", "/nonexistent.tar", "--", "/bin/true"])
    #expect(host.status == 64 && host.stderr.contains("--publish needs --network private"), "\(host.stderr)")
  }
}
