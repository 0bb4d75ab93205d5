// Small C helpers for what Swift cannot do directly on Linux: syscalls Glibc does not wrap,
// libcurl's variadic option setters, and posix_spawn with an exact fd layout.
#ifndef TASKER_SHIM_H
#define TASKER_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/xattr.h>

/// pidfd_open(2): a descriptor that names one process for its whole life, immune to PID reuse.
int tasker_pidfd_open(pid_t pid);
/// pidfd_send_signal(2).
int tasker_pidfd_send_signal(int pidfd, int sig);
/// openat2(2) with `how.resolve` set to `resolve` (RESOLVE_* flags).
int tasker_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
/// getrandom(2), looping until `len` bytes are filled. Returns 0 or -1 with errno.
int tasker_getrandom(void *buf, size_t len);

/// RESOLVE_* values, re-exported because the kernel header is not importable everywhere.
extern const uint64_t TASKER_RESOLVE_IN_ROOT;
extern const uint64_t TASKER_RESOLVE_NO_MAGICLINKS;
extern const uint64_t TASKER_RESOLVE_NO_SYMLINKS;
extern const uint64_t TASKER_RESOLVE_BENEATH;

/// renameat2(old, new, RENAME_NOREPLACE): fails with EEXIST instead of replacing.
int tasker_rename_noreplace(const char *from, const char *to);
/// pipe2(fds, O_CLOEXEC).
int tasker_pipe_cloexec(int fds[2]);

/// Bind-mounts `path` onto itself and remounts it nosuid: a set-user-ID file in a task's
/// directory must not serve anyone on the host. (Device nodes: extraction makes none, and the
/// jail cannot mknod.) Returns 0 or -1 with errno.
int tasker_protect_directory(const char *path);
/// umount2(path, MNT_DETACH) until nothing is mounted there. Returns how many were detached.
int tasker_unmount_all(const char *path);

/// Linux-only open/at flags the Glibc module does not export.
extern const int TASKER_O_PATH;
extern const int TASKER_AT_EMPTY_PATH;

/// posix_spawn(3) of `path` with `fds[i]` installed as descriptor i in the child (i < nfds),
/// every other descriptor closed, signal mask empty and every signal at its default action.
/// Returns 0 and sets *pid, or an errno value.
int tasker_spawn(const char *path, char *const argv[], char *const envp[], const int *fds,
                 int nfds, pid_t *pid);

/// Downloads `url` (http or https only; redirects followed up to `max_redirects`, to http or
/// https only) and sends the body to the stream socket `fd` (MSG_NOSIGNAL: a closed reader ends
/// the transfer, it never raises SIGPIPE). A transfer that moves no byte for `stall_seconds`
/// fails. Returns a CURLcode; on failure `errbuf` holds a message. `*http_status` is the
/// final response's status (0 when none arrived).
int tasker_http_fetch(const char *url, int fd, long stall_seconds, long max_redirects,
                      char *errbuf, size_t errbuf_len, long *http_status);

#endif
