/* test_stress.c: the runtime under load on the built-in thread pool (2 workers).
 * Run by ctest (label tsan; counts shrink 10x under TSan, see ACT_SCALE).
 *  - stress: 8 producer threads x 1,000,000 messages to 1,000 actors - each message delivered
 *    exactly once, per-sender order kept (stamped {producer, seq}), counted by the test;
 *  - fan-in: many threads to one actor, flooding or paced (the senders work between sends, so
 *    the actor keeps catching up and going idle) - more sender threads than cores;
 *  - gap-free mailbox: no run ever finds nothing to pop (sched_stats().stalls == 0, so
 *    runs <= messages handled): an actor is never re-run to wait for a half-done send;
 *  - ping-pong pairs and a token ring (actor-to-actor sends, local schedules and steals);
 *  - invariant 1/2 accounting: no concurrent run of one actor (an "in behaviour" flag), and
 *    at quiescence every schedule was exactly one run;
 *  - a warm runtime does no malloc per message (pool refills stay flat).
 * Threads other than the test's own never call cr_assert: they count errors for the main
 * thread to assert. Producers are flow-controlled by a per-producer window (a semaphore the
 * actors post), so memory stays bounded; nothing waits by sleeping. */
#include "actor.h"
#include "actors_test.h"
#include "scheduler.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PRODUCERS 8
#define WINDOW        16384 /* messages a producer may have in flight */

typedef struct sink {
    uint64_t next[MAX_PRODUCERS]; /* next expected seq per producer: owner-run only */
    atomic_int in_behaviour;
    long count;
} sink_t;

static struct {
    sched_t *s;
    actor_ref_t *refs;
    sink_t *sinks;
    int nactors;
    long per_producer;
    atomic_long delivered_by[MAX_PRODUCERS];
    sem_t credit[MAX_PRODUCERS];
    atomic_long total;
    long target;
    unsigned work; /* busy-loop iterations a producer spends between two sends */
    sem_t done;
    atomic_long order_errors, concurrent_runs, send_errors;
} S;

static void sink_behaviour(actor_t *self, msg_t *m)
{
    sink_t *k = actor_state(self);

    if (atomic_exchange(&k->in_behaviour, 1) != 0) /* invariant 2: one thread at a time */
        atomic_fetch_add(&S.concurrent_runs, 1);
    uint32_t p = m->p.u32[0];
    uint64_t seq = m->p.u64[1];
    if (seq != k->next[p])
        atomic_fetch_add(&S.order_errors, 1);
    k->next[p] = seq + 1;
    k->count++;
    msg_free(m);
    long d = atomic_fetch_add(&S.delivered_by[p], 1) + 1;
    if (d % (WINDOW / 4) == 0)
        sem_post(&S.credit[p]);
    if (atomic_fetch_add(&S.total, 1) + 1 == S.target)
        sem_post(&S.done);
    atomic_store(&k->in_behaviour, 0);
}

static const actor_type_t sink_type = {"sink", sink_behaviour, NULL};

static void *producer(void *arg)
{
    uint32_t p = (uint32_t)(uintptr_t)arg;

    for (long i = 0; i < S.per_producer; i++) {
        while (i - atomic_load(&S.delivered_by[p]) >= WINDOW)
            sem_wait(&S.credit[p]); /* posted every WINDOW/4 deliveries of ours */
        for (volatile unsigned k = 0; k < S.work; k++) /* the sender's own work */
            ;
        msg_t *m = msg_alloc(1);
        if (m == NULL) {
            atomic_fetch_add(&S.send_errors, 1);
            continue;
        }
        m->p.u32[0] = p;
        m->p.u64[1] = (uint64_t)(i / S.nactors); /* seq per (producer, actor) */
        if (actor_send(S.refs[i % S.nactors], m) != 0)
            atomic_fetch_add(&S.send_errors, 1);
    }
    return NULL;
}

/* Spawn nactors sinks, run nprod producers of per_producer messages, check everything. */
static void run_sinks(int nactors, int nprod, long per_producer, unsigned work)
{
    pthread_t th[MAX_PRODUCERS];
    sched_stats_t st;
    msg_stats_t ms;

    S.s = sched_create(2, NULL);
    S.nactors = nactors;
    S.per_producer = per_producer;
    S.target = per_producer * nprod;
    S.work = work;
    atomic_store(&S.total, 0); /* a test may call run_sinks more than once */
    for (int p = 0; p < MAX_PRODUCERS; p++)
        atomic_store(&S.delivered_by[p], 0);
    S.refs = calloc((size_t)nactors, sizeof(*S.refs));
    S.sinks = calloc((size_t)nactors, sizeof(*S.sinks));
    sem_init(&S.done, 0, 0);
    for (int i = 0; i < nactors; i++)
        cr_assert_eq(actor_spawn(S.s, &sink_type, &S.sinks[i], &S.refs[i]), 0);
    for (int p = 0; p < nprod; p++)
        sem_init(&S.credit[p], 0, 0);
    cr_assert_eq(sched_pool_start(S.s), 0);
    for (int p = 0; p < nprod; p++)
        pthread_create(&th[p], NULL, producer, (void *)(uintptr_t)p);
    bool done = act_sem_wait_ms(&S.done, 110000);
    for (int p = 0; p < nprod; p++)
        pthread_join(th[p], NULL);
    sched_pool_stop(S.s);
    cr_assert(done, "only %ld of %ld messages delivered", atomic_load(&S.total), S.target);

    cr_assert_eq(atomic_load(&S.send_errors), 0);
    cr_assert_eq(atomic_load(&S.order_errors), 0, "per-sender order broken");
    cr_assert_eq(atomic_load(&S.concurrent_runs), 0, "an actor ran on two threads at once");
    long expect_each = per_producer / nactors;
    for (int i = 0; i < nactors; i++) {
        cr_assert_eq(S.sinks[i].count, expect_each * nprod, "actor %d count", i);
        for (int p = 0; p < nprod; p++)
            cr_assert_eq(S.sinks[i].next[p], (uint64_t)expect_each, "actor %d from %d", i, p);
    }
    sched_stats(S.s, &st);
    cr_assert_eq((long)st.delivered, S.target, "delivered exactly once");
    cr_assert_eq(st.schedules, st.runs, "every schedule is exactly one run");
    /* Gap-free mailbox: every run handles at least one message. */
    cr_assert_eq(st.stalls, 0, "%lu runs found nothing to pop", (unsigned long)st.stalls);
    cr_assert_leq(st.runs, st.delivered + st.stale_drops, "%lu runs for %lu messages",
                  (unsigned long)st.runs, (unsigned long)st.delivered);
    sched_destroy(S.s);
    msg_stats(&ms);
    cr_assert_eq(ms.allocs, ms.frees, "every message freed exactly once");
    free(S.refs);
    free(S.sinks);
}

Test(stress, eight_producers_to_1000_actors, .timeout = 120)
{
    run_sinks(1000, 8, ACT_SCALE(1000000), 0);
}

Test(stress, fan_in_to_one_actor, .timeout = 60)
{
    run_sinks(1, 4, ACT_SCALE(250000), 0);
}

/* The case that made the previous (Vyukov) mailbox spin: 8 sender threads on 2 cores, each
 * working between sends, so the one actor keeps catching up. A sender pre-empted in the
 * middle of its two-step push left the actor "not empty, nothing to pop", and the worker
 * re-ran it at once, over and over (0.5-2 million empty runs for 400,000 messages in 5 of 6
 * rounds with that mailbox; it depends on where the kernel pre-empts, hence 3 rounds).
 * run_sinks asserts stalls == 0 and runs <= messages handled. */
Test(stress, paced_fan_in_never_reruns_for_nothing, .timeout = 90)
{
    for (int round = 0; round < 3; round++)
        run_sinks(1, 8, ACT_SCALE(50000), 3000);
}

/* Ping-pong pairs and a token ring: one message is forwarded hop after hop. */
typedef struct hop {
    actor_ref_t next;
    atomic_int in_behaviour;
    bool fresh_alloc; /* reply with a new message instead of forwarding the same one */
} hop_t;

static struct {
    atomic_long finished, concurrent_runs, send_errors;
    long hops;
    sem_t done;
    atomic_long target; /* rewritten between rounds while old behaviours may still read it */
} H;

static void hop_behaviour(actor_t *self, msg_t *m)
{
    hop_t *h = actor_state(self);

    if (atomic_exchange(&h->in_behaviour, 1) != 0)
        atomic_fetch_add(&H.concurrent_runs, 1);
    uint64_t n = ++m->p.u64[0];
    if ((long)n >= H.hops) {
        msg_free(m);
        if (atomic_fetch_add(&H.finished, 1) + 1 == H.target)
            sem_post(&H.done);
    } else {
        if (h->fresh_alloc) {
            msg_t *r = msg_alloc(m->type);

            r->p.u64[0] = n;
            msg_free(m);
            m = r;
        }
        if (actor_send(h->next, m) != 0)
            atomic_fetch_add(&H.send_errors, 1);
    }
    atomic_store(&h->in_behaviour, 0);
}

static const actor_type_t hop_type = {"hop", hop_behaviour, NULL};

/* nactors hop actors in rings of ring_len; `tokens` messages start at ring heads. */
static void run_hops(actor_ref_t *refs, int nactors, int ring_len, int tokens)
{
    H.finished = 0;
    H.target = tokens;
    sem_init(&H.done, 0, 0);
    for (int t = 0; t < tokens; t++) {
        msg_t *m = msg_alloc(9);

        m->p.u64[0] = 0;
        cr_assert_eq(actor_send(refs[(t * ring_len) % nactors], m), 0);
    }
    cr_assert(act_sem_wait_ms(&H.done, 60000), "%ld of %d chains finished",
              atomic_load(&H.finished), tokens);
}

static sched_t *spawn_rings(hop_t *hs, actor_ref_t *refs, int nactors, int ring_len, bool fresh)
{
    sched_t *s = sched_create(2, NULL);

    for (int i = 0; i < nactors; i++) {
        hs[i].fresh_alloc = fresh;
        cr_assert_eq(actor_spawn(s, &hop_type, &hs[i], &refs[i]), 0);
    }
    for (int i = 0; i < nactors; i++) { /* ring i/ring_len: i -> i+1 -> ... -> back */
        int base = i - i % ring_len;
        hs[i].next = refs[base + (i - base + 1) % ring_len];
    }
    cr_assert_eq(sched_pool_start(s), 0);
    return s;
}

Test(stress, ping_pong_pairs_and_token_rings, .timeout = 60)
{
    static hop_t hs[200];
    static actor_ref_t refs[200];
    sched_stats_t st;
    msg_stats_t ms;

    H.hops = ACT_SCALE(40000);                         /* 20,000 round trips per pair */
    sched_t *s = spawn_rings(hs, refs, 128, 2, false); /* 64 ping-pong pairs */
    run_hops(refs, 128, 2, 64);
    sched_pool_stop(s);
    sched_stats(s, &st);
    cr_assert_eq((long)st.delivered, 64 * H.hops);
    cr_assert_eq(st.schedules, st.runs);
    sched_destroy(s);

    memset(hs, 0, sizeof(hs));
    s = spawn_rings(hs, refs, 200, 100, false); /* 2 rings of 100, 8 tokens each */
    run_hops(refs, 200, 100, 16);
    sched_pool_stop(s);
    sched_destroy(s);
    cr_assert_eq(atomic_load(&H.concurrent_runs), 0);
    cr_assert_eq(atomic_load(&H.send_errors), 0);
    msg_stats(&ms);
    cr_assert_eq(ms.allocs, ms.frees);
}

Test(stress, warm_runtime_does_not_malloc_per_message, .timeout = 60)
{
    static hop_t hs[32];
    static actor_ref_t refs[32];
    msg_stats_t a, b;

    H.hops = ACT_SCALE(20000);
    sched_t *s = spawn_rings(hs, refs, 32, 2, true); /* every hop allocs and frees */
    run_hops(refs, 32, 2, 16);                       /* warm up */
    msg_stats(&a);
    run_hops(refs, 32, 2, 16);
    msg_stats(&b);
    sched_pool_stop(s);
    sched_destroy(s);
    cr_assert_geq(b.allocs - a.allocs, (uint64_t)(16 * (H.hops - 1)));
    cr_assert_eq(b.refills, a.refills, "a warm runtime must not malloc (%lu slabs added)",
                 (unsigned long)(b.refills - a.refills));
    cr_assert_eq(atomic_load(&H.send_errors), 0);
}
