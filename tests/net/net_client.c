/* net_client.c: loopback clients for tests/net: connect helpers, a
 * deterministic packet stream, and an epoll-driven echo driver that writes each
 * client's stream and verifies every byte that comes back (see net_harness.h).
 * Used only by tests. Every loop here is bounded by a count or a deadline. */
#include "net_harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define H_IO_CHUNK (64 * 1024)

uint64_t h_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t h_now_ms(void)
{
    return h_now_us() / 1000u;
}

void h_sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int h_connect_opt(uint16_t port, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
    if (rcvbuf > 0)
        cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    if (rc < 0 && errno == EINTR) {
        /* Interrupted (Criterion stops and continues its test processes):
         * the connection goes on in the background; wait for its outcome. */
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int err = 0;
        socklen_t len = sizeof(err);
        if (poll(&pfd, 1, 5000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0)
            rc = err ? -1 : 0;
        errno = err;
    }
    cr_assert_eq(rc, 0, "connect: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int h_connect(uint16_t port)
{
    return h_connect_opt(port, 0);
}

int h_connect_rcvbuf(uint16_t port, int rcvbuf)
{
    return h_connect_opt(port, rcvbuf);
}

void h_set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    cr_assert_eq(fcntl(fd, F_SETFL, fl | O_NONBLOCK), 0);
}

ssize_t h_recv(int fd, void *buf, size_t len)
{
    for (int i = 0; i < 100; i++) { /* bounded: EINTR only comes from signals */
        ssize_t r = recv(fd, buf, len, 0);
        if (r >= 0 || errno != EINTR)
            return r;
    }
    return -1;
}

ssize_t h_send(int fd, const void *buf, size_t len)
{
    for (int i = 0; i < 100; i++) {
        ssize_t r = send(fd, buf, len, MSG_NOSIGNAL);
        if (r >= 0 || errno != EINTR)
            return r;
    }
    return -1;
}

void h_close_rst(int fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

/* ---------------------------------------------------------------- stream */

static uint64_t h_rand(uint64_t *s)
{
    /* xorshift64*: fast, deterministic, good enough to catch misordering. */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

void h_gen_init(h_gen_t *g, uint64_t seed, uint32_t max_payload)
{
    g->rng = seed * 0x9E3779B97F4A7C15ull + 1;
    g->pkt_len = 0;
    g->pos = 0;
    g->max_payload = max_payload ? max_payload : 300;
}

void h_gen_fill(h_gen_t *g, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (g->pos == g->pkt_len) { /* start a packet: 2..max_payload+2 bytes */
            g->pkt_len = 2 + 1 + (uint32_t)(h_rand(&g->rng) % g->max_payload);
            g->pos = 0;
        }
        if (g->pos == 0)
            out[i] = (uint8_t)(g->pkt_len & 0xff);
        else if (g->pos == 1)
            out[i] = (uint8_t)(g->pkt_len >> 8);
        else
            out[i] = (uint8_t)h_rand(&g->rng);
        g->pos++;
    }
}

uint64_t h_gen_packets_size(uint64_t seed, uint32_t max_payload, unsigned packets)
{
    h_gen_t g;
    h_gen_init(&g, seed, max_payload);
    uint64_t bytes = 0;
    uint8_t b;
    for (unsigned k = 0; k < packets; k++) {
        h_gen_fill(&g, &b, 1); /* first byte: the packet's length is now known */
        uint32_t len = g.pkt_len;
        for (uint32_t i = 1; i < len; i++)
            h_gen_fill(&g, &b, 1);
        bytes += len;
    }
    return bytes;
}

void h_client_init(h_client_t *c, int fd, uint64_t seed, uint64_t total, uint32_t max_payload)
{
    memset(c, 0, sizeof(*c));
    c->fd = fd;
    h_gen_init(&c->tx, seed, max_payload);
    h_gen_init(&c->rx, seed, max_payload);
    c->total = total;
}

/* ---------------------------------------------------------------- driver */

static bool h_client_done(const h_client_t *c)
{
    return c->bad || c->recvd == c->total;
}

static bool h_client_wants_write(const h_client_t *c)
{
    if (c->bad || c->sent == c->total)
        return false;
    return c->window == 0 || c->sent - c->recvd < c->window;
}

static void h_client_write(h_client_t *c, uint8_t *tmp)
{
    uint64_t n = c->total - c->sent;
    size_t chunk = c->chunk ? c->chunk : H_IO_CHUNK;
    if (n > chunk)
        n = chunk;
    if (c->window && n > c->window - (c->sent - c->recvd))
        n = c->window - (c->sent - c->recvd);
    /* Generate into tmp, write, and rewind the generator by regenerating only
     * what was accepted: keep a copy of the generator state. */
    h_gen_t save = c->tx;
    h_gen_fill(&c->tx, tmp, (size_t)n);
    ssize_t w = send(c->fd, tmp, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
        c->tx = save;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            c->bad = true, c->bad_at = c->sent;
        return;
    }
    if ((uint64_t)w < n) { /* regenerate exactly what went out */
        c->tx = save;
        h_gen_fill(&c->tx, tmp, (size_t)w);
    }
    c->sent += (uint64_t)w;
}

static void h_client_read(h_client_t *c, uint8_t *tmp, uint8_t *want)
{
    size_t max = c->read_max ? c->read_max : H_IO_CHUNK;
    ssize_t r = recv(c->fd, tmp, max, MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        c->bad = true; /* the server closed or reset an echo connection */
        c->bad_at = c->recvd;
        return;
    }
    if (r < 0)
        return;
    if (c->recvd + (uint64_t)r > c->total) {
        c->bad = true;
        c->bad_at = c->total;
        return;
    }
    h_gen_fill(&c->rx, want, (size_t)r);
    for (ssize_t i = 0; i < r; i++)
        if (tmp[i] != want[i]) {
            c->bad = true;
            c->bad_at = c->recvd + (uint64_t)i;
            return;
        }
    c->recvd += (uint64_t)r;
    if (c->read_pause_us) {
        struct timespec ts = {0, (long)c->read_pause_us * 1000L};
        nanosleep(&ts, NULL);
    }
}

static void h_client_arm(int ep, h_client_t *c, int idx, int op)
{
    struct epoll_event ev = {.events = EPOLLIN | (h_client_wants_write(c) ? EPOLLOUT : 0),
                             .data.u32 = (uint32_t)idx};
    epoll_ctl(ep, op, c->fd, &ev);
}

int h_drive(h_client_t *cs, int n, int timeout_ms)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    cr_assert_geq(ep, 0);
    uint8_t *tmp = malloc(H_IO_CHUNK), *want = malloc(H_IO_CHUNK);
    cr_assert(tmp && want);
    int pending = 0;
    for (int i = 0; i < n; i++) {
        h_set_nonblock(cs[i].fd);
        h_client_arm(ep, &cs[i], i, EPOLL_CTL_ADD);
        pending += !h_client_done(&cs[i]);
    }
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    struct epoll_event evs[256];
    while (pending > 0 && h_now_ms() < deadline) {
        int k = epoll_wait(ep, evs, 256, 100);
        for (int j = 0; j < k; j++) {
            h_client_t *c = &cs[evs[j].data.u32];
            if (h_client_done(c))
                continue;
            bool wanted = h_client_wants_write(c);
            if (evs[j].events & EPOLLOUT)
                h_client_write(c, tmp);
            if (evs[j].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                h_client_read(c, tmp, want);
            if (h_client_done(c)) {
                pending--;
                epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
            } else if (wanted != h_client_wants_write(c)) {
                h_client_arm(ep, c, (int)evs[j].data.u32, EPOLL_CTL_MOD);
            }
        }
    }
    int intact = 0;
    for (int i = 0; i < n; i++)
        intact += !cs[i].bad && cs[i].recvd == cs[i].total;
    free(tmp);
    free(want);
    close(ep);
    return intact;
}

/* ------------------------------------------------------------- resources */

int h_fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    cr_assert_not_null(d);
    int n = 0;
    for (struct dirent *e = readdir(d); e; e = readdir(d))
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

long h_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    cr_assert_not_null(f);
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}
