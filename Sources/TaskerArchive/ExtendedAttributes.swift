/// Which of an archive member's extended attributes tasker writes.
///
/// Applied: `user.*` (but not `user.overlay.*`), `security.capability` (file capabilities, as a
/// package installs them), and the POSIX ACLs `system.posix_acl_access` and
/// `system.posix_acl_default`. Everything else is skipped with a warning — above all
/// `trusted.*`: overlayfs reads `trusted.overlay.*` (opaque, redirect, metacopy, origin) from
/// its lower layer, which the image becomes, so an image that could set them could make a
/// task's root show files from elsewhere. `user.overlay.*` plays the same part for an overlay
/// mounted with `userxattr`. Other `security.*` attributes are labels of the host's security
/// modules, not the image's to set.
public enum ExtendedAttributePolicy {
  /// Whether the attribute `name` is written.
  public static func applies(_ name: String) -> Bool {
    if name == "security.capability" || name == "system.posix_acl_access" || name == "system.posix_acl_default" {
      return true
    }
    return name.hasPrefix("user.") && !name.hasPrefix("user.overlay.")
  }
}

/// An extended attribute an archive member carried that was not written.
public struct SkippedAttribute: Equatable, Sendable {
  /// The member's name, as the archive gives it.
  public var member: String
  /// The attribute's name, such as `trusted.overlay.opaque`.
  public var name: String

  public init(member: String, name: String) {
    self.member = member
    self.name = name
  }

  /// The warning line a create prints for it.
  public var warning: String { "skipped extended attribute \"\(name)\" of archive member \"\(member)\"" }
}
