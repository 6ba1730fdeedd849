/* net_harness.h: an in-process echo server on net and the loopback clients
 * that drive it, shared by the tests in tests/net.
 *
 * Who uses it: tests/net/test_*.c. What it must never do: hide a failure (every
 * wait is bounded and reports what it saw) or wait without a deadline.
 * The server: N worker threads, each owning one port (SO_REUSEPORT on one
 * ephemeral port) and calling net_port_run(port, -1) until stopped, so every
 * cross-thread send also exercises the wake-up. RAW mode echoes each received
 * chunk as one buffer; PACKET mode reassembles [u16 length][payload] packets and
 * echoes each whole packet as one buffer. */
#ifndef RINGCHAT_TESTS_NET_HARNESS_H
#define RINGCHAT_TESTS_NET_HARNESS_H

#include "net.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define H_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define H_SANITIZED 1
#endif
#endif
#ifndef H_SANITIZED
#define H_SANITIZED 0
#endif
#if defined(__SANITIZE_ADDRESS__)
#define H_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define H_ASAN 1
#endif
#endif
#ifndef H_ASAN
#define H_ASAN 0
#endif

/* Scale a count down under sanitizers (never in release). */
#define H_SCALE(n, div) (H_SANITIZED ? ((n) / (div) > 0 ? (n) / (div) : 1) : (n))

/* Run one test body for both backends. */
#define H_BOTH(suite, name, tmo)                                                                   \
    static void name##_body(net_backend_t be);                                                     \
    Test(suite, name##_uring, .timeout = tmo)                                                      \
    {                                                                                              \
        name##_body(NET_BACKEND_URING);                                                            \
    }                                                                                              \
    Test(suite, name##_epoll, .timeout = tmo)                                                      \
    {                                                                                              \
        name##_body(NET_BACKEND_EPOLL);                                                            \
    }                                                                                              \
    static void name##_body(net_backend_t be)

typedef enum { H_RAW, H_PACKET, H_SILENT } h_mode_t;

typedef struct h_opts {
    net_backend_t backend;
    int workers;                            /* default 2 */
    h_mode_t mode;                          /* echo style; H_SILENT does not echo */
    size_t outbox_limit;                    /* 0: net's default */
    uint32_t recv_buf_count, recv_buf_size; /* 0: net's defaults */
    uint32_t max_conns;                     /* 0: 8192 */
    net_buf_t *overflow_notice;
    bool eof_flush; /* take end of stream (on_eof) and close after the flush */
} h_opts_t;

typedef struct h_server h_server_t;

/* Start the server; skips the test (cr_skip_test) if io_uring is refused. */
h_server_t *h_start(const h_opts_t *o);
/* Stop the workers and destroy the ports; returns how many connections the
 * destroy closed (on_close with NET_CLOSE_SHUTDOWN). */
uint64_t h_stop(h_server_t *h);
uint16_t h_port(const h_server_t *h);
net_port_t *h_net_port(const h_server_t *h, int i);
int h_workers(const h_server_t *h);

uint64_t h_accepted(h_server_t *h);
uint64_t h_closed(h_server_t *h);
uint64_t h_closed_with(h_server_t *h, net_close_reason_t reason);
uint32_t h_open(h_server_t *h); /* connections not yet recycled, all ports */
uint64_t h_echo_failures(h_server_t *h);
void h_stats(h_server_t *h, net_stats_t *sum); /* summed over ports */
/* The i-th accepted connection, waiting up to timeout_ms; NET_CONN_NULL if not. */
net_conn_t h_conn(h_server_t *h, size_t i, int timeout_ms);

/* Wait (bounded) until cond is true; the caller then asserts cond. */
#define H_WAIT(cond, timeout_ms)                                                                   \
    do {                                                                                           \
        uint64_t h_deadline_ = h_now_ms() + (uint64_t)(timeout_ms);                                \
        while (!(cond) && h_now_ms() < h_deadline_)                                                \
            h_sleep_ms(1);                                                                         \
    } while (0)

uint64_t h_now_ms(void);
uint64_t h_now_us(void);
void h_sleep_ms(unsigned ms);

/* --- clients ---------------------------------------------------------- */

int h_connect(uint16_t port);                    /* blocking connect, TCP_NODELAY */
int h_connect_rcvbuf(uint16_t port, int rcvbuf); /* SO_RCVBUF set before connect */
void h_set_nonblock(int fd);
void h_close_rst(int fd); /* SO_LINGER 0: the peer sees a reset */
/* Blocking recv / send that retry on EINTR (Criterion stops and continues its
 * test processes, which interrupts calls that have a socket timeout). */
ssize_t h_recv(int fd, void *buf, size_t len);
ssize_t h_send(int fd, const void *buf, size_t len);

/* A deterministic stream of packets [u16 len][payload]; two generators with
 * the same seed produce the same bytes (one writes, one verifies). */
typedef struct h_gen {
    uint64_t rng;
    uint32_t pkt_len, pos;
    uint32_t max_payload;
} h_gen_t;
void h_gen_init(h_gen_t *g, uint64_t seed, uint32_t max_payload);
void h_gen_fill(h_gen_t *g, uint8_t *out, size_t n);
/* Bytes taken by the first `packets` packets of the stream of `seed`. */
uint64_t h_gen_packets_size(uint64_t seed, uint32_t max_payload, unsigned packets);

/* One echo client: sends `total` bytes of its stream, expects them back. */
typedef struct h_client {
    int fd;
    h_gen_t tx, rx;
    uint64_t total, sent, recvd;
    uint64_t window;        /* max bytes sent and not yet echoed; 0 = unlimited */
    size_t chunk;           /* max bytes per write(); 0 = 64 KiB */
    size_t read_max;        /* max bytes per read(); 0 = 64 KiB */
    unsigned read_pause_us; /* sleep after each read (a slow reader) */
    bool bad;               /* a byte differed or the stream broke */
    uint64_t bad_at;
} h_client_t;

/* Connect-independent setup (fd must already be connected). */
void h_client_init(h_client_t *c, int fd, uint64_t seed, uint64_t total, uint32_t max_payload);
/* Drive all clients until every one got its bytes back, one broke, or the
 * deadline passed. Returns the number of clients that completed intact. */
int h_drive(h_client_t *cs, int n, int timeout_ms);

/* Process resources, for leak checks. */
int h_fd_count(void);
long h_rss_kib(void);

#endif /* RINGCHAT_TESTS_NET_HARNESS_H */
