/* net_conn.c: the connection table and the owner-side life of a connection.
 *
 * Who calls it: the backends (accept, data, errors, drained operations) and
 * net_port.c (ready slots, destroy). Everything here runs on the owner thread.
 * What it must never do: free a slot (slots live as long as the port), close a
 * socket while the kernel still runs an operation on it, or recycle a slot that
 * a sender or the ready stack still holds.
 *
 * Life of a slot: FREE -> OPEN -> (DRAINING) -> CLOSING -> CLOSED -> FREE.
 * CLOSING waits for the backend to report that no operation references the
 * slot (io_uring: every cancelled operation has completed). CLOSED has closed
 * the socket, released the outbox and called on_close; it becomes FREE (with a
 * new generation) once no sender is inside net_conn_send and the slot is on no
 * ready stack. Handles are {index, generation}: a stale handle sees another
 * generation and is refused without touching the new connection. */
#include "net_internal.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOT_NONE UINT32_MAX

/* The table is one anonymous mapping: the kernel hands out zeroed pages as
 * slots are first used, so a port sized for 100,000 connections costs
 * memory only for the ones it has had (a slot is about 1.3 KB, mostly its
 * iovec array). A never-used slot reads as all zero: generation 0, which
 * no handle carries, so a stray handle is refused like a stale one. */
int net_conn_table_init(struct net_port *p)
{
    size_t bytes = (size_t)p->max_conns * sizeof(net_slot_t);
    void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return -ENOMEM;
    p->slots = m;
    p->free_head = SLOT_NONE;
    /* Relaxed: the port is not shared yet. */
    atomic_store_explicit(&p->fresh, 0, memory_order_relaxed);
    return 0;
}

void net_conn_table_fini(struct net_port *p)
{
    for (int i = 0; i < p->nparked; i++)
        close(p->parked[i]);
    p->nparked = 0;
    if (p->slots)
        munmap(p->slots, (size_t)p->max_conns * sizeof(net_slot_t));
    p->slots = NULL;
}

/* A free slot: from the free list, else the first never-used one (given
 * its index and generation 1 here; net_conn_accepted sets the rest); NULL
 * if the table is full. */
static net_slot_t *conn_slot_take(struct net_port *p)
{
    if (p->free_head != SLOT_NONE) {
        net_slot_t *s = &p->slots[p->free_head];
        p->free_head = s->free_next;
        return s;
    }
    /* Relaxed: only this (owner) thread writes it. */
    uint32_t i = atomic_load_explicit(&p->fresh, memory_order_relaxed);
    if (i == p->max_conns)
        return NULL;
    net_slot_t *s = &p->slots[i];
    /* Relaxed: no handle to this slot exists yet; the release that sets
     * OPEN in net_conn_accepted publishes it. */
    atomic_store_explicit(&s->state, 1ull << NET_ST_GEN_SHIFT, memory_order_relaxed);
    s->index = i;
    /* Relaxed: readers (net_port_outbox_bytes) only bound a loop with it;
     * the slot memory below it reads as zero until set up, which is right. */
    atomic_store_explicit(&p->fresh, i + 1, memory_order_relaxed);
    return s;
}

net_slot_t *net_conn_slot(net_conn_t c)
{
    if (!c.port)
        return NULL;
    uint32_t index = (uint32_t)c.id;
    if (index >= c.port->max_conns)
        return NULL;
    return &c.port->slots[index];
}

net_conn_t net_conn_handle(struct net_port *p, net_slot_t *s)
{
    /* Relaxed: the owner reads its own slot's generation (only it changes it). */
    uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
    return (net_conn_t){p, ((uint64_t)net_st_gen(st) << 32) | s->index};
}

bool net_conn_can_accept(struct net_port *p)
{
    /* Relaxed: the owner's own counter. */
    return p->free_head != SLOT_NONE ||
           atomic_load_explicit(&p->fresh, memory_order_relaxed) < p->max_conns;
}

net_close_reason_t net_conn_reason_from_errno(int err)
{
    switch (err) {
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED:
        return NET_CLOSE_RESET;
    default:
        return NET_CLOSE_ERROR;
    }
}

static void conn_maybe_resume_accept(struct net_port *p)
{
    if (p->destroying)
        return;
    /* Parked sockets first, oldest first: they were accepted earlier. */
    while (p->nparked > 0 && net_conn_can_accept(p)) {
        int fd = p->parked[0];
        p->nparked--;
        memmove(p->parked, p->parked + 1, (size_t)p->nparked * sizeof(int));
        net_conn_accepted(p, fd);
    }
    if (p->accept_paused && net_conn_can_accept(p)) {
        p->accept_paused = false;
        p->ops->accept_resume(p);
    }
}

int net_conn_accepted(struct net_port *p, int fd)
{
    net_slot_t *s = conn_slot_take(p);
    if (!s) {
        if (p->nparked < NET_PARK_MAX && !p->destroying)
            p->parked[p->nparked++] = fd;
        else
            close(fd); /* refused: the peer sees the connection end */
        return -ENFILE;
    }
    s->fd = fd;
    s->ostate = NET_OS_OPEN;
    s->reason = 0;
    s->udata = NULL;
    s->q_head = s->q_tail = NULL;
    s->niov = 0;
    s->send_off = s->send_len = 0;
    s->send_busy = s->recv_armed = s->out_armed = false; /* rearm_wait: uring's */
    s->read_eof = false;
    s->inflight = 0;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* Relaxed: a counter read for statistics only. */
    atomic_fetch_add_explicit(&p->nconns, 1, memory_order_relaxed);
    net_stat_add(&p->stats.accepted, 1);
    /* Release: pairs with the acquire CAS in outbox_enter; a sender that sees
     * OPEN for this generation sees the slot initialised above. */
    atomic_fetch_or_explicit(&s->state, NET_ST_OPEN, memory_order_release);
    net_conn_t c = net_conn_handle(p, s);
    if (p->cb.on_accept)
        p->cb.on_accept(c, p->udata);
    if (s->ostate == NET_OS_OPEN) {
        int rc = p->ops->conn_start(p, s);
        if (rc < 0)
            net_conn_close_now(p, s, NET_CLOSE_ERROR);
    }
    return 0;
}

void net_conn_data(struct net_port *p, net_slot_t *s, const uint8_t *data, size_t len)
{
    if (s->ostate != NET_OS_OPEN)
        return; /* draining or closing: received bytes are dropped */
    /* Relaxed: an early-out only; a close request racing with this call is
     * handled by the ready stack either way. */
    uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
    if (st & (NET_ST_CLOSE_REQ | NET_ST_SLOW))
        return;
    net_stat_add(&p->stats.bytes_in, len);
    if (p->cb.on_data)
        p->cb.on_data(net_conn_handle(p, s), data, len, p->udata);
}

void net_conn_eof(struct net_port *p, net_slot_t *s)
{
    if (s->read_eof)
        return;
    if (s->ostate == NET_OS_DRAINING) {
        s->read_eof = true; /* closing already: keep flushing, stop reading */
        return;
    }
    if (s->ostate != NET_OS_OPEN || !p->cb.on_eof) {
        net_conn_close_now(p, s, NET_CLOSE_PEER);
        return;
    }
    s->read_eof = true;
    p->cb.on_eof(net_conn_handle(p, s), p->udata);
}

void net_conn_close_now(struct net_port *p, net_slot_t *s, net_close_reason_t reason)
{
    if (reason == NET_CLOSE_LOCAL && s->read_eof)
        reason = NET_CLOSE_PEER; /* the peer ended first; we only finished answering */
    if (s->ostate != NET_OS_OPEN && s->ostate != NET_OS_DRAINING)
        return;
    s->ostate = NET_OS_CLOSING;
    s->reason = reason;
    if (reason == NET_CLOSE_SLOW_CONSUMER)
        net_stat_add(&p->stats.slow_closes, 1);
    /* Seq_cst like every update of the state word: from here no sender can
     * enter (outbox_enter needs OPEN) and a flush-close cannot be upgraded. */
    atomic_fetch_and_explicit(&s->state, ~(NET_ST_OPEN | NET_ST_CLOSE_FLUSH), memory_order_seq_cst);
    if (p->ops->conn_stop(p, s))
        net_conn_io_drained(p, s);
}

/* Best effort: the notice goes out only if the stream is at a buffer boundary
 * and the socket takes it at once; never blocks. */
static void conn_send_notice(struct net_port *p, net_slot_t *s)
{
    net_buf_t *n = p->cfg.overflow_notice;
    if (!n || s->send_off != 0)
        return;
    ssize_t w = send(s->fd, n->data, n->len, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)w;
}

static void conn_try_recycle(struct net_port *p, net_slot_t *s)
{
    /* Clear FP so that a sender still inside net_conn_send queues the slot
     * when it leaves (outbox_leave), which brings us back here. Seq_cst: its
     * acquire half also makes every push by senders that already left
     * visible to the discard below. */
    uint64_t st = atomic_fetch_and_explicit(&s->state, ~NET_ST_FP, memory_order_seq_cst);
    st &= ~NET_ST_FP;
    net_outbox_discard(p, s);
    if ((st & NET_ST_SENDERS) || (st & NET_ST_QUEUED))
        return; /* a sender or the ready stack still holds the slot */
    if (atomic_load_explicit(&s->queued, memory_order_relaxed) != 0)
        abort(); /* accounting bug: every queued byte must have been released */
    uint32_t gen = net_st_gen(st) + 1;
    if (gen == 0)
        gen = 1;
    /* Seq_cst: a new generation with every flag clear. Fails only if a
     * late close request set QUEUED; that pop retries. */
    if (!atomic_compare_exchange_strong_explicit(&s->state, &st, (uint64_t)gen << NET_ST_GEN_SHIFT,
                                                 memory_order_seq_cst, memory_order_relaxed))
        return;
    s->ostate = NET_OS_FREE;
    s->free_next = p->free_head;
    p->free_head = s->index;
    /* Relaxed: pairs with the increment in net_conn_accepted; a statistic. */
    atomic_fetch_sub_explicit(&p->nconns, 1, memory_order_relaxed);
    conn_maybe_resume_accept(p);
}

void net_conn_io_drained(struct net_port *p, net_slot_t *s)
{
    if (s->ostate != NET_OS_CLOSING)
        return;
    if (s->reason == NET_CLOSE_SLOW_CONSUMER)
        conn_send_notice(p, s);
    close(s->fd);
    s->fd = -1;
    s->send_busy = false;
    net_outbox_discard(p, s);
    s->ostate = NET_OS_CLOSED;
    net_stat_add(&p->stats.closed, 1);
    if (p->cb.on_close)
        p->cb.on_close(net_conn_handle(p, s), s->reason, p->udata);
    s->udata = NULL;
    conn_try_recycle(p, s);
    conn_maybe_resume_accept(p); /* an fd was freed (EMFILE pause) */
}

void net_conn_on_ready(struct net_port *p, net_slot_t *s)
{
    /* Acq_rel: acquire pairs with the release of whoever set QUEUED (sender,
     * closer); release lets the next QUEUED setter see our reads of
     * ready_next as done before it rewrites it. */
    uint64_t st = atomic_fetch_and_explicit(&s->state, ~NET_ST_QUEUED, memory_order_acq_rel);
    st &= ~NET_ST_QUEUED;
    switch (s->ostate) {
    case NET_OS_OPEN:
    case NET_OS_DRAINING:
        if (st & NET_ST_SLOW) {
            net_conn_close_now(p, s, NET_CLOSE_SLOW_CONSUMER);
        } else if ((st & NET_ST_CLOSE_REQ) && !(st & NET_ST_CLOSE_FLUSH)) {
            net_conn_close_now(p, s, NET_CLOSE_LOCAL);
        } else {
            if (st & NET_ST_CLOSE_REQ)
                s->ostate = NET_OS_DRAINING;
            net_outbox_flush(p, s);
        }
        break;
    case NET_OS_CLOSING:
        net_outbox_discard(p, s); /* keeps what a send in flight still uses */
        break;
    case NET_OS_CLOSED:
        conn_try_recycle(p, s);
        break;
    case NET_OS_FREE:
        abort(); /* a free slot is never queued (conn_try_recycle checks) */
    }
}

int net_conn_set_udata(net_conn_t c, void *udata)
{
    net_slot_t *s = net_conn_slot(c);
    if (!s || s->ostate == NET_OS_FREE)
        return -ESTALE;
    /* Relaxed: the owner reads its own slot's generation (only it changes it). */
    uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
    if (net_st_gen(st) != (uint32_t)(c.id >> 32))
        return -ESTALE;
    s->udata = udata;
    return 0;
}

void *net_conn_udata(net_conn_t c)
{
    net_slot_t *s = net_conn_slot(c);
    if (!s || s->ostate == NET_OS_FREE)
        return NULL;
    /* Relaxed: as in net_conn_set_udata. */
    uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
    if (net_st_gen(st) != (uint32_t)(c.id >> 32))
        return NULL;
    return s->udata;
}

size_t net_conn_outbox_bytes(net_conn_t c)
{
    net_slot_t *s = net_conn_slot(c);
    if (!s)
        return 0;
    /* Relaxed: a snapshot for metrics and tests. */
    uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
    if (net_st_gen(st) != (uint32_t)(c.id >> 32))
        return 0;
    return atomic_load_explicit(&s->queued, memory_order_relaxed); /* same snapshot */
}
