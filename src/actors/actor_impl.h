/* actor_impl.h: private to src/actors - the layouts of actor_t, a worker and sched_t, shared
 * by actor.c, scheduler.c, scheduler_pool.c and timer.c. Nothing outside src/actors includes it.
 * Layout rule: state written by many threads sits on its own cache line, apart from
 * owner-only state (STYLE.md). */
#ifndef RINGCHAT_ACTORS_ACTOR_IMPL_H
#define RINGCHAT_ACTORS_ACTOR_IMPL_H

#include "actor.h"
#include "mbox.h"
#include "runq.h"
#include "scheduler.h"
#include "timer.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>

/* Cheap invariant checks stay on in release builds (STYLE.md). */
#define RC_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            rc_assert_fail(#cond, __FILE__, __LINE__);                                             \
    } while (0)
_Noreturn void rc_assert_fail(const char *what, const char *file, int line);

struct actor {
    /* Read-mostly line: every sender reads gen and sched; spawn writes type/state/gen. */
    _Alignas(CK_MD_CACHELINE) uint32_t gen; /* odd = live; written by spawn and by exit */
    sched_t *sched;                         /* constant for the slot's life */
    const actor_type_t *type;               /* written by spawn before gen (release) */
    void *state;
    actor_t *free_next; /* slot free list; guarded by sched->slot_lock */
    /* The mailbox: producers' line + consumer's line (see mbox.h). */
    mbox_t mbox;
    /* Runner-owned: touched by the thread running the actor, or by whoever holds the
     * exclusive right to schedule it (the sender that saw MBOX_IDLE). */
    _Alignas(CK_MD_CACHELINE) mbox_node_t rq_node; /* link in a worker's inject queue */
    bool queued;                                   /* on a run queue (invariant 1 check) */
    bool exiting;                                  /* actor_exit was called in this run */
};

typedef struct actor_slab actor_slab_t;

/* Per-worker timer heap (timer.c). */
typedef struct timer_heap timer_heap_t;
timer_heap_t *timer_heap_create(sched_t *s, unsigned worker);
void timer_heap_destroy(timer_heap_t *h);

typedef struct sched_worker {
    runq_t rq;     /* owner pushes; owner and thieves pop */
    mbox_t inject; /* any thread pushes (actors via rq_node); owner pops */
    /* Shared line: AWAKE / SLEEPING, flipped by the owner and by wakers; counters that
     * other threads bump with atomic adds. */
    _Alignas(CK_MD_CACHELINE) uint32_t sleep;
    uint64_t injects, wakeups;
    sem_t sem; /* built-in parking for sched_pool */
    /* Owner-only line. Counters are single-writer, stored with ck_pr_store_64. */
    _Alignas(CK_MD_CACHELINE) sched_t *s;
    unsigned id;
    uint32_t steal_rr;
    timer_heap_t *timers;
    pthread_t thread; /* pool thread, if any */
    uint64_t runs, delivered, stale_drops, steals, schedules, stalls;
    uint64_t mbox_depth_max; /* deepest mailbox this worker's runs have taken */
} sched_worker_t;

enum { SCHED_AWAKE = 0, SCHED_SLEEPING = 1 };

struct sched {
    unsigned nworkers;
    sched_worker_t *workers;
    sched_hooks_t hooks;
    bool builtin_wake;
    bool pool_running;
    uint32_t pool_stop;
    /* Shared line: number of workers currently announced SLEEPING (a hint for waking
     * thieves; the exact protocol uses each worker's sleep word). */
    _Alignas(CK_MD_CACHELINE) uint32_t nsleeping;
    /* Control path: slot allocation and recycling. */
    _Alignas(CK_MD_CACHELINE) pthread_mutex_t slot_lock;
    actor_t *free_slots;
    actor_slab_t *slabs;
    uint64_t spawns, exits; /* guarded by slot_lock */
};

/* scheduler.c */
sched_worker_t *sched_tls_worker(void);                /* calling thread's worker, or NULL */
void sched_schedule(sched_t *s, actor_t *a);           /* a's mailbox went IDLE -> busy */
void sched_count(uint64_t *counter);                   /* owner-only counter increment */
void sched_wake_worker(sched_t *s, sched_worker_t *w); /* SLEEPING -> AWAKE + hook */

/* actor.c */
void actor_run(sched_worker_t *w, actor_t *a);
void actor_slots_destroy(sched_t *s);

#endif /* RINGCHAT_ACTORS_ACTOR_IMPL_H */
