// tasker-unpack's confinement: the steps run between "started by tasker, every privilege
// held" and "reading a hostile archive". Modelled on moby's chrootarchive (a re-executed helper
// in a mount namespace of its own, pivot_root'ed into the destination) with bubblewrap's
// habits: one step after another, the first failure stops everything, and each step says
// what is held there.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "tasker_confine.h"

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef MOVE_MOUNT_T_EMPTY_PATH
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif

static int fail(struct tasker_confine_failure *failure, const char *step) {
  failure->step = step;
  failure->error = errno;
  return -1;
}

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t length = (ssize_t)strlen(text);
  ssize_t written = write(fd, text, (size_t)length);
  int saved = errno;
  close(fd);
  errno = saved;
  return written == length ? 0 : -1;
}

// The system calls extraction needs once it runs: the Swift runtime and glibc (memory,
// threads, signals to itself, time), libarchive and the decompressors (reading, memory), and
// the extractor (creating files, directories, symlinks, hardlinks relative to the root and
// setting their owners, modes, times and extended attributes). A profile as data: anything
// not named here fails with EPERM.
static const char *const allowed_syscalls[] = {
    // descriptors and plain I/O
    "read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "close", "dup", "dup2",
    "dup3", "fcntl", "poll", "ppoll", "fsync", "fdatasync", "ftruncate", "fallocate",
    "fadvise64",
    // the stream in, the report out, and DecompressingSource's socket pair (socketpair itself:
    // below, AF_UNIX only)
    "recvfrom", "sendto", "recvmsg", "sendmsg", "shutdown", "setsockopt", "getsockopt",
    // names, always relative to the root (which is `/` by now)
    "openat", "openat2", "newfstatat", "fstat", "statx", "readlinkat", "faccessat",
    "faccessat2", "getdents64", "mkdirat", "symlinkat", "linkat", "unlinkat", "fchown",
    "fchownat", "fchmod", "fchmodat", "utimensat", "fsetxattr", "fstatfs", "getcwd",
    // memory
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise",
    // threads and signals (to itself: kill and tgkill below)
    "futex", "set_robust_list", "get_robust_list", "rseq", "set_tid_address", "sched_yield",
    "sched_getaffinity", "gettid", "getpid", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn",
    "sigaltstack", "restart_syscall", "exit", "exit_group",
    // identity and time
    "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "uname",
    "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday",
    "getrandom",
};

static int install_filter(int layer) {
  // Default: EPERM, so that a library probing for a call gets an answer it handles.
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (ctx == NULL) {
    errno = ENOMEM;
    return -1;
  }
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < sizeof allowed_syscalls / sizeof allowed_syscalls[0]; i++) {
    int number = seccomp_syscall_resolve_name(allowed_syscalls[i]);
    if (number == __NR_SCMP_ERROR) continue;  // not a call of this architecture
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, number, 0);
  }
  pid_t self = getpid();
  // Threads (DecompressingSource's), never a new process: clone only with CLONE_THREAD, and
  // clone3 (whose flags seccomp cannot see) answers ENOSYS, so glibc falls back to clone.
  if (rc == 0)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
                          SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
  if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
  // Signals to itself only (abort): as uid 0 it could otherwise signal every root process.
  if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, SCMP_A0(SCMP_CMP_EQ, self));
  if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, SCMP_A0(SCMP_CMP_EQ, self));
  // FIFOs only: no device node, whatever the capabilities.
  if (rc == 0)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mknodat), 1,
                          SCMP_A2(SCMP_CMP_MASKED_EQ, S_IFMT, S_IFIFO));
  // Layer mode: overlayfs whiteouts, character devices 0/0, and no other device: a 0/0 node
  // opens nothing (no driver has that number), and the layer is mounted nodev besides.
  if (rc == 0 && layer)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mknodat), 2, SCMP_A2(SCMP_CMP_MASKED_EQ, S_IFMT, S_IFCHR),
                          SCMP_A3(SCMP_CMP_EQ, 0));
  // A socket pair of its own, never a socket that could reach anything.
  if (rc == 0)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socketpair), 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX));
  // Reading limits (glibc asks for the stack's), never setting them.
  if (rc == 0)
    rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(prlimit64), 1, SCMP_A2(SCMP_CMP_EQ, 0));
  if (rc == 0) rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc != 0) {
    errno = -rc;
    return -1;
  }
  return 0;
}

static const int kept_capabilities[] = {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_SETFCAP};

static int is_kept(int capability, int layer) {
  if (layer && capability == CAP_MKNOD) return 1;
  for (size_t i = 0; i < sizeof kept_capabilities / sizeof kept_capabilities[0]; i++)
    if (kept_capabilities[i] == capability) return 1;
  return 0;
}

int tasker_confine(int rootfd, int first_closed, int layer, struct tasker_confine_failure *failure) {
  // Held: everything tasker holds (root: all capabilities), in tasker's mount namespace.

  // Nothing open but the stream, the report, stderr and the root: no descriptor leads out.
  if (syscall(SYS_close_range, (unsigned)first_closed, ~0U, 0) != 0) return fail(failure, "close_range");

  // A mount namespace of its own, so that its mounts and its root are nobody else's. As
  // root, tasker's own capabilities do it; anyone else first makes a user namespace in which
  // it holds them, mapping only its own uid and gid (files are still made as that user).
  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (uid == 0) {
    if (unshare(CLONE_NEWNS) != 0) return fail(failure, "unshare");
  } else {
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return fail(failure, "unshare");
    char map[64];
    if (write_file("/proc/self/setgroups", "deny") != 0) return fail(failure, "setgroups");
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
    if (write_file("/proc/self/uid_map", map) != 0) return fail(failure, "uid_map");
    snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
    if (write_file("/proc/self/gid_map", map) != 0) return fail(failure, "gid_map");
  }
  // Held: all capabilities, in a mount namespace that is a copy of tasker's.
  // Private: nothing done here propagates back to the host.
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return fail(failure, "mount-private");

  // `rootfd` names a mount of tasker's namespace, which mount calls refuse: find the same
  // directory in this namespace by its path, and check it is the same one.
  char link[64], path[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", rootfd);
  ssize_t length = readlink(link, path, sizeof path - 1);
  if (length < 0) return fail(failure, "readlink");
  path[length] = '\0';
  int here = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (here < 0) return fail(failure, "open");
  struct stat given, found;
  if (fstat(rootfd, &given) != 0 || fstat(here, &found) != 0) return fail(failure, "fstat");
  if (given.st_dev != found.st_dev || given.st_ino != found.st_ino) {
    errno = ESTALE;
    return fail(failure, "open");
  }
  // pivot_root needs a mount point: bind the directory onto itself, by descriptor, and step
  // into the new mount (the descriptor open_tree returns is its root).
  int tree = (int)syscall(SYS_open_tree, here, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
  if (tree < 0) return fail(failure, "open_tree");
  if (syscall(SYS_move_mount, tree, "", here, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0)
    return fail(failure, "move_mount");
  if (fchdir(tree) != 0) return fail(failure, "fchdir");
  close(tree);
  close(here);
  // The staging directory becomes `/` and the old root is detached: no path, `..` or
  // symlink can reach the host's files, because they are not in this namespace any more.
  if (syscall(SYS_pivot_root, ".", ".") == 0) {
    if (umount2(".", MNT_DETACH) != 0) return fail(failure, "umount");
  } else if (errno == EINVAL) {
    // The host's root is the initial ramfs, which pivot_root cannot move: chroot instead
    // (CAP_SYS_CHROOT, needed to get out again, is dropped below).
    if (chroot(".") != 0) return fail(failure, "chroot");
  } else {
    return fail(failure, "pivot_root");
  }
  if (chdir("/") != 0) return fail(failure, "chdir");
  // `rootfd` still names the directory through tasker's mount, from which `..` leads out:
  // replace it with the new `/`.
  int newroot = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (newroot < 0) return fail(failure, "open");
  if (dup3(newroot, rootfd, O_CLOEXEC) < 0) return fail(failure, "dup3");
  close(newroot);

  // Held: all capabilities, but only the staging directory in view. Drop all but what
  // writing files with their owners and modes needs: CHOWN (owners), DAC_OVERRIDE (writing
  // into directories and files of any mode), FOWNER (modes, times, xattrs and hardlinks of
  // files it chowned away), FSETID (set-user-ID bits of those), SETFCAP (security.capability).
  // Not MKNOD: a FIFO needs no capability, and device nodes are never made — except in layer
  // mode, where MKNOD is kept for overlayfs's whiteouts (0/0 character devices; the seccomp
  // filter below refuses any other device number).
  for (int capability = 0;; capability++) {
    if (is_kept(capability, layer)) continue;
    if (prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0) {
      if (errno == EINVAL) break;  // past the last capability this kernel knows
      return fail(failure, "capbset");
    }
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) return fail(failure, "ambient");
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  for (int capability = 0; capability < 64; capability++) {
    if (!is_kept(capability, layer)) continue;
    data[capability / 32].effective |= 1U << (capability % 32);
    data[capability / 32].permitted |= 1U << (capability % 32);
  }
  if (syscall(SYS_capset, &header, data) != 0) return fail(failure, "capset");

  // Held: the five capabilities above (six in layer mode: MKNOD). Never more, whatever it
  // runs (it runs nothing).
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail(failure, "no_new_privs");
  // Held: those capabilities, and only the calls extraction makes.
  if (install_filter(layer) != 0) return fail(failure, "seccomp");
  return 0;
}

int tasker_confine_probe_unshare(void) { return unshare(CLONE_NEWNS); }
