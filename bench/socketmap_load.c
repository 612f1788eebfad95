/*
 * socketmap_load: a closed-loop load generator for Postfix socketmap servers.
 *
 * Each of N connections is opened once and kept (as Postfix's socketmap client does); on each,
 * one netstring request is sent, the whole netstring reply awaited, and the next sent: no
 * pipelining, one request in flight per connection. Requests cycle over the given keys. After a
 * warm-up (not counted) it runs for a fixed duration and prints requests/s and latency
 * percentiles over every request completed in that window.
 *
 * Two ways to drive the connections (environment THREADS):
 * - THREADS unset or 0: a thread per connection, blocking reads and writes (each Postfix smtp(8)
 *   process is one such client). Every reply wakes a sleeping thread: on a 2-core VM the client
 *   then spends as much CPU as the server it measures, mostly in wake-ups.
 * - THREADS=T (T >= 1): T threads, each driving its share of the connections with epoll, as wrk
 *   does; a thread wakes once for every reply that is ready, so the client costs far less and the
 *   server, not the client, sets the pace. Same requests, same closed loop, same latency clock
 *   (from the write of a request to the last byte of its reply).
 *
 * Written in C so the client costs little beside the servers it measures: client and servers
 * share the machine's cores.
 *
 *   cc -O2 -pthread -o socketmap_load bench/socketmap_load.c
 *   ./socketmap_load HOST PORT CONNECTIONS SECONDS "postfix healthy-enforce.test" [KEY...]
 *   ./socketmap_load unix:PATH - CONNECTIONS SECONDS KEY...     (a unix socket; PORT unused)
 *
 * Output, one line of space-separated `key=value` pairs:
 *   requests=... seconds=... rps=... p50_us=... p90_us=... p99_us=... p999_us=... max_us=...
 *   ok=... other=... errors=... client_cpu_s=... server_cpu_s=... others_cpu_s=...
 * `ok` counts replies starting with "OK ", `other` any other complete reply, `errors` connections
 * that failed (the thread reconnects and goes on), `client_cpu_s` the CPU time this client used
 * during the measured window (all threads), `server_cpu_s` the CPU time of process SERVER_PID
 * (environment; 0 without it) in that window, `others_cpu_s` the CPU time every other process
 * used in that window: whatever else ran meanwhile (noise).
 * Exit status 1 if any error or no request. Environment: WARMUP_MS (default 1000), SERVER_PID,
 * THREADS.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *g_host, *g_port;
static char **g_reqs;   /* framed requests */
static size_t *g_lens;
static int g_nkeys;
static atomic_int g_phase; /* 0 warm-up, 1 measuring, 2 stop */

struct worker {
    pthread_t tid;
    int index;
    int first, count; /* epoll mode: connections [first, first + count) */
    uint32_t *lat; /* microseconds x 8 (1/8 us resolution) */
    size_t n, cap;
    uint64_t ok, other, errors;
};

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Connects to g_host:g_port, or to the unix socket PATH when g_host is "unix:PATH". */
static int dial(void) {
    if (strncmp(g_host, "unix:", 5) == 0) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        if (strlen(g_host + 5) >= sizeof sun.sun_path) return -1;
        strcpy(sun.sun_path, g_host + 5);
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof sun) != 0) {
            close(fd);
            fd = -1;
        }
        return fd;
    }
    struct addrinfo hints = {0}, *res;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(g_host, g_port, &hints, &res) != 0) return -1;
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

/* Reads one netstring reply into buf; returns the payload length, or -1. */
static long read_reply(int fd, char *buf, size_t cap, const char **payload) {
    size_t have = 0;
    for (;;) {
        ssize_t r = read(fd, buf + have, cap - have);
        if (r <= 0) return -1;
        have += (size_t)r;
        char *colon = memchr(buf, ':', have);
        if (!colon) {
            if (have > 10) return -1;
            continue;
        }
        long len = strtol(buf, NULL, 10);
        size_t need = (size_t)(colon - buf) + 1 + (size_t)len + 1;
        if (need > cap) return -1;
        if (have >= need) {
            if (buf[need - 1] != ',') return -1;
            *payload = colon + 1;
            return len;
        }
    }
}

/* Records one completed request in `w` (only while measuring). */
static void record(struct worker *w, uint64_t t0, uint64_t t1, const char *payload, long len) {
    if (atomic_load_explicit(&g_phase, memory_order_relaxed) != 1) return;
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 1 << 16;
        w->lat = realloc(w->lat, w->cap * sizeof *w->lat);
        if (!w->lat) abort();
    }
    uint64_t eighths = (t1 - t0) / 125;
    w->lat[w->n++] = eighths > UINT32_MAX ? UINT32_MAX : (uint32_t)eighths;
    if (len >= 3 && memcmp(payload, "OK ", 3) == 0)
        w->ok++;
    else
        w->other++;
}

static void *run(void *arg) {
    struct worker *w = arg;
    char buf[65536 + 16];
    int fd = dial();
    int k = w->index % g_nkeys;
    while (atomic_load_explicit(&g_phase, memory_order_relaxed) != 2) {
        if (fd < 0) {
            w->errors++;
            usleep(10000);
            fd = dial();
            continue;
        }
        uint64_t t0 = now_ns();
        const char *payload = NULL;
        long len = -1;
        if (write(fd, g_reqs[k], g_lens[k]) == (ssize_t)g_lens[k])
            len = read_reply(fd, buf, sizeof buf, &payload);
        uint64_t t1 = now_ns();
        if (len < 0) {
            w->errors++;
            close(fd);
            fd = dial();
            continue;
        }
        record(w, t0, t1, payload, len);
        k = (k + 1) % g_nkeys;
    }
    if (fd >= 0) close(fd);
    return NULL;
}

/* One connection of an epoll worker: its socket, request in flight and reply bytes so far. */
struct conn {
    int fd, k;
    uint64_t t0;
    size_t have;
    char buf[4096];
};

/* Sends the connection's next request; 0 on success. */
static int send_next(struct conn *c) {
    c->have = 0;
    c->t0 = now_ns();
    return write(c->fd, g_reqs[c->k], g_lens[c->k]) == (ssize_t)g_lens[c->k] ? 0 : -1;
}

/* Parses the reply bytes of `c`: 1 and the payload when whole, 0 when more are needed, -1 when
 * malformed. */
static int reply_done(struct conn *c, const char **payload, long *len) {
    char *colon = memchr(c->buf, ':', c->have);
    if (!colon) return c->have > 10 ? -1 : 0;
    *len = strtol(c->buf, NULL, 10);
    size_t need = (size_t)(colon - c->buf) + 1 + (size_t)*len + 1;
    if (need > sizeof c->buf) return -1;
    if (c->have < need) return 0;
    if (c->buf[need - 1] != ',') return -1;
    *payload = colon + 1;
    return 1;
}

static void *run_epoll(void *arg) {
    struct worker *w = arg;
    int ep = epoll_create1(0);
    struct conn *cs = calloc((size_t)w->count, sizeof *cs);
    if (ep < 0 || !cs) abort();
    for (int i = 0; i < w->count; i++) {
        cs[i].k = (w->first + i) % g_nkeys;
        cs[i].fd = dial();
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (cs[i].fd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev) != 0 || send_next(&cs[i]))
            w->errors++;
    }
    struct epoll_event evs[256];
    while (atomic_load_explicit(&g_phase, memory_order_relaxed) != 2) {
        int n = epoll_wait(ep, evs, 256, 100);
        for (int e = 0; e < n; e++) {
            struct conn *c = &cs[evs[e].data.u32];
            ssize_t r = read(c->fd, c->buf + c->have, sizeof c->buf - c->have);
            const char *payload = NULL;
            long len = -1;
            int done = r > 0 ? (c->have += (size_t)r, reply_done(c, &payload, &len)) : -1;
            if (done == 0) continue;
            if (done < 0) {
                /* A broken connection is counted and not used again: errors make the run fail. */
                w->errors++;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                continue;
            }
            record(w, c->t0, now_ns(), payload, len);
            c->k = (c->k + 1) % g_nkeys;
            if (send_next(c)) w->errors++;
        }
    }
    for (int i = 0; i < w->count; i++)
        if (cs[i].fd >= 0) close(cs[i].fd);
    free(cs);
    close(ep);
    return NULL;
}

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

/* CPU seconds (user + system) of process `pid` so far, from /proc/PID/stat; -1 if unreadable. */
static double proc_cpu_seconds(long pid) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!p) return -1;
    unsigned long long utime = 0, stime = 0;
    /* after ")": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU time of every other process: a snapshot of (pid, start time, utime + stime + cutime +
 * cstime) for each process but `skip1` and `skip2`. Children reaped meanwhile (compilers under
 * cargo, say) are counted through their parent's cutime/cstime. */
struct proc_snap { long pid; unsigned long long start, ticks; };

static size_t snapshot_others(struct proc_snap **out, long skip1, long skip2) {
    size_t n = 0, cap = 256;
    struct proc_snap *v = malloc(cap * sizeof *v);
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 0 || pid == skip1 || pid == skip2) continue;
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        char *p = strrchr(buf, ')');
        unsigned long long ut, st, cut, cst, start;
        if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu "
                                "%*d %*d %*d %*d %llu", &ut, &st, &cut, &cst, &start) != 5)
            continue;
        if (n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
        v[n++] = (struct proc_snap){pid, start, ut + st + cut + cst};
    }
    if (d) closedir(d);
    *out = v;
    return n;
}

/* CPU seconds other processes used between two snapshots (processes that appeared count whole). */
static double others_seconds(struct proc_snap *a, size_t na, struct proc_snap *b, size_t nb) {
    unsigned long long ticks = 0;
    for (size_t i = 0; i < nb; i++) {
        unsigned long long before = 0;
        for (size_t j = 0; j < na; j++)
            if (a[j].pid == b[i].pid && a[j].start == b[i].start) { before = a[j].ticks; break; }
        if (b[i].ticks > before) ticks += b[i].ticks - before;
    }
    return (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

static int cmp_u32(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 6) {
        fprintf(stderr, "usage: %s HOST PORT CONNECTIONS SECONDS KEY...\n", argv[0]);
        return 2;
    }
    g_host = argv[1];
    g_port = argv[2];
    int conns = atoi(argv[3]);
    double seconds = atof(argv[4]);
    g_nkeys = argc - 5;
    g_reqs = calloc((size_t)g_nkeys, sizeof *g_reqs);
    g_lens = calloc((size_t)g_nkeys, sizeof *g_lens);
    for (int i = 0; i < g_nkeys; i++) {
        const char *key = argv[5 + i];
        size_t n = strlen(key);
        g_reqs[i] = malloc(n + 32);
        g_lens[i] = (size_t)sprintf(g_reqs[i], "%zu:%s,", n, key);
    }
    const char *wu = getenv("WARMUP_MS");
    long warmup_ms = wu ? atol(wu) : 1000;

    const char *th = getenv("THREADS");
    int threads = th ? atoi(th) : 0;
    if (threads > conns) threads = conns;
    int workers = threads > 0 ? threads : conns;
    struct worker *ws = calloc((size_t)workers, sizeof *ws);
    for (int i = 0; i < workers; i++) {
        ws[i].index = i;
        /* epoll mode: connections split as evenly as they go. */
        ws[i].first = i * conns / workers;
        ws[i].count = (i + 1) * conns / workers - ws[i].first;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        pthread_create(&ws[i].tid, &attr, threads > 0 ? run_epoll : run, &ws[i]);
        pthread_attr_destroy(&attr);
    }
    usleep((useconds_t)warmup_ms * 1000);
    const char *wp = getenv("SERVER_PID");
    long server_pid = wp ? atol(wp) : 0;
    uint64_t start = now_ns();
    double cpu0 = cpu_seconds();
    double server0 = server_pid ? proc_cpu_seconds(server_pid) : 0;
    struct proc_snap *snap0;
    size_t nsnap0 = snapshot_others(&snap0, server_pid, (long)getpid());
    atomic_store(&g_phase, 1);
    struct timespec d = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
    nanosleep(&d, NULL);
    atomic_store(&g_phase, 2);
    uint64_t end = now_ns();
    double cpu = cpu_seconds() - cpu0;
    double server = server_pid ? proc_cpu_seconds(server_pid) - server0 : 0;
    struct proc_snap *snap1;
    size_t nsnap1 = snapshot_others(&snap1, server_pid, (long)getpid());
    double others = others_seconds(snap0, nsnap0, snap1, nsnap1);
    for (int i = 0; i < workers; i++) pthread_join(ws[i].tid, NULL);

    size_t total = 0;
    uint64_t ok = 0, other = 0, errors = 0;
    for (int i = 0; i < workers; i++) {
        total += ws[i].n;
        ok += ws[i].ok;
        other += ws[i].other;
        errors += ws[i].errors;
    }
    uint32_t *all = malloc((total ? total : 1) * sizeof *all);
    size_t at = 0;
    for (int i = 0; i < workers; i++) {
        memcpy(all + at, ws[i].lat, ws[i].n * sizeof *all);
        at += ws[i].n;
    }
    qsort(all, total, sizeof *all, cmp_u32);
#define PCT(p) (total ? all[(size_t)((double)(total - 1) * (p))] / 8.0 : 0.0)
    double secs = (double)(end - start) / 1e9;
    printf("requests=%zu seconds=%.2f rps=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f "
           "max_us=%.1f ok=%llu other=%llu errors=%llu client_cpu_s=%.2f server_cpu_s=%.2f "
           "others_cpu_s=%.2f\n",
           total, secs, (double)total / secs, PCT(0.50), PCT(0.90), PCT(0.99), PCT(0.999),
           total ? all[total - 1] / 8.0 : 0.0, (unsigned long long)ok,
           (unsigned long long)other, (unsigned long long)errors, cpu, server,
           others);
    return (errors || !total) ? 1 : 0;
}
