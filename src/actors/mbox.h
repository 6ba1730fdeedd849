/* mbox.h: actor mailbox, an intrusive multi-producer single-consumer queue built on ck_pr.
 * Pushed by any thread (mbox_push_mp); popped and marked idle only by the one thread that is
 * currently running the owner (mbox_pop_sc, mbox_mark_idle_sc). The scheduler reuses the same
 * queue (without the idle mark) for its cross-thread inject queues.
 * Never allocates, never blocks, never spins: a push is one exchange plus one store.
 * Invariant: (head & MBOX_IDLE) <=> the queue is empty and its owner is on no run queue.
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

/* The low bit of head: "empty and not scheduled". Nodes are at least 8-byte aligned. */
#define MBOX_IDLE ((uintptr_t)1)

typedef struct mbox {
    /* Producers' side, alone on its cache line: every push exchanges head. */
    _Alignas(CK_MD_CACHELINE) mbox_node_t *head;
    /* Consumer's side: tail is touched only by the consumer. The stub node is the
     * permanent dummy of Vyukov's queue; producers write stub.next when the stub is last. */
    _Alignas(CK_MD_CACHELINE) mbox_node_t *tail;
    mbox_node_t stub;
} mbox_t;

/* Initialise an empty queue. idle=true: start with the IDLE mark (a new actor is on no run
 * queue, so its first message must schedule it). idle=false: a plain MPSC queue whose pushes
 * never report "was idle" (scheduler inject queues). Not thread-safe; call before sharing. */
void mbox_init(mbox_t *q, bool idle);

/* Append n (any thread). Returns true iff the queue carried the IDLE mark, i.e. it was empty
 * and its owner unscheduled: the caller, and only the caller, must now schedule the owner.
 * Everything the caller wrote to *n before the push is visible to the consumer that pops it. */
bool mbox_push_mp(mbox_t *q, mbox_node_t *n);

/* Remove the oldest node (consumer only). Returns NULL when the queue is empty *or* when the
 * next node is being pushed right now (a producer has exchanged head but not yet linked);
 * in the second case mbox_mark_idle_sc will fail, so the consumer stays scheduled. */
mbox_node_t *mbox_pop_sc(mbox_t *q);

/* Consumer only, at the end of a run: try to go from "empty, scheduled" to "empty, IDLE"
 * with one CAS (no CAS at all while a node is visibly queued). true: done - the caller must not
 * touch the owner again (the next push will schedule it, perhaps on another thread). false: a
 * message arrived or is arriving; the owner must stay scheduled (run it again). */
bool mbox_mark_idle_sc(mbox_t *q);

/* Consumer only: true if the queue is in its quiescent empty state (tail and head at the stub,
 * idle mark ignored). Used by tests and by sched_destroy's checks. */
bool mbox_is_empty_sc(const mbox_t *q);

#endif /* RINGCHAT_ACTORS_MBOX_H */
