/* test_net_buf.c: reference-counted buffers and their per-thread pools:
 * sizes and contents, reference counting, reuse once warm, and buffers
 * allocated on one thread and released on another (the room -> worker
 * pattern), and the trim that gives a burst's buffers back. Label "tsan":
 * the cross-thread tests also run under TSan.
 * Run by ctest; never waits without a bound (spins are counted and yield). */
#include "net_harness.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

Test(buf, sizes_contents_and_truncate, .timeout = 10)
{
    static const size_t sizes[] = {0, 1, 95, 96, 97, 480, 4000, 30000, 131000, 1u << 20};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        net_buf_t *b = net_buf_alloc(sizes[i]);
        cr_assert_not_null(b);
        cr_assert_eq(net_buf_len(b), sizes[i]);
        cr_assert_eq(net_buf_refcount(b), 1);
        memset(net_buf_data(b), (int)i, sizes[i]); /* ASan: the whole length is ours */
        if (sizes[i] > 0) {
            net_buf_truncate(b, sizes[i] - 1);
            cr_assert_eq(net_buf_len(b), sizes[i] - 1);
        }
        net_buf_unref(b);
    }
}

Test(buf, refcount_counts, .timeout = 10)
{
    net_buf_t *b = net_buf_alloc(10);
    cr_assert_eq(net_buf_ref(b), b);
    cr_assert_eq(net_buf_ref(b), b);
    cr_assert_eq(net_buf_refcount(b), 3);
    net_buf_unref(b);
    net_buf_unref(b);
    cr_assert_eq(net_buf_refcount(b), 1);
    net_buf_unref(b);
}

/* Once warm, a freed buffer is reused by the next allocation of its class on
 * the same thread (no malloc). Under ASan the pools step aside on purpose. */
Test(buf, pool_reuses_memory, .timeout = 10)
{
    if (H_ASAN)
        cr_skip_test("pools are bypassed under AddressSanitizer");
    net_buf_t *a = net_buf_alloc(200);
    net_buf_unref(a);
    net_buf_t *b = net_buf_alloc(300); /* same size class */
    cr_assert_eq(a, b, "the class's free list should hand back the same memory");
    net_buf_unref(b);
}

typedef struct handoff {
    net_buf_t **slots;
    atomic_uint head, tail; /* single producer, single consumer ring */
    unsigned cap, total;
    unsigned trim_every; /* both sides call net_pool_trim this often (0: never) */
} handoff_t;

static void maybe_trim(const handoff_t *q, unsigned i)
{
    if (q->trim_every != 0 && i % q->trim_every == 0)
        (void)net_pool_trim();
}

static void *producer_main(void *arg)
{
    handoff_t *q = arg;
    for (unsigned i = 0; i < q->total; i++) {
        net_buf_t *b = net_buf_alloc(64 + (i % 3000));
        cr_assert_not_null(b);
        memset(net_buf_data(b), (int)(i & 0xff), net_buf_len(b));
        /* Bounded wait for room: the consumer always makes progress. */
        for (int spin = 0; atomic_load(&q->head) - atomic_load(&q->tail) == q->cap; spin++) {
            cr_assert_lt(spin, 50000000, "consumer stalled");
            sched_yield();
        }
        q->slots[atomic_load(&q->head) % q->cap] = b;
        atomic_fetch_add(&q->head, 1); /* seq_cst: publishes the slot */
        maybe_trim(q, i);
    }
    return NULL;
}

static void *consumer_main(void *arg)
{
    handoff_t *q = arg;
    for (unsigned i = 0; i < q->total; i++) {
        for (int spin = 0; atomic_load(&q->head) == atomic_load(&q->tail); spin++) {
            cr_assert_lt(spin, 50000000, "producer stalled");
            sched_yield();
        }
        net_buf_t *b = q->slots[atomic_load(&q->tail) % q->cap];
        atomic_fetch_add(&q->tail, 1);
        const uint8_t *d = net_buf_data(b);
        cr_assert_eq(d[0], (uint8_t)(i & 0xff), "buffer %u corrupted", i);
        cr_assert_eq(d[net_buf_len(b) - 1], (uint8_t)(i & 0xff));
        net_buf_unref(b); /* released on another thread than it was allocated */
        maybe_trim(q, i);
    }
    return NULL;
}

enum { MAX_PAIRS = 4 };

static void run_pairs(int pairs, unsigned trim_every)
{
    handoff_t q[MAX_PAIRS];
    pthread_t th[2 * MAX_PAIRS];
    cr_assert_leq(pairs, MAX_PAIRS);
    for (int i = 0; i < pairs; i++) {
        q[i] = (handoff_t){.cap = 256, .total = (unsigned)H_SCALE(200000, 20)};
        q[i].trim_every = trim_every;
        q[i].slots = calloc(q[i].cap, sizeof(net_buf_t *));
        cr_assert_eq(pthread_create(&th[2 * i], NULL, producer_main, &q[i]), 0);
        cr_assert_eq(pthread_create(&th[2 * i + 1], NULL, consumer_main, &q[i]), 0);
    }
    for (int i = 0; i < 2 * pairs; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < pairs; i++) {
        cr_assert_eq(atomic_load(&q[i].tail), q[i].total);
        free(q[i].slots);
    }
}

/* Two producer/consumer pairs: buffers cross threads one way, the pools move
 * memory back through the depot (full magazines one way, empty ones the
 * other), contents are never mixed up. */
Test(buf, cross_thread_release, .timeout = 60)
{
    run_pairs(2, 0);
}

/* The same, with every thread trimming as it goes (its cache to the depot,
 * the depot to malloc) while the others push batches to the depot and take
 * it: no buffer is lost or given to two owners, and once the threads have
 * exited (their caches go to the depot) one trim frees every object. */
static void assert_trim_frees_everything(void)
{
    (void)net_pool_trim();
    net_pool_stats_t st;
    net_pool_stats(&st);
    cr_assert_eq(st.bytes, 0, "%llu bytes of objects neither freed nor in use",
                 (unsigned long long)st.bytes);
    cr_assert_eq(st.depot_bytes, 0);
}

Test(buf, trim_races_cross_thread_release, .timeout = 60)
{
    run_pairs(2, 97);
    assert_trim_frees_everything();
}

/* Eight threads (four pairs, more than this machine's cores) push and take
 * both magazine stacks at once, some trimming: the same guarantees. */
Test(buf, eight_threads_share_the_depots, .timeout = 60)
{
    run_pairs(4, 251);
    assert_trim_frees_everything();
}

/* A burst on one thread: once freed, the buffers sit in the thread's cache
 * and the depot (with the magazines that carry them there: about 8 bytes per
 * object); a trim gives every one of them, and every magazine, back to
 * malloc, and the pool works as before afterwards. */
Test(buf, trim_gives_a_burst_back, .timeout = 10)
{
    if (H_ASAN)
        cr_skip_test("pools are bypassed under AddressSanitizer");
    enum { N = 2000 };
    static net_buf_t *b[N];
    net_pool_stats_t st;
    for (int i = 0; i < N; i++)
        b[i] = net_buf_alloc(1000); /* the 2 KiB class */
    net_pool_stats(&st);
    cr_assert_eq(st.bytes, N * 2048ull);
    for (int i = 0; i < N; i++)
        net_buf_unref(b[i]);
    net_pool_stats(&st);
    uint64_t cached = st.bytes;
    cr_assert_geq(cached, N * 2048ull, "freed buffers stay cached");
    cr_assert_leq(cached, N * (2048ull + 16), "magazines cost %llu bytes for %d buffers",
                  (unsigned long long)(cached - N * 2048ull), N);
    cr_assert_gt(st.depot_bytes, 0);
    cr_assert_eq(net_pool_trim(), cached);
    net_pool_stats(&st);
    cr_assert_eq(st.bytes, 0);
    cr_assert_eq(st.depot_bytes, 0);
    net_buf_t *again = net_buf_alloc(1000);
    cr_assert_not_null(again);
    memset(net_buf_data(again), 1, 1000);
    net_buf_unref(again);
}

typedef struct sharer {
    net_buf_t *b;
    int rounds;
} sharer_t;

static void *sharer_main(void *arg)
{
    sharer_t *s = arg;
    for (int i = 0; i < s->rounds; i++) {
        net_buf_ref(s->b);
        cr_assert_eq(net_buf_data(s->b)[7], 7);
        net_buf_unref(s->b);
    }
    return NULL;
}

/* One buffer shared by many threads taking and dropping references: the count
 * returns to exactly one. */
Test(buf, shared_references, .timeout = 60)
{
    enum { T = 4 };
    net_buf_t *b = net_buf_alloc(64);
    for (int i = 0; i < 64; i++)
        net_buf_data(b)[i] = (uint8_t)i;
    sharer_t s = {b, H_SCALE(200000, 20)};
    pthread_t th[T];
    for (int i = 0; i < T; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, sharer_main, &s), 0);
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    cr_assert_eq(net_buf_refcount(b), 1);
    net_buf_unref(b);
}

/* net_buf_unref(NULL) is a no-op, like free(NULL), so error paths need no
 * check (before, it dereferenced NULL). */
Test(net_buf, unref_of_null_is_ignored)
{
    net_buf_unref(NULL);
    net_buf_t *b = net_buf_alloc(16);
    cr_assert_not_null(b);
    cr_assert_eq(net_buf_refcount(b), 1);
    net_buf_unref(b);
}
