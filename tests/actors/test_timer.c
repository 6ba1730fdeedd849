/* test_timer.c: per-worker timers - one-shot, periodic, cancel (owner and cross-thread),
 * expiry to an exited actor, and a real-time timer waking a blocked pool worker.
 * Run by ctest (label tsan). Most tests drive worker 0 from the test thread and pass explicit
 * "now" values to timer_run_due, so they never depend on how fast the machine is. */
#include "actor.h"
#include "actors_test.h"
#include "scheduler.h"
#include "timer.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>

enum { T_TICK = 100, T_STOP = 101 };

typedef struct ticks {
    atomic_int n;
    uint64_t last_arg;
    timer_id_t id;   /* for the pool test: the timer this actor armed */
    int stale;       /* expiries that timer_msg_is rejected */
    int n_at_cancel; /* ticks seen when the cancel was processed */
    sem_t sem;       /* posted per tick */
    sem_t cancelled; /* posted once the cancel was processed (pool test) */
} ticks_t;

static void ticks_behaviour(actor_t *self, msg_t *m)
{
    ticks_t *t = actor_state(self);

    if (m->type == T_STOP) {
        actor_exit(self);
    } else {
        atomic_fetch_add(&t->n, 1);
        t->last_arg = m->p.u64[TIMER_MSG_ARG];
        sem_post(&t->sem);
    }
    msg_free(m);
}

static const actor_type_t ticks_type = {"ticks", ticks_behaviour, NULL};

/* A one-worker scheduler driven by the test thread. */
static sched_t *manual(ticks_t *t, actor_ref_t *ref)
{
    sched_t *s = sched_create(1, NULL);

    sched_worker_enter(s, 0);
    sem_init(&t->sem, 0, 0);
    cr_assert_eq(actor_spawn(s, &ticks_type, t, ref), 0);
    return s;
}

static void manual_done(sched_t *s)
{
    sched_worker_leave(s, 0);
    sched_destroy(s);
    msg_stats_t ms;
    msg_stats(&ms);
    cr_assert_eq(ms.allocs, ms.frees);
}

Test(timer, one_shot_fires_once_at_its_deadline)
{
    ticks_t t = {0};
    actor_ref_t a;
    timer_id_t id;
    sched_t *s = manual(&t, &a);
    uint64_t before = timer_now_ms();

    cr_assert_eq(timer_start(a, T_TICK, 77, 50, 0, &id), 0);
    uint64_t after = timer_now_ms();
    cr_assert_eq(timer_pending(s, 0), 1);
    int64_t next = timer_next_ms(s, 0, after);
    cr_assert(next >= 50 - (int64_t)(after - before) && next <= 50, "next=%ld", (long)next);
    cr_assert_eq(timer_run_due(s, 0, before + 49), 0, "not before the deadline");
    cr_assert_eq(timer_run_due(s, 0, after + 50), 1);
    cr_assert_eq(timer_run_due(s, 0, after + 5000), 0, "a one-shot fires once");
    sched_run_batch(s, 0, 8);
    cr_assert_eq(atomic_load(&t.n), 1);
    cr_assert_eq(t.last_arg, 77u);
    cr_assert_eq(timer_cancel(id), -ENOENT, "already fired");
    cr_assert_eq(timer_pending(s, 0), 0);
    cr_assert_eq(timer_next_ms(s, 0, after), -1);
    manual_done(s);
}

Test(timer, periodic_fires_each_period_until_cancelled)
{
    ticks_t t = {0};
    actor_ref_t a;
    timer_id_t id;
    sched_t *s = manual(&t, &a);
    uint64_t t0 = timer_now_ms();

    /* Long periods: the test thread would have to stall for a whole second between arming
     * and reading the clock before the "skip missed periods" rule changed the schedule. */
    cr_assert_eq(timer_start(a, T_TICK, 5, 1000, 1000, &id), 0);
    uint64_t t1 = timer_now_ms();
    for (int k = 1; k <= 5; k++) /* deadlines t_arm + 1000k, with t0 <= t_arm <= t1 */
        cr_assert_eq(timer_run_due(s, 0, t1 + 1000u * (uint64_t)k), 1, "period %d", k);
    cr_assert_eq(timer_run_due(s, 0, t0 + 5999), 0, "sixth period not due yet");
    sched_run_batch(s, 0, 8);
    cr_assert_eq(atomic_load(&t.n), 5);
    cr_assert_eq(timer_cancel(id), 0);
    cr_assert_eq(timer_cancel(id), -ENOENT, "cancel is not repeatable");
    cr_assert_eq(timer_pending(s, 0), 0, "the owner reaps a cancelled timer at once");
    cr_assert_eq(timer_run_due(s, 0, t1 + 100000), 0);
    sched_run_batch(s, 0, 8);
    cr_assert_eq(atomic_load(&t.n), 5);
    manual_done(s);
}

Test(timer, cancel_before_expiry_and_stale_ids)
{
    ticks_t t = {0};
    actor_ref_t a;
    timer_id_t id1, id2;
    sched_t *s = manual(&t, &a);
    uint64_t now = timer_now_ms();

    cr_assert_eq(timer_start(a, T_TICK, 1, 30, 0, &id1), 0);
    cr_assert_eq(timer_cancel(id1), 0);
    /* The entry is recycled for the next arming; the old id must not cancel it. */
    cr_assert_eq(timer_start(a, T_TICK, 2, 30, 0, &id2), 0);
    cr_assert_eq(id2.e, id1.e, "entry reused");
    cr_assert_eq(timer_cancel(id1), -ENOENT, "stale id");
    cr_assert_eq(timer_run_due(s, 0, now + 10000), 1, "only the second arming fires");
    sched_run_batch(s, 0, 8);
    cr_assert_eq(atomic_load(&t.n), 1);
    cr_assert_eq(t.last_arg, 2u);
    cr_assert_eq(timer_cancel(TIMER_ID_NULL), -ENOENT);
    manual_done(s);
}

static void *cancel_thread(void *p)
{
    timer_id_t *id = p;

    return (void *)(intptr_t)timer_cancel(*id);
}

Test(timer, cross_thread_cancel)
{
    ticks_t t = {0};
    actor_ref_t a;
    timer_id_t one, per;
    pthread_t th;
    void *rc;
    sched_t *s = manual(&t, &a);
    uint64_t now = timer_now_ms();

    timer_start(a, T_TICK, 1, 20, 0, &one);
    timer_start(a, T_TICK, 2, 20, 20, &per);
    pthread_create(&th, NULL, cancel_thread, &one);
    pthread_join(th, &rc);
    cr_assert_eq((intptr_t)rc, 0);
    pthread_create(&th, NULL, cancel_thread, &per);
    pthread_join(th, &rc);
    cr_assert_eq((intptr_t)rc, 0);
    cr_assert_eq(timer_pending(s, 0), 2, "not the owner: reaped lazily");
    cr_assert_eq(timer_run_due(s, 0, now + 10000), 0, "cancelled timers never fire");
    cr_assert_eq(timer_pending(s, 0), 0);
    sched_run_batch(s, 0, 8);
    cr_assert_eq(atomic_load(&t.n), 0);
    manual_done(s);
}

Test(timer, expiry_to_exited_actor_is_dropped_and_periodic_stops)
{
    ticks_t t = {0};
    actor_ref_t a;
    timer_id_t id;
    sched_t *s = manual(&t, &a);
    uint64_t now = timer_now_ms();

    timer_start(a, T_TICK, 1, 10, 10, &id);
    actor_send(a, msg_alloc(T_STOP));
    sched_run_batch(s, 0, 8);
    cr_assert_not(actor_ref_alive(a));
    cr_assert_eq(timer_run_due(s, 0, now + 1000), 0, "nothing delivered to a dead actor");
    cr_assert_eq(timer_pending(s, 0), 0, "a periodic timer to a dead actor stops");
    cr_assert_eq(timer_cancel(id), -ENOENT);
    cr_assert_eq(atomic_load(&t.n), 0);
    manual_done(s);
}

Test(timer, start_requires_a_worker_thread)
{
    timer_id_t id;
    actor_ref_t none = ACTOR_REF_NULL;

    cr_assert_eq(timer_start(none, T_TICK, 0, 1, 0, &id), -EPERM);
    cr_assert_eq(timer_start(none, T_TICK, 0, 1, 0, NULL), -EINVAL);
}

/* Pool-driven: an actor arms a periodic 5 ms timer from its behaviour; the idle worker must
 * wake up for it (sem_clockwait until the deadline), then the actor cancels it. */
enum { T_ARM = 102, T_CANCEL = 103 };

static void arm_behaviour(actor_t *self, msg_t *m)
{
    ticks_t *t = actor_state(self);

    if (m->type == T_ARM) {
        int rc = timer_start(actor_self(self), T_TICK, 9, 5, 5, &t->id);

        if (rc != 0)
            t->stale = -1000;
    } else if (m->type == T_CANCEL) {
        if (timer_cancel(t->id) != 0)
            t->stale = -2000;
        t->n_at_cancel = atomic_load(&t->n);
        sem_post(&t->cancelled);
    } else if (!timer_msg_is(m, t->id)) {
        t->stale++;
    } else {
        atomic_fetch_add(&t->n, 1);
        sem_post(&t->sem);
    }
    msg_free(m);
}

static const actor_type_t arm_type = {"arm", arm_behaviour, NULL};

Test(timer, pool_worker_wakes_for_timers, .timeout = 30)
{
    static ticks_t t;
    actor_ref_t a;
    sched_t *s = sched_create(2, NULL);
    struct timespec pause = {0, 150 * 1000000L};

    sem_init(&t.sem, 0, 0);
    sem_init(&t.cancelled, 0, 0);
    actor_spawn(s, &arm_type, &t, &a);
    cr_assert_eq(sched_pool_start(s), 0);
    actor_send(a, msg_alloc(T_ARM));
    for (int k = 0; k < 5; k++) /* the idle workers must wake up for each 5 ms tick */
        cr_assert(act_sem_wait_ms(&t.sem, 5000), "tick %d never came", k);
    actor_send(a, msg_alloc(T_CANCEL));
    cr_assert(act_sem_wait_ms(&t.cancelled, 5000));
    /* Ticks sent before the cancel may still be queued behind T_CANCEL (many, if the
     * actor's thread was descheduled while the timer's worker kept firing): let them drain
     * (the count stops moving for 50 ms, within 2 s), then no new tick may come for ~30
     * periods. A timer that kept running would add about 30. */
    struct timespec settle = {0, 50 * 1000000L};
    for (int k = 0; k < 40; k++) {
        int before = atomic_load(&t.n);
        nanosleep(&settle, NULL);
        if (atomic_load(&t.n) == before)
            break;
    }
    int drained = atomic_load(&t.n);
    nanosleep(&pause, NULL);
    sched_pool_stop(s); /* joins the workers: their writes to t are visible below */
    cr_assert_geq(t.n_at_cancel, 5);
    cr_assert_eq(atomic_load(&t.n), drained, "the timer still ticked after cancel: %d -> %d",
                 drained, atomic_load(&t.n));
    cr_assert_eq(t.stale, 0, "every tick came from the armed timer");
    sched_destroy(s);
}
