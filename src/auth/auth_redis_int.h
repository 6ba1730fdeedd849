/* auth_redis_int.h: what the two halves of the redis backend share:
 * auth_redis.c (the I/O thread and the connection state machine) and
 * auth_redis_req.c (requests: the inbox, sending, replies, timeouts).
 * Never included outside those two files. Invariant: every field below the
 * "I/O thread only" mark is touched by the I/O thread alone (or by
 * auth_redis_destroy after it has joined that thread). */
#ifndef RINGCHAT_AUTH_REDIS_INT_H
#define RINGCHAT_AUTH_REDIS_INT_H

#include <pthread.h>
#include <stdalign.h>

#include <hiredis/async.h>

#include "auth_internal.h"
#include "auth_redis_ev.h"

enum { TAG_WAKE = 1, TAG_CONN_TIMER, TAG_REQ_TIMER, TAG_SOCK_BASE = 16 };
enum { BACKOFF_FIRST_MS = 100, BACKOFF_MAX_MS = 2000 };

typedef enum redis_state { RS_BACKOFF, RS_CONNECTING, RS_READY, RS_STOPPED } redis_state_t;

struct auth_redis {
    auth_t *auth;
    int epfd, wakefd, conn_tfd, req_tfd;
    pthread_t thread;
    bool thread_started;

    /* Touched by submitting threads: kept on its own cache line. */
    alignas(64) _Atomic(auth_req_t *) inbox; /* lock-free stack of new requests */
    _Atomic bool ready;                      /* state == RS_READY, as a hint */
    _Atomic bool stop;                       /* auth_redis_destroy has begun */

    /* I/O thread only. */
    alignas(64) redis_state_t state;
    redisAsyncContext *ac;
    auth_redis_ev_t ev;
    uint64_t gen;        /* connection number; socket events carry it */
    unsigned backoff_ms; /* delay before the next connect attempt */
    bool drop;           /* a callback asked to drop the connection */
    const char *drop_reason;
    bool outage_logged;        /* this outage was logged; stay quiet on retries */
    bool error_logged;         /* an error reply was logged on this connection */
    auth_req_t *thead, *ttail; /* sent, not answered, not timed out: send order */
    bool req_timer_armed;
    size_t inflight; /* commands held by hiredis, timed out ones too */
};

/* CLOCK_MONOTONIC now, in nanoseconds. */
uint64_t auth_redis_now_ns(void);
/* Arms timerfd fd to fire once at the absolute monotonic time at_ns (0 disarms). */
void auth_redis_timer_at(int fd, uint64_t at_ns);
/* Consumes a timer expiry; false if there is none (a stale event). */
bool auth_redis_timer_fired(int fd);

/* auth_redis_req.c, all on the I/O thread: */
/* The wake eventfd fired: send every queued request (or fail it if not READY). */
void auth_redis_req_wake(auth_redis_t *rd);
/* The request timerfd fired: fail the requests whose deadline has passed. */
void auth_redis_req_timer(auth_redis_t *rd);
/* Fails and frees every request still queued in the inbox. */
void auth_redis_req_fail_queued(auth_redis_t *rd);

#endif
