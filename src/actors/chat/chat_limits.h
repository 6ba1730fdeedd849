/* chat_limits.h: what happens when a client hits one of ringchat's limits,
 * apart from what the client is told: a count per limit (for /metrics) and
 * an operator log line that cannot flood the log, plus the one limit that is
 * shared by every worker, the count of connections not logged in yet.
 * Any thread; never blocks, never allocates. */
#ifndef RINGCHAT_CHAT_LIMITS_H
#define RINGCHAT_CHAT_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct chat_ctx chat_ctx_t;

/* Each limit, named in the log and in /metrics after its setting. */
typedef enum chat_limit {
    CHAT_LIMIT_MAX_CLIENTS,    /* LOGIN_RES 32 */
    CHAT_LIMIT_MAX_UNAUTH,     /* a new connection refused: ERROR_NTF 9 */
    CHAT_LIMIT_UNAUTH_TIMEOUT, /* no login in time: ERROR_NTF 7, close */
    CHAT_LIMIT_LOGIN_ATTEMPTS, /* too many failed logins: ERROR_NTF 10, close */
    CHAT_LIMIT_IDLE_TIMEOUT,   /* silent too long: ERROR_NTF 7, close */
    CHAT_LIMIT_ROOM_CAPACITY,  /* ROOM_ENTER_RES 54 */
    CHAT_LIMIT_CHAT_RATE,      /* ROOM_CHAT_RES 63 */
    CHAT_LIMIT_MAX_PACKET,     /* a header announced too many bytes: ERROR_NTF 4, close */
    CHAT_LIMIT_PARKED_INPUT,   /* > 1 MiB sent behind a pending request: cut */
    CHAT_LIMIT_OUTBOX,         /* a slow consumer: ERROR_NTF 6, cut */
    CHAT_LIMITS
} chat_limit_t;

/* The setting's name ("max-unauth", ...). */
const char *chat_limit_name(chat_limit_t limit);

/* Gate for one kind of log line: at most one a second; the lines it held
 * back are counted and reported by the next one that passes. */
typedef struct chat_warn_gate {
    uint64_t last_ms; /* atomic: when the last line passed */
    uint64_t held;    /* atomic: lines held back since */
} chat_warn_gate_t;

/* Counts one hit of `limit` for the calling worker and logs a warning line
 * ("limit LIMIT: <what>", printf-style), at most once a second per limit. */
void chat_limit_hit(const chat_ctx_t *ctx, chat_limit_t limit, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A new connection asks for one of the --max-unauth places. true: it holds
 * one until chat_unauth_release; false: the server is at the cap (nothing
 * is held, and the caller refuses the connection). */
bool chat_unauth_acquire(const chat_ctx_t *ctx);

/* Gives back the place of chat_unauth_acquire (on login or close). */
void chat_unauth_release(const chat_ctx_t *ctx);

/* Connections holding a place now (a gauge for /metrics). */
uint64_t chat_unauth_count(const chat_ctx_t *ctx);

#endif
