/* auth_memory.c: the embedded backend: the first login of an id registers it
 * with that password (an argon2id hash) for the life of the process; later
 * logins must match.
 * Runs only on hash-pool threads (auth_memory_run). The user table is a
 * chained hash table under one mutex; the mutex is held for lookups and
 * inserts only, never while hashing or verifying (those take milliseconds).
 * Invariant: an id is inserted at most once (lookup-then-insert happens in one
 * critical section), so of two concurrent first logins exactly one registers
 * and the other is verified against the winner's hash.
 * Bounded: every id costs about 200 bytes for the life of the process, and ids
 * come from clients, so at cfg.max_users a new id is refused (unavailable,
 * LOGIN_RES 34) instead of registered; known ids keep working. */
#include "auth_internal.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef struct mem_user mem_user_t;
struct mem_user {
    mem_user_t *next;
    uint64_t hash; /* SipHash of the id, keyed per process */
    size_t id_len;
    char pwhash[PWHASH_STR_MAX];
    char id[]; /* id_len bytes */
};

struct auth_memory {
    auth_t *auth;
    pthread_mutex_t lock; /* guards buckets, nbuckets, count */
    mem_user_t **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
    bool full_logged; /* the "registry full" warning was printed */
    /* Ids come from clients: a secret key stops them from choosing ids that
     * all land in one bucket. */
    unsigned char key[crypto_shorthash_KEYBYTES];
};

enum { MEM_INITIAL_BUCKETS = 64 };

auth_memory_t *auth_memory_create(auth_t *a)
{
    auth_memory_t *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->buckets = calloc(MEM_INITIAL_BUCKETS, sizeof(*m->buckets));
    if (!m->buckets) {
        free(m);
        return NULL;
    }
    m->auth = a;
    m->nbuckets = MEM_INITIAL_BUCKETS;
    crypto_shorthash_keygen(m->key);
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void auth_memory_destroy(auth_memory_t *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        mem_user_t *u = m->buckets[i];
        while (u) {
            mem_user_t *next = u->next;
            sodium_memzero(u->pwhash, sizeof(u->pwhash));
            free(u);
            u = next;
        }
    }
    pthread_mutex_destroy(&m->lock);
    free(m->buckets);
    free(m);
}

static uint64_t mem_hash(const auth_memory_t *m, const char *id, size_t len)
{
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, (const unsigned char *)id, len, m->key);
    uint64_t h;
    memcpy(&h, out, sizeof(h));
    return h;
}

/* Copies the stored hash of id into out; false when id is unknown. Lock held. */
static bool mem_lookup_locked(auth_memory_t *m, uint64_t h, const auth_req_t *r,
                              char out[PWHASH_STR_MAX])
{
    for (mem_user_t *u = m->buckets[h & (m->nbuckets - 1)]; u; u = u->next) {
        if (u->hash == h && u->id_len == r->id_len && memcmp(u->id, r->id, r->id_len) == 0) {
            memcpy(out, u->pwhash, PWHASH_STR_MAX);
            return true;
        }
    }
    return false;
}

/* Doubles the bucket array when the load factor passes 1. Lock held. A failed
 * allocation just keeps the longer chains. */
static void mem_grow_locked(auth_memory_t *m)
{
    if (m->count <= m->nbuckets)
        return;
    size_t n = m->nbuckets * 2;
    mem_user_t **b = calloc(n, sizeof(*b));
    if (!b)
        return;
    for (size_t i = 0; i < m->nbuckets; i++) {
        mem_user_t *u = m->buckets[i];
        while (u) {
            mem_user_t *next = u->next;
            u->next = b[u->hash & (n - 1)];
            b[u->hash & (n - 1)] = u;
            u = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

/* Inserts id with pwhash; the caller has checked under this same lock that
 * id is absent. Returns false when out of memory. Lock held. */
static bool mem_insert_locked(auth_memory_t *m, uint64_t h, const auth_req_t *r,
                              const char pwhash[PWHASH_STR_MAX])
{
    mem_user_t *u = malloc(sizeof(*u) + r->id_len);
    if (!u)
        return false;
    u->hash = h;
    u->id_len = r->id_len;
    memcpy(u->pwhash, pwhash, PWHASH_STR_MAX);
    memcpy(u->id, r->id, r->id_len);
    u->next = m->buckets[h & (m->nbuckets - 1)];
    m->buckets[h & (m->nbuckets - 1)] = u;
    m->count++;
    mem_grow_locked(m);
    return true;
}

/* At max_users (lock held). Warns once: ids are never removed, so the
 * registry stays full. */
static bool mem_full_locked(auth_memory_t *m)
{
    unsigned max = m->auth->cfg.max_users;
    if (m->count < max)
        return false;
    if (!m->full_logged) {
        m->full_logged = true;
        auth_log(m->auth, AUTH_LOG_WARN,
                 "memory: %u ids registered (the limit): new ids get LOGIN_RES 34", max);
    }
    return true;
}

static auth_result_t mem_refuse(auth_memory_t *m)
{
    auth_count(&m->auth->n.registry_full);
    return AUTH_UNAVAILABLE;
}

/* The check itself, in the three steps that keep hashing out of the lock:
 * 1. under the lock, look the id up; if found, verify outside the lock;
 * 2. otherwise hash the password outside the lock;
 * 3. under the lock, look again: still absent -> insert (we registered);
 *    present -> someone registered first: verify against their hash. */
static auth_result_t mem_check(auth_memory_t *m, auth_req_t *r)
{
    auth_t *a = m->auth;
    uint64_t h = mem_hash(m, r->id, r->id_len);
    char stored[PWHASH_STR_MAX], fresh[PWHASH_STR_MAX];
    bool found, inserted = false;

    pthread_mutex_lock(&m->lock);
    found = mem_lookup_locked(m, h, r, stored);
    bool full = !found && mem_full_locked(m);
    pthread_mutex_unlock(&m->lock);
    if (found)
        return pwhash_verify(stored, r->pw, r->pw_len) ? AUTH_OK : AUTH_DENIED;
    if (full) /* checked before hashing: a refused id costs no hash */
        return mem_refuse(m);

    if (pwhash_hash(r->pw, r->pw_len, a->cfg.cost, fresh) != 0) {
        auth_log(a, AUTH_LOG_ERROR, "memory: cannot hash a password (out of memory)");
        return AUTH_UNAVAILABLE;
    }
    pthread_mutex_lock(&m->lock);
    found = mem_lookup_locked(m, h, r, stored);
    full = !found && mem_full_locked(m);
    if (!found && !full)
        inserted = mem_insert_locked(m, h, r, fresh);
    pthread_mutex_unlock(&m->lock);
    if (full)
        return mem_refuse(m);

    if (found)
        return pwhash_verify(stored, r->pw, r->pw_len) ? AUTH_OK : AUTH_DENIED;
    if (!inserted)
        return AUTH_UNAVAILABLE;
    auth_count(&a->n.registered);
    return AUTH_OK;
}

void auth_memory_run(auth_pool_job_t *job, bool cancelled)
{
    auth_req_t *r = AUTH_CONTAINER_OF(job, auth_req_t, job);
    auth_result_t res = cancelled ? AUTH_UNAVAILABLE : mem_check(r->auth->mem, r);
    auth_req_complete(r, res);
    auth_req_free(r);
}
