/* test_msg.c: per-thread message pools - no malloc once warm, cross-thread return to the home
 * pool, thread-exit adoption, the drop hook running exactly once per message, and msg_trim.
 * Run by ctest (label tsan). Criterion forks per test, so process-wide pool counters start
 * from zero in each test; assertions still use deltas to stay honest. */
#include "actors_test.h"
#include "msg.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

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

static msg_t *kept[2];

/* Ten slabs' worth of messages: two stay in use (in slabs 1 and 6), half of
 * the rest come back from another thread, half locally. */
Test(msg, trim_frees_wholly_free_slabs)
{
    enum { N = 10 * MSG_SLAB };
    static msg_t *m[N];
    msg_stats_t a, b;
    pthread_t t;

    for (int i = 0; i < N; i++)
        m[i] = msg_alloc(5);
    msg_stats(&a);
    cr_assert_eq(a.refills, 10u, "one slab per MSG_SLAB messages");
    kept[0] = m[0], kept[1] = m[5 * MSG_SLAB];
    m[0] = m[5 * MSG_SLAB] = NULL;
    xfer_t x = {m, N / 2};
    pthread_create(&t, NULL, free_all, &x); /* remote frees: the return stack */
    pthread_join(t, NULL);
    for (int i = N / 2; i < N; i++)
        msg_free(m[i]);

    size_t freed = msg_trim();
    msg_stats(&b);
    cr_assert_eq(b.slabs_freed, 10u - 2 - MSG_TRIM_KEEP, "slabs with a message in use stay");
    cr_assert_eq(freed, b.slabs_freed * msg_slab_bytes());
    cr_assert_eq(msg_trim(), 0, "a second trim finds nothing more");
    for (int k = 0; k < 2; k++) { /* still usable, and freed normally */
        memset(kept[k]->p.bytes, 0xab, MSG_PAYLOAD_SIZE);
        msg_free(kept[k]);
    }
    for (int i = 0; i < N; i++) { /* the kept slabs serve first, then new ones */
        m[i] = msg_alloc(6);
        cr_assert_not_null(m[i]);
        memset(m[i]->p.bytes, i & 0xff, MSG_PAYLOAD_SIZE);
    }
    msg_stats(&a);
    cr_assert_eq(a.refills - a.slabs_freed, 10u, "exactly the slabs N messages need");
    for (int i = 0; i < N; i++)
        msg_free(m[i]);
    cr_assert_eq(msg_trim(), (10 - MSG_TRIM_KEEP) * msg_slab_bytes());
    msg_stats(&b);
    cr_assert_eq(b.allocs, b.frees);
}

/* Threads pass messages round a ring through one slot each (exchange), free
 * what they receive (remote frees onto the sender's return stack) and trim
 * their own pool while the others keep freeing into it. Under TSan (label
 * tsan) this checks that a trim and concurrent returns do not race. */
enum { RING_THREADS = 4, RING_ROUNDS = 3000, RING_BATCH = 64 };
static _Atomic(msg_t *) ring_slot[RING_THREADS][RING_BATCH];
static pthread_barrier_t ring_done;
static atomic_size_t ring_trimmed, ring_bad;

static void ring_take(unsigned from)
{
    for (int k = 0; k < RING_BATCH; k++) {
        msg_t *m = atomic_exchange(&ring_slot[from][k], NULL);
        if (m == NULL)
            continue;
        if (m->type != from || m->p.u64[1] != m->p.u64[0] * 3)
            atomic_fetch_add(&ring_bad, 1);
        msg_free(m);
    }
}

static void *ring_main(void *arg)
{
    unsigned me = (unsigned)(uintptr_t)arg, prev = (me + RING_THREADS - 1) % RING_THREADS;
    static _Thread_local msg_t *held[5 * MSG_SLAB];
    for (uint64_t r = 0; r < RING_ROUNDS; r++) {
        /* Now and then a burst: five slabs' worth in use at once. */
        size_t burst = r % 50 == 0 ? 5 * MSG_SLAB : RING_BATCH;
        for (size_t k = 0; k < burst; k++) {
            held[k] = msg_alloc(me);
            held[k]->p.u64[0] = r * burst + k;
            held[k]->p.u64[1] = held[k]->p.u64[0] * 3;
        }
        for (size_t k = 0; k < burst;
             k++) /* an untaken one comes back: free it (NULL is ignored) */
            msg_free(atomic_exchange(&ring_slot[me][k % RING_BATCH], held[k]));
        ring_take(prev);
        if (r % 16 == 0)
            atomic_fetch_add(&ring_trimmed, msg_trim());
    }
    pthread_barrier_wait(&ring_done); /* every thread has stopped sending */
    ring_take(prev);
    pthread_barrier_wait(&ring_done); /* every message is free now */
    atomic_fetch_add(&ring_trimmed, msg_trim());
    return NULL;
}

Test(msg, trim_races_remote_frees)
{
    pthread_t t[RING_THREADS];
    pthread_barrier_init(&ring_done, NULL, RING_THREADS);
    for (unsigned i = 0; i < RING_THREADS; i++)
        pthread_create(&t[i], NULL, ring_main, (void *)(uintptr_t)i);
    for (unsigned i = 0; i < RING_THREADS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&ring_done);
    msg_stats_t s;
    msg_stats(&s);
    cr_assert_eq(atomic_load(&ring_bad), 0, "a message changed while in flight");
    cr_assert_eq(s.allocs, s.frees, "every message freed once");
    cr_assert_gt(atomic_load(&ring_trimmed), 0);
    cr_assert_eq(atomic_load(&ring_trimmed), s.slabs_freed * msg_slab_bytes());
    cr_assert_leq(s.refills - s.slabs_freed, RING_THREADS * MSG_TRIM_KEEP,
                  "after the last trims only the kept slabs remain");
}
