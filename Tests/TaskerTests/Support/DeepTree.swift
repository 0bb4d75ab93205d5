import Glibc

/// How deep a test tree must nest so that a walk holding one descriptor per level fails in this
/// process: deeper than its RLIMIT_NOFILE (and at least 10,000 levels), capped so that a host
/// with a huge limit does not make the test slow.
func depthBeyondDescriptorLimit() -> Int {
  var limit = rlimit()
  getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
  return min(max(10_000, Int(clamping: limit.rlim_cur) + 1_000), 200_000)
}

/// Makes `depth` nested directories named `d` inside the directory `path`, each made and
/// opened relative to its parent's descriptor (their paths exceed PATH_MAX), holding two
/// descriptors at a time. `atLevel` is called with each level's descriptor and depth (1 is
/// `path/d`), to put something there; the descriptor is closed after.
func makeDeepTree(in path: String, depth: Int, atLevel: (Int32, Int) throws -> Void = { _, _ in }) throws {
  var fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
  if fd < 0 { throw SetupError("open", path) }
  defer { close(fd) }
  for level in 1...depth {
    if mkdirat(fd, "d", 0o755) != 0 { throw SetupError("mkdirat", "d at level \(level)") }
    let child = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    if child < 0 { throw SetupError("openat", "d at level \(level)") }
    close(fd)
    fd = child
    try atLevel(fd, level)
  }
}

/// How many directories named `d` nest inside `path` (following the chain by descriptors).
func deepTreeDepth(_ path: String) -> Int {
  var fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
  var depth = 0
  while fd >= 0 {
    let child = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
    close(fd)
    fd = child
    if child >= 0 { depth += 1 }
  }
  return depth
}
