/* rcb_run.c: what a loop thread does once the chat starts: when each sender
 * sends (closed loop: a window of K messages, refilled by the sender's own
 * copy coming back; open loop: an evenly paced schedule), and how acks and
 * deliveries are counted and timed. Called only by the loop thread that owns
 * the members (rcb_loop.c and the targets). Never allocates: messages are
 * encoded straight into the connection's preallocated output buffer.
 *
 * Open loop, coordinated omission: the thread's senders share one schedule,
 * send k of the thread is due at t_start + k * period_ns and belongs to
 * sender k mod nsenders. A due send is owed by its sender until its output
 * buffer has room; its payload carries the time it was DUE, not the time it
 * was written, so a stalled server shows up as latency instead of as fewer
 * samples. Latency is recorded for messages due (closed loop: written) inside
 * the measured window, whenever they arrive (the drain waits for them);
 * throughput counts what arrives inside the window.
 *
 * Loss accounting with churn: an accepted message owes one delivery to each
 * member of its room that never churns (m->checked); those deliveries are
 * counted in `checked` and compared with `expected`. Deliveries to churners
 * count in `delivered` (throughput, latency) but are never checked: whether
 * a message accepted while a churner was leaving or entering reaches it is
 * a race the bench cannot observe. A churning SENDER stops sending first and
 * churns only once its messages are answered and its own copies are back, so
 * every message it sent is accounted for like any other. */
#include "rcb.h"

static bool in_window(const rcb_thread_t *t, uint64_t ts)
{
    return ts >= t->t_meas0 && ts < t->t_meas1;
}

/* Due time of member m's message number seq (open loop). */
static uint64_t intended_time(const rcb_thread_t *t, const rcb_member_t *m, uint64_t seq)
{
    double k = (double)m->sender_pos + (double)seq * (double)t->nsenders;
    return t->t_start + (uint64_t)(k * t->period_ns);
}

void rcb_sender_fill(rcb_thread_t *t, rcb_member_t *m)
{
    rcb_conn_t *c = m->tx;
    if (c == NULL || c->state != RCB_ST_READY || !t->started_sending || t->stopped_sending ||
        m->churn != RCB_CHURN_NONE)
        return;
    char text[RCB_PAYLOAD_MAX];
    bool wrote = false;
    while (m->owed > 0) {
        uint64_t due = t->o->rate > 0 ? intended_time(t, m, m->seq) : t->now;
        rcb_payload_encode(text, t->o->size, due, m->idx);
        if (!t->tg->encode_chat(t, c, text, t->o->size))
            break; /* full: the rest stays owed until the buffer drains */
        m->owed--;
        m->seq++;
        m->inflight++;
        c->unacked++;
        rcb_count(&t->c.sent, 1);
        wrote = true;
    }
    if (wrote)
        rcb_mark_dirty(t, c);
}

void rcb_run_start(rcb_thread_t *t)
{
    /* The caller loaded phase == RUN with acquire: the controller's writes of
     * the shared times are visible; copy them so that nothing reads them
     * before that point. */
    t->t_start = t->sh->t_start;
    t->t_meas0 = t->sh->t_meas0;
    t->t_meas1 = t->sh->t_meas1;
    t->running = true;
    t->sched_k = 0;
}

/* t_start reached: closed loop fills every sender's window of K messages;
 * open loop lets rcb_run_pace release sends as they fall due. */
static void start_sending(rcb_thread_t *t)
{
    t->started_sending = true;
    if (t->o->rate > 0)
        return;
    for (uint32_t i = 0; i < t->nsenders; i++) {
        t->senders[i]->owed = t->o->inflight;
        rcb_sender_fill(t, t->senders[i]);
    }
}

/* End of the window: no more sends. What the open loop still owed was due
 * but never written: the client (or server) fell behind; it is reported. */
static void stop_sending(rcb_thread_t *t)
{
    t->stopped_sending = true;
    for (uint32_t i = 0; i < t->nsenders; i++) {
        if (t->o->rate > 0)
            rcb_count(&t->c.unsent, t->senders[i]->owed);
        t->senders[i]->owed = 0;
    }
    /* The controller's drain waits for this: a loop running late may still
     * release its last sends after the window has closed on the clock.
     * Release: pairs with the acquire load in the controller's drain, so a
     * controller that sees 1 also sees every earlier increment of `sent`. */
    atomic_store_explicit(&t->c.sending_over, 1, memory_order_release);
}

/* Open loop: releases every send of this thread due by now and before the
 * end of the window; bounded per call so that a thread far behind still
 * serves its sockets between batches. Returns the next due time. */
static uint64_t release_due(rcb_thread_t *t)
{
    uint64_t due = t->t_start + (uint64_t)((double)t->sched_k * t->period_ns);
    for (int n = 0; n < 65536 && due <= t->now && due < t->t_meas1; n++) {
        rcb_member_t *m = t->senders[t->sched_k % t->nsenders];
        t->sched_k++;
        if (m->churn != RCB_CHURN_NONE) {
            rcb_count(&t->c.churn_unsent, 1); /* a client between rooms does not type */
        } else {
            m->owed++;
            rcb_sender_fill(t, m);
        }
        due = t->t_start + (uint64_t)((double)t->sched_k * t->period_ns);
    }
    return due;
}

uint64_t rcb_run_pace(rcb_thread_t *t)
{
    uint64_t far = t->now + 100000000ull; /* 100 ms: the loop's longest sleep */
    if (!t->running)
        return far;
    /* Churn goes on after the window until the members in the middle of a
     * churn are back (the controller's drain waits for them). */
    uint64_t churn_next = rcb_churn_pace(t);
    if (churn_next < far)
        far = churn_next;
    if (t->stopped_sending)
        return far;
    if (t->now < t->t_start)
        return t->t_start;
    if (!t->started_sending)
        start_sending(t);
    uint64_t next = t->t_meas1;
    if (t->o->rate > 0 && t->nsenders > 0) {
        uint64_t due = release_due(t);
        if (due < next)
            next = due;
    }
    if (t->now >= t->t_meas1) {
        stop_sending(t);
        return far;
    }
    return next < far ? next : far;
}

void rcb_on_ack(rcb_thread_t *t, rcb_member_t *m)
{
    if (m->tx != NULL && m->tx->unacked > 0)
        m->tx->unacked--;
    rcb_count(&t->c.acked, 1);
    rcb_count(&t->c.expected, m->checked);
    if (in_window(t, t->now))
        rcb_count(&t->c.win_acked, 1);
}

void rcb_on_reject(rcb_thread_t *t, rcb_member_t *m, rcb_err_t err)
{
    if (m->tx != NULL && m->tx->unacked > 0)
        m->tx->unacked--;
    rcb_count(&t->c.rejected, 1);
    rcb_count(&t->c.errors[err], 1);
    if (m->inflight > 0)
        m->inflight--;
    if (t->o->rate <= 0 && !t->stopped_sending) {
        m->owed++; /* closed loop: the window slot is free again */
        rcb_sender_fill(t, m);
    }
    rcb_churn_check(t, m);
}

void rcb_on_delivery(rcb_thread_t *t, rcb_member_t *m, const uint8_t *text, size_t len,
                     size_t wire_bytes)
{
    uint64_t due;
    uint32_t sender;
    if (!rcb_payload_decode(text, len, &due, &sender)) {
        rcb_count(&t->c.errors[RCB_ERR_PROTOCOL], 1);
        return;
    }
    rcb_count(&t->c.delivered, 1);
    if (!m->churner)
        rcb_count(&t->c.checked, 1);
    if (in_window(t, t->now)) {
        rcb_count(&t->c.win_delivered, 1);
        rcb_count(&t->c.win_bytes, wire_bytes);
    }
    if (in_window(t, due))
        rcb_hist_record(&t->lat, t->now > due ? t->now - due : 0);
    if (sender != m->idx)
        return;
    /* The member's own message came back through the server. */
    if (m->inflight > 0)
        m->inflight--;
    if (t->o->rate <= 0 && !t->stopped_sending) {
        m->owed++;
        rcb_sender_fill(t, m);
    }
    rcb_churn_check(t, m);
}
