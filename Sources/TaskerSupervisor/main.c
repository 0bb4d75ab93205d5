// tasker-supervisor: the small process that stays with one task for its whole life.
//
//   tasker-supervisor -- COMMAND [ARG...]
//   tasker-supervisor --print-plan          (reads a plan on stdin, prints what it parsed)
//
// Descriptors on entry: 0 the task's stdin, 1 and 2 its stdout and stderr, 3 the report pipe,
// 4 the plan (below), 5 the task's state directory, 6 the task's root directory (the mount in
// the root-only state directory; never a path the download path's owner could swap), and 7
// the sealed memory copy of this program that it was started from (closed at once), and from
// 16 (ATTACH_FD) the detached mount trees of the task's bind sources that "attach" records name
// (8 to 15 are /dev/null then). The environment is the command's environment.
//
// It detaches (fork, the first half exits, setsid), starts the command in the root, tells the
// creator over fd 3 either
//     ok CMD_PID CMD_START SUPERVISOR_PID SUPERVISOR_START INIT_PID INIT_START
// or  error STEP ERRNO DETAIL
// then relays the command's streams (see serve_streams) until it ends, and records its end in
// exit.json of the state directory (written to a temporary name, then renamed): the exit code
// or signal, whether the OOM killer ended a process of the task's memory cgroup, and the
// restarts so far. With a restart policy (the "restart" record) it then starts the command
// again (see supervise); each restart's processes go to run.json.
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
//     attach FD PATH KIND         move the detached mount tree on descriptor FD (ATTACH_FD and
//                                 up: a bind source tasker opened and cloned once) onto PATH,
//                                 made if missing as KIND: dir, file, or replace-file (whatever
//                                 the image has there that is not a regular file, a symlink
//                                 say, is removed first, never followed)
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
//     terminal ROWS COLS          a task's (mode task): the command gets a pseudo-terminal made in
//                                 its own devpts (the jail's /dev/pts) as its controlling terminal
//                                 and stdio; the master comes back over the exec channel and the
//                                 supervisor copies it into the stdout log (see serve_streams)
//     log-relay                   the command's stdout and stderr are pipes the supervisor copies
//                                 into fds 1 and 2 (the log files), noting when lines started (one
//                                 entry per read) in stdout.index and stderr.index of the state
//                                 directory
//     stdin-pipe                  the command's stdin is a pipe fed from the attach socket
//                                 (without it, stdin is what fd 0 is: /dev/null); with stdin-pipe
//                                 or terminal the supervisor serves STATE_DIR/attach (see below)
//     no-new-privileges
//     seccomp ACTION ERRNO        the command's filter: the action for every call no rule names
//     seccomp-rule NAME ACTION ERRNO [INDEX OP VALUE VALUE2]...
//                                 (libseccomp compiles them for this host's architecture; a name
//                                 this libseccomp does not know is skipped, as runc does)
//     restart POLICY MAX          after the command ends, start it again (fresh namespaces, the
//                                 same root): POLICY on-failure (a non-zero exit or a signal)
//                                 or always; MAX restarts at most (0: no bound). Not once the
//                                 state directory holds "stopping" (stop, rm) or is deleted.
//
// Written in C and linked statically (libseccomp included) so that a thousand idle tasks cost a
// thousand small processes, not a thousand Swift runtimes. It is single-threaded, so after fork
// the child may call anything.
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
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
#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <linux/mount.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { REPORT_FD = 3, PLAN_FD = 4, STATE_FD = 5, ROOT_FD = 6, SELF_FD = 7, CONSOLE_FD = 8, PRESERVED_FD = 9 };
// Descriptors ATTACH_FD to ATTACH_FD + MAX_ATTACH - 1 hold detached mount trees ("attach").
enum { ATTACH_FD = 16, MAX_ATTACH = 64 };
enum { MAX_STEPS = 512, MAX_CGROUPS = 32, MAX_JOINS = 8, MAX_MAPS = 32, MAX_GROUPS = 64, MAX_RLIMITS = 16,
       MAX_HOOKS = 64, MAX_HOOK_WORDS = 256, MAX_RULES = 2048, MAX_ARGS = 6, MAX_PLAN = 1 << 20, MAX_SETUP_WORDS = 256 };
enum { PLAN_VERSION = 2 };
// The flags a bind may carry (read-only, nosuid, nodev, noexec, noatime..., recursive), and a
// propagation change (shared, slave, private, unbindable, recursive).
#define BIND_FLAGS                                                                                 \
  (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME | MS_NODIRATIME | MS_RELATIME | MS_STRICTATIME | \
   MS_REC)
#define PROPAGATION_FLAGS (MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE | MS_REC)
#define NAMESPACE_FLAGS \
  (CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP | CLONE_NEWUSER)

enum step {
  STEP_USAGE = 1, STEP_FORK, STEP_STATE, STEP_PIPE, STEP_CHROOT, STEP_CHDIR, STEP_EXEC,
  STEP_CLONE, STEP_CGROUP, STEP_CGROUP_WRITE, STEP_CGROUP_JOIN, STEP_CGROUPNS, STEP_MOUNT,
  STEP_MKDIR, STEP_BIND, STEP_SYMLINK, STEP_PIVOT_ROOT, STEP_HOSTNAME, STEP_NETWORK,
  STEP_CAPABILITIES, STEP_NO_NEW_PRIVS, STEP_SECCOMP, STEP_INIT, STEP_NETWORK_SETUP,
  STEP_SETNS, STEP_ID_MAP, STEP_USER, STEP_RLIMIT, STEP_OOM_SCORE, STEP_MKNOD, STEP_SYSCTL, STEP_HOOK,
  STEP_CONSOLE, STEP_PERSONALITY, STEP_DOMAINNAME, STEP_FIFO, STEP_INIT_KILLED,
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
    [STEP_NETWORK_SETUP] = "network", [STEP_SETNS] = "setns", [STEP_ID_MAP] = "id-map",
    [STEP_USER] = "user", [STEP_RLIMIT] = "rlimit", [STEP_OOM_SCORE] = "oom-score-adj",
    [STEP_MKNOD] = "mknod", [STEP_SYSCTL] = "sysctl", [STEP_HOOK] = "hook", [STEP_CONSOLE] = "console",
    [STEP_PERSONALITY] = "personality", [STEP_DOMAINNAME] = "setdomainname", [STEP_FIFO] = "exec-fifo",
    [STEP_INIT_KILLED] = "init-killed",
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

enum kind { MKDIR, MOUNT, BIND, SYMLINK, READONLY, MASK, MKNOD, WRITE, PROPAGATION, ATTACH };
enum attach_kind { ATTACH_DIR, ATTACH_FILE, ATTACH_REPLACE_FILE };
static const char *const attach_kind_names[] = {"dir", "file", "replace-file"};

struct setup_step {
  enum kind kind;
  const char *a, *b, *c;
  unsigned long number;  // mkdir's and mknod's mode, mount's, bind's and propagation's flags,
                         // attach's descriptor
  const char *data;      // mount's data
  uint64_t major, minor;  // mknod's device numbers
  uint32_t uid, gid;      // mknod's owner
  int attach_kind;
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

// A namespace of an existing process to enter (OCI `linux.namespaces[].path`).
struct join {
  int flag;  // its CLONE_NEW* flag
  const char *path;
  int fd;
};

struct id_map {
  uint32_t inside, outside, count;
};

struct rlimit_entry {
  int resource;
  uint64_t soft, hard;
};

// When a hook runs (the OCI runtime spec's lifecycle): createRuntime and prestart in the
// runtime's namespaces once the container's exist, createContainer in the container's mount
// namespace before pivot_root, startContainer in the container just before its process; the
// other two are run by tasker-runtime itself (`--hooks`).
enum hook_phase { HOOK_PRESTART, HOOK_CREATE_RUNTIME, HOOK_CREATE_CONTAINER, HOOK_START_CONTAINER,
                  HOOK_POSTSTART, HOOK_POSTSTOP, HOOK_PHASES };
static const char *const hook_phase_names[HOOK_PHASES] = {
    "prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"};

struct hook {
  int phase;
  unsigned timeout;  // seconds; 0 for none
  const char *path;
  char **argv;  // into the plan's hook words
  int nargs;
  char **envp;
  int nenv;
};

// What the process is, how it is started.
enum mode { MODE_TASK, MODE_OCI, MODE_EXEC };
static const char *const mode_names[] = {"task", "oci", "exec"};

// When a task's command is started again after it ends (the plan's "restart" record).
enum restart_policy { RESTART_NO, RESTART_ON_FAILURE, RESTART_ALWAYS };
static const char *const restart_names[] = {"no", "on-failure", "always"};

struct plan {
  int jail;
  int mode;
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
  // The OCI runtime's additions (records after "capabilities" in the header's list).
  struct join joins[MAX_JOINS];
  int njoins;
  struct id_map uid_maps[MAX_MAPS], gid_maps[MAX_MAPS];
  int nuid_maps, ngid_maps;
  int readonly_root;
  unsigned long root_propagation;
  int no_pivot;
  const char *domainname;
  int user_set;
  uint32_t uid, gid;
  uint32_t groups[MAX_GROUPS];
  int ngroups;
  int umask_set;
  unsigned umask;
  int capability_sets_set;
  uint64_t capability_sets[5];  // bounding, effective, inheritable, permitted, ambient
  struct rlimit_entry rlimits[MAX_RLIMITS];
  int nrlimits;
  int oom_score_set;
  int oom_score_adj;
  int personality_set;
  unsigned long personality;
  int terminal;
  unsigned rows, cols;
  int log_relay;   // mode task: stdout and stderr through the supervisor into the logs
  int stdin_pipe;  // mode task: stdin a pipe fed from the attach socket
  int preserve_fds;
  int restart_policy;  // RESTART_NO, RESTART_ON_FAILURE, RESTART_ALWAYS
  unsigned restart_max;
  const char *state_prefix, *state_suffix;  // the hooks' state document, around status and pid
  struct hook hooks[MAX_HOOKS];
  int nhooks;
  char *hook_words[4096];
  int nhook_words;
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
        if (parse_number(fields[3], 10, BIND_FLAGS, &a) != 0 || (a & ~(uint64_t)BIND_FLAGS)) return line_number;
        *s = (struct setup_step){BIND, fields[1], fields[2], NULL, a, NULL};
      }
    } else if (strcmp(key, "mknod") == 0) {
      EXPECT(8);
      if (plan->nsteps == MAX_STEPS || strlen(fields[2]) != 1 || !strchr("cbp", fields[2][0]) ||
          parse_number(fields[3], 10, UINT32_MAX, &a) != 0 || parse_number(fields[4], 10, UINT32_MAX, &b) != 0 ||
          parse_number(fields[5], 8, 07777, &c) != 0)
        return line_number;
      uint64_t uid, gid;
      if (parse_number(fields[6], 10, UINT32_MAX, &uid) != 0 || parse_number(fields[7], 10, UINT32_MAX, &gid) != 0)
        return line_number;
      plan->steps[plan->nsteps++] =
          (struct setup_step){MKNOD, fields[1], fields[2], NULL, c, NULL, a, b, (uint32_t)uid, (uint32_t)gid};
    } else if (strcmp(key, "write") == 0) {
      EXPECT(3);
      if (plan->nsteps == MAX_STEPS) return line_number;
      plan->steps[plan->nsteps++] = (struct setup_step){WRITE, fields[1], fields[2], NULL, 0, NULL, 0, 0, 0, 0};
    } else if (strcmp(key, "propagation") == 0) {
      EXPECT(3);
      if (plan->nsteps == MAX_STEPS || parse_number(fields[2], 10, PROPAGATION_FLAGS, &a) != 0 ||
          (a & ~(uint64_t)PROPAGATION_FLAGS) || !(a & ~(uint64_t)MS_REC))
        return line_number;
      plan->steps[plan->nsteps++] = (struct setup_step){PROPAGATION, fields[1], NULL, NULL, a, NULL, 0, 0, 0, 0};
    } else if (strcmp(key, "attach") == 0) {
      EXPECT(4);
      int kind = lookup(fields[3], attach_kind_names, 3);
      if (plan->nsteps == MAX_STEPS || parse_number(fields[1], 10, ATTACH_FD + MAX_ATTACH - 1, &a) != 0 ||
          a < ATTACH_FD || kind < 0 || !*fields[2])
        return line_number;
      plan->steps[plan->nsteps] = (struct setup_step){ATTACH, fields[2], NULL, NULL, a, NULL, 0, 0, 0, 0};
      plan->steps[plan->nsteps++].attach_kind = kind;
    } else if (strcmp(key, "mode") == 0) {
      EXPECT(2);
      int mode = lookup(fields[1], mode_names, 3);
      if (mode < 0) return line_number;
      plan->mode = mode;
    } else if (strcmp(key, "join") == 0) {
      EXPECT(3);
      if (plan->njoins == MAX_JOINS || parse_number(fields[1], 10, 0x7fffffff, &a) != 0 ||
          __builtin_popcountll(a) != 1 || !(a & NAMESPACE_FLAGS) || !*fields[2])
        return line_number;
      plan->joins[plan->njoins++] = (struct join){(int)a, fields[2], -1};
    } else if (strcmp(key, "uid-map") == 0 || strcmp(key, "gid-map") == 0) {
      EXPECT(4);
      int uid = key[0] == 'u';
      int *count = uid ? &plan->nuid_maps : &plan->ngid_maps;
      if (*count == MAX_MAPS || parse_number(fields[1], 10, UINT32_MAX, &a) != 0 ||
          parse_number(fields[2], 10, UINT32_MAX, &b) != 0 || parse_number(fields[3], 10, UINT32_MAX, &c) != 0 ||
          c == 0)
        return line_number;
      (uid ? plan->uid_maps : plan->gid_maps)[(*count)++] = (struct id_map){(uint32_t)a, (uint32_t)b, (uint32_t)c};
    } else if (strcmp(key, "readonly-root") == 0) {
      EXPECT(1);
      plan->readonly_root = 1;
    } else if (strcmp(key, "root-propagation") == 0) {
      EXPECT(2);
      if (parse_number(fields[1], 10, PROPAGATION_FLAGS, &a) != 0 || (a & ~(uint64_t)PROPAGATION_FLAGS) ||
          !(a & ~(uint64_t)MS_REC))
        return line_number;
      plan->root_propagation = a;
    } else if (strcmp(key, "no-pivot") == 0) {
      EXPECT(1);
      plan->no_pivot = 1;
    } else if (strcmp(key, "domainname") == 0) {
      EXPECT(2);
      plan->domainname = fields[1];
    } else if (strcmp(key, "user") == 0) {
      if (n < 3 || n - 3 > MAX_GROUPS || parse_number(fields[1], 10, UINT32_MAX, &a) != 0 ||
          parse_number(fields[2], 10, UINT32_MAX, &b) != 0)
        return line_number;
      plan->user_set = 1;
      plan->uid = (uint32_t)a;
      plan->gid = (uint32_t)b;
      plan->ngroups = n - 3;
      for (int i = 3; i < n; i++) {
        if (parse_number(fields[i], 10, UINT32_MAX, &c) != 0) return line_number;
        plan->groups[i - 3] = (uint32_t)c;
      }
    } else if (strcmp(key, "umask") == 0) {
      EXPECT(2);
      if (parse_number(fields[1], 8, 0777, &a) != 0) return line_number;
      plan->umask_set = 1;
      plan->umask = (unsigned)a;
    } else if (strcmp(key, "capability-sets") == 0) {
      EXPECT(6);
      for (int i = 0; i < 5; i++)
        if (parse_number(fields[i + 1], 16, UINT64_MAX, &plan->capability_sets[i]) != 0) return line_number;
      plan->capability_sets_set = 1;
    } else if (strcmp(key, "rlimit") == 0) {
      EXPECT(4);
      if (plan->nrlimits == MAX_RLIMITS || parse_number(fields[1], 10, RLIM_NLIMITS - 1, &a) != 0 ||
          parse_number(fields[2], 10, UINT64_MAX, &b) != 0 || parse_number(fields[3], 10, UINT64_MAX, &c) != 0)
        return line_number;
      plan->rlimits[plan->nrlimits++] = (struct rlimit_entry){(int)a, b, c};
    } else if (strcmp(key, "oom-score-adj") == 0) {
      EXPECT(2);
      char *end;
      errno = 0;
      long value = strtol(fields[1], &end, 10);
      if (errno || *end || !*fields[1] || value < -1000 || value > 1000) return line_number;
      plan->oom_score_set = 1;
      plan->oom_score_adj = (int)value;
    } else if (strcmp(key, "personality") == 0) {
      EXPECT(2);
      if (parse_number(fields[1], 10, UINT32_MAX, &a) != 0) return line_number;
      plan->personality_set = 1;
      plan->personality = (unsigned long)a;
    } else if (strcmp(key, "terminal") == 0) {
      EXPECT(3);
      if (parse_number(fields[1], 10, UINT16_MAX, &a) != 0 || parse_number(fields[2], 10, UINT16_MAX, &b) != 0)
        return line_number;
      plan->terminal = 1;
      plan->rows = (unsigned)a;
      plan->cols = (unsigned)b;
    } else if (strcmp(key, "log-relay") == 0) {
      EXPECT(1);
      plan->log_relay = 1;
    } else if (strcmp(key, "stdin-pipe") == 0) {
      EXPECT(1);
      plan->stdin_pipe = 1;
    } else if (strcmp(key, "preserve-fds") == 0) {
      EXPECT(2);
      if (parse_number(fields[1], 10, 1000, &a) != 0) return line_number;
      plan->preserve_fds = (int)a;
    } else if (strcmp(key, "restart") == 0) {
      EXPECT(3);
      int policy = lookup(fields[1], restart_names, 3);
      if (policy <= RESTART_NO || parse_number(fields[2], 10, UINT32_MAX, &a) != 0) return line_number;
      plan->restart_policy = policy;
      plan->restart_max = (unsigned)a;
    } else if (strcmp(key, "hook-state") == 0) {
      EXPECT(3);
      plan->state_prefix = fields[1];
      plan->state_suffix = fields[2];
    } else if (strcmp(key, "hook") == 0) {
      // hook PHASE TIMEOUT PATH NARGS ARG... ENV...
      if (n < 5 || plan->nhooks == MAX_HOOKS) return line_number;
      int phase = lookup(fields[1], hook_phase_names, HOOK_PHASES);
      if (phase < 0 || parse_number(fields[2], 10, 86400, &a) != 0 || !*fields[3] ||
          parse_number(fields[4], 10, (uint64_t)(n - 5), &b) != 0)
        return line_number;
      int nargs = (int)b, nenv = n - 5 - nargs;
      if (plan->nhook_words + nargs + nenv + 2 > (int)(sizeof plan->hook_words / sizeof plan->hook_words[0]))
        return line_number;
      struct hook *h = &plan->hooks[plan->nhooks++];
      *h = (struct hook){phase, (unsigned)a, fields[3], plan->hook_words + plan->nhook_words, nargs, NULL, nenv};
      for (int i = 0; i < nargs; i++) plan->hook_words[plan->nhook_words++] = fields[5 + i];
      plan->hook_words[plan->nhook_words++] = NULL;
      h->envp = plan->hook_words + plan->nhook_words;
      for (int i = 0; i < nenv; i++) plan->hook_words[plan->nhook_words++] = fields[5 + nargs + i];
      plan->hook_words[plan->nhook_words++] = NULL;
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
  if (plan->mode != MODE_TASK) fprintf(out, "mode\t%s\n", mode_names[plan->mode]);
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
  for (int i = 0; i < plan->njoins; i++) {
    fprintf(out, "join\t%d", plan->joins[i].flag);
    print_field(out, plan->joins[i].path);
    fputc('\n', out);
  }
  for (int i = 0; i < plan->nuid_maps; i++)
    fprintf(out, "uid-map\t%u\t%u\t%u\n", plan->uid_maps[i].inside, plan->uid_maps[i].outside,
            plan->uid_maps[i].count);
  for (int i = 0; i < plan->ngid_maps; i++)
    fprintf(out, "gid-map\t%u\t%u\t%u\n", plan->gid_maps[i].inside, plan->gid_maps[i].outside,
            plan->gid_maps[i].count);
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
      case MKNOD:
        fprintf(out, "mknod");
        print_field(out, s->a);
        print_field(out, s->b);
        fprintf(out, "\t%llu\t%llu\t%lo\t%u\t%u\n", (unsigned long long)s->major, (unsigned long long)s->minor,
                s->number, s->uid, s->gid);
        break;
      case WRITE:
        fprintf(out, "write");
        print_field(out, s->a);
        print_field(out, s->b);
        fputc('\n', out);
        break;
      case PROPAGATION:
        fprintf(out, "propagation");
        print_field(out, s->a);
        fprintf(out, "\t%lu\n", s->number);
        break;
      case ATTACH:
        fprintf(out, "attach\t%lu", s->number);
        print_field(out, s->a);
        fprintf(out, "\t%s\n", attach_kind_names[s->attach_kind]);
        break;
    }
  }
  if (plan->readonly_root) fprintf(out, "readonly-root\n");
  if (plan->root_propagation) fprintf(out, "root-propagation\t%lu\n", plan->root_propagation);
  if (plan->no_pivot) fprintf(out, "no-pivot\n");
  if (plan->hostname) {
    fprintf(out, "hostname");
    print_field(out, plan->hostname);
    fputc('\n', out);
  }
  if (plan->domainname) {
    fprintf(out, "domainname");
    print_field(out, plan->domainname);
    fputc('\n', out);
  }
  if (plan->loopback) fprintf(out, "loopback-up\n");
  if (plan->nnetwork_setup) {
    fprintf(out, "network-setup");
    for (int i = 0; i < plan->nnetwork_setup; i++) print_field(out, plan->network_setup[i]);
    fputc('\n', out);
  }
  if (plan->user_set) {
    fprintf(out, "user\t%u\t%u", plan->uid, plan->gid);
    for (int i = 0; i < plan->ngroups; i++) fprintf(out, "\t%u", plan->groups[i]);
    fputc('\n', out);
  }
  if (plan->umask_set) fprintf(out, "umask\t%o\n", plan->umask);
  if (plan->capabilities_set) fprintf(out, "capabilities\t%llx\n", (unsigned long long)plan->capabilities);
  if (plan->capability_sets_set) {
    fprintf(out, "capability-sets");
    for (int i = 0; i < 5; i++) fprintf(out, "\t%llx", (unsigned long long)plan->capability_sets[i]);
    fputc('\n', out);
  }
  for (int i = 0; i < plan->nrlimits; i++)
    fprintf(out, "rlimit\t%d\t%llu\t%llu\n", plan->rlimits[i].resource, (unsigned long long)plan->rlimits[i].soft,
            (unsigned long long)plan->rlimits[i].hard);
  if (plan->oom_score_set) fprintf(out, "oom-score-adj\t%d\n", plan->oom_score_adj);
  if (plan->personality_set) fprintf(out, "personality\t%lu\n", plan->personality);
  if (plan->terminal) fprintf(out, "terminal\t%u\t%u\n", plan->rows, plan->cols);
  if (plan->log_relay) fprintf(out, "log-relay\n");
  if (plan->stdin_pipe) fprintf(out, "stdin-pipe\n");
  if (plan->preserve_fds) fprintf(out, "preserve-fds\t%d\n", plan->preserve_fds);
  if (plan->no_new_privs) fprintf(out, "no-new-privileges\n");
  if (plan->restart_policy != RESTART_NO)
    fprintf(out, "restart\t%s\t%u\n", restart_names[plan->restart_policy], plan->restart_max);
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
  if (plan->state_prefix) {
    fprintf(out, "hook-state");
    print_field(out, plan->state_prefix);
    print_field(out, plan->state_suffix);
    fputc('\n', out);
  }
  for (int i = 0; i < plan->nhooks; i++) {
    const struct hook *h = &plan->hooks[i];
    fprintf(out, "hook\t%s\t%u", hook_phase_names[h->phase], h->timeout);
    print_field(out, h->path);
    fprintf(out, "\t%d", h->nargs);
    for (int j = 0; j < h->nargs; j++) print_field(out, h->argv[j]);
    for (int j = 0; j < h->nenv; j++) print_field(out, h->envp[j]);
    fputc('\n', out);
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

// The plan of the task being supervised (for what its end record reads of its cgroups), how
// often it was restarted, and how its command last ended (see supervise).
static const struct plan *supervised;
static unsigned restart_count;
static int last_status, last_status_known;

// How many processes the kernel's OOM killer ended in the task's memory cgroup: v2's
// memory.events and v1's memory.oom_control both count them as "oom_kill N" (v1 since 4.13).
static unsigned long long oom_kills(const struct plan *plan) {
  unsigned long long total = 0;
  for (int i = 0; plan && i < plan->ncgroups; i++) {
    if (plan->cgroups[i].parent || !plan->cgroups[i].made) continue;
    static const char *const files[] = {"memory.events", "memory.oom_control"};
    for (int f = 0; f < 2; f++) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", plan->cgroups[i].path, files[f]);
      FILE *in = fopen(path, "re");
      if (!in) continue;
      char key[64];
      unsigned long long value;
      while (fscanf(in, "%63s %llu", key, &value) == 2)
        if (strcmp(key, "oom_kill") == 0) total += value;
      fclose(in);
    }
  }
  return total;
}

static void write_exit_record(int statefd, int status) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  char body[320];
  int len;
  double finished = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
  last_status = status;
  last_status_known = 1;
  // Read while the cgroups still exist (they are removed after this record).
  const char *oom = oom_kills(supervised) > 0 ? "true" : "false";
  if (WIFSIGNALED(status))
    len = snprintf(body, sizeof body,
                   "{\"exitCode\":null,\"signal\":%d,\"finishedAt\":%.6f,\"oomKilled\":%s,\"restartCount\":%u}\n",
                   WTERMSIG(status), finished, oom, restart_count);
  else
    len = snprintf(body, sizeof body,
                   "{\"exitCode\":%d,\"signal\":null,\"finishedAt\":%.6f,\"oomKilled\":%s,\"restartCount\":%u}\n",
                   WEXITSTATUS(status), finished, oom, restart_count);
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
  // libseccomp sets no_new_privs itself when it loads a filter; whether the process gets it is
  // the plan's to say (an OCI process without noNewPrivileges keeps setuid working).
  if (rc == 0) rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, plan->no_new_privs ? 1 : 0);
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
static int last_capability(void) {
  int last = 40;
  FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
  if (f) {
    if (fscanf(f, "%d", &last) != 1) last = 40;
    fclose(f);
  }
  return last;
}

// The bounding set of an OCI process, dropped while it is still root (dropping needs
// CAP_SETPCAP, which a change of user clears from the effective set).
static int drop_bounding(uint64_t keep) {
  int last = last_capability();
  for (int cap = 0; cap <= last; cap++)
    if (!(keep & (1ULL << cap)) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) return -1;
  return 0;
}

// The other four capability sets of an OCI process, once its user is set: effective,
// permitted and inheritable at once, then the ambient ones raised.
static int apply_capability_sets(const uint64_t sets[5]) {
  int last = last_capability();
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  for (int i = 0; i < 2; i++) {
    data[i].effective = (uint32_t)(sets[1] >> (32 * i));
    data[i].inheritable = (uint32_t)(sets[2] >> (32 * i));
    data[i].permitted = (uint32_t)(sets[3] >> (32 * i));
  }
  if (syscall(SYS_capset, &header, data) != 0) return -1;
  // An ambient capability that is not both permitted and inheritable cannot be raised; runc
  // and crun go on without it, and so does this.
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  for (int cap = 0; cap <= last; cap++)
    if (sets[4] & sets[3] & sets[2] & (1ULL << cap)) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
  return 0;
}

// The process's user: groups, then gid, then uid, keeping the capabilities the uid change
// would clear (the plan's sets are applied after).
static int switch_user(const struct plan *plan) {
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return -1;
  // A user namespace whose setgroups is denied (rootless) refuses any list, even an empty one.
  if (setgroups((size_t)plan->ngroups, plan->groups) != 0 && !(errno == EPERM && plan->ngroups == 0)) return -1;
  if (setresgid(plan->gid, plan->gid, plan->gid) != 0 || setresuid(plan->uid, plan->uid, plan->uid) != 0) return -1;
  return prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
}

// The command's side of the fork: in its root, with its rights, then exec. A failure goes back
// to the supervisor over `channel`, which closes on exec: EOF there means the exec succeeded.
// An OCI container's supervisor is gone by then: its failures are also told on stderr, which
// is the container's, as runc's are.
static void fail_command(const struct plan *plan, int channel, struct failure failure) {
  ssize_t sent = send(channel, &failure, sizeof failure, MSG_NOSIGNAL);
  if (sent < 0 && plan->mode != MODE_TASK)
    dprintf(2, "tasker-runtime: %s%s%s: %s\n", step_name(failure.step), failure.detail[0] ? " " : "",
            failure.detail, strerror(failure.err));
  _exit(127);
}

// The process's rights, given up in runc's order, before anything of the container can reach
// it: the descriptors it must not keep, its directory, umask, limits, persona, the filter
// (before the user change without no_new_privs), bounding set, user, no_new_privs, the other
// capability sets, the filter (with no_new_privs). Returns the step that failed, or none.
static struct failure prepare_process(const struct plan *plan, scmp_filter_ctx filter, int gate) {
  const char *workdir = plan->workdir;
  sigset_t none;
  sigemptyset(&none);
  for (int sig = 1; sig < NSIG; sig++) signal(sig, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  // Every other descriptor is the supervisor's business; the command starts with 0, 1 and 2
  // (and, in an OCI container, the descriptors its caller preserved).
  syscall(SYS_close_range, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
  // Nothing of the command runs before its init has given up its rights and descriptors: a
  // command allowed to ptrace would otherwise find a window in which the init still holds
  // them (the init writes one byte here when it is done; EOF means it failed and kills us).
  // Without an init (chroot isolation, an OCI container) there is no gate.
  if (gate >= 0) {
    char opened;
    ssize_t got;
    do {
      got = read(gate, &opened, 1);
    } while (got < 0 && errno == EINTR);
    if (got != 1) _exit(127);
  }
  if (chdir(workdir) != 0) return (failure_of(STEP_CHDIR, errno, workdir));
  if (plan->umask_set) umask((mode_t)plan->umask);
  // Limits first, while the process may still raise them (CAP_SYS_RESOURCE).
  for (int i = 0; i < plan->nrlimits; i++) {
    struct rlimit limit = {(rlim_t)plan->rlimits[i].soft, (rlim_t)plan->rlimits[i].hard};
    if (setrlimit(plan->rlimits[i].resource, &limit) != 0) {
      char detail[32];
      snprintf(detail, sizeof detail, "%d", plan->rlimits[i].resource);
      return (failure_of(STEP_RLIMIT, errno, detail));
    }
  }
  if (plan->personality_set && personality(plan->personality) < 0)
    return (failure_of(STEP_PERSONALITY, errno, ""));
  // Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: it goes on before the
  // process gives up its rights (runc's order); with it, as late as possible.
  if (filter && !plan->no_new_privs && (errno = -seccomp_load(filter)) != 0)
    return (failure_of(STEP_SECCOMP, errno, ""));
  if (plan->capability_sets_set && drop_bounding(plan->capability_sets[0]) != 0)
    return (failure_of(STEP_CAPABILITIES, errno, "bounding"));
  if (plan->user_set && switch_user(plan) != 0) return (failure_of(STEP_USER, errno, ""));
  // Never gain privileges across exec (setuid binaries, file capabilities).
  if (plan->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return (failure_of(STEP_NO_NEW_PRIVS, errno, ""));
  if (plan->capabilities_set && apply_capabilities(plan->capabilities) != 0)
    return (failure_of(STEP_CAPABILITIES, errno, ""));
  if (plan->capability_sets_set && apply_capability_sets(plan->capability_sets) != 0)
    return (failure_of(STEP_CAPABILITIES, errno, ""));
  if (filter && plan->no_new_privs && (errno = -seccomp_load(filter)) != 0)
    return (failure_of(STEP_SECCOMP, errno, ""));
  return failure_of(0, 0, NULL);
}

// The last of the command's side: its PID told (a task's), the caller's preserved descriptors
// in place, exec. A failure goes back over `channel`.
static void finish_exec(const struct plan *plan, char **command, int channel) {
  // The supervisor learns the command's PID, as its own PID namespace numbers it, from the
  // credentials the kernel attaches to this message. (An OCI container told it earlier.)
  if (plan->mode == MODE_TASK) {
    ssize_t ignored = send(channel, "P", 1, MSG_NOSIGNAL);
    (void)ignored;
  }
  // The caller's preserved descriptors, parked at PRESERVED_FD and up, become 3 and up.
  for (int i = 0; i < plan->preserve_fds; i++)
    if (dup2(PRESERVED_FD + i, 3 + i) < 0) fail_command(plan, channel, failure_of(STEP_EXEC, errno, "preserve-fds"));
  if (plan->preserve_fds) syscall(SYS_close_range, 3 + plan->preserve_fds, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
  // execvp searches the PATH of this process's environment, which is the command's.
  execvp(command[0], command);
  fail_command(plan, channel, failure_of(STEP_EXEC, errno, command[0]));
}


static struct failure make_console(const struct plan *plan, int socket);

static void exec_command(const struct plan *plan, scmp_filter_ctx filter, char **command, int channel,
                         int gate) {
  // A task's terminal, made before its rights go (opening the devpts master needs nothing
  // more, but the slave becomes its controlling terminal, which setsid must precede).
  if (plan->mode == MODE_TASK && plan->terminal) {
    struct failure made = make_console(plan, channel);
    if (made.step != 0) fail_command(plan, channel, made);
  }
  struct failure failure = prepare_process(plan, filter, gate);
  if (failure.step != 0) fail_command(plan, channel, failure);
  finish_exec(plan, command, channel);
}

// --- hooks (OCI) ----------------------------------------------------------------------------

// The container's PID as the runtime's namespace numbers it (what the hooks' state names).
static pid_t host_pid;

// Runs the plan's hooks of PHASE in order, each with the container's state on its stdin, its
// output kept for the failure message (not the container's streams), and killed at its
// timeout. The first that fails ends the run with its status and last line of output.
static struct failure run_hooks(const struct plan *plan, int phase, pid_t pid, const char *status) {
  // poststart and poststop hooks that fail are warnings: the others still run (the spec's rule).
  int keep_going = phase == HOOK_POSTSTART || phase == HOOK_POSTSTOP;
  struct failure warned = failure_of(0, 0, NULL);
  for (int i = 0; i < plan->nhooks; i++) {
    const struct hook *h = &plan->hooks[i];
    if (h->phase != phase) continue;
    char *state = NULL;
    size_t state_size = 0;
    FILE *out = open_memstream(&state, &state_size);
    if (!out) return failure_of(STEP_HOOK, errno, h->path);
    fprintf(out, "%s\"status\":\"%s\"", plan->state_prefix ? plan->state_prefix : "{", status);
    if (pid > 0) fprintf(out, ",\"pid\":%d", (int)pid);
    fprintf(out, "%s", plan->state_suffix ? plan->state_suffix : "}");
    fclose(out);
    int input[2], output[2];
    if (pipe2(input, O_CLOEXEC) != 0 || pipe2(output, O_CLOEXEC) != 0) {
      free(state);
      return failure_of(STEP_HOOK, errno, h->path);
    }
    pid_t child = fork();
    if (child < 0) {
      free(state);
      return failure_of(STEP_HOOK, errno, h->path);
    }
    if (child == 0) {
      signal(SIGPIPE, SIG_DFL);
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, NULL);
      if (dup2(input[0], 0) < 0 || dup2(output[1], 1) < 0 || dup2(output[1], 2) < 0) _exit(126);
      syscall(SYS_close_range, 3, ~0U, 0);
      char *fallback[] = {(char *)h->path, NULL};
      execve(h->path, h->nargs ? h->argv : fallback, h->envp);
      dprintf(2, "cannot run %s: %s\n", h->path, strerror(errno));
      _exit(127);
    }
    close(input[0]);
    close(output[1]);
    // A hook that does not read its state must not kill us with SIGPIPE (crun's flaky failure).
    void (*previous)(int) = signal(SIGPIPE, SIG_IGN);
    for (size_t done = 0; done < state_size;) {
      ssize_t n = write(input[1], state + done, state_size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      done += (size_t)n;
    }
    signal(SIGPIPE, previous);
    close(input[1]);
    free(state);
    // Its output until it exits (or its timeout), then its status.
    char text[1024];
    size_t used = 0;
    int hook_status = 0, exited = 0, timed_out = 0;
    struct timespec begun;
    clock_gettime(CLOCK_MONOTONIC, &begun);
    fcntl(output[0], F_SETFL, O_NONBLOCK);
    while (!exited) {
      char chunk[256];
      ssize_t n = read(output[0], chunk, sizeof chunk);
      if (n > 0) {
        if (used + (size_t)n >= sizeof text) used = 0;
        memcpy(text + used, chunk, (size_t)n);
        used += (size_t)n;
        continue;
      }
      pid_t done = waitpid(child, &hook_status, WNOHANG);
      if (done == child) {
        exited = 1;
        break;
      }
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      // Whole seconds compared at nanosecond precision: a hook started at x.999 s has its
      // full timeout, not one millisecond.
      long long elapsed_ns = (long long)(now.tv_sec - begun.tv_sec) * 1000000000LL + (now.tv_nsec - begun.tv_nsec);
      if (h->timeout && elapsed_ns >= (long long)h->timeout * 1000000000LL) {
        kill(child, SIGKILL);
        waitpid(child, &hook_status, 0);
        timed_out = 1;
        break;
      }
      struct pollfd wait_for_output = {output[0], POLLIN, 0};
      poll(&wait_for_output, 1, n == 0 ? 2 : 20);
    }
    close(output[0]);
    text[used] = 0;
    while (used > 0 && (text[used - 1] == '\n' || text[used - 1] == ' ')) text[--used] = 0;
    char *last = strrchr(text, '\n');
    last = last ? last + 1 : text;
    char detail[240];
    if (timed_out)
      snprintf(detail, sizeof detail, "%s hook %s: timed out after %u s", hook_phase_names[phase], h->path,
               h->timeout);
    else if (WIFSIGNALED(hook_status))
      snprintf(detail, sizeof detail, "%s hook %s: killed by signal %d", hook_phase_names[phase], h->path,
               WTERMSIG(hook_status));
    else if (WEXITSTATUS(hook_status) != 0)
      snprintf(detail, sizeof detail, "%s hook %s: exited %d%s%s", hook_phase_names[phase], h->path,
               WEXITSTATUS(hook_status), *last ? ": " : "", last);
    else
      continue;
    if (!keep_going) return failure_of(STEP_HOOK, 0, detail);
    fprintf(stderr, "tasker-runtime: warning: %s\n", detail);
    warned = failure_of(STEP_HOOK, 0, detail);
  }
  return warned;
}

// --- the jail (runs in the init, in the new namespaces, before pivot_root) ------------------

// Opens PATH below the root without following any symlink: a path of the plan must be what it
// says, whatever links the image planted.
static int resolve_in_root;
static int plan_mode;
static int joins_kind(const struct plan *plan, int flag);

static int open_beneath(int rootfd, const char *path, int flags) {
  struct open_how how = {
      .flags = (uint64_t)(flags | O_CLOEXEC),
      .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
  };
  // An OCI bundle's root is the container's own (images hold /var/run -> ../run and the like):
  // its symlinks are followed, but only inside it, as crun does.
  if (resolve_in_root) how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
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
  if (rc == 0) {
    // The mode past the umask, set through a descriptor of what was made: fchmodat would follow
    // a symlink swapped in meanwhile (by whoever can write the task's root) to the host's files.
    int made = openat(parent, leaf, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (made >= 0) {
      fchmod(made, mode);
      close(made);
    }
  }
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

static int bind_host_path(int rootfd, const char *source, const char *path, unsigned long flags) {
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
  // tasker's own binds (device nodes) are recursive; an OCI "bind" is not, "rbind" is.
  unsigned long recursive = plan_mode == MODE_TASK ? MS_REC : (flags & MS_REC);
  if (mount_on(rootfd, source, path, NULL, MS_BIND | recursive, NULL) != 0) return -1;
  unsigned long extra = flags & ~(unsigned long)MS_REC;
  if (!extra) return 0;
  // Read-only, nosuid... is a second, remounting call; the flags the mount already has stay
  // (an unprivileged user namespace may not clear them).
  struct statvfs fs;
  unsigned long keep = 0;
  if (statvfs(source, &fs) == 0) {
    if (fs.f_flag & ST_NOSUID) keep |= MS_NOSUID;
    if (fs.f_flag & ST_NODEV) keep |= MS_NODEV;
    if (fs.f_flag & ST_NOEXEC) keep |= MS_NOEXEC;
    if (fs.f_flag & ST_RDONLY) keep |= MS_RDONLY;
  }
  return mount_on(rootfd, NULL, path, NULL, MS_REMOUNT | MS_BIND | extra | keep, NULL);
}

// Closes the descriptors of the plan's attach steps.
static void close_attached(const struct plan *plan) {
  for (int i = 0; i < plan->nsteps; i++)
    if (plan->steps[i].kind == ATTACH) close((int)plan->steps[i].number);
}

// Moves the detached tree on descriptor TREE onto PATH beneath the root, making PATH (a
// directory or an empty file) if it is missing. The tree was cloned by tasker in the host's
// mount namespace from a descriptor it opened once; here nothing of the host is looked up.
static int attach_tree(int rootfd, int tree, const char *path, int kind) {
  const char *leaf;
  int parent = open_parent(rootfd, path, &leaf);
  if (parent < 0) return -1;
  int rc = 0;
  struct stat info;
  int exists = fstatat(parent, leaf, &info, AT_SYMLINK_NOFOLLOW) == 0;
  if (!exists && errno != ENOENT) rc = -1;
  // A file the task's /etc/hosts replaces may be a symlink in the image (Debian's
  // resolv.conf): it goes from the task's root (the overlay's upper layer), not followed.
  if (rc == 0 && exists && kind == ATTACH_REPLACE_FILE && !S_ISREG(info.st_mode)) {
    rc = unlinkat(parent, leaf, S_ISDIR(info.st_mode) ? AT_REMOVEDIR : 0);
    exists = 0;
  }
  if (rc == 0 && !exists) {
    if (kind == ATTACH_DIR) {
      rc = mkdirat(parent, leaf, 0755);
    } else {
      int fd = openat(parent, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
      rc = fd < 0 ? -1 : close(fd);
    }
  }
  int saved = errno;
  close(parent);
  if (rc != 0) {
    errno = saved;
    return -1;
  }
  int target = open_beneath(rootfd, path, O_PATH);
  if (target < 0) return -1;
  rc = (int)syscall(SYS_move_mount, tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
  saved = errno;
  close(target);
  errno = saved;
  return rc;
}

// A device node the spec lists. In a user namespace mknod is refused: the host's node of the
// same path is bound instead, as runc does.
static int make_device(int rootfd, const struct setup_step *s) {
  const char *leaf;
  int parent = open_parent(rootfd, s->a, &leaf);
  if (parent < 0) return -1;
  mode_t type = s->b[0] == 'c' ? S_IFCHR : s->b[0] == 'b' ? S_IFBLK : S_IFIFO;
  unlinkat(parent, leaf, 0);  // the spec's node replaces what the image had there
  int rc = mknodat(parent, leaf, type | (mode_t)(s->number & 07777), makedev(s->major, s->minor));
  if (rc == 0) {
    fchmodat(parent, leaf, (mode_t)(s->number & 07777), 0);
    rc = fchownat(parent, leaf, s->uid, s->gid, AT_SYMLINK_NOFOLLOW);
  } else if (errno == EPERM && type != S_IFIFO) {
    char host[4096];
    snprintf(host, sizeof host, "/%s", s->a);
    close(parent);
    return bind_host_path(rootfd, host, s->a, 0);
  }
  int saved = errno;
  close(parent);
  errno = saved;
  return rc;
}

// Writes VALUE into the file PATH of the root (a sysctl under proc/sys).
static int write_beneath(int rootfd, const char *path, const char *value) {
  int fd = open_beneath(rootfd, path, O_WRONLY);
  if (fd < 0) return -1;
  size_t len = strlen(value);
  ssize_t n = write(fd, value, len);
  int saved = errno;
  close(fd);
  if (n == (ssize_t)len) return 0;
  errno = n < 0 ? saved : EIO;
  return -1;
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
  // An OCI config may leave the container in the runtime's mount namespace: its mounts are
  // then made where it asks (under its own root) in that namespace, and it is entered with
  // chroot, as runc does. A task always has a mount namespace of its own.
  int own_namespace = plan->mode == MODE_TASK || (plan->namespaces & CLONE_NEWNS) || joins_kind(plan, CLONE_NEWNS);
  // Nothing mounted here may propagate back to the host.
  if (own_namespace && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
    return failure_of(STEP_MOUNT, errno, "/ (making mounts private)");
  // The root is a mount (tasker made it one, nodev, in the root-only state directory): what
  // pivot_root needs. Inside, set-user-ID works as in any root filesystem (no_new_privs still
  // stops it in the default jail); the download path's view of it is nosuid,nodev.
  if (own_namespace && make_mount_root() != 0) return failure_of(STEP_BIND, errno, rootfs);
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
        rc = bind_host_path(rootfd, s->a, s->b, s->number);
        break;
      case MKNOD:
        step = STEP_MKNOD;
        rc = make_device(rootfd, s);
        break;
      case WRITE:
        step = STEP_SYSCTL;
        rc = write_beneath(rootfd, s->a, s->b);
        break;
      case PROPAGATION:
        step = STEP_MOUNT;
        rc = mount_on(rootfd, NULL, s->a, NULL, s->number, NULL);
        break;
      case READONLY:
        step = STEP_MOUNT;
        rc = make_readonly(rootfd, s->a);
        break;
      case MASK:
        step = STEP_MOUNT;
        rc = mask(rootfd, s->a);
        break;
      case ATTACH:
        step = STEP_BIND;
        rc = attach_tree(rootfd, (int)s->number, s->a, s->attach_kind);
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
  // The trees are attached: none stays open in the init.
  close_attached(plan);
  if (fchdir(rootfd) != 0) return failure_of(STEP_CHDIR, errno, rootfs);
  close(rootfd);
  // createContainer hooks: in the container's mount namespace, before pivot_root.
  struct failure hooked = run_hooks(plan, HOOK_CREATE_CONTAINER, host_pid, "creating");
  if (hooked.step != 0) return hooked;
  if (plan->no_pivot || !own_namespace) {
    // --no-pivot (a root on a ramfs, where pivot_root is refused): the root is moved over / and
    // entered with chroot; the host's root stays underneath, which is why it is not the default.
    if (own_namespace && mount(".", "/", NULL, MS_MOVE, NULL) != 0)
      return failure_of(STEP_PIVOT_ROOT, errno, "moving the root");
    if (chroot(".") != 0) return failure_of(STEP_CHROOT, errno, rootfs);
  } else {
    // The old root ends up stacked on the new one and is detached at once: nothing of the
    // host's filesystem stays reachable.
    if (syscall(SYS_pivot_root, ".", ".") != 0) return failure_of(STEP_PIVOT_ROOT, errno, rootfs);
    if (umount2(".", MNT_DETACH) != 0) return failure_of(STEP_PIVOT_ROOT, errno, "old root");
  }
  if (chdir("/") != 0) return failure_of(STEP_CHDIR, errno, "/");
  if (plan->root_propagation && mount(NULL, "/", NULL, plan->root_propagation, NULL) != 0)
    return failure_of(STEP_MOUNT, errno, "/ (rootfsPropagation)");
  if (own_namespace && plan->readonly_root && mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0) {
    // Remounting keeps what the mount has (nosuid, nodev...), which an unprivileged user
    // namespace may not clear: read them and carry them.
    struct statvfs fs;
    unsigned long keep = 0;
    if (statvfs("/", &fs) == 0) {
      if (fs.f_flag & ST_NOSUID) keep |= MS_NOSUID;
      if (fs.f_flag & ST_NODEV) keep |= MS_NODEV;
      if (fs.f_flag & ST_NOEXEC) keep |= MS_NOEXEC;
    }
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | keep, NULL) != 0)
      return failure_of(STEP_MOUNT, errno, "/ (read-only root)");
  }
  if (plan->hostname && sethostname(plan->hostname, strlen(plan->hostname)) != 0)
    return failure_of(STEP_HOSTNAME, errno, plan->hostname);
  if (plan->domainname && setdomainname(plan->domainname, strlen(plan->domainname)) != 0)
    return failure_of(STEP_DOMAINNAME, errno, plan->domainname);
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
// PID (translated by the kernel into our PID namespace), a task's terminal master (SCM_RIGHTS,
// into *console, if not NULL), and EOF once it has exec'd.
static pid_t await_exec(int channel, struct failure *failure, int *console) {
  pid_t pid = 0;
  failure->step = 0;
  for (;;) {
    char buffer[sizeof(struct failure)];
    char control[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int))];
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
      } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int))) {
        int fd;
        memcpy(&fd, CMSG_DATA(c), sizeof fd);
        if (console && *console < 0) *console = fd;
        else close(fd);
      }
  }
}

// A restart's report: the new processes in run.json of the state directory (tasker reads them
// over task.json's, which its creator wrote), then the previous end's exit.json goes. Written
// to a temporary name and renamed, as every record.
static int report_restarted(int statefd, const char *line) {
  int pid, supervisor, init;
  unsigned long long start, supervisor_start, init_start;
  if (sscanf(line, "ok %d %llu %d %llu %d %llu", &pid, &start, &supervisor, &supervisor_start, &init, &init_start) != 6)
    return -1;
  int fd = openat(statefd, "run.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  dprintf(fd, "{\"pid\":%d,\"startTime\":%llu,\"initPID\":%d,\"initStartTime\":%llu,\"restartCount\":%u}\n", pid,
          start, init, init_start, restart_count);
  close(fd);
  if (renameat(statefd, "run.json.tmp", statefd, "run.json") != 0) return -1;
  unlinkat(statefd, "exit.json", 0);
  return 0;
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
  if (restart_count > 0) return report_restarted(statefd, line);
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

// --- the task's streams: log relay, terminal, attach socket ----------------------------------
//
// With log-relay, terminal or stdin-pipe the supervisor stays between the command and its
// streams instead of handing it the log files: it copies the command's stdout and stderr pipes
// (or its terminal's master) into the logs, noting in stdout.index / stderr.index when lines
// started ("OFFSET SECONDS NANOSECONDS" lines in offset order, at most one per read: OFFSET the
// log offset of the first line that begins in that read, the time that of the read; a line
// without an entry of its own has the time of the last entry at or before its start), and
// never stops reading them, so a task never blocks for want of a reader. With a
// terminal or stdin-pipe it also serves a stream socket, STATE_DIR/attach (0600 in the
// root-only state directory: nothing inside the task can reach it), to which `tasker run -i/-t`
// and `tasker attach` connect. Frames both ways are TYPE (one byte), LENGTH (four bytes, big
// endian), then LENGTH bytes:
//     from a client: h FLAGS      hello; FLAGS bit 0: first send what the logs hold so far
//                    i BYTES      input for the terminal or the stdin pipe
//                    c            close the stdin pipe (EOF of the client's stdin)
//                    w ROWS COLS  the terminal's size (two bytes each, big endian)
//     to a client:   o BYTES      stdout (or the terminal's output); e BYTES: stderr
//                    x STATUS     the task ended: its wait status (four bytes, big endian)
// Output goes only to clients that said hello. A client that does not read holds the output
// back (as a terminal would) once a megabyte waits for it; with no client, nothing waits.

enum { MAX_CLIENTS = 16, MAX_FRAME = 65536, CLIENT_BACKLOG = 1 << 20, FRAME_HEADER = 5 };

struct output {
  int fd;          // the pipe's read end or the terminal's master; -1 at EOF
  int log;         // the log file it goes to
  int index;       // its line index, or -1
  const char *log_name;
  off_t offset;    // the log's size
  int line_start;  // the next byte starts a line
  char frame;      // 'o' or 'e'
};

struct client {
  int fd;  // -1: a free slot
  int greeted;
  unsigned char in[FRAME_HEADER + MAX_FRAME];
  size_t inlen;
  unsigned char *out;
  size_t outlen, outcap;
};

static struct {
  int active;  // the supervisor relays (any of the three records)
  struct output outputs[2];
  int noutputs;
  int master;       // the terminal's master (also outputs[0].fd), or -1
  int stdin_write;  // the command's stdin pipe, or -1
  int stdin_closing;
  int listener;
  int statefd;
  struct client clients[MAX_CLIENTS];
  unsigned char *input;  // bytes on their way to the master or the stdin pipe
  size_t inputlen, inputcap;
} streams = {.master = -1, .stdin_write = -1, .listener = -1};

static int append_bytes(unsigned char **buffer, size_t *len, size_t *cap, const void *data, size_t size) {
  if (*len + size > *cap) {
    size_t grown = *cap ? *cap : 4096;
    while (grown < *len + size) grown *= 2;
    unsigned char *bigger = realloc(*buffer, grown);
    if (!bigger) return -1;
    *buffer = bigger;
    *cap = grown;
  }
  memcpy(*buffer + *len, data, size);
  *len += size;
  return 0;
}

static void write_all(int fd, const char *data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a full disk loses log bytes, never the task's progress
    data += n;
    size -= (size_t)n;
  }
}

static void drop_client(struct client *c) {
  close(c->fd);
  free(c->out);
  *c = (struct client){.fd = -1};
}

static void queue_frame(struct client *c, char type, const void *data, size_t size) {
  unsigned char header[FRAME_HEADER] = {(unsigned char)type, (unsigned char)(size >> 24), (unsigned char)(size >> 16),
                                        (unsigned char)(size >> 8), (unsigned char)size};
  if (append_bytes(&c->out, &c->outlen, &c->outcap, header, sizeof header) != 0 ||
      append_bytes(&c->out, &c->outlen, &c->outcap, data, size) != 0)
    drop_client(c);
}

static void flush_client(struct client *c) {
  while (c->fd >= 0 && c->outlen > 0) {
    ssize_t n = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      drop_client(c);
      return;
    }
    memmove(c->out, c->out + n, c->outlen - (size_t)n);
    c->outlen -= (size_t)n;
  }
}

// Bytes the command wrote (one read): into the log, and to every client that said hello. The
// index gets at most one entry per read, the offset of the first line that begins in it and the
// time of the read (as conmon stamps each read), so it grows with the reads, never with the
// lines; a line without an entry of its own has the time of the last entry at or before its
// start. The entry goes before the bytes: a reader that sees a line's bytes, then reads the
// index, finds its entry.
static void record_output(struct output *o, const char *data, size_t size) {
  if (o->index >= 0) {
    size_t first = 0;
    while (first < size && !o->line_start) o->line_start = data[first++] == '\n';
    if (first < size) {
      struct timespec now;
      clock_gettime(CLOCK_REALTIME, &now);
      char entry[64];
      int used = snprintf(entry, sizeof entry, "%lld %lld %ld\n", (long long)(o->offset + (off_t)first),
                          (long long)now.tv_sec, now.tv_nsec);
      write_all(o->index, entry, (size_t)used);
    }
    o->line_start = data[size - 1] == '\n';
  }
  write_all(o->log, data, size);
  o->offset += (off_t)size;
  for (int i = 0; i < MAX_CLIENTS; i++) {
    struct client *c = &streams.clients[i];
    if (c->fd < 0 || !c->greeted) continue;
    queue_frame(c, o->frame, data, size);
    if (c->fd >= 0) flush_client(c);
  }
}

static void read_output(struct output *o) {
  char buffer[65536];
  ssize_t got = read(o->fd, buffer, sizeof buffer);
  if (got < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (got <= 0) {  // EOF; a terminal's master gives EIO once no process holds the slave
    if (o->fd == streams.master) streams.master = -1;
    close(o->fd);
    o->fd = -1;
    return;
  }
  record_output(o, buffer, (size_t)got);
}

// What the logs hold so far, for a client that asked (`tasker run` connects once the command
// runs: what it wrote meanwhile is sent first). The supervisor is the logs' only writer.
static void replay_logs(struct client *c) {
  for (int i = 0; i < streams.noutputs && c->fd >= 0; i++) {
    struct output *o = &streams.outputs[i];
    int fd = openat(streams.statefd, o->log_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) continue;
    char buffer[MAX_FRAME];
    off_t done = 0;
    while (done < o->offset && c->fd >= 0) {
      size_t want = (size_t)(o->offset - done) < sizeof buffer ? (size_t)(o->offset - done) : sizeof buffer;
      ssize_t n = pread(fd, buffer, want, done);
      if (n <= 0) break;
      queue_frame(c, o->frame, buffer, (size_t)n);
      done += n;
    }
    close(fd);
  }
}

static void handle_frame(struct client *c, unsigned char type, const unsigned char *data, size_t size) {
  switch (type) {
    case 'h':
      if (c->greeted) break;
      c->greeted = 1;
      if (size >= 1 && (data[0] & 1)) replay_logs(c);
      break;
    case 'i':
      if ((streams.master >= 0 || (streams.stdin_write >= 0 && !streams.stdin_closing)) &&
          append_bytes(&streams.input, &streams.inputlen, &streams.inputcap, data, size) != 0)
        drop_client(c);
      break;
    case 'c':
      if (streams.stdin_write >= 0) streams.stdin_closing = 1;
      break;
    case 'w':
      if (size == 4 && streams.master >= 0) {
        struct winsize ws = {.ws_row = (unsigned short)(data[0] << 8 | data[1]),
                             .ws_col = (unsigned short)(data[2] << 8 | data[3])};
        ioctl(streams.master, TIOCSWINSZ, &ws);  // the kernel sends SIGWINCH to its foreground group
      }
      break;
    default:
      drop_client(c);
  }
}

static void read_client(struct client *c) {
  ssize_t n = recv(c->fd, c->in + c->inlen, sizeof c->in - c->inlen, 0);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {  // gone (or detached): the task goes on
    drop_client(c);
    return;
  }
  c->inlen += (size_t)n;
  while (c->fd >= 0 && c->inlen >= FRAME_HEADER) {
    size_t size = (size_t)c->in[1] << 24 | (size_t)c->in[2] << 16 | (size_t)c->in[3] << 8 | c->in[4];
    if (size > MAX_FRAME) {
      drop_client(c);
      return;
    }
    if (c->inlen < FRAME_HEADER + size) return;
    handle_frame(c, c->in[0], c->in + FRAME_HEADER, size);
    if (c->fd < 0) return;
    memmove(c->in, c->in + FRAME_HEADER + size, c->inlen - FRAME_HEADER - size);
    c->inlen -= FRAME_HEADER + size;
  }
}

static void close_stdin(void) {
  if (streams.stdin_write >= 0) close(streams.stdin_write);
  streams.stdin_write = -1;
}

// Input on its way: to the terminal's master, or to the stdin pipe (closed once drained if a
// client asked; a command that closed its stdin drops it).
static void flush_input(void) {
  int target = streams.master >= 0 ? streams.master : streams.stdin_write;
  while (target >= 0 && streams.inputlen > 0) {
    ssize_t n = write(target, streams.input, streams.inputlen);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n <= 0) {
      streams.inputlen = 0;
      if (target == streams.stdin_write) close_stdin();
      return;
    }
    memmove(streams.input, streams.input + n, streams.inputlen - (size_t)n);
    streams.inputlen -= (size_t)n;
  }
  if (streams.master < 0 && streams.stdin_write < 0) streams.inputlen = 0;
  if (streams.stdin_closing && streams.inputlen == 0) close_stdin();
}

static void accept_client(void) {
  int fd = accept4(streams.listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) return;
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (streams.clients[i].fd < 0) {
      streams.clients[i] = (struct client){.fd = fd};
      return;
    }
  close(fd);  // too many at once
}

// Sets up the command's streams before it is forked (its 0, 1 and 2 are then what it gets), and
// the attach socket. The log files move to descriptors of the supervisor's own.
static struct failure prepare_streams(const struct plan *plan, int statefd) {
  for (int i = 0; i < MAX_CLIENTS; i++) streams.clients[i].fd = -1;
  streams.statefd = statefd;
  if (!plan->log_relay && !plan->terminal && !plan->stdin_pipe) return failure_of(0, 0, NULL);
  if (plan->terminal && !plan->jail) return failure_of(STEP_CONSOLE, EINVAL, "a terminal needs the jail's devpts");
  streams.active = 1;
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) return failure_of(STEP_PIPE, errno, "/dev/null");
  if (plan->log_relay || plan->terminal) {
    const char *logs[2] = {"stdout.log", "stderr.log"}, *indexes[2] = {"stdout.index", "stderr.index"};
    int wanted = plan->terminal ? 1 : 2;  // a terminal has one stream: stdout.log
    for (int i = 0; i < wanted; i++) {
      struct output *o = &streams.outputs[i];
      *o = (struct output){.fd = -1, .log = fcntl(1 + i, F_DUPFD_CLOEXEC, 10), .index = -1, .log_name = logs[i],
                           .line_start = 1, .frame = i == 0 ? 'o' : 'e'};
      if (o->log < 0) return failure_of(STEP_PIPE, errno, "the logs");
      off_t size = lseek(o->log, 0, SEEK_END);
      o->offset = size > 0 ? size : 0;
      if (plan->log_relay) {
        o->index = openat(statefd, indexes[i], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (o->index < 0) return failure_of(STEP_PIPE, errno, indexes[i]);
      }
      if (!plan->terminal) {
        int ends[2];
        if (pipe2(ends, O_CLOEXEC) != 0) return failure_of(STEP_PIPE, errno, "");
        o->fd = ends[0];
        if (dup2(ends[1], 1 + i) < 0) return failure_of(STEP_PIPE, errno, "");
        close(ends[1]);
      }
    }
    streams.noutputs = wanted;
    // A terminal is the command's stdio: nothing of the host's (the logs) goes in with it.
    if (plan->terminal && (dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0)) return failure_of(STEP_PIPE, errno, "");
  }
  if (plan->stdin_pipe && !plan->terminal) {
    int ends[2];
    if (pipe2(ends, O_CLOEXEC) != 0 || dup2(ends[0], 0) < 0) return failure_of(STEP_PIPE, errno, "stdin");
    close(ends[0]);
    streams.stdin_write = ends[1];
    fcntl(streams.stdin_write, F_SETFL, O_NONBLOCK);
  }
  close(devnull);
  if (plan->terminal || plan->stdin_pipe) {
    streams.listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX, .sun_path = "run/attach"};
    // Bound by a name relative to the state directory (root-only), never a path of the task's;
    // run is a directory there, or tasker's link to the user's $XDG_RUNTIME_DIR/tasker/ID.
    if (streams.listener < 0 || fchdir(statefd) != 0) return failure_of(STEP_PIPE, errno, "attach");
    int bound = bind(streams.listener, (struct sockaddr *)&address, sizeof address);
    int saved = errno;
    if (bound == 0) fchmodat(statefd, "run/attach", 0600, 0);
    if (chdir("/") != 0 || bound != 0 || listen(streams.listener, 8) != 0)
      return failure_of(STEP_PIPE, bound != 0 ? saved : errno, "attach");
  }
  return failure_of(0, 0, NULL);
}

// In a child of the supervisor: none of the supervisor's ends of the streams goes along.
static void close_streams(void) {
  for (int i = 0; i < streams.noutputs; i++) {
    if (streams.outputs[i].fd >= 0) close(streams.outputs[i].fd);
    close(streams.outputs[i].log);
    if (streams.outputs[i].index >= 0) close(streams.outputs[i].index);
  }
  if (streams.stdin_write >= 0) close(streams.stdin_write);
  if (streams.listener >= 0) close(streams.listener);
}

// Relays until WATCHED (the init, or a chroot's command) has exited (it is not reaped here),
// then takes what its streams still hold.
static void serve_streams(pid_t watched) {
  int pidfd = (int)syscall(SYS_pidfd_open, watched, 0);
  if (streams.master >= 0) {  // the terminal (from await_exec) is the one output
    fcntl(streams.master, F_SETFL, O_NONBLOCK);
    streams.outputs[0].fd = streams.master;
  }
  int exited = 0;
  while (!exited) {
    struct pollfd fds[3 + 2 + MAX_CLIENTS];  // the pidfd, two outputs, stdin, the listener, the clients
    int n = 0, held = 0;
    for (int i = 0; i < MAX_CLIENTS; i++)
      if (streams.clients[i].fd >= 0 && streams.clients[i].outlen > CLIENT_BACKLOG) held = 1;
    fds[n++] = (struct pollfd){pidfd, POLLIN, 0};
    for (int i = 0; i < streams.noutputs; i++) {
      short events = held ? 0 : POLLIN;
      if (streams.outputs[i].fd == streams.master && streams.inputlen) events |= POLLOUT;
      fds[n++] = (struct pollfd){streams.outputs[i].fd, events, 0};
    }
    fds[n++] = (struct pollfd){streams.stdin_write, streams.inputlen || streams.stdin_closing ? POLLOUT : 0, 0};
    fds[n++] = (struct pollfd){streams.listener, POLLIN, 0};
    for (int i = 0; i < MAX_CLIENTS; i++) {
      struct client *c = &streams.clients[i];
      short events = (streams.inputlen < MAX_FRAME ? POLLIN : 0) | (c->outlen ? POLLOUT : 0);
      fds[n++] = (struct pollfd){c->fd, events, 0};
    }
    // Without a pidfd (a kernel before 5.3), look every 100 ms.
    int ready = poll(fds, (nfds_t)n, pidfd >= 0 ? -1 : 100);
    if (ready < 0 && errno != EINTR) break;
    if (pidfd >= 0 && (fds[0].revents & POLLIN)) exited = 1;
    if (pidfd < 0) {
      siginfo_t info = {0};
      if (waitid(P_PID, (id_t)watched, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == watched) exited = 1;
    }
    int k = 1;
    for (int i = 0; i < streams.noutputs; i++, k++) {
      if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) read_output(&streams.outputs[i]);
    }
    // POLLERR on the write end: the command closed its stdin; it takes no more.
    if (fds[k].revents & (POLLERR | POLLHUP)) close_stdin();
    else if (fds[k].revents) flush_input();
    k++;
    if (fds[k++].revents & POLLIN) accept_client();
    for (int i = 0; i < MAX_CLIENTS; i++, k++) {
      struct client *c = &streams.clients[i];
      if (c->fd >= 0 && (fds[k].revents & POLLOUT)) flush_client(c);
      if (c->fd >= 0 && (fds[k].revents & (POLLIN | POLLHUP | POLLERR))) read_client(c);
    }
    if (streams.inputlen) flush_input();
  }
  if (pidfd >= 0) close(pidfd);
  close_stdin();
  // What the command wrote before it ended is in its pipes (or terminal) now: into the logs
  // before the end is recorded, so a reader that stops at exit.json has all of it. Read, not
  // polled: a terminal's last output may still be on its way from the slave (the kernel's
  // flip buffer), which poll does not wait for and a read of a master whose slave is closed
  // does (then EIO).
  for (int i = 0; i < streams.noutputs; i++) {
    struct output *o = &streams.outputs[i];
    if (o->fd >= 0) fcntl(o->fd, F_SETFL, O_NONBLOCK);
    while (o->fd >= 0) {
      char buffer[65536];
      ssize_t got = read(o->fd, buffer, sizeof buffer);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0 && errno == EAGAIN) break;  // nothing more now (a chroot's leftovers may write later)
      if (got > 0) {
        record_output(o, buffer, (size_t)got);
        continue;
      }
      if (o->fd == streams.master) streams.master = -1;
      close(o->fd);
      o->fd = -1;
    }
  }
}

// The task's end, told to every client; the socket goes. Then whatever processes a chroot's
// command left behind still write goes into the logs until they close their ends.
static void end_streams(int status, int wait_for_eof) {
  if (streams.listener >= 0) {
    unlinkat(streams.statefd, "run/attach", 0);
    close(streams.listener);
    streams.listener = -1;
  }
  unsigned char word[4] = {(unsigned char)((unsigned)status >> 24), (unsigned char)(status >> 16),
                           (unsigned char)(status >> 8), (unsigned char)status};
  for (int i = 0; i < MAX_CLIENTS; i++) {
    struct client *c = &streams.clients[i];
    if (c->fd < 0) continue;
    // A client accepted whose hello is still on its way (the task ended first) has been sent
    // none of the output (it goes to greeted clients only): its hello is waited for, a second
    // at a time, four at most, so that it gets the replay it asks for before the end.
    if (!c->greeted) {
      fcntl(c->fd, F_SETFL, 0);
      struct timeval wait = {1, 0};
      setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
      for (int tries = 0; c->fd >= 0 && !c->greeted && tries < 4; tries++) read_client(c);
      if (c->fd < 0) continue;
    }
    queue_frame(c, 'x', word, sizeof word);
    if (c->fd < 0) continue;
    // A last flush, blocking for two seconds at most.
    fcntl(c->fd, F_SETFL, 0);
    struct timeval timeout = {2, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    flush_client(c);
    if (c->fd >= 0) drop_client(c);
  }
  for (int i = 0; i < streams.noutputs; i++) {
    struct output *o = &streams.outputs[i];
    if (wait_for_eof) {
      // Blocking reads to EOF (a master gives EIO once no process holds its slave): a chroot's
      // command may have left processes that still write.
      if (o->fd >= 0) fcntl(o->fd, F_SETFL, 0);
      while (o->fd >= 0) read_output(o);
      continue;
    }
    // A jail's processes all died with its init: what they wrote is in the pipe now. A read
    // that would block means a writer outside the task (an end passed to another task over a
    // shared socket), which must not keep this supervisor, its network and its cgroups alive.
    while (o->fd >= 0) {
      fcntl(o->fd, F_SETFL, O_NONBLOCK);
      char buffer[65536];
      ssize_t got = read(o->fd, buffer, sizeof buffer);
      if (got < 0 && errno == EINTR) continue;
      if (got > 0) {
        record_output(o, buffer, (size_t)got);
        continue;
      }
      if (o->fd == streams.master) streams.master = -1;
      close(o->fd);
      o->fd = -1;
    }
  }
}

// Makes the plan's cgroups and writes its limits, before any process is inside.
static void make_cgroups(struct plan *plan) {
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
}

// --- restarts (the plan's "restart" record) ------------------------------------------------

// What a restart needs again: the task's streams and its root (the first start gives them up),
// copies kept close-on-exec above the fixed descriptors. Only for a plan that restarts: any
// other supervisor keeps none of the task's streams.
static int saved_fds[4] = {-1, -1, -1, -1};  // stdin, stdout, stderr, the root
// A spare copy of each attach step's detached tree (the first start moves the tree itself into
// the task's mount namespace, which goes with it), indexed by step.
static int spare_trees[MAX_STEPS];

static void save_for_restarts(struct plan *plan) {
  if (plan->restart_policy == RESTART_NO) return;
  for (int i = 0; i < 3; i++) saved_fds[i] = fcntl(i, F_DUPFD_CLOEXEC, 10);
  saved_fds[3] = fcntl(ROOT_FD, F_DUPFD_CLOEXEC, 10);
  for (int i = 0; i < plan->nsteps; i++) {
    spare_trees[i] = -1;
    if (plan->steps[i].kind != ATTACH) continue;
    // A copy of a detached tree, its mount flags (ro, nosuid, ...) kept. A kernel that refuses
    // to copy a tree attached nowhere (EINVAL; 6.18 allows it) fails the create with that
    // reason rather than losing the task's mounts at its first restart.
    spare_trees[i] = (int)syscall(SYS_open_tree, (int)plan->steps[i].number, "",
                                  OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
    if (spare_trees[i] < 0)
      report_failure(failure_of(STEP_BIND, errno, "a copy of a mount tree for restarts (--restart)"));
  }
}

// In the init: it keeps nothing of the supervisor's.
static void close_saved(void) {
  for (int i = 0; i < 4; i++)
    if (saved_fds[i] >= 0) close(saved_fds[i]);
  for (int i = 0; supervised && i < supervised->nsteps; i++)
    if (supervised->restart_policy != RESTART_NO && spare_trees[i] >= 0) close(spare_trees[i]);
}

// The first start's relay is over (end_streams has drained it): its descriptors go, and the
// next start's prepare_streams begins from nothing.
static void reset_streams(void) {
  close_streams();
  if (streams.master >= 0 && streams.master != streams.outputs[0].fd) close(streams.master);
  free(streams.input);
  memset(&streams, 0, sizeof streams);
  streams.master = streams.stdin_write = streams.listener = -1;
}

// Puts back what the first start found, with /dev/null for the creator's report pipe (nobody
// reads a restart's report there: it goes to run.json), and forgets the cgroups' state.
static void restore_for_restart(struct plan *plan) {
  for (int i = 0; i < 3; i++)
    if (saved_fds[i] >= 0) dup2(saved_fds[i], i);
  if (saved_fds[3] >= 0) dup2(saved_fds[3], ROOT_FD);
  int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (devnull >= 0 && devnull != REPORT_FD) {
    dup2(devnull, REPORT_FD);
    close(devnull);
  }
  for (int i = 0; i < plan->ncgroups; i++) plan->cgroups[i].made = plan->cgroups[i].joined = 0;
  plan->network_helper = 0;
  if (streams.active) reset_streams();
  // Each attach step's descriptor again: a fresh copy of its spare, made above the attach
  // range first (a copy must not land on a number another step is about to take).
  int copies[MAX_STEPS];
  for (int i = 0; i < plan->nsteps; i++) {
    copies[i] = -1;
    if (spare_trees[i] < 0 || plan->steps[i].kind != ATTACH) continue;
    int tree = (int)syscall(SYS_open_tree, spare_trees[i], "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH |
                                                                   AT_RECURSIVE);
    if (tree < 0) continue;  // run_jailed finds the step's descriptor missing and says so
    copies[i] = fcntl(tree, F_DUPFD_CLOEXEC, ATTACH_FD + MAX_ATTACH);
    close(tree);
  }
  for (int i = 0; i < plan->nsteps; i++) {
    if (copies[i] < 0) continue;
    dup2(copies[i], (int)plan->steps[i].number);  // without O_CLOEXEC: the init inherits it
    close(copies[i]);
  }
}

// `stop` and `rm` leave "stopping" in the state directory before they end the task; a removed
// task's directory has no links left. Either way the task is not started again.
static int stop_requested(int statefd) {
  struct stat state;
  if (fstat(statefd, &state) != 0 || state.st_nlink == 0) return 1;
  return faccessat(statefd, "stopping", F_OK, 0) == 0;
}

static int should_restart(const struct plan *plan, int statefd) {
  if (plan->restart_policy == RESTART_NO || !last_status_known) return 0;
  if (plan->restart_policy == RESTART_ON_FAILURE && WIFEXITED(last_status) && WEXITSTATUS(last_status) == 0)
    return 0;
  if (plan->restart_max && restart_count >= plan->restart_max) return 0;
  return !stop_requested(statefd);
}

static int run_jailed(struct plan *plan, int statefd, char **command, char **argv, int argc);
static int run_chrooted(struct plan *plan, int statefd, char **command);

// A task's whole life: its command started (run_jailed, run_chrooted) and, per the plan's
// restart policy, started again after it ends, in fresh namespaces over the same root, after
// 100 ms, doubling up to 10 s; each end is recorded in exit.json with the restarts so far.
static int supervise(struct plan *plan, int statefd, char **command, char **argv, int argc) {
  supervised = plan;
  save_for_restarts(plan);
  unsigned delay = 100;  // milliseconds
  for (;;) {
    last_status_known = 0;
    int rc = plan->jail ? run_jailed(plan, statefd, command, argv, argc) : run_chrooted(plan, statefd, command);
    if (!should_restart(plan, statefd)) return rc;
    for (unsigned waited = 0; waited < delay; waited += 50) {
      usleep(50 * 1000);
      if (stop_requested(statefd)) return rc;
    }
    delay = delay >= 5000 ? 10000 : delay * 2;
    restart_count++;
    restore_for_restart(plan);
  }
}

static int run_jailed(struct plan *plan, int statefd, char **command, char **argv, int argc) {
  // Every attach step's descriptor must be one tasker passed, before this process opens any
  // of its own (which could take a missing one's number).
  for (int i = 0; i < plan->nsteps; i++)
    if (plan->steps[i].kind == ATTACH && fcntl((int)plan->steps[i].number, F_GETFD) < 0)
      report_failure(failure_of(STEP_BIND, EBADF, plan->steps[i].a));
  // Cgroups first, limits written before any process is inside.
  make_cgroups(plan);
  struct failure prepared = prepare_streams(plan, statefd);
  if (prepared.step != 0) fail_and_clean(plan, prepared);

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
    close_streams();
    close_saved();
    run_init(plan, command, go[0], channel[1], status[1], argv, argc);
  }
  close(channel[1]);
  close(go[0]);
  close(status[1]);
  close(ROOT_FD);
  // The bind sources' trees are the init's to attach; the supervisor keeps none.
  close_attached(plan);
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
  pid_t pid = await_exec(channel[0], &failure, &streams.master);
  close(channel[0]);
  if (failure.step == 0 && pid > 0 && plan->terminal && streams.master < 0)
    failure = failure_of(STEP_CONSOLE, EPROTO, "no terminal from the command");
  if (failure.step != 0 || pid <= 0) {
    int init_status = 0;
    wait_for(init, &init_status);
    if (failure.step == 0 && WIFSIGNALED(init_status)) {
      // The signal in the errno field: tasker words it (SIGKILL under --memory: out of memory).
      failure = failure_of(STEP_INIT_KILLED, WTERMSIG(init_status), "");
    } else if (failure.step == 0) {
      char why[128];
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
  if (streams.active) serve_streams(init);

  int init_status = 0, command_status;
  pid_t waited = wait_for(init, &init_status);
  ssize_t n;
  do {
    n = read(status[0], &command_status, sizeof command_status);
  } while (n < 0 && errno == EINTR);
  close(status[0]);
  // The init tells how the command ended; if it was killed first (rm --force), its own end is
  // the task's. Recorded first, as soon as it is known: the network and the cgroups go after
  // (rm waits for this process to end, so it finds no pasta left).
  if (n == (ssize_t)sizeof command_status)
    write_exit_record(statefd, command_status);
  else if (waited == init)
    write_exit_record(statefd, init_status);
  if (streams.active) end_streams(n == (ssize_t)sizeof command_status ? command_status : init_status, 0);
  stop_network(plan);
  remove_cgroups(plan);
  return 0;
}

static int run_chrooted(struct plan *plan, int statefd, char **command) {
  int channel[2];
  struct failure prepared = prepare_streams(plan, statefd);
  if (prepared.step != 0) report_failure(prepared);
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel) != 0)
    report_failure(failure_of(STEP_PIPE, errno, ""));
  pid_t child = fork();
  if (child < 0) report_failure(failure_of(STEP_FORK, errno, ""));
  if (child == 0) {
    close(channel[0]);
    close_streams();
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
  await_exec(channel[0], &failure, NULL);
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
  if (streams.active) serve_streams(child);
  int status = 0;
  if (wait_for(child, &status) == child) write_exit_record(statefd, status);
  if (streams.active) end_streams(status, 1);
  return 0;
}


// --- the OCI runtime (tasker-runtime): a container, an exec -----------------------------------

// The container's (or task's) terminal, made inside it (its own devpts) once its root is in
// place: the master end goes over SOCKET (an OCI console socket: to containerd's shim; a task's
// exec channel: to its supervisor), the slave end becomes the process's controlling terminal
// and its stdio, as runc does. Nothing of the host's terminal is ever given to the process.
static struct failure make_console(const struct plan *plan, int socket) {
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return failure_of(STEP_CONSOLE, errno, "/dev/ptmx");
  if (unlockpt(master) != 0) return failure_of(STEP_CONSOLE, errno, "unlockpt");
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  if (slave < 0) return failure_of(STEP_CONSOLE, errno, "the terminal's slave end");
  if (plan->rows || plan->cols) {
    struct winsize size = {.ws_row = (unsigned short)plan->rows, .ws_col = (unsigned short)plan->cols};
    ioctl(slave, TIOCSWINSZ, &size);
  }
  char name[] = "/dev/ptmx";
  char control[CMSG_SPACE(sizeof(int))];
  memset(control, 0, sizeof control);
  struct iovec iov = {name, sizeof name - 1};
  struct msghdr message = {0};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  struct cmsghdr *c = CMSG_FIRSTHDR(&message);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &master, sizeof master);
  if (sendmsg(socket, &message, MSG_NOSIGNAL) < 0) return failure_of(STEP_CONSOLE, errno, "the console socket");
  close(master);
  if (setsid() < 0 && errno != EPERM) return failure_of(STEP_CONSOLE, errno, "setsid");
  if (ioctl(slave, TIOCSCTTY, 0) != 0) return failure_of(STEP_CONSOLE, errno, "TIOCSCTTY");
  if (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0) return failure_of(STEP_CONSOLE, errno, "dup2");
  if (slave > 2) close(slave);
  return failure_of(0, 0, NULL);
}

// Opens the namespaces the plan joins (before anything changes what their paths name).
static struct failure open_joins(struct plan *plan) {
  for (int i = 0; i < plan->njoins; i++) {
    plan->joins[i].fd = open(plan->joins[i].path, O_RDONLY | O_CLOEXEC);
    if (plan->joins[i].fd < 0) return failure_of(STEP_SETNS, errno, plan->joins[i].path);
  }
  return failure_of(0, 0, NULL);
}

// Enters the joined namespaces of the given kinds: a user namespace first (it decides what the
// others allow), the mount namespace last (it changes the root the others' paths were under).
static struct failure enter_joins(const struct plan *plan, int kinds) {
  static const int order[] = {CLONE_NEWUSER, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET,
                              CLONE_NEWPID,  CLONE_NEWCGROUP, CLONE_NEWNS};
  for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
    if (!(kinds & order[k])) continue;
    for (int i = 0; i < plan->njoins; i++) {
      if (plan->joins[i].flag != order[k]) continue;
      if (setns(plan->joins[i].fd, order[k]) != 0) return failure_of(STEP_SETNS, errno, plan->joins[i].path);
      close(plan->joins[i].fd);
    }
  }
  return failure_of(0, 0, NULL);
}

static int joins_kind(const struct plan *plan, int flag) {
  for (int i = 0; i < plan->njoins; i++)
    if (plan->joins[i].flag == flag) return 1;
  return 0;
}

// Puts PID into every cgroup of the plan it is not in yet.
static struct failure join_cgroups(struct plan *plan, pid_t pid) {
  char pid_text[32];
  snprintf(pid_text, sizeof pid_text, "%d", (int)pid);
  for (int i = 0; i < plan->ncgroups; i++) {
    struct cgroup *cg = &plan->cgroups[i];
    if (cg->parent || cg->joined || (!cg->made && plan->mode != MODE_EXEC)) continue;
    char procs[4096];
    snprintf(procs, sizeof procs, "%s/cgroup.procs", cg->path);
    if (write_file(procs, pid_text) != 0 && cg->required) return failure_of(STEP_CGROUP_JOIN, errno, cg->path);
    cg->joined = 1;
  }
  return failure_of(0, 0, NULL);
}

static int write_id_map(pid_t pid, const char *file, const struct id_map *maps, int count) {
  char path[64], text[MAX_MAPS * 40] = {0};
  size_t used = 0;
  for (int i = 0; i < count; i++)
    used += (size_t)snprintf(text + used, sizeof text - used, "%u %u %u\n", maps[i].inside, maps[i].outside,
                             maps[i].count);
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
  return write_file(path, text);
}

// The container's process before its command: released by the supervisor (with its PID as
// the host numbers it), it enters the joined namespaces, builds the jail, tells the supervisor
// it is created, and waits on the exec FIFO until `tasker-runtime start` opens it.
static void run_container(const struct plan *plan, char **command, int go, int channel, int statefd) {
  // Fully privileged until its command: nothing in the container may ptrace it or open its
  // /proc entries meanwhile (execve makes the command's own process dumpable again).
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  pid_t pid;
  ssize_t n;
  do {
    n = read(go, &pid, sizeof pid);
  } while (n < 0 && errno == EINTR);
  if (n != (ssize_t)sizeof pid) _exit(1);  // the supervisor gave up
  close(go);
  host_pid = pid;
  struct failure failure = enter_joins(plan, NAMESPACE_FLAGS & ~CLONE_NEWPID);
  if (failure.step != 0) fail_command(plan, channel, failure);
  // Entering a mount namespace moved the working directory to its root: the container's root
  // is found again by its path there.
  if (joins_kind(plan, CLONE_NEWNS) && (!plan->report_rootfs || chdir(plan->report_rootfs) != 0))
    fail_command(plan, channel, failure_of(STEP_CHDIR, errno, plan->report_rootfs ? plan->report_rootfs : "root"));
  // Root of its user namespace once the supervisor mapped it (a joined one is mapped already).
  if ((plan->nuid_maps || joins_kind(plan, CLONE_NEWUSER)) &&
      (setresgid(0, 0, 0) != 0 || setresuid(0, 0, 0) != 0))
    fail_command(plan, channel, failure_of(STEP_USER, errno, "root of the user namespace"));
  if (plan->cgroupns && unshare(CLONE_NEWCGROUP) != 0) fail_command(plan, channel, failure_of(STEP_CGROUPNS, errno, ""));
  if (plan->oom_score_set) {
    char value[16];
    snprintf(value, sizeof value, "%d", plan->oom_score_adj);
    if (write_file("/proc/self/oom_score_adj", value) != 0)
      fail_command(plan, channel, failure_of(STEP_OOM_SCORE, errno, value));
  }
  failure = build_jail(plan);
  if (failure.step != 0) fail_command(plan, channel, failure);
  if (plan->terminal) {
    failure = make_console(plan, CONSOLE_FD);
    if (failure.step != 0) fail_command(plan, channel, failure);
    close(CONSOLE_FD);
  } else {
    setsid();
  }
  scmp_filter_ctx filter = NULL;
  if (plan->seccomp) {
    const char *bad;
    filter = compile_seccomp(plan, &bad);
    if (!filter) fail_command(plan, channel, failure_of(STEP_SECCOMP, errno, bad));
  }
  // Created. Its rights are given up now, before it waits (as runc's init): from the moment
  // `start` lets it on, the container can exec other processes beside it, and those must
  // find nothing here they do not have.
  failure = prepare_process(plan, filter, -1);
  if (failure.step != 0) fail_command(plan, channel, failure);
  if (send(channel, "P", 1, MSG_NOSIGNAL) != 1) _exit(1);
  // `start` opens the FIFO's other end; until then this open blocks.
  // Through the state directory's descriptor, never a path of the container's (its image could
  // put anything at /proc/self/fd). The directory is 0711 and the FIFO 0622: the root of a
  // user namespace (not root on the host) may look it up and write it, and nothing else there.
  int fifo;
  do {
    fifo = openat(statefd, "exec.fifo", O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  } while (fifo < 0 && errno == EINTR);
  if (fifo < 0) fail_command(plan, channel, failure_of(STEP_FIFO, errno, "exec.fifo"));
  close(statefd);
  if (write(fifo, "0", 1) != 1) fail_command(plan, channel, failure_of(STEP_FIFO, errno, "exec.fifo"));
  // Kept open until exec (close-on-exec): `start` waits for that EOF, so its poststart hooks
  // run once the user's program has started, not before.
  failure = run_hooks(plan, HOOK_START_CONTAINER, host_pid, "created");
  if (failure.step != 0) fail_command(plan, channel, failure);
  if (!command[0]) _exit(0);  // a config without a process: started, it ends at once
  finish_exec(plan, command, channel);
}

// `tasker-runtime create`: the container's namespaces, cgroups, mounts and hooks up to the
// moment before its command, then this process exits and the container (blocked on its exec
// FIFO) is left to the caller's subreaper (containerd's shim), as runc leaves it.
static int run_oci(struct plan *plan, int statefd, char **command) {
  make_cgroups(plan);
  struct failure failure = open_joins(plan);
  if (failure.step != 0) fail_and_clean(plan, failure);
  // A joined PID namespace is entered here: it is the children's, not this process's.
  failure = enter_joins(plan, CLONE_NEWPID);
  if (failure.step != 0) fail_and_clean(plan, failure);
  int channel[2], go[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel) != 0 || pipe2(go, O_CLOEXEC) != 0)
    fail_and_clean(plan, failure_of(STEP_PIPE, errno, ""));
  if (fchdir(ROOT_FD) != 0) fail_and_clean(plan, failure_of(STEP_CHDIR, errno, "the container's root"));
  uint64_t flags = (uint64_t)plan->namespaces | (plan->nuid_maps ? CLONE_NEWUSER : 0);
  struct cgroup *born_in = NULL;
  pid_t pid = -1;
  for (int i = 0; i < plan->ncgroups && born_in == NULL; i++)
    if (plan->cgroups[i].v2 && plan->cgroups[i].made && !plan->cgroups[i].parent) born_in = &plan->cgroups[i];
  if (born_in) {
    int cgroupfd = open(born_in->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct clone_args args = {.flags = flags | CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)cgroupfd};
    if (cgroupfd >= 0) pid = (pid_t)syscall(SYS_clone3, &args, sizeof args);
    if (pid >= 0) born_in->joined = 1;
    if (cgroupfd >= 0 && pid != 0) close(cgroupfd);
    if (pid == 0 && cgroupfd >= 0) close(cgroupfd);
  }
  if (pid < 0) pid = (pid_t)syscall(SYS_clone, (unsigned long)flags | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid < 0) fail_and_clean(plan, failure_of(STEP_CLONE, errno, "namespaces"));
  if (pid == 0) {
    close(channel[0]);
    close(go[1]);
    close(REPORT_FD);
    close(ROOT_FD);
    run_container(plan, command, go[0], channel[1], statefd);
  }
  close(channel[1]);
  close(go[0]);
  if (chdir("/") != 0) failure = failure_of(STEP_CHDIR, errno, "/");
  if (failure.step == 0 && plan->nuid_maps) {
    if (write_id_map(pid, "uid_map", plan->uid_maps, plan->nuid_maps) != 0)
      failure = failure_of(STEP_ID_MAP, errno, "uid_map");
    else if (write_id_map(pid, "gid_map", plan->gid_maps, plan->ngid_maps) != 0)
      failure = failure_of(STEP_ID_MAP, errno, "gid_map");
  }
  if (failure.step == 0) failure = join_cgroups(plan, pid);
  // prestart hooks run at `start` (runtime-spec 1.0's moment, which runtime-tools checks), by
  // tasker-runtime through --hooks.
  if (failure.step == 0) failure = run_hooks(plan, HOOK_CREATE_RUNTIME, pid, "creating");
  if (failure.step == 0 && write(go[1], &pid, sizeof pid) != (ssize_t)sizeof pid)
    failure = failure_of(STEP_PIPE, errno, "the container");
  close(go[1]);
  if (failure.step == 0) {
    char byte[sizeof(struct failure)];
    ssize_t n;
    do {
      n = recv(channel[0], byte, sizeof byte, 0);
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof(struct failure))
      memcpy(&failure, byte, sizeof failure);
    else if (n != 1)
      failure = failure_of(STEP_EXEC, ECHILD, "the container's process ended before it was created");
  }
  close(channel[0]);
  if (failure.step != 0) {
    kill(pid, SIGKILL);
    wait_for(pid, NULL);
    fail_and_clean(plan, failure);
  }
  dprintf(REPORT_FD, "ok %d %llu\n", (int)pid, start_time(pid));
  return 0;
}

// `tasker-runtime exec`: a new process in a running container's namespaces and cgroups. This
// process enters them, forks the new one (a joined PID namespace is its children's), tells
// its PID, and exits; the new process is left to the caller (a subreaper), as with runc.
static int run_exec(struct plan *plan, char **command) {
  // Privileged and about to enter the container's namespaces: not to be ptraced or read from
  // inside (its child inherits this until its execve).
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  struct failure failure = open_joins(plan);
  if (failure.step != 0) report_failure(failure);
  failure = join_cgroups(plan, getpid());
  if (failure.step != 0) report_failure(failure);
  failure = enter_joins(plan, NAMESPACE_FLAGS);
  if (failure.step != 0) report_failure(failure);
  scmp_filter_ctx filter = NULL;
  if (plan->seccomp) {
    const char *bad;
    filter = compile_seccomp(plan, &bad);
    if (!filter) report_failure(failure_of(STEP_SECCOMP, errno, bad));
  }
  int channel[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel) != 0)
    report_failure(failure_of(STEP_PIPE, errno, ""));
  // The new process's rights are given up here, before it exists: once forked it is in the
  // container's PID namespace, where a process allowed to ptrace could attach to it (runc's
  // CVE-2016-9962). Its child starts with no more than the container's own processes have.
  failure = prepare_process(plan, filter, -1);
  if (failure.step != 0) report_failure(failure);
  pid_t child = fork();
  if (child < 0) report_failure(failure_of(STEP_FORK, errno, ""));
  if (child == 0) {
    close(channel[0]);
    close(REPORT_FD);
    if (plan->terminal) {
      failure = make_console(plan, CONSOLE_FD);
      if (failure.step != 0) fail_command(plan, channel[1], failure);
      close(CONSOLE_FD);
    } else {
      setsid();
    }
    finish_exec(plan, command, channel[1]);
  }
  close(channel[1]);
  await_exec(channel[0], &failure, NULL);
  close(channel[0]);
  if (failure.step != 0) {
    wait_for(child, NULL);
    report_failure(failure);
  }
  dprintf(REPORT_FD, "ok %d %llu\n", (int)child, start_time(child));
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
  // tasker-runtime's poststart and poststop hooks: the plan on stdin, the state's PID and status.
  if (argc == 5 && strcmp(argv[1], "--hooks") == 0) {
    char *document = read_document(0);
    int bad = document ? parse_plan(document, &plan) : -1;
    int phase = lookup(argv[2], hook_phase_names, HOOK_PHASES);
    if (bad != 0 || phase < 0) {
      fprintf(stderr, "tasker-supervisor: invalid plan (line %d) or hook phase\n", bad);
      return 2;
    }
    struct failure failure = run_hooks(&plan, phase, (pid_t)strtol(argv[3], NULL, 10), argv[4]);
    if (failure.step == 0) return 0;
    if (phase != HOOK_POSTSTART && phase != HOOK_POSTSTOP) fprintf(stderr, "%s\n", failure.detail);
    return 1;
  }
  // Started from a sealed memory copy (see TaskManager+Create.swift): nothing inside the task
  // can reach this program's file on the host through /proc/PID/exe.
  close(SELF_FD);
  if (argc < 2 || strcmp(argv[1], "--") != 0) {
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
  if (!command[0] && plan.mode != MODE_OCI) {  // only an OCI container may have no process
    dprintf(REPORT_FD, "error usage %d no command\n", EINVAL);
    return 2;
  }
  plan_mode = plan.mode;
  resolve_in_root = plan.mode != MODE_TASK;
  if (plan.mode == MODE_OCI || plan.mode == MODE_EXEC) {
    // No detaching: the caller (tasker-runtime) waits for this process, and what it leaves
    // (the container, the exec'd process) goes to the caller's subreaper when it exits.
    signal(SIGPIPE, SIG_IGN);
    if (plan.mode == MODE_EXEC) return run_exec(&plan, command);
    struct stat state;
    if (fstat(STATE_FD, &state) != 0 || !S_ISDIR(state.st_mode))
      report_failure(failure_of(STEP_STATE, errno ? errno : ENOTDIR, "the container's state directory"));
    return run_oci(&plan, STATE_FD, command);
  }

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
  return supervise(&plan, STATE_FD, command, argv, argc);
}
#endif
