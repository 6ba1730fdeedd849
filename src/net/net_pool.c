/* net_pool.c: fixed-size object pools for outbox nodes and buffers.
 *
 * Who calls it: net_buf.c (buffers by size class) and net_outbox.c (outbox
 * nodes). Any thread may take an object and any thread may give one back: a
 * buffer encoded on a room's thread is released on the worker that wrote it.
 * What it must never do: take a lock, or hand one object to two owners.
 *
 * Scheme: each thread keeps a private free list per class (no atomics on the
 * fast path). When a thread's list grows past two batches it moves one batch to
 * the class's shared *depot*; a thread whose list is empty takes the whole
 * depot with one exchange. The depot is a Treiber stack of batches that is only
 * ever pushed (CAS) or emptied whole (exchange), never popped one by one, so it
 * has no ABA problem and needs no reclamation scheme. A thread that exits gives
 * its cache back through a pthread key destructor. Under AddressSanitizer the
 * pools step aside (malloc/free) so use-after-free of a buffer is caught.
 *
 * Trim: a burst (clients that stopped reading, a stalled machine) leaves its
 * high-water mark behind in the caches and the depot. Every few seconds each
 * worker calls net_pool_trim: its own caches give their whole batches to the
 * depot and the depot goes back to malloc. Within one period a buffer is
 * reused thousands of times, so what a steady load needs is malloc'ed again
 * only once per period: a few hundred misses against ~10^5 gets.
 *
 * Invariant: an object is in exactly one place: a thread cache, one depot
 * batch, or in use. */
#include "net_internal.h"

#include <pthread.h>
#include <stdlib.h>

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

#define POOL_BATCH_BYTES (256u * 1024u) /* a batch moves about this much memory */
#define POOL_DEPOT_BYTES (64u << 20)    /* beyond this a class frees to malloc */

/* A free object seen as links: `next` chains a free list (or a batch);
 * `batch_next` and `count` are used in the first object of a depot batch. */
typedef struct pool_obj {
    struct pool_obj *next;
    struct pool_obj *batch_next;
    uint32_t count;
} pool_obj_t;

typedef struct pool_class {
    size_t size;    /* bytes per object */
    uint32_t batch; /* objects per depot batch */
    uint32_t depot_max;
    _Alignas(NET_CACHE_LINE) _Atomic(pool_obj_t *) depot;
    _Atomic uint32_t depot_objs; /* approximate: only bounds the depot */
    /* Objects malloc'ed minus objects freed: the class's whole footprint.
     * Changed only on the cold paths (a miss, a full depot, a trim), on its
     * own line. Relaxed: a statistic, nothing is published through it. */
    _Alignas(NET_CACHE_LINE) _Atomic int64_t objs;
} pool_class_t;

typedef struct pool_cache {
    pool_obj_t *free; /* private free list */
    uint32_t nfree;
    pool_obj_t *spare; /* whole batches taken from the depot */
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

/* The only places pool memory comes from and goes back to malloc. */
static void *pool_malloc(pool_class_t *pc)
{
    void *o = malloc(pc->size);
    if (o != NULL)
        atomic_fetch_add_explicit(&pc->objs, 1, memory_order_relaxed);
    return o;
}

static void pool_free_list(pool_class_t *pc, pool_obj_t *o)
{
    int64_t n = 0;
    for (; o != NULL; n++) {
        pool_obj_t *next = o->next;
        free(o);
        o = next;
    }
    atomic_fetch_sub_explicit(&pc->objs, n, memory_order_relaxed);
}

static void pool_push_batch(pool_class_t *pc, pool_obj_t *first, uint32_t count)
{
    first->count = count;
    /* Relaxed: a first guess; the CAS validates. */
    pool_obj_t *old = atomic_load_explicit(&pc->depot, memory_order_relaxed);
    do {
        first->batch_next = old;
        /* Release: the links written into this batch (and whatever the last
         * user wrote into the objects) happen before the exchange in
         * pool_take_depot that acquires the depot. */
    } while (!atomic_compare_exchange_weak_explicit(&pc->depot, &old, first, memory_order_release,
                                                    memory_order_relaxed));
    /* Relaxed: depot_objs only bounds the depot's size; nothing is published
     * through it. */
    atomic_fetch_add_explicit(&pc->depot_objs, count, memory_order_relaxed);
}

/* Thread exit: give the cache back so producer threads do not leak memory. */
static void pool_thread_exit(void *unused)
{
    (void)unused;
    for (unsigned cls = 0; cls < NET_POOL_NCLASSES; cls++) {
        pool_cache_t *c = &pool_tls[cls];
        if (c->free)
            pool_push_batch(&pool_classes[cls], c->free, c->nfree);
        while (c->spare) {
            pool_obj_t *b = c->spare;
            c->spare = b->batch_next;
            pool_push_batch(&pool_classes[cls], b, b->count);
        }
        c->free = NULL;
        c->nfree = 0;
    }
}

static void pool_init_once(void)
{
    for (unsigned cls = 0; cls < NET_POOL_NCLASSES; cls++) {
        pool_class_t *pc = &pool_classes[cls];
        uint32_t batch = (uint32_t)(POOL_BATCH_BYTES / pc->size);
        pc->batch = batch < 4 ? 4 : (batch > 64 ? 64 : batch);
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

/* Refill an empty cache from a spare batch or, failing that, the depot. */
static void pool_refill(pool_cache_t *c, pool_class_t *pc)
{
    if (!c->spare) {
        /* Acquire: pairs with the release CAS in pool_push_batch, so the links
         * of every batch taken here are visible. Exchange takes the whole
         * stack, so no other thread can be reading these batches. */
        c->spare = atomic_exchange_explicit(&pc->depot, NULL, memory_order_acquire);
        uint32_t taken = 0;
        for (pool_obj_t *b = c->spare; b; b = b->batch_next)
            taken += b->count;
        if (taken) /* relaxed: the size bound only, like the add */
            atomic_fetch_sub_explicit(&pc->depot_objs, taken, memory_order_relaxed);
    }
    if (c->spare) {
        pool_obj_t *b = c->spare;
        c->spare = b->batch_next;
        c->free = b;
        c->nfree = b->count;
    }
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
    if (!c->free)
        pool_refill(c, pc);
    if (!c->free)
        return pool_malloc(pc);
    pool_obj_t *o = c->free;
    c->free = o->next;
    c->nfree--;
    /* The next object is usually cold (freed on another core, or long
     * ago): start loading it now, so that a burst of gets (a room's
     * fan-out) overlaps those misses instead of paying them one by one. */
    if (c->free)
        __builtin_prefetch(c->free, 1);
    return o;
}

void net_pool_put(unsigned cls, void *obj)
{
    pool_class_t *pc = &pool_classes[cls];
    if (NET_POOL_BYPASS) {
        ((pool_obj_t *)obj)->next = NULL;
        pool_free_list(pc, obj);
        return;
    }
    if (!pool_tls_registered)
        pool_register_thread();
    pool_cache_t *c = &pool_tls[cls];
    pool_obj_t *o = obj;
    o->next = c->free;
    c->free = o;
    if (++c->nfree < 2 * pc->batch)
        return;
    /* Split one batch off the front of the list and hand it to the depot. */
    pool_obj_t *first = c->free, *last = first;
    for (uint32_t i = 1; i < pc->batch; i++)
        last = last->next;
    c->free = last->next;
    c->nfree -= pc->batch;
    last->next = NULL;
    /* Relaxed: the bound is approximate by design. */
    if (atomic_load_explicit(&pc->depot_objs, memory_order_relaxed) < pc->depot_max) {
        pool_push_batch(pc, first, pc->batch);
        return;
    }
    pool_free_list(pc, first); /* the depot is full: give memory back to malloc */
}

/* The calling thread's cache of one class keeps less than a batch: its
 * spare batches, and its free list if that holds a batch or more, go to the
 * depot, where net_pool_trim frees them. Owner thread only, like the cache. */
static void pool_trim_cache(unsigned cls)
{
    pool_class_t *pc = &pool_classes[cls];
    pool_cache_t *c = &pool_tls[cls];
    while (c->spare) {
        pool_obj_t *b = c->spare;
        c->spare = b->batch_next;
        pool_push_batch(pc, b, b->count);
    }
    if (c->nfree >= pc->batch) {
        pool_push_batch(pc, c->free, c->nfree); /* the list ends in NULL */
        c->free = NULL;
        c->nfree = 0;
    }
}

/* Empties one class's depot into malloc; returns the objects freed. */
static int64_t pool_free_depot(pool_class_t *pc)
{
    /* Acquire: as in pool_refill; the exchange makes this thread the only
     * owner of every batch it took. */
    pool_obj_t *b = atomic_exchange_explicit(&pc->depot, NULL, memory_order_acquire);
    int64_t n = 0;
    while (b) {
        pool_obj_t *next = b->batch_next;
        uint32_t count = b->count;
        pool_free_list(pc, b);
        atomic_fetch_sub_explicit(&pc->depot_objs, count, memory_order_relaxed);
        n += count;
        b = next;
    }
    return n;
}

size_t net_pool_trim(void)
{
    if (NET_POOL_BYPASS)
        return 0;
    size_t freed = 0;
    for (unsigned cls = 0; cls < NET_POOL_NCLASSES; cls++) {
        pool_class_t *pc = &pool_classes[cls];
        if (pool_tls_registered)
            pool_trim_cache(cls);
        freed += (size_t)pool_free_depot(pc) * pc->size;
    }
    return freed;
}

void net_pool_stats(net_pool_stats_t *out)
{
    *out = (net_pool_stats_t){0};
    for (unsigned cls = 0; cls < NET_POOL_NCLASSES; cls++) {
        pool_class_t *pc = &pool_classes[cls];
        int64_t objs = atomic_load_explicit(&pc->objs, memory_order_relaxed);
        /* A take may subtract before the matching push has added: the
         * count can dip below zero for a moment. */
        int32_t depot = (int32_t)atomic_load_explicit(&pc->depot_objs, memory_order_relaxed);
        out->bytes += objs > 0 ? (uint64_t)objs * pc->size : 0;
        out->depot_bytes += depot > 0 ? (uint64_t)depot * pc->size : 0;
    }
}
