/* runq.h: a worker's run queue, a bounded single-producer multi-consumer FIFO ring on ck_pr.
 * The owning worker pushes (runq_push_owner) and pops (runq_pop); idle workers steal with the
 * same runq_pop. Never blocks and never allocates after runq_init; a full ring makes
 * runq_push_owner return false and the caller uses its unbounded inject queue instead.
 * Invariant: head <= tail <= head + capacity (as unsigned counters), slots [head, tail) hold
 * the queued items in FIFO order.
 *
 * This is the algorithm of ck_ring's SPMC mode (ck_ring_enqueue_spmc /
 * ck_ring_trydequeue_spmc), written out so that the slot read is a ck_pr_load_ptr instead of
 * a memcpy: a consumer may read a slot that the producer is overwriting at that very moment
 * (its CAS on head then fails and the value is discarded). With memcpy that is a real data
 * race in C11 terms, which ThreadSanitizer reports; with an atomic load it is not. */
#ifndef RINGCHAT_ACTORS_RUNQ_H
#define RINGCHAT_ACTORS_RUNQ_H

#include "ckpr.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct runq {
    /* Consumers' counter: the owner and thieves advance it with CAS. */
    _Alignas(CK_MD_CACHELINE) uint32_t head;
    /* Producer's counter: written only by the owner, read by thieves. */
    _Alignas(CK_MD_CACHELINE) uint32_t tail;
    uint32_t mask;
    void **slots;
} runq_t;

/* capacity must be a power of two. Returns 0 or -ENOMEM. */
int runq_init(runq_t *q, uint32_t capacity);
void runq_destroy(runq_t *q);

/* Owner only. false if the ring is full. */
bool runq_push_owner(runq_t *q, void *item);

/* Any thread (owner or thief). Oldest item, or NULL if the ring looked empty. */
void *runq_pop(runq_t *q);

/* Any thread; a snapshot, exact only for the owner with no thief running. */
uint32_t runq_len(const runq_t *q);

#endif /* RINGCHAT_ACTORS_RUNQ_H */
