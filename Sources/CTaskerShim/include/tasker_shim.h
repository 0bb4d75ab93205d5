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

// prctl(PR_SET_CHILD_SUBREAPER, 1): orphans below this process become its children (variadic
// prctl is not callable from Swift).
int tasker_become_subreaper(void);
/// One descriptor received over a unix socket (SCM_RIGHTS, close-on-exec); -1 with errno.
int tasker_receive_fd(int sock);
/// ioctl(TIOCGWINSZ) / ioctl(TIOCSWINSZ) (variadic in C, so not callable from Swift).
int tasker_window_size(int fd, unsigned short *rows, unsigned short *cols);
int tasker_set_window_size(int fd, unsigned short rows, unsigned short cols);

// connect(2) to a unix stream socket at PATH; a descriptor, or -1 with errno.
int tasker_connect_unix(const char *path);

/// Bind-mounts `path` onto itself and remounts it nosuid: a set-user-ID file in a task's
/// directory must not serve anyone on the host. (Device nodes: extraction makes none, and the
/// jail cannot mknod.) Returns 0 or -1 with errno.
/// Makes PATH a mount (a bind onto itself, nodev if NODEV). Returns 0 or -1 with errno.
int tasker_make_mount_point(const char *path, int nodev);
/// Attaches a nosuid,nodev clone of the mount ROOTFD is the root of onto TARGETFD's directory
/// (open_tree, mount_setattr, move_mount). Returns 0 or -1 with errno.
int tasker_attach_view(int rootfd, int targetfd);
/// A detached recursive clone of the mount tree at FD's file (open_tree(OPEN_TREE_CLONE |
/// AT_RECURSIVE)), made private with the MOUNT_ATTR_* ATTRIBUTES set on every mount
/// (mount_setattr). Returns the tree's close-on-exec descriptor, or -1 with errno.
int tasker_clone_tree(int fd, uint64_t attributes);
/// umount2(MNT_DETACH) of the mount FD is the root of, through /proc/self/fd.
int tasker_unmount_fd(int fd);
/// A close-on-exec memfd holding BYTES, positioned at its start.
int tasker_memfd(const char *name, const void *bytes, size_t length);
/// A close-on-exec, sealed (no write, grow, shrink or new seal) memfd copy of the file at PATH.
int tasker_sealed_copy(const char *path);
/// copy_file_range(2) between the current offsets of two descriptors.
ssize_t tasker_copy_file_range(int in, int out, size_t length);
/// What an overlay mount is made with (the last argument of the two below, or'ed).
/// NODEV: nodev. USERXATTR: overlayfs keeps its attributes as `user.overlay.*` (the only ones a
/// user namespace's root may set; an opaque directory is then marked `user.overlay.opaque`).
#define TASKER_OVERLAY_NODEV 1
#define TASKER_OVERLAY_USERXATTR 2
/// Mounts an overlay of `lower` (read-only) and `upper` (the task's writes) on `target`.
/// Returns 0 or -1 with errno (ENODEV: no overlayfs here).
int tasker_mount_overlay(const char *lower, const char *upper, const char *work, const char *target, int flags);
/// Mounts an overlay of `count` read-only layers (`lowers[0]` on top) and `upper` on `target`:
/// `fsopen("overlay")` with one `lowerdir+` per layer, else (EINVAL, ENOSYS) the option string.
/// Returns 0 or -1 with errno.
int tasker_mount_overlay_layers(const char *const *lowers, int count, const char *upper, const char *work,
                                const char *target, int flags);
/// umount2(path, MNT_DETACH) until nothing is mounted there. Returns how many were detached.
int tasker_unmount_all(const char *path);

/// Loads libarchive now rather than on first use (lazy.c): tasker-unpack does it before it
/// confines itself, after which no library could be opened. Its functions are then looked up
/// in the loaded library (dlsym), which needs no file.
void tasker_load_archive(void);
/// Loads libcrypto now (tasker-unpack in layer mode: before it confines itself).
void tasker_load_crypto(void);

/// Linux-only open/at flags the Glibc module does not export.
extern const int TASKER_O_PATH;
extern const int TASKER_AT_EMPTY_PATH;

/// posix_spawn(3) of `path` with `fds[i]` installed as descriptor i in the child (i < nfds),
/// every other descriptor closed, signal mask empty and every signal at its default action.
/// Returns 0 and sets *pid, or an errno value.
int tasker_spawn(const char *path, char *const argv[], char *const envp[], const int *fds,
                 int nfds, pid_t *pid);

/// One http(s) download: what to ask, and what came back.
struct tasker_http_request {
  const char *url;
  /// A stream socket the body is sent to (MSG_NOSIGNAL: a closed reader ends the transfer).
  int fd;
  /// A transfer that moves no byte for this long fails.
  long stall_seconds;
  long max_redirects;
  /// Validators of a copy already held (NULL if none): the server may answer 304.
  const char *if_none_match;
  const char *if_modified_since;
  /// Extra request headers, each ending in "\n" (Accept, Authorization, Range), or NULL. libcurl
  /// sends a custom Authorization only to the first host: never to a redirect's other host.
  const char *headers;
  /// Non-zero: HEAD (no body).
  int head;
  /// Non-zero: an HTTP error status is answered like any other (its headers and body reach the
  /// caller) instead of failing the transfer.
  int keep_errors;
  /// A response body longer than this fails (announced: at its headers; else once exceeded),
  /// with `too_large` set. 0: no bound.
  long long max_body;
  /// TLS: the trusted CAs as PEM bytes (NULL: the system's), a client certificate and key (PEM
  /// files, or NULL), and `insecure` non-zero to check neither the peer nor its name.
  const char *ca_pem;
  size_t ca_pem_length;
  const char *client_cert;
  const char *client_key;
  int insecure;
  /// The final response: status, validators, announced length (-1 if none).
  long status;
  char etag[256];
  char last_modified[64];
  long long content_length;
  /// The registry protocol's headers of the final response ("" when absent).
  char content_type[256];
  char docker_content_digest[128];
  char www_authenticate[2048];
  char retry_after[64];
  char content_range[128];
  /// Where the last response came from (after redirects).
  char final_url[2048];
  /// Set when the headers of the final response are all in (before any body byte is sent).
  volatile int headers_done;
  int too_large;
  /// Body bytes received so far (read by a progress display while the transfer runs).
  volatile long long received;
  char error[512];
};

/// Downloads `request->url` (http or https only; redirects followed up to `max_redirects`, to
/// http or https only). Returns a CURLcode; on failure `error` holds a message.
int tasker_http_fetch(struct tasker_http_request *request);

/// Reads `data` as a response's header lines, as tasker_http_fetch's header callback does
/// (status, validators, length, registry headers; a redirect's or 1xx's headers reset by the
/// next status line). Returns 0, or -1 when a body announced over `max_body` is refused
/// (`too_large`). For the fuzz target and its replay in the tests.
int tasker_http_read_headers(struct tasker_http_request *request, const char *data, size_t length);

/// Puts the calling process, which must be single-threaded, in a new user namespace and then a
/// new mount namespace owned by it, with every mount private. The maps: with `uid_tool` (the
/// argv of newuidmap, PID slot at [1], and `gid_tool`'s of newgidmap), written by those tools
/// from a helper forked before the unshare; without, `uid_map` and `gid_map` (one line each,
/// the caller's own ids) written by the process itself after denying setgroups.
/// Returns 0; -1 when the unshare or fork failed (errno); -2 when a map tool failed (it printed
/// why); -3 when a map could not be written (errno); -4 when the mount namespace failed (errno).
int tasker_enter_user_namespace(char *const uid_tool[], char *const gid_tool[], const char *uid_map,
                                const char *gid_map);

#endif
