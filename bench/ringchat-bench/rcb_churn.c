/* rcb_churn.c: --churn, members that come and go while the others chat, so
 * that logins, enters, leaves and disconnects go on during the measured run
 * (bench/soak.sh uses it). Called only by the loop thread that owns the
 * churning members (from rcb_run_pace, the delivery/ack counting of
 * rcb_run.c and the ringchat target). ringchat only. Never allocates after
 * rcb_churn_init and never blocks.
 *
 * A churn event, per loop thread paced like the open loop (event k of the
 * thread is due at t_start + k * churn_period_ns, for events due before the
 * end of the window), picks the thread's churners in turn. The member:
 *   1. stops sending (QUIESCE) and waits until every message it sent is
 *      answered and its own copies are back, so that none of its messages is
 *      in flight to or from a connection that is about to go;
 *   2. is queued (ACT) and handled by the next rcb_churn_pace, outside any
 *      event processing: either it sends ROOM_LEAVE_REQ, then (LEAVE_RES 0)
 *      ROOM_ENTER_REQ for the next room (a switch), or it closes its
 *      connection and opens a new one that logs in with the same id and
 *      enters the next room (a reconnect);
 *   3. a reconnect whose login is refused 31 (the server has not yet
 *      processed the old connection's close) closes that connection and
 *      tries a new one 20 ms later, at most RCB_CHURN_TRIES connections;
 *   4. back in a room, it sends again (closed loop: its window was kept).
 * An event that picks a member still busy with the previous one, or dead,
 * is counted as skipped. Any failure ends the member (counted as an error
 * and as churn_failed). Loss accounting: see rcb_run.c. */
#include "rcb.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

#define RCB_CHURN_TRIES    50
#define RCB_CHURN_RETRY_NS 20000000ull /* 20 ms */

/* A FIFO of members, each with a due time. Every member is in at most one
 * queue entry at a time except stale entries of members that failed (their
 * state no longer matches and they are dropped when popped); a failed member
 * never churns again, so cap = churners + 1 always suffices. */
typedef struct churn_ring {
    rcb_member_t **m;
    uint64_t *due;
    uint32_t head, len, cap;
} churn_ring_t;

struct rcb_churn_q {
    churn_ring_t act;   /* quiet members, to act at the next pace */
    churn_ring_t retry; /* members waiting to reconnect; one constant delay keeps it sorted */
};

static int ring_init(churn_ring_t *r, uint32_t cap)
{
    r->cap = cap;
    r->m = calloc(cap, sizeof(*r->m));
    r->due = calloc(cap, sizeof(*r->due));
    return r->m != NULL && r->due != NULL ? 0 : -ENOMEM;
}

static bool ring_push(churn_ring_t *r, rcb_member_t *m, uint64_t due)
{
    if (r->len == r->cap)
        return false;
    uint32_t i = (r->head + r->len++) % r->cap;
    r->m[i] = m;
    r->due[i] = due;
    return true;
}

static rcb_member_t *ring_pop(churn_ring_t *r)
{
    rcb_member_t *m = r->m[r->head];
    r->head = (r->head + 1) % r->cap;
    r->len--;
    return m;
}

int rcb_churn_init(rcb_thread_t *t)
{
    uint32_t per_room = rcb_churners_per_room(t->o);
    if (t->nchurners == 0 || per_room == 0)
        return 0;
    t->churn = calloc(1, sizeof(*t->churn));
    if (t->churn == NULL)
        return -ENOMEM;
    if (ring_init(&t->churn->act, t->nchurners + 1) != 0 ||
        ring_init(&t->churn->retry, t->nchurners + 1) != 0)
        return -ENOMEM;
    /* This thread's churners take their share of the total rate. */
    double all = (double)per_room * t->o->rooms;
    t->churn_period_ns = 1e9 / (t->o->churn_rate * (double)t->nchurners / all);
    return 0;
}

void rcb_churn_free(rcb_thread_t *t)
{
    if (t->churn == NULL)
        return;
    free(t->churn->act.m);
    free(t->churn->act.due);
    free(t->churn->retry.m);
    free(t->churn->retry.due);
    free(t->churn);
    t->churn = NULL;
}

static uint32_t next_room(const rcb_opts_t *o, uint32_t room)
{
    return o->room_first + (room - o->room_first + 1) % o->rooms;
}

void rcb_churn_failed(rcb_thread_t *t, rcb_member_t *m)
{
    if (m->churn == RCB_CHURN_NONE)
        return;
    m->churn = RCB_CHURN_NONE;
    rcb_count(&t->c.churn_failed, 1);
}

/* The member is back in a room: count the event and let it send again. */
static void churn_done(rcb_thread_t *t, rcb_member_t *m, _Atomic uint64_t *counter)
{
    m->churn = RCB_CHURN_NONE;
    rcb_count(counter, 1);
    rcb_sender_fill(t, m);
}

void rcb_churn_check(rcb_thread_t *t, rcb_member_t *m)
{
    if (m->churn != RCB_CHURN_QUIESCE || m->inflight > 0 || (m->tx != NULL && m->tx->unacked > 0))
        return;
    m->churn = RCB_CHURN_ACT;
    if (!ring_push(&t->churn->act, m, t->now))
        rcb_conn_fail(t, m->rx, RCB_ERR_PROTOCOL); /* cannot happen: see churn_ring_t */
}

static void start_event(rcb_thread_t *t, rcb_member_t *m)
{
    if (m->churn != RCB_CHURN_NONE || m->rx->state != RCB_ST_READY) {
        rcb_count(&t->c.churn_skipped, 1);
        return;
    }
    /* Spread reconnects evenly among this thread's events: event n
     * reconnects when floor((n + 1) f) > floor(n f). */
    double n = (double)rcb_read(&t->c.churn_started), f = t->o->churn_reconnect;
    m->churn_reconnect = floor((n + 1) * f) > floor(n * f);
    rcb_count(&t->c.churn_started, 1);
    if (t->o->rate > 0 && m->owed > 0) {
        /* Open loop: sends due but not written yet are dropped like those
         * that fall due while it churns (rcb_run.c's release_due). */
        rcb_count(&t->c.churn_unsent, m->owed);
        m->owed = 0;
    }
    m->churn = RCB_CHURN_QUIESCE;
    rcb_churn_check(t, m);
}

/* A new connection for m, logging in and entering m->room. */
static void reconnect(rcb_thread_t *t, rcb_member_t *m)
{
    m->churn = RCB_CHURN_RECONNECT;
    m->churn_tries++;
    rcb_conn_connect(t, m->rx); /* a failure calls rcb_conn_fail -> churn_failed */
}

/* Step 2 of the file comment, for one quiet member. */
static void act(rcb_thread_t *t, rcb_member_t *m)
{
    rcb_conn_t *c = m->rx;
    if (m->churn != RCB_CHURN_ACT || c->state != RCB_ST_READY)
        return; /* a stale entry: the member failed meanwhile */
    m->room = next_room(t->o, m->room);
    if (m->churn_reconnect) {
        rcb_conn_close(t, c);
        m->churn_tries = 0;
        reconnect(t, m);
        return;
    }
    uint8_t pkt[PROTO_HEADER_SIZE];
    size_t n = proto_encode_room_leave_req(pkt, sizeof(pkt));
    m->churn = RCB_CHURN_LEAVE;
    if (n == 0 || !rcb_out_append(c, pkt, n)) {
        rcb_conn_fail(t, c, RCB_ERR_LEAVE);
        return;
    }
    rcb_mark_dirty(t, c);
}

void rcb_churn_on_leave_res(rcb_thread_t *t, rcb_conn_t *c, int r)
{
    if (r != PROTO_OK) {
        rcb_conn_fail(t, c, RCB_ERR_LEAVE);
        return;
    }
    uint8_t pkt[PROTO_HEADER_SIZE + 4];
    size_t n = proto_encode_room_enter_req(pkt, sizeof(pkt), (int32_t)c->m->room);
    c->m->churn = RCB_CHURN_ENTER;
    if (n == 0 || !rcb_out_append(c, pkt, n)) {
        rcb_conn_fail(t, c, RCB_ERR_ENTER);
        return;
    }
    rcb_mark_dirty(t, c);
}

void rcb_churn_on_enter_res(rcb_thread_t *t, rcb_conn_t *c, int r)
{
    if (r != PROTO_OK) {
        rcb_conn_fail(t, c, RCB_ERR_ENTER);
        return;
    }
    churn_done(t, c->m, &t->c.churn_switched);
}

void rcb_churn_reconnected(rcb_thread_t *t, rcb_conn_t *c)
{
    churn_done(t, c->m, &t->c.churn_reconnected);
}

bool rcb_churn_on_login_refused(rcb_thread_t *t, rcb_conn_t *c, int r)
{
    rcb_member_t *m = c->m;
    if (m->churn != RCB_CHURN_RECONNECT || r != PROTO_LOGIN_USER_ALREADY)
        return false;
    if (m->churn_tries >= RCB_CHURN_TRIES)
        return false; /* the caller fails it as a login error */
    rcb_count(&t->c.churn_retries, 1);
    /* One refused login per connection: the server may count failed logins
     * per connection (and close after a few). */
    rcb_conn_close(t, c);
    m->churn = RCB_CHURN_RETRY;
    if (!ring_push(&t->churn->retry, m, t->now + RCB_CHURN_RETRY_NS))
        rcb_conn_fail(t, c, RCB_ERR_LOGIN); /* cannot happen: see churn_ring_t */
    return true;
}

/* Starts the events due by now; the next due time, UINT64_MAX after the window. */
static uint64_t start_due(rcb_thread_t *t)
{
    uint64_t due = t->t_start + (uint64_t)((double)t->churn_k * t->churn_period_ns);
    for (int n = 0; n < 4096 && due <= t->now && due < t->t_meas1; n++) {
        start_event(t, t->churners[t->churn_k % t->nchurners]);
        t->churn_k++;
        due = t->t_start + (uint64_t)((double)t->churn_k * t->churn_period_ns);
    }
    return due < t->t_meas1 ? due : UINT64_MAX;
}

uint64_t rcb_churn_pace(rcb_thread_t *t)
{
    if (t->churn == NULL)
        return UINT64_MAX;
    uint64_t next = t->now < t->t_start ? t->t_start : start_due(t);
    churn_ring_t *act_q = &t->churn->act, *retry_q = &t->churn->retry;
    /* Bounded by the queue length at entry: act() never re-queues. */
    for (uint32_t n = act_q->len; n > 0; n--)
        act(t, ring_pop(act_q));
    while (retry_q->len > 0 && retry_q->due[retry_q->head] <= t->now) {
        rcb_member_t *m = ring_pop(retry_q);
        if (m->churn == RCB_CHURN_RETRY)
            reconnect(t, m);
    }
    if (retry_q->len > 0 && retry_q->due[retry_q->head] < next)
        next = retry_q->due[retry_q->head];
    return next;
}
