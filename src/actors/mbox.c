/* mbox.c: actor mailbox, intrusive MPSC queue built on ck_pr (Vyukov's node-based queue with
 * a stub, plus Pony's "low bit of head = idle" scheduling mark).
 * Pushed by any thread; popped only by the thread running the owner.
 * Never allocates or blocks. Invariant: (head & MBOX_IDLE) <=> empty and on no run queue.
 *
 * Shape: head is the newest node, tail the oldest not yet returned; nodes are linked
 * oldest -> newest through next. A push is
 *   1. n->next = NULL
 *   2. prev = exchange(head, n)        -- the one linearisation point among producers
 *   3. prev->next = n                  -- link; until then the consumer cannot see n
 * so a producer pre-empted between 2 and 3 hides n (and everything pushed after it) from the
 * consumer for a while. It never blocks other producers, and the consumer sees "nothing
 * poppable yet" and keeps the owner scheduled (mark_idle fails because head moved).
 *
 * The idle mark: the consumer's final CAS turns head from stub into stub|IDLE only if no
 * producer exchanged head since the queue emptied. A producer's exchange returns the old head
 * and therefore tells it, in the same atomic step that publishes its message, whether the
 * queue was idle. Exactly one producer sees each IDLE mark (the exchange replaces it), so the
 * owner is scheduled exactly once per idle -> busy transition (DESIGN invariant 1). */
#include "mbox.h"

#include <stddef.h>

static inline mbox_node_t *node_untag(mbox_node_t *p)
{
    return (mbox_node_t *)((uintptr_t)p & ~MBOX_IDLE);
}

static inline bool node_is_tagged(mbox_node_t *p)
{
    return ((uintptr_t)p & MBOX_IDLE) != 0;
}

void mbox_init(mbox_t *q, bool idle)
{
    q->stub.next = NULL;
    q->tail = &q->stub;
    q->head = idle ? (mbox_node_t *)((uintptr_t)&q->stub | MBOX_IDLE) : &q->stub;
}

/* Steps 1-3 of the push; returns the previous head, tag included. */
static inline mbox_node_t *push_node(mbox_t *q, mbox_node_t *n)
{
    /* (1) Atomic store: a later producer writes n->next through its own exchange result,
     * and the consumer reads it with ck_pr_load_ptr, so all accesses are ck_pr ones. */
    ck_pr_store_ptr(&n->next, NULL);
    /* Release: the payload and (1) must be visible before (2) publishes n to the next
     * producer and, through (3), to the consumer. Pairs with the consumer's fence_load. */
    ck_pr_fence_store_atomic();
    mbox_node_t *prev = ck_pr_fas_ptr(&q->head, n); /* (2) */
    /* Acquire + order (2) before (3). When prev carried the IDLE mark, this makes the
     * previous consumer's run (published by its release CAS in mbox_mark_idle_sc)
     * happen-before whatever this thread does next: it is about to schedule the owner. */
    ck_pr_fence_atomic_load();
    ck_pr_fence_atomic_store();
    /* (3) Link. Pairs with ck_pr_load_ptr(&tail->next) + ck_pr_fence_load in mbox_pop_sc. */
    ck_pr_store_ptr(&node_untag(prev)->next, n);
    return prev;
}

bool mbox_push_mp(mbox_t *q, mbox_node_t *n)
{
    return node_is_tagged(push_node(q, n));
}

mbox_node_t *mbox_pop_sc(mbox_t *q)
{
    mbox_node_t *tail = q->tail;
    /* Pairs with the producer's link store (3); the fence_load below is the acquire that
     * makes the popped node's payload visible. */
    mbox_node_t *next = ck_pr_load_ptr(&tail->next);

    if (tail == &q->stub) {
        if (next == NULL)
            return NULL; /* empty, or the first push is between (2) and (3) */
        ck_pr_fence_load();
        q->tail = next; /* skip the stub */
        tail = next;
        next = ck_pr_load_ptr(&tail->next);
    }
    if (next != NULL) {
        ck_pr_fence_load();
        q->tail = next;
        return tail;
    }
    /* tail is the last linked node. If it is also the head, push the stub behind it so that
     * tail can be handed out (a node can only leave once something follows it). Relaxed
     * head load: a stale value only makes us return NULL and keep the owner scheduled. */
    if (tail != node_untag(ck_pr_load_ptr(&q->head)))
        return NULL; /* a producer is between (2) and (3) after tail */
    (void)push_node(q, &q->stub);
    next = ck_pr_load_ptr(&tail->next);
    if (next != NULL) {
        ck_pr_fence_load();
        q->tail = next;
        return tail;
    }
    return NULL; /* a producer slipped in before our stub; it will link tail->next */
}

bool mbox_mark_idle_sc(mbox_t *q)
{
    /* Quiescent empty state is tail == head == stub. If tail is still a real node, the queue
     * is not empty (or a push is in flight behind it): stay scheduled. */
    if (q->tail != &q->stub)
        return false;
    /* Release: the owner's run (its state writes, the messages it consumed) must be complete
     * before another thread can see IDLE, schedule the owner and run it. Pairs with the
     * fence_atomic_load after the exchange in push_node. */
    ck_pr_fence_release();
    return ck_pr_cas_ptr(&q->head, &q->stub, (void *)((uintptr_t)&q->stub | MBOX_IDLE));
}

bool mbox_is_empty_sc(const mbox_t *q)
{
    /* Consumer-side snapshot; the head load pairs with the producers' exchange. */
    return q->tail == &q->stub && node_untag(ck_pr_load_ptr(&q->head)) == &q->stub;
}
