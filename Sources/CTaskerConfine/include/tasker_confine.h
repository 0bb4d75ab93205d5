// The confinement of tasker-unpack, the process that decompresses and extracts an image
// archive: what it may still do once it reads the first byte of a hostile archive.
#ifndef TASKER_CONFINE_H
#define TASKER_CONFINE_H

#include <stddef.h>

/// Why a confinement step failed: the step's name and the errno it returned.
struct tasker_confine_failure {
  const char *step;
  int error;
};

/// Confines the calling process (single-threaded, libarchive already loaded) to the directory
/// open as `rootfd`, in order:
///
/// 1. every descriptor from `first_closed` up is closed (tasker-unpack keeps 0-3: the
///    stream, the report, stderr and the root);
/// 2. a mount namespace of its own (root: `unshare(CLONE_NEWNS)`; anyone else: a user namespace
///    too, mapping only its own uid and gid), every mount private;
/// 3. the directory is bind-mounted onto itself (by descriptor: `open_tree`/`move_mount`),
///    becomes `/` (`pivot_root(".", ".")`) and the old root is detached: nothing else of the
///    host's file system is left in the namespace; `rootfd` is then replaced by the new `/`;
/// 4. capabilities: bounding and ambient sets emptied, and effective = permitted = CHOWN,
///    DAC_OVERRIDE, FOWNER, FSETID, SETFCAP (what writing files with their owners, modes and
///    file capabilities needs), plus MKNOD in layer mode, inheritable empty;
/// 5. `PR_SET_NO_NEW_PRIVS`;
/// 6. a seccomp allowlist (`tasker_confine_filter`): every other system call fails with EPERM.
///
/// Returns 0, or -1 with `failure` saying which step failed and why.
/// `layer` (an OCI layer with whiteouts): CAP_MKNOD is kept too, and mknodat allowed for
/// character devices 0/0 only.
int tasker_confine(int rootfd, int first_closed, int layer, struct tasker_confine_failure *failure);

/// unshare(CLONE_NEWNS), for tasker-unpack's `--probe` (which expects it to fail).
int tasker_confine_probe_unshare(void);

#endif
