/* mbox.c: actor mailbox, a gap-free intrusive MPSC queue on ck_pr: a Treiber stack that the
 * consumer takes whole and reverses (the algorithm of ck_stack_push_upmc +
 * ck_stack_batch_pop_upmc), with Pony's idle mark folded into the stack's head word.
 * Pushed by any thread; popped only by the thread running the owner.
 * Never allocates, blocks or waits for another thread.
 * Invariant: head == MBOX_IDLE <=> the queue is empty and its owner is on no run queue.
 *
 * Shape: head is a LIFO stack (newest node first, linked through next); first is the
 * consumer's private FIFO (oldest first) of nodes already taken from head.
 * Push (any thread), numbered rules:
 *   P1. old = head
 *   P2. n->next = (old == IDLE) ? NULL : old       -- n is still private: a plain store
 *   P3. CAS(head, old -> n); on failure old = the current head, back to P2
 *   The CAS is the one step that publishes n, and n is already linked to everything older when
 *   it does: a push is fully visible or not at all. A producer pre-empted anywhere in P1-P3
 *   hides nothing from the consumer and blocks no other producer (their CASes succeed; ours
 *   just retries). The CAS also returns the old head, so the same atomic step that publishes
 *   the message tells the producer whether the queue was IDLE.
 * Pop (consumer):
 *   C1. if first is not empty, unlink and return its oldest node;
 *   C2. else if head holds nodes, take them all with one exchange (head := NULL), reverse the
 *       LIFO list into push order, keep it as first, and go to C1;
 *   C3. else the queue is empty: return NULL.
 * Mark idle (consumer, end of a run): only if first is empty, CAS(head, NULL -> IDLE).
 *
 * No ABA: the consumer never removes a single node from head, only the whole stack, and a
 * producer's CAS depends only on "head still equals old", which makes n->next = old correct
 * whatever happened in between (even if old was taken, consumed and pushed again).
 * Per-producer FIFO: one producer's CASes are ordered in head's modification order; one
 * exchange takes a prefix of that order, and reversing the stack restores it; first is
 * emptied before the next exchange, so batches are consumed in order too.
 * Exactly-once scheduling (DESIGN invariant 1): IDLE is written only by the consumer's CAS,
 * which expects NULL, so it cannot overwrite a pushed node; a push that replaces IDLE is the
 * only one that sees it (the CAS replaces it with a node). */
#include "mbox.h"

#include <stddef.h>

#define MBOX_IDLE_PTR ((mbox_node_t *)MBOX_IDLE)

void mbox_init(mbox_t *q, bool idle)
{
    q->first = NULL;
    q->depth_max = 0;
    q->head = idle ? MBOX_IDLE_PTR : NULL;
}

bool mbox_push_mp(mbox_t *q, mbox_node_t *n)
{
    /* P1. Reads the value written by another producer's CAS or the consumer's exchange or
     * mark_idle CAS; no ordering needed: a stale value only makes the CAS below fail and
     * hand us the fresh one. */
    mbox_node_t *old = ck_pr_load_ptr(&q->head);

    for (;;) {
        n->next = old == MBOX_IDLE_PTR ? NULL : old; /* P2 */
        /* Release: the payload and n->next must be visible before the CAS publishes n. Pairs
         * with the consumer's fence_acquire after its exchange in take_all. */
        ck_pr_fence_store_atomic();
        /* P3. On failure ck_pr_cas_ptr_value stores the current head into old. */
        if (ck_pr_cas_ptr_value(&q->head, old, n, &old))
            break;
    }
    if (old != MBOX_IDLE_PTR)
        return false;
    /* Acquire: we saw IDLE, written by the previous run's release CAS in mbox_mark_idle_sc;
     * that run must happen-before whatever we do next - we are about to schedule the owner. */
    ck_pr_fence_acquire();
    return true;
}

/* C2: take every node pushed so far and return them oldest first. Consumer only, and only
 * when head holds nodes (not NULL, not IDLE). */
static mbox_node_t *take_all(mbox_t *q)
{
    /* Pairs with the producers' CAS (P3): the exchange reads the last of them, and the CASes
     * before it form a chain of read-modify-writes, so every node on the stack is published. */
    mbox_node_t *n = ck_pr_fas_ptr(&q->head, NULL);
    mbox_node_t *fifo = NULL;
    uint32_t depth = 0;

    /* Acquire: the nodes' next fields and payloads are read (and next rewritten) only after
     * the exchange. Pairs with the producers' fence_store_atomic before P3. */
    ck_pr_fence_acquire();
    while (n != NULL) { /* reverse: newest-first -> oldest-first */
        mbox_node_t *next = n->next;

        n->next = fifo;
        fifo = n;
        n = next;
        depth++;
    }
    if (depth > q->depth_max)
        q->depth_max = depth;
    return fifo;
}

mbox_node_t *mbox_pop_sc(mbox_t *q)
{
    mbox_node_t *n = q->first;

    if (n == NULL) {
        /* Relaxed peek, to skip the exchange when there is nothing to take: a stale NULL
         * (a push landing right now) is a push that is not visible yet, not a half-done one -
         * it will make mbox_mark_idle_sc fail, and the next pop will find it. */
        mbox_node_t *h = ck_pr_load_ptr(&q->head);

        if (h == NULL || h == MBOX_IDLE_PTR)
            return NULL; /* C3 */
        n = take_all(q);
    }
    q->first = n->next; /* C1 */
    return n;
}

bool mbox_mark_idle_sc(mbox_t *q)
{
    /* Leftovers from the last take (a full ACTOR_BATCH) stay ours: keep the owner scheduled. */
    if (q->first != NULL)
        return false;
    /* A relaxed peek spares a CAS on the producers' cache line while nodes are queued. */
    if (ck_pr_load_ptr(&q->head) != NULL)
        return false;
    /* Release: the owner's run (its state writes, the messages it consumed) must be complete
     * before another thread can see IDLE, schedule the owner and run it. Pairs with the
     * fence_acquire after a producer's CAS that returned IDLE in mbox_push_mp. */
    ck_pr_fence_release();
    return ck_pr_cas_ptr(&q->head, NULL, MBOX_IDLE_PTR);
}

bool mbox_is_empty_sc(const mbox_t *q)
{
    /* Consumer-side snapshot; the head load pairs with the producers' CAS. */
    mbox_node_t *h = ck_pr_load_ptr(&q->head);

    return q->first == NULL && (h == NULL || h == MBOX_IDLE_PTR);
}

uint32_t mbox_depth_max_sc(mbox_t *q)
{
    uint32_t d = q->depth_max;

    q->depth_max = 0;
    return d;
}
