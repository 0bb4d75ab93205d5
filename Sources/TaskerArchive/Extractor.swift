import CArchive
import CTaskerShim
import Glibc
import TaskerSystem

/// How an `Extractor` treats what it reads.
public struct ExtractionOptions: Sendable {
  /// Bounds on size, member count and name length.
  public var limits: ExtractionLimits
  /// Skip members that would escape the root (and report them) instead of failing.
  public var skipUnsafeMembers: Bool
  /// Apply the archive's owners (numeric uid/gid). Only root can; the default is "when root".
  public var preserveOwnership: Bool
  /// The root is this process's `/` (tasker-unpack, after pivot_root): a name resolved from it
  /// cannot leave it whatever `..` or symlink it meets, and there is no /proc. Hardlinks are
  /// then made by name instead of through /proc/self/fd.
  public var rootIsProcessRoot: Bool
  /// The archive is one layer of a layered (OCI) image: its whiteouts (`.wh.NAME`,
  /// `.wh..wh..opq`) become overlayfs markers instead of files (see `Extractor+Whiteouts`).
  /// Off for tarball images, whose `.wh.` files are files like any other.
  public var layer: Bool

  public init(
    limits: ExtractionLimits = .default, skipUnsafeMembers: Bool = false,
    preserveOwnership: Bool = geteuid() == 0, rootIsProcessRoot: Bool = false, layer: Bool = false
  ) {
    self.layer = layer
    self.limits = limits
    self.skipUnsafeMembers = skipUnsafeMembers
    self.preserveOwnership = preserveOwnership
    self.rootIsProcessRoot = rootIsProcessRoot
  }
}

/// Extracts a tar stream (plain, gzip, bzip2, xz or zstd, detected from its first bytes) into a
/// directory, writing nothing outside it whatever the archive says.
///
/// Every path is opened relative to the root's descriptor with `openat2(RESOLVE_IN_ROOT)`, so
/// the kernel resolves `..` and symlinks (absolute ones too, such as `bin -> /usr/bin` in a
/// usrmerge image) as if the root were `/`: a symlink planted by the archive can point
/// anywhere, and writing through it still lands inside the root. Member names with `..` or a
/// leading `/` and hardlinks that leave the image are refused outright. Device nodes are not
/// created: the jail mounts its own /dev. Extended attributes are filtered by
/// `ExtendedAttributePolicy`.
public final class Extractor {
  let rootFD: Int32
  let options: ExtractionOptions
  var summary = ExtractionSummary()
  /// `summary.opaqueDirectories` as a set: a layer may repeat a marker, and scanning the list
  /// for each of tens of thousands of markers made unpacking quadratic.
  var opaqueDirectoriesSeen: Set<[UInt8]> = []
  private var directoryFixups: [(path: [UInt8], entry: EntryMetadata, xattrs: [ExtendedAttribute])] = []
  private var cachedParent: (path: [UInt8], fd: Int32)?
  /// Set when the tree changed in a way that can change where names resolve (a symlink made,
  /// something replaced); the cached parent is then dropped before the next member, never
  /// while the current member still uses it.
  var cacheIsStale = false
  private let isRoot = geteuid() == 0

  /// - Parameter rootFD: an open directory; the caller keeps ownership of it.
  public init(rootFD: Int32, options: ExtractionOptions = ExtractionOptions()) {
    self.rootFD = rootFD
    self.options = options
  }

  deinit { dropCachedParent() }

  /// Reads the whole archive from `source` and writes its members below the root.
  public func extract(from source: some ByteSource) throws(ArchiveError) -> ExtractionSummary {
    guard let archive = archive_read_new() else { throw .unreadable("cannot allocate a reader") }
    defer { archive_read_free(archive) }
    // Only tar and the four compressions the contract names: a zip, cpio or ISO is refused by
    // content, whatever the file is called.
    archive_read_support_format_tar(archive)
    archive_read_support_format_gnutar(archive)
    archive_read_support_filter_gzip(archive)
    archive_read_support_filter_bzip2(archive)
    archive_read_support_filter_xz(archive)
    archive_read_support_filter_zstd(archive)

    let box = SourceBox(source)
    let context = Unmanaged.passRetained(box)
    defer { context.release() }
    if archive_read_open(archive, context.toOpaque(), nil, sourceRead, nil) != ARCHIVE_OK {
      throw box.failure ?? .unreadable(archiveMessage(archive))
    }
    while true {
      var entry: OpaquePointer?
      let status = archive_read_next_header(archive, &entry)
      if status == ARCHIVE_EOF { break }
      if status < ARCHIVE_WARN || entry == nil {
        throw box.failure ?? .unreadable(archiveMessage(archive))
      }
      guard let entry else { break }
      summary.entries += 1
      if summary.entries > options.limits.maxEntries {
        throw .limitExceeded("more than \(options.limits.maxEntries) members")
      }
      try extractEntry(entry, archive: archive, box: box)
    }
    if summary.entries == 0 { throw .empty }
    try applyDirectoryFixups()
    return summary
  }

  // MARK: - One member

  private func extractEntry(_ entry: OpaquePointer, archive: OpaquePointer, box: SourceBox)
    throws(ArchiveError)
  {
    let rawName = bytes(archive_entry_pathname(entry))
    let path: MemberPath
    do {
      path = try MemberPath(rawName, maxLength: options.limits.maxPathLength)
    } catch {
      try refuse(rawName.display, String(describing: error))
      return
    }
    let metadata = EntryMetadata(entry)
    let display = rawName.display
    let xattrs = extendedAttributes(entry, display: display)

    if options.layer, path.components.dropLast().contains(where: Self.isWhiteoutName) {
      // `.wh.../x` is a whiteout of `../x` to a reader that strips the prefix from the whole
      // name; a directory with a whiteout's name is no member of a layer either.
      try refuse(display, "a whiteout's name used as a directory")
      return
    }
    if options.layer, !path.isRoot, Self.isWhiteoutName(path.leaf) {
      try makeWhiteout(path, display: display)
      return
    }
    if let hardlink = archive_entry_hardlink(entry) {
      try makeHardlink(path, target: bytes(hardlink), display: display)
      return
    }
    if path.isRoot {
      // `./` itself: only its metadata applies, to the root directory.
      if metadata.type == Glibc.S_IFDIR { directoryFixups.append((path.relative, metadata, xattrs)) }
      return
    }
    switch metadata.type {
    case Glibc.S_IFDIR:
      try makeDirectory(path, metadata: metadata, xattrs: xattrs, display: display)
    case Glibc.S_IFREG:
      try makeFile(path, metadata: metadata, xattrs: xattrs, archive: archive, box: box, display: display)
    case Glibc.S_IFLNK:
      let target = bytes(archive_entry_symlink(entry))
      try makeSymlink(path, target: target, metadata: metadata, display: display)
    case Glibc.S_IFIFO:
      let parent = try openParent(path, display: display)
      try replaceExisting(parent: parent, path: path, keepDirectory: false, display: display)
      try check(display, "mkfifoat") { mkfifoat(parent, path.leaf.cString, 0o600) }
      try applyMetadata(parent: parent, path: path, metadata: metadata, display: display)
    default:
      // Character and block devices, sockets: never created on the host. The jail provides /dev.
      summary.skippedSpecialFiles += 1
    }
  }

  func refuse(_ display: String, _ reason: String) throws(ArchiveError) {
    if options.skipUnsafeMembers {
      summary.skippedUnsafe.append(display)
      return
    }
    throw .unsafeMember(path: display, reason: reason)
  }

  private func makeDirectory(
    _ path: MemberPath, metadata: EntryMetadata, xattrs: [ExtendedAttribute], display: String
  ) throws(ArchiveError) {
    let parent = try openParent(path, display: display)
    var info = stat()
    if fstatat(parent, path.leaf.cString, &info, AT_SYMLINK_NOFOLLOW) == 0 {
      if (info.st_mode & S_IFMT) != S_IFDIR {
        try replaceExisting(parent: parent, path: path, keepDirectory: true, display: display)
        try check(display, "mkdirat") { mkdirat(parent, path.leaf.cString, 0o700) }
      }
    } else {
      try check(display, "mkdirat") { mkdirat(parent, path.leaf.cString, 0o700) }
    }
    // Mode, owner and times are set at the end, deepest first: a read-only directory must still
    // take its members, and writing members would move its mtime.
    directoryFixups.append((path.relative, metadata, xattrs))
  }

  private func makeFile(
    _ path: MemberPath, metadata: EntryMetadata, xattrs: [ExtendedAttribute], archive: OpaquePointer,
    box: SourceBox, display: String
  ) throws(ArchiveError) {
    // What counts against the limit is the data the archive brings, each block before it is
    // written: the holes of a sparse member are passed over (lseek, ftruncate) and cost no disk.
    // The file is made at its first block, so a member over the limit leaves nothing behind.
    var fd: Int32 = -1
    defer { if fd >= 0 { close(fd) } }
    func created() throws(ArchiveError) -> Int32 {
      if fd >= 0 { return fd }
      let parent = try openParent(path, display: display)
      try replaceExisting(parent: parent, path: path, keepDirectory: false, display: display)
      fd = try check(display, "openat") {
        openat(parent, path.leaf.cString, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
      }
      return fd
    }
    var position: Int64 = 0
    while true {
      var block: UnsafeRawPointer?
      var size = 0
      var offset: la_int64_t = 0
      let status = archive_read_data_block(archive, &block, &size, &offset)
      if status == ARCHIVE_EOF { break }
      if status < ARCHIVE_WARN { throw box.failure ?? .unreadable(archiveMessage(archive)) }
      if summary.bytes + UInt64(size) > options.limits.maxBytes {
        throw .limitExceeded("more than \(options.limits.maxBytes) bytes of content (at \"\(display)\")")
      }
      summary.bytes += UInt64(size)
      let output = try created()
      if offset != position {
        // A hole in a sparse file: seek past it instead of writing zeros.
        try check(display, "lseek") { Int32(truncatingIfNeeded: lseek(output, Int(offset), SEEK_SET) < 0 ? -1 : 0) }
        position = offset
      }
      guard let block, size > 0 else { continue }
      var written = 0
      while written < size {
        let n = Glibc.write(output, block + written, size - written)
        if n < 0 {
          if errno == EINTR { continue }
          throw .member(path: display, SystemError("write", path: display, errno: errno))
        }
        written += n
      }
      position += Int64(size)
    }
    let output = try created()
    if position < metadata.size {
      // A sparse file that ends in a hole.
      try check(display, "ftruncate") { ftruncate(output, Int(metadata.size)) }
    }
    try applyMetadata(fd: output, metadata: metadata, xattrs: xattrs, display: display)
  }

  private func makeSymlink(
    _ path: MemberPath, target: [UInt8], metadata: EntryMetadata, display: String
  ) throws(ArchiveError) {
    let parent = try openParent(path, display: display)
    try replaceExisting(parent: parent, path: path, keepDirectory: false, display: display)
    // The target is stored as written. It is only ever followed by the kernel inside the jail,
    // or by this extractor with RESOLVE_IN_ROOT, so an absolute target stays inside the image.
    try check(display, "symlinkat") { symlinkat(target.cString, parent, path.leaf.cString) }
    // A new symlink can change where later names resolve.
    cacheIsStale = true
    try applyMetadata(parent: parent, path: path, metadata: metadata, display: display)
  }

  func makeHardlink(_ path: MemberPath, target rawTarget: [UInt8], display: String)
    throws(ArchiveError)
  {
    let target: MemberPath
    do {
      target = try MemberPath(rawTarget, maxLength: options.limits.maxPathLength)
    } catch {
      try refuse(display, "hardlink to \"\(rawTarget.display)\": \(error)")
      return
    }
    if path.isRoot || target.isRoot {
      try refuse(display, "hardlink to or from the image root")
      return
    }
    // TASKER_O_PATH|O_NOFOLLOW names the target itself (a symlink stays a symlink), resolved inside
    // the root; a magic link of /proc cannot lead out either.
    let targetFD = tasker_openat2(
      rootFD, target.relative.cString, UInt64(TASKER_O_PATH | O_NOFOLLOW | O_CLOEXEC), 0,
      TASKER_RESOLVE_IN_ROOT | TASKER_RESOLVE_NO_MAGICLINKS)
    if targetFD < 0 && errno == ENOENT && options.layer {
      // Each layer is unpacked into a directory of its own, so a file of a lower layer is not
      // there to link to. Copying it would need the lower layer at hand; refused instead, as
      // no image builder writes such a link (they copy the file into the upper layer).
      try refuse(display, "hardlink to \"\(target.relative.display)\", which is not in this layer")
      return
    }
    if targetFD < 0 {
      throw .member(
        path: display,
        SystemError("openat2", path: "hardlink target " + target.relative.display, errno: errno))
    }
    defer { close(targetFD) }
    let parent = try openParent(path, display: display)
    try replaceExisting(parent: parent, path: path, keepDirectory: false, display: display)
    // linkat(TASKER_AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; the /proc magic link works for
    // anyone. Where the root is `/` (tasker-unpack) there is no /proc, and no need of it: the
    // target's name, resolved from the root without following its last component, is the file
    // just opened, and cannot resolve outside.
    if linkat(targetFD, "", parent, path.leaf.cString, TASKER_AT_EMPTY_PATH) != 0 {
      if options.rootIsProcessRoot {
        try check(display, "linkat") { linkat(rootFD, target.relative.cString, parent, path.leaf.cString, 0) }
      } else {
        try check(display, "linkat") {
          linkat(AT_FDCWD, "/proc/self/fd/\(targetFD)", parent, path.leaf.cString, AT_SYMLINK_FOLLOW)
        }
      }
    }
  }

  // MARK: - Paths

  /// An `TASKER_O_PATH` descriptor of the member's parent directory, resolved inside the root and
  /// created (mode 0755, as tar does) where missing. Owned by the cache; do not close.
  func openParent(_ path: MemberPath, display: String) throws(ArchiveError) -> Int32 {
    let parentPath = path.parent
    if cacheIsStale { dropCachedParent() }
    if let cachedParent, cachedParent.path == parentPath { return cachedParent.fd }
    dropCachedParent()
    var fd = openInRoot(parentPath)
    if fd < 0 && errno == ENOENT {
      try createDirectories(Array(path.components.dropLast()), display: display)
      fd = openInRoot(parentPath)
    }
    if fd < 0 {
      throw .member(path: display, SystemError("openat2", path: parentPath.display, errno: errno))
    }
    cachedParent = (parentPath, fd)
    return fd
  }

  private func openInRoot(_ relative: [UInt8]) -> Int32 {
    tasker_openat2(
      rootFD, relative.cString, UInt64(TASKER_O_PATH | O_DIRECTORY | O_CLOEXEC), 0,
      TASKER_RESOLVE_IN_ROOT | TASKER_RESOLVE_NO_MAGICLINKS)
  }

  private func createDirectories(_ components: [[UInt8]], display: String) throws(ArchiveError) {
    var prefix: [UInt8] = []
    var parent = Glibc.dup(rootFD)
    defer { close(parent) }
    for component in components {
      if !prefix.isEmpty { prefix.append(UInt8(ascii: "/")) }
      prefix += component
      var next = openInRoot(prefix)
      if next < 0 && errno == ENOENT {
        if mkdirat(parent, component.cString, 0o755) != 0 && errno != EEXIST {
          throw .member(path: display, SystemError("mkdirat", path: prefix.display, errno: errno))
        }
        next = openInRoot(prefix)
      }
      if next < 0 {
        throw .member(path: display, SystemError("openat2", path: prefix.display, errno: errno))
      }
      close(parent)
      parent = next
    }
  }

  /// Removes what stands where a member is to be made: any non-directory, or an empty
  /// directory. A non-empty directory stays (`keepDirectory`) or is an error.
  private func replaceExisting(parent: Int32, path: MemberPath, keepDirectory: Bool, display: String)
    throws(ArchiveError)
  {
    let leaf = path.leaf.cString
    var info = stat()
    guard fstatat(parent, leaf, &info, AT_SYMLINK_NOFOLLOW) == 0 else { return }
    let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
    if isDirectory && keepDirectory { return }
    if unlinkat(parent, leaf, isDirectory ? AT_REMOVEDIR : 0) != 0 {
      throw .member(path: display, SystemError("unlinkat", path: display, errno: errno))
    }
    cacheIsStale = true
  }

  func dropCachedParent() {
    if let cachedParent { close(cachedParent.fd) }
    cachedParent = nil
    cacheIsStale = false
  }

  // MARK: - Metadata

  private func applyMetadata(
    fd: Int32, metadata: EntryMetadata, xattrs: [ExtendedAttribute], display: String
  ) throws(ArchiveError) {
    // chown first: it clears set-user-ID bits and file capabilities, which come after.
    if options.preserveOwnership {
      try chownKeepingUnmapped(display, "fchown") { fchown(fd, metadata.uid, metadata.gid) }
    }
    try check(display, "fchmod") { fchmod(fd, metadata.mode) }
    for xattr in xattrs {
      // Filesystems without xattrs, or namespaces only root may write: the file is still
      // usable without them, as with `tar --xattrs` run by a user.
      _ = xattr.value.withUnsafeBytes { fsetxattr(fd, xattr.name, $0.baseAddress, $0.count, 0) }
    }
    var times = metadata.times
    try check(display, "futimens") { futimens(fd, &times) }
  }

  private func applyMetadata(parent: Int32, path: MemberPath, metadata: EntryMetadata, display: String)
    throws(ArchiveError)
  {
    let leaf = path.leaf.cString
    if options.preserveOwnership {
      try chownKeepingUnmapped(display, "fchownat") {
        fchownat(parent, leaf, metadata.uid, metadata.gid, AT_SYMLINK_NOFOLLOW)
      }
    }
    if metadata.type != Glibc.S_IFLNK {
      try check(display, "fchmodat") { fchmodat(parent, leaf, metadata.mode, 0) }
    }
    var times = metadata.times
    try check(display, "utimensat") { utimensat(parent, leaf, &times, AT_SYMLINK_NOFOLLOW) }
  }

  /// The member's extended attributes that `ExtendedAttributePolicy` lets through; each one it
  /// does not is recorded in the summary.
  private func extendedAttributes(_ entry: OpaquePointer, display: String) -> [ExtendedAttribute] {
    var result: [ExtendedAttribute] = []
    var skippedNames: Set<String> = []
    archive_entry_xattr_reset(entry)
    var name: UnsafePointer<CChar>?
    var value: UnsafeRawPointer?
    var size = 0
    while archive_entry_xattr_next(entry, &name, &value, &size) == ARCHIVE_OK {
      guard let name else { continue }
      let raw = bytes(name)
      guard ExtendedAttributePolicy.applies(raw.display) else {
        // libarchive's own pax writer records each attribute twice (LIBARCHIVE.xattr and
        // SCHILY.xattr), and its reader returns both: one warning each.
        if skippedNames.insert(raw.display).inserted {
          summary.skippedAttributes.append(SkippedAttribute(member: display, name: raw.display))
        }
        continue
      }
      let contents = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) } ?? []
      result.append(ExtendedAttribute(name: raw.cString, value: contents))
    }
    return result
  }

  private func applyDirectoryFixups() throws(ArchiveError) {
    dropCachedParent()
    for (path, metadata, xattrs) in directoryFixups.reversed() {
      let fd = tasker_openat2(
        rootFD, path.cString, UInt64(O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), 0,
        TASKER_RESOLVE_IN_ROOT | TASKER_RESOLVE_NO_MAGICLINKS)
      // Replaced by something else later in the archive: its own member set its metadata.
      if fd < 0 { continue }
      defer { close(fd) }
      try applyMetadata(fd: fd, metadata: metadata, xattrs: xattrs, display: path.display)
    }
    directoryFixups.removeAll()
  }

  @discardableResult
  /// A chown to an owner the extracting process's user namespace does not map (a user without
  /// /etc/subuid ranges has one id) fails with EINVAL: the file keeps the extracting user as
  /// its owner and is counted (`unmappedOwners`), so the task still gets its image.
  private func chownKeepingUnmapped(_ display: String, _ operation: String, _ body: () -> Int32)
    throws(ArchiveError)
  {
    while body() != 0 {
      if errno == EINTR { continue }
      if errno == EINVAL {
        summary.unmappedOwners += 1
        return
      }
      throw .member(path: display, SystemError(operation, path: display, errno: errno))
    }
  }

  func check(_ display: String, _ operation: String, _ body: () -> Int32) throws(ArchiveError)
    -> Int32
  {
    while true {
      let result = body()
      if result >= 0 { return result }
      if errno == EINTR { continue }
      throw .member(path: display, SystemError(operation, path: display, errno: errno))
    }
  }
}

/// The metadata of one member, copied out of libarchive's entry.
struct EntryMetadata {
  var type: mode_t
  var mode: mode_t
  var uid: uid_t
  var gid: gid_t
  var size: Int64
  var times: [timespec]

  init(_ entry: OpaquePointer) {
    type = mode_t(archive_entry_filetype(entry))
    mode = mode_t(archive_entry_perm(entry)) & 0o7777
    uid = uid_t(truncatingIfNeeded: archive_entry_uid(entry))
    gid = gid_t(truncatingIfNeeded: archive_entry_gid(entry))
    size = archive_entry_size(entry)
    let mtime = timespec(tv_sec: archive_entry_mtime(entry), tv_nsec: archive_entry_mtime_nsec(entry))
    let atime =
      archive_entry_atime_is_set(entry) != 0
      ? timespec(tv_sec: archive_entry_atime(entry), tv_nsec: archive_entry_atime_nsec(entry)) : mtime
    times = [atime, mtime]
  }
}

/// One extended attribute to write.
struct ExtendedAttribute {
  /// The name's bytes as the archive gives them, NUL-terminated.
  var name: [CChar]
  var value: [UInt8]
}

/// Holds the source for libarchive's read callback and remembers why it failed.
final class SourceBox {
  let source: any ByteSource
  let buffer: UnsafeMutableRawBufferPointer
  var failure: ArchiveError?

  init(_ source: any ByteSource) {
    self.source = source
    buffer = .allocate(byteCount: 256 * 1024, alignment: 16)
  }

  deinit { buffer.deallocate() }
}

let sourceRead:
  @convention(c) (
    OpaquePointer?, UnsafeMutableRawPointer?, UnsafeMutablePointer<UnsafeRawPointer?>?
  ) -> la_ssize_t = { _, context, output in
    guard let context, let output else { return -1 }
    let box = Unmanaged<SourceBox>.fromOpaque(context).takeUnretainedValue()
    do {
      let count = try box.source.read(into: box.buffer)
      output.pointee = UnsafeRawPointer(box.buffer.baseAddress)
      return count
    } catch let error as ArchiveError {
      box.failure = error
    } catch {
      box.failure = .source(error)
    }
    // libarchive then reports a fatal read error; the extractor throws `box.failure` instead.
    return -1
  }

private func bytes(_ pointer: UnsafePointer<CChar>?) -> [UInt8] {
  guard let pointer else { return [] }
  return Array(UnsafeBufferPointer(start: pointer, count: strlen(pointer))).map { UInt8(bitPattern: $0) }
}

private func archiveMessage(_ archive: OpaquePointer) -> String {
  guard let message = archive_error_string(archive) else { return "unknown libarchive error" }
  return String(cString: message)
}

extension Array where Element == UInt8 {
  /// The bytes with a NUL appended, for passing to a C function as `const char *`.
  var cString: [CChar] { map { CChar(bitPattern: $0) } + [0] }
}
