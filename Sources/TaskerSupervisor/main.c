// tasker-supervisor: the small process that stays with one task for its whole life.
//
//   tasker-supervisor -- COMMAND [ARG...]
//   tasker-supervisor --print-plan          (reads a plan on stdin, prints what it parsed)
//
// Descriptors on entry: 0 the task's stdin, 1 and 2 its stdout and stderr, 3 the report pipe,
// 4 the plan (below), 5 the task's state directory, 6 the task's root directory (the mount in
// the root-only state directory; never a path the download path's owner could swap), and 7
// the sealed memory copy of this program that it was started from (closed at once). The
// environment is the command's environment.
//
// It detaches (fork, the first half exits, setsid), starts the command in the root, tells the
// creator over fd 3 either
//     ok CMD_PID CMD_START SUPERVISOR_PID SUPERVISOR_START INIT_PID INIT_START
// or  error STEP ERRNO DETAIL
// then waits for the command and records its end in exit.json of the state directory (written
// to a temporary name, then renamed).
//
// The plan is one versioned document (Sources/Tasker/JailPlan+Document.swift writes it): lines
// of tab-separated fields, each field percent-encoded (%25 %09 %0A), the first line
// "tasker-plan<TAB>1", the last "end". Records:
//     isolation jail|chroot       chroot: chroot(2) only, as the original tool; jail: below
//     workdir PATH                the command's working directory, inside the root
//     report-rootfs PATH          the task's directory as the user sees it (for the report only)
//     namespaces FLAGS            CLONE_NEW* flags for the init (decimal)
//     cgroupns                    a cgroup namespace, entered once the init sits in its cgroups
//     cgroup-parent PATH          a parent cgroup, made if missing (never removed)
//     cgroup PATH REQUIRED V2     the task's cgroup: made, joined, removed at the end; a v2 one
//                                 is the init's birthplace (CLONE_INTO_CGROUP)
//     cgroup-write FILE VALUE OPTIONAL   a limit, written before any process is inside
//     mkdir PATH MODE             (every PATH inside the root is resolved without following
//     mount SRC PATH TYPE FLAGS DATA      symlinks, so the image cannot redirect it)
//     bind HOSTPATH PATH READONLY
//     symlink TARGET PATH
//     readonly PATH               bind PATH onto itself read-only (skipped if PATH is missing)
//     mask PATH                   hide PATH under /dev/null or an empty read-only tmpfs (ditto)
//     hostname NAME
//     loopback-up
//     network-setup WORD...       a host-side command that connects the task's network namespace
//                                 (pasta), run once the init is in its cgroups and before it is
//                                 released; in its words {netns} becomes a path to the init's
//                                 network namespace the command can open, {pidfile} a file of
//                                 the state directory where it leaves the PID of a helper that
//                                 lives as long as the task, {pid} the init's PID. It must exit
//                                 0; the helper is killed when the task ends.
//     capabilities HEX            capabilities the command keeps
//     no-new-privileges
//     seccomp ACTION ERRNO        the command's filter: the action for every call no rule names
//     seccomp-rule NAME ACTION ERRNO [INDEX OP VALUE VALUE2]...
//                                 (libseccomp compiles them for this host's architecture; a name
//                                 this libseccomp does not know is skipped, as runc does)
//
// Written in C and linked statically (libseccomp included) so that a thousand idle tasks cost a
// thousand small processes, not a thousand Swift runtimes. It is single-threaded, so after fork
// the child may call anything.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <ifaddrs.h>
#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { REPORT_FD = 3, PLAN_FD = 4, STATE_FD = 5, ROOT_FD = 6, SELF_FD = 7 };
enum { MAX_STEPS = 128, MAX_CGROUPS = 16, MAX_RULES = 2048, MAX_ARGS = 6, MAX_PLAN = 1 << 20, MAX_SETUP_WORDS = 256 };
enum { PLAN_VERSION = 1 };

enum step {
  STEP_USAGE = 1, STEP_FORK, STEP_STATE, STEP_PIPE, STEP_CHROOT, STEP_CHDIR, STEP_EXEC,
  STEP_CLONE, STEP_CGROUP, STEP_CGROUP_WRITE, STEP_CGROUP_JOIN, STEP_CGROUPNS, STEP_MOUNT,
  STEP_MKDIR, STEP_BIND, STEP_SYMLINK, STEP_PIVOT_ROOT, STEP_HOSTNAME, STEP_NETWORK,
  STEP_CAPABILITIES, STEP_NO_NEW_PRIVS, STEP_SECCOMP, STEP_INIT, STEP_NETWORK_SETUP,
};

static const char *step_name(int step) {
  static const char *names[] = {
    [STEP_USAGE] = "usage", [STEP_FORK] = "fork", [STEP_STATE] = "state", [STEP_PIPE] = "pipe",
    [STEP_CHROOT] = "chroot", [STEP_CHDIR] = "chdir", [STEP_EXEC] = "exec", [STEP_CLONE] = "clone",
    [STEP_CGROUP] = "cgroup", [STEP_CGROUP_WRITE] = "cgroup-write",
    [STEP_CGROUP_JOIN] = "cgroup-join", [STEP_CGROUPNS] = "cgroupns", [STEP_MOUNT] = "mount",
    [STEP_MKDIR] = "mkdir", [STEP_BIND] = "bind", [STEP_SYMLINK] = "symlink",
    [STEP_PIVOT_ROOT] = "pivot_root", [STEP_HOSTNAME] = "sethostname",
    [STEP_NETWORK] = "loopback", [STEP_CAPABILITIES] = "capabilities",
    [STEP_NO_NEW_PRIVS] = "no_new_privs", [STEP_SECCOMP] = "seccomp", [STEP_INIT] = "init",
    [STEP_NETWORK_SETUP] = "network",
  };
  if (step > 0 && step < (int)(sizeof names / sizeof names[0]) && names[step]) return names[step];
  return "setup";
}

// A failure in a child, sent to the supervisor; an exec that succeeds sends nothing.
struct failure {
  int step;
  int err;
  char detail[240];
};

static struct failure failure_of(int step, int err, const char *detail) {
  struct failure failure = {step, err, {0}};
  snprintf(failure.detail, sizeof failure.detail, "%s", detail ? detail : "");
  return failure;
}

static void report_failure(struct failure failure) {
  dprintf(REPORT_FD, "error %s %d %s\n", step_name(failure.step), failure.err, failure.detail);
  _exit(1);
}

static void detach_from_streams(void);

// The plan document as read (the plan's strings point into it), wiped by the init.
static char *plan_document;
static size_t plan_document_size;

// --- the plan ------------------------------------------------------------------------------

enum kind { MKDIR, MOUNT, BIND, SYMLINK, READONLY, MASK };

struct setup_step {
  enum kind kind;
  const char *a, *b, *c;
  unsigned long number;  // mkdir's mode, mount's flags, bind's read-only
  const char *data;      // mount's data
};

struct cgroup {
  const char *path;
  int required;
  int parent;  // a shared parent: made if missing, never joined nor removed
  int v2;      // in the v2 hierarchy: the init can be born in it (CLONE_INTO_CGROUP)
  int made;
  int joined;
};

struct cgroup_write {
  const char *file, *value;
  int optional;
};

// Seccomp actions and comparisons as the plan names them (the OCI names less their prefixes).
static const char *const action_names[] = {"ALLOW", "ERRNO", "KILL_PROCESS", "KILL_THREAD", "TRAP", "LOG"};
enum { ACTION_COUNT = 6 };
static const char *const op_names[] = {"NE", "LT", "LE", "EQ", "GE", "GT", "MASKED_EQ"};
enum { OP_COUNT = 7 };

struct seccomp_arg {
  unsigned index;
  int op;
  uint64_t value, value2;
};

struct seccomp_rule {
  const char *name;
  int action;
  int err;
  int nargs;
  struct seccomp_arg args[MAX_ARGS];
};

struct plan {
  int jail;
  const char *workdir;
  const char *report_rootfs;
  int namespaces;
  int cgroupns;
  struct setup_step steps[MAX_STEPS];
  int nsteps;
  struct cgroup cgroups[MAX_CGROUPS];
  int ncgroups;
  struct cgroup_write writes[MAX_STEPS];
  int nwrites;
  const char *hostname;
  int loopback;
  char *network_words[MAX_SETUP_WORDS];
  char **network_setup;  // the host-side command that connects the network, or NULL
  int nnetwork_setup;
  pid_t network_helper;  // what it left running (the supervisor's child: it is a subreaper)
  int capabilities_set;
  uint64_t capabilities;
  int no_new_privs;
  int seccomp;
  int seccomp_default;
  int seccomp_default_errno;
  struct seccomp_rule rules[MAX_RULES];
  int nrules;
};

// Decodes %XX in place; returns -1 on a malformed escape.
static int percent_decode(char *field) {
  char *out = field;
  for (char *in = field; *in; in++) {
    if (*in != '%') {
      *out++ = *in;
      continue;
    }
    unsigned value;
    if (!in[1] || !in[2] || sscanf(in + 1, "%2x", &value) != 1 || value == 0) return -1;
    *out++ = (char)value;
    in += 2;
  }
  *out = '\0';
  return 0;
}

static int parse_number(const char *text, int base, uint64_t max, uint64_t *out) {
  if (!*text || *text == '-' || *text == '+' || *text == ' ') return -1;
  char *end;
  errno = 0;
  unsigned long long value = strtoull(text, &end, base);
  if (errno || *end || value > max) return -1;
  *out = value;
  return 0;
}

static int lookup(const char *word, const char *const *names, int count) {
  for (int i = 0; i < count; i++)
    if (strcmp(word, names[i]) == 0) return i;
  return -1;
}

// Parses the plan document in BUFFER (NUL-terminated, modified in place; the plan points into
// it). Returns 0, or the number of the offending line.
static int parse_plan(char *buffer, struct plan *plan) {
  char *fields[MAX_SETUP_WORDS + 2];
  int line_number = 0, ended = 0;
  char *cursor = buffer;
  while (*cursor) {
    line_number++;
    char *line = cursor;
    char *newline = strchr(cursor, '\n');
    if (!newline) return line_number;  // every line, "end" included, ends in a newline
    *newline = '\0';
    cursor = newline + 1;
    if (ended) return line_number;  // nothing after "end"
    int n = 0;
    for (char *field = line;; n++) {
      if (n == (int)(sizeof fields / sizeof fields[0])) return line_number;
      char *tab = strchr(field, '\t');
      if (tab) *tab = '\0';
      if (percent_decode(field) != 0) return line_number;
      fields[n] = field;
      if (!tab) {
        n++;
        break;
      }
      field = tab + 1;
    }
    const char *key = fields[0];
    uint64_t a = 0, b = 0, c = 0;
#define EXPECT(count) \
  if (n != (count)) return line_number
    if (line_number == 1) {
      if (n != 2 || strcmp(key, "tasker-plan") != 0 || parse_number(fields[1], 10, 1000, &a) != 0 ||
          a != PLAN_VERSION)
        return 1;
    } else if (strcmp(key, "end") == 0) {
      EXPECT(1);
      ended = 1;
    } else if (strcmp(key, "isolation") == 0) {
      EXPECT(2);
      if (strcmp(fields[1], "jail") == 0) plan->jail = 1;
      else if (strcmp(fields[1], "chroot") == 0) plan->jail = 0;
      else return line_number;
    } else if (strcmp(key, "workdir") == 0) {
      EXPECT(2);
      plan->workdir = fields[1];
    } else if (strcmp(key, "report-rootfs") == 0) {
      EXPECT(2);
      plan->report_rootfs = fields[1];
    } else if (strcmp(key, "namespaces") == 0) {
      EXPECT(2);
      if (parse_number(fields[1], 10, 0x7fffffff, &a) != 0) return line_number;
      plan->namespaces = (int)a;
    } else if (strcmp(key, "cgroupns") == 0) {
      EXPECT(1);
      plan->cgroupns = 1;
    } else if (strcmp(key, "cgroup-parent") == 0 || strcmp(key, "cgroup") == 0) {
      int parent = key[6] == '-';
      EXPECT(parent ? 2 : 4);
      if (plan->ncgroups == MAX_CGROUPS) return line_number;
      if (!parent && (parse_number(fields[2], 10, 1, &a) != 0 || parse_number(fields[3], 10, 1, &b) != 0))
        return line_number;
      plan->cgroups[plan->ncgroups++] = (struct cgroup){fields[1], (int)a, parent, (int)b, 0, 0};
    } else if (strcmp(key, "cgroup-write") == 0) {
      EXPECT(4);
      if (plan->nwrites == MAX_STEPS || parse_number(fields[3], 10, 1, &a) != 0) return line_number;
      plan->writes[plan->nwrites++] = (struct cgroup_write){fields[1], fields[2], (int)a};
    } else if (strcmp(key, "mkdir") == 0 || strcmp(key, "symlink") == 0 || strcmp(key, "readonly") == 0 ||
               strcmp(key, "mask") == 0 || strcmp(key, "mount") == 0 || strcmp(key, "bind") == 0) {
      if (plan->nsteps == MAX_STEPS) return line_number;
      struct setup_step *s = &plan->steps[plan->nsteps++];
      memset(s, 0, sizeof *s);
      if (key[0] == 'm' && key[1] == 'k') {
        EXPECT(3);
        if (parse_number(fields[2], 8, 07777, &a) != 0) return line_number;
        *s = (struct setup_step){MKDIR, fields[1], NULL, NULL, a, NULL};
      } else if (key[0] == 's') {
        EXPECT(3);
        *s = (struct setup_step){SYMLINK, fields[1], fields[2], NULL, 0, NULL};
      } else if (key[0] == 'r' || key[1] == 'a') {
        EXPECT(2);
        *s = (struct setup_step){key[0] == 'r' ? READONLY : MASK, fields[1], NULL, NULL, 0, NULL};
      } else if (key[0] == 'm') {
        EXPECT(6);
        if (parse_number(fields[4], 10, UINT32_MAX, &a) != 0) return line_number;
        *s = (struct setup_step){MOUNT, fields[1], fields[2], fields[3], a, fields[5]};
      } else {
        EXPECT(4);
        if (parse_number(fields[3], 10, 1, &a) != 0) return line_number;
        *s = (struct setup_step){BIND, fields[1], fields[2], NULL, a, NULL};
      }
    } else if (strcmp(key, "hostname") == 0) {
      EXPECT(2);
      plan->hostname = fields[1];
    } else if (strcmp(key, "loopback-up") == 0) {
      EXPECT(1);
      plan->loopback = 1;
    } else if (strcmp(key, "network-setup") == 0) {
      if (n < 2 || n - 1 > MAX_SETUP_WORDS) return line_number;
      for (int i = 1; i < n; i++) plan->network_words[i - 1] = fields[i];
      plan->network_setup = plan->network_words;
      plan->nnetwork_setup = n - 1;
    } else if (strcmp(key, "capabilities") == 0) {
      EXPECT(2);
      if (parse_number(fields[1], 16, UINT64_MAX, &a) != 0) return line_number;
      plan->capabilities_set = 1;
      plan->capabilities = a;
    } else if (strcmp(key, "no-new-privileges") == 0) {
      EXPECT(1);
      plan->no_new_privs = 1;
    } else if (strcmp(key, "seccomp") == 0) {
      EXPECT(3);
      int action = lookup(fields[1], action_names, ACTION_COUNT);
      if (action < 0 || parse_number(fields[2], 10, 4095, &a) != 0) return line_number;
      plan->seccomp = 1;
      plan->seccomp_default = action;
      plan->seccomp_default_errno = (int)a;
    } else if (strcmp(key, "seccomp-rule") == 0) {
      if (n < 4 || (n - 4) % 4 != 0 || (n - 4) / 4 > MAX_ARGS || plan->nrules == MAX_RULES) return line_number;
      struct seccomp_rule *r = &plan->rules[plan->nrules++];
      r->name = fields[1];
      r->action = lookup(fields[2], action_names, ACTION_COUNT);
      if (!*r->name || r->action < 0 || parse_number(fields[3], 10, 4095, &a) != 0) return line_number;
      r->err = (int)a;
      r->nargs = (n - 4) / 4;
      for (int i = 0; i < r->nargs; i++) {
        char **f = fields + 4 + 4 * i;
        int op = lookup(f[1], op_names, OP_COUNT);
        if (parse_number(f[0], 10, MAX_ARGS - 1, &a) != 0 || op < 0 ||
            parse_number(f[2], 10, UINT64_MAX, &b) != 0 || parse_number(f[3], 10, UINT64_MAX, &c) != 0)
          return line_number;
        r->args[i] = (struct seccomp_arg){(unsigned)a, op, b, c};
      }
    } else {
      return line_number;
    }
#undef EXPECT
  }
  if (!ended || !plan->workdir) return line_number + 1;
  return 0;
}

// Prints a field percent-encoded, as the document carries it.
static void print_field(FILE *out, const char *field) {
  fputc('\t', out);
  for (const char *p = field; *p; p++) {
    if (*p == '%' || *p == '\t' || *p == '\n') fprintf(out, "%%%02X", (unsigned char)*p);
    else fputc(*p, out);
  }
}

// The plan as this program understood it, in the document's own form: a test compares it with
// what the Swift side wrote, so the two cannot drift apart unnoticed.
static void print_plan(FILE *out, const struct plan *plan) {
  fprintf(out, "tasker-plan\t%d\n", PLAN_VERSION);
  fprintf(out, "isolation\t%s\n", plan->jail ? "jail" : "chroot");
  fprintf(out, "workdir");
  print_field(out, plan->workdir);
  fputc('\n', out);
  if (plan->report_rootfs) {
    fprintf(out, "report-rootfs");
    print_field(out, plan->report_rootfs);
    fputc('\n', out);
  }
  if (plan->namespaces) fprintf(out, "namespaces\t%d\n", plan->namespaces);
  if (plan->cgroupns) fprintf(out, "cgroupns\n");
  for (int i = 0; i < plan->ncgroups; i++) {
    const struct cgroup *cg = &plan->cgroups[i];
    fprintf(out, cg->parent ? "cgroup-parent" : "cgroup");
    print_field(out, cg->path);
    if (!cg->parent) fprintf(out, "\t%d\t%d", cg->required, cg->v2);
    fputc('\n', out);
  }
  for (int i = 0; i < plan->nwrites; i++) {
    fprintf(out, "cgroup-write");
    print_field(out, plan->writes[i].file);
    print_field(out, plan->writes[i].value);
    fprintf(out, "\t%d\n", plan->writes[i].optional);
  }
  for (int i = 0; i < plan->nsteps; i++) {
    const struct setup_step *s = &plan->steps[i];
    switch (s->kind) {
      case MKDIR:
        fprintf(out, "mkdir");
        print_field(out, s->a);
        fprintf(out, "\t%lo\n", s->number);
        break;
      case SYMLINK:
        fprintf(out, "symlink");
        print_field(out, s->a);
        print_field(out, s->b);
        fputc('\n', out);
        break;
      case READONLY:
      case MASK:
        fprintf(out, s->kind == READONLY ? "readonly" : "mask");
        print_field(out, s->a);
        fputc('\n', out);
        break;
      case MOUNT:
        fprintf(out, "mount");
        print_field(out, s->a);
        print_field(out, s->b);
        print_field(out, s->c);
        fprintf(out, "\t%lu", s->number);
        print_field(out, s->data);
        fputc('\n', out);
        break;
      case BIND:
        fprintf(out, "bind");
        print_field(out, s->a);
        print_field(out, s->b);
        fprintf(out, "\t%lu\n", s->number);
        break;
    }
  }
  if (plan->hostname) {
    fprintf(out, "hostname");
    print_field(out, plan->hostname);
    fputc('\n', out);
  }
  if (plan->loopback) fprintf(out, "loopback-up\n");
  if (plan->nnetwork_setup) {
    fprintf(out, "network-setup");
    for (int i = 0; i < plan->nnetwork_setup; i++) print_field(out, plan->network_setup[i]);
    fputc('\n', out);
  }
  if (plan->capabilities_set) fprintf(out, "capabilities\t%llx\n", (unsigned long long)plan->capabilities);
  if (plan->no_new_privs) fprintf(out, "no-new-privileges\n");
  if (plan->seccomp) {
    fprintf(out, "seccomp\t%s\t%d\n", action_names[plan->seccomp_default], plan->seccomp_default_errno);
    for (int i = 0; i < plan->nrules; i++) {
      const struct seccomp_rule *r = &plan->rules[i];
      fprintf(out, "seccomp-rule");
      print_field(out, r->name);
      fprintf(out, "\t%s\t%d", action_names[r->action], r->err);
      for (int j = 0; j < r->nargs; j++)
        fprintf(out, "\t%u\t%s\t%llu\t%llu", r->args[j].index, op_names[r->args[j].op],
                (unsigned long long)r->args[j].value, (unsigned long long)r->args[j].value2);
      fputc('\n', out);
    }
  }
  fprintf(out, "end\n");
}

// Reads the whole of FD into a NUL-terminated buffer (at most MAX_PLAN bytes).
static char *read_document(int fd) {
  size_t size = 0, capacity = 65536;
  char *buffer = malloc(capacity + 1);
  while (buffer) {
    if (size == capacity) {
      if (capacity >= MAX_PLAN) {
        free(buffer);
        return NULL;
      }
      capacity *= 2;
      char *grown = realloc(buffer, capacity + 1);
      if (!grown) {
        free(buffer);
        return NULL;
      }
      buffer = grown;
    }
    ssize_t n = read(fd, buffer + size, capacity - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      free(buffer);
      return NULL;
    }
    if (n == 0) break;
    size += (size_t)n;
  }
  if (buffer) {
    buffer[size] = '\0';
    if (strlen(buffer) != size) {  // a NUL byte inside: not a document
      free(buffer);
      return NULL;
    }
  }
  return buffer;
}

// --- small helpers -------------------------------------------------------------------------

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
  for (int field = 3; field < 22 && p != NULL; field++) p = strchr(p + 1, ' ');
  return p ? strtoull(p + 1, NULL, 10) : 0;
}

static int write_file(const char *path, const char *value) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t len = strlen(value);
  ssize_t n = write(fd, value, len);
  int saved = errno;
  close(fd);
  if (n == (ssize_t)len) return 0;
  errno = n < 0 ? saved : EIO;
  return -1;
}

static void write_exit_record(int statefd, int status) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  char body[256];
  int len;
  double finished = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
  if (WIFSIGNALED(status))
    len = snprintf(body, sizeof body, "{\"exitCode\":null,\"signal\":%d,\"finishedAt\":%.6f}\n",
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

static pid_t wait_for(pid_t pid, int *status) {
  pid_t waited;
  do {
    waited = waitpid(pid, status, 0);
  } while (waited < 0 && errno == EINTR);
  return waited;
}

static void send_failure(int fd, struct failure failure) {
  ssize_t ignored = send(fd, &failure, sizeof failure, MSG_NOSIGNAL);
  (void)ignored;
}

// --- the command ---------------------------------------------------------------------------

static int apply_capabilities(uint64_t keep) {
  int last = 40;
  FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
  if (f) {
    if (fscanf(f, "%d", &last) != 1) last = 40;
    fclose(f);
  }
  // The bounding set caps what any later exec can gain; root's exec gets exactly this set.
  for (int cap = 0; cap <= last; cap++)
    if (!(keep & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
      return -1;
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  if (syscall(SYS_capget, &header, data) != 0) return -1;
  for (int i = 0; i < 2; i++) {
    uint32_t mask = (uint32_t)(keep >> (32 * i));
    data[i].permitted &= mask;
    data[i].effective &= mask;
    data[i].inheritable &= mask;
  }
  return (int)syscall(SYS_capset, &header, data);
}

// libseccomp's actions and comparisons for the plan's names (same order as action_names and
// op_names).
static uint32_t seccomp_action(int action, int err) {
  switch (action) {
    case 0: return SCMP_ACT_ALLOW;
    case 1: return SCMP_ACT_ERRNO((uint32_t)err);
    case 2: return SCMP_ACT_KILL_PROCESS;
    case 3: return SCMP_ACT_KILL_THREAD;
    case 4: return SCMP_ACT_TRAP;
    default: return SCMP_ACT_LOG;
  }
}

static const enum scmp_compare compare_ops[OP_COUNT] = {
    SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ,
};

// Compiles the command's filter for this host's native architecture (a call through another ABI,
// 32-bit or x32, fails with ENOSYS). Returns NULL with errno set and *bad naming the rule at
// fault. A name this libseccomp does not know is skipped, as runc and crun do: the kernel has
// no such call to allow.
static scmp_filter_ctx compile_seccomp(const struct plan *plan, const char **bad) {
  uint32_t fallback = seccomp_action(plan->seccomp_default, plan->seccomp_default_errno);
  scmp_filter_ctx ctx = seccomp_init(fallback);
  *bad = "";
  if (!ctx) {
    errno = ENOMEM;
    return NULL;
  }
  int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(ENOSYS));
  for (int i = 0; rc == 0 && i < plan->nrules; i++) {
    const struct seccomp_rule *r = &plan->rules[i];
    int nr = seccomp_syscall_resolve_name(r->name);
    uint32_t action = seccomp_action(r->action, r->err);
    if (nr == __NR_SCMP_ERROR || action == fallback) continue;
    struct scmp_arg_cmp compare[MAX_ARGS];
    for (int j = 0; j < r->nargs; j++)
      compare[j] = (struct scmp_arg_cmp){r->args[j].index, compare_ops[r->args[j].op], r->args[j].value,
                                         r->args[j].value2};
    rc = seccomp_rule_add_array(ctx, action, nr, (unsigned)r->nargs, compare);
    if (rc == -EEXIST) rc = 0;  // the same rule twice, as merged profiles often have
    if (rc != 0) *bad = r->name;
  }
  if (rc != 0) {
    seccomp_release(ctx);
    errno = -rc;
    return NULL;
  }
  return ctx;
}

// Empties every capability set of the calling process: the bounding set first (shrinking it
// needs CAP_SETPCAP, which the last step gives up), then ambient, then the rest.
static int drop_all_capabilities(void) { return apply_capabilities(0); }

// Once the command is forked, the init only waits, forwards signals and reports. It gives up
// everything else first: every capability, being dumpable (so its memory and /proc entries are
// closed to a task without CAP_SYS_PTRACE), new privileges, and every system call its loop does
// not make. A task that attaches to it anyway (--cap-add SYS_PTRACE) and makes it call mount or
// setns gets EPERM; what such a task can still do is lie about its own end (write a status of
// its choosing on the init's status pipe), which is its own business. The filter is never
// released: freeing it could need calls it no longer has.
static int harden_init(void) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (!ctx) return -1;
  static const char *const loop_calls[] = {
      "rt_sigtimedwait", "rt_sigprocmask", "rt_sigreturn", "restart_syscall", "wait4", "waitid", "kill",
      "write", "close", "exit", "exit_group", "brk", "munmap", "madvise",
  };
  int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_ERRNO(ENOSYS));
  for (size_t i = 0; rc == 0 && i < sizeof loop_calls / sizeof loop_calls[0]; i++) {
    int nr = seccomp_syscall_resolve_name(loop_calls[i]);
    if (nr != __NR_SCMP_ERROR) rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
  }
  if (rc != 0) {
    errno = -rc;
    return -1;
  }
  if (drop_all_capabilities() != 0) return -1;
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  rc = seccomp_load(ctx);
  if (rc != 0) {
    errno = -rc;
    return -1;
  }
  return 0;
}

// The command's side of the fork: in its root, with its rights, then exec. A failure goes back
// to the supervisor over `channel`, which closes on exec: EOF there means the exec succeeded.
static void exec_command(const struct plan *plan, scmp_filter_ctx filter, char **command, int channel,
                         int gate) {
  const char *workdir = plan->workdir;
  sigset_t none;
  sigemptyset(&none);
  for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  // Every other descriptor is the supervisor's business; the command starts with 0, 1 and 2.
  syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
  // Nothing of the command runs before its init has given up its rights and descriptors: a
  // command allowed to ptrace would otherwise find a window in which the init still holds
  // them (the init writes one byte here when it is done; EOF means it failed and kills us).
  // Without an init (chroot isolation) there is no gate.
  if (gate >= 0) {
    char opened;
    ssize_t got;
    do {
      got = read(gate, &opened, 1);
    } while (got < 0 && errno == EINTR);
    if (got != 1) _exit(127);
  }
  if (chdir(workdir) != 0) send_failure(channel, failure_of(STEP_CHDIR, errno, workdir));
  // Never gain privileges across exec (setuid binaries, file capabilities).
  else if (plan->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    send_failure(channel, failure_of(STEP_NO_NEW_PRIVS, errno, ""));
  else if (plan->capabilities_set && apply_capabilities(plan->capabilities) != 0)
    send_failure(channel, failure_of(STEP_CAPABILITIES, errno, ""));
  else if (filter && (errno = -seccomp_load(filter)) != 0)
    send_failure(channel, failure_of(STEP_SECCOMP, errno, ""));
  else {
    // The supervisor learns the command's PID, as its own PID namespace numbers it, from the
    // credentials the kernel attaches to this message.
    ssize_t ignored = send(channel, "P", 1, MSG_NOSIGNAL);
    (void)ignored;
    // execvp searches the PATH of this process's environment, which is the command's.
    execvp(command[0], command);
    send_failure(channel, failure_of(STEP_EXEC, errno, command[0]));
  }
  _exit(127);
}

// --- the jail (runs in the init, in the new namespaces, before pivot_root) ------------------

// Opens PATH below the root without following any symlink: a path of the plan must be what it
// says, whatever links the image planted.
static int open_beneath(int rootfd, const char *path, int flags) {
  struct open_how how = {
      .flags = (uint64_t)(flags | O_CLOEXEC),
      .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
  };
  return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

// Splits PATH into its parent (opened beneath the root) and its last component.
static int open_parent(int rootfd, const char *path, const char **leaf) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL) {
    *leaf = path;
    return dup(rootfd);
  }
  char parent[4096];
  snprintf(parent, sizeof parent, "%.*s", (int)(slash - path), path);
  *leaf = slash + 1;
  return open_beneath(rootfd, parent, O_PATH | O_DIRECTORY);
}

// Makes the directory PATH with exactly MODE (not masked by the umask) if it is missing.
static int make_directory(int rootfd, const char *path, mode_t mode) {
  const char *leaf;
  int parent = open_parent(rootfd, path, &leaf);
  if (parent < 0) return -1;
  int rc = mkdirat(parent, leaf, mode);
  int saved = errno;
  if (rc == 0) fchmodat(parent, leaf, mode, 0);
  close(parent);
  if (rc != 0 && saved == EEXIST) {
    // Whatever is there must be a real directory, not a symlink the image planted.
    int fd = open_beneath(rootfd, path, O_PATH | O_DIRECTORY);
    if (fd < 0) return -1;
    close(fd);
    return 0;
  }
  errno = saved;
  return rc;
}

// mount(2) onto a descriptor's magic link, so the target is exactly the file that was opened.
static int mount_on(int rootfd, const char *source, const char *path, const char *type,
                    unsigned long flags, const char *data) {
  int target = open_beneath(rootfd, path, O_PATH);
  if (target < 0) return -1;
  char proc_path[64];
  snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", target);
  int rc = mount(source, proc_path, type, flags, data && *data ? data : NULL);
  int saved = errno;
  close(target);
  errno = saved;
  return rc;
}

static int bind_host_path(int rootfd, const char *source, const char *path, int readonly) {
  struct stat info;
  if (stat(source, &info) != 0) return -1;
  int existing = open_beneath(rootfd, path, O_PATH);
  if (existing >= 0) {
    close(existing);
  } else if (S_ISDIR(info.st_mode)) {
    if (make_directory(rootfd, path, 0755) != 0) return -1;
  } else {
    const char *leaf;
    int parent = open_parent(rootfd, path, &leaf);
    if (parent < 0) return -1;
    int fd = openat(parent, leaf, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    int saved = errno;
    close(parent);
    if (fd < 0) {
      errno = saved;
      return -1;
    }
    close(fd);
  }
  if (mount_on(rootfd, source, path, NULL, MS_BIND | MS_REC, NULL) != 0) return -1;
  if (!readonly) return 0;
  // A read-only bind is a second, remounting call; the flags the mount already has stay.
  struct statvfs fs;
  unsigned long keep = 0;
  if (statvfs(source, &fs) == 0) {
    if (fs.f_flag & ST_NOSUID) keep |= MS_NOSUID;
    if (fs.f_flag & ST_NODEV) keep |= MS_NODEV;
    if (fs.f_flag & ST_NOEXEC) keep |= MS_NOEXEC;
  }
  return mount_on(rootfd, NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | keep, NULL);
}

// Binds PATH onto itself and makes that read-only. A PATH this kernel lacks is skipped.
static int make_readonly(int rootfd, const char *path) {
  int target = open_beneath(rootfd, path, O_PATH);
  if (target < 0) return errno == ENOENT ? 0 : -1;
  char proc_path[64];
  snprintf(proc_path, sizeof proc_path, "/proc/self/fd/%d", target);
  int rc = mount(proc_path, proc_path, NULL, MS_BIND | MS_REC, NULL);
  close(target);
  if (rc != 0) return -1;
  // Reopen: the descriptor above names the file under the new bind, not the bind itself.
  return mount_on(rootfd, NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  NULL);
}

// Hides PATH: a file under /dev/null, a directory under an empty read-only tmpfs.
static int mask(int rootfd, const char *path) {
  int target = open_beneath(rootfd, path, O_PATH);
  if (target < 0) return errno == ENOENT ? 0 : -1;
  struct stat info;
  int rc = fstat(target, &info);
  close(target);
  if (rc != 0) return -1;
  if (S_ISDIR(info.st_mode)) return mount_on(rootfd, "tmpfs", path, "tmpfs", MS_RDONLY, "size=0");
  return mount_on(rootfd, "/dev/null", path, NULL, MS_BIND, NULL);
}

// The host's own addresses, read in the supervisor before the init is cloned. pasta copies the
// host's main address into the task's namespace (so connecting to it stays inside), but every
// other address of the host (its link-local IPv6 address, other interfaces' addresses) would
// reach pasta, which connects to it from the host: a service bound to all of the host's
// addresses would answer the task. The init therefore installs one "prohibit" routing rule per
// host address in the task's namespace (below the local table, so the task's own copies still
// work); the task, without CAP_NET_ADMIN, cannot remove them.
enum { MAX_HOST_ADDRESSES = 256 };
static struct host_address {
  int family;
  unsigned char bytes[16];
} host_addresses[MAX_HOST_ADDRESSES];
static int nhost_addresses;

static void read_host_addresses(void) {
  struct ifaddrs *list;
  if (getifaddrs(&list) != 0) return;
  for (struct ifaddrs *a = list; a && nhost_addresses < MAX_HOST_ADDRESSES; a = a->ifa_next) {
    if (!a->ifa_addr || (a->ifa_flags & IFF_LOOPBACK)) continue;
    struct host_address *h = &host_addresses[nhost_addresses];
    if (a->ifa_addr->sa_family == AF_INET) {
      memcpy(h->bytes, &((struct sockaddr_in *)a->ifa_addr)->sin_addr, 4);
    } else if (a->ifa_addr->sa_family == AF_INET6) {
      memcpy(h->bytes, &((struct sockaddr_in6 *)a->ifa_addr)->sin6_addr, 16);
    } else {
      continue;
    }
    h->family = a->ifa_addr->sa_family;
    nhost_addresses++;
  }
  freeifaddrs(list);
}

// One rtnetlink request, acknowledged: 0, or -1 with errno.
static int netlink_request(int fd, struct nlmsghdr *request) {
  if (send(fd, request, request->nlmsg_len, 0) != (ssize_t)request->nlmsg_len) return -1;
  char reply[1024];
  ssize_t n = recv(fd, reply, sizeof reply, 0);
  if (n < (ssize_t)sizeof(struct nlmsghdr)) return -1;
  struct nlmsghdr *header = (struct nlmsghdr *)reply;
  if (header->nlmsg_type != NLMSG_ERROR) return 0;
  int err = ((struct nlmsgerr *)NLMSG_DATA(header))->error;
  if (err == 0 || err == -EEXIST) return 0;
  errno = -err;
  return -1;
}

static int block_host_addresses(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -1;
  int rc = 0;
  for (int i = 0; rc == 0 && i < nhost_addresses; i++) {
    struct {
      struct nlmsghdr header;
      struct fib_rule_hdr rule;
      char attributes[64];
    } request;
    memset(&request, 0, sizeof request);
    int length = host_addresses[i].family == AF_INET ? 4 : 16;
    request.header.nlmsg_type = RTM_NEWRULE;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    request.header.nlmsg_seq = (unsigned)i + 1;
    request.rule.family = (unsigned char)host_addresses[i].family;
    request.rule.dst_len = (unsigned char)(length * 8);
    request.rule.action = FR_ACT_PROHIBIT;
    struct rtattr *attribute = (struct rtattr *)request.attributes;
    attribute->rta_type = FRA_DST;
    attribute->rta_len = (unsigned short)RTA_LENGTH(length);
    memcpy(RTA_DATA(attribute), host_addresses[i].bytes, (size_t)length);
    struct rtattr *priority = (struct rtattr *)(request.attributes + RTA_ALIGN(attribute->rta_len));
    priority->rta_type = FRA_PRIORITY;
    priority->rta_len = RTA_LENGTH(sizeof(uint32_t));
    uint32_t value = 100;
    memcpy(RTA_DATA(priority), &value, sizeof value);
    request.header.nlmsg_len =
        (unsigned)(NLMSG_LENGTH(sizeof request.rule) + RTA_ALIGN(attribute->rta_len) + RTA_ALIGN(priority->rta_len));
    // A host address of a family this namespace does not run (pasta without IPv6) needs none.
    if (netlink_request(fd, &request.header) != 0 && errno != EAFNOSUPPORT) rc = -1;
  }
  int saved = errno;
  close(fd);
  errno = saved;
  return rc;
}

static int loopback_up(void) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct ifreq request;
  memset(&request, 0, sizeof request);
  strcpy(request.ifr_name, "lo");
  int rc = ioctl(fd, SIOCGIFFLAGS, &request);
  if (rc == 0) {
    request.ifr_flags |= IFF_UP | IFF_RUNNING;
    rc = ioctl(fd, SIOCSIFFLAGS, &request);
  }
  close(fd);
  return rc;
}

// pivot_root needs the new root to be a mount. tasker makes the task's root one; a plain
// directory (a root handed over by hand) is bound onto itself here, inside the jail's own mount
// namespace and through descriptors: a detached clone of it, attached onto it, entered.
static int make_mount_root(void) {
  struct statx info;
  if (statx(AT_FDCWD, ".", AT_NO_AUTOMOUNT, STATX_BASIC_STATS, &info) != 0) return -1;
  if ((info.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) && (info.stx_attributes & STATX_ATTR_MOUNT_ROOT)) return 0;
  int tree = (int)syscall(SYS_open_tree, AT_FDCWD, ".", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (tree < 0) return -1;
  int rc = (int)syscall(SYS_move_mount, tree, "", AT_FDCWD, ".", MOVE_MOUNT_F_EMPTY_PATH);
  if (rc == 0) rc = fchdir(tree);
  int saved = errno;
  close(tree);
  errno = saved;
  return rc;
}

// Carries out the plan inside the new mount namespace, whose working directory is the task's
// root: the supervisor entered it through the descriptor it was given, and clone(CLONE_NEWNS)
// carried it over to this namespace's copy of that mount. No path of the host is looked up
// again. Returns 0, or a failure.
static struct failure build_jail(const struct plan *plan) {
  const char *rootfs = "the task's root";
  // Nothing mounted here may propagate back to the host.
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
    return failure_of(STEP_MOUNT, errno, "/ (making mounts private)");
  // The root is a mount (tasker made it one, nodev, in the root-only state directory): what
  // pivot_root needs. Inside, set-user-ID works as in any root filesystem (no_new_privs still
  // stops it in the default jail); the download path's view of it is nosuid,nodev.
  if (make_mount_root() != 0) return failure_of(STEP_BIND, errno, rootfs);
  int rootfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) return failure_of(STEP_CHDIR, errno, rootfs);
  for (int i = 0; i < plan->nsteps; i++) {
    const struct setup_step *s = &plan->steps[i];
    int rc = 0, step = STEP_MOUNT;
    switch (s->kind) {
      case MKDIR:
        step = STEP_MKDIR;
        rc = make_directory(rootfd, s->a, (mode_t)s->number);
        break;
      case MOUNT:
        step = STEP_MOUNT;
        rc = mount_on(rootfd, s->a, s->b, s->c, s->number, s->data);
        break;
      case BIND:
        step = STEP_BIND;
        rc = bind_host_path(rootfd, s->a, s->b, (int)s->number);
        break;
      case READONLY:
        step = STEP_MOUNT;
        rc = make_readonly(rootfd, s->a);
        break;
      case MASK:
        step = STEP_MOUNT;
        rc = mask(rootfd, s->a);
        break;
      case SYMLINK: {
        step = STEP_SYMLINK;
        const char *leaf;
        int parent = open_parent(rootfd, s->b, &leaf);
        rc = parent < 0 ? -1 : symlinkat(s->a, parent, leaf);
        if (rc != 0 && errno == EEXIST) rc = 0;
        if (parent >= 0) close(parent);
        break;
      }
    }
    if (rc != 0) {
      struct failure failure =
          failure_of(step, errno, s->kind == MOUNT || s->kind == BIND || s->kind == SYMLINK ? s->b : s->a);
      close(rootfd);
      return failure;
    }
  }
  if (fchdir(rootfd) != 0) return failure_of(STEP_CHDIR, errno, rootfs);
  close(rootfd);
  // The old root ends up stacked on the new one and is detached at once: nothing of the host's
  // filesystem stays reachable.
  if (syscall(SYS_pivot_root, ".", ".") != 0) return failure_of(STEP_PIVOT_ROOT, errno, rootfs);
  if (umount2(".", MNT_DETACH) != 0) return failure_of(STEP_PIVOT_ROOT, errno, "old root");
  if (chdir("/") != 0) return failure_of(STEP_CHDIR, errno, "/");
  if (plan->hostname && sethostname(plan->hostname, strlen(plan->hostname)) != 0)
    return failure_of(STEP_HOSTNAME, errno, plan->hostname);
  if (plan->loopback && loopback_up() != 0) return failure_of(STEP_NETWORK, errno, "lo");
  if (plan->nnetwork_setup && block_host_addresses() != 0)
    return failure_of(STEP_NETWORK, errno, "the host's addresses (routing rules)");
  return failure_of(0, 0, NULL);
}

// PID 1 of the task's PID namespace: starts the command, forwards every signal it can catch to
// it, reaps whatever is orphaned to it, and tells the supervisor how the command ended. When it
// exits the kernel kills everything left in the namespace.
static void run_init(const struct plan *plan, char **command, int go, int channel, int status_out,
                     char **argv, int argc) {
  char byte;
  ssize_t n;
  do {
    n = read(go, &byte, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) _exit(1);  // the supervisor gave up (a cgroup could not be joined)
  close(go);
  if (plan->cgroupns && unshare(CLONE_NEWCGROUP) != 0) {
    send_failure(channel, failure_of(STEP_CGROUPNS, errno, ""));
    _exit(1);
  }
  struct failure failure = build_jail(plan);
  if (failure.step != 0) {
    send_failure(channel, failure);
    _exit(1);
  }
  scmp_filter_ctx filter = NULL;
  if (plan->seccomp) {
    const char *bad;
    filter = compile_seccomp(plan, &bad);
    if (!filter) {
      send_failure(channel, failure_of(STEP_SECCOMP, errno, bad));
      _exit(1);
    }
  }
  int gate[2];
  if (pipe2(gate, O_CLOEXEC) != 0) {
    send_failure(channel, failure_of(STEP_FORK, errno, ""));
    _exit(1);
  }
  sigset_t all, previous;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &previous);
  pid_t child = fork();
  if (child < 0) {
    send_failure(channel, failure_of(STEP_FORK, errno, ""));
    _exit(1);
  }
  if (child == 0) {
    close(status_out);
    close(gate[1]);
    exec_command(plan, filter, command, channel, gate[0]);
  }
  close(gate[0]);
  if (filter) seccomp_release(filter);
  // The task's streams are the command's; the init keeps none of them.
  detach_from_streams();
  // Inside the jail /proc/1/cmdline would show the host's paths (state, root, supervisor):
  // overwrite the argument area, which the command's argv (its own copy since fork) no
  // longer needs.
  char *start = argv[0], *end = argv[argc - 1] + strlen(argv[argc - 1]);
  memset(start, 0, (size_t)(end - start));
  snprintf(start, (size_t)(end - start), "tasker-init");
  prctl(PR_SET_NAME, "tasker-init", 0, 0, 0);
  // The plan named host paths (state, cgroups); nothing of it is needed any more.
  if (plan_document) explicit_bzero(plan_document, plan_document_size);
  if (harden_init() != 0) {
    // The command runs, but its init could be used against the jail: end the task instead.
    send_failure(channel, failure_of(STEP_INIT, errno, "dropping the init's privileges"));
    kill(child, SIGKILL);
    _exit(1);
  }
  close(channel);
  ssize_t opened = write(gate[1], "", 1);
  (void)opened;
  close(gate[1]);
  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&all, &info);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      kill(child, sig);
      continue;
    }
    int status;
    pid_t reaped;
    while ((reaped = waitpid(-1, &status, WNOHANG)) > 0) {
      if (reaped == child) {
        ssize_t ignored = write(status_out, &status, sizeof status);
        (void)ignored;
        _exit(0);
      }
    }
  }
}

// --- the supervisor ------------------------------------------------------------------------

static void remove_cgroups(struct plan *plan) {
  for (int i = plan->ncgroups - 1; i >= 0; i--) {
    if (!plan->cgroups[i].made || plan->cgroups[i].parent) continue;
    char kill_file[4096];
    snprintf(kill_file, sizeof kill_file, "%s/cgroup.kill", plan->cgroups[i].path);
    write_file(kill_file, "1");
    // Processes take a moment to leave once killed; rmdir fails with EBUSY until then.
    for (int attempt = 0; attempt < 2000; attempt++) {
      if (rmdir(plan->cgroups[i].path) == 0 || errno == ENOENT) break;
      usleep(attempt < 100 ? 100 : 5000);
    }
  }
}

// Ends the helper the network setup left (pasta): it holds the task's network namespace and
// its published ports, and must not outlive the task.
static void stop_network(struct plan *plan) {
  if (plan->network_helper <= 0) return;
  kill(plan->network_helper, SIGKILL);
  wait_for(plan->network_helper, NULL);
  plan->network_helper = 0;
}

static void fail_and_clean(struct plan *plan, struct failure failure) {
  stop_network(plan);
  remove_cgroups(plan);
  report_failure(failure);
}

// Replaces each {netns}, {pidfile} and {pid} in `word` (a fresh string; the supervisor is
// single-threaded, so the forked child may allocate).
static char *substitute(const char *word, const char *netns, const char *pidfile, const char *pid) {
  const char *names[] = {"{netns}", "{pidfile}", "{pid}"}, *values[] = {netns, pidfile, pid};
  size_t size = strlen(word) + 1;
  for (const char *p = word; *p; p++)
    for (int k = 0; k < 3; k++)
      if (strncmp(p, names[k], strlen(names[k])) == 0) size += strlen(values[k]);
  char *out = malloc(size), *o = out;
  if (!out) return NULL;
  while (*word) {
    int matched = 0;
    for (int k = 0; k < 3 && !matched; k++)
      if (strncmp(word, names[k], strlen(names[k])) == 0) {
        o = stpcpy(o, values[k]);
        word += strlen(names[k]);
        matched = 1;
      }
    if (!matched) *o++ = *word++;
  }
  *o = 0;
  return out;
}

// Runs the plan's network setup for the init (still waiting to be released, so the command
// never runs unconnected) and records the helper it leaves. The helper's stderr is kept for
// the failure message and otherwise dropped: it is not the task's output.
static struct failure connect_network(struct plan *plan, pid_t init, int statefd) {
  const char *program = strrchr(plan->network_setup[0], '/');
  program = program ? program + 1 : plan->network_setup[0];
  char ns_path[64], pid_text[32], pidfile[4096];
  snprintf(ns_path, sizeof ns_path, "/proc/%d/ns/net", (int)init);
  snprintf(pid_text, sizeof pid_text, "%d", (int)init);
  // The PID file is made here and handed over as the helper's descriptor 4: it gets that one
  // file of the state directory, not the directory (the daemon keeps what it was given for
  // the task's whole life, and it parses the task's packets).
  snprintf(pidfile, sizeof pidfile, "/proc/self/fd/4");
  unlinkat(statefd, "network.pid", 0);
  int pidfd = openat(statefd, "network.pid", O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (pidfd < 0) return failure_of(STEP_NETWORK_SETUP, errno, "network.pid");
  // Opened here, with all capabilities: pasta drops its own before it opens the path it is
  // given, and /proc/PID/ns of a fully privileged process is then refused to it. It gets the
  // namespace as descriptor 3 instead, which it may reopen through /proc/self/fd/3.
  int nsfd = open(ns_path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) {
    close(pidfd);
    return failure_of(STEP_NETWORK_SETUP, errno, ns_path);
  }
  int err[2];
  if (pipe2(err, O_CLOEXEC) != 0) {
    close(nsfd);
    close(pidfd);
    return failure_of(STEP_NETWORK_SETUP, errno, "pipe");
  }
  // Daemons the setup leaves behind are re-parented to the supervisor, not to the host's init:
  // the helper's PID then names it until the supervisor reaps it, so killing it is safe.
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  pid_t child = fork();
  if (child < 0) {
    close(nsfd);
    close(pidfd);
    close(err[0]);
    close(err[1]);
    return failure_of(STEP_NETWORK_SETUP, errno, "fork");
  }
  if (child == 0) {
    char **words = calloc((size_t)plan->nnetwork_setup + 1, sizeof *words);
    if (!words) _exit(126);
    for (int i = 0; i < plan->nnetwork_setup; i++)
      if (!(words[i] = substitute(plan->network_setup[i], "/proc/self/fd/3", pidfile, pid_text))) _exit(126);
    // It keeps 0-2, the namespace and its PID file, nothing else: a daemon holding the report pipe (fd 3
    // here) would keep the creator waiting for its EOF, and the task's logs are not its own.
    int devnull = open("/dev/null", O_RDWR);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(err[1], 2) < 0 ||
        dup2(nsfd, 3) < 0 || dup2(pidfd, 4) < 0 || syscall(SYS_close_range, 5, ~0U, 0) != 0)
      _exit(126);
    // Default dispositions, as any program expects (the supervisor ignores SIGPIPE; this pasta
    // takes an ignored SIGPIPE for a failure to set it up).
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execv(words[0], words);
    dprintf(2, "cannot run %s: %s\n", words[0], strerror(errno));
    _exit(127);
  }
  close(err[1]);
  close(nsfd);
  close(pidfd);
  // Its last line of stderr, read as it comes (a daemon may keep the pipe open after the
  // command itself has exited, so EOF is not waited for).
  char text[1024];
  size_t used = 0;
  int status = 0, exited = 0;
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  for (;;) {
    char chunk[256];
    ssize_t n = read(err[0], chunk, sizeof chunk);
    if (n > 0) {
      if (used + (size_t)n >= sizeof text) {  // keep the end: the last line is the one shown
        used = 0;
      }
      memcpy(text + used, chunk, (size_t)n);
      used += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (exited) break;
    if (n == 0 || (n < 0 && errno != EAGAIN)) {  // every writer is gone: only the exit is left
      exited = wait_for(child, &status) == child;
      break;
    }
    pid_t done = waitpid(child, &status, WNOHANG);
    if (done == child) {
      exited = 1;  // one more read for what it wrote last
      continue;
    }
    if (done < 0 && errno != EINTR) break;
    struct timespec pause = {0, 5 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  close(err[0]);
  text[used] = 0;
  while (used > 0 && (text[used - 1] == '\n' || text[used - 1] == ' ')) text[--used] = 0;
  char *last = strrchr(text, '\n');
  last = last ? last + 1 : text;
  char detail[240];
  if (!exited)
    snprintf(detail, sizeof detail, "%s: its status was lost", program);
  else if (WIFSIGNALED(status))
    snprintf(detail, sizeof detail, "%s was killed by signal %d%s%s", program, WTERMSIG(status), *last ? ": " : "",
             last);
  else if (WEXITSTATUS(status) != 0)
    snprintf(detail, sizeof detail, "%s exited %d%s%s", program, WEXITSTATUS(status), *last ? ": " : "", last);
  else
    detail[0] = 0;
  if (detail[0]) return failure_of(STEP_NETWORK_SETUP, 0, detail);

  // The helper it left, which must be the supervisor's own (re-parented) child.
  int fd = openat(statefd, "network.pid", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  char number[32] = {0};
  ssize_t n = fd >= 0 ? read(fd, number, sizeof number - 1) : -1;
  if (fd >= 0) close(fd);
  unlinkat(statefd, "network.pid", 0);
  pid_t helper = n > 0 ? (pid_t)strtol(number, NULL, 10) : 0;
  int helper_status;
  if (helper <= 0 || waitpid(helper, &helper_status, WNOHANG) != 0) {
    snprintf(detail, sizeof detail, "%s left no running helper in network.pid", program);
    return failure_of(STEP_NETWORK_SETUP, 0, detail);
  }
  plan->network_helper = helper;
  return failure_of(0, 0, "");
}

// Reads the command's fate on `channel`: a failure message, a credentials message naming its
// PID (translated by the kernel into our PID namespace), and EOF once it has exec'd.
static pid_t await_exec(int channel, struct failure *failure) {
  pid_t pid = 0;
  failure->step = 0;
  for (;;) {
    char buffer[sizeof(struct failure)];
    char control[CMSG_SPACE(sizeof(struct ucred))];
    struct iovec iov = {buffer, sizeof buffer};
    struct msghdr message = {0};
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    ssize_t n = recvmsg(channel, &message, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return pid;
    if (n == (ssize_t)sizeof(struct failure)) {
      memcpy(failure, buffer, sizeof *failure);
      return pid;
    }
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&message); c; c = CMSG_NXTHDR(&message, c))
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
        struct ucred credentials;
        memcpy(&credentials, CMSG_DATA(c), sizeof credentials);
        pid = credentials.pid;
      }
  }
}

// Tells the creator the task runs, and leaves the same line (and the task's root) in
// STATE_DIR/supervisor for a later tasker that finds the create abandoned or the record damaged. Returns -1 if the creator is gone (killed before it
// read this): then no record will ever claim the task, and the caller ends it.
static int report_started(int statefd, const char *line, const char *rootfs) {
  if (!rootfs) rootfs = "";
  int fd = openat(statefd, "supervisor.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0) {
    dprintf(fd, "%srootfs %s\n", line, rootfs);
    close(fd);
    renameat(statefd, "supervisor.tmp", statefd, "supervisor");
  }
  size_t len = strlen(line);
  ssize_t n = write(REPORT_FD, line, len);
  close(REPORT_FD);
  return n == (ssize_t)len ? 0 : -1;
}

static void detach_from_streams(void) {
  // The supervisor keeps none of the task's streams: a reader of the logs sees EOF when the
  // command and its children are done with them.
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0) {
    dup2(devnull, 0);
    dup2(devnull, 1);
    dup2(devnull, 2);
    if (devnull > 2) close(devnull);
  }
}

static int run_jailed(struct plan *plan, int statefd, char **command, char **argv, int argc) {
  // Cgroups first, limits written before any process is inside.
  for (int i = 0; i < plan->ncgroups; i++) {
    struct cgroup *cg = &plan->cgroups[i];
    if (mkdir(cg->path, 0755) == 0 || errno == EEXIST) {
      cg->made = 1;
    } else if (cg->required) {  // a parent that cannot be made shows as its child's failure
      fail_and_clean(plan, failure_of(STEP_CGROUP, errno, cg->path));
    }
  }
  for (int i = 0; i < plan->nwrites; i++) {
    const struct cgroup_write *w = &plan->writes[i];
    if (write_file(w->file, w->value) != 0 && !(w->optional && errno == ENOENT))
      fail_and_clean(plan, failure_of(STEP_CGROUP_WRITE, errno, w->file));
  }

  int channel[2], go[2], status[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel) != 0 ||
      pipe2(go, O_CLOEXEC) != 0 || pipe2(status, O_CLOEXEC) != 0)
    fail_and_clean(plan, failure_of(STEP_PIPE, errno, ""));
  int on = 1;
  setsockopt(channel[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof on);

  // The host's addresses, for the init to close off in the task's namespace (see
  // block_host_addresses), read while this process still sees the host's network.
  if (plan->nnetwork_setup) read_host_addresses();
  // The root by descriptor: the init inherits it as its working directory (see build_jail).
  if (fchdir(ROOT_FD) != 0) fail_and_clean(plan, failure_of(STEP_CHDIR, errno, "the task's root"));
  // Born in the v2 cgroup if there is one: moving a process in later would cost an RCU grace
  // period (tens of milliseconds), being born there costs nothing.
  struct cgroup *born_in = NULL;
  pid_t init = -1;
  int cgroupfd = -1;
  for (int i = 0; i < plan->ncgroups && born_in == NULL; i++)
    if (plan->cgroups[i].v2 && plan->cgroups[i].made) born_in = &plan->cgroups[i];
  if (born_in) {
    cgroupfd = open(born_in->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct clone_args args = {
        .flags = (uint64_t)plan->namespaces | CLONE_INTO_CGROUP,
        .exit_signal = SIGCHLD,
        .cgroup = (uint64_t)cgroupfd,
    };
    if (cgroupfd >= 0) init = (pid_t)syscall(SYS_clone3, &args, sizeof args);
    if (init >= 0) born_in->joined = 1;
    if (cgroupfd >= 0) close(cgroupfd);  // in the init too: it keeps nothing of the host
  }
  if (init < 0)
    init = (pid_t)syscall(SYS_clone, (unsigned long)plan->namespaces | SIGCHLD, NULL, NULL, NULL, NULL);
  if (init < 0) fail_and_clean(plan, failure_of(STEP_CLONE, errno, "namespaces"));
  if (init == 0) {
    // The init keeps nothing of the host but what it needs: no descriptor of the state
    // directory may be reachable through /proc/1/fd from inside.
    close(statefd);
    close(ROOT_FD);
    close(channel[0]);
    close(go[1]);
    close(status[0]);
    close(REPORT_FD);
    run_init(plan, command, go[0], channel[1], status[1], argv, argc);
  }
  close(channel[1]);
  close(go[0]);
  close(status[1]);
  close(ROOT_FD);
  if (chdir("/") != 0) fail_and_clean(plan, failure_of(STEP_CHDIR, errno, "/"));  // keep nothing busy
  // Into the task's cgroups before the init does anything, so all it starts is counted.
  char pid_text[32];
  snprintf(pid_text, sizeof pid_text, "%d", (int)init);
  for (int i = 0; i < plan->ncgroups; i++) {
    struct cgroup *cg = &plan->cgroups[i];
    if (!cg->made || cg->parent || cg->joined) continue;
    char procs[4096];
    snprintf(procs, sizeof procs, "%s/cgroup.procs", cg->path);
    if (write_file(procs, pid_text) != 0 && cg->required) {
      struct failure failure = failure_of(STEP_CGROUP_JOIN, errno, cg->path);
      kill(init, SIGKILL);
      wait_for(init, NULL);
      fail_and_clean(plan, failure);
    }
  }
  if (plan->network_setup) {
    struct failure failure = connect_network(plan, init, statefd);
    if (failure.step != 0) {
      kill(init, SIGKILL);
      wait_for(init, NULL);
      fail_and_clean(plan, failure);
    }
  }
  if (write(go[1], "g", 1) != 1) {
    kill(init, SIGKILL);
    wait_for(init, NULL);
    fail_and_clean(plan, failure_of(STEP_PIPE, errno, "init"));
  }
  close(go[1]);

  struct failure failure;
  pid_t pid = await_exec(channel[0], &failure);
  close(channel[0]);
  if (failure.step != 0 || pid <= 0) {
    int init_status = 0;
    wait_for(init, &init_status);
    if (failure.step == 0) {
      char why[128];
      if (WIFSIGNALED(init_status))
        snprintf(why, sizeof why, "the task's init was killed by signal %d before the command started%s",
                 WTERMSIG(init_status), WTERMSIG(init_status) == SIGKILL ? " (is --memory too small?)" : "");
      else
        snprintf(why, sizeof why, "the task's init ended before the command started%s",
                 plan->seccomp ? " (does the seccomp profile refuse execve, sendmsg or exit_group?)" : "");
      failure = failure_of(STEP_EXEC, ECHILD, why);
    }
    fail_and_clean(plan, failure);
  }
  char line[256];
  snprintf(line, sizeof line, "ok %d %llu %d %llu %d %llu\n", (int)pid, start_time(pid), (int)getpid(),
           start_time(getpid()), (int)init, start_time(init));
  if (report_started(statefd, line, plan->report_rootfs) != 0) {
    kill(init, SIGKILL);
    wait_for(init, NULL);
    stop_network(plan);
    remove_cgroups(plan);
    _exit(1);
  }
  detach_from_streams();

  int init_status = 0, command_status;
  pid_t waited = wait_for(init, &init_status);
  ssize_t n;
  do {
    n = read(status[0], &command_status, sizeof command_status);
  } while (n < 0 && errno == EINTR);
  // The init tells how the command ended; if it was killed first (rm --force), its own end is
  // the task's. Recorded first, as soon as it is known: the network and the cgroups go after
  // (rm waits for this process to end, so it finds no pasta left).
  if (n == (ssize_t)sizeof command_status)
    write_exit_record(statefd, command_status);
  else if (waited == init)
    write_exit_record(statefd, init_status);
  stop_network(plan);
  remove_cgroups(plan);
  return 0;
}

static int run_chrooted(struct plan *plan, int statefd, char **command) {
  int channel[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel) != 0)
    report_failure(failure_of(STEP_PIPE, errno, ""));
  (void)plan;
  pid_t child = fork();
  if (child < 0) report_failure(failure_of(STEP_FORK, errno, ""));
  if (child == 0) {
    close(channel[0]);
    // The root by descriptor, never by a path that could be swapped meanwhile.
    if (fchdir(ROOT_FD) != 0 || chroot(".") != 0) {
      send_failure(channel[1], failure_of(STEP_CHROOT, errno, "the task's root"));
      _exit(127);
    }
    close(ROOT_FD);
    exec_command(plan, NULL, command, channel[1], -1);
  }
  close(channel[1]);
  struct failure failure;
  await_exec(channel[0], &failure);
  close(channel[0]);
  if (failure.step != 0) {
    wait_for(child, NULL);
    report_failure(failure);
  }
  // The child is not reaped yet, so its /proc entry is still there even if it already exited.
  char line[256];
  snprintf(line, sizeof line, "ok %d %llu %d %llu 0 0\n", (int)child, start_time(child), (int)getpid(),
           start_time(getpid()));
  if (report_started(statefd, line, plan->report_rootfs) != 0) {
    kill(child, SIGKILL);
    wait_for(child, NULL);
    _exit(1);
  }
  detach_from_streams();
  int status;
  if (wait_for(child, &status) == child) write_exit_record(statefd, status);
  return 0;
}

#ifdef TASKER_FUZZ_PLAN
// libFuzzer's entry (scripts/fuzz.sh builds this file alone with -DTASKER_FUZZ_PLAN and
// AddressSanitizer): any bytes either fail to parse, or parse into a plan whose printed form
// parses again into the same printed form — what the executor carries out is what it shows.
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static struct plan plan, again;
  if (size > MAX_PLAN || memchr(data, 0, size)) return 0;
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  memset(&plan, 0, sizeof plan);
  if (parse_plan(text, &plan) == 0) {
    char *printed = NULL, *reprinted = NULL;
    size_t printed_size = 0, reprinted_size = 0;
    FILE *out = open_memstream(&printed, &printed_size);
    print_plan(out, &plan);
    fclose(out);
    char *copy = strdup(printed);
    memset(&again, 0, sizeof again);
    if (parse_plan(copy, &again) != 0) abort();  // what it printed, it cannot read
    out = open_memstream(&reprinted, &reprinted_size);
    print_plan(out, &again);
    fclose(out);
    if (strcmp(printed, reprinted) != 0) abort();  // the plan changed on the way through
    free(printed);
    free(reprinted);
    free(copy);
  }
  free(text);
  return 0;
}
#else
int main(int argc, char **argv) {
  static struct plan plan;
  if (argc == 2 && strcmp(argv[1], "--print-plan") == 0) {
    char *document = read_document(0);
    int bad = document ? parse_plan(document, &plan) : -1;
    if (bad != 0) {
      fprintf(stderr, "tasker-supervisor: invalid plan (line %d)\n", bad);
      return 2;
    }
    print_plan(stdout, &plan);
    return fflush(stdout) == 0 ? 0 : 1;
  }
  // Started from a sealed memory copy (see TaskManager+Create.swift): nothing inside the task
  // can reach this program's file on the host through /proc/PID/exe.
  close(SELF_FD);
  if (argc < 3 || strcmp(argv[1], "--") != 0) {
    fprintf(stderr, "usage: tasker-supervisor -- COMMAND [ARG...]  (with the plan on fd %d)\n", PLAN_FD);
    dprintf(REPORT_FD, "error usage %d bad arguments\n", EINVAL);
    return 2;
  }
  char *document = read_document(PLAN_FD);
  close(PLAN_FD);
  plan_document = document;
  plan_document_size = document ? strlen(document) : 0;
  int bad = document ? parse_plan(document, &plan) : -1;
  if (bad != 0) {
    fprintf(stderr, "tasker-supervisor: invalid plan (line %d)\n", bad);
    dprintf(REPORT_FD, "error usage %d invalid plan (line %d)\n", EINVAL, bad);
    return 2;
  }
  char **command = argv + 2;

  // Detach from the creator: the first half exits at once (the creator reaps it), the second
  // half is adopted by init (or the nearest subreaper) and leaves the creator's session.
  pid_t detached = fork();
  if (detached < 0) report_failure(failure_of(STEP_FORK, errno, ""));
  if (detached > 0) _exit(0);
  setsid();
  // A creator that died (SIGKILL mid-create) must not take the supervisor with it through
  // SIGPIPE on fd 3: the supervisor notices and ends the task instead (see report_started).
  signal(SIGPIPE, SIG_IGN);

  struct stat state;
  if (fstat(STATE_FD, &state) != 0 || !S_ISDIR(state.st_mode))
    report_failure(failure_of(STEP_STATE, errno ? errno : ENOTDIR, "the task's state directory"));
  if (plan.jail) return run_jailed(&plan, STATE_FD, command, argv, argc);
  return run_chrooted(&plan, STATE_FD, command);
}
#endif
