/* timer.c: per-worker timers - a binary min-heap of deadlines, owned by one worker thread.
 * timer_start, timer_run_due and timer_next_ms run on the owning worker's thread only;
 * timer_cancel runs on any thread (it only CASes the entry's state word).
 * Never blocks, never takes a lock, never calls into an actor except through actor_send.
 * Invariant: an entry is in the heap <=> its state is ARMED or CANCELLED-but-not-reaped; its
 * memory (chunks) is never freed before sched_destroy, so a late or cross-thread cancel
 * always touches valid memory, and the generation in the state word makes a stale id fail.
 *
 * Cancel protocol, numbered rules:
 *   C1. every arming bumps the entry's generation and stores state = (gen, ARMED);
 *   C2. a cancel (any thread) is one CAS (gen, ARMED) -> (gen, CANCELLED): success means no
 *       expiry of that arming starts afterwards;
 *   C3. a one-shot expiry claims the entry with CAS (gen, ARMED) -> (gen, FREE) *before*
 *       sending; so a one-shot fires xor is cancelled;
 *   C4. a periodic expiry checks (gen, ARMED) before each send; a cancel that lands between
 *       the check and the send lets that one message through (the "at most one" in timer.h);
 *   C5. only the owner removes entries from the heap: at once if it is the canceller,
 *       otherwise when the entry reaches the top (lazy reaping). */
#include "actor_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#define TIMER_CHUNK   128
#define TIMER_MSG_GEN 2 /* m->p.u64[2]: generation of the arming */

enum { T_FREE = 0, T_ARMED = 1, T_CANCELLED = 2 };
#define T_STATE(gen, st) (((uint32_t)(gen) << 2) | (uint32_t)(st))
#define T_GEN_MASK       0x3fffffffu

struct timer_ent {
    uint32_t state;    /* (gen << 2) | T_*: CAS'ed by cancellers on any thread */
    uint32_t gen;      /* owner's copy of the current generation */
    size_t heap_idx;   /* owner only */
    uint64_t deadline; /* ms, CLOCK_MONOTONIC */
    uint64_t period;   /* 0 = one-shot */
    uint64_t arg;
    actor_ref_t to;
    uint32_t type;
    timer_ent_t *free_next;
    timer_heap_t *heap; /* constant: the owning heap */
};

typedef struct timer_chunk {
    struct timer_chunk *next;
    timer_ent_t ents[TIMER_CHUNK];
} timer_chunk_t;

struct timer_heap {
    sched_t *s;
    unsigned worker;
    timer_ent_t **heap; /* min-heap on deadline */
    size_t len, cap;
    timer_ent_t *free;
    timer_chunk_t *chunks;
};

uint64_t timer_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

timer_heap_t *timer_heap_create(sched_t *s, unsigned worker)
{
    timer_heap_t *h = calloc(1, sizeof(*h));

    if (h != NULL) {
        h->s = s;
        h->worker = worker;
    }
    return h;
}

void timer_heap_destroy(timer_heap_t *h)
{
    if (h == NULL)
        return;
    while (h->chunks != NULL) {
        timer_chunk_t *c = h->chunks;

        h->chunks = c->next;
        free(c);
    }
    free(h->heap);
    free(h);
}

static timer_ent_t *ent_get(timer_heap_t *h)
{
    if (h->free == NULL) {
        timer_chunk_t *c = calloc(1, sizeof(*c));

        if (c == NULL)
            return NULL;
        c->next = h->chunks;
        h->chunks = c;
        for (size_t i = 0; i < TIMER_CHUNK; i++) {
            c->ents[i].heap = h;
            c->ents[i].free_next = h->free;
            h->free = &c->ents[i];
        }
    }
    timer_ent_t *e = h->free;
    h->free = e->free_next;
    return e;
}

static void ent_put(timer_heap_t *h, timer_ent_t *e)
{
    /* No concurrent writer: cancellers only CAS from ARMED, and e is no longer ARMED. */
    ck_pr_store_32(&e->state, T_STATE(e->gen, T_FREE));
    e->free_next = h->free;
    h->free = e;
}

static void heap_set(timer_heap_t *h, size_t i, timer_ent_t *e)
{
    h->heap[i] = e;
    e->heap_idx = i;
}

static void heap_sift_up(timer_heap_t *h, size_t i)
{
    timer_ent_t *e = h->heap[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;

        if (h->heap[parent]->deadline <= e->deadline)
            break;
        heap_set(h, i, h->heap[parent]);
        i = parent;
    }
    heap_set(h, i, e);
}

static void heap_sift_down(timer_heap_t *h, size_t i)
{
    timer_ent_t *e = h->heap[i];

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= h->len)
            break;
        if (c + 1 < h->len && h->heap[c + 1]->deadline < h->heap[c]->deadline)
            c++;
        if (e->deadline <= h->heap[c]->deadline)
            break;
        heap_set(h, i, h->heap[c]);
        i = c;
    }
    heap_set(h, i, e);
}

static int heap_insert(timer_heap_t *h, timer_ent_t *e)
{
    if (h->len == h->cap) {
        size_t cap = h->cap != 0 ? h->cap * 2 : 64;
        timer_ent_t **a = realloc(h->heap, cap * sizeof(*a));

        if (a == NULL)
            return -ENOMEM;
        h->heap = a;
        h->cap = cap;
    }
    heap_set(h, h->len++, e);
    heap_sift_up(h, h->len - 1);
    return 0;
}

static void heap_remove(timer_heap_t *h, timer_ent_t *e)
{
    size_t i = e->heap_idx;
    timer_ent_t *last = h->heap[--h->len];

    if (i == h->len)
        return;
    heap_set(h, i, last);
    heap_sift_down(h, i);
    heap_sift_up(h, last->heap_idx);
}

int timer_start(actor_ref_t to, uint32_t msg_type, uint64_t arg, uint64_t delay_ms,
                uint64_t period_ms, timer_id_t *out)
{
    sched_worker_t *w = sched_tls_worker();

    if (out == NULL)
        return -EINVAL;
    *out = TIMER_ID_NULL;
    if (w == NULL)
        return -EPERM;
    timer_heap_t *h = w->timers;
    timer_ent_t *e = ent_get(h);
    if (e == NULL)
        return -ENOMEM;
    e->gen = (e->gen + 1) & T_GEN_MASK; /* C1 */
    e->to = to;
    e->type = msg_type;
    e->arg = arg;
    e->period = period_ms;
    e->deadline = timer_now_ms() + delay_ms;
    if (heap_insert(h, e) != 0) {
        ent_put(h, e);
        return -ENOMEM;
    }
    /* C1: cancellers only CAS this word; they read nothing else of the entry. */
    ck_pr_store_32(&e->state, T_STATE(e->gen, T_ARMED));
    *out = (timer_id_t){e, e->gen};
    return 0;
}

int timer_cancel(timer_id_t id)
{
    timer_ent_t *e = id.e;

    if (e == NULL)
        return -ENOENT;
    /* C2. Pairs with the owner's CAS (C3) and load (C4) in timer_run_due. */
    if (!ck_pr_cas_32(&e->state, T_STATE(id.gen, T_ARMED), T_STATE(id.gen, T_CANCELLED)))
        return -ENOENT;
    sched_worker_t *w = sched_tls_worker();
    if (w != NULL && w->timers == e->heap) { /* C5: we own the heap, reap now */
        heap_remove(e->heap, e);
        ent_put(e->heap, e);
    }
    return 0;
}

bool timer_msg_is(const msg_t *m, timer_id_t id)
{
    return m->p.u64[TIMER_MSG_TOKEN] == (uint64_t)(uintptr_t)id.e &&
           m->p.u64[TIMER_MSG_GEN] == id.gen;
}

/* Send one expiry. Returns false if the target is gone (the timer should stop). */
static bool timer_fire(timer_ent_t *e)
{
    msg_t *m = msg_alloc(e->type);

    if (m == NULL)
        return true; /* out of memory: skip this expiry, keep the timer */
    m->p.u64[TIMER_MSG_ARG] = e->arg;
    m->p.u64[TIMER_MSG_TOKEN] = (uint64_t)(uintptr_t)e;
    m->p.u64[TIMER_MSG_GEN] = e->gen;
    return actor_send(e->to, m) == 0; /* -ESRCH: m was freed by actor_send */
}

/* Owner: expire the top entry. Returns true if a message was sent. */
static bool timer_expire_top(timer_heap_t *h, uint64_t now_ms)
{
    timer_ent_t *e = h->heap[0];
    uint32_t armed = T_STATE(e->gen, T_ARMED);

    if (e->period == 0) {
        heap_remove(h, e);
        /* C3: claim the expiry; fails only if a cancel won. */
        bool mine = ck_pr_cas_32(&e->state, armed, T_STATE(e->gen, T_FREE));
        bool sent = mine && timer_fire(e);
        ent_put(h, e);
        return sent;
    }
    /* C4: periodic; pairs with the cancel CAS. */
    if (ck_pr_load_32(&e->state) != armed || !timer_fire(e)) {
        /* Cancelled, or the target exited: stop for good. A cancel may race with us here;
         * the CAS tells whether we or it moved the word off ARMED. */
        (void)ck_pr_cas_32(&e->state, armed, T_STATE(e->gen, T_CANCELLED));
        heap_remove(h, e);
        ent_put(h, e);
        return false;
    }
    e->deadline += e->period;
    if (e->deadline <= now_ms) /* we fell behind: skip the missed periods */
        e->deadline = now_ms + e->period;
    heap_sift_down(h, 0);
    return true;
}

size_t timer_run_due(sched_t *s, unsigned w, uint64_t now_ms)
{
    timer_heap_t *h = s->workers[w].timers;
    size_t fired = 0;

    RC_ASSERT(sched_tls_worker() == &s->workers[w]);
    while (h->len > 0 && h->heap[0]->deadline <= now_ms) {
        if (timer_expire_top(h, now_ms))
            fired++;
    }
    return fired;
}

int64_t timer_next_ms(sched_t *s, unsigned w, uint64_t now_ms)
{
    timer_heap_t *h = s->workers[w].timers;

    RC_ASSERT(sched_tls_worker() == &s->workers[w]);
    /* C5: reap cancelled entries at the top so they do not cause early wake-ups. */
    while (h->len > 0 && (ck_pr_load_32(&h->heap[0]->state) & 3u) == T_CANCELLED) {
        timer_ent_t *e = h->heap[0];

        heap_remove(h, e);
        ent_put(h, e);
    }
    if (h->len == 0)
        return -1;
    uint64_t d = h->heap[0]->deadline;
    return d <= now_ms ? 0 : (int64_t)(d - now_ms);
}

size_t timer_pending(sched_t *s, unsigned w)
{
    return s->workers[w].timers->len;
}
