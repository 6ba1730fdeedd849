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
 * ABA problem: no hazard pointers or epochs are needed. Slabs are never returned to malloc,
 * so a message's memory stays valid for the life of the process.
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
    }
    out->pools = reg_count;
    pthread_mutex_unlock(&reg_lock);
}
