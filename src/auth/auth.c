/* auth.c: the front of the credential backends (auth.h): configuration,
 * admission (max_pending), the none backend, request records and their
 * completion, and an orderly shutdown.
 * Called by the login actor from any worker thread (auth_check) and by the
 * server's main thread (create, destroy). It must never hash, block or do
 * network I/O on the caller's thread: it only copies the request and hands it
 * to the hash pool (memory) or the redis I/O thread (redis).
 * Invariant: pending == requests accepted by auth_check and not yet completed. */
#include "auth_internal.h"

#include <errno.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void auth_log_stderr(int level, const char *msg)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    const char *name = (level >= 0 && level <= AUTH_LOG_DEBUG) ? names[level] : "?";
    fprintf(stderr, "auth %s: %s\n", name, msg);
}

void auth_config_default(auth_config_t *cfg, auth_kind_t kind)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->kind = kind;
    cfg->redis_host = "127.0.0.1";
    cfg->redis_port = 6379;
    cfg->cost = PWHASH_COST_INTERACTIVE;
    cfg->hash_threads = 2;
    cfg->timeout_ms = 3000;
    cfg->max_pending = 4096;
    cfg->max_users = 100000;
    cfg->log = auth_log_stderr;
}

void auth_log(const auth_t *a, int level, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    a->cfg.log(level, line);
}

/* Copies cfg, filling zero fields with defaults. -EINVAL on a bad value. */
static int auth_config_fill(auth_t *a, const auth_config_t *cfg)
{
    if (cfg->kind != AUTH_MEMORY && cfg->kind != AUTH_REDIS && cfg->kind != AUTH_NONE)
        return -EINVAL;
    if (cfg->cost != PWHASH_COST_MIN && cfg->cost != PWHASH_COST_INTERACTIVE &&
        cfg->cost != PWHASH_COST_MODERATE)
        return -EINVAL;
    auth_config_t d;
    auth_config_default(&d, cfg->kind);
    a->cfg = *cfg;
    const char *host = cfg->redis_host ? cfg->redis_host : d.redis_host;
    if (strlen(host) >= sizeof(a->host))
        return -EINVAL;
    strcpy(a->host, host);
    a->cfg.redis_host = a->host;
    if (!a->cfg.redis_port)
        a->cfg.redis_port = d.redis_port;
    if (!a->cfg.hash_threads)
        a->cfg.hash_threads = d.hash_threads;
    if (!a->cfg.timeout_ms)
        a->cfg.timeout_ms = d.timeout_ms;
    if (!a->cfg.max_pending)
        a->cfg.max_pending = d.max_pending;
    if (!a->cfg.max_users)
        a->cfg.max_users = d.max_users;
    if (!a->cfg.log)
        a->cfg.log = d.log;
    return 0;
}

auth_t *auth_create(const auth_config_t *cfg)
{
    if (!cfg || pwhash_init() != 0)
        return NULL;
    auth_t *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    if (auth_config_fill(a, cfg) != 0) {
        free(a);
        return NULL;
    }
    atomic_init(&a->pending, 0);
    atomic_init(&a->shutting_down, false);
    if (a->cfg.kind == AUTH_NONE)
        return a;
    a->pool = auth_pool_create(a->cfg.hash_threads);
    if (!a->pool)
        goto fail;
    if (a->cfg.kind == AUTH_MEMORY) {
        a->mem = auth_memory_create(a);
        if (!a->mem)
            goto fail;
    } else {
        a->redis = auth_redis_create(a);
        if (!a->redis)
            goto fail;
    }
    return a;
fail:
    auth_destroy(a);
    return NULL;
}

/* Reserves one pending slot, or returns false when max_pending are taken.
 * Relaxed is enough: the counter only limits admission and publishes no
 * memory; the request itself is published by the pool mutex or the redis
 * inbox's release CAS. Pairs with the fetch_sub in auth_req_complete. */
static bool auth_admit(auth_t *a)
{
    unsigned before = atomic_fetch_add_explicit(&a->pending, 1, memory_order_relaxed);
    if (before < a->cfg.max_pending)
        return true;
    atomic_fetch_sub_explicit(&a->pending, 1, memory_order_relaxed);
    auth_count(&a->n.rejected);
    return false;
}

static auth_req_t *auth_req_new(auth_t *a, const char *id, size_t id_len, const char *pw,
                                size_t pw_len, auth_done_fn done, void *ctx)
{
    auth_req_t *r = malloc(sizeof(*r));
    if (!r)
        return NULL;
    memset(r, 0, offsetof(auth_req_t, id)); /* the buffers are written below */
    r->auth = a;
    r->done = done;
    r->ctx = ctx;
    r->id_len = (uint16_t)id_len;
    r->pw_len = (uint16_t)pw_len;
    memcpy(r->id, id, id_len);
    r->id[id_len] = '\0';
    memcpy(r->pw, pw, pw_len);
    r->pw[pw_len] = '\0';
    r->stored[0] = '\0';
    return r;
}

int auth_check(auth_t *a, const char *id, size_t id_len, const char *pw, size_t pw_len,
               auth_done_fn done, void *ctx)
{
    if (!a || !id || !done || (!pw && pw_len) || id_len == 0 || id_len > AUTH_ID_MAX ||
        pw_len > AUTH_PW_MAX)
        return -EINVAL;
    /* Acquire pairs with the release store in auth_destroy: a done callback
     * running during shutdown sees the flag and is turned away. */
    if (atomic_load_explicit(&a->shutting_down, memory_order_acquire))
        return -ESHUTDOWN;
    if (a->cfg.kind == AUTH_NONE) {
        auth_count(&a->n.ok);
        done(ctx, AUTH_OK);
        return 0;
    }
    if (a->cfg.kind == AUTH_REDIS && !auth_redis_is_ready(a->redis)) {
        /* Fail fast while Redis is down: the login answers 34 at once. */
        auth_count(&a->n.unavailable);
        done(ctx, AUTH_UNAVAILABLE);
        return 0;
    }
    if (!auth_admit(a))
        return -EAGAIN;
    auth_req_t *r = auth_req_new(a, id, id_len, pw ? pw : "", pw_len, done, ctx);
    if (!r) {
        atomic_fetch_sub_explicit(&a->pending, 1, memory_order_relaxed); /* see auth_admit */
        return -ENOMEM;
    }
    if (a->cfg.kind == AUTH_MEMORY) {
        r->job.run = auth_memory_run;
        auth_pool_submit(a->pool, &r->job);
    } else {
        auth_redis_submit(a->redis, r);
    }
    return 0;
}

void auth_req_complete(auth_req_t *r, auth_result_t result)
{
    auth_t *a = r->auth;
    if (r->completed) /* a broken hand-off would call done twice: stop here */
        abort();
    r->completed = true;
    sodium_memzero(r->pw, sizeof(r->pw));
    auth_count(result == AUTH_OK       ? &a->n.ok
               : result == AUTH_DENIED ? &a->n.denied
                                       : &a->n.unavailable);
    /* Release the slot before done, so that done may submit again. Relaxed:
     * pairs with the fetch_add in auth_admit, see there. */
    atomic_fetch_sub_explicit(&a->pending, 1, memory_order_relaxed);
    r->done(r->ctx, result);
}

void auth_req_free(auth_req_t *r)
{
    sodium_memzero(r, sizeof(*r));
    free(r);
}

void auth_destroy(auth_t *a)
{
    if (!a)
        return;
    /* Release pairs with the acquire load in auth_check. */
    atomic_store_explicit(&a->shutting_down, true, memory_order_release);
    /* 1. The pool first stops deciding: every job it takes from now on is
     *    cancelled (AUTH_UNAVAILABLE), so shutdown never waits for hashing
     *    that nobody needs any more (running jobs still finish).
     * 2. The redis thread fails its queued and in-flight requests; the
     *    verifications it still hands over are cancelled by the pool.
     * 3. The pool drains, its workers are joined; then the user table goes. */
    if (a->pool)
        auth_pool_stop(a->pool);
    auth_log(a, AUTH_LOG_INFO, "shutting down (%u requests pending)",
             atomic_load_explicit(&a->pending, memory_order_relaxed));
    if (a->redis)
        auth_redis_destroy(a->redis);
    if (a->pool)
        auth_pool_destroy(a->pool);
    if (a->mem)
        auth_memory_destroy(a->mem);
    free(a);
}

bool auth_redis_ready(auth_t *a)
{
    return a && a->redis && auth_redis_is_ready(a->redis);
}

static uint64_t auth_read(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed); /* statistics only */
}

void auth_get_stats(auth_t *a, auth_stats_t *out)
{
    out->ok = auth_read(&a->n.ok);
    out->denied = auth_read(&a->n.denied);
    out->unavailable = auth_read(&a->n.unavailable);
    out->rejected = auth_read(&a->n.rejected);
    out->registered = auth_read(&a->n.registered);
    out->registry_full = auth_read(&a->n.registry_full);
    out->redis_connects = auth_read(&a->n.redis_connects);
    out->redis_timeouts = auth_read(&a->n.redis_timeouts);
    out->redis_late_replies = auth_read(&a->n.redis_late_replies);
    out->redis_inflight = auth_read(&a->n.redis_inflight);
}

bool auth_plain_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    /* Hashing both sides first makes the comparison independent of where the
     * strings differ and of whether their lengths match; the digests never
     * leave this function. */
    unsigned char da[32], db[32];
    crypto_generichash(da, sizeof(da), (const unsigned char *)a, alen, NULL, 0);
    crypto_generichash(db, sizeof(db), (const unsigned char *)b, blen, NULL, 0);
    bool eq = sodium_memcmp(da, db, sizeof(da)) == 0;
    sodium_memzero(da, sizeof(da));
    sodium_memzero(db, sizeof(db));
    return eq;
}
