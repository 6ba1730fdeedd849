/* scheduler.c: per-worker run queues, work stealing, and the idle/wake protocol.
 * Called by actor_send/actor_run (sched_schedule) on any thread, and by a worker's driver
 * (sched_run_batch, sched_idle_begin/end) on that worker's own thread.
 * Never blocks, sleeps or polls; never takes a mutex. Blocking belongs to the driver.
 * Invariant: an actor is on at most one queue (a->queued), and only while not running.
 *
 * Where a scheduled actor goes:
 *   - scheduled by one of our workers (a behaviour sent to an idle actor, or an actor that
 *     still has mail after its batch): the tail of that worker's own ring (runq, FIFO). The ring
 *     is bounded; on overflow the actor goes to the worker's own inject queue.
 *   - scheduled by any other thread: the inject queue (an mbox_t of actors: unbounded MPSC,
 *     the same ck_pr queue as mailboxes) of a worker chosen round-robin, then that worker is
 *     woken if it announced it was going to sleep.
 * A worker runs its ring first, then its inject queue, then steals from other rings; at the
 * start of each batch it moves inject entries into its ring so they cannot starve.
 *
 * Idle/wake protocol (no lost wake-up), numbered rules:
 *   W1. an idle worker first stores sleep = SLEEPING (an exchange, a full barrier), then
 *       re-checks its ring and inject queue, and blocks only if both are empty;
 *   P1. a thread that injects an actor first pushes it onto the inject queue (the push is
 *       complete when its CAS lands), then issues a store-load fence, then reads the
 *       worker's sleep word;
 *   P2. if it reads SLEEPING, it exchanges sleep to AWAKE; whoever's exchange returns
 *       SLEEPING (the injector, a thief-waker, or the worker itself in sched_idle_end) is the
 *       one that ends that idle period - only an injector/waker calls the wake hook.
 * W1 and P1 form a Dekker pair: with a full fence between each side's store and load, at
 * least one side sees the other's store, so either the worker sees the actor and does not
 * block, or the injector sees SLEEPING and wakes it. The hook (a semaphore post, an eventfd
 * write) counts, so a wake that races with a worker that did not block is only a spurious
 * return from its next block, never a lost one. */
#include "actor_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Ring slots per worker. Overflow spills into the unbounded inject queue. */
#define SCHED_RING_CAP 4096u

static _Thread_local sched_worker_t *tls_worker;
static _Thread_local uint32_t tls_rr; /* round-robin cursor for external threads */

_Noreturn void rc_assert_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "ringchat actors: invariant violated: %s (%s:%d)\n", what, file, line);
    abort();
}

sched_worker_t *sched_tls_worker(void)
{
    return tls_worker;
}

void sched_count(uint64_t *counter)
{
    /* Single writer (the owner thread); the store is atomic so sched_stats may read it. */
    ck_pr_store_64(counter, *counter + 1);
}

static actor_t *actor_of_rq_node(mbox_node_t *n)
{
    return (actor_t *)(void *)((char *)n - offsetof(actor_t, rq_node));
}

static void builtin_wake(void *ctx, unsigned worker)
{
    sched_t *s = ctx;

    sem_post(&s->workers[worker].sem);
}

sched_t *sched_create(unsigned nworkers, const sched_hooks_t *hooks)
{
    if (nworkers == 0 || (hooks != NULL && hooks->wake == NULL))
        return NULL;
    sched_t *s = aligned_alloc(CK_MD_CACHELINE, sizeof(*s));
    if (s == NULL)
        return NULL;
    memset(s, 0, sizeof(*s));
    s->workers = aligned_alloc(CK_MD_CACHELINE, sizeof(sched_worker_t) * nworkers);
    if (s->workers == NULL) {
        free(s);
        return NULL;
    }
    memset(s->workers, 0, sizeof(sched_worker_t) * nworkers);
    s->nworkers = nworkers;
    s->builtin_wake = hooks == NULL;
    s->hooks = hooks != NULL ? *hooks : (sched_hooks_t){builtin_wake, s};
    pthread_mutex_init(&s->slot_lock, NULL);
    for (unsigned i = 0; i < nworkers; i++) {
        sched_worker_t *w = &s->workers[i];

        w->s = s;
        w->id = i;
        mbox_init(&w->inject, false);
        sem_init(&w->sem, 0, 0);
        w->timers = timer_heap_create(s, i);
        if (runq_init(&w->rq, SCHED_RING_CAP) != 0 || w->timers == NULL) {
            s->nworkers = i + 1;
            sched_destroy(s);
            return NULL;
        }
    }
    return s;
}

void sched_destroy(sched_t *s)
{
    if (s == NULL)
        return;
    if (s->pool_running)
        sched_pool_stop(s);
    actor_slots_destroy(s);
    for (unsigned i = 0; i < s->nworkers; i++) {
        sched_worker_t *w = &s->workers[i];

        runq_destroy(&w->rq);
        timer_heap_destroy(w->timers);
        sem_destroy(&w->sem);
    }
    pthread_mutex_destroy(&s->slot_lock);
    free(s->workers);
    free(s);
}

unsigned sched_nworkers(const sched_t *s)
{
    return s->nworkers;
}

void sched_worker_enter(sched_t *s, unsigned w)
{
    RC_ASSERT(w < s->nworkers);
    RC_ASSERT(tls_worker == NULL);
    tls_worker = &s->workers[w];
}

void sched_worker_leave(sched_t *s, unsigned w)
{
    RC_ASSERT(tls_worker == &s->workers[w]);
    tls_worker = NULL;
}

int sched_current_worker(const sched_t *s)
{
    sched_worker_t *w = tls_worker;

    return w != NULL && w->s == s ? (int)w->id : -1;
}

void sched_wake_worker(sched_t *s, sched_worker_t *w)
{
    /* P2: only the exchange that returns SLEEPING ends this idle period. Pairs with the
     * exchanges in sched_idle_begin/sched_idle_end. */
    if (ck_pr_fas_32(&w->sleep, SCHED_AWAKE) != SCHED_SLEEPING)
        return;
    ck_pr_dec_32(&s->nsleeping); /* hint counter; pairs with the inc in sched_idle_begin */
    /* The waker may be any thread: count on the shared side with an atomic add. */
    ck_pr_inc_64(&w->wakeups);
    s->hooks.wake(s->hooks.ctx, w->id);
}

/* A worker has more queued than it can run right now and someone sleeps: wake one sleeper so
 * it can steal. A heuristic only (no correctness depends on it), hence the relaxed loads. */
static void wake_thief(sched_t *s, sched_worker_t *self)
{
    for (unsigned i = 1; i < s->nworkers; i++) {
        sched_worker_t *v = &s->workers[(self->id + i) % s->nworkers];

        if (ck_pr_load_32(&v->sleep) == SCHED_SLEEPING) {
            sched_wake_worker(s, v);
            return;
        }
    }
}

/* From another thread: inject into worker t and apply P1/P2. */
static void inject_push(sched_t *s, sched_worker_t *w, actor_t *a)
{
    (void)mbox_push_mp(&w->inject, &a->rq_node); /* the inject queue has no IDLE mark */
    /* P1: our push (its CAS) before our read of sleep (mfence on x86). Pairs with the
     * exchange + fence in sched_idle_begin (W1). */
    ck_pr_fence_store_load();
    if (ck_pr_load_32(&w->sleep) == SCHED_SLEEPING)
        sched_wake_worker(s, w);
}

void sched_schedule(sched_t *s, actor_t *a)
{
    sched_worker_t *self = tls_worker;

    /* Invariant 1 check: only the holder of the scheduling right gets here (the sender that
     * saw MBOX_IDLE, or the runner rescheduling), so this plain flag is race-free; a double
     * schedule would trip this assert (or ThreadSanitizer). */
    RC_ASSERT(!a->queued);
    a->queued = true;
    if (self != NULL && self->s == s) {
        sched_count(&self->schedules);
        if (!runq_push_owner(&self->rq, a))
            (void)mbox_push_mp(&self->inject, &a->rq_node); /* ring full: spill */
        /* Relaxed hint load: if a sleeper exists and we have a backlog, let it steal. */
        if (ck_pr_load_32(&s->nsleeping) != 0 && runq_len(&self->rq) > 1)
            wake_thief(s, self);
        return;
    }
    if (tls_rr == 0) /* first inject from this thread: start at a thread-dependent worker */
        tls_rr = (uint32_t)((uintptr_t)&tls_rr >> 6) | 1u;
    sched_worker_t *w = &s->workers[tls_rr++ % s->nworkers];
    /* The target counts injects on the shared side: several threads may inject at once. */
    ck_pr_inc_64(&w->injects);
    inject_push(s, w, a);
}

/* Owner: next actor from the inject queue, or NULL. */
static actor_t *inject_pop(sched_worker_t *w)
{
    mbox_node_t *n = mbox_pop_sc(&w->inject);

    return n != NULL ? actor_of_rq_node(n) : NULL;
}

/* Owner: move up to max injected actors into the ring, so they are stealable and run in
 * FIFO order with the rest. */
static void inject_drain(sched_worker_t *w, size_t max)
{
    for (size_t i = 0; i < max && runq_len(&w->rq) <= w->rq.mask; i++) {
        actor_t *a = inject_pop(w);

        if (a == NULL)
            return;
        bool pushed = runq_push_owner(&w->rq, a); /* room checked above; only we push */

        RC_ASSERT(pushed);
    }
}

static actor_t *steal(sched_t *s, sched_worker_t *self)
{
    for (unsigned i = 1; i < s->nworkers; i++) {
        sched_worker_t *v = &s->workers[(self->id + self->steal_rr + i) % s->nworkers];
        actor_t *a = runq_pop(&v->rq);

        if (a != NULL) {
            self->steal_rr++;
            sched_count(&self->steals);
            return a;
        }
    }
    return NULL;
}

size_t sched_run_batch(sched_t *s, unsigned wi, size_t max_actors)
{
    sched_worker_t *w = &s->workers[wi];
    size_t n = 0;

    RC_ASSERT(tls_worker == w);
    inject_drain(w, max_actors);
    while (n < max_actors) {
        actor_t *a = runq_pop(&w->rq);

        if (a == NULL)
            a = inject_pop(w);
        if (a == NULL)
            a = steal(s, w);
        if (a == NULL)
            break;
        /* The queue hand-off (release push / acquire pop) orders this after the setter. */
        RC_ASSERT(a->queued);
        a->queued = false;
        actor_run(w, a);
        n++;
    }
    return n;
}

bool sched_has_work(sched_t *s, unsigned wi)
{
    sched_worker_t *w = &s->workers[wi];

    RC_ASSERT(tls_worker == w);
    if (runq_len(&w->rq) != 0)
        return true;
    /* Pop rather than peek: a popped actor goes to our ring, where run_batch finds it. */
    actor_t *a = inject_pop(w);
    if (a == NULL)
        return false;
    bool pushed = runq_push_owner(&w->rq, a); /* the ring was empty */

    RC_ASSERT(pushed);
    return true;
}

bool sched_idle_begin(sched_t *s, unsigned wi)
{
    sched_worker_t *w = &s->workers[wi];

    /* Hint first, so a waker never decrements below zero. */
    ck_pr_inc_32(&s->nsleeping);
    ck_pr_fence_atomic();
    /* W1: announce, then (after the full fence) re-check. Pairs with P1 in inject_push. */
    (void)ck_pr_fas_32(&w->sleep, SCHED_SLEEPING);
    ck_pr_fence_memory();
    if (!sched_has_work(s, wi))
        return true;
    sched_idle_end(s, wi);
    return false;
}

void sched_idle_end(sched_t *s, unsigned wi)
{
    sched_worker_t *w = &s->workers[wi];

    /* P2 from the owner's side: if nobody woke us, withdraw the announcement ourselves. */
    if (ck_pr_fas_32(&w->sleep, SCHED_AWAKE) == SCHED_SLEEPING)
        ck_pr_dec_32(&s->nsleeping);
}

void sched_worker_stats(sched_t *s, unsigned wi, sched_stats_t *out)
{
    sched_worker_t *w = &s->workers[wi];

    *out = (sched_stats_t){0};
    /* Loads pair with the single-writer stores of sched_count and the atomic adds. */
    out->schedules = ck_pr_load_64(&w->schedules) + ck_pr_load_64(&w->injects);
    out->runs = ck_pr_load_64(&w->runs);
    out->delivered = ck_pr_load_64(&w->delivered);
    out->stale_drops = ck_pr_load_64(&w->stale_drops);
    out->steals = ck_pr_load_64(&w->steals);
    out->stalls = ck_pr_load_64(&w->stalls);
    out->injects = ck_pr_load_64(&w->injects);
    out->wakeups = ck_pr_load_64(&w->wakeups);
    out->mbox_depth_max = ck_pr_load_64(&w->mbox_depth_max);
}

void sched_stats(sched_t *s, sched_stats_t *out)
{
    *out = (sched_stats_t){0};
    for (unsigned i = 0; i < s->nworkers; i++) {
        sched_stats_t one;

        sched_worker_stats(s, i, &one);
        out->schedules += one.schedules;
        out->runs += one.runs;
        out->delivered += one.delivered;
        out->stale_drops += one.stale_drops;
        out->steals += one.steals;
        out->stalls += one.stalls;
        out->injects += one.injects;
        out->wakeups += one.wakeups;
        if (one.mbox_depth_max > out->mbox_depth_max)
            out->mbox_depth_max = one.mbox_depth_max;
    }
    /* Control path (statistics): spawns and exits are counted under the slot
     * lock that spawn/exit already take; no message path touches it. */
    pthread_mutex_lock(&s->slot_lock);
    out->spawns = s->spawns;
    out->exits = s->exits;
    pthread_mutex_unlock(&s->slot_lock);
}
