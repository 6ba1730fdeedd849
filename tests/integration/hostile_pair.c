/* hostile_pair.c: see hostile_pair.h. Each member thread interleaves its
 * paced sends with poll(2)-bounded reads on one blocking socket; after the
 * stop it reads until it has everything it is owed or 20 s have passed. */
#include "hostile_pair.h"

#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"
#include "server_proc.h"
#include "wire.h"

#define WAIT_MS 5000   /* a packet that has started to arrive must finish within this */
#define TAIL_MS 20000L /* after the stop: time to receive what is owed */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void fail(pair_member_t *m, const char *fmt, ...)
{
    if (m->error[0] != '\0')
        return;
    int n = snprintf(m->error, sizeof(m->error), "%s: ", m->id);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->error + n, sizeof(m->error) - (size_t)n, fmt, ap);
    va_end(ap);
}

/* "SEQ SEND_NS": the sequence number and the send time of the message. */
static void send_chat(pair_member_t *m)
{
    uint8_t pkt[PROTO_HEADER_SIZE + PROTO_MSG_FIELD];
    char text[64];
    int len = snprintf(text, sizeof(text), "%d %" PRId64, m->sent, now_ns());
    size_t n = proto_encode_room_chat_req(pkt, sizeof(pkt), text, (size_t)len);
    if (n == 0 || wire_send(m->fd, pkt, n) != 0)
        fail(m, "cannot send chat %d", m->sent);
    else
        m->sent++;
}

static void on_notify(pair_member_t *m, const uint8_t *body, size_t len)
{
    proto_chat_notify_t n;
    int seq;
    int64_t sent_ns;
    if (proto_decode_room_chat_notify(body, len, &n) != 0) {
        fail(m, "malformed ROOM_CHAT_NOTIFY");
        return;
    }
    const char *peer = m->pair->m[1 - m->index].id;
    bool own = strcmp(n.user_id, m->id) == 0;
    if (!own && strcmp(n.user_id, peer) != 0) {
        m->others++; /* a hostile user's chat */
        return;
    }
    if (sscanf(n.text, "%d %" SCNd64, &seq, &sent_ns) != 2) {
        fail(m, "unexpected text from %s: %.40s", n.user_id, n.text);
        return;
    }
    int *seen = own ? &m->own_seen : &m->peer_seen;
    if (seq != *seen) {
        fail(m, "%s's message %d arrived when %d was due (lost, repeated or reordered)", n.user_id,
             seq, *seen);
        return;
    }
    if (own && m->results_ok <= seq)
        fail(m, "own notify %d before its ROOM_CHAT_RES", seq);
    if (!own && m->nlat < m->pair->max_msgs)
        m->lat_ms[m->nlat++] = (double)(now_ns() - sent_ns) / 1e6;
    (*seen)++;
}

/* Reads and checks one packet (poll said the socket is readable). */
static void read_one(pair_member_t *m)
{
    uint8_t buf[PROTO_USER_LIST_PACKET_MAX];
    proto_header_t h;
    uint16_t r;
    if (wire_recv(m->fd, buf, sizeof(buf), &h, WAIT_MS) < 0) {
        fail(m, "the stream ended (sent %d, own %d, peer %d)", m->sent, m->own_seen, m->peer_seen);
        return;
    }
    const uint8_t *body = buf + PROTO_HEADER_SIZE;
    size_t len = h.length - (size_t)PROTO_HEADER_SIZE;
    switch (h.id) {
    case PROTO_ROOM_CHAT_RES:
        if (proto_decode_result(body, len, &r) != 0 || r != PROTO_OK)
            fail(m, "chat %d answered %u", m->results_ok, (unsigned)r);
        else
            m->results_ok++;
        break;
    case PROTO_ROOM_CHAT_NOTIFY:
        on_notify(m, body, len);
        break;
    case PROTO_ROOM_NEW_USER_NTF:
    case PROTO_ROOM_USER_LIST_NTF:
    case PROTO_ROOM_LEAVE_USER_NTF:
        break; /* hostile users come and go */
    default:
        fail(m, "unexpected packet %u (%s)", (unsigned)h.id, proto_packet_name(h.id));
    }
}

static bool owed_nothing(const pair_member_t *m)
{
    int peer_total = atomic_load(&m->pair->final_sent[1 - m->index]);
    return m->results_ok == m->sent && m->own_seen == m->sent && peer_total >= 0 &&
           m->peer_seen == peer_total;
}

static void *member_main(void *arg)
{
    pair_member_t *m = arg;
    pair_t *p = m->pair;
    const int64_t period = (int64_t)p->period_us * 1000;
    int64_t next = now_ns(), tail_end = 0;
    bool sending = true;
    while (m->error[0] == '\0') {
        int64_t now = now_ns();
        if (sending && (atomic_load(&p->stop) || m->sent >= p->max_msgs)) {
            sending = false;
            atomic_store(&p->final_sent[m->index], m->sent);
            tail_end = now + TAIL_MS * 1000000;
        }
        if (!sending && owed_nothing(m))
            break;
        if (!sending && now > tail_end) {
            fail(m, "still owed after %ld ms: res %d own %d of %d, peer %d of %d", TAIL_MS,
                 m->results_ok, m->own_seen, m->sent, m->peer_seen,
                 atomic_load(&p->final_sent[1 - m->index]));
            break;
        }
        if (sending && now >= next) {
            send_chat(m);
            /* Steady pace; after a long stall (a loaded machine) do not burst. */
            next = now - next > 100 * period ? now + period : next + period;
            continue;
        }
        int wait_ms = sending ? (int)((next - now) / 1000000) : 100;
        struct pollfd pfd = {.fd = m->fd, .events = POLLIN};
        if (poll(&pfd, 1, wait_ms) > 0)
            read_one(m);
    }
    if (sending) /* stopped by an error: do not keep the peer waiting for a total */
        atomic_store(&p->final_sent[m->index], m->sent);
    return NULL;
}

static int login_enter(pair_member_t *m, uint16_t port, int32_t room)
{
    m->fd = wire_connect_login(port, m->id, "pw", WAIT_MS);
    if (m->fd < 0) {
        fail(m, "login failed");
        return -1;
    }
    int r = wire_enter(m->fd, room, WAIT_MS);
    if (r != PROTO_OK) {
        fail(m, "enter answered %d", r);
        return -1;
    }
    return 0;
}

int pair_start(pair_t *p, uint16_t port, int32_t room, int period_us, int max_msgs)
{
    memset(p, 0, sizeof(*p));
    p->period_us = period_us;
    p->max_msgs = max_msgs;
    atomic_init(&p->stop, 0);
    for (int i = 0; i < 2; i++) {
        pair_member_t *m = &p->m[i];
        m->pair = p;
        m->index = i;
        m->fd = -1;
        snprintf(m->id, sizeof(m->id), "good%d", i);
        atomic_init(&p->final_sent[i], -1);
    }
    /* good1's ROOM_ENTER_RES 0 means the room has it: chats sent after that
     * reach it, so neither member can miss the other's first message. */
    int rc = max_msgs > 0 && max_msgs <= PAIR_MAX_MSGS ? 0 : -1;
    if (rc != 0)
        fail(&p->m[0], "max_msgs %d outside 1..%d", max_msgs, PAIR_MAX_MSGS);
    for (int i = 0; i < 2 && rc == 0; i++)
        rc = login_enter(&p->m[i], port, room);
    for (int i = 0; i < 2 && rc == 0; i++) {
        if (pthread_create(&p->m[i].thread, NULL, member_main, &p->m[i]) != 0) {
            rc = -1;
            if (i == 1) { /* stop the first one */
                atomic_store(&p->stop, 1);
                atomic_store(&p->final_sent[1], 0);
                pthread_join(p->m[0].thread, NULL);
            }
        }
    }
    if (rc != 0) {
        if (p->m[0].error[0] == '\0')
            snprintf(p->m[0].error, sizeof(p->m[0].error), "%s", p->m[1].error);
        pair_close(p);
    }
    return rc;
}

void pair_stop(pair_t *p)
{
    atomic_store(&p->stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(p->m[i].thread, NULL);
}

void pair_close(pair_t *p)
{
    for (int i = 0; i < 2; i++) {
        if (p->m[i].fd >= 0)
            close(p->m[i].fd);
        p->m[i].fd = -1;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void pair_latency(const pair_t *p, double *p50, double *p99, double *max, int *n)
{
    int total = p->m[0].nlat + p->m[1].nlat;
    double *all = calloc((size_t)total + 1, sizeof(double));
    *p50 = *p99 = *max = 0;
    *n = 0;
    if (all == NULL || total == 0) {
        free(all);
        return;
    }
    memcpy(all, p->m[0].lat_ms, (size_t)p->m[0].nlat * sizeof(double));
    memcpy(all + p->m[0].nlat, p->m[1].lat_ms, (size_t)p->m[1].nlat * sizeof(double));
    qsort(all, (size_t)total, sizeof(double), cmp_double);
    *p50 = all[total / 2];
    *p99 = all[(size_t)total * 99 / 100];
    *max = all[total - 1];
    *n = total;
    free(all);
}
