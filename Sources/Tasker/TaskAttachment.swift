import CTaskerShim
import Glibc
import TaskerSystem

/// A connection to a running task's supervisor through its attach socket
/// (`<state root>/tasks/<ID>/attach`, there while a task made with `-i` or `-t` runs; its frames
/// are described in Sources/TaskerSupervisor/main.c). Made by `TaskManager.attach(to:replay:)`.
public final class TaskAttachment {
  /// How a relay ended.
  public enum Ending: Sendable, Equatable {
    /// The task ended with this wait status (as `waitpid` gives it).
    case ended(waitStatus: Int32)
    /// The detach keys were typed: the task goes on.
    case detached
    /// The supervisor went away without telling the end: it was killed, or the task ended while
    /// this connection still waited to be accepted (then `heardFromSupervisor` is false and the
    /// task's output is in its logs).
    case lost
  }

  public let id: TaskID
  /// Whether the task has a terminal (its output is one stream; input goes to its terminal).
  public let terminal: Bool
  /// Whether the task's stdin takes input (`-i`).
  public let interactive: Bool
  private let socket: Int32
  private var inbox: [UInt8] = []
  private var outbox: [UInt8] = []
  /// Whether any frame came from the supervisor: a connection it never accepted (the task ended
  /// first) closes with nothing.
  public private(set) var heardFromSupervisor = false

  init(id: TaskID, socket: Int32, terminal: Bool, interactive: Bool) {
    self.id = id
    self.socket = socket
    self.terminal = terminal
    self.interactive = interactive
  }

  deinit { close(socket) }

  private func queue(_ type: UInt8, _ payload: [UInt8] = []) {
    let size = UInt32(payload.count)
    outbox += [type, UInt8(size >> 24), UInt8((size >> 16) & 0xff), UInt8((size >> 8) & 0xff), UInt8(size & 0xff)]
    outbox += payload
  }

  func hello(replay: Bool) { queue(UInt8(ascii: "h"), [replay ? 1 : 0]) }

  /// Tells the task's terminal its new size (the task's foreground process gets SIGWINCH).
  public func resize(rows: Int, columns: Int) {
    let r = UInt16(clamping: rows)
    let c = UInt16(clamping: columns)
    queue(UInt8(ascii: "w"), [UInt8(r >> 8), UInt8(r & 0xff), UInt8(c >> 8), UInt8(c & 0xff)])
  }

  /// Sends what is queued without blocking; false when the supervisor is gone.
  private func flush() -> Bool {
    while !outbox.isEmpty {
      let n = outbox.withUnsafeBytes { send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
      if n < 0 && errno == EINTR { continue }
      if n < 0 && errno == EAGAIN { return true }
      if n <= 0 { return false }
      outbox.removeFirst(n)
    }
    return true
  }

  /// Relays until the task ends or the detach keys are typed: bytes read from `input` (nil: none)
  /// go to the task, its output to `stdout` and `stderr`. On EOF of `input` the task's stdin is
  /// closed (a task with a terminal just gets no more). `detachKeys` (empty: none) are matched
  /// in the input and never sent. When `wake` is readable, its bytes are read and `onWake` runs
  /// (a signal handler's way in: the window's size changed).
  public func relay(
    input: Int32?, stdout: Int32, stderr: Int32, detachKeys: [UInt8] = [], wake: Int32? = nil,
    onWake: () -> Void = {}
  ) throws(SystemError) -> Ending {
    var inputOpen = input != nil
    var matched = 0  // how many of the detach keys the input ended with
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
      if !flush() { return .lost }
      var fds = [
        pollfd(fd: socket, events: Int16(POLLIN) | (outbox.isEmpty ? 0 : Int16(POLLOUT)), revents: 0),
        pollfd(fd: inputOpen && outbox.count < 65536 ? input ?? -1 : -1, events: Int16(POLLIN), revents: 0),
        pollfd(fd: wake ?? -1, events: Int16(POLLIN), revents: 0),
      ]
      if poll(&fds, nfds_t(fds.count), -1) < 0 {
        if errno == EINTR { continue }
        throw SystemError("poll", errno: errno)
      }
      if fds[0].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
        let n = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
        if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
        if n <= 0 { return .lost }
        heardFromSupervisor = true
        inbox += buffer[0..<n]
        while inbox.count >= 5 {
          let size = Int(inbox[1]) << 24 | Int(inbox[2]) << 16 | Int(inbox[3]) << 8 | Int(inbox[4])
          guard inbox.count >= 5 + size else { break }
          let payload = Array(inbox[5..<(5 + size)])
          let type = inbox[0]
          inbox.removeFirst(5 + size)
          switch type {
          case UInt8(ascii: "o"): try writeAll(fd: stdout, payload)
          case UInt8(ascii: "e"): try writeAll(fd: stderr, payload)
          case UInt8(ascii: "x") where size == 4:
            let status =
              UInt32(payload[0]) << 24 | UInt32(payload[1]) << 16 | UInt32(payload[2]) << 8
              | UInt32(payload[3])
            return .ended(waitStatus: Int32(bitPattern: status))
          default: return .lost
          }
        }
      }
      if let input, fds[1].revents & Int16(POLLIN | POLLHUP | POLLERR) != 0 {
        let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
        if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
        if n <= 0 {
          inputOpen = false
          if !terminal { queue(UInt8(ascii: "c")) }
          continue
        }
        var passed: [UInt8] = []
        for byte in buffer[0..<n] {
          if !detachKeys.isEmpty && byte == detachKeys[matched] {
            matched += 1
            if matched == detachKeys.count {
              queue(UInt8(ascii: "i"), passed)
              detach()
              return .detached
            }
            continue
          }
          // Not the sequence after all: the held bytes were the user's.
          passed += detachKeys[0..<matched]
          matched = 0
          if !detachKeys.isEmpty && byte == detachKeys[0] { matched = 1 } else { passed.append(byte) }
        }
        if !passed.isEmpty { queue(UInt8(ascii: "i"), passed) }
      }
      if let wake, fds[2].revents & Int16(POLLIN) != 0 {
        _ = buffer.withUnsafeMutableBytes { read(wake, $0.baseAddress, $0.count) }
        onWake()
      }
    }
  }

  /// Podman's notation for detach keys: comma-separated, each `ctrl-X` (X a letter or one of
  /// `@ [ \ ] ^ _`) or a single character; "" for none.
  public static func parseDetachKeys(_ text: String) -> [UInt8]? {
    if text.isEmpty { return [] }
    var keys: [UInt8] = []
    for item in text.split(separator: ",", omittingEmptySubsequences: false) {
      let bytes = Array(item.utf8)
      if bytes.count == 1, bytes[0] < 0x80 {
        keys.append(bytes[0])
      } else if bytes.count == 6, item.lowercased().hasPrefix("ctrl-") {
        let key = Array(item.lowercased().utf8)[5]
        switch key {
        case UInt8(ascii: "a")...UInt8(ascii: "z"): keys.append(key - UInt8(ascii: "a") + 1)
        case UInt8(ascii: "@"): keys.append(0)
        case UInt8(ascii: "["), UInt8(ascii: "\\"), UInt8(ascii: "]"), UInt8(ascii: "^"), UInt8(ascii: "_"):
          keys.append(key - UInt8(ascii: "@"))
        default: return nil
        }
      } else {
        return nil
      }
    }
    return keys
  }

  /// Sends what is queued (a second at most), then leaves: the task goes on.
  private func detach() {
    var timeout = timeval(tv_sec: 1, tv_usec: 0)
    _ = fcntl(socket, F_SETFL, 0)
    _ = setsockopt(socket, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    _ = flush()
    shutdown(socket, Int32(SHUT_RDWR))
  }
}

extension TaskManager {
  /// Connects to a running task made with `-i` or `-t`. With `replay`, what the task wrote so
  /// far comes first (`run` connects just after the command started). `notRunning` once the task
  /// has ended; `invalidArgument` for a task made without either.
  public func attach(to idText: String, replay: Bool = false) throws(TaskerError) -> TaskAttachment {
    let id = try store.resolve(idText)
    let record = try store.record(of: id)
    guard record.interactive == true || record.terminal == true else {
      throw TaskerError(
        .invalidArgument, "task \(id) was created without -i or -t: there is nothing to attach to (see tasker logs)")
    }
    let ended = TaskerError(.notRunning, "task \(id) has already ended")
    if store.exitRecord(of: id) != nil { throw ended }
    // By the state directory's descriptor: sun_path is short, the state root's path may not be.
    let directory = open(store.directory(of: id), TASKER_O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    if directory < 0 { throw TaskerError(.notFound, "no such task: \(idText)") }
    defer { close(directory) }
    let socket = tasker_connect_unix("/proc/self/fd/\(directory)/run/attach")
    if socket < 0 {
      if errno == ENOENT || errno == ECONNREFUSED { throw ended }
      let error = SystemError("connect", path: store.runtimePath(of: id) + "/attach", errno: errno)
      throw TaskerError(.system, "cannot attach to task \(id): \(error)", cause: error)
    }
    _ = fcntl(socket, F_SETFL, fcntl(socket, F_GETFL) | O_NONBLOCK)
    let attachment = TaskAttachment(
      id: id, socket: socket, terminal: record.terminal == true, interactive: record.interactive == true)
    attachment.hello(replay: replay)
    return attachment
  }
}
