/* test_actor.c: actor lifecycle and the scheduler's driver API, mostly on a worker driven by
 * the test thread itself (deterministic), plus a spawn/exit churn with concurrent sends.
 * Run by ctest (label tsan). Checks invariants 3 (exactly-once release) and 4 (stale handles,
 * including after slot reuse) and the idle/wake hook contract used by the network layer. */
#include "actor.h"
#include "actors_test.h"
#include "scheduler.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

enum { T_DATA = 1, T_STOP = 2 };

typedef struct rec {
    int delivered;
    int exits;
    uint64_t last;
    int order_errors;
    int *log; /* optional: who ran, in order */
    int *log_len;
    int tag;
} rec_t;

static atomic_int drops;

static void count_drop(msg_t *m)
{
    (void)m;
    atomic_fetch_add(&drops, 1);
}

static void rec_behaviour(actor_t *self, msg_t *m)
{
    rec_t *r = actor_state(self);

    if (m->p.u64[0] != r->last + 1)
        r->order_errors++;
    r->last = m->p.u64[0];
    r->delivered++;
    if (r->log != NULL)
        r->log[(*r->log_len)++] = r->tag;
    if (m->type == T_STOP)
        actor_exit(self);
    m->drop = NULL;
    msg_free(m);
}

static void rec_on_exit(actor_t *self, void *state)
{
    (void)self;
    ((rec_t *)state)->exits++;
}

static const actor_type_t rec_type = {"rec", rec_behaviour, rec_on_exit};

static msg_t *mk(uint32_t type, uint64_t seq)
{
    msg_t *m = msg_alloc(type);

    cr_assert_not_null(m);
    m->p.u64[0] = seq;
    m->drop = count_drop; /* counts only messages released without being handled */
    return m;
}

Test(actor, deliver_in_order_then_exit_then_stale)
{
    sched_t *s = sched_create(1, NULL);
    rec_t r = {0};
    actor_ref_t ref;

    sched_worker_enter(s, 0);
    cr_assert_eq(actor_spawn(s, &rec_type, &r, &ref), 0);
    cr_assert(actor_ref_alive(ref));
    for (uint64_t i = 1; i <= 10; i++)
        cr_assert_eq(actor_send(ref, mk(i == 10 ? T_STOP : T_DATA, i)), 0);
    cr_assert_eq(sched_run_batch(s, 0, 16), 1, "one actor, one run");
    cr_assert_eq(r.delivered, 10);
    cr_assert_eq(r.order_errors, 0);
    cr_assert_eq(r.exits, 1);
    cr_assert_not(actor_ref_alive(ref));
    cr_assert_eq(actor_send(ref, mk(T_DATA, 11)), -ESRCH);
    cr_assert_eq(atomic_load(&drops), 1, "the refused message is released");
    cr_assert_eq(sched_run_batch(s, 0, 16), 0, "nothing was scheduled by the refused send");
    sched_worker_leave(s, 0);
    sched_destroy(s);
    cr_assert_eq(r.exits, 1, "on_exit runs once, not again at destroy");
    msg_stats_t st;
    msg_stats(&st);
    cr_assert_eq(st.allocs, st.frees);
}

Test(actor, exit_releases_queued_messages)
{
    sched_t *s = sched_create(1, NULL);
    rec_t r = {0};
    actor_ref_t ref;
    sched_stats_t ss;

    sched_worker_enter(s, 0);
    actor_spawn(s, &rec_type, &r, &ref);
    cr_assert_eq(actor_send(ref, mk(T_STOP, 1)), 0);
    for (uint64_t i = 2; i <= 10; i++)
        cr_assert_eq(actor_send(ref, mk(T_DATA, i)), 0);
    sched_run_batch(s, 0, 16);
    cr_assert_eq(r.delivered, 1, "nothing is delivered after actor_exit");
    cr_assert_eq(r.exits, 1);
    cr_assert_eq(atomic_load(&drops), 9, "the 9 queued messages are released");
    sched_stats(s, &ss);
    cr_assert_eq(ss.stale_drops, 9);
    cr_assert_eq(ss.exits, 1);
    sched_worker_leave(s, 0);
    sched_destroy(s);
}

Test(actor, stale_handle_after_slot_reuse)
{
    sched_t *s = sched_create(1, NULL);
    rec_t r1 = {0}, r2 = {0};
    actor_ref_t old, fresh;

    sched_worker_enter(s, 0);
    actor_spawn(s, &rec_type, &r1, &old);
    actor_send(old, mk(T_STOP, 1));
    sched_run_batch(s, 0, 4);
    cr_assert_eq(r1.exits, 1);
    actor_spawn(s, &rec_type, &r2, &fresh);
    cr_assert_eq(fresh.a, old.a, "LIFO slot free list: the slot is reused");
    cr_assert_neq(fresh.gen, old.gen);
    cr_assert_eq(actor_send(old, mk(T_DATA, 1)), -ESRCH, "old handle must not reach new actor");
    cr_assert_eq(actor_send(fresh, mk(T_DATA, 1)), 0);
    sched_run_batch(s, 0, 4);
    cr_assert_eq(r2.delivered, 1);
    cr_assert_eq(r1.delivered, 1);
    sched_worker_leave(s, 0);
    sched_destroy(s);
    cr_assert_eq(r2.exits, 1, "destroy exits the live actor");
    cr_assert_eq(atomic_load(&drops), 1);
}

Test(actor, batch_limit_gives_others_a_turn)
{
    sched_t *s = sched_create(1, NULL);
    int log[512], len = 0;
    rec_t big = {.log = log, .log_len = &len, .tag = 1};
    rec_t small = {.log = log, .log_len = &len, .tag = 2};
    actor_ref_t a, b;

    sched_worker_enter(s, 0);
    actor_spawn(s, &rec_type, &big, &a);
    actor_spawn(s, &rec_type, &small, &b);
    for (uint64_t i = 1; i <= 3 * ACTOR_BATCH; i++)
        actor_send(a, mk(T_DATA, i));
    actor_send(b, mk(T_DATA, 1));
    cr_assert_eq(sched_run_batch(s, 0, 100), 4, "big runs 3 times, small once");
    cr_assert_eq(len, 3 * ACTOR_BATCH + 1);
    cr_assert_eq(log[ACTOR_BATCH], 2, "small runs right after big's first batch");
    cr_assert_eq(big.order_errors, 0);
    sched_worker_leave(s, 0);
    sched_destroy(s);
}

/* The hook contract the network layer relies on. */
static atomic_int hook_calls;

static void count_hook(void *ctx, unsigned worker)
{
    (void)ctx;
    cr_assert_eq(worker, 0u);
    atomic_fetch_add(&hook_calls, 1);
}

typedef struct send_job {
    actor_ref_t to;
    int n;
} send_job_t;

static void *send_from_thread(void *p)
{
    send_job_t *j = p;

    for (int i = 1; i <= j->n; i++)
        cr_assert_eq(actor_send(j->to, mk(T_DATA, (uint64_t)i)), 0);
    return NULL;
}

Test(sched, idle_hook_called_once_per_idle_period, .timeout = 20)
{
    sched_hooks_t hooks = {count_hook, NULL};
    sched_t *s = sched_create(1, &hooks);
    rec_t r1 = {0}, r2 = {0};
    actor_ref_t a1, a2;
    pthread_t t;

    sched_worker_enter(s, 0);
    actor_spawn(s, &rec_type, &r1, &a1);
    actor_spawn(s, &rec_type, &r2, &a2);
    cr_assert_not(sched_has_work(s, 0));
    cr_assert(sched_idle_begin(s, 0), "nothing queued: may block");
    send_job_t j1 = {a1, 1}, j2 = {a2, 1};
    pthread_create(&t, NULL, send_from_thread, &j1); /* another thread: inject + wake */
    pthread_join(t, NULL);
    cr_assert_eq(atomic_load(&hook_calls), 1, "a sleeping worker is woken");
    pthread_create(&t, NULL, send_from_thread, &j2);
    pthread_join(t, NULL);
    cr_assert_eq(atomic_load(&hook_calls), 1, "already woken: no second hook call");
    sched_idle_end(s, 0);
    cr_assert_eq(sched_run_batch(s, 0, 8), 2);
    cr_assert_eq(r1.delivered + r2.delivered, 2);
    /* Work queued between "announce" and "re-check" must cancel the block. */
    j1.n = 1;
    pthread_create(&t, NULL, send_from_thread, &j1);
    pthread_join(t, NULL); /* the worker is awake: no hook */
    cr_assert_eq(atomic_load(&hook_calls), 1);
    cr_assert_not(sched_idle_begin(s, 0), "work is queued: must not block");
    cr_assert_eq(sched_run_batch(s, 0, 8), 1);
    sched_worker_leave(s, 0);
    sched_destroy(s);
}

/* Churn: threads spawn short-lived actors and send to recent handles (some stale, some
 * exiting concurrently) while the pool runs. Every message must end up delivered or
 * released, exactly once; every actor must be exited exactly once. */
#define CH_THREADS 4
#define CH_REFS    4096

typedef struct churn {
    sched_t *s;
    actor_ref_t refs[CH_REFS];
    atomic_int ready[CH_REFS]; /* 1 once refs[i] is written; slots are written only once */
    atomic_int published;
    atomic_long sent_ok, esrch, delivered, exits;
    int spawns_per_thread;
} churn_t;

static churn_t ch;

static void churn_behaviour(actor_t *self, msg_t *m)
{
    atomic_fetch_add(&ch.delivered, 1);
    if (m->type == T_STOP)
        actor_exit(self);
    msg_free(m);
}

static void churn_exit(actor_t *self, void *state)
{
    (void)self;
    (void)state;
    atomic_fetch_add(&ch.exits, 1);
}

static const actor_type_t churn_type = {"churn", churn_behaviour, churn_exit};

static void churn_send(actor_ref_t to, uint32_t type)
{
    msg_t *m = msg_alloc(type);

    if (actor_send(to, m) == 0)
        atomic_fetch_add(&ch.sent_ok, 1);
    else
        atomic_fetch_add(&ch.esrch, 1);
}

static void *churn_thread(void *p)
{
    unsigned seed = (unsigned)(uintptr_t)p;

    for (int i = 0; i < ch.spawns_per_thread; i++) {
        actor_ref_t r;

        cr_assert_eq(actor_spawn(ch.s, &churn_type, NULL, &r), 0);
        churn_send(r, T_DATA);
        churn_send(r, T_STOP);
        for (int j = 0; j < 4; j++) /* races with the exit just queued */
            churn_send(r, T_DATA);
        /* Publish the handle, then send to an older one (another thread's, most likely
         * stale by now, possibly with its slot already reused by a newer actor). */
        int k = atomic_fetch_add(&ch.published, 1);
        if (k < CH_REFS) {
            ch.refs[k] = r;
            atomic_store_explicit(&ch.ready[k], 1, memory_order_release); /* pairs below */
        }
        int v = (int)(rand_r(&seed) % CH_REFS);
        if (atomic_load_explicit(&ch.ready[v], memory_order_acquire) == 1)
            churn_send(ch.refs[v], T_DATA);
    }
    return NULL;
}

static bool churn_settled(void *arg)
{
    sched_stats_t st;

    sched_stats((sched_t *)arg, &st);
    return atomic_load(&ch.delivered) + (long)st.stale_drops == atomic_load(&ch.sent_ok);
}

Test(actor, spawn_exit_churn_with_messages_in_flight, .timeout = 60)
{
    pthread_t th[CH_THREADS];
    sched_stats_t st;
    msg_stats_t ms;

    ch.s = sched_create(2, NULL);
    ch.spawns_per_thread = ACT_SCALE(20000);
    cr_assert_eq(sched_pool_start(ch.s), 0);
    for (int t = 0; t < CH_THREADS; t++)
        pthread_create(&th[t], NULL, churn_thread, (void *)(uintptr_t)(t + 1));
    for (int t = 0; t < CH_THREADS; t++)
        pthread_join(th[t], NULL);
    cr_assert(act_wait_until(churn_settled, ch.s, 30000), "messages stranded in mailboxes");
    sched_pool_stop(ch.s);
    sched_stats(ch.s, &st);
    long spawned = (long)CH_THREADS * ch.spawns_per_thread;
    cr_assert_eq(atomic_load(&ch.exits), spawned, "every actor exits exactly once");
    cr_assert_eq((long)st.spawns, spawned);
    cr_assert_eq((long)st.exits, spawned);
    cr_assert_eq(atomic_load(&ch.delivered) + (long)st.stale_drops, atomic_load(&ch.sent_ok));
    cr_assert_geq(atomic_load(&ch.delivered), 2 * spawned, "DATA+STOP before exit delivered");
    sched_destroy(ch.s);
    msg_stats(&ms);
    cr_assert_eq(ms.allocs, ms.frees, "every message released exactly once");
}
