// A static helper for the export tests: takes a write lease (fcntl F_SETLEASE F_WRLCK) on a
// file, as a task may, so that an open of it by anyone else must wait for the lease to be given
// up (or fails with EWOULDBLOCK under O_NONBLOCK).
//
//   lease PATH MARKER  create PATH, lease it, create MARKER once leased (or print why not),
//                      then hold the lease until killed
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: lease PATH MARKER\n");
    return 64;
  }
  int fd = open(argv[1], O_RDONLY | O_CREAT, 0644);
  if (fd < 0) {
    fprintf(stderr, "lease: open %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  // A break of the lease is announced with SIGIO, which would end the holder.
  signal(SIGIO, SIG_IGN);
  if (fcntl(fd, F_SETLEASE, F_WRLCK) < 0) {
    fprintf(stderr, "lease: F_SETLEASE %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  int marker = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (marker < 0) return 1;
  close(marker);
  for (;;) pause();
}
