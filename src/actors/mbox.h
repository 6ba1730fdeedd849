/* mbox.h: actor mailbox, a gap-free multi-producer single-consumer queue built on ck_pr.
 * Pushed by any thread (mbox_push_mp); popped and marked idle only by the one thread that is
 * currently running the owner (mbox_pop_sc, mbox_mark_idle_sc). The scheduler reuses the same
 * queue (without the idle mark) for its cross-thread inject queues.
 * Never allocates, never blocks, never spins: a push is one successful CAS (retried only when
 * another thread changed the head meanwhile, i.e. made progress).
 * Gap-free: a push is either completely visible to the consumer or not at all; there is no
 * "pushed but not yet linked" state, so the consumer never waits for a producer.
 * Invariant: head == MBOX_IDLE <=> the queue is empty and its owner is on no run queue.
 * Unbounded by design: back-pressure lives where the work enters (see docs/actors.md). */
#ifndef RINGCHAT_ACTORS_MBOX_H
#define RINGCHAT_ACTORS_MBOX_H

#include "ckpr.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct mbox_node mbox_node_t;
struct mbox_node {
    mbox_node_t *next;
};

/* The value of head meaning "empty and not scheduled". Nodes are at least pointer-aligned,
 * so no node lives at address 1. */
#define MBOX_IDLE ((uintptr_t)1)

typedef struct mbox {
    /* Producers' side, alone on its cache line: a LIFO stack of pushed nodes (newest first,
     * linked through next), NULL when empty, or MBOX_IDLE. Every push CASes it; the consumer
     * takes the whole stack with one exchange. */
    _Alignas(CK_MD_CACHELINE) mbox_node_t *head;
    /* Consumer's side, touched only by the thread running the owner: the nodes taken from
     * head, reversed into push order (oldest first), not yet returned by mbox_pop_sc. */
    _Alignas(CK_MD_CACHELINE) mbox_node_t *first;
    /* Consumer's side too: the most nodes one exchange has taken since the consumer last
     * read it (mbox_depth_max_sc) - the depth the mailbox had reached, since nothing but an
     * exchange ever shortens the stack. Counted while reversing: no extra pass. */
    uint32_t depth_max;
} mbox_t;

/* Initialise an empty queue. idle=true: start with the IDLE mark (a new actor is on no run
 * queue, so its first message must schedule it). idle=false: a plain MPSC queue whose pushes
 * never report "was idle" (scheduler inject queues; never call mbox_mark_idle_sc on it).
 * Not thread-safe; call before sharing. */
void mbox_init(mbox_t *q, bool idle);

/* Append n (any thread). Returns true iff the queue carried the IDLE mark, i.e. it was empty
 * and its owner unscheduled: the caller, and only the caller, must now schedule the owner.
 * Everything the caller wrote to *n before the push is visible to the consumer that pops it.
 * When this returns, n is fully visible: the next mbox_pop_sc can return it. */
bool mbox_push_mp(mbox_t *q, mbox_node_t *n);

/* Remove the oldest node (consumer only). Returns NULL only when the queue is empty: every
 * push that has returned (or whose CAS has landed) is poppable, in push order per producer. */
mbox_node_t *mbox_pop_sc(mbox_t *q);

/* Consumer only, at the end of a run: try to go from "empty, scheduled" to "empty, IDLE"
 * with one CAS (no CAS at all while a node is visibly queued). true: done - the caller must not
 * touch the owner again (the next push will schedule it, perhaps on another thread). false: a
 * message is queued (and, the queue being gap-free, the next mbox_pop_sc will return it); the
 * owner must stay scheduled (run it again). */
bool mbox_mark_idle_sc(mbox_t *q);

/* Consumer only: the deepest the queue has been at an exchange since the last call, then
 * reset to 0 (for a high-water mark metric). */
uint32_t mbox_depth_max_sc(mbox_t *q);

/* Consumer only: true if nothing is queued (idle mark ignored). Exact, since the queue has no
 * half-finished pushes. Used by tests and by sched_destroy's checks. */
bool mbox_is_empty_sc(const mbox_t *q);

#endif /* RINGCHAT_ACTORS_MBOX_H */
