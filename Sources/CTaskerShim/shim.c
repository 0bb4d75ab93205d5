#define _GNU_SOURCE
#include "tasker_shim.h"

#include "lazy_curl.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

const uint64_t TASKER_RESOLVE_IN_ROOT = RESOLVE_IN_ROOT;
const uint64_t TASKER_RESOLVE_NO_MAGICLINKS = RESOLVE_NO_MAGICLINKS;
const uint64_t TASKER_RESOLVE_NO_SYMLINKS = RESOLVE_NO_SYMLINKS;
const uint64_t TASKER_RESOLVE_BENEATH = RESOLVE_BENEATH;

const int TASKER_O_PATH = O_PATH;
const int TASKER_AT_EMPTY_PATH = AT_EMPTY_PATH;

int tasker_rename_noreplace(const char *from, const char *to) {
  return renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE);
}

int tasker_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int tasker_become_subreaper(void) { return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

int tasker_connect_unix(const char *path) {
  struct sockaddr_un address = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof address.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(address.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

int tasker_make_mount_point(const char *path, int nodev) {
  // A bind of the directory onto itself: the copied root becomes a mount, which pivot_root needs
  // and which a detached clone (tasker_attach_view) can be made of.
  if (mount(path, path, NULL, MS_BIND, NULL) != 0) return -1;
  if (nodev && mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_NODEV, NULL) != 0) {
    int saved = errno;
    umount2(path, MNT_DETACH);
    errno = saved;
    return -1;
  }
  return 0;
}

#ifndef MOUNT_ATTR_NOSUID
#define MOUNT_ATTR_NOSUID 0x00000002
#define MOUNT_ATTR_NODEV 0x00000004
#endif
#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif

struct tasker_mount_attr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

int tasker_attach_view(int rootfd, int targetfd) {
  // A detached copy of the root's mount, made nosuid,nodev before it is attached anywhere, then
  // moved onto the directory that TARGETFD holds: no moment exists at which a set-user-ID file
  // of the task is reachable from the download path, and no path is looked up again.
  int tree = (int)syscall(SYS_open_tree, rootfd, "", OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH);
  if (tree < 0) return -1;
  struct tasker_mount_attr attr = {.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV};
  int rc = (int)syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr);
  if (rc == 0)
    rc = (int)syscall(SYS_move_mount, tree, "", targetfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
  int saved = errno;
  close(tree);
  errno = saved;
  return rc;
}

int tasker_clone_tree(int fd, uint64_t attributes) {
  // A detached, recursive copy of the mount tree at FD's file (bound as that object: no path is
  // looked up again), its flags set before it is attached anywhere. Made in the host's mount
  // namespace, where the source lives; the jail's init moves it onto its target.
  int tree = (int)syscall(SYS_open_tree, fd, "", OPEN_TREE_CLONE | O_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
  if (tree < 0) return -1;
  struct tasker_mount_attr attr = {.attr_set = attributes, .propagation = MS_PRIVATE};
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0) {
    int saved = errno;
    close(tree);
    errno = saved;
    return -1;
  }
  return tree;
}

int tasker_unmount_fd(int fd) {
  // The mount that FD's file is the root of (an O_PATH descriptor opened without following
  // links): unmounted through the descriptor's magic link, never through a path.
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  return umount2(path, MNT_DETACH);
}

int tasker_memfd(const char *name, const void *bytes, size_t length) {
  int fd = memfd_create(name, MFD_CLOEXEC);
  if (fd < 0) return -1;
  size_t done = 0;
  while (done < length) {
    ssize_t n = write(fd, (const char *)bytes + done, length - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int saved = errno;
      close(fd);
      errno = saved;
      return -1;
    }
    done += (size_t)n;
  }
  if (lseek(fd, 0, SEEK_SET) != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

int tasker_sealed_copy(const char *path) {
  // The supervisor runs from a sealed memory copy of its file (as runc does since
  // CVE-2019-5736): /proc/PID/exe of the init and of a command that re-executes it leads to that
  // copy, which no one can write, never to the host's binary.
  int in = open(path, O_RDONLY | O_CLOEXEC);
  if (in < 0) return -1;
  struct stat info;
  int fd = -1;
  if (fstat(in, &info) == 0) fd = memfd_create("tasker-supervisor", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  off_t offset = 0;
  while (fd >= 0 && offset < info.st_size) {
    ssize_t n = sendfile(fd, in, &offset, (size_t)(info.st_size - offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) errno = EIO;
      int saved = errno;
      close(fd);
      fd = -1;
      errno = saved;
    }
  }
  int saved = errno;
  close(in);
  errno = saved;
  if (fd >= 0 && fcntl(fd, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0) {
    saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

ssize_t tasker_copy_file_range(int in, int out, size_t length) {
  return copy_file_range(in, NULL, out, NULL, length, 0);
}

int tasker_mount_overlay(const char *lower, const char *upper, const char *work, const char *target, int flags) {
  // The option string separates with ',' and ':'; paths holding them cannot be said there.
  for (const char *const *p = (const char *const[]){lower, upper, work, NULL}; *p; p++)
    if (strpbrk(*p, ",:\\") != NULL) {
      errno = EINVAL;
      return -1;
    }
  char options[8192];
  int n = snprintf(options, sizeof options, "lowerdir=%s,upperdir=%s,workdir=%s%s", lower, upper, work,
                   flags & TASKER_OVERLAY_USERXATTR ? ",userxattr" : "");
  if (n < 0 || (size_t)n >= sizeof options) {
    errno = ENAMETOOLONG;
    return -1;
  }
  // Set-user-ID stays (the task's root, inside the root-only state directory); the download
  // path's view is nosuid,nodev (tasker_attach_view).
  return mount("overlay", target, "overlay", flags & TASKER_OVERLAY_NODEV ? MS_NODEV : 0, options);
}

// The new mount API's constants, by value: <linux/mount.h> clashes with glibc's <sys/mount.h>.
#define TASKER_FSCONFIG_SET_FLAG 0
#define TASKER_FSCONFIG_SET_STRING 1
#define TASKER_FSCONFIG_CMD_CREATE 6
#define TASKER_FSMOUNT_CLOEXEC 1
#define TASKER_MOUNT_ATTR_NODEV 0x00000004

// lowerdir+ (one layer per call, kernel 6.8+) has no bound on the number of layers but the
// kernel's (500); the option string of mount(2) is one page, which some forty layers under a
// long state root fill.
static int overlay_by_fsconfig(const char *const *lowers, int count, const char *upper, const char *work,
                               const char *target, int flags) {
  int fs = (int)syscall(SYS_fsopen, "overlay", 1 /* FSOPEN_CLOEXEC */);
  if (fs < 0) return -1;
  int rc = 0;
  for (int i = 0; rc == 0 && i < count; i++)
    rc = (int)syscall(SYS_fsconfig, fs, TASKER_FSCONFIG_SET_STRING, "lowerdir+", lowers[i], 0);
  if (rc == 0) rc = (int)syscall(SYS_fsconfig, fs, TASKER_FSCONFIG_SET_STRING, "upperdir", upper, 0);
  if (rc == 0) rc = (int)syscall(SYS_fsconfig, fs, TASKER_FSCONFIG_SET_STRING, "workdir", work, 0);
  if (rc == 0 && (flags & TASKER_OVERLAY_USERXATTR))
    rc = (int)syscall(SYS_fsconfig, fs, TASKER_FSCONFIG_SET_FLAG, "userxattr", NULL, 0);
  if (rc == 0) rc = (int)syscall(SYS_fsconfig, fs, TASKER_FSCONFIG_CMD_CREATE, NULL, NULL, 0);
  int mnt = -1;
  if (rc == 0) {
    mnt = (int)syscall(SYS_fsmount, fs, TASKER_FSMOUNT_CLOEXEC, flags & TASKER_OVERLAY_NODEV ? TASKER_MOUNT_ATTR_NODEV : 0);
    if (mnt < 0) rc = -1;
  }
  int saved = errno;
  close(fs);
  if (rc == 0) {
    rc = (int)syscall(SYS_move_mount, mnt, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH);
    saved = errno;
  }
  if (mnt >= 0) close(mnt);
  errno = saved;
  return rc;
}

int tasker_mount_overlay_layers(const char *const *lowers, int count, const char *upper, const char *work,
                                const char *target, int flags) {
  if (count < 1) {
    errno = EINVAL;
    return -1;
  }
  if (overlay_by_fsconfig(lowers, count, upper, work, target, flags) == 0) return 0;
  // ENOSYS (no new mount API) or EINVAL (an overlayfs without lowerdir+, before 6.8): the
  // option string, where the layers fit in it. Anything else (ENODEV: no overlayfs) is the answer.
  if (errno != EINVAL && errno != ENOSYS) return -1;
  char options[4096];
  size_t used = (size_t)snprintf(options, sizeof options, "lowerdir=");
  for (int i = 0; i < count; i++) {
    if (strpbrk(lowers[i], ",:\\") != NULL) {
      errno = EINVAL;
      return -1;
    }
    int n = snprintf(options + used, sizeof options - used, "%s%s", i == 0 ? "" : ":", lowers[i]);
    if (n < 0 || (size_t)n >= sizeof options - used) {
      errno = ENAMETOOLONG;
      return -1;
    }
    used += (size_t)n;
  }
  if (strpbrk(upper, ",:\\") != NULL || strpbrk(work, ",:\\") != NULL) {
    errno = EINVAL;
    return -1;
  }
  int n = snprintf(options + used, sizeof options - used, ",upperdir=%s,workdir=%s%s", upper, work,
                   flags & TASKER_OVERLAY_USERXATTR ? ",userxattr" : "");
  if (n < 0 || (size_t)n >= sizeof options - used) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return mount("overlay", target, "overlay", flags & TASKER_OVERLAY_NODEV ? MS_NODEV : 0, options);
}

int tasker_unmount_all(const char *path) {
  int count = 0;
  while (count < 64 && umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) == 0) count++;
  return count;
}

int tasker_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int tasker_pidfd_send_signal(int pidfd, int sig) {
  return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

int tasker_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
  struct open_how how = {.flags = flags, .mode = mode, .resolve = resolve};
  int fd;
  do {
    fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  } while (fd < 0 && errno == EAGAIN);
  return fd;
}

int tasker_getrandom(void *buf, size_t len) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = getrandom((char *)buf + done, len - done, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    done += (size_t)n;
  }
  return 0;
}

int tasker_spawn(const char *path, char *const argv[], char *const envp[], const int *fds,
                 int nfds, pid_t *pid) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  int rc = posix_spawn_file_actions_init(&actions);
  if (rc != 0) return rc;
  rc = posix_spawnattr_init(&attr);
  if (rc != 0) {
    posix_spawn_file_actions_destroy(&actions);
    return rc;
  }
  // The source descriptors may sit on the slots they are meant for (or on each other's):
  // first move each to a slot above every source and above nfds, then onto its target, so no
  // dup2 clobbers another. (A fixed base such as 100 is not enough: a process with many open
  // descriptors, a pull of many layers say, has sources there.)
  int base = nfds;
  for (int i = 0; i < nfds; i++)
    if (fds[i] >= base) base = fds[i] + 1;
  for (int i = 0; i < nfds && rc == 0; i++)
    rc = posix_spawn_file_actions_adddup2(&actions, fds[i], base + i);
  for (int i = 0; i < nfds && rc == 0; i++)
    rc = posix_spawn_file_actions_adddup2(&actions, base + i, i);
  if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, nfds);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &all);
  if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &none);
  if (rc == 0)
    rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  if (rc == 0) rc = posix_spawn(pid, path, &actions, &attr, argv, envp);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  return rc;
}

struct sink {
  struct tasker_http_request *request;
  curl_off_t last_bytes;
  struct timespec last_progress;
  int stalled;
};

static double seconds_since(const struct timespec *then) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - then->tv_sec) + (double)(now.tv_nsec - then->tv_nsec) / 1e9;
}

// libcurl's own low-speed check averages over a window and fires seconds late; this one ends
// the transfer once no byte has arrived for exactly `stall_seconds`.
static int watch_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                          curl_off_t ulnow) {
  (void)dltotal;
  (void)ultotal;
  (void)ulnow;
  struct sink *sink = user;
  if (dlnow != sink->last_bytes) {
    sink->last_bytes = dlnow;
    clock_gettime(CLOCK_MONOTONIC, &sink->last_progress);
    return 0;
  }
  if (seconds_since(&sink->last_progress) >= (double)sink->request->stall_seconds) {
    sink->stalled = 1;
    return 1;  // CURLE_ABORTED_BY_CALLBACK
  }
  return 0;
}

static size_t write_to_socket(char *data, size_t size, size_t count, void *user) {
  struct sink *sink = user;
  size_t total = size * count, done = 0;
  sink->request->received += (long long)total;
  if (sink->request->max_body > 0 && sink->request->received > sink->request->max_body) {
    sink->request->too_large = 1;
    return 0;  // CURLE_WRITE_ERROR: a body past its bound is never held whole
  }
  while (done < total) {
    ssize_t n = send(sink->request->fd, data + done, total - done, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return 0;  // the reader went away: curl ends the transfer with CURLE_WRITE_ERROR
    }
    done += (size_t)n;
  }
  return total;
}


// Copies a header's value (after "name:") without surrounding blanks.
static void header_value(const char *line, size_t len, size_t skip, char *out, size_t out_len) {
  size_t start = skip, end = len;
  while (start < end && (line[start] == ' ' || line[start] == '\t')) start++;
  while (end > start && (line[end - 1] == '\r' || line[end - 1] == '\n' || line[end - 1] == ' ')) end--;
  snprintf(out, out_len, "%.*s", (int)(end - start), line + start);
}

static int header_is(const char *line, size_t len, const char *name) {
  size_t n = strlen(name);
  return len > n && strncasecmp(line, name, n) == 0;
}

// Keeps the final response's headers (a redirect or a 100 starts a new response).
static size_t read_header(char *line, size_t size, size_t count, void *user) {
  struct tasker_http_request *request = user;
  size_t len = size * count;
  if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
    request->etag[0] = '\0';
    request->last_modified[0] = '\0';
    request->content_type[0] = '\0';
    request->docker_content_digest[0] = '\0';
    request->www_authenticate[0] = '\0';
    request->retry_after[0] = '\0';
    request->content_range[0] = '\0';
    request->content_length = -1;
    // The status code, read within the line: libcurl's line is not NUL-terminated (strtol ran
    // past a line that ended in its digits; found by the headers fuzz target).
    const char *space = memchr(line, ' ', len);
    long status = 0;
    for (const char *p = space ? space + 1 : line + len; p < line + len && *p >= '0' && *p <= '9' && status < 1000; p++)
      status = status * 10 + (*p - '0');
    request->status = status;
  } else if (len <= 2 && (line[0] == '\r' || line[0] == '\n')) {
    // The end of a response's headers: a redirect's or a 1xx's is not the last one.
    long status = request->status;
    int redirect = status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
    if (status >= 200 && !redirect) {
      if (request->max_body > 0 && request->content_length > request->max_body && !request->head) {
        request->too_large = 1;
        return 0;  // refused from its announced length, before a byte of the body
      }
      request->headers_done = 1;
    }
  } else if (header_is(line, len, "etag:")) {
    header_value(line, len, 5, request->etag, sizeof request->etag);
  } else if (header_is(line, len, "last-modified:")) {
    header_value(line, len, 14, request->last_modified, sizeof request->last_modified);
  } else if (header_is(line, len, "content-length:")) {
    char value[32];
    header_value(line, len, 15, value, sizeof value);
    request->content_length = strtoll(value, NULL, 10);
  } else if (header_is(line, len, "content-type:")) {
    header_value(line, len, 13, request->content_type, sizeof request->content_type);
  } else if (header_is(line, len, "docker-content-digest:")) {
    header_value(line, len, 22, request->docker_content_digest, sizeof request->docker_content_digest);
  } else if (header_is(line, len, "www-authenticate:")) {
    // Several challenges may come as several headers: joined with ", " as RFC 9110 allows.
    char value[2048];
    header_value(line, len, 17, value, sizeof value);
    size_t used = strlen(request->www_authenticate);
    snprintf(request->www_authenticate + used, sizeof request->www_authenticate - used, "%s%s",
             used ? ", " : "", value);
  } else if (header_is(line, len, "retry-after:")) {
    header_value(line, len, 12, request->retry_after, sizeof request->retry_after);
  } else if (header_is(line, len, "content-range:")) {
    header_value(line, len, 14, request->content_range, sizeof request->content_range);
  }
  return len;
}

int tasker_http_read_headers(struct tasker_http_request *request, const char *data, size_t length) {
  request->status = 0;
  request->content_length = -1;
  request->headers_done = 0;
  request->too_large = 0;
  size_t start = 0;
  while (start < length) {
    const char *newline = memchr(data + start, '\n', length - start);
    size_t end = newline ? (size_t)(newline - data) + 1 : length;
    // libcurl hands the callback one line at a time, with its line ending, never NUL-terminated.
    if (read_header((char *)data + start, 1, end - start, request) != end - start) return -1;
    start = end;
  }
  return 0;
}

#ifdef TASKER_FUZZ_HEADERS
// libFuzzer (scripts/fuzz.sh --target headers, with AddressSanitizer and UBSan): any bytes as a
// response's header lines. Every kept value is a NUL-terminated string inside its field, and a
// response is refused only for a body announced over the bound.
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct tasker_http_request request;
  memset(&request, 0x55, sizeof request);  // what the last response left: never read as a string
  request.max_body = 1000;
  request.head = 0;
  request.etag[0] = request.last_modified[0] = request.content_type[0] = '\0';
  request.docker_content_digest[0] = request.www_authenticate[0] = '\0';
  request.retry_after[0] = request.content_range[0] = '\0';
  int rc = tasker_http_read_headers(&request, (const char *)data, size);
  const char *fields[] = {request.etag, request.last_modified, request.content_type,
                          request.docker_content_digest, request.www_authenticate, request.retry_after,
                          request.content_range};
  size_t sizes[] = {sizeof request.etag, sizeof request.last_modified, sizeof request.content_type,
                    sizeof request.docker_content_digest, sizeof request.www_authenticate,
                    sizeof request.retry_after, sizeof request.content_range};
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
    if (memchr(fields[i], '\0', sizes[i]) == NULL) __builtin_trap();
  // Refused (rc -1) only for a body announced over max_body, once the headers ended.
  if (rc != 0 && !(request.too_large && request.content_length > request.max_body)) __builtin_trap();
  return 0;
}
#endif

int tasker_http_fetch(struct tasker_http_request *request) {
  tasker_load_curl();
  request->status = 0;
  request->content_length = -1;
  request->received = 0;
  request->error[0] = '\0';
  request->final_url[0] = '\0';
  request->too_large = 0;
  request->headers_done = 0;
  CURL *curl = tasker_curl.easy_init();
  if (curl == NULL) {
    snprintf(request->error, sizeof request->error, "cannot initialise libcurl");
    return CURLE_FAILED_INIT;
  }
  char curl_err[CURL_ERROR_SIZE] = {0};
  struct sink sink = {.request = request};
  clock_gettime(CLOCK_MONOTONIC, &sink.last_progress);
  struct curl_slist *headers = NULL;
  char header[4096];
  if (request->if_none_match && *request->if_none_match) {
    snprintf(header, sizeof header, "If-None-Match: %s", request->if_none_match);
    headers = tasker_curl.slist_append(headers, header);
  }
  if (request->if_modified_since && *request->if_modified_since) {
    snprintf(header, sizeof header, "If-Modified-Since: %s", request->if_modified_since);
    headers = tasker_curl.slist_append(headers, header);
  }
  for (const char *line = request->headers; line && *line;) {
    const char *end = strchr(line, '\n');
    size_t length = end ? (size_t)(end - line) : strlen(line);
    snprintf(header, sizeof header, "%.*s", (int)length, line);
    if (length > 0) headers = tasker_curl.slist_append(headers, header);
    line += length + (end ? 1 : 0);
  }
  tasker_curl.easy_setopt(curl, CURLOPT_URL, request->url);
  tasker_curl.easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
  tasker_curl.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  tasker_curl.easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  tasker_curl.easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  tasker_curl.easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  tasker_curl.easy_setopt(curl, CURLOPT_MAXREDIRS, request->max_redirects);
  // A custom Authorization header goes to the first host only (libcurl's rule unless told).
  tasker_curl.easy_setopt(curl, CURLOPT_UNRESTRICTED_AUTH, 0L);
  tasker_curl.easy_setopt(curl, CURLOPT_FAILONERROR, request->keep_errors ? 0L : 1L);
  if (request->head) tasker_curl.easy_setopt(curl, CURLOPT_NOBODY, 1L);
  tasker_curl.easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, request->stall_seconds);
  tasker_curl.easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  tasker_curl.easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, watch_progress);
  tasker_curl.easy_setopt(curl, CURLOPT_XFERINFODATA, &sink);
  tasker_curl.easy_setopt(curl, CURLOPT_USERAGENT, "tasker");
  tasker_curl.easy_setopt(curl, CURLOPT_BUFFERSIZE, 256L * 1024L);
  tasker_curl.easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_to_socket);
  tasker_curl.easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  tasker_curl.easy_setopt(curl, CURLOPT_HEADERFUNCTION, read_header);
  tasker_curl.easy_setopt(curl, CURLOPT_HEADERDATA, request);
  struct curl_blob ca = {.data = (void *)request->ca_pem, .len = request->ca_pem_length,
                         .flags = CURL_BLOB_COPY};
  if (request->ca_pem) tasker_curl.easy_setopt(curl, CURLOPT_CAINFO_BLOB, &ca);
  if (request->client_cert) tasker_curl.easy_setopt(curl, CURLOPT_SSLCERT, request->client_cert);
  if (request->client_key) tasker_curl.easy_setopt(curl, CURLOPT_SSLKEY, request->client_key);
  if (request->insecure) {
    tasker_curl.easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
    tasker_curl.easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (headers) tasker_curl.easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = tasker_curl.easy_perform(curl);
  tasker_curl.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &request->status);
  char *final_url = NULL;
  if (tasker_curl.easy_getinfo(curl, CURLINFO_EFFECTIVE_URL, &final_url) == CURLE_OK && final_url)
    snprintf(request->final_url, sizeof request->final_url, "%s", final_url);
  if (rc == CURLE_ABORTED_BY_CALLBACK && sink.stalled) {
    snprintf(request->error, sizeof request->error, "no data received for %ld seconds",
             request->stall_seconds);
    rc = CURLE_OPERATION_TIMEDOUT;
  } else if (request->too_large) {
    snprintf(request->error, sizeof request->error, "the response is longer than %lld bytes",
             request->max_body);
  } else if (rc != CURLE_OK) {
    snprintf(request->error, sizeof request->error, "%s",
             curl_err[0] ? curl_err : tasker_curl.easy_strerror(rc));
  }
  tasker_curl.easy_cleanup(curl);
  if (headers) tasker_curl.slist_free_all(headers);
  return (int)rc;
}

int tasker_receive_fd(int sock) {
  char byte[64];
  char control[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {byte, sizeof byte};
  struct msghdr message = {0};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(sock, &message, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return -1;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
      int fd;
      memcpy(&fd, CMSG_DATA(c), sizeof fd);
      return fd;
    }
  errno = EPROTO;
  return -1;
}

int tasker_window_size(int fd, unsigned short *rows, unsigned short *cols) {
  struct winsize size;
  if (ioctl(fd, TIOCGWINSZ, &size) != 0) return -1;
  *rows = size.ws_row;
  *cols = size.ws_col;
  return 0;
}

int tasker_set_window_size(int fd, unsigned short rows, unsigned short cols) {
  struct winsize size = {.ws_row = rows, .ws_col = cols};
  return ioctl(fd, TIOCSWINSZ, &size);
}

// Writes all of `text` to the file at `path` (a /proc/self map file) in one write(2), as the
// kernel wants a map.
static int write_proc_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t length = (ssize_t)strlen(text);
  ssize_t n = write(fd, text, (size_t)length);
  int saved = errno;
  close(fd);
  errno = saved;
  return n == length ? 0 : -1;
}

// Runs argv (newuidmap or newgidmap) with argv[1] replaced by `pid`, waits, and says whether it
// succeeded. Called in the helper child, which is single-threaded: fork and exec are safe there.
static int run_map_tool(char *const argv[], const char *pid) {
  int count = 0;
  while (argv[count] != NULL) count++;
  char **copy = calloc((size_t)count + 1, sizeof *copy);
  if (copy == NULL) return -1;
  for (int i = 0; i < count; i++) copy[i] = i == 1 ? (char *)pid : argv[i];
  pid_t child = fork();
  if (child < 0) return -1;
  if (child == 0) {
    execv(copy[0], copy);
    _exit(127);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int tasker_enter_user_namespace(char *const uid_tool[], char *const gid_tool[], const char *uid_map,
                                const char *gid_map) {
  int to_helper[2] = {-1, -1};
  pid_t helper = -1;
  if (uid_tool != NULL) {
    // The maps of a namespace with more than the caller's own id can only be written from the
    // parent namespace by a tool with CAP_SETUID there (newuidmap is set-user-ID root, and
    // checks /etc/subuid): a child made before the unshare, told to go when it has happened.
    if (pipe2(to_helper, O_CLOEXEC) != 0) return -1;
    pid_t parent = getpid();
    helper = fork();
    if (helper < 0) {
      close(to_helper[0]);
      close(to_helper[1]);
      return -1;
    }
    if (helper == 0) {
      close(to_helper[1]);
      char go = 0;
      ssize_t n;
      while ((n = read(to_helper[0], &go, 1)) < 0 && errno == EINTR) {}
      if (n != 1 || go != 'g') _exit(2);
      char pid[24];
      snprintf(pid, sizeof pid, "%d", (int)parent);
      _exit(run_map_tool(uid_tool, pid) == 0 && run_map_tool(gid_tool, pid) == 0 ? 0 : 1);
    }
    close(to_helper[0]);
  }
  int rc = unshare(CLONE_NEWUSER);
  int saved = errno;
  if (helper > 0) {
    // Told to go only if the namespace exists; told nothing (EOF), it exits.
    if (rc == 0) (void)!write(to_helper[1], "g", 1);
    close(to_helper[1]);
    int status = 0;
    while (waitpid(helper, &status, 0) < 0 && errno == EINTR) {}
    if (rc == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      errno = EPERM;
      return -2;
    }
  }
  if (rc != 0) {
    errno = saved;
    return -1;
  }
  if (uid_tool == NULL) {
    // One id each way, written by this process itself: allowed without a tool once setgroups
    // is denied (so the group the user leaves behind cannot be dropped to read what it bars).
    if (write_proc_file("/proc/self/setgroups", "deny") != 0) return -3;
    if (write_proc_file("/proc/self/uid_map", uid_map) != 0) return -3;
    if (write_proc_file("/proc/self/gid_map", gid_map) != 0) return -3;
  }
  if (unshare(CLONE_NEWNS) != 0) return -4;
  // Nothing mounted from here on reaches the mount namespace tasker came from.
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return -4;
  return 0;
}
