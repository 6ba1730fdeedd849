/* runq.c: bounded SPMC FIFO ring (ck_ring's SPMC algorithm on ck_pr; see runq.h).
 * Pushed only by the owning worker; popped by the owner and by stealing workers.
 * Never blocks: a pop retries its CAS only when another consumer made progress.
 * Invariant: head <= tail <= head + capacity; only the owner writes tail and the slots. */
#include "runq.h"

#include <errno.h>
#include <stdlib.h>

int runq_init(runq_t *q, uint32_t capacity)
{
    q->slots = calloc(capacity, sizeof(*q->slots));
    if (q->slots == NULL)
        return -ENOMEM;
    q->head = 0;
    q->tail = 0;
    q->mask = capacity - 1;
    return 0;
}

void runq_destroy(runq_t *q)
{
    free(q->slots);
    q->slots = NULL;
}

bool runq_push_owner(runq_t *q, void *item)
{
    uint32_t tail = q->tail; /* we are the only writer of tail */
    /* A stale (smaller) head only makes the ring look fuller than it is. Pairs with the
     * consumers' CAS on head: once we see head advanced past a slot, its reader is done. */
    uint32_t head = ck_pr_load_32(&q->head);

    if (tail - head > q->mask)
        return false;
    /* Atomic store: a slow consumer may be reading this slot with ck_pr_load_ptr (its CAS
     * will fail); the atomic pair keeps that benign overlap free of data races. */
    ck_pr_store_ptr(&q->slots[tail & q->mask], item);
    /* Release: the slot write must be visible before the new tail. Pairs with the
     * ck_pr_fence_load between a consumer's tail load and its slot load. */
    ck_pr_fence_store();
    ck_pr_store_32(&q->tail, tail + 1);
    return true;
}

void *runq_pop(runq_t *q)
{
    uint32_t head = ck_pr_load_32(&q->head);

    for (;;) {
        /* Order: head snapshot, then tail, then the slot (ck_ring_trydequeue_mc's order). */
        ck_pr_fence_load();
        uint32_t tail = ck_pr_load_32(&q->tail);

        if (head == tail)
            return NULL;
        ck_pr_fence_load(); /* acquire: pairs with the owner's fence_store before tail */
        void *item = ck_pr_load_ptr(&q->slots[head & q->mask]);
        /* The slot read must complete before our CAS publishes "slot free" to the owner. */
        ck_pr_fence_load_atomic();
        /* Claim slot head. On failure another consumer took it; head_now is the new head. */
        if (ck_pr_cas_32_value(&q->head, head, head + 1, &head))
            return item;
    }
}

uint32_t runq_len(const runq_t *q)
{
    uint32_t head = ck_pr_load_32(&q->head);
    uint32_t tail = ck_pr_load_32(&q->tail);

    return tail - head;
}
