/* mailbox_bench.c: messages per second through one mailbox (1, 2, 4 producers -> 1 consumer)
 * for the runtime's mailbox and for four alternatives measured in the same run, then actor
 * ping-pong and fan-in through the whole runtime (runtime_bench.c).
 * Run by hand or by `make bench` (release build). Not a test: it asserts nothing and never
 * fails on slow numbers. It must stay bounded: 5 interleaved 200 ms trials per (queue,
 * producers) cell, a drain test, 3 one-second ping-pong runs, 3 x 2 fan-in runs: about 25 s.
 * Queues compared (all move the same msg_t from per-thread pools, so alloc/free costs are
 * equal; all consumers block when idle and are woken by the producers; the lock-free ones
 * handle at most BATCH messages per "run", like an actor, and keep the rest for the next):
 *   mbox        the runtime's mailbox (src/actors/mbox.c): gap-free - a Treiber stack with
 *               the idle mark in its head word, taken whole and reversed by the consumer
 *   vyukov      the previous mailbox (vyukov.c): Vyukov's MPSC + idle bit; a push is an
 *               exchange then a link store, and the consumer must run again while a push
 *               sits between the two
 *   ckstack     the same idea as mbox built from ck_stack itself (ck_stack_push_upmc +
 *               ck_stack_batch_pop_upmc) plus a separate scheduled/idle word
 *   mutex       textbook pthread mutex + condition variable queue, one message per lock
 *   mutex_batch the same, but the consumer takes the whole list under one lock
 * "stalls" = consumer runs that found nothing to pop (the cost of a push gap).
 * "drain" = the consumer's own cost per message for a mailbox filled by another core
 * (drain_bench.c): the price of the gap-free mailbox's reversal, measured without noise.
 * Producers are flow-controlled (at most WINDOW messages in flight each) so memory stays
 * bounded when they outrun the consumer.
 * Last line: ratio_vs_mutex_2p=X.XX (mbox msgs/s / mutex msgs/s with 2 producers). */
#include "drain_bench.h"
#include "mbox.h"
#include "msg.h"
#include "runtime_bench.h"
#include "vyukov.h"

#include <ck_stack.h>
#include <pthread.h>
#include <semaphore.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#ifndef RINGCHAT_COMMIT
#define RINGCHAT_COMMIT "unknown"
#endif

#define MAXP        4
#define WINDOW      65536 /* messages in flight per producer */
#define PUSH_CHUNK  256   /* producer checks the window every PUSH_CHUNK pushes */
#define BATCH       64    /* consumer: messages per "run", as ACTOR_BATCH */
#define TRIAL_MS    200   /* one trial of one queue; trials of all queues are interleaved */
#define TRIALS      5     /* per (queue, producers): the median is reported */
#define PINGPONG_MS 1000
#define FANIN_RUNS  3
#define DRAIN_SIZES 4

enum kind { K_MBOX, K_VYUKOV, K_CKSTACK, K_MUTEX, K_MUTEX_BATCH, K_COUNT };
static const char *kind_name[K_COUNT] = {"mbox", "vyukov", "ckstack", "mutex", "mutex_batch"};

static struct {
    enum kind kind;
    atomic_int go, stop;
    _Alignas(64) atomic_ulong consumed_by[MAXP][8]; /* [p][0] used; one cache line each */
    uint64_t consumed;                              /* written by the consumer only */
    uint64_t stalls;                                /* consumer runs that popped nothing */
    sem_t run;                                      /* lock-free kinds: one post per schedule */
    /* K_MBOX */
    mbox_t mbox;
    /* K_VYUKOV */
    vyk_t vyk;
    /* K_CKSTACK */
    _Alignas(64) ck_stack_t stack;
    unsigned int scheduled; /* 1 while the consumer holds the right to run; same line */
    _Alignas(64) ck_stack_entry_t *ck_first; /* consumer's private FIFO */
    /* K_MUTEX* */
    _Alignas(64) pthread_mutex_t lock;
    pthread_cond_t cond;
    msg_t *head, *tail;
    bool waiting;
} B;

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Consumer on CPU 0, producers spread over the other CPUs (all on CPU 1 with 2 cores): the
 * consumer always has a core of its own, as a worker thread does in the server, and a
 * producer never shares a core with the consumer it is measured against. */
static bool pin_threads = true;

/* CPU time of the whole process (every thread), in nanoseconds. */
static uint64_t cpu_ns(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

static void pin_self(int cpu)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;

    if (!pin_threads || n < 2)
        return;
    CPU_ZERO(&set);
    CPU_SET(cpu == 0 ? 0 : 1 + (cpu - 1) % (n - 1), &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* ---- producers ---- */

static void push_ckstack(msg_t *m)
{
    ck_stack_push_upmc(&B.stack, &m->link.ret);
    /* Dekker with the consumer's "scheduled = 0; fence; look at the stack": the CAS above is
     * a full barrier on x86; fence_atomic_load makes it one everywhere. */
    ck_pr_fence_atomic_load();
    if (ck_pr_load_uint(&B.scheduled) == 0 && ck_pr_fas_uint(&B.scheduled, 1) == 0)
        sem_post(&B.run);
}

static void push_mutex(msg_t *m)
{
    m->link.node.next = NULL;
    pthread_mutex_lock(&B.lock);
    if (B.tail != NULL)
        B.tail->link.node.next = &m->link.node;
    else
        B.head = m;
    B.tail = m;
    if (B.waiting)
        pthread_cond_signal(&B.cond);
    pthread_mutex_unlock(&B.lock);
}

static void push_one(msg_t *m)
{
    switch (B.kind) {
    case K_MBOX:
        if (mbox_push_mp(&B.mbox, &m->link.node))
            sem_post(&B.run); /* we saw IDLE: schedule the consumer */
        break;
    case K_VYUKOV:
        if (vyk_push_mp(&B.vyk, &m->link.node))
            sem_post(&B.run);
        break;
    case K_CKSTACK:
        push_ckstack(m);
        break;
    default:
        push_mutex(m);
        break;
    }
}

static void *producer(void *arg)
{
    uint64_t p = (uint64_t)(uintptr_t)arg, sent = 0;

    pin_self(1 + (int)p);
    while (!atomic_load(&B.go))
        sched_yield();
    while (!atomic_load_explicit(&B.stop, memory_order_relaxed)) {
        for (int k = 0; k < PUSH_CHUNK; k++) {
            msg_t *m = msg_alloc(1);

            m->p.u64[0] = p;
            push_one(m);
        }
        sent += PUSH_CHUNK;
        while (sent - atomic_load_explicit(&B.consumed_by[p][0], memory_order_acquire) > WINDOW &&
               !atomic_load_explicit(&B.stop, memory_order_relaxed))
            sched_yield(); /* flow control only; the consumer is busy, not blocked */
    }
    return NULL;
}

/* ---- consumers ---- */

static uint64_t local_by[MAXP];

static void consume(msg_t *m)
{
    uint64_t p = m->p.u64[0];

    msg_free(m); /* a remote free: back to the producer's pool */
    if ((++local_by[p] & 1023) == 0)
        atomic_store_explicit(&B.consumed_by[p][0], local_by[p], memory_order_release);
    B.consumed++;
}

static bool stopping(void)
{
    return atomic_load_explicit(&B.stop, memory_order_relaxed) != 0;
}

/* mbox and vyukov: the runtime's run loop in miniature (actor_run): up to BATCH messages,
 * then mark idle; if that fails the consumer stays scheduled and runs again at once. */
static void consume_mbox_like(bool vyukov)
{
    while (!stopping()) {
        sem_wait(&B.run); /* idle until a push reports IDLE */
        for (;;) {        /* one "actor run" per iteration */
            mbox_node_t *n;
            int k = 0;

            while (k < BATCH && (n = vyukov ? vyk_pop_sc(&B.vyk) : mbox_pop_sc(&B.mbox)) != NULL) {
                consume(msg_of_node(n));
                k++;
            }
            if (stopping())
                return;
            B.stalls += k == 0;
            if (vyukov ? vyk_mark_idle_sc(&B.vyk) : mbox_mark_idle_sc(&B.mbox))
                break;
        }
    }
}

/* ckstack: take the whole stack when the private FIFO is empty, reverse it, then consume up to
 * BATCH; give up the scheduled word only when both are empty, then look again (Dekker). */
static bool ckstack_run(void)
{
    int k = 0;

    while (k < BATCH) {
        if (B.ck_first == NULL) {
            ck_stack_entry_t *e = ck_stack_batch_pop_upmc(&B.stack);

            while (e != NULL) { /* LIFO -> FIFO */
                ck_stack_entry_t *next = e->next;

                e->next = B.ck_first;
                B.ck_first = e;
                e = next;
            }
            if (B.ck_first == NULL)
                break;
        }
        ck_stack_entry_t *e = B.ck_first;
        B.ck_first = e->next;
        consume((msg_t *)(void *)e);
        k++;
    }
    B.stalls += k == 0 && !stopping();
    if (B.ck_first != NULL)
        return false;
    ck_pr_fas_uint(&B.scheduled, 0);
    ck_pr_fence_atomic_load();
    /* Empty: done. Not empty: take the right back, unless a producer took it (and posted). */
    return ck_pr_load_ptr(&B.stack.head) == NULL || ck_pr_fas_uint(&B.scheduled, 1) != 0;
}

static void consume_ckstack(void)
{
    while (!stopping()) {
        sem_wait(&B.run);
        while (!stopping() && !ckstack_run())
            ;
    }
}

static void consume_mutex(bool batch)
{
    for (;;) {
        pthread_mutex_lock(&B.lock);
        while (B.head == NULL && !stopping()) {
            B.waiting = true;
            pthread_cond_wait(&B.cond, &B.lock);
            B.waiting = false;
        }
        if (stopping()) {
            pthread_mutex_unlock(&B.lock);
            return;
        }
        msg_t *m = B.head;
        if (batch) {
            B.head = B.tail = NULL;
        } else {
            B.head = m->link.node.next != NULL ? msg_of_node(m->link.node.next) : NULL;
            if (B.head == NULL)
                B.tail = NULL;
            m->link.node.next = NULL;
        }
        pthread_mutex_unlock(&B.lock);
        while (m != NULL) {
            msg_t *next = m->link.node.next != NULL ? msg_of_node(m->link.node.next) : NULL;

            consume(m);
            m = next;
        }
    }
}

static void *consumer(void *arg)
{
    (void)arg;
    pin_self(0);
    switch (B.kind) {
    case K_MBOX:
    case K_VYUKOV:
        consume_mbox_like(B.kind == K_VYUKOV);
        break;
    case K_CKSTACK:
        consume_ckstack();
        break;
    default:
        consume_mutex(B.kind == K_MUTEX_BATCH);
        break;
    }
    return NULL;
}

/* Free whatever is still queued once every thread has stopped. */
static void drain(void)
{
    mbox_node_t *n;
    ck_stack_entry_t *e = ck_stack_batch_pop_upmc(&B.stack);

    while ((n = mbox_pop_sc(&B.mbox)) != NULL)
        msg_free(msg_of_node(n));
    while ((n = vyk_pop_sc(&B.vyk)) != NULL)
        msg_free(msg_of_node(n));
    while (e != NULL) {
        ck_stack_entry_t *next = e->next;

        msg_free((msg_t *)(void *)e);
        e = next;
    }
    while (B.ck_first != NULL) {
        e = B.ck_first;
        B.ck_first = e->next;
        msg_free((msg_t *)(void *)e);
    }
    while (B.head != NULL) {
        msg_t *m = B.head;

        B.head = m->link.node.next != NULL ? msg_of_node(m->link.node.next) : NULL;
        msg_free(m);
    }
    B.tail = NULL;
}

static void reset(enum kind kind)
{
    B.kind = kind;
    B.consumed = 0;
    B.stalls = 0;
    memset(local_by, 0, sizeof(local_by));
    for (int p = 0; p < MAXP; p++)
        atomic_store(&B.consumed_by[p][0], 0);
    atomic_store(&B.go, 0);
    atomic_store(&B.stop, 0);
    mbox_init(&B.mbox, true);
    vyk_init(&B.vyk, true);
    ck_stack_init(&B.stack);
    B.scheduled = 0;
    B.ck_first = NULL;
    sem_init(&B.run, 0, 0);
    B.head = B.tail = NULL;
    B.waiting = false;
}

/* One trial: messages/s; *stalls gets the consumer's empty runs, *cpu the CPU time (all
 * threads) per message consumed, in ns: what a spinning consumer costs shows up here. */
static double run_queue(enum kind kind, int nprod, unsigned ms, uint64_t *stalls, double *cpu)
{
    pthread_t prod[MAXP], cons;
    struct timespec pause = {ms / 1000, (long)(ms % 1000) * 1000000L};

    reset(kind);
    pthread_create(&cons, NULL, consumer, NULL);
    for (int p = 0; p < nprod; p++)
        pthread_create(&prod[p], NULL, producer, (void *)(uintptr_t)p);
    uint64_t t0 = now_ns(), c0 = cpu_ns();
    atomic_store(&B.go, 1);
    nanosleep(&pause, NULL); /* the measured interval */
    atomic_store(&B.stop, 1);
    uint64_t t1 = now_ns(), c1 = cpu_ns();
    for (int p = 0; p < nprod; p++)
        pthread_join(prod[p], NULL);
    sem_post(&B.run); /* release a consumer blocked while idle */
    pthread_mutex_lock(&B.lock);
    pthread_cond_broadcast(&B.cond);
    pthread_mutex_unlock(&B.lock);
    pthread_join(cons, NULL);
    drain();
    sem_destroy(&B.run);
    *stalls = B.stalls;
    *cpu = (double)(c1 - c0) / (double)(B.consumed > 0 ? B.consumed : 1);
    return (double)B.consumed / ((double)(t1 - t0) / 1e9);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return v[n / 2];
}

static const int producers[] = {1, 2, 4};
static double rate[K_COUNT][3], rate_min[K_COUNT][3], rate_max[K_COUNT][3];
static double stall_med[K_COUNT][3], cpu_med[K_COUNT][3];

static void measure_queues(void)
{
    static double sample[K_COUNT][3][TRIALS], stall[K_COUNT][3][TRIALS];
    static double cpu[K_COUNT][3][TRIALS];

    for (int i = 0; i < 3; i++)
        for (int t = 0; t < TRIALS; t++)
            for (int k = 0; k < K_COUNT; k++) {
                uint64_t st;

                sample[k][i][t] =
                    run_queue((enum kind)k, producers[i], TRIAL_MS, &st, &cpu[k][i][t]);
                stall[k][i][t] = (double)st;
            }
    for (int k = 0; k < K_COUNT; k++)
        for (int i = 0; i < 3; i++) {
            rate[k][i] = median(sample[k][i], TRIALS);
            rate_min[k][i] = sample[k][i][0];
            rate_max[k][i] = sample[k][i][TRIALS - 1];
            stall_med[k][i] = median(stall[k][i], TRIALS);
            cpu_med[k][i] = median(cpu[k][i], TRIALS);
        }
}

/* Median (by msgs/s) of FANIN_RUNS runtime fan-in runs; stalls and runs from the same run. */
static rtb_fanin_t fanin_median(long per_producer, unsigned work)
{
    rtb_fanin_t r[FANIN_RUNS];

    for (int i = 0; i < FANIN_RUNS; i++)
        r[i] = rtb_fanin(4, per_producer, work);
    for (int i = 1; i < FANIN_RUNS; i++) /* insertion sort by msgs/s */
        for (int j = i; j > 0 && r[j].msgs_per_s < r[j - 1].msgs_per_s; j--) {
            rtb_fanin_t x = r[j];

            r[j] = r[j - 1];
            r[j - 1] = x;
        }
    return r[FANIN_RUNS / 2];
}

static void print_queues(void)
{
    printf("%-12s %14s %14s %14s   (messages/s through one mailbox)\n", "queue", "1 producer",
           "2 producers", "4 producers");
    for (int k = 0; k < K_COUNT; k++) {
        printf("%-12s", kind_name[k]);
        for (int i = 0; i < 3; i++)
            printf(" %14.0f", rate[k][i]);
        printf("   (min..max 2p: %.0f..%.0f)\n", rate_min[k][1], rate_max[k][1]);
    }
    printf("%-12s %14s %14s %14s   (consumer runs that found nothing to pop)\n", "stalls",
           "1 producer", "2 producers", "4 producers");
    for (int k = 0; k < K_MUTEX; k++)
        printf("%-12s %14.0f %14.0f %14.0f\n", kind_name[k], stall_med[k][0], stall_med[k][1],
               stall_med[k][2]);
    printf("%-12s %14s %14s %14s   (CPU ns per message, all threads)\n", "cpu", "1 producer",
           "2 producers", "4 producers");
    for (int k = 0; k < K_COUNT; k++)
        printf("%-12s %14.1f %14.1f %14.1f\n", kind_name[k], cpu_med[k][0], cpu_med[k][1],
               cpu_med[k][2]);
}

/* Results of the drain and runtime scenarios (main fills them). */
static const int drain_n[DRAIN_SIZES] = {64, 1024, 16384, 65536};
static double drain_mbox[DRAIN_SIZES], drain_vyk[DRAIN_SIZES];
static double pp1, pp2, pp8;
static rtb_fanin_t flood, paced;

static void measure_and_print_runtime(void)
{
    drain_bench(drain_n, DRAIN_SIZES, drain_mbox, drain_vyk);
    printf("drain: consumer ns/message, mailbox filled by another core (best of 25)\n");
    for (int i = 0; i < DRAIN_SIZES; i++)
        printf("  %5d messages: mbox %.1f, vyukov %.1f\n", drain_n[i], drain_mbox[i], drain_vyk[i]);
    pp1 = rtb_pingpong(1, 1, PINGPONG_MS);
    pp2 = rtb_pingpong(2, 1, PINGPONG_MS);
    pp8 = rtb_pingpong(2, 8, PINGPONG_MS);
    printf("ping-pong round trips/s (one message forwarded back and forth, %d ms each):\n"
           "  1 pair on 1 worker %.0f, 1 pair on 2 workers %.0f, 8 pairs on 2 workers %.0f\n",
           PINGPONG_MS, pp1, pp2, pp8);
    flood = fanin_median(1000000, 0);
    paced = fanin_median(250000, 200);
    printf("runtime fan-in, 4 threads -> 1 actor on 2 workers (median of %d):\n", FANIN_RUNS);
    printf("  flood: %.0f msgs/s, %.0f CPU ns/msg, %llu runs, %llu stalls (4,000,000 msgs)\n",
           flood.msgs_per_s, flood.cpu_ns_per_msg, (unsigned long long)flood.runs,
           (unsigned long long)flood.stalls);
    printf("  paced: %.0f msgs/s, %.0f CPU ns/msg, %llu runs, %llu stalls (1,000,000 msgs)\n",
           paced.msgs_per_s, paced.cpu_ns_per_msg, (unsigned long long)paced.runs,
           (unsigned long long)paced.stalls);
}

/* Append one " key=value" group to the result line. */
#define RESULT(...) (len += (size_t)snprintf(result + len, sizeof(result) - len, __VA_ARGS__))

static void print_result_line(const struct utsname *u)
{
    char result[4096];
    size_t len = 0;

    RESULT("result bench=mailbox kernel=%s cores=%ld backend=none commit=%s pinned=%d", u->release,
           sysconf(_SC_NPROCESSORS_ONLN), RINGCHAT_COMMIT, pin_threads);
    for (int k = 0; k < K_COUNT; k++)
        for (int i = 0; i < 3; i++)
            RESULT(" %s_%dp=%.0f", kind_name[k], producers[i], rate[k][i]);
    for (int k = 0; k < K_MUTEX; k++)
        for (int i = 0; i < 3; i++)
            RESULT(" %s_stalls_%dp=%.0f", kind_name[k], producers[i], stall_med[k][i]);
    for (int k = 0; k < K_COUNT; k++)
        for (int i = 0; i < 3; i++)
            RESULT(" %s_cpu_ns_%dp=%.1f", kind_name[k], producers[i], cpu_med[k][i]);
    for (int i = 0; i < DRAIN_SIZES; i++)
        RESULT(" drain_mbox_%d=%.1f drain_vyukov_%d=%.1f", drain_n[i], drain_mbox[i], drain_n[i],
               drain_vyk[i]);
    RESULT(" pingpong_1w=%.0f pingpong_2w=%.0f pingpong_2w_8pairs=%.0f", pp1, pp2, pp8);
    RESULT(" fanin_flood=%.0f fanin_flood_cpu_ns=%.0f fanin_flood_runs=%llu"
           " fanin_flood_stalls=%llu",
           flood.msgs_per_s, flood.cpu_ns_per_msg, (unsigned long long)flood.runs,
           (unsigned long long)flood.stalls);
    RESULT(" fanin_paced=%.0f fanin_paced_cpu_ns=%.0f fanin_paced_runs=%llu"
           " fanin_paced_stalls=%llu",
           paced.msgs_per_s, paced.cpu_ns_per_msg, (unsigned long long)paced.runs,
           (unsigned long long)paced.stalls);
    printf("%s\n", result);
}

int main(void)
{
    struct utsname u;
    const char *nopin = getenv("MAILBOX_BENCH_NOPIN");

    pin_threads = nopin == NULL || *nopin == '\0' || *nopin == '0';
    pthread_mutex_init(&B.lock, NULL);
    pthread_cond_init(&B.cond, NULL);
    uname(&u);
    printf("mailbox_bench: %ld cores, kernel %s, commit %s\n", sysconf(_SC_NPROCESSORS_ONLN),
           u.release, RINGCHAT_COMMIT);
    printf("queues: median of %d interleaved %d ms trials; %s\n", TRIALS, TRIAL_MS,
           pin_threads ? "consumer pinned to CPU 0, producers to the other CPUs"
                       : "threads not pinned (MAILBOX_BENCH_NOPIN)");
    measure_queues();
    print_queues();
    measure_and_print_runtime();
    print_result_line(&u);
    printf("ratio_vs_mutex_2p=%.2f\n", rate[K_MBOX][1] / rate[K_MUTEX][1]);
    return 0;
}
