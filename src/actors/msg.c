/* msg.c: per-thread message pools with a lock-free cross-thread return path.
 * Called by msg_alloc/msg_free on any thread. Never takes a lock on the alloc/free path and
 * never mallocs once a pool is warm; the registry mutex is taken only when a thread makes its
 * first message, when it exits, and by msg_stats.
 *
 * Reclamation scheme ("home pool return"): every message belongs forever to the pool that
 * carved it from a slab (m->pool). A free on the home thread is a plain push onto the
 * owner-only free list; a free on any other thread is ck_stack_push_upmc onto the home
 * pool's return stack. The owner takes the whole return stack with one
 * ck_stack_batch_pop_upmc (an atomic exchange) when its free list runs dry. Because the
 * consumer only ever takes the *whole* stack, there is no pop of a single node and so no
 * ABA problem: no hazard pointers or epochs are needed. Nothing reads a message it does
 * not own (a push reads only the value of the head pointer, never the node it points to),
 * so a slab whose messages are all free may go back to malloc: msg_trim does that, on the
 * owner thread, for the slabs a burst left behind.
 *
 * Thread exit: a pthread key destructor marks the pool an orphan; the next thread that needs
 * a pool adopts it (with its free list, return stack and counters). Messages still in flight
 * keep returning to the orphan's stack, so nothing is lost and nothing is freed twice.
 * Invariant: a pool has at most one owner thread at a time (registry mutex hands it over). */
#include "msg.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct msg_slab {
    struct msg_slab *next;
    uint32_t nfree; /* msg_trim's scratch: free messages counted */
    bool release;   /* msg_trim's scratch: wholly free, goes back to malloc */
    msg_t msgs[MSG_SLAB];
} msg_slab_t;

struct msg_pool {
    /* Owner-only state: touched by the one thread that owns the pool. The counters are
     * written with ck_pr_store_64 so msg_stats may read them from another thread. */
    ck_stack_entry_t *free; /* local free list, linked through m->link.ret */
    uint64_t allocs;
    uint64_t frees;
    uint64_t remote_frees;
    uint64_t refills;
    uint64_t slabs_freed;
    msg_slab_t *slabs;
    /* Registry state: guarded by reg_lock. */
    msg_pool_t *reg_next;
    bool orphan;
    /* Shared state, on its own cache line: any thread pushes freed messages here. */
    _Alignas(CK_MD_CACHELINE) ck_stack_t ret;
};

/* The pool registry's lock. Off the message path: taken only when a thread
 * gets its first pool, when a thread exits (its pool becomes an orphan for
 * the next new thread to adopt), and by msg_stats. msg_alloc and msg_free
 * never take it. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static msg_pool_t *reg_head; /* every pool ever created; guarded by reg_lock */
static uint64_t reg_count;   /* guarded by reg_lock */
static pthread_key_t pool_key;
static pthread_once_t pool_key_once = PTHREAD_ONCE_INIT;
static _Thread_local msg_pool_t *tls_pool;

static msg_t *msg_of_entry(ck_stack_entry_t *e)
{
    return (msg_t *)(void *)((char *)e - offsetof(msg_t, link.ret));
}

/* Thread exit: hand the pool over to whoever needs one next. */
static void pool_orphan(void *arg)
{
    msg_pool_t *p = arg;

    pthread_mutex_lock(&reg_lock);
    p->orphan = true;
    pthread_mutex_unlock(&reg_lock);
    tls_pool = NULL;
}

static void pool_key_create(void)
{
    if (pthread_key_create(&pool_key, pool_orphan) != 0)
        abort();
}

/* Slow path of pool_get: adopt an orphaned pool or create one. */
static msg_pool_t *pool_attach(void)
{
    msg_pool_t *p;

    pthread_once(&pool_key_once, pool_key_create);
    pthread_mutex_lock(&reg_lock);
    for (p = reg_head; p != NULL; p = p->reg_next) {
        if (p->orphan)
            break;
    }
    if (p != NULL) {
        p->orphan = false;
    } else {
        p = aligned_alloc(CK_MD_CACHELINE, sizeof(*p));
        if (p != NULL) {
            *p = (msg_pool_t){0};
            ck_stack_init(&p->ret);
            p->reg_next = reg_head;
            reg_head = p;
            reg_count++;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    if (p != NULL) {
        pthread_setspecific(pool_key, p);
        tls_pool = p;
    }
    return p;
}

static inline msg_pool_t *pool_get(void)
{
    msg_pool_t *p = tls_pool;

    return p != NULL ? p : pool_attach();
}

/* The local free list is empty: take everything other threads returned, else a new slab. */
static ck_stack_entry_t *pool_refill(msg_pool_t *p)
{
    /* Exchange with NULL; pairs with ck_stack_push_upmc's CAS in msg_free. batch_pop
     * issues ck_pr_fence_load after the exchange, so the links written by the pushers
     * before their CAS are visible to the walk that follows. */
    ck_stack_entry_t *e = ck_stack_batch_pop_upmc(&p->ret);

    if (e != NULL)
        return e;

    msg_slab_t *s = malloc(sizeof(*s));
    if (s == NULL)
        return NULL;
    s->next = p->slabs;
    p->slabs = s;
    for (size_t i = 0; i < MSG_SLAB; i++) {
        s->msgs[i].pool = p;
        s->msgs[i].link.ret.next = i + 1 < MSG_SLAB ? &s->msgs[i + 1].link.ret : NULL;
    }
    /* Owner-only counter; relaxed single-writer store so msg_stats can read it. */
    ck_pr_store_64(&p->refills, p->refills + 1);
    return &s->msgs[0].link.ret;
}

msg_t *msg_alloc(uint32_t type)
{
    msg_pool_t *p = pool_get();

    if (p == NULL)
        return NULL;
    ck_stack_entry_t *e = p->free;
    if (e == NULL) {
        e = pool_refill(p);
        if (e == NULL)
            return NULL;
    }
    p->free = e->next;

    msg_t *m = msg_of_entry(e);
    m->link.node.next = NULL;
    m->drop = NULL;
    m->type = type;
    m->to_gen = 0;
    /* Single-writer counter (see pool_refill). */
    ck_pr_store_64(&p->allocs, p->allocs + 1);
    return m;
}

void msg_free(msg_t *m)
{
    if (m == NULL)
        return;
    if (m->drop != NULL) {
        msg_drop_fn drop = m->drop;

        m->drop = NULL;
        drop(m);
    }

    msg_pool_t *me = pool_get();
    msg_pool_t *home = m->pool;

    if (me == NULL) {
        fprintf(stderr, "msg_free: out of memory for a thread pool\n");
        abort();
    }
    if (home == me) {
        m->link.ret.next = me->free;
        me->free = &m->link.ret;
    } else {
        /* CAS push onto the home pool's return stack. ck_stack_push_upmc orders the
         * link write (and everything we wrote to the message) before the CAS with
         * ck_pr_fence_store; pairs with the exchange in pool_refill. */
        ck_stack_push_upmc(&home->ret, &m->link.ret);
        ck_pr_store_64(&me->remote_frees, me->remote_frees + 1);
    }
    /* Single-writer counter (see pool_refill). */
    ck_pr_store_64(&me->frees, me->frees + 1);
}

/* Control path (statistics): walks the pool registry under reg_lock; the
 * message path never calls it. */
void msg_stats(msg_stats_t *out)
{
    *out = (msg_stats_t){0};
    pthread_mutex_lock(&reg_lock);
    for (msg_pool_t *p = reg_head; p != NULL; p = p->reg_next) {
        /* Loads pair with the owners' single-writer ck_pr_store_64 calls. */
        out->allocs += ck_pr_load_64(&p->allocs);
        out->frees += ck_pr_load_64(&p->frees);
        out->remote_frees += ck_pr_load_64(&p->remote_frees);
        out->refills += ck_pr_load_64(&p->refills);
        out->slabs_freed += ck_pr_load_64(&p->slabs_freed);
    }
    out->pools = reg_count;
    pthread_mutex_unlock(&reg_lock);
}

/* ---- trim: slabs back to malloc (owner thread, cold path) ---------------- */

static int slab_cmp(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (msg_slab_t *const *)a, y = (uintptr_t) * (msg_slab_t *const *)b;
    return x < y ? -1 : x > y;
}

/* The slab that holds m: the last one in the sorted index that starts at or before it.
 * Every message on a pool's lists was carved from one of that pool's slabs. */
static msg_slab_t *slab_of(msg_slab_t **index, size_t n, const msg_t *m)
{
    size_t lo = 0, hi = n; /* invariant: index[lo - 1] <= m < index[hi] */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)index[mid] <= (uintptr_t)m)
            lo = mid + 1;
        else
            hi = mid;
    }
    return index[lo - 1];
}

/* Every message of the pool that is free, on the local free list: the return stack
 * joins it (same exchange as pool_refill). */
static void pool_gather_free(msg_pool_t *p)
{
    ck_stack_entry_t *r = ck_stack_batch_pop_upmc(&p->ret);
    if (r == NULL)
        return;
    ck_stack_entry_t *last = r;
    while (last->next != NULL)
        last = last->next;
    last->next = p->free;
    p->free = r;
}

/* Drops from the free list the messages of slabs that are wholly free (all but
 * MSG_TRIM_KEEP of them), unlinks those slabs and frees them; returns how many. */
static size_t pool_free_slabs(msg_pool_t *p, msg_slab_t **index, size_t n)
{
    for (ck_stack_entry_t *e = p->free; e != NULL; e = e->next)
        slab_of(index, n, msg_of_entry(e))->nfree++;
    size_t keep = MSG_TRIM_KEEP, freed = 0;
    for (size_t i = 0; i < n; i++) {
        bool whole = index[i]->nfree == MSG_SLAB;
        index[i]->release = whole && keep == 0;
        if (whole && keep > 0)
            keep--;
    }
    ck_stack_entry_t **link = &p->free;
    while (*link != NULL) {
        if (slab_of(index, n, msg_of_entry(*link))->release)
            *link = (*link)->next;
        else
            link = &(*link)->next;
    }
    for (msg_slab_t **sp = &p->slabs; *sp != NULL;) {
        msg_slab_t *s = *sp;
        if (s->release) {
            *sp = s->next;
            free(s);
            freed++;
        } else {
            sp = &s->next;
        }
    }
    return freed;
}

size_t msg_trim(void)
{
    msg_pool_t *p = tls_pool;
    if (p == NULL || p->slabs == NULL)
        return 0;
    pool_gather_free(p);
    size_t n = 0;
    for (msg_slab_t *s = p->slabs; s != NULL; s = s->next)
        n++;
    if (n <= MSG_TRIM_KEEP)
        return 0;
    msg_slab_t **index = malloc(n * sizeof(*index));
    if (index == NULL)
        return 0; /* nothing lost: the slabs stay for the next trim */
    n = 0;
    for (msg_slab_t *s = p->slabs; s != NULL; s = s->next) {
        s->nfree = 0;
        s->release = false;
        index[n++] = s;
    }
    qsort(index, n, sizeof(*index), slab_cmp);
    size_t freed = pool_free_slabs(p, index, n);
    free(index);
    /* Single-writer counter (see pool_refill). */
    ck_pr_store_64(&p->slabs_freed, p->slabs_freed + freed);
    return freed * sizeof(msg_slab_t);
}

size_t msg_slab_bytes(void)
{
    return sizeof(msg_slab_t);
}
