/* actor.c: spawn, send, exit and the run loop of one actor, plus the slot table.
 * actor_spawn/actor_send: any thread. actor_run: only the worker that popped the actor from a
 * run queue. actor_exit and the accessors: only inside the actor's own behaviour.
 * Never blocks on the message path; the slot mutex is taken by spawn and exit only.
 *
 * Lifecycle of a slot (see docs/actors.md for the full argument):
 *   free (gen even) --spawn: type, state, then gen+1 (release)--> live (gen odd)
 *   live --actor_exit, at the end of that behaviour: gen+1, on_exit, back to the free list-->
 *   free. Slots are allocated in slabs and never returned to malloc before sched_destroy
 *   ("type-stable memory"), so a stale handle's gen check reads valid memory.
 * The mailbox is NOT reset between lives: a sender that passed the gen check just before an
 * exit may still push. Every message carries the generation it was sent to (m->to_gen), and
 * the run loop delivers a message only if that generation is the one now live; otherwise it
 * frees it. So each message is either delivered to the incarnation it was addressed to or
 * released, exactly once, whichever thread runs the slot next. */
#include "actor_impl.h"

#include <errno.h>
#include <stdlib.h>

#define ACTOR_SLAB 256

struct actor_slab {
    actor_slab_t *next;
    actor_t actors[ACTOR_SLAB];
};

/* True if generation a is newer than b (modulo 2^32). */
static inline bool gen_newer(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) > 0;
}

/* Acquire load of a slot's generation. Pairs with the release in actor_spawn, so a runner that
 * sees a live generation also sees the type and state written before it. */
static inline uint32_t gen_load_acquire(const actor_t *a)
{
    uint32_t g = ck_pr_load_32(&a->gen);

    ck_pr_fence_load();
    return g;
}

/* Control path: take a free slot, growing the table by a slab if needed. */
static actor_t *slot_get(sched_t *s)
{
    actor_t *a;

    pthread_mutex_lock(&s->slot_lock);
    if (s->free_slots == NULL) {
        actor_slab_t *slab = aligned_alloc(CK_MD_CACHELINE, sizeof(*slab));

        if (slab == NULL) {
            pthread_mutex_unlock(&s->slot_lock);
            return NULL;
        }
        slab->next = s->slabs;
        s->slabs = slab;
        /* Push in reverse so the free list hands slots out in address order. */
        for (size_t i = ACTOR_SLAB; i-- > 0;) {
            actor_t *x = &slab->actors[i];

            *x = (actor_t){.gen = 0, .sched = s};
            mbox_init(&x->mbox, true);
            x->free_next = s->free_slots;
            s->free_slots = x;
        }
    }
    a = s->free_slots;
    s->free_slots = a->free_next;
    s->spawns++;
    pthread_mutex_unlock(&s->slot_lock);
    return a;
}

/* Control path: the slot may be reused by the next spawn from here on. */
static void slot_put(sched_t *s, actor_t *a)
{
    pthread_mutex_lock(&s->slot_lock);
    a->free_next = s->free_slots;
    s->free_slots = a;
    s->exits++;
    pthread_mutex_unlock(&s->slot_lock);
}

int actor_spawn(sched_t *s, const actor_type_t *type, void *state, actor_ref_t *out)
{
    actor_t *a = slot_get(s);

    if (a == NULL) {
        *out = ACTOR_REF_NULL;
        return -ENOMEM;
    }
    a->type = type;
    a->state = state;
    /* a->gen is even (free) and only we write it now; the mutex in slot_get orders us after
     * the exit that freed the slot. */
    uint32_t gen = a->gen + 1;
    /* Release: type and state before the live generation. Pairs with gen_load_acquire in
     * actor_run. Senders need no ordering: they only compare the value. */
    ck_pr_fence_store();
    ck_pr_store_32(&a->gen, gen);
    *out = (actor_ref_t){a, gen};
    return 0;
}

int actor_send(actor_ref_t to, msg_t *m)
{
    actor_t *a = to.a;

    /* A snapshot is enough: if the actor exits right after this check, the message still
     * carries to.gen and the run loop releases it (see the file comment). */
    if (a == NULL || ck_pr_load_32(&a->gen) != to.gen) {
        msg_free(m);
        return -ESRCH;
    }
    m->to_gen = to.gen;
    /* After the push m may already be consumed on another thread: do not touch it. */
    if (mbox_push_mp(&a->mbox, &m->link.node))
        sched_schedule(a->sched, a); /* we saw IDLE: scheduling is ours, exactly once */
    return 0;
}

bool actor_ref_alive(actor_ref_t r)
{
    return r.a != NULL && ck_pr_load_32(&r.a->gen) == r.gen; /* snapshot, as in actor_send */
}

actor_ref_t actor_self(const actor_t *self)
{
    /* The runner's own view of gen is current: only the runner changes a live gen. */
    return (actor_ref_t){(actor_t *)self, ck_pr_load_32(&self->gen)};
}

void *actor_state(const actor_t *self)
{
    return self->state;
}

sched_t *actor_sched(const actor_t *self)
{
    return self->sched;
}

void actor_exit(actor_t *self)
{
    self->exiting = true; /* runner-owned; acted on when the behaviour returns */
}

/* The behaviour called actor_exit: finish the incarnation. Returns the new (dead) gen. */
static uint32_t actor_finish_exit(actor_t *a, uint32_t gen)
{
    uint32_t dead = gen + 1;

    /* From here on actor_send fails with -ESRCH (a sender that already passed its check may
     * still push; the message carries the old gen and will be released). */
    ck_pr_store_32(&a->gen, dead);
    if (a->type->on_exit != NULL)
        a->type->on_exit(a, a->state);
    a->type = NULL;
    a->state = NULL;
    a->exiting = false;
    /* The mutex orders everything above before the next spawn of this slot, which may run
     * on another thread while we keep draining the mailbox below (it never touches it). */
    slot_put(a->sched, a);
    return dead;
}

void actor_run(sched_worker_t *w, actor_t *a)
{
    uint32_t gen = gen_load_acquire(a);
    unsigned n;

    for (n = 0; n < ACTOR_BATCH; n++) {
        mbox_node_t *node = mbox_pop_sc(&a->mbox);

        if (node == NULL)
            break;
        msg_t *m = msg_of_node(node);
        /* A message for a newer incarnation proves that incarnation was published before the
         * message was pushed; the pop acquired the push, so reloading gen now sees it. */
        if (gen_newer(m->to_gen, gen))
            gen = gen_load_acquire(a);
        if (m->to_gen != gen) {
            msg_free(m); /* addressed to an incarnation that has exited */
            sched_count(&w->stale_drops);
            continue;
        }
        a->type->behaviour(a, m);
        sched_count(&w->delivered);
        if (a->exiting)
            gen = actor_finish_exit(a, gen);
    }
    sched_count(&w->runs);
    uint32_t depth = mbox_depth_max_sc(&a->mbox);
    if (depth > w->mbox_depth_max)
        ck_pr_store_64(&w->mbox_depth_max, depth); /* single writer, as sched_count */
    /* A run that found nothing to pop. The mailbox is gap-free, so this cannot happen: a run
     * starts only after a push that saw IDLE (that message is queued) or after mark_idle
     * failed (a message is queued); only this runner removes messages. Counted, not
     * asserted, so that tests can prove it stays 0 (sched_stats_t.stalls). */
    if (n == 0)
        sched_count(&w->stalls);
    /* Rule: after a successful mbox_mark_idle_sc we must not touch `a` again - the next send
     * may schedule it on another thread at once. Everything above happens before that CAS.
     * After a full batch the mailbox may happen to be empty too: mark_idle handles both cases
     * (it fails without a CAS while a node is still queued). */
    if (!mbox_mark_idle_sc(&a->mbox))
        sched_schedule(a->sched, a); /* mail is queued: back to the tail of our queue */
}

/* sched_destroy, single-threaded: exit the live actors, release queued messages, free slabs.
 * Mailboxes are drained after on_exit, so the state destructor sees no more deliveries. */
void actor_slots_destroy(sched_t *s)
{
    actor_slab_t *slab = s->slabs;

    while (slab != NULL) {
        actor_slab_t *next = slab->next;

        for (size_t i = 0; i < ACTOR_SLAB; i++) {
            actor_t *a = &slab->actors[i];
            mbox_node_t *node;

            if ((a->gen & 1u) != 0) {
                a->gen++;
                if (a->type->on_exit != NULL)
                    a->type->on_exit(a, a->state);
                s->exits++;
            }
            while ((node = mbox_pop_sc(&a->mbox)) != NULL)
                msg_free(msg_of_node(node));
            RC_ASSERT(mbox_is_empty_sc(&a->mbox));
        }
        free(slab);
        slab = next;
    }
    s->slabs = NULL;
    s->free_slots = NULL;
}
