/* scheduler_pool.c: the built-in driver - one pthread per worker, for tests, benchmarks and any
 * program without its own event loop. The network layer drives workers itself instead.
 * Called by sched_pool_start/stop on a control thread. Never sleeps on a timer tick or polls:
 * an idle thread blocks on its semaphore (sem_clockwait until the next timer, or sem_wait),
 * and the wake hook (builtin_wake in scheduler.c) posts that semaphore.
 * Invariant: a pool thread blocks only after sched_idle_begin returned true. */
#include "actor_impl.h"

#include <errno.h>
#include <time.h>

/* Actors per sched_run_batch call: between two timer checks. */
#define POOL_BATCH 64

/* Block until posted, or until the next timer of this worker is due. */
static void pool_block(sched_t *s, sched_worker_t *w)
{
    int64_t ms = timer_next_ms(s, w->id, timer_now_ms());

    if (ms == 0)
        return;
    if (ms < 0) {
        while (sem_wait(&w->sem) != 0 && errno == EINTR)
            ;
        return;
    }
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    while (sem_clockwait(&w->sem, CLOCK_MONOTONIC, &ts) != 0 && errno == EINTR)
        ;
}

static void *pool_main(void *arg)
{
    sched_worker_t *w = arg;
    sched_t *s = w->s;

    sched_worker_enter(s, w->id);
    /* pool_stop: written once by sched_pool_stop, which then posts every semaphore. */
    while (ck_pr_load_32(&s->pool_stop) == 0) {
        timer_run_due(s, w->id, timer_now_ms());
        if (sched_run_batch(s, w->id, POOL_BATCH) > 0)
            continue;
        if (!sched_idle_begin(s, w->id))
            continue;
        pool_block(s, w);
        sched_idle_end(s, w->id);
    }
    sched_worker_leave(s, w->id);
    return NULL;
}

int sched_pool_start(sched_t *s)
{
    if (!s->builtin_wake || s->pool_running)
        return -EINVAL;
    s->pool_stop = 0;
    for (unsigned i = 0; i < s->nworkers; i++) {
        int rc = pthread_create(&s->workers[i].thread, NULL, pool_main, &s->workers[i]);

        if (rc != 0) {
            s->pool_running = true;
            ck_pr_store_32(&s->pool_stop, 1);
            for (unsigned j = 0; j < i; j++) {
                sem_post(&s->workers[j].sem);
                pthread_join(s->workers[j].thread, NULL);
            }
            s->pool_running = false;
            return -rc;
        }
    }
    s->pool_running = true;
    return 0;
}

void sched_pool_stop(sched_t *s)
{
    if (!s->pool_running)
        return;
    /* Release store, then an unconditional post: a thread either sees the flag at the top of
     * its loop or is (or will be) blocked on a semaphore that now holds a token. */
    ck_pr_store_32(&s->pool_stop, 1);
    for (unsigned i = 0; i < s->nworkers; i++)
        sem_post(&s->workers[i].sem);
    for (unsigned i = 0; i < s->nworkers; i++)
        pthread_join(s->workers[i].thread, NULL);
    s->pool_running = false;
    /* Drain leftover tokens so a later sched_pool_start starts clean. */
    for (unsigned i = 0; i < s->nworkers; i++) {
        while (sem_trywait(&s->workers[i].sem) == 0)
            ;
    }
}
