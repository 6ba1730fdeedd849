/* test_echo.c: the whole receive -> session actor -> send path of the real
 * binary, for both io backends: DEV_ECHO, PING, the protocol's error rules,
 * many connections, and no fd or memory growth over connect/close cycles. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends.h"
#include "itest.h"
#include "proto.h"
#include "server_proc.h"
#include "wire.h"

#define T ITEST_T

TestSuite(echo, .timeout = 120);

static void start(server_proc_t *s, const char *backend)
{
    itest_start(s, backend, NULL);
}

static void stop(server_proc_t *s)
{
    itest_stop(s);
}

/* Sends one DEV_ECHO with body `body` and checks the identical packet returns. */
static void echo_once(int fd, const uint8_t *body, size_t len)
{
    uint8_t pkt[4096], back[4096];
    size_t n = proto_encode_dev_echo(pkt, sizeof(pkt), body, len);
    cr_assert_gt(n, 0);
    cr_assert_eq(wire_send(fd, pkt, n), 0);
    proto_header_t h;
    cr_assert_eq(wire_recv(fd, back, sizeof(back), &h, T), (int)n);
    cr_assert_eq(memcmp(pkt, back, n), 0, "echo differs");
}

static void dev_echo_round_trips(const char *backend)
{
    server_proc_t s;
    start(&s, backend);
    int fd = tcp_connect(s.port);
    cr_assert_geq(fd, 0);
    uint8_t body[4091];
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (uint8_t)(i * 7 + 1);
    size_t sizes[] = {0, 1, 100, 290, 4091}; /* 4091 + 5 = the default max_packet */
    for (size_t i = 0; i < 5; i++)
        echo_once(fd, body, sizes[i]);
    close(fd);
    stop(&s);
}

/* 40 packets written one byte at a time, then 40 written in one write. */
static void split_and_batched_packets(const char *backend)
{
    server_proc_t s;
    start(&s, backend);
    int fd = tcp_connect(s.port);
    uint8_t stream[40 * 32];
    size_t len = 0;
    for (int i = 0; i < 40; i++) {
        uint8_t body[27];
        memset(body, 'a' + i % 26, sizeof(body));
        len += proto_encode_dev_echo(stream + len, sizeof(stream) - len, body, sizeof(body));
    }
    for (size_t i = 0; i < len; i++)
        cr_assert_eq(wire_send(fd, stream + i, 1), 0);
    cr_assert_eq(wire_send(fd, stream, len), 0);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 40; i++) {
            uint8_t back[64];
            proto_header_t h;
            cr_assert_eq(wire_recv(fd, back, sizeof(back), &h, T), 32);
            cr_assert_eq(memcmp(back, stream + i * 32, 32), 0, "packet %d differs", i);
        }
    }
    close(fd);
    stop(&s);
}

static void ping_and_error_rules(const char *backend)
{
    server_proc_t s;
    start(&s, backend);
    int fd = tcp_connect(s.port);
    uint8_t pkt[64], back[64];
    size_t n = proto_encode_ping_req(pkt, sizeof(pkt), 0x1122334455667788ull);
    cr_assert_eq(wire_send(fd, pkt, n), 0);
    int body = wire_expect(fd, PROTO_PING_RES, back, sizeof(back), T);
    uint64_t token = 0;
    cr_assert_eq(body, 8);
    cr_assert_eq(proto_decode_ping_res(back + 5, 8, &token), 0);
    cr_assert_eq(token, 0x1122334455667788ull);

    uint8_t bad_type[] = {5, 0, 1, 0, 1}; /* DEV_ECHO with type 1 */
    uint16_t off = 0;
    cr_assert_eq(wire_send(fd, bad_type, 5), 0);
    cr_assert_eq(wire_expect_error(fd, &off, T), PROTO_ERR_BAD_TYPE);
    cr_assert_eq(off, PROTO_DEV_ECHO);
    uint16_t refused[] = {11, 12, 30, 199, 202, 999};
    for (int i = 0; i < 6; i++) {
        proto_header_encode(pkt, 5, refused[i]);
        cr_assert_eq(wire_send(fd, pkt, 5), 0);
        cr_assert_eq(wire_expect_error(fd, &off, T), PROTO_ERR_UNKNOWN_PACKET);
        cr_assert_eq(off, refused[i]);
    }
    uint8_t short_ping[] = {12, 0, 241, 0, 0, 1, 2, 3, 4, 5, 6, 7}; /* 7-byte body */
    cr_assert_eq(wire_send(fd, short_ping, sizeof(short_ping)), 0);
    cr_assert_eq(wire_expect_error(fd, &off, T), PROTO_ERR_BAD_BODY);
    echo_once(fd, (const uint8_t *)"still open", 10);
    close(fd);
    stop(&s);
}

/* length < 5 and length > max_packet: ERROR_NTF 4, then the server closes. */
static void framing_errors_close(const char *backend)
{
    server_proc_t s;
    start(&s, backend);
    uint8_t too_short[] = {4, 0, 1, 0, 0};
    uint8_t too_long[] = {0x01, 0x10, 1, 0, 0}; /* 4097 > 4096 */
    uint8_t *cases[] = {too_short, too_long};
    for (int i = 0; i < 2; i++) {
        int fd = tcp_connect(s.port);
        cr_assert_eq(wire_send(fd, cases[i], 5), 0);
        cr_assert_eq(wire_expect_error(fd, NULL, T), PROTO_ERR_BAD_LENGTH);
        cr_assert(wire_wait_closed(fd, T), "server kept the connection open");
        close(fd);
    }
    stop(&s);
}

/* 300 connections open at once, 20 echoes each, interleaved. */
static void many_connections(const char *backend)
{
    enum { N = 300, ROUNDS = 20 };
    server_proc_t s;
    start(&s, backend);
    int *fds = calloc(N, sizeof(int));
    for (int i = 0; i < N; i++) {
        fds[i] = tcp_connect(s.port);
        cr_assert_geq(fds[i], 0, "connect %d", i);
    }
    for (int r = 0; r < ROUNDS; r++) {
        uint8_t pkt[64];
        for (int i = 0; i < N; i++) {
            uint32_t tag[2] = {(uint32_t)i, (uint32_t)r};
            size_t n = proto_encode_dev_echo(pkt, sizeof(pkt), tag, sizeof(tag));
            cr_assert_eq(wire_send(fds[i], pkt, n), 0);
        }
        for (int i = 0; i < N; i++) {
            uint8_t back[64];
            proto_header_t h;
            uint32_t tag[2];
            cr_assert_eq(wire_recv(fds[i], back, sizeof(back), &h, T), 13);
            memcpy(tag, back + 5, 8);
            cr_assert(tag[0] == (uint32_t)i && tag[1] == (uint32_t)r, "conn %d round %d", i, r);
        }
    }
    for (int i = 0; i < N; i++)
        close(fds[i]);
    free(fds);
    stop(&s);
}

static long proc_count_fds(pid_t pid)
{
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "ls /proc/%d/fd | wc -l", (int)pid);
    FILE *p = popen(cmd, "r");
    long n = -1;
    if (p != NULL && fscanf(p, "%ld", &n) != 1)
        n = -1;
    if (p != NULL)
        pclose(p);
    return n;
}

/* Each cycle: connect, one echo, close. After a warm-up, 5,000 more cycles
 * must leave the server's fd count unchanged and its RSS within 2 MiB. */
static void connect_close_cycles_do_not_grow(const char *backend)
{
    server_proc_t s;
    start(&s, backend);
    long fds_before = 0, rss_before = 0;
    for (int i = 0; i < 6000; i++) {
        if (i == 1000) {
            usleep(200 * 1000); /* let the last closes finish */
            fds_before = proc_count_fds(s.pid);
            rss_before = proc_rss_kb(s.pid);
        }
        int fd = tcp_connect(s.port);
        cr_assert_geq(fd, 0, "cycle %d", i);
        echo_once(fd, (const uint8_t *)"x", 1);
        close(fd);
    }
    usleep(300 * 1000);
    long fds_after = proc_count_fds(s.pid), rss_after = proc_rss_kb(s.pid);
    cr_log_info("%s: fds %ld -> %ld, VmRSS %ld -> %ld kB", backend, fds_before, fds_after,
                rss_before, rss_after);
    cr_assert_eq(fds_after, fds_before, "fd leak: %ld -> %ld", fds_before, fds_after);
    /* Under ASan freed memory sits in quarantine, so RSS grows by design;
     * there LeakSanitizer checks the server instead, at its exit (a leak
     * makes the exit status non-zero and stop() fails). */
    if (!itest_server_sanitized())
        cr_assert_lt(rss_after - rss_before, 2048, "RSS grew %ld kB", rss_after - rss_before);
    stop(&s);
}

BOTH_BACKENDS(echo, dev_echo_round_trips)
BOTH_BACKENDS(echo, split_and_batched_packets)
BOTH_BACKENDS(echo, ping_and_error_rules)
BOTH_BACKENDS(echo, framing_errors_close)
BOTH_BACKENDS(echo, many_connections)
BOTH_BACKENDS(echo, connect_close_cycles_do_not_grow)
