/* net_pool.c: fixed-size object pools for outbox nodes and buffers.
 *
 * Who calls it: net_buf.c (buffers by size class) and net_outbox.c (outbox
 * nodes). Any thread may take an object and any thread may give one back: a
 * buffer encoded on a room's thread is released on the worker that wrote it.
 * What it must never do: take a lock, hand one object to two owners, or read
 * a free object (only pointers to free objects move; see "Why pointers").
 *
 * Scheme (Bonwick's magazines, simplified): each thread keeps, per class, an
 * array of pointers to free objects (no atomics on the fast path). When the
 * array holds two magazines' worth, its older half is copied into a
 * *magazine* (a small array of pointers) and pushed on the class's shared
 * *depot*; a thread whose array is empty takes the whole depot with one
 * exchange and unloads one magazine at a time. Emptied magazines go on a
 * second stack, the *empties*, for whoever spills next. Both stacks are only
 * ever pushed (CAS) or emptied whole (exchange), never popped one by one, so
 * they have no ABA problem and need no reclamation scheme. A thread that
 * exits gives its cache back through a pthread key destructor. Under
 * AddressSanitizer the pools step aside (malloc/free) so use-after-free of a
 * buffer is caught.
 *
 * Why pointers and not a free list threaded through the objects: taking an
 * object from such a list reads the object (its link), and a room's fan-out
 * takes 1,000 in a row, each cold (freed on another core): one cache miss
 * per get, in sequence, since each address comes out of the previous miss.
 * From an array the addresses are known in advance, so a get prefetches the
 * object POOL_PREFETCH gets ahead and the misses overlap (docs/net.md).
 *
 * Trim: a burst (clients that stopped reading, a stalled machine) leaves its
 * high-water mark behind in the caches and the depot. Every few seconds each
 * worker calls net_pool_trim: its own cache gives its magazines to the depot
 * and the depot goes back to malloc, magazines included. Within one period a
 * buffer is reused thousands of times, so what a steady load needs is
 * malloc'ed again only once per period: a few hundred misses against ~10^5
 * gets.
 *
 * Invariants: a free object is in exactly one place: one thread's array, or
 * one magazine. A magazine is in exactly one place: the depot (holding
 * objects), the empties (holding none), or one thread (its spares, its
 * empties, or in its hands between the two). */
#include "net_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define NET_POOL_BYPASS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NET_POOL_BYPASS 1
#endif
#endif
#ifndef NET_POOL_BYPASS
#define NET_POOL_BYPASS 0
#endif

#define POOL_BATCH_BYTES (256u * 1024u) /* a magazine moves about this much memory */
#define POOL_DEPOT_BYTES (64u << 20)    /* beyond this a class frees to malloc */
#define POOL_MAG_MAX     64             /* objects per magazine, at most */
#define POOL_PREFETCH    4              /* a get prefetches the object this many gets ahead */

typedef struct pool_mag {
    struct pool_mag *next; /* link on a stack or a thread's list */
    uint32_t n;            /* objects in objs[0..n) */
    void *objs[POOL_MAG_MAX];
} pool_mag_t;

typedef struct pool_class {
    size_t size;    /* bytes per object */
    uint32_t batch; /* objects per magazine (<= POOL_MAG_MAX) */
    uint32_t depot_max;
    _Alignas(NET_CACHE_LINE) _Atomic(pool_mag_t *) depot; /* full magazines */
    _Atomic uint32_t depot_objs;                          /* approximate: only bounds the depot */
    _Alignas(NET_CACHE_LINE) _Atomic(pool_mag_t *) empties;
    /* Objects and magazines malloc'ed minus freed: the class's footprint.
     * Changed only on the cold paths (a miss, a spill, a trim), on their own
     * line. Relaxed: statistics, nothing is published through them. */
    _Alignas(NET_CACHE_LINE) _Atomic int64_t objs;
    _Atomic int64_t mags;
} pool_class_t;

typedef struct pool_cache {
    uint32_t n;        /* free objects in objs[0..n), most recently freed last */
    pool_mag_t *spare; /* full magazines taken from the depot */
    pool_mag_t *empty; /* empty magazines this thread holds */
    void *objs[2 * POOL_MAG_MAX];
} pool_cache_t;

/* Class 0: outbox nodes. 1..6: buffers (header + data), 128 B .. 128 KiB. */
static pool_class_t pool_classes[NET_POOL_NCLASSES] = {
    {.size = 32},   {.size = 128},   {.size = 512},    {.size = 2048},
    {.size = 8192}, {.size = 32768}, {.size = 131072},
};

static _Thread_local pool_cache_t pool_tls[NET_POOL_NCLASSES];
static _Thread_local bool pool_tls_registered;
static pthread_key_t pool_key;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

/* ------------------------------------------------ malloc, the only source */

static void *pool_malloc(pool_class_t *pc)
{
    void *o = malloc(pc->size);
    if (o != NULL)
        atomic_fetch_add_explicit(&pc->objs, 1, memory_order_relaxed);
    return o;
}

static void pool_free_objs(pool_class_t *pc, void **objs, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        free(objs[i]);
    atomic_fetch_sub_explicit(&pc->objs, n, memory_order_relaxed);
}

/* Frees a list of magazines (not what they hold); returns the bytes freed. */
static size_t pool_free_mags(pool_class_t *pc, pool_mag_t *m)
{
    int64_t n = 0;
    for (; m != NULL; n++) {
        pool_mag_t *next = m->next;
        free(m);
        m = next;
    }
    atomic_fetch_sub_explicit(&pc->mags, n, memory_order_relaxed);
    return (size_t)n * sizeof(pool_mag_t);
}

/* ---------------------------------------------- the two shared stacks */

static void stack_push(_Atomic(pool_mag_t *) *top, pool_mag_t *m)
{
    /* Relaxed: a first guess; the CAS validates. */
    pool_mag_t *old = atomic_load_explicit(top, memory_order_relaxed);
    do {
        m->next = old;
        /* Release: the magazine's contents happen before the exchange in
         * stack_take_all that acquires it. */
    } while (!atomic_compare_exchange_weak_explicit(top, &old, m, memory_order_release,
                                                    memory_order_relaxed));
}

static pool_mag_t *stack_take_all(_Atomic(pool_mag_t *) *top)
{
    /* Acquire: pairs with the release CAS of every push; the exchange makes
     * the caller the only owner of every magazine it took. */
    return atomic_exchange_explicit(top, NULL, memory_order_acquire);
}

static void depot_push(pool_class_t *pc, pool_mag_t *m)
{
    uint32_t n = m->n; /* read before the push: from then on m is not ours */
    stack_push(&pc->depot, m);
    /* Relaxed: depot_objs only bounds the depot's size. */
    atomic_fetch_add_explicit(&pc->depot_objs, n, memory_order_relaxed);
}

/* ------------------------------------------------------------ magazines */

/* An empty magazine: one this thread holds, else the whole empties stack
 * (kept), else a new one. NULL only when malloc fails. */
static pool_mag_t *mag_get_empty(pool_cache_t *c, pool_class_t *pc)
{
    if (!c->empty)
        c->empty = stack_take_all(&pc->empties);
    pool_mag_t *m = c->empty;
    if (m) {
        c->empty = m->next;
    } else {
        m = malloc(sizeof(*m));
        if (!m)
            return NULL;
        atomic_fetch_add_explicit(&pc->mags, 1, memory_order_relaxed);
    }
    m->next = NULL;
    m->n = 0;
    return m;
}

/* A thread keeps one empty magazine; more go where spilling threads find
 * them, or a thread that only takes would hoard them while one that only
 * gives mallocs new ones. */
static void mag_put_empty(pool_cache_t *c, pool_class_t *pc, pool_mag_t *m)
{
    m->n = 0;
    if (c->empty) {
        stack_push(&pc->empties, m);
        return;
    }
    m->next = NULL;
    c->empty = m;
}

/* Moves objs[0..n) of the cache into a magazine for the depot, or frees
 * them if the depot is full (or no magazine can be had); shifts the rest
 * down. n <= pc->batch. */
static void cache_spill(pool_cache_t *c, pool_class_t *pc, uint32_t n)
{
    pool_mag_t *m = NULL;
    /* Relaxed: the bound is approximate by design. */
    if (atomic_load_explicit(&pc->depot_objs, memory_order_relaxed) < pc->depot_max)
        m = mag_get_empty(c, pc);
    if (m) {
        memcpy(m->objs, c->objs, n * sizeof(void *));
        m->n = n;
        depot_push(pc, m);
    } else {
        pool_free_objs(pc, c->objs, n); /* give memory back to malloc */
    }
    c->n -= n;
    memmove(c->objs, c->objs + n, c->n * sizeof(void *));
}

/* Refills an empty cache from a spare magazine or, failing that, the depot.
 * Returns false if there was none. */
static bool cache_refill(pool_cache_t *c, pool_class_t *pc)
{
    if (!c->spare) {
        c->spare = stack_take_all(&pc->depot);
        uint32_t taken = 0;
        for (pool_mag_t *m = c->spare; m; m = m->next)
            taken += m->n;
        if (taken) /* relaxed: the size bound only, like the add */
            atomic_fetch_sub_explicit(&pc->depot_objs, taken, memory_order_relaxed);
    }
    pool_mag_t *m = c->spare;
    if (!m)
        return false;
    c->spare = m->next;
    memcpy(c->objs, m->objs, m->n * sizeof(void *));
    c->n = m->n;
    mag_put_empty(c, pc, m);
    return true;
}

/* ---------------------------------------------------- threads come and go */

/* Thread exit: give the cache back so producer threads do not leak memory. */
static void pool_thread_exit(void *unused)
{
    (void)unused;
    for (unsigned cls = 0; cls < NET_POOL_NCLASSES; cls++) {
        pool_class_t *pc = &pool_classes[cls];
        pool_cache_t *c = &pool_tls[cls];
        while (c->n > 0)
            cache_spill(c, pc, c->n < pc->batch ? c->n : pc->batch);
        while (c->spare) {
            pool_mag_t *m = c->spare;
            c->spare = m->next;
            depot_push(pc, m);
        }
        while (c->empty) {
            pool_mag_t *m = c->empty;
            c->empty = m->next;
            stack_push(&pc->empties, m);
        }
    }
}

static void pool_init_once(void)
{
    for (unsigned cls = 0; cls < NET_POOL_NCLASSES; cls++) {
        pool_class_t *pc = &pool_classes[cls];
        uint32_t batch = (uint32_t)(POOL_BATCH_BYTES / pc->size);
        pc->batch = batch < 4 ? 4 : (batch > POOL_MAG_MAX ? POOL_MAG_MAX : batch);
        pc->depot_max = (uint32_t)(POOL_DEPOT_BYTES / pc->size);
    }
    if (pthread_key_create(&pool_key, pool_thread_exit) != 0)
        abort(); /* only fails when the process is out of keys: unrecoverable */
}

static void pool_register_thread(void)
{
    pthread_once(&pool_once, pool_init_once);
    pthread_setspecific(pool_key, &pool_tls_registered); /* any non-NULL value */
    pool_tls_registered = true;
}

size_t net_pool_obj_size(unsigned cls)
{
    return pool_classes[cls].size;
}

unsigned net_pool_class_for(size_t bytes)
{
    for (unsigned cls = 1; cls < NET_POOL_NCLASSES; cls++)
        if (bytes <= pool_classes[cls].size)
            return cls;
    return NET_POOL_NONE;
}

void *net_pool_get(unsigned cls)
{
    pool_class_t *pc = &pool_classes[cls];
    if (NET_POOL_BYPASS)
        return pool_malloc(pc);
    if (!pool_tls_registered)
        pool_register_thread();
    pool_cache_t *c = &pool_tls[cls];
    if (c->n == 0 && !cache_refill(c, pc))
        return pool_malloc(pc);
    void *o = c->objs[--c->n];
    /* The objects are usually cold (freed on another core, or long ago):
     * start loading one a few gets ahead, so that a burst of gets (a room's
     * fan-out) overlaps those misses instead of paying them one by one. */
    if (c->n >= POOL_PREFETCH)
        __builtin_prefetch(c->objs[c->n - POOL_PREFETCH], 1);
    return o;
}

void net_pool_put(unsigned cls, void *obj)
{
    pool_class_t *pc = &pool_classes[cls];
    if (NET_POOL_BYPASS) {
        pool_free_objs(pc, &obj, 1);
        return;
    }
    if (!pool_tls_registered)
        pool_register_thread();
    pool_cache_t *c = &pool_tls[cls];
    c->objs[c->n++] = obj;
    if (c->n == 2 * pc->batch)
        cache_spill(c, pc, pc->batch); /* the older half: freed longest ago */
}

/* The calling thread's cache of one class keeps less than a magazine: its
 * spare magazines go to the depot, where pool_free_depot frees them; its
 * array, if that holds a magazine's worth or more, and the empty magazines
 * it holds are freed here. Owner thread only, like the cache. Returns the
 * bytes freed. */
static size_t pool_trim_cache(unsigned cls)
{
    pool_class_t *pc = &pool_classes[cls];
    pool_cache_t *c = &pool_tls[cls];
    while (c->spare) {
        pool_mag_t *m = c->spare;
        c->spare = m->next;
        depot_push(pc, m);
    }
    size_t freed = 0;
    if (c->n >= pc->batch) {
        pool_free_objs(pc, c->objs, c->n);
        freed = c->n * pc->size;
        c->n = 0;
    }
    freed += pool_free_mags(pc, c->empty);
    c->empty = NULL;
    return freed;
}

/* Empties one class's depot and its empties stack into malloc; returns the
 * bytes freed. */
static size_t pool_free_depot(pool_class_t *pc)
{
    pool_mag_t *m = stack_take_all(&pc->depot);
    size_t bytes = 0;
    for (pool_mag_t *i = m; i != NULL; i = i->next) {
        pool_free_objs(pc, i->objs, i->n);
        /* Relaxed: the size bound only. */
        atomic_fetch_sub_explicit(&pc->depot_objs, i->n, memory_order_relaxed);
        bytes += i->n * pc->size;
    }
    bytes += pool_free_mags(pc, m);
    return bytes + pool_free_mags(pc, stack_take_all(&pc->empties));
}

size_t net_pool_trim(void)
{
    if (NET_POOL_BYPASS)
        return 0;
    size_t freed = 0;
    for (unsigned cls = 0; cls < NET_POOL_NCLASSES; cls++) {
        if (pool_tls_registered)
            freed += pool_trim_cache(cls);
        freed += pool_free_depot(&pool_classes[cls]);
    }
    return freed;
}

void net_pool_stats(net_pool_stats_t *out)
{
    *out = (net_pool_stats_t){0};
    for (unsigned cls = 0; cls < NET_POOL_NCLASSES; cls++) {
        pool_class_t *pc = &pool_classes[cls];
        int64_t objs = atomic_load_explicit(&pc->objs, memory_order_relaxed);
        int64_t mags = atomic_load_explicit(&pc->mags, memory_order_relaxed);
        /* A take may subtract before the matching push has added: the
         * count can dip below zero for a moment. */
        int32_t depot = (int32_t)atomic_load_explicit(&pc->depot_objs, memory_order_relaxed);
        out->bytes += objs > 0 ? (uint64_t)objs * pc->size : 0;
        out->bytes += mags > 0 ? (uint64_t)mags * sizeof(pool_mag_t) : 0;
        out->depot_bytes += depot > 0 ? (uint64_t)depot * pc->size : 0;
    }
}
