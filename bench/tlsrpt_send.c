/*
 * tlsrpt_send: sends N TLS-RPT datagrams to a collector's unix datagram socket at full speed.
 *
 * The datagrams come from a mix file (bench/tlsrpt_datagram.py --mix FILE: each datagram as a
 * little-endian u32 length and its bytes, written as libtlsrpt writes them) and are sent in
 * order, cycling, until N were sent. One connected SOCK_DGRAM socket, as libtlsrpt's
 * tlsrpt_open makes.
 *
 * Two modes (environment DONTWAIT):
 * - unset or 0: blocking sends. The kernel holds the sender back while the collector's receive
 *   queue is full, so nothing is lost before the collector: the rate is the collector's.
 * - 1: MSG_DONTWAIT, as libtlsrpt sends in normal operation (Postfix never waits for the
 *   collector): a send that finds the queue full fails with EAGAIN and that datagram is gone.
 *   Counted as `dropped`: what a busy Postfix would lose with this collector.
 *
 * Environment RATE (datagrams per second, default 0 = as fast as possible) paces the sends, so
 * the DONTWAIT mode shows what a given mail volume loses. Note for DONTWAIT: a unix datagram
 * socket's receive queue holds at most net.unix.max_dgram_qlen datagrams (Linux default 10),
 * whatever SO_RCVBUF says, so a collector that is not reading at the moment a burst arrives
 * loses all but 10 of it.
 *
 * Written in C so the sender costs little beside the collector it measures (they share the
 * machine's two cores).
 *
 *   cc -O2 -o tlsrpt_send bench/tlsrpt_send.c
 *   ./tlsrpt_send SOCKET MIXFILE N
 *
 * Output, one line of `key=value` pairs:
 *   sent=... dropped=... seconds=... rate=... sender_cpu_s=...
 * `sent` counts datagrams the kernel accepted, `dropped` EAGAIN failures (DONTWAIT=1 only),
 * `seconds` the wall time of the sending loop, `rate` sent per second.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s SOCKET MIXFILE N\n", argv[0]);
    return 2;
  }
  long n = atol(argv[3]);
  const char *dontwait_env = getenv("DONTWAIT");
  int flags = (dontwait_env && strcmp(dontwait_env, "1") == 0) ? MSG_DONTWAIT : 0;

  FILE *f = fopen(argv[2], "rb");
  if (!f) { perror(argv[2]); return 1; }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *mix = malloc(size);
  if (!mix || fread(mix, 1, size, f) != (size_t)size) { fprintf(stderr, "cannot read %s\n", argv[2]); return 1; }
  fclose(f);
  /* Index the datagrams. */
  size_t count = 0, cap = 1024;
  unsigned char **dg = malloc(cap * sizeof *dg);
  uint32_t *len = malloc(cap * sizeof *len);
  for (long off = 0; off + 4 <= size;) {
    uint32_t l = mix[off] | mix[off + 1] << 8 | mix[off + 2] << 16 | (uint32_t)mix[off + 3] << 24;
    if (off + 4 + (long)l > size) { fprintf(stderr, "truncated mix file\n"); return 1; }
    if (count == cap) { cap *= 2; dg = realloc(dg, cap * sizeof *dg); len = realloc(len, cap * sizeof *len); }
    dg[count] = mix + off + 4;
    len[count] = l;
    count++;
    off += 4 + l;
  }
  if (count == 0) { fprintf(stderr, "empty mix file\n"); return 1; }

  int s = socket(AF_UNIX, SOCK_DGRAM, 0);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(argv[1]) >= sizeof addr.sun_path) { fprintf(stderr, "socket path too long\n"); return 1; }
  strcpy(addr.sun_path, argv[1]);
  if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("connect"); return 1; }

  const char *rate_env = getenv("RATE");
  double rate = rate_env ? atof(rate_env) : 0;
  long sent = 0, dropped = 0;
  double cpu0 = cpu_s(), t0 = now_s();
  for (long i = 0; i < n; i++) {
    if (rate > 0) {
      double due = t0 + i / rate;
      double t;
      while ((t = now_s()) < due) {
        if (due - t > 0.0002) usleep(100);
      }
    }
    size_t k = (size_t)(i % (long)count);
    ssize_t r = send(s, dg[k], len[k], flags);
    if (r >= 0) {
      sent++;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
      dropped++;
    } else if (errno != EINTR) {
      perror("send");
      return 1;
    } else {
      i--; /* interrupted before anything was sent: send it again */
    }
  }
  double t1 = now_s();
  printf("sent=%ld dropped=%ld seconds=%.3f rate=%.0f sender_cpu_s=%.3f\n", sent, dropped, t1 - t0,
         sent / (t1 - t0), cpu_s() - cpu0);
  close(s);
  return 0;
}
