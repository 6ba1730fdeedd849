/* hostile_clients.c: see hostile_clients.h. One thread per concurrent
 * connection. Every socket operation is bounded: connect and write by
 * SO_SNDTIMEO, reads by poll deadlines (wire.h) or MSG_DONTWAIT drains.
 * Whatever the server sends to a hostile connection is read and thrown
 * away, so that none of them becomes a slow consumer by accident. */
#include "hostile_clients.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "wire.h"

#define HOSTILE_MAX_THREADS 64
#define WAIT_MS             5000 /* one expected answer or close: generous for ASan */
#define POOL_IDS            24   /* user ids h00..h23: bounds what memory auth registers */
#define CONN_MS             2000 /* room traffic of one connection stops after this */
#define RECV_CAP            8192 /* larger than any packet the server sends */

typedef struct worker {
    const hostile_config_t *cfg;
    uint64_t rng;
    long deadline_ms;
    hostile_stats_t st;
    pthread_t thread;
} worker_t;

struct hostile {
    hostile_config_t cfg;
    int n;
    worker_t w[HOSTILE_MAX_THREADS];
};

static const char *const kind_names[HK_COUNT] = {"random-bytes", "random-packets", "truncated",
                                                 "bad-length",   "connect-close",  "connect-rst",
                                                 "half-close",   "login",          "pipelined"};

static const uint16_t request_ids[] = {1, 201, 206, 215, 221, 241};
static const uint16_t other_ids[] = {11,  12,  30,  199, 202, 207, 208,
                                     209, 216, 217, 222, 223, 242, 243};

const char *hostile_kind_name(int kind)
{
    return kind >= 0 && kind < HK_COUNT ? kind_names[kind] : "?";
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* ---- randomness ---------------------------------------------------------- */

/* splitmix64: small, fast, and enough for choosing misbehaviour. */
static uint64_t rnd(worker_t *w)
{
    uint64_t z = (w->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint32_t below(worker_t *w, uint32_t n)
{
    return n == 0 ? 0 : (uint32_t)(rnd(w) % n);
}

static void fill(worker_t *w, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rnd(w);
}

static void pause_ms(worker_t *w, uint32_t max_ms)
{
    usleep(below(w, max_ms * 1000 + 1));
}

/* ---- sockets ------------------------------------------------------------- */

/* A connection with a 2 s bound on connect and on every write, or -1. */
static int open_conn(worker_t *w)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = 2};
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons(w->cfg->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 &&
        connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    w->st.connect_failed++;
    usleep(10000);
    return -1;
}

/* Writes all n bytes; MSG_NOSIGNAL: a server that closed first is EPIPE,
 * not a SIGPIPE that kills the test. */
static bool put(worker_t *w, int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    if (n == 0)
        return false;
    while (n > 0) {
        ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        w->st.bytes_sent += (unsigned long)k;
        b += k;
        n -= (size_t)k;
    }
    return true;
}

/* Reads and discards what has arrived, without waiting. */
static void drain(int fd)
{
    uint8_t sink[4096];
    for (int i = 0; i < 64; i++) {
        if (recv(fd, sink, sizeof(sink), MSG_DONTWAIT) <= 0)
            return;
    }
}

/* Closes with SO_LINGER 0: the kernel sends RST instead of FIN. */
static void rst_close(int fd)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd);
}

/* Reads packets until one with `id`; returns its u16 result or -1. */
static int read_result(int fd, uint16_t id)
{
    static _Thread_local uint8_t buf[RECV_CAP];
    long deadline = now_ms() + WAIT_MS;
    for (int i = 0; i < 10000; i++) {
        long left = deadline - now_ms();
        proto_header_t h;
        uint16_t r;
        if (left <= 0 || wire_recv(fd, buf, sizeof(buf), &h, (int)left) < 0)
            return -1;
        if (h.id == id)
            return proto_decode_result(buf + 5, h.length - 5u, &r) == 0 ? r : -1;
    }
    return -1;
}

/* ---- packets ------------------------------------------------------------- */

static uint16_t random_id(worker_t *w)
{
    uint32_t r = below(w, 10);
    if (r < 4)
        return request_ids[below(w, sizeof(request_ids) / sizeof(request_ids[0]))];
    if (r < 6)
        return other_ids[below(w, sizeof(other_ids) / sizeof(other_ids[0]))];
    return (uint16_t)rnd(w);
}

/* One packet with a legal length (5..max_packet) and a random id, type and
 * body; returns its size. cap must be at least max_packet. */
static size_t random_packet(worker_t *w, uint8_t *buf, size_t cap)
{
    size_t max_body = (size_t)w->cfg->max_packet < cap ? (size_t)w->cfg->max_packet : cap;
    max_body -= PROTO_HEADER_SIZE;
    size_t body = below(w, 8) == 0 ? below(w, (uint32_t)max_body + 1) : below(w, 300);
    uint16_t id = random_id(w);
    if (id == PROTO_LOGIN_REQ && below(w, 2) == 0)
        body = PROTO_LOGIN_REQ_BODY;
    proto_header_encode(buf, (uint16_t)(PROTO_HEADER_SIZE + body), id);
    if (below(w, 8) == 0)
        buf[4] = (uint8_t)(rnd(w) | 1); /* type != 0 */
    fill(w, buf + PROTO_HEADER_SIZE, body);
    return PROTO_HEADER_SIZE + body;
}

/* A chat request: printable ASCII in the 257-byte field, or random bytes of
 * a random body size 0..300 (empty, invalid UTF-8 and oversized bodies). */
static size_t random_chat(worker_t *w, uint8_t *buf, size_t cap)
{
    if (below(w, 4) != 0) {
        char text[PROTO_MSG_FIELD];
        size_t len = 1 + below(w, 250);
        for (size_t i = 0; i < len; i++)
            text[i] = (char)(' ' + below(w, 95));
        return proto_encode_room_chat_req(buf, cap, text, len);
    }
    size_t body = below(w, 301);
    proto_header_encode(buf, (uint16_t)(PROTO_HEADER_SIZE + body), PROTO_ROOM_CHAT_REQ);
    fill(w, buf + PROTO_HEADER_SIZE, body);
    return PROTO_HEADER_SIZE + body;
}

static int32_t random_room(worker_t *w)
{
    static const int32_t invalid[] = {-1, 1000000, INT32_MAX, INT32_MIN};
    uint32_t r = below(w, 10);
    if (r < 5)
        return w->cfg->room;
    if (r < 8)
        return 100 + (int32_t)below(w, 4);
    return invalid[below(w, 4)];
}

/* ---- the kinds of misbehaviour ------------------------------------------- */

static void run_random_bytes(worker_t *w, int fd)
{
    uint8_t buf[512];
    int chunks = 1 + (int)below(w, 4);
    for (int i = 0; i < chunks; i++) {
        size_t n = 1 + below(w, sizeof(buf));
        fill(w, buf, n);
        if (!put(w, fd, buf, n))
            return;
        pause_ms(w, 3);
        drain(fd);
    }
}

static void run_random_packets(worker_t *w, int fd)
{
    uint8_t buf[PROTO_MAX_PACKET_DEFAULT];
    int n = 1 + (int)below(w, 20);
    for (int i = 0; i < n; i++) {
        if (!put(w, fd, buf, random_packet(w, buf, sizeof(buf))))
            return;
        if (below(w, 4) == 0)
            pause_ms(w, 2);
        drain(fd);
    }
}

/* A header announcing 6..max_packet bytes, followed by fewer than that. */
static void run_truncated(worker_t *w, int fd)
{
    uint8_t buf[PROTO_MAX_PACKET_DEFAULT];
    uint32_t max = (uint32_t)w->cfg->max_packet < sizeof(buf) ? (uint32_t)w->cfg->max_packet
                                                              : (uint32_t)sizeof(buf);
    uint16_t len = (uint16_t)(PROTO_HEADER_SIZE + 1 + below(w, max - PROTO_HEADER_SIZE));
    proto_header_encode(buf, len, random_id(w));
    fill(w, buf + PROTO_HEADER_SIZE, len - PROTO_HEADER_SIZE);
    (void)put(w, fd, buf, 1 + below(w, len - 1u));
    pause_ms(w, 2);
}

/* Echo, ping and junk packets back to back, written at once: the server
 * receives full buffers (and sends the echoes back, which are drained). */
static void run_pipelined(worker_t *w, int fd)
{
    static _Thread_local uint8_t buf[64 * 1024];
    size_t want = 8192 + below(w, sizeof(buf) - 8192 - PROTO_MAX_PACKET_DEFAULT), len = 0;
    while (len < want) {
        uint8_t *p = buf + len;
        size_t cap = sizeof(buf) - len, body = below(w, PROTO_MAX_PACKET_DEFAULT - 4);
        switch (below(w, 4)) {
        case 0:
            len += proto_encode_ping_req(p, cap, rnd(w));
            break;
        case 1:
            len += random_packet(w, p, cap);
            break;
        default:
            proto_header_encode(p, (uint16_t)(PROTO_HEADER_SIZE + body), PROTO_DEV_ECHO);
            fill(w, p + PROTO_HEADER_SIZE, body);
            len += PROTO_HEADER_SIZE + body;
        }
    }
    for (size_t off = 0; off < len; off += 16384) { /* drain between chunks: no deadlock */
        if (!put(w, fd, buf + off, len - off < 16384 ? len - off : 16384))
            return;
        drain(fd);
    }
    pause_ms(w, 5);
    drain(fd);
}

/* length < 5 or > max_packet: ERROR_NTF 4, then the server closes. */
static void run_bad_length(worker_t *w, int fd)
{
    uint8_t pkt[PROTO_HEADER_SIZE];
    uint32_t max = (uint32_t)w->cfg->max_packet;
    uint32_t len = below(w, 2) == 0 || max >= PROTO_MAX_PACKET_LIMIT
                       ? below(w, PROTO_HEADER_SIZE)
                       : max + 1 + below(w, PROTO_MAX_PACKET_LIMIT - max);
    proto_header_encode(pkt, (uint16_t)len, random_id(w));
    if (put(w, fd, pkt, sizeof(pkt)) &&
        wire_expect_error(fd, NULL, WAIT_MS) == PROTO_ERR_BAD_LENGTH &&
        wire_wait_closed(fd, WAIT_MS))
        w->st.framing_closed++;
    else
        w->st.framing_wrong++;
}

/* Part of a header, or a header and part of its body; then no more output. */
static void run_half_close(worker_t *w, int fd)
{
    uint8_t buf[64];
    size_t n;
    if (below(w, 2) == 0) {
        n = 1 + below(w, PROTO_HEADER_SIZE - 1);
        fill(w, buf, n);
    } else {
        uint16_t len = (uint16_t)(PROTO_HEADER_SIZE + 2 + below(w, 50));
        proto_header_encode(buf, len, random_id(w));
        n = PROTO_HEADER_SIZE + 1 + below(w, len - PROTO_HEADER_SIZE - 1u);
        fill(w, buf + PROTO_HEADER_SIZE, n - PROTO_HEADER_SIZE);
    }
    if (put(w, fd, buf, n) && shutdown(fd, SHUT_WR) == 0 && wire_wait_closed(fd, WAIT_MS))
        w->st.half_closed++;
    else
        w->st.half_open++;
}

/* One LOGIN_REQ: a pooled id (right or wrong password), random bytes in
 * both fields, or a body of the wrong size. The LOGIN_RES code, or -1. */
static int login_once(worker_t *w, int fd)
{
    uint8_t pkt[PROTO_HEADER_SIZE + 80];
    size_t n;
    uint32_t r = below(w, 10);
    if (r < 7) {
        char id[16];
        snprintf(id, sizeof(id), "h%02u", below(w, POOL_IDS));
        n = proto_encode_login_req(pkt, sizeof(pkt), id, below(w, 5) != 0 ? "pw" : "bad");
    } else {
        size_t body = r < 9 ? PROTO_LOGIN_REQ_BODY : below(w, 75);
        proto_header_encode(pkt, (uint16_t)(PROTO_HEADER_SIZE + body), PROTO_LOGIN_REQ);
        fill(w, pkt + PROTO_HEADER_SIZE, body);
        n = PROTO_HEADER_SIZE + body;
    }
    return put(w, fd, pkt, n) ? read_result(fd, PROTO_LOGIN_RES) : -1;
}

/* Enters a random room and waits for the answer (the session holds later
 * input until then anyway). false if the connection broke. */
static bool enter_room(worker_t *w, int fd, uint8_t *buf, size_t cap)
{
    int32_t room = random_room(w);
    if (!put(w, fd, buf, proto_encode_room_enter_req(buf, cap, room)))
        return false;
    int r = read_result(fd, PROTO_ROOM_ENTER_RES);
    if (r == PROTO_OK && room == w->cfg->room)
        w->st.entered_room++;
    return r >= 0;
}

/* After a login: a random mix of enter, leave, chat, ping and junk. */
static void room_traffic(worker_t *w, int fd)
{
    uint8_t buf[PROTO_MAX_PACKET_DEFAULT];
    long stop = now_ms() + CONN_MS;
    int ops = 1 + (int)below(w, 40);
    for (int i = 0; i < ops && now_ms() < stop; i++) {
        bool ok = true;
        switch (below(w, 8)) {
        case 0:
        case 1:
            ok = enter_room(w, fd, buf, sizeof(buf));
            break;
        case 2:
            ok = put(w, fd, buf, proto_encode_room_leave_req(buf, sizeof(buf)));
            break;
        case 3:
        case 4:
        case 5:
            ok = put(w, fd, buf, random_chat(w, buf, sizeof(buf)));
            w->st.chats++;
            break;
        case 6:
            ok = put(w, fd, buf, proto_encode_ping_req(buf, sizeof(buf), rnd(w)));
            break;
        default:
            ok = put(w, fd, buf, random_packet(w, buf, sizeof(buf)));
        }
        if (!ok)
            return;
        pause_ms(w, 3);
        drain(fd);
    }
}

/* At most 3 logins per connection: the server may close a connection after
 * 5 failures (--login-attempts), and this test is not about that limit. */
static void run_login(worker_t *w, int fd)
{
    int attempts = 1 + (int)below(w, 3);
    for (int i = 0; i < attempts; i++) {
        int r = login_once(w, fd);
        if (r < 0)
            return;
        if (r == PROTO_OK) {
            w->st.logins_ok++;
            room_traffic(w, fd);
            return;
        }
        w->st.logins_refused++;
    }
}

static void run_kind(worker_t *w, int kind, int fd)
{
    uint8_t buf[PROTO_MAX_PACKET_DEFAULT];
    switch (kind) {
    case HK_RANDOM_BYTES:
        run_random_bytes(w, fd);
        break;
    case HK_RANDOM_PACKETS:
        run_random_packets(w, fd);
        break;
    case HK_TRUNCATED:
        run_truncated(w, fd);
        break;
    case HK_BAD_LENGTH:
        run_bad_length(w, fd);
        break;
    case HK_CONNECT_RST:
        if (below(w, 2) == 0)
            (void)put(w, fd, buf, random_packet(w, buf, sizeof(buf)));
        rst_close(fd);
        return;
    case HK_HALF_CLOSE:
        run_half_close(w, fd);
        break;
    case HK_LOGIN:
        run_login(w, fd);
        break;
    case HK_PIPELINED:
        run_pipelined(w, fd);
        break;
    default: /* HK_CONNECT_CLOSE */
        break;
    }
    if (kind != HK_CONNECT_CLOSE && below(w, 3) == 0)
        rst_close(fd);
    else
        close(fd);
}

static void *worker_main(void *p)
{
    worker_t *w = p;
    for (long i = 0; i < 1000000 && now_ms() < w->deadline_ms; i++) {
        int kind = (int)below(w, HK_COUNT);
        int fd = open_conn(w);
        if (fd < 0)
            continue;
        w->st.runs[kind]++;
        run_kind(w, kind, fd);
        pause_ms(w, 60); /* about 1000 connections a second from 50 threads */
    }
    return NULL;
}

/* ---- start and join ------------------------------------------------------ */

hostile_t *hostile_start(const hostile_config_t *cfg)
{
    if (cfg->threads < 1 || cfg->threads > HOSTILE_MAX_THREADS || cfg->max_packet < 16)
        return NULL;
    hostile_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->cfg = *cfg;
    long deadline = now_ms() + cfg->duration_ms;
    for (h->n = 0; h->n < cfg->threads; h->n++) {
        worker_t *w = &h->w[h->n];
        w->cfg = &h->cfg;
        w->rng = cfg->seed ^ (0xD1B54A32D192ED03ull * (uint64_t)(h->n + 1));
        w->deadline_ms = deadline;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
            break;
    }
    if (h->n < cfg->threads) {
        hostile_join(h, NULL); /* the started ones stop at the deadline */
        return NULL;
    }
    return h;
}

void hostile_join(hostile_t *h, hostile_stats_t *out)
{
    hostile_stats_t sum = {0};
    for (int i = 0; i < h->n; i++) {
        pthread_join(h->w[i].thread, NULL);
        const hostile_stats_t *s = &h->w[i].st;
        for (int k = 0; k < HK_COUNT; k++)
            sum.runs[k] += s->runs[k];
        sum.connect_failed += s->connect_failed;
        sum.bytes_sent += s->bytes_sent;
        sum.framing_closed += s->framing_closed;
        sum.framing_wrong += s->framing_wrong;
        sum.half_closed += s->half_closed;
        sum.half_open += s->half_open;
        sum.logins_ok += s->logins_ok;
        sum.logins_refused += s->logins_refused;
        sum.entered_room += s->entered_room;
        sum.chats += s->chats;
    }
    if (out != NULL)
        *out = sum;
    free(h);
}
