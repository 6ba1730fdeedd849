/* rcb_loop.c: one ringchat-bench event-loop thread: non-blocking connects
 * with a bounded number in set-up at once, level-triggered epoll, reads fed to
 * the target's parser, output gathered per event batch and written once per
 * connection, and the chat schedule of rcb_run.c. Started by the controller
 * (rcb_main.c); touches only its own thread's members and connections and
 * reports through rcb_counters_t. Never blocks except in epoll_pwait2, whose
 * timeout is bounded (100 ms at most), and never allocates after init.
 * Phase protocol with the controller (rcb_shared_t):
 *   1. SETUP: connect and hand-shake every connection; post setup_done once
 *      all of them are ready or failed.
 *   2. RUN: the controller has written t_start/t_meas0/t_meas1, then stored
 *      phase = RUN (release) and written our eventfd; we load phase (acquire)
 *      and only then read the times.
 *   3. STOP: close everything and return.
 * Churn (rcb_churn.c) reopens connections only from rcb_run_pace, before the
 * loop waits, and closes them there or while handling that connection's own
 * event (a refused login): epoll reports a descriptor at most once per batch
 * and a closed one leaves epoll at once, so no stale event can reach a
 * reopened connection. */
#include "rcb.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define MAX_EVENTS 256

bool rcb_out_append(rcb_conn_t *c, const void *p, size_t n)
{
    if (n > c->out_cap - c->out_len)
        return false;
    memcpy(c->out + c->out_len, p, n);
    c->out_len += (uint32_t)n;
    return true;
}

void rcb_mark_dirty(rcb_thread_t *t, rcb_conn_t *c)
{
    if (!c->dirty && c->state != RCB_ST_DEAD) {
        c->dirty = true;
        t->dirty[t->ndirty++] = c;
    }
}

static void set_events(rcb_thread_t *t, rcb_conn_t *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    (void)epoll_ctl(t->ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* One connection's set-up is over (ready or failed): let the next one start. */
static void setup_over(rcb_thread_t *t, bool ok)
{
    t->in_setup--;
    t->setup_over++;
    rcb_count(ok ? &t->c.conns_ready : &t->c.conns_failed, 1);
}

void rcb_conn_ready(rcb_thread_t *t, rcb_conn_t *c)
{
    if (c->state != RCB_ST_HANDSHAKE)
        return;
    c->state = RCB_ST_READY;
    if (c->m->churn != RCB_CHURN_NONE) {
        rcb_churn_reconnected(t, c); /* not part of the initial set-up */
        return;
    }
    rcb_hist_record(&t->setup, t->now - c->t_connect);
    setup_over(t, true);
}

void rcb_conn_fail(rcb_thread_t *t, rcb_conn_t *c, rcb_err_t err)
{
    if (c->state == RCB_ST_DEAD)
        return;
    rcb_count(&t->c.errors[err], 1);
    bool churning = c->m->churn != RCB_CHURN_NONE;
    if (!churning && (c->state == RCB_ST_CONNECTING || c->state == RCB_ST_HANDSHAKE))
        setup_over(t, false);
    c->state = RCB_ST_DEAD;
    c->out_len = 0;
    if (c->fd >= 0) {
        (void)epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    if (churning)
        rcb_churn_failed(t, c->m);
}

void rcb_conn_close(rcb_thread_t *t, rcb_conn_t *c)
{
    if (c->fd >= 0) {
        (void)epoll_ctl(t->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    c->state = RCB_ST_NEW;
    c->step = 0;
    c->out_len = 0; /* a flush of a dirty entry finds nothing to write */
    c->want_out = false;
    c->unacked = 0;
    c->carry_len = 0;
    /* Drop a partial packet of the old stream (init allocates nothing). */
    size_t max = c->reasm.max_packet;
    proto_reasm_free(&c->reasm);
    (void)proto_reasm_init(&c->reasm, max);
}

/* Binds to 127.0.0.(1 + src) when the run spreads over several source
 * addresses: one address has only ~28,000 ephemeral ports per server port.
 * IP_BIND_ADDRESS_NO_PORT lets connect() pick the port for the full 4-tuple. */
static int bind_source(int fd, const rcb_conn_t *c, const rcb_opts_t *o)
{
    if (o->source_addrs <= 1)
        return 0;
    int one = 1;
    (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    sa.sin_addr.s_addr = htonl(0x7f000001u + c->src);
    return bind(fd, (struct sockaddr *)&sa, sizeof(sa));
}

void rcb_conn_connect(rcb_thread_t *t, rcb_conn_t *c)
{
    c->t_connect = t->now;
    c->state = RCB_ST_CONNECTING;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        rcb_conn_fail(t, c, RCB_ERR_CONNECT);
        return;
    }
    int one = 1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(t->o->port)};
    (void)inet_pton(AF_INET, t->o->host, &sa.sin_addr);
    if (bind_source(c->fd, c, t->o) != 0 ||
        (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS)) {
        rcb_conn_fail(t, c, RCB_ERR_CONNECT);
        return;
    }
    struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(t->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
        rcb_conn_fail(t, c, RCB_ERR_CONNECT);
}

static void finish_connect(rcb_thread_t *t, rcb_conn_t *c)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
        rcb_conn_fail(t, c, RCB_ERR_CONNECT);
        return;
    }
    c->state = RCB_ST_HANDSHAKE;
    set_events(t, c, EPOLLIN);
    t->tg->on_connected(t, c);
    rcb_mark_dirty(t, c);
}

/* Writes as much of c->out as the socket takes; EPOLLOUT while some is left. */
static void conn_flush(rcb_thread_t *t, rcb_conn_t *c)
{
    while (c->state != RCB_ST_DEAD && c->out_len > 0) {
        ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_len -= (uint32_t)n;
            memmove(c->out, c->out + n, c->out_len);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!c->want_out) {
                c->want_out = true;
                set_events(t, c, EPOLLIN | EPOLLOUT);
            }
            return;
        }
        rcb_conn_fail(t, c,
                      errno == EPIPE || errno == ECONNRESET ? RCB_ERR_DISCONNECT : RCB_ERR_IO);
        return;
    }
    if (c->want_out && c->state != RCB_ST_DEAD) {
        c->want_out = false;
        set_events(t, c, EPOLLIN);
    }
}

static void conn_read(rcb_thread_t *t, rcb_conn_t *c)
{
    uint8_t *data = t->rbuf + RCB_CARRY_MAX;
    ssize_t n = recv(c->fd, data, RCB_RBUF_SIZE, 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        rcb_conn_fail(t, c, n == 0 || errno == ECONNRESET ? RCB_ERR_DISCONNECT : RCB_ERR_IO);
        return;
    }
    /* The saved incomplete reply goes right in front of the new bytes. */
    size_t carry = c->carry_len;
    if (carry > 0)
        memcpy(data - carry, c->carry, carry);
    c->carry_len = 0;
    t->now = rcb_now_ns();
    if (t->tg->on_data(t, c, data - carry, (size_t)n + carry) != 0)
        rcb_conn_fail(t, c, RCB_ERR_PROTOCOL);
}

static void conn_event(rcb_thread_t *t, rcb_conn_t *c, uint32_t events)
{
    if (c->state == RCB_ST_DEAD)
        return;
    if (c->state == RCB_ST_CONNECTING) {
        finish_connect(t, c);
        return;
    }
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
        conn_read(t, c);
    if (c->state != RCB_ST_DEAD && (events & EPOLLOUT)) {
        conn_flush(t, c);
        /* Room again: a sender may write what it owed. */
        if (c->m->tx == c && c->m->owed > 0)
            rcb_sender_fill(t, c->m);
    }
}

/* Starts connections while fewer than setup_cap are in set-up. */
static void setup_pump(rcb_thread_t *t)
{
    while (t->in_setup < t->setup_cap && t->next_setup < t->nconns) {
        t->in_setup++;
        rcb_conn_connect(t, &t->conns[t->next_setup++]);
    }
    if (!t->setup_posted && t->setup_over == t->nconns) {
        t->setup_posted = true;
        sem_post(&t->sh->setup_done);
    }
}

static void flush_dirty(rcb_thread_t *t)
{
    for (uint32_t i = 0; i < t->ndirty; i++) {
        rcb_conn_t *c = t->dirty[i];
        c->dirty = false;
        if (c->state != RCB_ST_DEAD && !c->want_out)
            conn_flush(t, c);
    }
    t->ndirty = 0;
}

static void drain_wake(rcb_thread_t *t)
{
    uint64_t v;
    (void)!read(t->wake_fd, &v, sizeof(v));
}

void *rcb_loop_main(void *arg)
{
    rcb_thread_t *t = arg;
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        t->now = rcb_now_ns();
        /* Pairs with the controller's release store of the phase: the
         * shared times written before it are visible after this load. */
        int phase = atomic_load_explicit(&t->sh->phase, memory_order_acquire);
        if (phase == RCB_PHASE_STOP)
            break;
        if (phase == RCB_PHASE_RUN && !t->running)
            rcb_run_start(t);
        setup_pump(t);
        uint64_t wake = rcb_run_pace(t);
        flush_dirty(t);
        uint64_t wait_ns = wake > t->now ? wake - t->now : 0;
        struct timespec ts = {(time_t)(wait_ns / 1000000000u), (long)(wait_ns % 1000000000u)};
        int n = epoll_pwait2(t->ep, evs, MAX_EVENTS, &ts, NULL);
        t->now = rcb_now_ns();
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == NULL)
                drain_wake(t);
            else
                conn_event(t, evs[i].data.ptr, evs[i].events);
        }
        flush_dirty(t);
    }
    return NULL;
}
