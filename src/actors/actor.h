/* actor.h: actors - a behaviour, a state, a mailbox and a scheduling state - and the
 * generation-checked handles (actor_ref_t) through which everyone else reaches them.
 * Called by the chat actors, the network layer (to inject I/O events as messages) and tests.
 * Never blocks; actor_send never takes a lock. actor_spawn takes the slot-table mutex (the
 * control path, not the message path).
 * Invariants (DESIGN.md 1-4, argued in docs/actors.md):
 *   1. a send to an idle actor schedules it exactly once;
 *   2. an actor runs on one thread at a time and sees each sender's messages in send order;
 *   3. every message is freed exactly once (by its last owner; msg.h), actor state exactly once
 *      (by on_exit, after the last behaviour call); actor slots are type-stable, never freed
 *      before sched_destroy;
 *   4. a handle whose generation no longer matches is detected (-ESRCH) and the message is
 *      released; a slot is never freed, so the check itself never touches freed memory. */
#ifndef RINGCHAT_ACTORS_ACTOR_H
#define RINGCHAT_ACTORS_ACTOR_H

#include "msg.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct sched sched_t;
typedef struct actor actor_t;

/* What an actor does. Shared by all actors of one kind; must outlive them. */
typedef struct actor_type {
    const char *name;
    /* Runs m on the actor's current thread. Ownership of m passes to the behaviour: it must
     * msg_free(m) or hand m on (actor_send) before returning. Never block in here. */
    void (*behaviour)(actor_t *self, msg_t *m);
    /* Optional. Called exactly once per actor, on the thread that ran its last behaviour
     * (or by sched_destroy for actors still alive then), after which state is never touched
     * by the runtime again. */
    void (*on_exit)(actor_t *self, void *state);
} actor_type_t;

/* A handle: slot pointer + generation. Copy it freely; it never keeps the actor alive.
 * Live generations are odd; a slot's generation advances on spawn and on exit. */
typedef struct actor_ref {
    actor_t *a;
    uint32_t gen;
} actor_ref_t;

#define ACTOR_REF_NULL ((actor_ref_t){NULL, 0})

/* Messages an actor handles per run before it yields its worker (fairness). */
#define ACTOR_BATCH 64

/* Create an actor (any thread). It is idle until its first message. Returns 0, or -ENOMEM
 * (*out is then ACTOR_REF_NULL). */
int actor_spawn(sched_t *s, const actor_type_t *type, void *state, actor_ref_t *out);

/* Send m to `to` (any thread). Ownership of m always passes to the runtime:
 *   0       m was queued; it will be delivered, or released if the actor exits first;
 *   -ESRCH  the handle is stale (the actor exited or its slot was reused): m was freed. */
int actor_send(actor_ref_t to, msg_t *m);

/* Snapshot: does the handle still name a live actor? (It may exit right after.) */
bool actor_ref_alive(actor_ref_t r);

static inline bool actor_ref_eq(actor_ref_t x, actor_ref_t y)
{
    return x.a == y.a && x.gen == y.gen;
}

/* Only from inside the actor's own behaviour (or on_exit for the accessors): */
actor_ref_t actor_self(const actor_t *self);
void *actor_state(const actor_t *self);
sched_t *actor_sched(const actor_t *self);
/* Stop after this behaviour returns: on_exit runs, the handle goes stale, messages still
 * queued (or arriving later) are released without being delivered. */
void actor_exit(actor_t *self);

#endif /* RINGCHAT_ACTORS_ACTOR_H */
