/// The files every task expects in `/etc` — `hosts`, `hostname`, `resolv.conf` — made for
/// each task in its state directory (`<state>/tasks/<ID>/etc/`) and bound over the image's
/// paths, as podman does: the image is never changed, and a task that writes one changes only
/// its own copy.
public enum TaskEtcFiles {
  /// The address DNS queries go to on a private network: pasta forwards what is sent here to
  /// the host's first resolver (`--dns-forward`), a loopback one included. (With Debian 12's
  /// pasta, a query sent straight to the host's resolver gets no answer once `--dns-forward` is
  /// on: its reply is rewritten as coming from this address. So it is the only nameserver.)
  public static let pastaDNSAddress = "169.254.1.1"
  /// The names, in the order they are bound.
  public static let names = ["hosts", "hostname", "resolv.conf"]

  /// `/etc/hosts`: localhost (IPv4 and IPv6), the task's hostname on 127.0.1.1 (Debian's
  /// convention), then the image's own entries.
  public static func hosts(hostname: String, image: [UInt8]?) -> String {
    var text = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t\(hostname)\n"
    if let image, !image.isEmpty {
      text += "# from the image's /etc/hosts\n" + String(decoding: image, as: UTF8.self)
      if image.last != UInt8(ascii: "\n") { text += "\n" }
    }
    return text
  }

  /// `/etc/resolv.conf` for the network mode, from the host's own: `host` keeps it as it is;
  /// `private` names pasta's forwarder as the only nameserver (it forwards to the host's first
  /// one, loopback included), keeping the rest; `none` keeps only `search`, `domain` and
  /// `options`.
  public static func resolvConf(network: NetworkMode, host: [UInt8]) -> String {
    let lines = String(decoding: host, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
    var out: [String] = []
    var forwarded = false
    for line in lines.map(String.init) {
      let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
      let isNameserver = words.first == "nameserver"
      switch network {
      case .host:
        out.append(line)
      case .none:
        if let first = words.first, ["search", "domain", "options"].contains(first) { out.append(line) }
      case .private:
        if isNameserver {
          if !forwarded { out.append("nameserver " + pastaDNSAddress) }
          forwarded = true
        } else {
          out.append(line)
        }
      }
    }
    if network == .private, !forwarded { out.insert("nameserver " + pastaDNSAddress, at: 0) }
    var text = out.joined(separator: "\n")
    if !text.isEmpty, !text.hasSuffix("\n") { text += "\n" }
    return text
  }
}
