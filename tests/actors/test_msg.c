/* test_msg.c: per-thread message pools - no malloc once warm, cross-thread return to the home
 * pool, thread-exit adoption, and the drop hook running exactly once per message.
 * Run by ctest (label tsan). Criterion forks per test, so process-wide pool counters start
 * from zero in each test; assertions still use deltas to stay honest. */
#include "actors_test.h"
#include "msg.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>

Test(msg, warm_pool_does_not_malloc)
{
    msg_t *m[MSG_SLAB];
    msg_stats_t a, b;

    for (int i = 0; i < MSG_SLAB; i++) /* warm up: exactly one slab */
        m[i] = msg_alloc(1);
    for (int i = 0; i < MSG_SLAB; i++)
        msg_free(m[i]);
    msg_stats(&a);
    for (int round = 0; round < 1000; round++) {
        for (int i = 0; i < MSG_SLAB; i++) {
            m[i] = msg_alloc((uint32_t)i);
            cr_assert_not_null(m[i]);
            cr_assert_eq(m[i]->type, (uint32_t)i);
            cr_assert_null(m[i]->drop);
        }
        for (int i = 0; i < MSG_SLAB; i++)
            msg_free(m[i]);
    }
    msg_stats(&b);
    cr_assert_eq(b.refills, a.refills, "warm alloc/free must not malloc");
    cr_assert_eq(b.allocs - a.allocs, 1000u * MSG_SLAB);
    cr_assert_eq(b.allocs, b.frees);
}

typedef struct xfer {
    msg_t **m;
    int n;
} xfer_t;

static void *free_all(void *p)
{
    xfer_t *x = p;

    for (int i = 0; i < x->n; i++)
        msg_free(x->m[i]);
    return NULL;
}

Test(msg, cross_thread_frees_return_home)
{
    enum { N = 4 * MSG_SLAB };
    static msg_t *m[N];
    xfer_t x = {m, N};
    pthread_t t;
    msg_stats_t a, b;

    for (int i = 0; i < N; i++)
        m[i] = msg_alloc(7);
    msg_stats(&a);
    for (int round = 0; round < 50; round++) {
        pthread_create(&t, NULL, free_all, &x); /* the join orders the frees before us */
        pthread_join(t, NULL);
        for (int i = 0; i < N; i++) {
            m[i] = msg_alloc(7);
            cr_assert_not_null(m[i]);
        }
    }
    msg_stats(&b);
    cr_assert_eq(b.refills, a.refills, "returned messages must be reused, not re-malloced");
    cr_assert_eq(b.remote_frees - a.remote_frees, 50u * N);
    for (int i = 0; i < N; i++)
        msg_free(m[i]);
}

static msg_t *orphans[MSG_SLAB / 2];

static void *alloc_and_exit(void *p)
{
    (void)p;
    for (int i = 0; i < MSG_SLAB / 2; i++)
        orphans[i] = msg_alloc(3);
    return NULL; /* the thread exits holding nothing; its messages are still in flight */
}

Test(msg, pool_of_exited_thread_is_adopted)
{
    pthread_t t;
    msg_stats_t a, b;

    msg_free(msg_alloc(0)); /* give this thread its own pool first */
    pthread_create(&t, NULL, alloc_and_exit, NULL);
    pthread_join(t, NULL);
    for (int i = 0; i < MSG_SLAB / 2; i++) /* free after the owner died */
        msg_free(orphans[i]);
    msg_stats(&a);
    /* A new thread must adopt the orphaned pool instead of creating one and mallocing. */
    pthread_create(&t, NULL, alloc_and_exit, NULL);
    pthread_join(t, NULL);
    msg_stats(&b);
    cr_assert_eq(b.pools, a.pools, "the orphaned pool must be adopted");
    cr_assert_eq(b.refills, a.refills, "the adopted pool already has free messages");
    for (int i = 0; i < MSG_SLAB / 2; i++)
        msg_free(orphans[i]);
    msg_stats(&b);
    cr_assert_eq(b.allocs, b.frees);
}

static atomic_int drops;

static void count_drop(msg_t *m)
{
    cr_assert_eq(m->type, 42u);
    atomic_fetch_add(&drops, 1);
}

Test(msg, drop_hook_runs_once)
{
    msg_t *m = msg_alloc(42);

    m->drop = count_drop;
    msg_free(m);
    cr_assert_eq(atomic_load(&drops), 1);
    m = msg_alloc(42); /* the same memory comes back with the hook cleared */
    cr_assert_null(m->drop);
    msg_free(m);
    cr_assert_eq(atomic_load(&drops), 1);
    msg_free(NULL);
}
