/* net_outbox.c: the single send path. Senders on any thread append buffer
 * references to a connection's outbox; the owner thread drains it into one
 * iovec send at a time.
 *
 * Who calls it: net_conn_send / net_conn_close (any thread); the owner side
 * (flush, send completion, discard) from net_conn.c and the backends.
 * What it must never do: block, take a lock, have two sends in flight on one
 * socket, or touch a slot whose generation is not the caller's.
 *
 * The protocol, on the slot state word (bits in net_internal.h):
 *  1. A sender first *enters*: one CAS adds 1 to `senders` if the generation
 *     matches and OPEN is set. While senders > 0 the slot cannot be recycled,
 *     so everything after this touches the right connection.
 *  2. It accounts the bytes (`queued`); past outbox_limit it leaves with SLOW
 *     set (step 4) and fails with -ENOBUFS.
 *  3. It pushes a node onto the `head` stack (CAS, seq_cst).
 *  4. It *leaves*: one CAS subtracts 1 from `senders` and, if FP (flush
 *     pending) was clear, sets FP and QUEUED. Whoever turns QUEUED from 0 to 1
 *     pushes the slot on the port's ready stack and wakes the owner. So exactly
 *     one sender per flush wakes the owner; the others only push.
 *  5. The owner, holding FP, takes the whole stack with one exchange, reverses
 *     it into its private FIFO, moves the oldest NET_IOV_MAX buffers into the
 *     slot's iovec array (the send queue; their nodes go back to the pool at
 *     once), and keeps exactly one send in flight. When that send completes
 *     it frees what was written (partial sends keep an offset into the first
 *     buffer and resubmit the remainder first) and loops.
 *  6. Only the owner clears FP, and only when its FIFO is empty and no send is
 *     in flight: clear FP (seq_cst), then look at `head` (seq_cst). If a node
 *     is there, set FP again: if it was still clear, the owner keeps flushing;
 *     if a sender set it meanwhile, that sender queued the slot (step 4).
 *     Because steps 3-4 and 6 are seq_cst, either the sender sees FP clear or
 *     the owner sees the node: no lost wake-up.
 *  7. SLOW and close requests always set QUEUED (even while FP is held), since
 *     the owner may be waiting on a send that will never complete. */
#include "net_internal.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

static int outbox_enter(net_slot_t *s, uint32_t gen)
{
    /* Relaxed: only a first guess; the CAS below validates it. */
    uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed);
    for (;;) {
        if (net_st_gen(st) != gen)
            return -ESTALE;
        if (!(st & NET_ST_OPEN))
            return -EPIPE;
        if ((st & NET_ST_SENDERS) == NET_ST_SENDERS)
            return -EAGAIN;
        /* Acquire: pairs with the owner's release when it opened this
         * generation (net_conn.c), so the slot is initialised for us. */
        if (atomic_compare_exchange_weak_explicit(&s->state, &st, st + 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return 0;
    }
}

/* Step 4 (flag = FP) or the slow-consumer exit (flag = SLOW). */
static void outbox_leave(struct net_port *p, net_slot_t *s, uint64_t flag)
{
    /* Relaxed: a first guess for the CAS loop. */
    uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed), nst;
    do {
        nst = st - 1;
        if (flag == NET_ST_SLOW)
            nst |= NET_ST_SLOW | NET_ST_QUEUED;
        else if (!(st & NET_ST_FP))
            nst |= NET_ST_FP | NET_ST_QUEUED;
        /* Seq_cst: pairs with the owner's FP clear + head load in
         * outbox_try_release_fp (rule 6); its release half also publishes our
         * push to the owner, who acquires the state word before recycling. */
    } while (!atomic_compare_exchange_weak_explicit(&s->state, &st, nst, memory_order_seq_cst,
                                                    memory_order_relaxed));
    if ((nst & NET_ST_QUEUED) && !(st & NET_ST_QUEUED))
        net_port_enqueue(p, s);
}

static void outbox_push(net_slot_t *s, net_onode_t *node)
{
    net_onode_t *old = atomic_load_explicit(&s->head, memory_order_relaxed); /* CAS checks */
    do {
        node->next = old;
        /* Seq_cst (rule 6) and release: the node's fields are visible to the
         * owner's acquiring exchange in outbox_collect. */
    } while (!atomic_compare_exchange_weak_explicit(&s->head, &old, node, memory_order_seq_cst,
                                                    memory_order_relaxed));
}

int net_conn_send(net_conn_t c, net_buf_t *b)
{
    if (!b)
        return -EINVAL;
    net_slot_t *s = net_conn_slot(c);
    if (!s)
        return -ESTALE;
    int rc = outbox_enter(s, (uint32_t)(c.id >> 32));
    if (rc)
        return rc;
    struct net_port *p = c.port;
    size_t len = b->len;
    if (len == 0) { /* nothing to write; still report liveness */
        outbox_leave(p, s, 0);
        return 0;
    }
    /* Relaxed: `queued` is a counter compared with a limit; no data is
     * published through it. */
    size_t before = atomic_fetch_add_explicit(&s->queued, len, memory_order_relaxed);
    size_t limit = p->cfg.outbox_limit;
    if (limit && before + len > limit) {
        /* Relaxed: undoes the add above (a counter). */
        atomic_fetch_sub_explicit(&s->queued, len, memory_order_relaxed);
        outbox_leave(p, s, NET_ST_SLOW);
        return -ENOBUFS;
    }
    net_onode_t *node = net_pool_get(NET_POOL_ONODE);
    if (!node) {
        /* Relaxed: undoes the add above (a counter). */
        atomic_fetch_sub_explicit(&s->queued, len, memory_order_relaxed);
        outbox_leave(p, s, 0);
        return -ENOMEM;
    }
    node->buf = net_buf_ref(b);
    outbox_push(s, node);
    outbox_leave(p, s, NET_ST_FP);
    return 0;
}

int net_conn_close(net_conn_t c, bool flush_first)
{
    net_slot_t *s = net_conn_slot(c);
    if (!s)
        return -ESTALE;
    uint32_t gen = (uint32_t)(c.id >> 32);
    /* Relaxed: a first guess for the CAS loop. */
    uint64_t st = atomic_load_explicit(&s->state, memory_order_relaxed), nst;
    do {
        if (net_st_gen(st) != gen)
            return -ESTALE;
        if (st & NET_ST_OPEN)
            nst = (st & ~NET_ST_OPEN) | NET_ST_CLOSE_REQ | NET_ST_QUEUED |
                  (flush_first ? NET_ST_CLOSE_FLUSH : 0);
        else if ((st & NET_ST_CLOSE_FLUSH) && !flush_first)
            nst = (st & ~NET_ST_CLOSE_FLUSH) | NET_ST_QUEUED; /* flush -> now */
        else
            return -EPIPE;
        /* Seq_cst like every other update of the state word (rule 7). */
    } while (!atomic_compare_exchange_weak_explicit(&s->state, &st, nst, memory_order_seq_cst,
                                                    memory_order_relaxed));
    if (!(st & NET_ST_QUEUED))
        net_port_enqueue(c.port, s);
    return 0;
}

/* ------------------------------------------------------------ owner side */

/* Move everything pushed so far to the private FIFO, oldest first. */
static void outbox_collect(net_slot_t *s)
{
    /* Acquire: pairs with the release half of each push, so node->next and
     * node->buf are visible. The exchange empties the stack in one step. */
    net_onode_t *lifo = atomic_exchange_explicit(&s->head, NULL, memory_order_acquire);
    net_onode_t *fifo = NULL, *tail = lifo; /* the top (newest) ends up last */
    while (lifo) {
        net_onode_t *n = lifo->next;
        lifo->next = fifo;
        fifo = lifo;
        lifo = n;
    }
    if (!fifo)
        return;
    if (s->q_tail)
        s->q_tail->next = fifo;
    else
        s->q_head = fifo;
    s->q_tail = tail;
}

/* The buffer a send-queue entry points into, `off` bytes past the start of
 * its data: send_off for iov[0], 0 for every later entry. */
static net_buf_t *sendq_buf(const struct iovec *v, size_t off)
{
    return (net_buf_t *)((uint8_t *)v->iov_base - off - offsetof(net_buf_t, data));
}

/* A written (or discarded) buffer: its bytes leave the outbox. */
static void outbox_release_buf(net_slot_t *s, net_buf_t *b)
{
    /* Relaxed: pairs with the sender's add in net_conn_send; a counter. */
    atomic_fetch_sub_explicit(&s->queued, b->len, memory_order_relaxed);
    net_buf_unref(b);
}

static void outbox_release_node(net_slot_t *s, net_onode_t *node)
{
    outbox_release_buf(s, node->buf);
    net_pool_put(NET_POOL_ONODE, node);
}

/* Move the oldest collected buffers into the free entries of the send queue.
 * Each node is read here, right after outbox_collect touched it, and goes
 * straight back to the pool: a node is touched by its owner once, while it
 * is in cache, instead of again when its send completes (docs/net.md). */
static void outbox_fill(net_slot_t *s)
{
    while (s->q_head && s->niov < NET_IOV_MAX) {
        net_onode_t *node = s->q_head;
        s->q_head = node->next;
        s->iov[s->niov].iov_base = node->buf->data;
        s->iov[s->niov].iov_len = node->buf->len;
        s->niov++;
        net_pool_put(NET_POOL_ONODE, node);
    }
    if (!s->q_head)
        s->q_tail = NULL;
}

static void outbox_build_msg(net_slot_t *s)
{
    size_t total = 0;
    for (uint32_t i = 0; i < s->niov; i++)
        total += s->iov[i].iov_len;
    memset(&s->msg, 0, sizeof(s->msg));
    s->msg.msg_iov = s->iov;
    s->msg.msg_iovlen = s->niov;
    s->send_len = total;
}

/* Free what a send of `sent` bytes wrote; keep an offset into a partial one. */
static void outbox_advance(struct net_port *p, net_slot_t *s, size_t sent)
{
    net_stat_add(&p->stats.sends, 1);
    net_stat_add(&p->stats.bytes_out, sent);
    if (sent < s->send_len)
        net_stat_add(&p->stats.partial_sends, 1);
    uint32_t done = 0;
    for (; done < s->niov; done++) {
        struct iovec *v = &s->iov[done];
        if (sent < v->iov_len) {
            v->iov_base = (uint8_t *)v->iov_base + sent;
            v->iov_len -= sent;
            s->send_off += sent;
            break;
        }
        sent -= v->iov_len;
        outbox_release_buf(s, sendq_buf(v, s->send_off));
        s->send_off = 0;
    }
    s->niov -= done;
    if (done > 0 && s->niov > 0)
        memmove(s->iov, s->iov + done, s->niov * sizeof(s->iov[0]));
}

typedef enum { FP_IDLE, FP_MINE, FP_THEIRS } fp_result_t;

static fp_result_t outbox_try_release_fp(net_slot_t *s, uint64_t *st_out)
{
    /* Rule 6. Seq_cst on both: pairs with the seq_cst push and leave of a
     * sender (store-load ordering: one of us must see the other). */
    uint64_t st = atomic_fetch_and_explicit(&s->state, ~NET_ST_FP, memory_order_seq_cst);
    *st_out = st & ~NET_ST_FP;
    if (atomic_load_explicit(&s->head, memory_order_seq_cst) == NULL)
        return FP_IDLE;
    uint64_t old = atomic_fetch_or_explicit(&s->state, NET_ST_FP, memory_order_seq_cst);
    *st_out = old | NET_ST_FP;
    return (old & NET_ST_FP) ? FP_THEIRS : FP_MINE;
}

/* Nothing left: give FP back, or notice new work, or finish a flush-close. */
static bool outbox_idle(struct net_port *p, net_slot_t *s)
{
    p->ops->send_idle(p, s);
    uint64_t st;
    fp_result_t r = outbox_try_release_fp(s, &st);
    if (r == FP_MINE)
        return true; /* keep flushing */
    if (r == FP_IDLE && s->ostate == NET_OS_DRAINING && (st & NET_ST_SENDERS) == 0)
        net_conn_close_now(p, s, NET_CLOSE_LOCAL);
    return false;
}

static bool outbox_sending(const net_slot_t *s)
{
    return s->ostate == NET_OS_OPEN || s->ostate == NET_OS_DRAINING;
}

void net_outbox_flush(struct net_port *p, net_slot_t *s)
{
    for (int round = 0; round < NET_FLUSH_ROUNDS; round++) {
        if (s->send_busy || !outbox_sending(s))
            return;
        outbox_collect(s);
        outbox_fill(s);
        if (s->niov == 0) { /* and so the FIFO is empty too */
            if (outbox_idle(p, s))
                continue;
            return;
        }
        outbox_build_msg(s);
        size_t sent = 0;
        int r = p->ops->send_start(p, s, &sent);
        if (r == NET_SEND_ASYNC) {
            s->send_busy = true;
            return;
        }
        if (r < 0) {
            net_conn_close_now(p, s, net_conn_reason_from_errno(-r));
            return;
        }
        outbox_advance(p, s, sent);
    }
    /* Still data after NET_FLUSH_ROUNDS synchronous sends: let other
     * connections run and continue on the next turn. FP stays held. */
    if (!outbox_sending(s) || s->send_busy)
        return;
    /* Acq_rel: like any QUEUED 0 -> 1 transition, whoever makes it pushes the
     * slot on the ready stack (net_port_enqueue). */
    uint64_t old = atomic_fetch_or_explicit(&s->state, NET_ST_QUEUED, memory_order_acq_rel);
    if (!(old & NET_ST_QUEUED))
        net_port_enqueue(p, s);
}

void net_conn_send_done(struct net_port *p, net_slot_t *s, int res)
{
    s->send_busy = false;
    if (res >= 0)
        outbox_advance(p, s, (size_t)res);
    if (!outbox_sending(s))
        return; /* closing: net_conn.c releases everything once drained */
    if (res < 0) {
        net_conn_close_now(p, s, net_conn_reason_from_errno(-res));
        return;
    }
    net_outbox_flush(p, s);
}

void net_conn_writable(struct net_port *p, net_slot_t *s)
{
    s->send_busy = false;
    net_outbox_flush(p, s);
}

void net_outbox_discard(struct net_port *p, net_slot_t *s)
{
    (void)p;
    outbox_collect(s);
    if (s->send_busy)
        return; /* the kernel may still read these buffers */
    for (uint32_t i = 0; i < s->niov; i++)
        outbox_release_buf(s, sendq_buf(&s->iov[i], i == 0 ? s->send_off : 0));
    s->niov = 0;
    while (s->q_head) {
        net_onode_t *node = s->q_head;
        s->q_head = node->next;
        outbox_release_node(s, node);
    }
    s->q_tail = NULL;
    s->send_off = 0;
}
