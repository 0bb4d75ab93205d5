// A static helper the jail tests run inside a task, to try what a hostile task would try and
// print what the kernel answered, one `name=result` line each (result: a number, or `E<errno>`).
//
//   probe syscalls     io_uring_setup, an unused call number, personality, a new user namespace
//   probe exe          write through /proc/1/exe (the init's program)
//   probe inject-init  attach to PID 1 (needs CAP_SYS_PTRACE) and make it call kill(1, 0)
//                      (a check that the injection works), then mount and setns
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *name, long rc) {
  if (rc < 0) printf("%s=E%d\n", name, errno);
  else printf("%s=%ld\n", name, rc);
}

static int syscalls(void) {
  unsigned char params[120];
  memset(params, 0, sizeof params);
  errno = 0;
  show("io_uring_setup", syscall(425, 2, params));  // __NR_io_uring_setup on x86_64 and aarch64
  errno = 0;
  show("unused", syscall(1000));
  errno = 0;
  show("personality_addr_no_randomize", personality(ADDR_NO_RANDOMIZE));
  errno = 0;
  show("personality_read_implies_exec", personality(READ_IMPLIES_EXEC));
  errno = 0;
  show("personality_query", personality(0xffffffff));
  errno = 0;
  show("unshare_user", unshare(CLONE_NEWUSER));
  return 0;
}

static int exe(void) {
  char target[256] = {0};
  ssize_t n = readlink("/proc/1/exe", target, sizeof target - 1);
  printf("link=%s\n", n > 0 ? target : "-");
  int fd = open("/proc/1/exe", O_WRONLY);
  show("open", fd);
  if (fd >= 0) {
    errno = 0;
    show("write", write(fd, "x", 1));
  }
  return 0;
}

#if defined(__x86_64__)
// Runs one system call in the stopped tracee: points its instruction pointer at the `syscall`
// instruction it is stopped after, loads the call, single-steps it and reads the result.
static long inject(pid_t pid, const struct user_regs_struct *saved, long nr, long a, long b, long c, long d,
                   long e) {
  struct user_regs_struct regs = *saved;
  regs.rip = saved->rip - 2;
  regs.orig_rax = (unsigned long)-1;  // not a syscall being restarted
  regs.rax = (unsigned long)nr;
  regs.rdi = (unsigned long)a;
  regs.rsi = (unsigned long)b;
  regs.rdx = (unsigned long)c;
  regs.r10 = (unsigned long)d;
  regs.r8 = (unsigned long)e;
  if (ptrace(PTRACE_SETREGS, pid, NULL, &regs) != 0) return -100000 - errno;
  if (ptrace(PTRACE_SINGLESTEP, pid, NULL, NULL) != 0) return -200000 - errno;
  int status;
  if (waitpid(pid, &status, __WALL) != pid || !WIFSTOPPED(status)) return -300000;
  if (ptrace(PTRACE_GETREGS, pid, NULL, &regs) != 0) return -400000 - errno;
  return (long)regs.rax;
}

static void show_injected(const char *name, long rc) {
  if (rc < 0 && rc > -4096) printf("%s=E%ld\n", name, -rc);
  else printf("%s=%ld\n", name, rc);
}

static int inject_init(void) {
  pid_t pid = 1;
  if (ptrace(PTRACE_SEIZE, pid, NULL, NULL) != 0) {
    show("attach", -1);
    return 0;
  }
  printf("attach=0\n");
  if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) != 0) {
    show("interrupt", -1);
    return 1;
  }
  int status;
  if (waitpid(pid, &status, __WALL) != pid) return 1;
  struct user_regs_struct saved;
  if (ptrace(PTRACE_GETREGS, pid, NULL, &saved) != 0) return 1;
  long word = ptrace(PTRACE_PEEKTEXT, pid, (void *)(saved.rip - 2), NULL);
  if ((word & 0xffff) != 0x050f) {  // not stopped after a `syscall` instruction
    printf("stopped-in-syscall=0\n");
    ptrace(PTRACE_DETACH, pid, NULL, NULL);
    return 1;
  }
  // "tmpfs" and "/tmp" written below the tracee's stack.
  unsigned long strings = (saved.rsp - 4096) & ~15UL;
  const char text[16] = "tmpfs\0/tmp\0\0\0\0\0";
  for (int i = 0; i < 2; i++) {
    long value;
    memcpy(&value, text + 8 * i, 8);
    ptrace(PTRACE_POKEDATA, pid, (void *)(strings + 8 * i), (void *)value);
  }
  show_injected("kill", inject(pid, &saved, SYS_kill, 1, 0, 0, 0, 0));
  show_injected("mount", inject(pid, &saved, SYS_mount, (long)strings, (long)(strings + 6), (long)strings, 0, 0));
  show_injected("setns", inject(pid, &saved, SYS_setns, 0, 0, 0, 0, 0));
  ptrace(PTRACE_SETREGS, pid, NULL, &saved);
  ptrace(PTRACE_DETACH, pid, NULL, NULL);
  return 0;
}
#else
static int inject_init(void) {
  printf("unsupported=1\n");
  return 0;
}
#endif

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 2 && strcmp(argv[1], "syscalls") == 0) return syscalls();
  if (argc == 2 && strcmp(argv[1], "exe") == 0) return exe();
  if (argc == 2 && strcmp(argv[1], "inject-init") == 0) return inject_init();
  fprintf(stderr, "usage: probe syscalls|exe|inject-init\n");
  return 2;
}
