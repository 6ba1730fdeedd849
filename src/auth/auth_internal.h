/* auth_internal.h: what the auth backends share inside src/auth: the auth_t
 * object, the request record, and its completion. Never included outside
 * src/auth. Invariant: a request is completed (done called) exactly once, by
 * auth_req_complete, and freed exactly once, by auth_req_free, by whichever
 * thread owns it at that moment (see each backend for the hand-offs). */
#ifndef RINGCHAT_AUTH_INTERNAL_H
#define RINGCHAT_AUTH_INTERNAL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "auth_pool.h"

#define AUTH_CONTAINER_OF(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

typedef struct auth_memory auth_memory_t;
typedef struct auth_redis auth_redis_t;
typedef struct auth_req auth_req_t;

struct auth_req {
    auth_pool_job_t job;       /* hash pool link (memory check, redis verify) */
    auth_req_t *next;          /* redis inbox link (lock-free stack) */
    auth_req_t *tprev, *tnext; /* redis deadline list; I/O thread only */
    auth_t *auth;
    auth_done_fn done;
    void *ctx;
    uint64_t deadline_ns; /* redis: CLOCK_MONOTONIC deadline of the reply */
    bool completed;       /* done has been called; owner thread only */
    bool timed_out;       /* redis: failed by the timeout, reply still due */
    uint16_t id_len, pw_len;
    char id[AUTH_ID_MAX + 1];
    char pw[AUTH_PW_MAX + 1];
    char stored[PWHASH_STR_MAX]; /* redis: the fetched argon2id string */
};

/* Counters, each updated with relaxed atomics: they publish nothing, they
 * are only read as statistics. */
typedef struct auth_counters {
    _Atomic uint64_t ok, denied, unavailable, rejected, registered, registry_full;
    _Atomic uint64_t redis_connects, redis_timeouts, redis_late_replies, redis_inflight;
} auth_counters_t;

struct auth {
    auth_config_t cfg; /* defaults filled in; cfg.redis_host points at host */
    char host[256];
    auth_pool_t *pool;   /* NULL for AUTH_NONE */
    auth_memory_t *mem;  /* AUTH_MEMORY only */
    auth_redis_t *redis; /* AUTH_REDIS only */
    /* Requests accepted and not yet completed: bounds admission only. */
    _Atomic unsigned pending;
    /* Set by auth_destroy before it stops anything; read by auth_check. */
    _Atomic bool shutting_down;
    auth_counters_t n;
};

/* Logs through cfg.log; printf-style, one line, cut at ~256 bytes. */
void auth_log(const auth_t *a, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Calls done(ctx, result) once, counts it, and wipes the password copy.
 * Does not free the record. */
void auth_req_complete(auth_req_t *r, auth_result_t result);

/* Wipes and frees a request record. */
void auth_req_free(auth_req_t *r);

/* Adds 1 to an auth counter (relaxed: see auth_counters_t). */
static inline void auth_count(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* Memory backend (auth_memory.c). run is called on a pool thread. */
auth_memory_t *auth_memory_create(auth_t *a);
void auth_memory_destroy(auth_memory_t *m);
void auth_memory_run(auth_pool_job_t *job, bool cancelled);

/* Redis backend (auth_redis.c, auth_redis_req.c). submit: any thread, takes
 * ownership of r. */
auth_redis_t *auth_redis_create(auth_t *a);
void auth_redis_submit(auth_redis_t *rd, auth_req_t *r);
bool auth_redis_is_ready(const auth_redis_t *rd);
void auth_redis_destroy(auth_redis_t *rd);

/* Constant-time equality of two byte strings of any lengths (legacy plain
 * mode): compares BLAKE2b digests with sodium_memcmp. */
bool auth_plain_equal(const char *a, size_t alen, const char *b, size_t blen);

#endif
