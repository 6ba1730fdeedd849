/* auth.h: the whole contract of the credential backends (memory, redis, none).
 * Called by the login actor (any worker thread) and by `ringchat user add`.
 * Nothing here ever blocks the caller: hashing runs on a small blocking pool,
 * Redis I/O on one dedicated thread. Invariant: every call of auth_check that
 * returns 0 leads to exactly one call of its done callback.
 *
 * Thread model (who calls done):
 *   - AUTH_NONE: inline, on the caller's thread, before auth_check returns.
 *   - immediate failures (redis not connected): inline, on the caller's thread,
 *     with AUTH_UNAVAILABLE, before auth_check returns.
 *   - AUTH_MEMORY: on a hash-pool thread.
 *   - AUTH_REDIS: on the redis I/O thread (unknown user, Redis errors,
 *     timeouts, disconnects, legacy plain mode) or on a hash-pool thread
 *     (the argon2id verification of a fetched hash).
 *   - during auth_destroy: on those same auth threads, before it returns.
 * So done may run before auth_check returns: a caller must be ready for that.
 * done must be quick (no blocking, no hashing), must not call auth_destroy,
 * and may call auth_check again (it returns -ESHUTDOWN during auth_destroy). */
#ifndef RINGCHAT_AUTH_H
#define RINGCHAT_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pwhash.h"

enum {
    AUTH_ID_MAX = 255, /* longest accepted user id, bytes */
    AUTH_PW_MAX = 255, /* longest accepted password, bytes */
};

/* Log levels passed to auth_config_t.log; the same numbers as the server's
 * log_level_t (src/server/log.h) so the server can pass them straight on. */
enum { AUTH_LOG_ERROR = 0, AUTH_LOG_WARN = 1, AUTH_LOG_INFO = 2, AUTH_LOG_DEBUG = 3 };

typedef enum auth_kind { AUTH_MEMORY, AUTH_REDIS, AUTH_NONE } auth_kind_t;

typedef enum auth_result {
    AUTH_OK = 0,
    AUTH_DENIED = 1,      /* wrong password or unknown user (LOGIN_RES 33) */
    AUTH_UNAVAILABLE = 2, /* backend down, timed out, overloaded, shutting down (34) */
} auth_result_t;

/* Zero fields mean "default" (see auth_config_default), so a config that is
 * only memset to 0 and given a kind works. */
typedef struct auth_config {
    auth_kind_t kind;
    const char *redis_host; /* default "127.0.0.1"; copied by auth_create */
    uint16_t redis_port;    /* default 6379 */
    bool legacy_plain;      /* redis: plain `GET ID` == password (INSECURE) */
    pwhash_cost_t cost;     /* memory backend's hashes (0 = PWHASH_COST_MIN!) */
    unsigned hash_threads;  /* hash pool size, default 2 */
    unsigned timeout_ms;    /* redis: per request and per connect, default 3000 */
    unsigned max_pending;   /* accepted but not completed, default 4096 */
    unsigned max_users;     /* memory: ids it registers at most, default 100000; a new id
                             * beyond gets AUTH_UNAVAILABLE */
    void (*log)(int level, const char *msg); /* default: stderr; any thread */
} auth_config_t;

/* Counters for logs, metrics and tests; read without stopping anything, so a
 * snapshot is not atomic as a whole (each counter is). */
typedef struct auth_stats {
    uint64_t ok, denied, unavailable; /* completions by result */
    uint64_t rejected;                /* auth_check returned -EAGAIN */
    uint64_t registered;              /* memory: ids registered so far */
    uint64_t registry_full;           /* memory: new ids refused at max_users */
    uint64_t redis_connects;          /* times the connection became ready */
    uint64_t redis_timeouts;          /* requests failed by the request timeout */
    uint64_t redis_late_replies;      /* replies that arrived after their timeout */
    uint64_t redis_inflight;          /* commands sent and not yet answered, now */
} auth_stats_t;

typedef void (*auth_done_fn)(void *ctx, auth_result_t result);
typedef struct auth auth_t;

/* Fills cfg with the defaults for kind: 127.0.0.1:6379, legacy off,
 * PWHASH_COST_INTERACTIVE, 2 hash threads, 3000 ms, 4096 pending, stderr. */
void auth_config_default(auth_config_t *cfg, auth_kind_t kind);

/* Starts the hash pool (memory, redis) and the redis I/O thread, which begins
 * connecting in the background: auth_create never waits for Redis. Returns
 * NULL on failure (bad config, no memory, libsodium or thread start failed).
 * Call from one thread; the result may then be shared by all threads. */
auth_t *auth_create(const auth_config_t *cfg);

/* Checks id/pw (both copied; the copy of pw is wiped once used). Any thread,
 * concurrently; never blocks: no hashing, no network I/O on the caller's
 * thread. Returns 0 when accepted: done(ctx, result) is then called exactly
 * once (see the thread model above). Otherwise done is never called and it
 * returns -EINVAL (id_len 0 or > AUTH_ID_MAX, pw_len > AUTH_PW_MAX, NULL
 * arguments), -EAGAIN (max_pending requests already pending: answer 34),
 * -ENOMEM, or -ESHUTDOWN (auth_destroy has begun). */
int auth_check(auth_t *a, const char *id, size_t id_len, const char *pw, size_t pw_len,
               auth_done_fn done, void *ctx);

/* Completes every pending request (AUTH_UNAVAILABLE for those not already
 * decided), joins the auth threads and frees everything. Call once, from a
 * thread that is not an auth thread, when no other thread can still start an
 * auth_check (calls made from done callbacks meanwhile get -ESHUTDOWN).
 * NULL is a no-op. */
void auth_destroy(auth_t *a);

/* true while the redis connection is up and answered its PING; always false
 * for the other backends. Any thread; a snapshot that may change at once. */
bool auth_redis_ready(auth_t *a);

/* Any thread. */
void auth_get_stats(auth_t *a, auth_stats_t *out);

/* Synchronous (blocks up to ~2 s per step; for the `ringchat user add` CLI,
 * never a worker): HSET ringchat:user:ID pw <argon2id of pw at cost>.
 * Returns 0, or -EINVAL (bad id/pw), -ECONNREFUSED (cannot connect),
 * -EIO (Redis error reply or I/O error), -ENOMEM; err (may be NULL) gets a
 * one-line reason. The caller should ignore SIGPIPE, as the server does. */
int auth_redis_user_add(const char *host, uint16_t port, const char *id, const char *pw,
                        pwhash_cost_t cost, char *err, size_t errlen);

#endif
