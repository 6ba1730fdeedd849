/* vyukov.c: the runtime's previous mailbox, for mailbox_bench only (see vyukov.h).
 * Pushed by the bench's producer threads; popped by its one consumer thread.
 * Never allocates or blocks. Invariant: (head & VYK_IDLE) <=> empty and consumer idle.
 *
 * Shape: head is the newest node, tail the oldest not yet returned; nodes are linked
 * oldest -> newest through next. A push is
 *   1. n->next = NULL
 *   2. prev = exchange(head, n)        -- the one linearisation point among producers
 *   3. prev->next = n                  -- link; until then the consumer cannot see n
 * so a producer pre-empted between 2 and 3 hides n, and everything pushed after it, from the
 * consumer until it runs again: the consumer sees "not empty, nothing poppable". */
#include "vyukov.h"

#include <stddef.h>

static inline mbox_node_t *vyk_untag(mbox_node_t *p)
{
    return (mbox_node_t *)((uintptr_t)p & ~VYK_IDLE);
}

void vyk_init(vyk_t *q, bool idle)
{
    q->stub.next = NULL;
    q->tail = &q->stub;
    q->head = idle ? (mbox_node_t *)((uintptr_t)&q->stub | VYK_IDLE) : &q->stub;
}

/* Steps 1-3; returns the previous head, tag included. */
static inline mbox_node_t *vyk_push_node(vyk_t *q, mbox_node_t *n)
{
    /* (1) Atomic: a later producer writes n->next, the consumer reads it with a load. */
    ck_pr_store_ptr(&n->next, NULL);
    /* Release: payload and (1) before (2). Pairs with the consumer's fence_load. */
    ck_pr_fence_store_atomic();
    mbox_node_t *prev = ck_pr_fas_ptr(&q->head, n); /* (2) */
    /* Acquire (prev may be the IDLE mark written by the consumer's release CAS), and order
     * (2) before (3). */
    ck_pr_fence_atomic_load();
    ck_pr_fence_atomic_store();
    /* (3) Pairs with ck_pr_load_ptr(&tail->next) + ck_pr_fence_load in vyk_pop_sc. */
    ck_pr_store_ptr(&vyk_untag(prev)->next, n);
    return prev;
}

bool vyk_push_mp(vyk_t *q, mbox_node_t *n)
{
    return ((uintptr_t)vyk_push_node(q, n) & VYK_IDLE) != 0;
}

/* tail is the last linked node: push the stub behind it so tail can be handed out. */
static mbox_node_t *vyk_pop_last(vyk_t *q, mbox_node_t *tail)
{
    /* Relaxed: a stale head only makes us return NULL and keep the consumer scheduled. */
    if (tail != vyk_untag(ck_pr_load_ptr(&q->head)))
        return NULL; /* a producer is between (2) and (3) after tail: the gap */
    (void)vyk_push_node(q, &q->stub);
    mbox_node_t *next = ck_pr_load_ptr(&tail->next);
    if (next == NULL)
        return NULL; /* a producer slipped in before the stub; it will link tail->next */
    ck_pr_fence_load();
    q->tail = next;
    return tail;
}

mbox_node_t *vyk_pop_sc(vyk_t *q)
{
    mbox_node_t *tail = q->tail;
    /* Pairs with the producer's link store (3). */
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
    return vyk_pop_last(q, tail);
}

bool vyk_mark_idle_sc(vyk_t *q)
{
    if (q->tail != &q->stub)
        return false;
    /* Release: the consumer's run before IDLE becomes visible. Pairs with the
     * fence_atomic_load after the exchange in vyk_push_node. */
    ck_pr_fence_release();
    return ck_pr_cas_ptr(&q->head, &q->stub, (void *)((uintptr_t)&q->stub | VYK_IDLE));
}
