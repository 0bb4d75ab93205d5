import CTaskerShim
import Glibc
import TaskerSystem

// The OCI image-spec's whiteouts, in layer mode: `DIR/.wh.NAME` says "NAME of the layers below
// is deleted", `DIR/.wh..wh..opq` says "DIR hides everything the layers below have in it".
// Each layer is unpacked into a directory of its own that becomes one lower layer of an
// overlay, so a whiteout becomes what overlayfs itself reads: a character device 0/0 named
// NAME, or the attribute `trusted.overlay.opaque=y` on DIR. Nothing is ever removed for a
// whiteout; markers are only made inside this layer's own directory, so a whiteout cannot
// delete anything, inside the image or out of it.
extension Extractor {
  static let whiteoutPrefix: [UInt8] = Array(".wh.".utf8)
  static let opaqueMarker: [UInt8] = Array(".wh..wh..opq".utf8)

  static func isWhiteoutName(_ leaf: [UInt8]) -> Bool { leaf.starts(with: whiteoutPrefix) }

  func makeWhiteout(_ path: MemberPath, display: String) throws(ArchiveError) {
    // The directory the marker is in, resolved without following any symlink: a whiteout in
    // `link/` would otherwise mark the directory the link points at, another directory of the
    // image than the one the layer names.
    let parentPath = path.parent
    if !path.components.dropLast().isEmpty {
      try createParentDirectories(path, display: display)
    }
    let parent = tasker_openat2(
      rootFD, parentPath.cString, UInt64(TASKER_O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), 0,
      TASKER_RESOLVE_IN_ROOT | TASKER_RESOLVE_NO_SYMLINKS | TASKER_RESOLVE_NO_MAGICLINKS)
    if parent < 0 {
      if errno == ELOOP || errno == ENOTDIR {
        try refuse(display, "whiteout in \"\(parentPath.display)\", which is not a directory of this layer")
        return
      }
      throw .member(path: display, SystemError("openat2", path: parentPath.display, errno: errno))
    }
    defer { close(parent) }
    if path.leaf == Self.opaqueMarker {
      // Bytes, not `display`: a name that is not UTF-8 would come back as another name.
      if opaqueDirectoriesSeen.insert(parentPath).inserted {
        summary.opaqueDirectories.append(parentPath)
      }
      return
    }
    let name = Array(path.leaf.dropFirst(Self.whiteoutPrefix.count))
    // `.wh.` alone, `.wh..` and `.wh...` would name the directory or its parent; other `.wh.`
    // names inside a whiteout (`.wh..wh.plnk`, aufs's hardlink directory) are not the spec's.
    if name.isEmpty || name == Array(".".utf8) || name == Array("..".utf8) || Self.isWhiteoutName(name) {
      try refuse(display, "not a whiteout the OCI image format defines")
      return
    }
    var info = stat()
    if fstatat(parent, name.cString, &info, AT_SYMLINK_NOFOLLOW) == 0 {
      // A whiteout hides the layers below only: what this layer has under the name stays.
      return
    }
    try check(display, "mknodat") { mknodat(parent, name.cString, S_IFCHR | 0o000, 0) }
    cacheIsStale = true
    summary.whiteouts += 1
  }

  /// Makes the directories above a marker that this layer did not list (mode 0755, as tar
  /// does for a member's missing parents).
  private func createParentDirectories(_ path: MemberPath, display: String) throws(ArchiveError) {
    _ = try openParent(path, display: display)
  }
}

/// Writes the markers tasker-unpack cannot: the opaque attribute overlayfs reads.
public enum LayerMarkers {
  /// Sets `attribute=y` on each directory (relative to `rootFD`, a layer's own directory),
  /// opened without following a symlink anywhere on the way: `trusted.overlay.opaque`, which
  /// needs CAP_SYS_ADMIN on the host, or in a user namespace `user.overlay.opaque`, which an
  /// overlay mounted with `userxattr` reads instead.
  /// The names are raw bytes and are opened as such: any other form could name another
  /// directory than the one the layer marked.
  public static func markOpaque(
    rootFD: Int32, directories: [[UInt8]], attribute: String = "trusted.overlay.opaque"
  ) throws(ArchiveError) {
    for bytes in directories {
      let directory = bytes.display
      let fd = tasker_openat2(
        rootFD, bytes.cString, UInt64(O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), 0,
        TASKER_RESOLVE_BENEATH | TASKER_RESOLVE_NO_SYMLINKS | TASKER_RESOLVE_NO_MAGICLINKS)
      if fd < 0 {
        throw .member(path: directory, SystemError("openat2", path: directory, errno: errno))
      }
      defer { close(fd) }
      if fsetxattr(fd, attribute, "y", 1, 0) != 0 {
        throw .member(path: directory, SystemError("fsetxattr \(attribute)", path: directory, errno: errno))
      }
    }
  }
}
