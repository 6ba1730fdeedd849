/* test_chat_limits.c: the two lock-free pieces of src/actors/chat/chat_limits.c under many
 * threads (label tsan: also under ThreadSanitizer):
 *   - the --max-unauth count: never above the cap however many threads acquire at once,
 *     and back to 0 when every place is released;
 *   - the log gate: within one second exactly one line passes, and every hit is either
 *     printed or counted in the "N more" of a later line. */
#include "actors_test.h"
#include "chat.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { THREADS = 8, CAP = 5 };

static chat_ctx_t ctx;
static atomic_int holding;  /* places held right now, by the test's own count */
static atomic_int max_seen; /* the most places ever held at once */
static atomic_int lines;
static atomic_ullong reported_more;

static void *acquire_release(void *arg)
{
    unsigned rounds = (unsigned)(uintptr_t)arg, got = 0;
    for (unsigned i = 0; i < rounds; i++) {
        if (!chat_unauth_acquire(&ctx))
            continue;
        got++;
        int now = atomic_fetch_add(&holding, 1) + 1;
        int seen = atomic_load(&max_seen);
        while (now > seen && !atomic_compare_exchange_weak(&max_seen, &seen, now))
            ;
        atomic_fetch_sub(&holding, 1);
        chat_unauth_release(&ctx);
    }
    return (void *)(uintptr_t)got;
}

Test(chat_limits, unauth_count_never_passes_the_cap, .timeout = 120)
{
    memset(&ctx, 0, sizeof(ctx));
    ctx.cfg.max_unauth = CAP;
    unsigned rounds = ACT_SCALE(200000);
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, acquire_release, (void *)(uintptr_t)rounds), 0);
    uint64_t got = 0;
    for (int i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(t[i], &r);
        got += (uintptr_t)r;
    }
    cr_assert_leq(atomic_load(&max_seen), CAP, "%d places held at once, cap %d",
                  atomic_load(&max_seen), CAP);
    cr_assert_gt(got, 0);
    cr_assert_eq(chat_unauth_count(&ctx), 0, "places leaked or released twice");
    for (int i = 0; i < CAP; i++)
        cr_assert(chat_unauth_acquire(&ctx), "place %d", i);
    cr_assert_not(chat_unauth_acquire(&ctx), "the cap let one more in");
}

static void count_line(const char *line)
{
    atomic_fetch_add(&lines, 1);
    const char *more = strstr(line, "(and ");
    if (more != NULL)
        atomic_fetch_add(&reported_more, strtoull(more + 5, NULL, 10));
}

static void *hit_many(void *arg)
{
    unsigned n = (unsigned)(uintptr_t)arg;
    for (unsigned i = 0; i < n; i++)
        chat_limit_hit(&ctx, CHAT_LIMIT_CHAT_RATE, "hit %u", i);
    return NULL;
}

Test(chat_limits, gate_prints_one_line_a_second_and_counts_the_rest, .timeout = 60)
{
    memset(&ctx, 0, sizeof(ctx));
    ctx.warn = count_line;
    ctx.sched = sched_create(1, NULL); /* these threads are no workers: nothing is counted */
    cr_assert_not_null(ctx.sched);
    unsigned per_thread = ACT_SCALE(20000);
    pthread_t t[THREADS];
    uint64_t t0 = act_now_ms();
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, hit_many, (void *)(uintptr_t)per_thread), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    uint64_t took = act_now_ms() - t0;
    int printed = atomic_load(&lines);
    cr_assert_geq(printed, 1);
    cr_assert_leq((uint64_t)printed, took / 1000 + 1, "%d lines in %llu ms", printed,
                  (unsigned long long)took);
    /* One more hit after the gate reopens carries every hit held back. */
    usleep(1100 * 1000);
    chat_limit_hit(&ctx, CHAT_LIMIT_CHAT_RATE, "last");
    uint64_t hits = (uint64_t)THREADS * per_thread + 1;
    cr_assert_eq((uint64_t)atomic_load(&lines) + atomic_load(&reported_more), hits,
                 "printed %d + reported %llu != %llu hits", atomic_load(&lines),
                 (unsigned long long)atomic_load(&reported_more), (unsigned long long)hits);
    sched_destroy(ctx.sched);
}
