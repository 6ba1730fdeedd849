/* vyukov.h: the runtime's previous mailbox (Vyukov's intrusive MPSC queue with a stub, plus
 * Pony's "low bit of head = idle" mark), kept only so that mailbox_bench can measure it next
 * to the current one (src/actors/mbox.c). Used by nothing else; never link it into the server.
 * Never allocates or blocks, but it is NOT gap-free: a push is an exchange followed by a link
 * store, and between the two the consumer cannot see the node (vyk_pop_sc returns NULL and
 * vyk_mark_idle_sc fails, so the consumer must run again: the "stall" that the new mailbox
 * removes). Invariant: (head & VYK_IDLE) <=> empty and consumer not scheduled. */
#ifndef RINGCHAT_BENCH_VYUKOV_H
#define RINGCHAT_BENCH_VYUKOV_H

#include "mbox.h" /* mbox_node_t: the same intrusive link as the runtime's messages */

#include <stdbool.h>
#include <stdint.h>

#define VYK_IDLE ((uintptr_t)1)

typedef struct vyk {
    _Alignas(CK_MD_CACHELINE) mbox_node_t *head; /* newest node, tagged when idle */
    _Alignas(CK_MD_CACHELINE) mbox_node_t *tail; /* oldest node not yet returned */
    mbox_node_t stub;
} vyk_t;

void vyk_init(vyk_t *q, bool idle);
/* Any thread. true iff the queue was idle: the caller must schedule the consumer. */
bool vyk_push_mp(vyk_t *q, mbox_node_t *n);
/* Consumer. NULL when empty OR when the next node is still being linked (the gap). */
mbox_node_t *vyk_pop_sc(vyk_t *q);
/* Consumer. false: not empty, or a push is half-done: the consumer stays scheduled. */
bool vyk_mark_idle_sc(vyk_t *q);

#endif /* RINGCHAT_BENCH_VYUKOV_H */
