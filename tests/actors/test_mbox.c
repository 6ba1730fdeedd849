/* test_mbox.c: the mailbox (mbox) and the run-queue ring (runq) on their own.
 * Run by ctest (label tsan: also under ThreadSanitizer). Never sleeps to "let threads
 * finish": every wait is a semaphore or a join, under a Criterion timeout.
 * Checks DESIGN invariant 1 at the queue level: a push reports "was idle" exactly once per
 * idle period, and a consumer that marks the queue idle is always woken by the next push.
 * Checks that the mailbox is gap-free: a push that has completed is always poppable, and a
 * failed mark_idle always leaves something to pop (the previous Vyukov mailbox failed both
 * whenever a producer was pre-empted between its exchange and its link store). */
#include "actors_test.h"
#include "mbox.h"
#include "runq.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

typedef struct item {
    mbox_node_t node; /* first member */
    uint32_t producer;
    uint64_t seq;
} item_t;

Test(mbox, single_thread_fifo_and_idle_mark)
{
    mbox_t q;
    item_t it[3];

    mbox_init(&q, true);
    cr_assert(mbox_is_empty_sc(&q));
    cr_assert(mbox_push_mp(&q, &it[0].node), "first push into an idle box must report idle");
    cr_assert_not(mbox_push_mp(&q, &it[1].node));
    cr_assert_not(mbox_push_mp(&q, &it[2].node));
    cr_assert_not(mbox_mark_idle_sc(&q), "mark_idle must fail while messages are queued");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(mbox_pop_sc(&q), &it[i].node);
    cr_assert_null(mbox_pop_sc(&q));
    cr_assert(mbox_mark_idle_sc(&q));
    cr_assert(mbox_push_mp(&q, &it[0].node), "after mark_idle the next push reports idle");
    cr_assert_eq(mbox_pop_sc(&q), &it[0].node);
    cr_assert_null(mbox_pop_sc(&q));
    cr_assert(mbox_is_empty_sc(&q));
}

/* Leftovers of a take stay queued, in order, ahead of later pushes (ACTOR_BATCH fairness). */
Test(mbox, leftovers_stay_queued_in_order)
{
    mbox_t q;
    static item_t it[200];
    int next = 0;

    mbox_init(&q, true);
    cr_assert(mbox_push_mp(&q, &it[0].node));
    for (int i = 1; i < 100; i++)
        cr_assert_not(mbox_push_mp(&q, &it[i].node));
    for (int k = 0; k < 64; k++, next++) /* one "run": takes all 100, returns 64 */
        cr_assert_eq(mbox_pop_sc(&q), &it[next].node, "pop %d", next);
    cr_assert_not(mbox_is_empty_sc(&q));
    cr_assert_not(mbox_mark_idle_sc(&q), "36 leftovers: the owner must stay scheduled");
    for (int i = 100; i < 200; i++)
        cr_assert_not(mbox_push_mp(&q, &it[i].node), "not idle: no second schedule");
    for (; next < 200; next++)
        cr_assert_eq(mbox_pop_sc(&q), &it[next].node, "pop %d", next);
    cr_assert_null(mbox_pop_sc(&q));
    cr_assert(mbox_is_empty_sc(&q));
    cr_assert(mbox_mark_idle_sc(&q));
    cr_assert(mbox_is_empty_sc(&q), "the idle mark is not a message");
    cr_assert_null(mbox_pop_sc(&q), "popping an idle box returns nothing and keeps it idle");
    cr_assert(mbox_push_mp(&q, &it[0].node));
}

/* The depth high-water mark is the size of the largest take since it was last read. */
Test(mbox, depth_max_is_the_largest_take)
{
    mbox_t q;
    static item_t it[100], later[30];

    mbox_init(&q, true);
    cr_assert_eq(mbox_depth_max_sc(&q), 0);
    for (int i = 0; i < 100; i++)
        mbox_push_mp(&q, &it[i].node);
    cr_assert_eq(mbox_depth_max_sc(&q), 0, "nothing taken yet");
    cr_assert_eq(mbox_pop_sc(&q), &it[0].node);
    for (int i = 0; i < 30; i++) /* a later, smaller take does not lower the mark */
        mbox_push_mp(&q, &later[i].node);
    for (int i = 1; i < 100 + 30; i++)
        cr_assert_not_null(mbox_pop_sc(&q), "pop %d", i);
    cr_assert_eq(mbox_depth_max_sc(&q), 100);
    cr_assert_eq(mbox_depth_max_sc(&q), 0, "reading resets the mark");
}

Test(mbox, plain_queue_never_reports_idle)
{
    mbox_t q;
    item_t it[2];

    mbox_init(&q, false);
    cr_assert_not(mbox_push_mp(&q, &it[0].node));
    cr_assert_eq(mbox_pop_sc(&q), &it[0].node);
    cr_assert_null(mbox_pop_sc(&q));
    cr_assert_not(mbox_push_mp(&q, &it[1].node));
    cr_assert_eq(mbox_pop_sc(&q), &it[1].node);
}

/* Concurrent test: producers push; a push that reports idle "schedules" the consumer by
 * posting a semaphore; the consumer drains, then marks idle, then waits. */
#define MB_PRODUCERS 4
#define MB_BATCH     64

typedef struct mb_ctx {
    mbox_t q;
    sem_t run;              /* one post per schedule */
    atomic_int scheduled;   /* 1 while the consumer holds the scheduling right */
    atomic_long schedules;  /* pushes that reported idle */
    atomic_long double_sch; /* reported idle while already scheduled: invariant 1 broken */
    long per_producer;
    item_t *items[MB_PRODUCERS];
} mb_ctx_t;

typedef struct mb_arg {
    mb_ctx_t *c;
    uint32_t id;
} mb_arg_t;

static void *mb_producer(void *p)
{
    mb_arg_t *a = p;
    mb_ctx_t *c = a->c;

    for (long i = 0; i < c->per_producer; i++) {
        item_t *it = &c->items[a->id][i];

        it->producer = a->id;
        it->seq = (uint64_t)i;
        if (mbox_push_mp(&c->q, &it->node)) {
            /* We won the scheduling right: nobody may hold it already. */
            if (atomic_exchange(&c->scheduled, 1) != 0)
                atomic_fetch_add(&c->double_sch, 1);
            atomic_fetch_add(&c->schedules, 1);
            sem_post(&c->run);
        }
    }
    return NULL;
}

Test(mbox, push_reports_was_idle_once_per_idle_period, .timeout = 60)
{
    static mb_ctx_t c;
    pthread_t th[MB_PRODUCERS];
    mb_arg_t args[MB_PRODUCERS];
    uint64_t next[MB_PRODUCERS] = {0};
    long got = 0, order_errors = 0, runs = 0, stalls = 0;

    c.per_producer = ACT_SCALE(400000);
    mbox_init(&c.q, true);
    sem_init(&c.run, 0, 0);
    for (int p = 0; p < MB_PRODUCERS; p++) {
        c.items[p] = calloc((size_t)c.per_producer, sizeof(item_t));
        args[p] = (mb_arg_t){&c, (uint32_t)p};
        pthread_create(&th[p], NULL, mb_producer, &args[p]);
    }
    long total = c.per_producer * MB_PRODUCERS;
    while (got < total) {
        cr_assert(act_sem_wait_ms(&c.run, 20000), "lost wake-up: consumer never scheduled");
        runs++;
        for (;;) { /* one "run" per batch, as actor_run; stay scheduled while mark_idle fails */
            mbox_node_t *n;
            int k = 0;

            while (k < MB_BATCH && (n = mbox_pop_sc(&c.q)) != NULL) {
                item_t *it = (item_t *)n;

                order_errors += it->seq != next[it->producer];
                next[it->producer] = it->seq + 1;
                got++;
                k++;
            }
            /* Every batch follows a schedule or a failed mark_idle: both mean a message is
             * queued, so a gap-free mailbox always has something to pop here. */
            stalls += k == 0;
            atomic_store(&c.scheduled, 0); /* give the right back before the CAS */
            if (mbox_mark_idle_sc(&c.q))
                break;
            atomic_store(&c.scheduled, 1); /* still ours */
        }
    }
    for (int p = 0; p < MB_PRODUCERS; p++)
        pthread_join(th[p], NULL);
    cr_assert_eq(order_errors, 0, "per-producer order broken %ld times", order_errors);
    cr_assert_eq(got, total);
    cr_assert_eq(atomic_load(&c.double_sch), 0, "a push reported idle while scheduled");
    cr_assert_eq(atomic_load(&c.schedules), runs, "every schedule is exactly one run");
    cr_assert_eq(stalls, 0, "%ld re-runs found nothing to pop", stalls);
    int extra;
    sem_getvalue(&c.run, &extra);
    cr_assert_eq(extra, 0, "a schedule was reported with nothing left to run");
    for (int p = 0; p < MB_PRODUCERS; p++)
        free(c.items[p]);
}

/* Gap-freedom: producers count each push after it returns; whenever the consumer has popped
 * fewer nodes than that count, a pop must succeed. With a two-step push (exchange, then link)
 * a producer caught between the steps hides every later push, completed or not. Producers
 * pause briefly between pushes so that the consumer keeps catching up with the newest node,
 * where such a gap shows (the previous Vyukov mailbox failed this in every run tried). */
#define GAP_PAUSE 50 /* busy-loop iterations between two pushes */
typedef struct gap_ctx {
    mbox_t q;
    atomic_long completed; /* pushes that have returned */
    long per_producer;
    item_t *items[MB_PRODUCERS];
} gap_ctx_t;

typedef struct gap_arg {
    gap_ctx_t *c;
    uint32_t id;
} gap_arg_t;

static void *gap_producer(void *p)
{
    gap_arg_t *a = p;
    gap_ctx_t *c = a->c;

    for (long i = 0; i < c->per_producer; i++) {
        item_t *it = &c->items[a->id][i];

        it->producer = a->id;
        it->seq = (uint64_t)i;
        for (volatile int k = 0; k < GAP_PAUSE; k++)
            ;
        (void)mbox_push_mp(&c->q, &it->node);
        /* seq_cst, after the push returned: a consumer that reads this count also sees the
         * push (the increment happens-after it). */
        atomic_fetch_add(&c->completed, 1);
    }
    return NULL;
}

Test(mbox, completed_push_is_always_poppable, .timeout = 60)
{
    static gap_ctx_t c;
    pthread_t th[MB_PRODUCERS];
    gap_arg_t args[MB_PRODUCERS];
    uint64_t next[MB_PRODUCERS] = {0};
    long got = 0, gaps = 0, order_errors = 0;

    c.per_producer = ACT_SCALE(400000);
    mbox_init(&c.q, false);
    for (int p = 0; p < MB_PRODUCERS; p++) {
        c.items[p] = calloc((size_t)c.per_producer, sizeof(item_t));
        args[p] = (gap_arg_t){&c, (uint32_t)p};
        pthread_create(&th[p], NULL, gap_producer, &args[p]);
    }
    long total = c.per_producer * MB_PRODUCERS;
    while (got < total) {
        long done = atomic_load(&c.completed);

        if (got == done) {
            sched_yield(); /* nothing completed yet; let the producers run */
            continue;
        }
        while (got < done) {
            mbox_node_t *n = mbox_pop_sc(&c.q);

            if (n == NULL) { /* a completed push is invisible: the gap */
                gaps++;
                break;
            }
            item_t *it = (item_t *)n;
            order_errors += it->seq != next[it->producer];
            next[it->producer] = it->seq + 1;
            got++;
        }
    }
    for (int p = 0; p < MB_PRODUCERS; p++)
        pthread_join(th[p], NULL);
    cr_assert_eq(gaps, 0, "%ld times a completed push could not be popped", gaps);
    cr_assert_eq(order_errors, 0, "per-producer order broken %ld times", order_errors);
    cr_assert_null(mbox_pop_sc(&c.q), "no extra node");
    cr_assert(mbox_is_empty_sc(&c.q));
    for (int p = 0; p < MB_PRODUCERS; p++)
        free(c.items[p]);
}

Test(runq, owner_fifo_and_full)
{
    runq_t q;
    int v[8];

    cr_assert_eq(runq_init(&q, 4), 0);
    for (int i = 0; i < 4; i++)
        cr_assert(runq_push_owner(&q, &v[i]));
    cr_assert_not(runq_push_owner(&q, &v[4]), "a full ring must refuse");
    cr_assert_eq(runq_len(&q), 4);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(runq_pop(&q), &v[i]);
    cr_assert_null(runq_pop(&q));
    runq_destroy(&q);
}

/* One owner pushes (and pops) while two thieves pop: every item taken exactly once. */
#define RQ_THIEVES 2

typedef struct rq_ctx {
    runq_t q;
    atomic_int done;
    atomic_uchar *seen;
    atomic_long dup;
    atomic_long taken;
} rq_ctx_t;

static void rq_take(rq_ctx_t *c, void *item)
{
    uintptr_t i = (uintptr_t)item - 1;

    if (atomic_fetch_add(&c->seen[i], 1) != 0)
        atomic_fetch_add(&c->dup, 1);
    atomic_fetch_add(&c->taken, 1);
}

static void *rq_thief(void *p)
{
    rq_ctx_t *c = p;

    while (!atomic_load(&c->done)) {
        void *item = runq_pop(&c->q);

        if (item != NULL)
            rq_take(c, item);
    }
    void *item;
    while ((item = runq_pop(&c->q)) != NULL)
        rq_take(c, item);
    return NULL;
}

Test(runq, steal_exactly_once, .timeout = 60)
{
    static rq_ctx_t c;
    pthread_t th[RQ_THIEVES];
    long n = ACT_SCALE(1000000);

    cr_assert_eq(runq_init(&c.q, 64), 0);
    c.seen = calloc((size_t)n, 1);
    for (int t = 0; t < RQ_THIEVES; t++)
        pthread_create(&th[t], NULL, rq_thief, &c);
    for (long i = 0; i < n; i++) {
        void *item = (void *)(uintptr_t)(i + 1);

        while (!runq_push_owner(&c.q, item)) { /* full: the owner works too */
            void *mine = runq_pop(&c.q);

            if (mine != NULL)
                rq_take(&c, mine);
        }
    }
    atomic_store(&c.done, 1);
    for (int t = 0; t < RQ_THIEVES; t++)
        pthread_join(th[t], NULL);
    cr_assert_eq(atomic_load(&c.dup), 0, "an item was taken twice");
    cr_assert_eq(atomic_load(&c.taken), n, "items lost");
    free(c.seen);
    runq_destroy(&c.q);
}
