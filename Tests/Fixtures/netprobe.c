// A small network probe for the tests, run inside tasks and in the tests' own network
// namespaces (static: it needs nothing of the image).
//   netprobe tcp-serve ADDR PORT TEXT   answer every connection with TEXT
//   netprobe udp-serve ADDR PORT TEXT   answer every datagram with TEXT
//   netprobe unix-serve NAME            accept connections on the abstract unix socket @NAME
//   netprobe tcp-get ADDR PORT          print what a connection is sent (3 s timeout)
//   netprobe udp-get ADDR PORT          send a datagram, print the answer (3 tries, 1 s each)
//   netprobe unix-get NAME              connect to @NAME, print "connected"
// Servers print "ready" once they listen. Clients exit 0 when they got something, 1 if not
// (the reason on stderr). ADDR is numeric IPv4 or IPv6.
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static socklen_t address(const char *host, const char *port, struct sockaddr_storage *out) {
  memset(out, 0, sizeof *out);
  struct sockaddr_in *v4 = (struct sockaddr_in *)out;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)out;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)atoi(port));
    return sizeof *v4;
  }
  if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)atoi(port));
    return sizeof *v6;
  }
  fprintf(stderr, "bad address %s\n", host);
  exit(2);
}

static socklen_t abstract(const char *name, struct sockaddr_un *out) {
  memset(out, 0, sizeof *out);
  out->sun_family = AF_UNIX;
  size_t length = strlen(name);
  if (length + 1 > sizeof out->sun_path) exit(2);
  memcpy(out->sun_path + 1, name, length);  // a leading NUL: the abstract namespace
  return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + length);
}

static void timeouts(int fd, int seconds) {
  struct timeval tv = {seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

static int fail(const char *what) {
  perror(what);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  const char *mode = argv[1];
  struct sockaddr_storage addr;
  struct sockaddr_un unix_addr;
  char buffer[512];
  int on = 1;
  if (strcmp(mode, "tcp-serve") == 0 || strcmp(mode, "udp-serve") == 0) {
    if (argc != 5) return 2;
    int udp = mode[0] == 'u';
    socklen_t length = address(argv[2], argv[3], &addr);
    int fd = socket(addr.ss_family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
    if (fd < 0) return fail("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (bind(fd, (struct sockaddr *)&addr, length) != 0) return fail("bind");
    if (!udp && listen(fd, 16) != 0) return fail("listen");
    printf("ready\n");
    fflush(stdout);
    for (;;) {
      if (udp) {
        struct sockaddr_storage peer;
        socklen_t peer_length = sizeof peer;
        if (recvfrom(fd, buffer, sizeof buffer, 0, (struct sockaddr *)&peer, &peer_length) < 0) continue;
        sendto(fd, argv[4], strlen(argv[4]), 0, (struct sockaddr *)&peer, peer_length);
      } else {
        int client = accept(fd, NULL, NULL);
        if (client < 0) continue;
        ssize_t ignored = write(client, argv[4], strlen(argv[4]));
        (void)ignored;
        close(client);
      }
    }
  }
  if (strcmp(mode, "unix-serve") == 0) {
    socklen_t length = abstract(argv[2], &unix_addr);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return fail("socket");
    if (bind(fd, (struct sockaddr *)&unix_addr, length) != 0) return fail("bind");
    if (listen(fd, 16) != 0) return fail("listen");
    printf("ready\n");
    fflush(stdout);
    for (;;) {
      int client = accept(fd, NULL, NULL);
      if (client >= 0) close(client);
    }
  }
  if (strcmp(mode, "unix-get") == 0) {
    socklen_t length = abstract(argv[2], &unix_addr);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return fail("socket");
    if (connect(fd, (struct sockaddr *)&unix_addr, length) != 0) return fail("connect");
    printf("connected\n");
    return 0;
  }
  if (strcmp(mode, "tcp-get") == 0 || strcmp(mode, "udp-get") == 0) {
    if (argc != 4) return 2;
    int udp = mode[0] == 'u';
    socklen_t length = address(argv[2], argv[3], &addr);
    int fd = socket(addr.ss_family, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
    if (fd < 0) return fail("socket");
    timeouts(fd, udp ? 1 : 3);
    if (connect(fd, (struct sockaddr *)&addr, length) != 0) return fail("connect");
    ssize_t n = -1;
    for (int attempt = 0; attempt < (udp ? 3 : 1); attempt++) {
      if (udp && send(fd, "ping", 4, 0) != 4) return fail("send");
      n = read(fd, buffer, sizeof buffer);
      if (n > 0) break;
    }
    if (n <= 0) return n == 0 ? (fprintf(stderr, "no data\n"), 1) : fail("read");
    fwrite(buffer, 1, (size_t)n, stdout);
    return 0;
  }
  return 2;
}
