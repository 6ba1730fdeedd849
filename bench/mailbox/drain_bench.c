/* drain_bench.c: the consumer's cost per message, alone: a producer thread on CPU 1 pushes n
 * messages into an empty mailbox, then the consumer on CPU 0 pops them all, timed. The best of
 * DRAIN_REPS repetitions is reported: interference from other work only ever adds time, so the
 * minimum is a stable number even on a busy machine. Compares the runtime's mailbox (whose
 * consumer reverses each taken stack) with the previous Vyukov mailbox (which follows links
 * in push order). Called only by mailbox_bench.c. Never asserts; the hand-off between the two
 * threads is a spin on an atomic flag (a benchmark, not the runtime). */
#include "drain_bench.h"

#include "mbox.h"
#include "msg.h"
#include "vyukov.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define DRAIN_REPS 25

static struct {
    atomic_int phase; /* 1: producer fills; 0: filled (or idle); -1: producer exits */
    int n;
    bool vyukov;
    mbox_t mbox;
    vyk_t vyk;
    msg_t **msgs;
} D;

static void drain_pin(int cpu)
{
    cpu_set_t set;

    if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
        return;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void *drain_producer(void *arg)
{
    (void)arg;
    drain_pin(1);
    for (;;) {
        int ph;

        while ((ph = atomic_load(&D.phase)) == 0)
            sched_yield();
        if (ph < 0)
            return NULL;
        for (int i = 0; i < D.n; i++) {
            msg_t *m = D.msgs[i];

            m->p.u64[0] = (uint64_t)i;
            if (D.vyukov)
                (void)vyk_push_mp(&D.vyk, &m->link.node);
            else
                (void)mbox_push_mp(&D.mbox, &m->link.node);
        }
        atomic_store(&D.phase, 0);
    }
}

static uint64_t drain_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One fill + timed drain; returns ns for the drain. */
static uint64_t drain_once(void)
{
    mbox_node_t *node;
    uint64_t sum = 0;

    mbox_init(&D.mbox, false);
    vyk_init(&D.vyk, false);
    atomic_store(&D.phase, 1);
    while (atomic_load(&D.phase) != 0)
        sched_yield();
    uint64_t t0 = drain_now_ns();
    while ((node = D.vyukov ? vyk_pop_sc(&D.vyk) : mbox_pop_sc(&D.mbox)) != NULL)
        sum += msg_of_node(node)->p.u64[0]; /* read the payload, as a behaviour would */
    uint64_t t1 = drain_now_ns();
    return sum == (uint64_t)D.n * (uint64_t)(D.n - 1) / 2 ? t1 - t0 : UINT64_MAX;
}

typedef struct drain_job {
    const int *sizes;
    int nsizes;
    double *mbox_ns, *vyukov_ns;
} drain_job_t;

/* The consumer side, on its own pinned thread (so the caller's affinity is left alone). */
static void *drain_consumer(void *arg)
{
    drain_job_t *j = arg;

    drain_pin(0);
    for (int i = 0; i < j->nsizes; i++) {
        for (int v = 0; v < 2; v++) {
            uint64_t best = UINT64_MAX;

            D.n = j->sizes[i];
            D.vyukov = v == 1;
            for (int r = 0; r < DRAIN_REPS; r++) {
                uint64_t t = drain_once();

                best = t < best ? t : best;
            }
            (v == 1 ? j->vyukov_ns : j->mbox_ns)[i] = (double)best / (double)j->sizes[i];
        }
    }
    return NULL;
}

void drain_bench(const int *sizes, int nsizes, double *mbox_ns, double *vyukov_ns)
{
    drain_job_t job = {sizes, nsizes, mbox_ns, vyukov_ns};
    int max = 0;
    pthread_t prod, cons;

    for (int i = 0; i < nsizes; i++)
        max = sizes[i] > max ? sizes[i] : max;
    D.msgs = calloc((size_t)max, sizeof(*D.msgs));
    for (int i = 0; i < max; i++)
        D.msgs[i] = msg_alloc(1); /* from a pool, as real messages */
    atomic_store(&D.phase, 0);
    pthread_create(&prod, NULL, drain_producer, NULL);
    pthread_create(&cons, NULL, drain_consumer, &job);
    pthread_join(cons, NULL);
    atomic_store(&D.phase, -1);
    pthread_join(prod, NULL);
    for (int i = 0; i < max; i++)
        msg_free(D.msgs[i]);
    free(D.msgs);
}
