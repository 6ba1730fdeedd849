/* test_net_close.c: every way a connection ends, for both backends: client
 * reset, server-side close with sends in flight, flush-first close, 10,000
 * connect/disconnect cycles without descriptor or memory growth, and stale
 * handles that must never reach a new connection. Run by ctest for both
 * backends; never asserts on speed, and every wait has a deadline. */
#include "net_harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static void set_rcvtimeo(int fd, int sec)
{
    struct timeval tv = {.tv_sec = sec};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Read until end of stream (or reset); verify the bytes are a prefix of the
 * stream of `seed`. Returns the number of bytes read. */
static uint64_t read_prefix(int fd, uint64_t seed, uint32_t max_payload, uint64_t limit)
{
    h_gen_t g;
    h_gen_init(&g, seed, max_payload);
    uint8_t got[16384], want[16384];
    uint64_t n = 0;
    for (;;) {
        ssize_t r = h_recv(fd, got, sizeof(got));
        if (r <= 0) {
            cr_assert(r == 0 || errno == ECONNRESET, "recv: %s", strerror(errno));
            return n;
        }
        cr_assert_leq(n + (uint64_t)r, limit, "more bytes than were sent");
        h_gen_fill(&g, want, (size_t)r);
        cr_assert_arr_eq(got, want, (size_t)r, "bytes differ near offset %llu",
                         (unsigned long long)n);
        n += (uint64_t)r;
    }
}

/* Clients that send data and reset (SO_LINGER 0) without reading the echo:
 * the server reports NET_CLOSE_RESET and keeps serving others. */
H_BOTH(close, client_reset, 30)
{
    h_opts_t o = {.backend = be, .workers = 2, .mode = H_RAW};
    h_server_t *h = h_start(&o);
    enum { N = 20 };
    for (int i = 0; i < N; i++) {
        int fd = h_connect(h_port(h));
        uint8_t data[3000];
        memset(data, i, sizeof(data));
        cr_assert_eq(h_send(fd, data, sizeof(data)), (ssize_t)sizeof(data));
        H_WAIT(h_accepted(h) == (uint64_t)i + 1, 5000);
        h_close_rst(fd);
    }
    H_WAIT(h_closed(h) == N, 10000);
    cr_assert_eq(h_closed(h), N);
    cr_assert_eq(h_closed_with(h, NET_CLOSE_RESET), N, "resets seen: %llu",
                 (unsigned long long)h_closed_with(h, NET_CLOSE_RESET));
    /* The server still serves. */
    h_client_t c;
    h_client_init(&c, h_connect(h_port(h)), 3, 100000, 500);
    cr_assert_eq(h_drive(&c, 1, 10000), 1);
    close(c.fd);
    H_WAIT(h_open(h) == 0, 5000);
    cr_assert_eq(h_open(h), 0);
    h_stop(h);
}

/* The server closes a connection (from another thread) while megabytes are
 * queued and a send is stuck on a client that does not read: the close cancels
 * the send, releases every buffer reference, and the client receives an
 * intact prefix followed by the end of the stream. */
H_BOTH(close, server_close_sends_in_flight, 30)
{
    h_opts_t o = {.backend = be, .workers = 1, .mode = H_SILENT, .outbox_limit = 64u << 20};
    h_server_t *h = h_start(&o);
    int fd = h_connect_rcvbuf(h_port(h), 4096);
    net_conn_t c = h_conn(h, 0, 5000);
    cr_assert_not_null(c.port);
    enum { BUF = 64 * 1024, COUNT = 256 };
    h_gen_t g;
    h_gen_init(&g, 21, 1000);
    net_buf_t *bufs[COUNT];
    for (int i = 0; i < COUNT; i++) {
        bufs[i] = net_buf_alloc(BUF);
        h_gen_fill(&g, net_buf_data(bufs[i]), BUF);
        cr_assert_eq(net_conn_send(c, bufs[i]), 0);
    }
    net_stats_t st;
    H_WAIT((net_port_stats(h_net_port(h, 0), &st), st.bytes_out > 0), 5000);
    cr_assert_gt(st.bytes_out, 0);
    cr_assert_gt(net_conn_outbox_bytes(c), 1u << 20, "sends should be stuck");
    cr_assert_eq(net_conn_close(c, false), 0);
    H_WAIT(h_closed(h) == 1, 5000);
    cr_assert_eq(h_closed_with(h, NET_CLOSE_LOCAL), 1);
    for (int i = 0; i < COUNT; i++) {
        cr_assert_eq(net_buf_refcount(bufs[i]), 1, "buffer %d still referenced", i);
        net_buf_unref(bufs[i]);
    }
    int rc = net_conn_send(c, bufs[0] = net_buf_alloc(10));
    cr_assert(rc == -ESTALE || rc == -EPIPE, "send on a closed handle: %d", rc);
    net_buf_unref(bufs[0]);
    set_rcvtimeo(fd, 10);
    uint64_t n = read_prefix(fd, 21, 1000, (uint64_t)BUF * COUNT);
    cr_assert_lt(n, (uint64_t)BUF * COUNT);
    close(fd);
    h_stop(h);
}

/* net_conn_close(c, true): what is queued is written, then the connection
 * closes; later sends fail; the client gets every byte and then end of
 * stream. */
H_BOTH(close, flush_first_close, 30)
{
    h_opts_t o = {.backend = be, .workers = 1, .mode = H_SILENT};
    h_server_t *h = h_start(&o);
    int fd = h_connect(h_port(h));
    net_conn_t c = h_conn(h, 0, 5000);
    cr_assert_not_null(c.port);
    enum { BUF = 10000, COUNT = 100 };
    h_gen_t g;
    h_gen_init(&g, 33, 700);
    for (int i = 0; i < COUNT; i++) {
        net_buf_t *b = net_buf_alloc(BUF);
        h_gen_fill(&g, net_buf_data(b), BUF);
        cr_assert_eq(net_conn_send(c, b), 0);
        net_buf_unref(b);
    }
    cr_assert_eq(net_conn_close(c, true), 0);
    /* Closing (-EPIPE) or, if the flush already finished, recycled (-ESTALE). */
    net_buf_t *late = net_buf_alloc(5);
    int rc = net_conn_send(c, late);
    cr_assert(rc == -EPIPE || rc == -ESTALE, "send after close: %d", rc);
    rc = net_conn_close(c, true);
    cr_assert(rc == -EPIPE || rc == -ESTALE, "second close: %d", rc);
    net_buf_unref(late);
    set_rcvtimeo(fd, 10);
    cr_assert_eq(read_prefix(fd, 33, 700, (uint64_t)BUF * COUNT), (uint64_t)BUF * COUNT);
    H_WAIT(h_closed(h) == 1, 5000);
    cr_assert_eq(h_closed_with(h, NET_CLOSE_LOCAL), 1);
    close(fd);
    h_stop(h);
}

/* A client that sends everything and then half-closes gets every echoed
 * byte before the close, when the owner takes end of stream (on_eof) and
 * closes after the flush; the close counts as the peer's. */
H_BOTH(close, half_close_gets_every_answer, 30)
{
    h_opts_t o = {.backend = be, .workers = 2, .mode = H_RAW, .eof_flush = true};
    h_server_t *h = h_start(&o);
    enum { TOTAL = 1 << 20 };
    int fd = h_connect(h_port(h));
    h_gen_t g;
    h_gen_init(&g, 44, 900);
    static uint8_t out[TOTAL];
    h_gen_fill(&g, out, TOTAL);
    cr_assert_eq(h_send(fd, out, TOTAL), TOTAL);
    cr_assert_eq(shutdown(fd, SHUT_WR), 0);
    set_rcvtimeo(fd, 10);
    cr_assert_eq(read_prefix(fd, 44, 900, TOTAL), TOTAL, "answers lost at the half-close");
    H_WAIT(h_closed(h) == 1, 5000);
    cr_assert_eq(h_closed_with(h, NET_CLOSE_PEER), 1);
    close(fd);
    h_stop(h);
}

static void one_cycle(uint16_t port, int i)
{
    int fd = h_connect(port);
    set_rcvtimeo(fd, 5);
    uint8_t b = (uint8_t)i, r = 0;
    cr_assert_eq(h_send(fd, &b, 1), 1);
    cr_assert_eq(h_recv(fd, &r, 1), 1, "cycle %d: no echo (%s)", i, strerror(errno));
    cr_assert_eq(r, b);
    if (i % 10 == 0)
        close(fd); /* graceful: the server sees end of stream */
    else
        h_close_rst(fd); /* abrupt, and no TIME_WAIT left behind */
}

/* 10,000 connect / echo / disconnect cycles: afterwards the process has the
 * same descriptors and (outside ASan) about the same resident memory. */
H_BOTH(close, connect_disconnect_cycles, 90)
{
    h_opts_t o = {.backend = be, .workers = 2, .mode = H_RAW};
    h_server_t *h = h_start(&o);
    int warm = 300, cycles = H_SCALE(10000, 5);
    for (int i = 0; i < warm; i++)
        one_cycle(h_port(h), i);
    H_WAIT(h_open(h) == 0, 5000);
    int fd0 = h_fd_count();
    long rss0 = h_rss_kib();
    uint64_t t0 = h_now_us();
    for (int i = 0; i < cycles; i++)
        one_cycle(h_port(h), i);
    double secs = (double)(h_now_us() - t0) / 1e6;
    H_WAIT(h_open(h) == 0 && h_closed(h) == (uint64_t)(warm + cycles), 10000);
    cr_assert_eq(h_open(h), 0, "%u connections not recycled", h_open(h));
    cr_assert_eq(h_closed(h), (uint64_t)(warm + cycles));
    int fd1 = h_fd_count();
    long rss1 = h_rss_kib();
    fprintf(stderr, "close/cycles[%s]: %d cycles in %.2f s; fds %d -> %d; VmRSS %ld -> %ld KiB\n",
            net_backend_name(h_net_port(h, 0)), cycles, secs, fd0, fd1, rss0, rss1);
    cr_assert_eq(fd1, fd0, "descriptors leaked");
    /* Pools may still grow a little (per-thread caches, depot batches):
     * allow 4 MiB. ASan's quarantine holds freed memory on purpose. */
    if (!H_ASAN)
        cr_assert_leq(rss1 - rss0, 4096, "VmRSS grew by %ld KiB", rss1 - rss0);
    cr_assert_eq(h_echo_failures(h), 0);
    h_stop(h);
}

/* A handle outlives its connection: sends and closes through it fail, and
 * when the slot is reused by a new connection nothing reaches that one. */
H_BOTH(close, stale_handle, 30)
{
    h_opts_t o = {.backend = be, .workers = 1, .mode = H_SILENT};
    h_server_t *h = h_start(&o);
    int fd1 = h_connect(h_port(h));
    net_conn_t c1 = h_conn(h, 0, 5000);
    cr_assert_not_null(c1.port);
    close(fd1);
    H_WAIT(h_open(h) == 0, 5000);
    cr_assert_eq(h_open(h), 0);
    net_buf_t *b = net_buf_alloc(4);
    memcpy(net_buf_data(b), "OLD!", 4);
    cr_assert_eq(net_conn_send(c1, b), -ESTALE);
    cr_assert_eq(net_conn_close(c1, false), -ESTALE);
    cr_assert_eq(net_conn_outbox_bytes(c1), 0);

    int fd2 = h_connect(h_port(h));
    net_conn_t c2 = h_conn(h, 1, 5000);
    cr_assert_not_null(c2.port);
    cr_assert_eq((uint32_t)c2.id, (uint32_t)c1.id, "the free slot is reused (LIFO)");
    cr_assert(!net_conn_equal(c1, c2), "but with a new generation");
    cr_assert_eq(net_conn_send(c1, b), -ESTALE);
    cr_assert_eq(net_buf_refcount(b), 1, "a refused send takes no reference");
    net_conn_t forged = {c1.port, ((uint64_t)7 << 32) | 100000u};
    cr_assert_eq(net_conn_send(forged, b), -ESTALE);
    cr_assert_eq(net_conn_send(NET_CONN_NULL, b), -ESTALE);
    net_buf_t *m = net_buf_alloc(4);
    memcpy(net_buf_data(m), "NEW!", 4);
    cr_assert_eq(net_conn_send(c2, m), 0);
    set_rcvtimeo(fd2, 5);
    char got[8];
    cr_assert_eq(h_recv(fd2, got, sizeof(got)), 4);
    cr_assert_arr_eq(got, "NEW!", 4, "the new connection received only its own bytes");
    net_buf_unref(b);
    net_buf_unref(m);
    close(fd2);
    h_stop(h);
}
