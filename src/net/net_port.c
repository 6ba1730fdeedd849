/* net_port.c: ports (one event loop per worker thread), configuration, backend
 * choice and fallback, listeners, the ready stack and the cross-thread wake-up.
 *
 * Who calls it: the server wiring (create, listen, run, wake, destroy) and the
 * rest of net (enqueue, drain). What it must never do: block outside the
 * backend's wait, or let a non-owner thread touch owner-only state.
 *
 * The ready stack and the wake-up, in numbered rules:
 *  1. A slot goes on the port's ready stack when someone turns its QUEUED bit
 *     from 0 to 1 (net_outbox.c); that someone pushes it (CAS) and is the only
 *     writer of slot->ready_next until the owner pops it.
 *  2. A push from the owner thread needs no wake-up: the owner drains the ready
 *     stack after every reap and never waits while the stack is non-empty.
 *  3. A push from another thread then sets wake_pending with an exchange; only
 *     the thread that turns it from 0 to 1 writes the eventfd. So a burst of
 *     sends to one port costs one system call ("always, but coalesced": the
 *     waker does not know whether the owner sleeps, and does not need to).
 *  4. The owner, when the eventfd read completes, clears wake_pending
 *     (exchange) *before* it drains the ready stack. A push that saw
 *     wake_pending == 1 happened before that clear, so the drain sees it; a push
 *     after the clear sees 0 and writes the eventfd again. No lost wake-up. */
#include "net_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NET_DEFAULT_OUTBOX_LIMIT (8u << 20)
#define NET_DEFAULT_RECV_SIZE    16384u
#define NET_DEFAULT_RECV_COUNT   256u
#define NET_DEFAULT_MAX_CONNS    16384u
#define NET_DEFAULT_RING         256u
#define NET_LISTEN_BACKLOG       4096

/* A unique address per thread: the owner token. */
static _Thread_local char net_owner_token;
/* The fallback line is logged once per process, not once per worker. */
static atomic_flag net_fallback_logged = ATOMIC_FLAG_INIT;

void net_config_init(net_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->backend = NET_BACKEND_AUTO;
    cfg->outbox_limit = NET_DEFAULT_OUTBOX_LIMIT;
    cfg->recv_buf_size = NET_DEFAULT_RECV_SIZE;
    cfg->recv_buf_count = NET_DEFAULT_RECV_COUNT;
    cfg->max_conns = NET_DEFAULT_MAX_CONNS;
    cfg->ring_entries = NET_DEFAULT_RING;
}

int net_backend_parse(const char *name, net_backend_t *out)
{
    if (!name)
        return -EINVAL;
    if (strcmp(name, "auto") == 0)
        *out = NET_BACKEND_AUTO;
    else if (strcmp(name, "uring") == 0 || strcmp(name, "io_uring") == 0)
        *out = NET_BACKEND_URING;
    else if (strcmp(name, "epoll") == 0)
        *out = NET_BACKEND_EPOLL;
    else
        return -EINVAL;
    return 0;
}

const char *net_close_reason_name(net_close_reason_t reason)
{
    switch (reason) {
    case NET_CLOSE_PEER:
        return "peer";
    case NET_CLOSE_RESET:
        return "reset";
    case NET_CLOSE_ERROR:
        return "error";
    case NET_CLOSE_SLOW_CONSUMER:
        return "slow-consumer";
    case NET_CLOSE_LOCAL:
        return "local";
    case NET_CLOSE_SHUTDOWN:
        return "shutdown";
    }
    return "unknown";
}

static void net_default_log(void *unused, const char *line)
{
    (void)unused;
    fprintf(stderr, "net: %s\n", line);
}

void net_port_log(struct net_port *p, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    p->cfg.log(p->cfg.log_udata, line);
}

static uint32_t round_pow2(uint32_t v)
{
    uint32_t r = 1;
    while (r < v && r < (1u << 15))
        r <<= 1;
    return r;
}

static void port_fill_defaults(net_config_t *c)
{
    net_config_t d;
    net_config_init(&d);
    if (!c->recv_buf_size)
        c->recv_buf_size = d.recv_buf_size;
    c->recv_buf_count = round_pow2(c->recv_buf_count ? c->recv_buf_count : d.recv_buf_count);
    if (!c->max_conns)
        c->max_conns = d.max_conns;
    if (!c->ring_entries)
        c->ring_entries = d.ring_entries;
    if (!c->log)
        c->log = net_default_log;
}

/* Pick and start the backend; AUTO falls back to epoll when io_uring is
 * refused, with one log line per process. */
static int port_start_backend(struct net_port *p)
{
    if (p->cfg.backend == NET_BACKEND_EPOLL) {
        p->ops = &net_epoll_ops;
        return p->ops->init(p);
    }
    p->ops = &net_uring_ops;
    int rc = p->ops->init(p);
    if (rc == 0 || p->cfg.backend == NET_BACKEND_URING)
        return rc;
    /* Seq_cst (the default): one winner among the ports, nothing published. */
    if (!atomic_flag_test_and_set(&net_fallback_logged))
        net_port_log(p, "io_uring unavailable (%s), using epoll", strerror(-rc));
    p->ops = &net_epoll_ops;
    return p->ops->init(p);
}

net_port_t *net_port_create(const net_config_t *cfg, const net_callbacks_t *cb, void *udata)
{
    struct net_port *p = aligned_alloc(NET_CACHE_LINE, sizeof(*p));
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    memset(p, 0, sizeof(*p));
    if (cfg)
        p->cfg = *cfg;
    else
        net_config_init(&p->cfg);
    port_fill_defaults(&p->cfg);
    if (cb)
        p->cb = *cb;
    p->udata = udata;
    p->max_conns = p->cfg.max_conns;
    int rc = net_conn_table_init(p);
    if (rc == 0) {
        rc = port_start_backend(p);
        if (rc < 0)
            net_conn_table_fini(p);
    }
    if (rc < 0) {
        free(p);
        errno = -rc;
        return NULL;
    }
    if (p->cfg.overflow_notice)
        net_buf_ref(p->cfg.overflow_notice);
    return p;
}

int net_backend_probe(net_backend_t backend)
{
    if (backend == NET_BACKEND_AUTO) /* AUTO works if either backend does */
        return net_backend_probe(NET_BACKEND_URING) == 0 ? 0 : net_backend_probe(NET_BACKEND_EPOLL);
    net_config_t cfg;
    net_config_init(&cfg);
    cfg.backend = backend;
    cfg.max_conns = 1;
    cfg.recv_buf_count = 1;
    net_port_t *p = net_port_create(&cfg, NULL, NULL);
    if (!p)
        return -errno;
    net_port_destroy(p);
    return 0;
}

int net_port_listen(net_port_t *p, const char *addr, uint16_t tcp_port)
{
    if (p->nlisteners == NET_MAX_LISTENERS)
        return -ENOSPC;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(tcp_port)};
    if (inet_pton(AF_INET, addr ? addr : "127.0.0.1", &sa.sin_addr) != 1)
        return -EINVAL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1, rc = 0;
    socklen_t len = sizeof(sa);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, NET_LISTEN_BACKLOG) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        rc = -errno;
    net_listener_t *l = &p->listeners[p->nlisteners];
    memset(l, 0, sizeof(*l));
    l->fd = fd;
    l->port = ntohs(sa.sin_port);
    if (rc == 0)
        rc = p->ops->listen_start(p, l);
    if (rc < 0) {
        close(fd);
        l->fd = -1;
        return rc;
    }
    if (p->nlisteners++ == 0)
        /* Relaxed: read by other threads only after they learn (by a
         * synchronising hand-off) that listen returned. */
        atomic_store_explicit(&p->bound_port, l->port, memory_order_relaxed);
    return 0;
}

uint16_t net_port_bound_port(const net_port_t *p)
{
    /* Relaxed: pairs with the store in net_port_listen (see there). */
    return atomic_load_explicit(&p->bound_port, memory_order_relaxed);
}

bool net_port_is_owner(const struct net_port *p)
{
    /* Relaxed: a thread only ever finds its own token here if it stored it
     * itself (program order); any other value means "not the owner". */
    return atomic_load_explicit(&p->owner, memory_order_relaxed) == (void *)&net_owner_token;
}

static void port_set_owner(struct net_port *p)
{
    /* Relaxed: only the storing thread can find its own token (is_owner). */
    atomic_store_explicit(&p->owner, (void *)&net_owner_token, memory_order_relaxed);
}

/* Rules 2 and 3: used by net_port_enqueue and net_port_wake. */
static bool port_wake_remote(struct net_port *p)
{
    if (net_port_is_owner(p))
        return false; /* rule 2 */
    /* Acq_rel (rule 3): the release half orders our ready-stack push before
     * the flag; pairs with the owner's exchange in net_port_wake_handled. */
    if (atomic_exchange_explicit(&p->wake_pending, 1, memory_order_acq_rel) == 0)
        p->ops->wake(p);
    return true;
}

void net_port_wake(net_port_t *p)
{
    if (!port_wake_remote(p))
        p->self_wake = true; /* the owner itself: its next run must not block */
}

void net_port_wake_handled(struct net_port *p)
{
    /* Acq_rel (rule 4): the acquire half pairs with the waker's exchange, so
     * its push is visible to the drain that follows. */
    atomic_exchange_explicit(&p->wake_pending, 0, memory_order_acq_rel);
    net_stat_add(&p->stats.wakeups, 1);
}

void net_port_enqueue(struct net_port *p, net_slot_t *s)
{
    net_slot_t *old = atomic_load_explicit(&p->ready_head, memory_order_relaxed); /* CAS checks */
    do {
        s->ready_next = old;
        /* Release: ready_next (and the state change that queued the slot)
         * are visible to the owner's acquiring exchange in drain_ready. */
    } while (!atomic_compare_exchange_weak_explicit(&p->ready_head, &old, s, memory_order_release,
                                                    memory_order_relaxed));
    port_wake_remote(p);
}

bool net_port_has_ready(struct net_port *p)
{
    /* Relaxed: a hint for "do not sleep"; remote pushes are covered by the
     * wake-up protocol, our own pushes by program order. */
    return atomic_load_explicit(&p->ready_head, memory_order_relaxed) != NULL;
}

int net_port_drain_ready(struct net_port *p)
{
    /* Acquire: pairs with the release CAS of every push (rule 1). The
     * exchange takes the whole stack, so there is no ABA. */
    net_slot_t *lifo = atomic_exchange_explicit(&p->ready_head, NULL, memory_order_acquire);
    net_slot_t *fifo = NULL;
    while (lifo) { /* reverse: first queued, first served */
        net_slot_t *n = lifo->ready_next;
        lifo->ready_next = fifo;
        fifo = lifo;
        lifo = n;
    }
    int count = 0;
    while (fifo) {
        net_slot_t *next = fifo->ready_next; /* read before QUEUED is cleared */
        net_conn_on_ready(p, fifo);
        fifo = next;
        count++;
    }
    return count;
}

int net_port_run(net_port_t *p, int timeout_ms)
{
    port_set_owner(p);
    int events = net_port_drain_ready(p);
    bool nowait = events > 0 || p->self_wake || net_port_has_ready(p);
    p->self_wake = false;
    int rc = p->ops->run(p, nowait ? 0 : timeout_ms);
    if (rc < 0)
        return rc;
    return events + rc + net_port_drain_ready(p);
}

void net_port_destroy(net_port_t *p)
{
    if (!p)
        return;
    port_set_owner(p);
    p->destroying = true;
    for (int i = 0; i < p->nlisteners; i++)
        p->ops->listen_stop(p, &p->listeners[i]);
    net_port_drain_ready(p);
    /* Relaxed: the owner's own counter; slots beyond it were never used. */
    uint32_t used = atomic_load_explicit(&p->fresh, memory_order_relaxed);
    for (uint32_t i = 0; i < used; i++)
        net_conn_close_now(p, &p->slots[i], NET_CLOSE_SHUTDOWN);
    p->ops->quiesce(p); /* every cancelled operation has completed */
    /* Slots that were queued while closing are recycled now; no sender runs
     * during destroy, so two passes settle everything. */
    net_port_drain_ready(p);
    net_port_drain_ready(p);
    p->ops->fini(p);
    if (p->cfg.overflow_notice)
        net_buf_unref(p->cfg.overflow_notice);
    net_conn_table_fini(p);
    free(p);
}

const char *net_backend_name(const net_port_t *p)
{
    return p->ops->name;
}

uint32_t net_port_conn_count(const net_port_t *p)
{
    /* Relaxed: a snapshot of a counter (net_conn.c). */
    return atomic_load_explicit(&p->nconns, memory_order_relaxed);
}

void net_port_stats(const net_port_t *p, net_stats_t *o)
{
    const net_stats_atomic_t *s = &p->stats;
    /* Relaxed: a snapshot of counters that only the owner writes. */
    o->accepted = atomic_load_explicit(&s->accepted, memory_order_relaxed);
    o->closed = atomic_load_explicit(&s->closed, memory_order_relaxed);
    o->bytes_in = atomic_load_explicit(&s->bytes_in, memory_order_relaxed);
    o->bytes_out = atomic_load_explicit(&s->bytes_out, memory_order_relaxed);
    o->sends = atomic_load_explicit(&s->sends, memory_order_relaxed);
    o->partial_sends = atomic_load_explicit(&s->partial_sends, memory_order_relaxed);
    o->recv_enobufs = atomic_load_explicit(&s->recv_enobufs, memory_order_relaxed);
    o->accept_pauses = atomic_load_explicit(&s->accept_pauses, memory_order_relaxed);
    o->wakeups = atomic_load_explicit(&s->wakeups, memory_order_relaxed);
    o->cq_overflows = atomic_load_explicit(&s->cq_overflows, memory_order_relaxed);
    o->slow_closes = atomic_load_explicit(&s->slow_closes, memory_order_relaxed);
}

uint64_t net_port_outbox_bytes(const net_port_t *p)
{
    uint64_t sum = 0;
    /* The table is mapped once for the port's life, so any slot may be
     * read, and those beyond `fresh` were never used; relaxed: each `queued`
     * is a counter and the sum a snapshot. */
    uint32_t used = atomic_load_explicit(&p->fresh, memory_order_relaxed);
    for (uint32_t i = 0; i < used; i++)
        sum += atomic_load_explicit(&p->slots[i].queued, memory_order_relaxed);
    return sum;
}
