/* auth_redis_req.c: the requests of the redis backend: the lock-free inbox
 * that any thread pushes to, sending the lookup (HGET ringchat:user:ID pw, or
 * GET ID in legacy plain mode), the reply callbacks, and the per-request
 * timeout. Called by auth.c (auth_redis_submit, any thread) and by the I/O
 * loop in auth_redis.c (everything else, I/O thread only). It must never
 * hash on the I/O thread: argon2id verification goes to the hash pool.
 *
 * Ownership of a request (the rules that make "done exactly once, free
 * exactly once" true):
 *  1. auth_check -> inbox (lock-free stack) -> I/O thread.
 *  2. If not READY, the I/O thread completes and frees it at once.
 *  3. Once sent, hiredis holds it as callback privdata until on_reply runs,
 *     which hiredis guarantees exactly once: with the reply, or with NULL
 *     when the context is freed (disconnect, drop, shutdown).
 *  4. A request that times out is completed (AUTH_UNAVAILABLE) by the timer
 *     and flagged timed_out, but stays owned by hiredis: its on_reply only
 *     frees it. So a late reply touches live memory and completes nothing.
 *  5. A fetched argon2id string moves the request to the hash pool, whose
 *     job completes and frees it. */
#include "auth_redis_int.h"

#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

/* ---- the inbox: a lock-free stack, many pushers, one taker ---------------- */

/* Pushes r; true if the stack was empty, i.e. the I/O thread needs a wake-up.
 * Release on success publishes r's contents (and r->next) to the taker; it
 * pairs with the acquire exchange in inbox_take. A failed CAS only reloads
 * the head, so relaxed suffices there. No ABA risk: nobody pops single
 * nodes, the taker swaps the whole list out. */
static bool inbox_push(auth_redis_t *rd, auth_req_t *r)
{
    auth_req_t *old = atomic_load_explicit(&rd->inbox, memory_order_relaxed);
    do {
        r->next = old;
    } while (!atomic_compare_exchange_weak_explicit(&rd->inbox, &old, r, memory_order_release,
                                                    memory_order_relaxed));
    return old == NULL;
}

/* Takes every pushed request, oldest first. Acquire pairs with the release
 * CAS in inbox_push. */
static auth_req_t *inbox_take(auth_redis_t *rd)
{
    auth_req_t *r = atomic_exchange_explicit(&rd->inbox, NULL, memory_order_acquire);
    auth_req_t *fifo = NULL;
    while (r) { /* the stack is newest first: reverse it */
        auth_req_t *next = r->next;
        r->next = fifo;
        fifo = r;
        r = next;
    }
    return fifo;
}

static void fail_and_free(auth_req_t *r)
{
    auth_req_complete(r, AUTH_UNAVAILABLE);
    auth_req_free(r);
}

void auth_redis_submit(auth_redis_t *rd, auth_req_t *r)
{
    /* Wake-up rule: only the push that finds the stack empty writes the
     * eventfd. The I/O thread reads the eventfd before it takes the stack, so
     * a push that finds it non-empty is always covered by a later take. */
    if (inbox_push(rd, r)) {
        uint64_t one = 1;
        ssize_t n = write(rd->wakefd, &one, sizeof(one));
        (void)n; /* cannot fail short of a counter at 2^64-2 */
    }
}

static void set_inflight(auth_redis_t *rd, size_t n)
{
    rd->inflight = n;
    atomic_store_explicit(&rd->auth->n.redis_inflight, n, memory_order_relaxed); /* stats */
}

/* ---- the deadline list: requests awaiting a reply, in send order -------- */

static void dl_append(auth_redis_t *rd, auth_req_t *r)
{
    r->tnext = NULL;
    r->tprev = rd->ttail;
    if (rd->ttail)
        rd->ttail->tnext = r;
    else
        rd->thead = r;
    rd->ttail = r;
}

static void dl_remove(auth_redis_t *rd, auth_req_t *r)
{
    if (r->tprev)
        r->tprev->tnext = r->tnext;
    else
        rd->thead = r->tnext;
    if (r->tnext)
        r->tnext->tprev = r->tprev;
    else
        rd->ttail = r->tprev;
    r->tprev = r->tnext = NULL;
}

/* One timer serves the whole list: every request has the same timeout, so
 * the head always has the earliest deadline. It is armed lazily: an answered
 * head leaves the timer on its old deadline, which then fires early, finds
 * nothing due and re-arms for the new head. */
static void req_timer_sync(auth_redis_t *rd)
{
    if (rd->thead && !rd->req_timer_armed) {
        auth_redis_timer_at(rd->req_tfd, rd->thead->deadline_ns);
        rd->req_timer_armed = true;
    }
}

void auth_redis_req_timer(auth_redis_t *rd)
{
    if (!auth_redis_timer_fired(rd->req_tfd))
        return;
    rd->req_timer_armed = false;
    uint64_t now = auth_redis_now_ns();
    while (rd->thead && rd->thead->deadline_ns <= now) {
        auth_req_t *r = rd->thead;
        dl_remove(rd, r);
        r->timed_out = true; /* rule 4: hiredis still owns r */
        auth_count(&rd->auth->n.redis_timeouts);
        auth_req_complete(r, AUTH_UNAVAILABLE);
    }
    req_timer_sync(rd);
}

/* ---- replies ------------------------------------------------------------ */

/* Hash-pool job: the slow argon2id check of a fetched string (rule 5). */
static void redis_verify_run(auth_pool_job_t *job, bool cancelled)
{
    auth_req_t *r = AUTH_CONTAINER_OF(job, auth_req_t, job);
    auth_result_t res = AUTH_UNAVAILABLE;
    if (!cancelled)
        res = pwhash_verify(r->stored, r->pw, r->pw_len) ? AUTH_OK : AUTH_DENIED;
    auth_req_complete(r, res);
    auth_req_free(r);
}

enum { RES_VERIFY = -1 }; /* classify: hand to the hash pool */

/* Maps a reply to a result, or RES_VERIFY after copying the stored hash. */
static int redis_classify(auth_redis_t *rd, auth_req_t *r, const redisReply *rep)
{
    if (!rep) /* the context is going away: disconnect, drop or shutdown */
        return AUTH_UNAVAILABLE;
    switch (rep->type) {
    case REDIS_REPLY_NIL: /* no such key or field: unknown user */
        return AUTH_DENIED;
    case REDIS_REPLY_STRING:
        if (rd->auth->cfg.legacy_plain)
            return auth_plain_equal(rep->str, rep->len, r->pw, r->pw_len) ? AUTH_OK : AUTH_DENIED;
        if (rep->len >= PWHASH_STR_MAX || memchr(rep->str, '\0', rep->len))
            return AUTH_DENIED; /* cannot be an argon2id string */
        memcpy(r->stored, rep->str, rep->len);
        r->stored[rep->len] = '\0';
        return RES_VERIFY;
    case REDIS_REPLY_ERROR:
        if (!rd->error_logged) {
            rd->error_logged = true;
            auth_log(rd->auth, AUTH_LOG_WARN, "redis: error reply: %.*s", (int)rep->len, rep->str);
        }
        /* A key of another type is not a user; anything else (LOADING,
         * NOAUTH, ...) is the backend being unusable. */
        return strncmp(rep->str, "WRONGTYPE", 9) == 0 ? AUTH_DENIED : AUTH_UNAVAILABLE;
    default:
        return AUTH_UNAVAILABLE;
    }
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    auth_req_t *r = privdata;
    auth_redis_t *rd = r->auth->redis;
    set_inflight(rd, rd->inflight - 1);
    if (r->timed_out) { /* rule 4: already answered; only free it */
        if (reply)
            auth_count(&rd->auth->n.redis_late_replies);
        auth_req_free(r);
        return;
    }
    dl_remove(rd, r);
    int res = redis_classify(rd, r, reply);
    if (res == RES_VERIFY) {
        r->job.run = redis_verify_run;
        auth_pool_submit(rd->auth->pool, &r->job);
        return;
    }
    auth_req_complete(r, (auth_result_t)res);
    auth_req_free(r);
}

/* Sends the lookup for r, or fails it at once when not connected (rule 2)
 * or when max_pending commands (counting timed-out ones) are outstanding. */
static void redis_issue(auth_redis_t *rd, auth_req_t *r)
{
    auth_t *a = rd->auth;
    if (rd->state != RS_READY || rd->inflight >= a->cfg.max_pending) {
        fail_and_free(r);
        return;
    }
    char key[sizeof("ringchat:user:") + AUTH_ID_MAX];
    const char *argv[3];
    size_t lens[3];
    int argc;
    if (a->cfg.legacy_plain) { /* the tutorial's layout: GET ID */
        argv[0] = "GET", lens[0] = 3;
        argv[1] = r->id, lens[1] = r->id_len;
        argc = 2;
    } else {
        memcpy(key, "ringchat:user:", 14);
        memcpy(key + 14, r->id, r->id_len);
        argv[0] = "HGET", lens[0] = 4;
        argv[1] = key, lens[1] = 14 + (size_t)r->id_len;
        argv[2] = "pw", lens[2] = 2;
        argc = 3;
    }
    /* hiredis copies the command into its output buffer; the password is
     * never sent to Redis. */
    if (redisAsyncCommandArgv(rd->ac, on_reply, r, argc, argv, lens) != REDIS_OK) {
        fail_and_free(r);
        return;
    }
    set_inflight(rd, rd->inflight + 1);
    r->deadline_ns = auth_redis_now_ns() + (uint64_t)a->cfg.timeout_ms * 1000000u;
    dl_append(rd, r);
    req_timer_sync(rd);
}

void auth_redis_req_wake(auth_redis_t *rd)
{
    uint64_t n;
    ssize_t got = read(rd->wakefd, &n, sizeof(n)); /* first, see auth_redis_submit */
    (void)got;
    auth_req_t *r = inbox_take(rd);
    while (r) {
        auth_req_t *next = r->next;
        redis_issue(rd, r); /* hiredis batches them into one write: pipelining */
        r = next;
    }
}

void auth_redis_req_fail_queued(auth_redis_t *rd)
{
    for (auth_req_t *r = inbox_take(rd), *next; r; r = next) {
        next = r->next;
        fail_and_free(r);
    }
}
