/* scheduler.h: the actor scheduler - N workers, each with a run queue; idle workers steal.
 * (Functions are prefixed sched_; the file is not called sched.h because that would shadow
 * libc's <sched.h> for every target using this include directory.)
 * Driven either by an external loop (the network worker: one thread per worker calling
 * sched_worker_enter, then sched_run_batch / timers / sched_idle_begin + its own blocking
 * wait / sched_idle_end) or by the built-in thread pool (sched_pool_start).
 * Never sleeps or polls inside: blocking is the driver's job, and the wake hook tells it when
 * to stop blocking. No mutex is taken when scheduling or running actors.
 * Invariant: an actor is on at most one run queue, and only while it is not running. */
#ifndef RINGCHAT_ACTORS_SCHEDULER_H
#define RINGCHAT_ACTORS_SCHEDULER_H

#include "actor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sched_hooks {
    /* Called from any thread when work was queued for `worker` while that worker had
     * announced it is about to block (sched_idle_begin returned true). At most once per idle
     * period. Must not block and must not call back into the scheduler (an eventfd write or
     * an IORING_OP_MSG_RING is the intended implementation). */
    void (*wake)(void *ctx, unsigned worker);
    void *ctx;
} sched_hooks_t;

/* nworkers >= 1. hooks == NULL: use the built-in semaphores (required by sched_pool_start).
 * Returns NULL on allocation failure or bad arguments. */
sched_t *sched_create(unsigned nworkers, const sched_hooks_t *hooks);

/* Stops the pool if it runs. No other thread may use s any more. Actors still alive get
 * on_exit; queued messages are released (msg_free). */
void sched_destroy(sched_t *s);

unsigned sched_nworkers(const sched_t *s);

/* Bind / unbind the calling thread as worker w (one thread per worker at a time). */
void sched_worker_enter(sched_t *s, unsigned w);
void sched_worker_leave(sched_t *s, unsigned w);

/* Worker index of the calling thread in s, or -1. */
int sched_current_worker(const sched_t *s);

/* Run up to max_actors ready actors (each for up to ACTOR_BATCH messages) on worker w,
 * stealing from other workers when w has nothing. Returns how many actors ran. Only on the
 * thread bound to w. */
size_t sched_run_batch(sched_t *s, unsigned w, size_t max_actors);

/* Owner only: is anything queued on w itself (not counting other workers' queues)? */
bool sched_has_work(sched_t *s, unsigned w);

/* Owner only. Announce that w is about to block, then re-check its queues.
 * true: nothing queued - block now; any later schedule onto w calls hooks.wake (or posts the
 *       built-in semaphore). Call sched_idle_end when the block ends for any reason.
 * false: work arrived in the meantime - do not block (the announcement is withdrawn). */
bool sched_idle_begin(sched_t *s, unsigned w);
void sched_idle_end(sched_t *s, unsigned w);

/* Built-in driver: one pthread per worker looping timers -> run_batch -> idle block on a
 * semaphore (with a timeout for the next timer). Returns 0 or -errno. */
int sched_pool_start(sched_t *s);
/* Wake and join the pool threads. Actors and queued messages stay as they are. */
void sched_pool_stop(sched_t *s);

typedef struct sched_stats {
    uint64_t schedules;      /* actors put on a run queue (by a worker, or injected) */
    uint64_t runs;           /* actor runs (one run = up to ACTOR_BATCH messages) */
    uint64_t delivered;      /* messages handed to a behaviour */
    uint64_t stale_drops;    /* messages released because their actor had exited */
    uint64_t steals;         /* actors taken from another worker's queue */
    uint64_t stalls;         /* runs that found nothing to pop: always 0 (gap-free mailbox) */
    uint64_t injects;        /* actors scheduled from a thread that is not one of our workers */
    uint64_t wakeups;        /* wake hooks / semaphore posts issued */
    uint64_t mbox_depth_max; /* deepest mailbox taken by one exchange (in a sum: the max) */
    uint64_t spawns;
    uint64_t exits;
} sched_stats_t;

/* Worker w's own counters (spawns and exits stay 0: they are global). Any
 * thread; each counter is read atomically. */
void sched_worker_stats(sched_t *s, unsigned w, sched_stats_t *out);

/* Sum over workers; exact once the workers are quiescent. */
void sched_stats(sched_t *s, sched_stats_t *out);

#endif /* RINGCHAT_ACTORS_SCHEDULER_H */
