/* runtime_bench.c: ping-pong and fan-in through the whole actor runtime, for mailbox_bench.
 * Called only by mailbox_bench.c's main. Never asserts and never waits by sleeping except
 * for the fixed ping-pong duration; producers are flow-controlled by semaphores (blocking).
 * Invariant: every message sent is freed before a scenario returns (sched_destroy drains). */
#include "runtime_bench.h"

#include "actor.h"
#include "scheduler.h"

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static uint64_t rtb_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the whole process (every thread), in nanoseconds. */
static uint64_t rtb_cpu_ns(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

/* ---- ping-pong ---- */

static struct {
    atomic_int stop;
    atomic_ulong hops;
    sem_t done;
} PP;

typedef struct pp_actor {
    actor_ref_t partner;
} pp_actor_t;

static void pp_behaviour(actor_t *self, msg_t *m)
{
    pp_actor_t *a = actor_state(self);

    m->p.u64[0]++;
    if (atomic_load_explicit(&PP.stop, memory_order_relaxed)) {
        atomic_fetch_add(&PP.hops, m->p.u64[0]);
        msg_free(m);
        sem_post(&PP.done);
        return;
    }
    actor_send(a->partner, m); /* forward the same message: no allocation per hop */
}

static const actor_type_t pp_type = {"pingpong", pp_behaviour, NULL};

double rtb_pingpong(unsigned workers, int pairs, unsigned ms)
{
    sched_t *s = sched_create(workers, NULL);
    pp_actor_t *st = calloc((size_t)pairs * 2, sizeof(*st));
    actor_ref_t *refs = calloc((size_t)pairs * 2, sizeof(*refs));
    struct timespec pause = {ms / 1000, (long)(ms % 1000) * 1000000L};

    atomic_store(&PP.stop, 0);
    atomic_store(&PP.hops, 0);
    sem_init(&PP.done, 0, 0);
    for (int i = 0; i < pairs * 2; i++)
        actor_spawn(s, &pp_type, &st[i], &refs[i]);
    for (int i = 0; i < pairs * 2; i++)
        st[i].partner = refs[i ^ 1];
    sched_pool_start(s);
    uint64_t t0 = rtb_now_ns();
    for (int i = 0; i < pairs; i++) {
        msg_t *m = msg_alloc(1);

        m->p.u64[0] = 0;
        actor_send(refs[2 * i], m);
    }
    nanosleep(&pause, NULL); /* the measured interval, not a wait for a condition */
    atomic_store(&PP.stop, 1);
    for (int i = 0; i < pairs; i++)
        sem_wait(&PP.done);
    uint64_t t1 = rtb_now_ns();
    sched_pool_stop(s);
    sched_destroy(s);
    free(st);
    free(refs);
    sem_destroy(&PP.done);
    return (double)atomic_load(&PP.hops) / 2.0 / ((double)(t1 - t0) / 1e9);
}

/* ---- fan-in ---- */

#define FI_MAXP   8
#define FI_WINDOW 16384 /* messages a producer may have in flight */

static struct {
    actor_ref_t sink;
    long per_producer;
    unsigned work;
    long target;
    atomic_long delivered_by[FI_MAXP];
    atomic_long total;
    sem_t credit[FI_MAXP]; /* posted every FI_WINDOW/4 deliveries of that producer */
    sem_t done;
} FI;

static void fi_behaviour(actor_t *self, msg_t *m)
{
    uint32_t p = m->p.u32[0];

    (void)self;
    msg_free(m);
    if ((atomic_fetch_add(&FI.delivered_by[p], 1) + 1) % (FI_WINDOW / 4) == 0)
        sem_post(&FI.credit[p]);
    if (atomic_fetch_add(&FI.total, 1) + 1 == FI.target)
        sem_post(&FI.done);
}

static const actor_type_t fi_type = {"fan-in sink", fi_behaviour, NULL};

static void *fi_producer(void *arg)
{
    uint32_t p = (uint32_t)(uintptr_t)arg;

    for (long i = 0; i < FI.per_producer; i++) {
        while (i - atomic_load(&FI.delivered_by[p]) >= FI_WINDOW)
            sem_wait(&FI.credit[p]);
        for (volatile unsigned k = 0; k < FI.work; k++) /* the sender's own work */
            ;
        msg_t *m = msg_alloc(1);

        m->p.u32[0] = p;
        actor_send(FI.sink, m);
    }
    return NULL;
}

rtb_fanin_t rtb_fanin(int producers, long per_producer, unsigned work)
{
    sched_t *s = sched_create(2, NULL);
    pthread_t th[FI_MAXP];
    sched_stats_t st;
    rtb_fanin_t r;

    if (producers > FI_MAXP)
        producers = FI_MAXP;
    FI.per_producer = per_producer;
    FI.work = work;
    FI.target = per_producer * producers;
    atomic_store(&FI.total, 0);
    sem_init(&FI.done, 0, 0);
    for (int p = 0; p < producers; p++) {
        atomic_store(&FI.delivered_by[p], 0);
        sem_init(&FI.credit[p], 0, 0);
    }
    actor_spawn(s, &fi_type, NULL, &FI.sink);
    sched_pool_start(s);
    uint64_t t0 = rtb_now_ns(), c0 = rtb_cpu_ns();
    for (int p = 0; p < producers; p++)
        pthread_create(&th[p], NULL, fi_producer, (void *)(uintptr_t)p);
    sem_wait(&FI.done);
    uint64_t t1 = rtb_now_ns(), c1 = rtb_cpu_ns();
    for (int p = 0; p < producers; p++)
        pthread_join(th[p], NULL);
    sched_pool_stop(s);
    sched_stats(s, &st);
    sched_destroy(s);
    for (int p = 0; p < producers; p++)
        sem_destroy(&FI.credit[p]);
    sem_destroy(&FI.done);
    r.msgs_per_s = (double)FI.target / ((double)(t1 - t0) / 1e9);
    r.cpu_ns_per_msg = (double)(c1 - c0) / (double)FI.target;
    r.runs = st.runs;
    r.stalls = st.stalls;
    return r;
}
