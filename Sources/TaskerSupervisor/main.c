// tasker-supervisor: the small process that stays with one task for its whole life.
//
//   tasker-supervisor STATE_DIR ROOTFS WORKDIR -- COMMAND [ARG...]
//
// Descriptors on entry: 0 the task's stdin, 1 and 2 its stdout and stderr, 3 the report pipe.
// The environment is the command's environment.
//
// It detaches (fork, the first half exits, setsid), forks the command into ROOTFS, tells the
// creator over fd 3 either "ok PID STARTTIME SUPERVISOR_PID SUPERVISOR_STARTTIME" or
// "error STEP ERRNO", then waits for the command
// and records its end in STATE_DIR/exit.json (written to a temporary name, then renamed).
//
// Written in C and linked statically so that a thousand idle tasks cost a thousand small
// processes, not a thousand Swift runtimes. It is single-threaded, so after fork the child may
// call anything; still it calls only what the exec path needs.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { REPORT_FD = 3 };

struct failure {
  int step;
  int err;
};

enum step { STEP_CHROOT = 1, STEP_CHDIR, STEP_EXEC, STEP_FORK, STEP_STATE, STEP_PIPE, STEP_USAGE };

static const char *step_name(int step) {
  switch (step) {
    case STEP_CHROOT: return "chroot";
    case STEP_CHDIR: return "chdir";
    case STEP_EXEC: return "exec";
    case STEP_FORK: return "fork";
    case STEP_STATE: return "state";
    case STEP_PIPE: return "pipe";
    default: return "usage";
  }
}

static void report_failure(int step, int err) {
  dprintf(REPORT_FD, "error %s %d\n", step_name(step), err);
  _exit(1);
}

// Field 22 of /proc/PID/stat: the process's start time in clock ticks after boot. With the PID
// it names one process for good: a later process that reuses the PID starts later.
static unsigned long long start_time(pid_t pid) {
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  if (p == NULL) return 0;
  p++;
  // After ")" come fields 3, 4, ...; the start time is field 22.
  for (int field = 3; field < 22 && p != NULL; field++) p = strchr(p + 1, ' ');
  return p ? strtoull(p + 1, NULL, 10) : 0;
}

static void write_exit_record(int statefd, int status) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  char body[256];
  int len;
  double finished = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
  if (WIFSIGNALED(status))
    len = snprintf(body, sizeof body,
                   "{\"exitCode\":null,\"signal\":%d,\"finishedAt\":%.6f}\n",
                   WTERMSIG(status), finished);
  else
    len = snprintf(body, sizeof body, "{\"exitCode\":%d,\"signal\":null,\"finishedAt\":%.6f}\n",
                   WEXITSTATUS(status), finished);
  int fd = openat(statefd, "exit.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;  // the task was removed meanwhile: nothing left to record into
  ssize_t written = write(fd, body, (size_t)len);
  close(fd);
  if (written == len) renameat(statefd, "exit.json.tmp", statefd, "exit.json");
}

static void run_child(const char *rootfs, const char *workdir, char **command, int failfd) {
  struct failure failure = {0, 0};
  // Every other descriptor is the supervisor's business: mark them close-on-exec so the
  // command starts with exactly 0, 1 and 2, and the failure pipe closes when exec succeeds.
  syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
  if (chroot(rootfs) != 0) {
    failure = (struct failure){STEP_CHROOT, errno};
  } else if (chdir(workdir) != 0) {
    failure = (struct failure){STEP_CHDIR, errno};
  } else {
    // execvp searches the PATH of this process's environment, which is the command's.
    execvp(command[0], command);
    failure = (struct failure){STEP_EXEC, errno};
  }
  ssize_t ignored = write(failfd, &failure, sizeof failure);
  (void)ignored;
  _exit(127);
}

int main(int argc, char **argv) {
  if (argc < 6 || strcmp(argv[4], "--") != 0) {
    fprintf(stderr, "usage: tasker-supervisor STATE_DIR ROOTFS WORKDIR -- COMMAND [ARG...]\n");
    return 2;
  }
  const char *state_dir = argv[1], *rootfs = argv[2], *workdir = argv[3];
  char **command = argv + 5;

  // Detach from the creator: the first half exits at once (the creator reaps it), the second
  // half is adopted by init (or the nearest subreaper) and leaves the creator's session.
  pid_t detached = fork();
  if (detached < 0) report_failure(STEP_FORK, errno);
  if (detached > 0) _exit(0);
  setsid();

  int statefd = open(state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (statefd < 0) report_failure(STEP_STATE, errno);
  int failpipe[2];
  if (pipe2(failpipe, O_CLOEXEC) != 0) report_failure(STEP_PIPE, errno);

  pid_t child = fork();
  if (child < 0) report_failure(STEP_FORK, errno);
  if (child == 0) run_child(rootfs, workdir, command, failpipe[1]);
  close(failpipe[1]);

  // EOF on the failure pipe means exec succeeded (the pipe is close-on-exec).
  struct failure failure;
  ssize_t n;
  do {
    n = read(failpipe[0], &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  close(failpipe[0]);
  if (n == (ssize_t)sizeof failure) {
    waitpid(child, NULL, 0);
    report_failure(failure.step, failure.err);
  }
  // The child is not reaped yet, so its /proc entry is still there even if it already exited.
  dprintf(REPORT_FD, "ok %d %llu %d %llu\n", (int)child, start_time(child), (int)getpid(),
          start_time(getpid()));
  close(REPORT_FD);

  // The supervisor keeps none of the task's streams: a reader of the logs sees EOF when the
  // command and its children are done with them.
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0) {
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    if (devnull > 2) close(devnull);
  }

  int status;
  pid_t waited;
  do {
    waited = waitpid(child, &status, 0);
  } while (waited < 0 && errno == EINTR);
  if (waited == child) write_exit_record(statefd, status);
  return 0;
}
