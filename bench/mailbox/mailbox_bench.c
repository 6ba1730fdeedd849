/* mailbox_bench.c: messages per second through one mailbox (1, 2, 4 producers -> 1 consumer)
 * for the runtime's mailbox and for four alternatives measured in the same run, then actor
 * ping-pong round trips per second through the whole runtime (scheduler included).
 * Run by hand or by `make bench` (release build). Not a test: it asserts nothing and never
 * fails on slow numbers. It must stay bounded: 5 interleaved 200 ms trials per (queue,
 * producers) cell plus 3 one-second ping-pong runs, about 20 s in total.
 * Queues compared (all move the same msg_t from per-thread pools, so alloc/free costs are
 * equal; all consumers block when empty and are woken by the producers - nobody spins):
 *   mbox        the runtime's mailbox: Vyukov intrusive MPSC on ck_pr + idle bit (mbox.c)
 *   tagstack    CAS push (Treiber) with the idle bit folded into the head pointer, consumer
 *               takes the whole list with one exchange and reverses it
 *   ckstack     ck_stack_push_upmc + ck_stack_batch_pop_upmc (reverse each batch) + a
 *               separate scheduled/idle word
 *   mutex       textbook pthread mutex + condition variable queue, one message per lock
 *   mutex_batch the same, but the consumer takes the whole list under one lock
 * Producers are flow-controlled (at most WINDOW messages in flight each) so memory stays
 * bounded when they outrun the consumer.
 * Last line: ratio_vs_mutex_2p=X.XX (mbox msgs/s / mutex msgs/s with 2 producers). */
#include "actor.h"
#include "mbox.h"
#include "msg.h"
#include "scheduler.h"

#include <ck_stack.h>
#include <pthread.h>
#include <semaphore.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

enum kind { K_MBOX, K_TAGSTACK, K_CKSTACK, K_MUTEX, K_MUTEX_BATCH, K_COUNT };
static const char *kind_name[K_COUNT] = {"mbox", "tagstack", "ckstack", "mutex", "mutex_batch"};

static struct {
    enum kind kind;
    int nprod;
    atomic_int go, stop;
    _Alignas(64) atomic_ulong consumed_by[MAXP][8]; /* [p][0] used; one cache line each */
    uint64_t consumed;                              /* written by the consumer only */
    /* K_MBOX */
    mbox_t mbox;
    sem_t run; /* K_MBOX, K_CKSTACK: one post per schedule */
    /* K_TAGSTACK */
    _Alignas(64) void *tag_head;
    _Alignas(64) msg_t *tag_first;
    /* K_CKSTACK */
    _Alignas(64) ck_stack_t stack;
    _Alignas(64) unsigned int scheduled; /* 1 while the consumer holds the right to run */
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

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* ---- producers ---- */

static void push_one(msg_t *m)
{
    switch (B.kind) {
    case K_MBOX:
        if (mbox_push_mp(&B.mbox, &m->link.node))
            sem_post(&B.run); /* we saw IDLE: schedule the consumer */
        break;
    case K_TAGSTACK: {
        void *old = ck_pr_load_ptr(&B.tag_head);
        do {
            m->link.node.next = old == (void *)1 ? NULL : old;
            ck_pr_fence_store_atomic();
        } while (!ck_pr_cas_ptr_value(&B.tag_head, old, m, &old));
        if (old == (void *)1)
            sem_post(&B.run);
        break;
    }
    case K_CKSTACK:
        ck_stack_push_upmc(&B.stack, &m->link.ret);
        /* Dekker with the consumer's "scheduled = 0; fence; look at the stack": the CAS
         * above is a full barrier on x86; fence_atomic_load makes it one everywhere. */
        ck_pr_fence_atomic_load();
        if (ck_pr_load_uint(&B.scheduled) == 0 && ck_pr_fas_uint(&B.scheduled, 1) == 0)
            sem_post(&B.run);
        break;
    default:
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

/* ---- consumer ---- */

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

static void consume_mbox(void)
{
    while (!stopping()) {
        sem_wait(&B.run); /* idle until a push reports IDLE */
        for (;;) {        /* one "actor run" per batch */
            mbox_node_t *n;
            int k = 0;

            while (k < BATCH && (n = mbox_pop_sc(&B.mbox)) != NULL) {
                consume(msg_of_node(n));
                k++;
            }
            if (stopping())
                return;
            if (k < BATCH && mbox_mark_idle_sc(&B.mbox))
                break;
        }
    }
}

static void consume_tagstack(void)
{
    while (!stopping()) {
        sem_wait(&B.run);
        for (;;) {
            int k = 0;

            while (k < BATCH) {
                msg_t *m = B.tag_first;

                if (m == NULL) {
                    void *h = ck_pr_load_ptr(&B.tag_head);

                    if (h == NULL || h == (void *)1) /* empty (IDLE: woken by the stop post) */
                        break;
                    mbox_node_t *e = ck_pr_fas_ptr(&B.tag_head, NULL), *fifo = NULL;
                    ck_pr_fence_load();
                    while (e != NULL) {
                        mbox_node_t *next = e->next;

                        e->next = fifo;
                        fifo = e;
                        e = next;
                    }
                    m = msg_of_node(fifo);
                }
                B.tag_first = m->link.node.next ? msg_of_node(m->link.node.next) : NULL;
                consume(m);
                k++;
            }
            if (stopping())
                return;
            if (k < BATCH && B.tag_first == NULL && ck_pr_cas_ptr(&B.tag_head, NULL, (void *)1))
                break;
        }
    }
}

static void consume_ckstack(void)
{
    while (!stopping()) {
        sem_wait(&B.run);
        for (;;) {
            ck_stack_entry_t *e = ck_stack_batch_pop_upmc(&B.stack), *fifo = NULL;

            while (e != NULL) { /* LIFO -> FIFO */
                ck_stack_entry_t *next = e->next;

                e->next = fifo;
                fifo = e;
                e = next;
            }
            while (fifo != NULL) {
                ck_stack_entry_t *next = fifo->next;

                consume((msg_t *)(void *)fifo);
                fifo = next;
            }
            if (stopping())
                return;
            /* Give up the right, then look again (Dekker with push_one). */
            ck_pr_fas_uint(&B.scheduled, 0);
            ck_pr_fence_atomic_load();
            if (ck_pr_load_ptr(&B.stack.head) == NULL || ck_pr_fas_uint(&B.scheduled, 1) != 0)
                break; /* empty, or a producer took the right and posted B.run */
        }
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
        consume_mbox();
        break;
    case K_TAGSTACK:
        consume_tagstack();
        break;
    case K_CKSTACK:
        consume_ckstack();
        break;
    case K_MUTEX:
        consume_mutex(false);
        break;
    default:
        consume_mutex(true);
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
    while (e != NULL) {
        ck_stack_entry_t *next = e->next;

        msg_free((msg_t *)(void *)e);
        e = next;
    }
    void *t = B.tag_head;
    B.tag_head = (void *)1;
    while (t != NULL && t != (void *)1) {
        mbox_node_t *next = ((mbox_node_t *)t)->next;

        msg_free(msg_of_node(t));
        t = next;
    }
    while (B.tag_first != NULL) {
        msg_t *m = B.tag_first;

        B.tag_first = m->link.node.next ? msg_of_node(m->link.node.next) : NULL;
        msg_free(m);
    }
    while (B.head != NULL) {
        msg_t *m = B.head;

        B.head = m->link.node.next != NULL ? msg_of_node(m->link.node.next) : NULL;
        msg_free(m);
    }
    B.tail = NULL;
}

static double run_queue(enum kind kind, int nprod, unsigned ms)
{
    pthread_t prod[MAXP], cons;

    B.kind = kind;
    B.nprod = nprod;
    B.consumed = 0;
    memset(local_by, 0, sizeof(local_by));
    for (int p = 0; p < MAXP; p++)
        atomic_store(&B.consumed_by[p][0], 0);
    atomic_store(&B.go, 0);
    atomic_store(&B.stop, 0);
    mbox_init(&B.mbox, true);
    ck_stack_init(&B.stack);
    B.scheduled = 0;
    B.tag_head = (void *)1;
    B.tag_first = NULL;
    sem_init(&B.run, 0, 0);
    B.head = B.tail = NULL;
    B.waiting = false;

    pthread_create(&cons, NULL, consumer, NULL);
    for (int p = 0; p < nprod; p++)
        pthread_create(&prod[p], NULL, producer, (void *)(uintptr_t)p);
    uint64_t t0 = now_ns();
    atomic_store(&B.go, 1);
    sleep_ms(ms);
    atomic_store(&B.stop, 1);
    uint64_t t1 = now_ns();
    for (int p = 0; p < nprod; p++)
        pthread_join(prod[p], NULL);
    sem_post(&B.run); /* release a consumer blocked while idle */
    pthread_mutex_lock(&B.lock);
    pthread_cond_broadcast(&B.cond);
    pthread_mutex_unlock(&B.lock);
    pthread_join(cons, NULL);
    drain();
    sem_destroy(&B.run);
    return (double)B.consumed / ((double)(t1 - t0) / 1e9);
}

/* ---- ping-pong through the runtime ---- */

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

/* Round trips per second: `pairs` pairs, one message each, on `workers` workers. */
static double run_pingpong(unsigned workers, int pairs)
{
    sched_t *s = sched_create(workers, NULL);
    pp_actor_t *st = calloc((size_t)pairs * 2, sizeof(*st));
    actor_ref_t *refs = calloc((size_t)pairs * 2, sizeof(*refs));

    atomic_store(&PP.stop, 0);
    atomic_store(&PP.hops, 0);
    sem_init(&PP.done, 0, 0);
    for (int i = 0; i < pairs * 2; i++)
        actor_spawn(s, &pp_type, &st[i], &refs[i]);
    for (int i = 0; i < pairs * 2; i++)
        st[i].partner = refs[i ^ 1];
    sched_pool_start(s);
    uint64_t t0 = now_ns();
    for (int i = 0; i < pairs; i++) {
        msg_t *m = msg_alloc(1);

        m->p.u64[0] = 0;
        actor_send(refs[2 * i], m);
    }
    sleep_ms(PINGPONG_MS);
    atomic_store(&PP.stop, 1);
    for (int i = 0; i < pairs; i++)
        sem_wait(&PP.done);
    uint64_t t1 = now_ns();
    sched_pool_stop(s);
    sched_destroy(s);
    free(st);
    free(refs);
    sem_destroy(&PP.done);
    return (double)atomic_load(&PP.hops) / 2.0 / ((double)(t1 - t0) / 1e9);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(void)
{
    static const int producers[] = {1, 2, 4};
    static double sample[K_COUNT][3][TRIALS];
    double rate[K_COUNT][3];
    struct utsname u;
    char result[2048];
    size_t len;
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
    for (int i = 0; i < 3; i++)
        for (int t = 0; t < TRIALS; t++)
            for (int k = 0; k < K_COUNT; k++)
                sample[k][i][t] = run_queue((enum kind)k, producers[i], TRIAL_MS);
    printf("%-12s %14s %14s %14s   (messages/s through one mailbox)\n", "queue", "1 producer",
           "2 producers", "4 producers");
    for (int k = 0; k < K_COUNT; k++) {
        printf("%-12s", kind_name[k]);
        for (int i = 0; i < 3; i++) {
            qsort(sample[k][i], TRIALS, sizeof(double), cmp_double);
            rate[k][i] = sample[k][i][TRIALS / 2];
            printf(" %14.0f", rate[k][i]);
        }
        printf("   (min..max 2p: %.0f..%.0f)\n", sample[k][1][0], sample[k][1][TRIALS - 1]);
    }
    double pp1 = run_pingpong(1, 1), pp2 = run_pingpong(2, 1), pp8 = run_pingpong(2, 8);
    printf("ping-pong round trips/s (one message forwarded back and forth, %d ms each):\n"
           "  1 pair on 1 worker %.0f, 1 pair on 2 workers %.0f, 8 pairs on 2 workers %.0f\n",
           PINGPONG_MS, pp1, pp2, pp8);

    len = (size_t)snprintf(
        result, sizeof(result),
        "result bench=mailbox kernel=%s cores=%ld backend=none commit=%s pinned=%d", u.release,
        sysconf(_SC_NPROCESSORS_ONLN), RINGCHAT_COMMIT, pin_threads);
    for (int k = 0; k < K_COUNT; k++)
        for (int i = 0; i < 3; i++)
            len += (size_t)snprintf(result + len, sizeof(result) - len, " %s_%dp=%.0f",
                                    kind_name[k], producers[i], rate[k][i]);
    snprintf(result + len, sizeof(result) - len,
             " pingpong_1w=%.0f pingpong_2w=%.0f pingpong_2w_8pairs=%.0f", pp1, pp2, pp8);
    printf("%s\n", result);
    printf("ratio_vs_mutex_2p=%.2f\n", rate[K_MBOX][1] / rate[K_MUTEX][1]);
    return 0;
}
