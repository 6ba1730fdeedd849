/* test_net_limits.c: net at its limits: out of descriptors (EMFILE pauses
 * accepting, a close resumes it), a full connection table, the best-effort
 * overflow notice, destroying a port with sends stuck in flight, and the
 * automatic fallback to epoll when io_uring is blocked by seccomp (as in
 * Docker's default profile). Run by ctest; each Criterion test is its own
 * process, so lowered limits and the seccomp filter never leak into others. */
#include "net_harness.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

static void echo_one(int fd, uint8_t v)
{
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    uint8_t r = 0;
    cr_assert_eq(h_send(fd, &v, 1), 1);
    cr_assert_eq(h_recv(fd, &r, 1), 1, "no echo: %s", strerror(errno));
    cr_assert_eq(r, v);
}

/* Occupy every descriptor number below the current highest one, so that
 * RLIMIT_NOFILE = highest + 1 + n leaves exactly n descriptors free. */
static int fill_fd_holes(int *dups, int max, int *ndup)
{
    int hi = 0, n = 0;
    for (int fd = 0; fd < 65536; fd++) /* bounded scan of the table */
        if (fcntl(fd, F_GETFD) >= 0)
            hi = fd;
    while (n < max) {
        int d = dup(0);
        cr_assert_geq(d, 0);
        if (d > hi) {
            close(d);
            break;
        }
        dups[n++] = d;
    }
    *ndup = n;
    return hi;
}

/* With no descriptor left, accepting pauses instead of spinning; connections
 * wait in the backlog and are accepted once closes free descriptors. The limit
 * is lowered before the server starts: io_uring reads RLIMIT_NOFILE when an
 * accept is submitted, not when it completes. */
H_BOTH(limits, emfile_pauses_then_resumes, 30)
{
    enum { N = 6, SERVER_FDS = 3 }; /* event fd, ring or epoll fd, listener */
    int fds[N], dups[256];
    for (int i = 0; i < N; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_geq(fds[i], 0);
    }
    int ndup = 0, hi = fill_fd_holes(dups, 256, &ndup);
    struct rlimit old, lim;
    getrlimit(RLIMIT_NOFILE, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)hi + 1 + SERVER_FDS + 2; /* the server can accept two */
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &lim), 0);
    h_opts_t o = {.backend = be, .workers = 1, .mode = H_RAW};
    h_server_t *h = h_start(&o);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(h_port(h))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < N; i++)
        cr_assert_eq(connect(fds[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
    net_stats_t st;
    H_WAIT((h_stats(h, &st), h_accepted(h) == 2 && st.accept_pauses >= 1), 5000);
    cr_assert_eq(h_accepted(h), 2, "accepted %llu, pauses %llu", (unsigned long long)h_accepted(h),
                 (unsigned long long)st.accept_pauses);
    cr_assert_geq(st.accept_pauses, 1, "accepting did not pause on EMFILE");
    echo_one(fds[0], 1);
    echo_one(fds[1], 2);
    close(fds[0]); /* the server closes its side too: descriptors come back */
    close(fds[1]);
    H_WAIT(h_accepted(h) == N, 5000);
    cr_assert_eq(h_accepted(h), N, "accepting did not resume");
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
    for (int i = 2; i < N; i++)
        echo_one(fds[i], (uint8_t)i);
    for (int i = 2; i < N; i++)
        close(fds[i]);
    for (int i = 0; i < ndup; i++)
        close(dups[i]);
    h_stop(h);
}

/* A full connection table pauses accepting; the next connection waits in the
 * backlog (never refused) and is served once a connection closes. */
H_BOTH(limits, full_table_waits_for_a_slot, 30)
{
    h_opts_t o = {.backend = be, .workers = 1, .mode = H_RAW, .max_conns = 2};
    h_server_t *h = h_start(&o);
    int a = h_connect(h_port(h)), b = h_connect(h_port(h));
    echo_one(a, 1);
    echo_one(b, 2);
    net_stats_t st;
    H_WAIT((h_stats(h, &st), st.accept_pauses >= 1), 5000);
    cr_assert_geq(st.accept_pauses, 1);
    int c = h_connect(h_port(h)); /* completes in the kernel's backlog */
    uint8_t v = 3, r = 0;
    cr_assert_eq(h_send(c, &v, 1), 1);
    cr_assert_eq(h_accepted(h), 2);
    close(a);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    cr_assert_eq(h_recv(c, &r, 1), 1, "the waiting connection was not served: %s", strerror(errno));
    cr_assert_eq(r, v);
    cr_assert_eq(h_accepted(h), 3);
    close(b);
    close(c);
    h_stop(h);
}

static uint64_t rss_bytes(void)
{
    unsigned long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    cr_assert_not_null(f);
    cr_assert_eq(fscanf(f, "%lu %lu", &size, &resident), 2);
    fclose(f);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* A port sized for 200,000 connections costs memory only for the slots it
 * has used: a table touched whole would be about 260 MB resident; the
 * port's other memory (rings, receive buffers) stays well under 24 MB. */
H_BOTH(limits, a_large_table_costs_only_what_is_used, 30)
{
    uint64_t before = rss_bytes();
    h_opts_t o = {.backend = be, .workers = 1, .mode = H_RAW, .max_conns = 200000};
    h_server_t *h = h_start(&o);
    enum { N = 100 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = h_connect(h_port(h));
        echo_one(fds[i], (uint8_t)i);
    }
    uint64_t grown = rss_bytes() - before;
    fprintf(stderr, "limits/large_table[%s]: %d connections on a 200,000-slot table: +%llu KiB\n",
            net_backend_name(h_net_port(h, 0)), N, (unsigned long long)(grown >> 10));
    cr_assert_lt(grown, 24u << 20, "RSS grew by %llu KiB", (unsigned long long)(grown >> 10));
    for (int i = 0; i < N; i++)
        close(fds[i]);
    h_stop(h);
}

/* A send that would pass the limit closes the connection as a slow consumer;
 * with the socket empty, the configured notice goes out before the close. */
H_BOTH(limits, overflow_notice_best_effort, 30)
{
    net_buf_t *notice = net_buf_alloc(4);
    memcpy(net_buf_data(notice), "SLOW", 4);
    h_opts_t o = {.backend = be,
                  .workers = 1,
                  .mode = H_SILENT,
                  .outbox_limit = 64 * 1024,
                  .overflow_notice = notice};
    h_server_t *h = h_start(&o);
    cr_assert_eq(net_buf_refcount(notice), (uint32_t)(1 + h_workers(h)),
                 "each port holds a reference");
    int fd = h_connect(h_port(h));
    net_conn_t c = h_conn(h, 0, 5000);
    cr_assert_not_null(c.port);
    net_buf_t *big = net_buf_alloc(100 * 1024);
    memset(net_buf_data(big), 'x', net_buf_len(big));
    cr_assert_eq(net_conn_send(c, big), -ENOBUFS);
    cr_assert_eq(net_buf_refcount(big), 1);
    H_WAIT(h_closed_with(h, NET_CLOSE_SLOW_CONSUMER) == 1, 5000);
    cr_assert_eq(h_closed_with(h, NET_CLOSE_SLOW_CONSUMER), 1);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char got[16];
    cr_assert_eq(h_recv(fd, got, sizeof(got)), 4);
    cr_assert_arr_eq(got, "SLOW", 4);
    cr_assert_eq(h_recv(fd, got, sizeof(got)), 0, "end of stream after the notice");
    close(fd);
    net_buf_unref(big);
    h_stop(h);
    cr_assert_eq(net_buf_refcount(notice), 1);
    net_buf_unref(notice);
}

/* Destroying a port with connections whose sends are stuck (clients do not
 * read): every connection gets on_close(SHUTDOWN) and the one buffer queued
 * 64 times to each of them comes back to a single reference. */
H_BOTH(limits, destroy_with_sends_in_flight, 30)
{
    h_opts_t o = {.backend = be, .workers = 1, .mode = H_SILENT, .outbox_limit = 64u << 20};
    h_server_t *h = h_start(&o);
    enum { N = 3 };
    int fds[N];
    net_buf_t *b = net_buf_alloc(64 * 1024);
    memset(net_buf_data(b), 'b', net_buf_len(b));
    for (int i = 0; i < N; i++) {
        fds[i] = h_connect_rcvbuf(h_port(h), 4096);
        net_conn_t c = h_conn(h, (size_t)i, 5000);
        cr_assert_not_null(c.port);
        for (int k = 0; k < 64; k++) /* one buffer, many outboxes: a broadcast */
            cr_assert_eq(net_conn_send(c, b), 0);
    }
    cr_assert_geq(net_buf_refcount(b), 2);
    cr_assert_eq(h_stop(h), N, "every open connection closes with SHUTDOWN");
    cr_assert_eq(net_buf_refcount(b), 1, "references left after destroy");
    net_buf_unref(b);
    for (int i = 0; i < N; i++)
        close(fds[i]);
}

#if defined(__x86_64__)
/* Make io_uring_setup fail with EPERM for this thread, like a container
 * runtime's seccomp profile. */
static void block_io_uring(void)
{
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = (unsigned short)(sizeof(f) / sizeof(f[0])), .filter = f};
    cr_assert_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    cr_assert_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0);
}

typedef struct log_capture {
    int lines;
    char last[256];
} log_capture_t;

static void capture_log(void *udata, const char *line)
{
    log_capture_t *cap = udata;
    cap->lines++;
    snprintf(cap->last, sizeof(cap->last), "%s", line);
}

Test(limits, auto_falls_back_to_epoll_when_io_uring_is_blocked, .timeout = 30)
{
    block_io_uring();
    cr_assert_eq(net_backend_probe(NET_BACKEND_URING), -EPERM);
    cr_assert_eq(net_backend_probe(NET_BACKEND_AUTO), 0);
    net_config_t cfg;
    net_config_init(&cfg);
    cfg.backend = NET_BACKEND_URING; /* forced: no fallback, the kernel's answer */
    errno = 0;
    cr_assert_null(net_port_create(&cfg, NULL, NULL));
    cr_assert_eq(errno, EPERM);
    log_capture_t cap = {0};
    cfg.backend = NET_BACKEND_AUTO;
    cfg.log = capture_log;
    cfg.log_udata = &cap;
    net_port_t *p1 = net_port_create(&cfg, NULL, NULL);
    net_port_t *p2 = net_port_create(&cfg, NULL, NULL);
    cr_assert(p1 && p2);
    cr_assert_eq(strcmp(net_backend_name(p1), "epoll"), 0);
    cr_assert_eq(strcmp(net_backend_name(p2), "epoll"), 0);
    cr_assert_eq(cap.lines, 1, "one line per process, not per port");
    cr_assert(strstr(cap.last, "io_uring") && strstr(cap.last, "epoll"), "log: %s", cap.last);
    net_port_destroy(p1);
    net_port_destroy(p2);
    /* And the fallback serves. */
    h_opts_t o = {.backend = NET_BACKEND_AUTO, .workers = 2, .mode = H_PACKET};
    h_server_t *h = h_start(&o);
    cr_assert_eq(strcmp(net_backend_name(h_net_port(h, 0)), "epoll"), 0);
    h_client_t c;
    h_client_init(&c, h_connect(h_port(h)), 11, h_gen_packets_size(11, 200, 50), 200);
    cr_assert_eq(h_drive(&c, 1, 10000), 1);
    close(c.fd);
    h_stop(h);
}
#endif
