/* faults_storm.c: the login storm (see faults_storm.h). One thread, one
 * poll() loop over at most STORM_MAX_CONNS blocking-mode sockets read only
 * when poll says so. Test code only; never calls cr_assert; every wait is
 * bounded by bound_ms per login and by the poll timeout per turn.
 *
 * A connection's life: connect -> (0 or 1 wrong-password LOGIN_REQ) -> good
 * LOGIN_REQ -> close -> think a little -> connect again. One LOGIN_REQ is
 * outstanding per connection at a time, so each LOGIN_RES is matched to its
 * request and timed. */
#include "faults_storm.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "faults_util.h"
#include "proto.h"
#include "server_proc.h"
#include "wire.h"

typedef struct slot {
    int fd;       /* -1 when not connected */
    long next_at; /* not connected: when to connect again */
    long sent_at; /* a LOGIN_REQ is outstanding since then (0: none) */
    int phase;    /* of the outstanding LOGIN_REQ */
    bool good;    /* the outstanding one has the right password */
    int wrong_left;
    int id; /* pool index of this connection's good login, or -1 */
    unsigned cycle;
    uint8_t in[64];
    size_t in_len;
} slot_t;

typedef struct storm_run {
    storm_t *st;
    slot_t slots[STORM_MAX_CONNS];
    long *freed_at; /* per pool id: last close, 0 never used */
    bool *busy;
    int cursor;
} storm_run_t;

static int code_class(int code)
{
    switch (code) {
    case PROTO_OK:
        return SC_OK;
    case PROTO_LOGIN_USER_INVALID_PW:
        return SC_DENIED;
    case PROTO_LOGIN_BACKEND_UNAVAILABLE:
        return SC_UNAVAIL;
    default:
        return SC_OTHER;
    }
}

/* A pool id nobody uses and nobody released recently, or -1. */
static int take_id(storm_run_t *r, long now)
{
    for (int k = 0; k < r->st->pool; k++) {
        int i = (r->cursor + k) % r->st->pool;
        if (!r->busy[i] && (r->freed_at[i] == 0 || now - r->freed_at[i] >= STORM_QUARANTINE_MS)) {
            r->busy[i] = true;
            r->cursor = i + 1;
            return i;
        }
    }
    return -1;
}

static void slot_close(storm_run_t *r, slot_t *s, long now)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->sent_at = 0;
    s->in_len = 0;
    if (s->id >= 0) {
        r->busy[s->id] = false;
        r->freed_at[s->id] = now;
        s->id = -1;
    }
    s->next_at = now + 40 + (long)(s->cycle % 5) * 10; /* think time */
}

/* Sends the next LOGIN_REQ of this connection: a wrong password while any
 * is left, then the good one. */
static void send_next(storm_run_t *r, slot_t *s, int index, long now)
{
    char id[16];
    uint8_t pkt[PROTO_HEADER_SIZE + PROTO_LOGIN_REQ_BODY];
    s->good = s->wrong_left == 0;
    if (s->good) {
        snprintf(id, sizeof(id), "s%d", s->id);
    } else {
        snprintf(id, sizeof(id), "w%d", index);
        s->wrong_left--;
    }
    size_t n = proto_encode_login_req(pkt, sizeof(pkt), id, s->good ? "pw" : "bad");
    s->phase = atomic_load(&r->st->phase);
    s->sent_at = now;
    r->st->c.sent[s->phase][s->good]++;
    if (wire_send(s->fd, pkt, n) != 0) {
        r->st->c.cut++;
        slot_close(r, s, now);
    }
}

static void slot_connect(storm_run_t *r, slot_t *s, int index, long now)
{
    s->id = take_id(r, now);
    if (s->id < 0) {
        s->next_at = now + 20; /* every id is cooling down: come back soon */
        return;
    }
    s->fd = tcp_connect(r->st->port);
    if (s->fd < 0) {
        r->st->c.connect_failed++;
        slot_close(r, s, now);
        return;
    }
    s->cycle++;
    s->wrong_left = (int)((s->cycle + (unsigned)index) % 2);
    send_next(r, s, index, now);
}

static void on_answer(storm_run_t *r, slot_t *s, int index, int code, long now)
{
    storm_counts_t *c = &r->st->c;
    int cls = code_class(code);
    long took = now - s->sent_at;
    int phase = atomic_load(&r->st->phase);
    c->codes[s->phase][s->good][cls]++;
    c->arrived[phase][cls]++;
    if (phase == s->phase)
        c->same[s->phase][s->good][cls]++;
    if (took > c->max_ms[cls])
        c->max_ms[cls] = took;
    if (cls == SC_OTHER)
        c->other_code = code;
    if (code == PROTO_OK)
        atomic_store(&r->st->last_ok_ms, now);
    s->sent_at = 0;
    if (!s->good && !atomic_load(&r->st->stop))
        send_next(r, s, index, now); /* another wrong one, or the good one */
    else
        slot_close(r, s, now);
}

/* Reads what poll reported and handles whole packets. */
static void slot_read(storm_run_t *r, slot_t *s, int index, long now)
{
    ssize_t n = read(s->fd, s->in + s->in_len, sizeof(s->in) - s->in_len);
    if (n < 0 && errno == EINTR)
        return;
    if (n <= 0) {
        if (s->sent_at != 0)
            r->st->c.cut++;
        slot_close(r, s, now);
        return;
    }
    s->in_len += (size_t)n;
    while (s->fd >= 0 && s->in_len >= PROTO_HEADER_SIZE) {
        proto_header_t h;
        proto_header_decode(s->in, &h);
        if (h.length > sizeof(s->in) || h.length < PROTO_HEADER_SIZE) {
            r->st->c.stray++;
            slot_close(r, s, now);
            return;
        }
        if (s->in_len < h.length)
            return;
        uint16_t code;
        bool ok = h.id == PROTO_LOGIN_RES && s->sent_at != 0 &&
                  proto_decode_result(s->in + PROTO_HEADER_SIZE, h.length - 5u, &code) == 0;
        memmove(s->in, s->in + h.length, s->in_len - h.length);
        s->in_len -= h.length;
        if (!ok) {
            r->st->c.stray++;
            slot_close(r, s, now);
            return;
        }
        on_answer(r, s, index, code, now);
    }
}

/* One loop turn: connect idle slots that are due, poll, read, time out. */
static int storm_turn(storm_run_t *r, bool stopping)
{
    storm_t *st = r->st;
    struct pollfd pfd[STORM_MAX_CONNS];
    int who[STORM_MAX_CONNS], n = 0, outstanding = 0;
    long now = fu_now_ms();
    for (int i = 0; i < st->conns; i++) {
        slot_t *s = &r->slots[i];
        if (s->fd < 0 && !stopping && now >= s->next_at)
            slot_connect(r, s, i, now);
        if (s->fd >= 0 && s->sent_at != 0 && now - s->sent_at > st->bound_ms) {
            st->c.hung++;
            slot_close(r, s, now);
        }
        if (s->fd >= 0) {
            pfd[n] = (struct pollfd){.fd = s->fd, .events = POLLIN};
            who[n++] = i;
            outstanding += s->sent_at != 0;
        }
    }
    if (poll(pfd, (nfds_t)n, 10) > 0) {
        now = fu_now_ms();
        for (int k = 0; k < n; k++) {
            if (pfd[k].revents != 0)
                slot_read(r, &r->slots[who[k]], who[k], now);
        }
    }
    return outstanding;
}

static void *storm_main(void *arg)
{
    storm_run_t *r = arg;
    storm_t *st = r->st;
    long stop_deadline = 0;
    for (;;) {
        bool stopping = atomic_load(&st->stop);
        if (stopping && stop_deadline == 0)
            stop_deadline = fu_now_ms() + st->bound_ms + 1000;
        int outstanding = storm_turn(r, stopping);
        if (stopping && (outstanding == 0 || fu_now_ms() > stop_deadline))
            break;
    }
    long now = fu_now_ms();
    for (int i = 0; i < st->conns; i++) {
        if (r->slots[i].fd >= 0 && r->slots[i].sent_at != 0)
            st->c.hung++;
        slot_close(r, &r->slots[i], now);
    }
    return NULL;
}

int storm_start(storm_t *st)
{
    if (st->conns < 1 || st->conns > STORM_MAX_CONNS || st->pool < st->conns)
        return -EINVAL;
    storm_run_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    r->st = st;
    r->freed_at = calloc((size_t)st->pool, sizeof(long));
    r->busy = calloc((size_t)st->pool, sizeof(bool));
    for (int i = 0; i < STORM_MAX_CONNS; i++)
        r->slots[i] = (slot_t){.fd = -1, .id = -1};
    memset(&st->c, 0, sizeof(st->c));
    atomic_store(&st->stop, false);
    atomic_store(&st->last_ok_ms, 0);
    int rc = r->freed_at && r->busy ? pthread_create(&st->thread, NULL, storm_main, r) : ENOMEM;
    if (rc != 0) {
        free(r->freed_at);
        free(r->busy);
        free(r);
        return -rc;
    }
    st->run = r;
    return 0;
}

void storm_join(storm_t *st)
{
    atomic_store(&st->stop, true);
    pthread_join(st->thread, NULL);
    storm_run_t *r = st->run;
    free(r->freed_at);
    free(r->busy);
    free(r);
    st->run = NULL;
}
