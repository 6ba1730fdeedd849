/* msg.h: the actor message (msg_t) and its per-thread pools.
 * Called by every sender (msg_alloc, then actor_send) and by every final owner (msg_free).
 * A message never holds a lock and msg_alloc/msg_free never block; once a thread's pool is
 * warm they never call malloc either (msg_stats().refills stays flat).
 * Invariant (ownership): at any moment a message has exactly one owner - the thread that
 * allocated it, a mailbox, the actor that popped it, or a pool's free list - and it is freed
 * exactly once, by whoever owns it last (msg_free). */
#ifndef RINGCHAT_ACTORS_MSG_H
#define RINGCHAT_ACTORS_MSG_H

#include "ckpr.h"
#include "mbox.h"

#include <ck_stack.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of inline payload per message. 64 bytes = one cache line of user data. */
#define MSG_PAYLOAD_SIZE 64

typedef struct msg_pool msg_pool_t;
typedef struct msg msg_t;

/* Called by msg_free just before the memory goes back to its pool, on every free path
 * (the receiver's own msg_free, a message dropped because its actor exited, a mailbox
 * drained by sched_destroy). Use it to release what the payload refers to. */
typedef void (*msg_drop_fn)(msg_t *m);

struct msg {
    /* A message is in at most one list at a time: a mailbox (node) or a pool's free list or
     * cross-thread return stack (ret). Both are the first word of the message. */
    union {
        mbox_node_t node;
        ck_stack_entry_t ret;
    } link;
    msg_pool_t *pool; /* home pool: set at allocation, never changed */
    msg_drop_fn drop; /* optional; NULL by default */
    uint32_t type;    /* application-defined; the runtime never interprets it */
    uint32_t to_gen;  /* set by actor_send: generation of the target actor (see actor.h) */
    union {
        unsigned char bytes[MSG_PAYLOAD_SIZE];
        uint64_t u64[MSG_PAYLOAD_SIZE / 8];
        uint32_t u32[MSG_PAYLOAD_SIZE / 4];
        void *ptr[MSG_PAYLOAD_SIZE / sizeof(void *)];
    } p;
};

/* Take a message from the calling thread's pool. type is stored in m->type, drop is NULL and
 * the payload is NOT cleared. Returns NULL only if malloc fails while refilling. */
msg_t *msg_alloc(uint32_t type);

/* Give a message back: calls m->drop if set, then returns the memory to its home pool
 * (a plain list push if the caller's pool is the home pool, else one CAS onto the home
 * pool's return stack). Any thread may free any message. NULL is ignored. */
void msg_free(msg_t *m);

/* Counters summed over every pool the process has created. Exact when no thread is
 * allocating or freeing; approximate (but each counter monotonic) otherwise. */
typedef struct msg_stats {
    uint64_t allocs;       /* msg_alloc calls that returned a message */
    uint64_t frees;        /* msg_free calls */
    uint64_t remote_frees; /* frees that went to another thread's pool */
    uint64_t refills;      /* slabs malloc'ed (MSG_SLAB messages each) */
    uint64_t slabs_freed;  /* slabs msg_trim gave back to malloc */
    uint64_t pools;        /* pools created (one per thread that used messages) */
} msg_stats_t;

void msg_stats(msg_stats_t *out);

/* Wholly free slabs a trim keeps, so that an idle pool does not malloc on its next message. */
#define MSG_TRIM_KEEP 2

/* Gives back to malloc the calling thread's slabs whose messages are all free, but
 * for MSG_TRIM_KEEP kept for the next burst; returns the bytes freed. Takes no lock; walks
 * the pool's free list (cold path: call it every few seconds, not per message). */
size_t msg_trim(void);

/* Bytes of one slab (for memory accounting: (refills - slabs_freed) * this). */
size_t msg_slab_bytes(void);

/* Messages per slab: how many msg_alloc calls one malloc serves. */
#define MSG_SLAB 256

/* The message a mailbox node belongs to (the node is the first member). */
static inline msg_t *msg_of_node(mbox_node_t *n)
{
    return (msg_t *)(void *)((char *)n - offsetof(msg_t, link.node));
}

#endif /* RINGCHAT_ACTORS_MSG_H */
