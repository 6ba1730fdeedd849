/* auth_redis.c: the redis backend's I/O thread and connection state
 * machine. One dedicated thread owns a hiredis async context on a
 * non-blocking socket, driven by its own epoll together with an eventfd (new
 * requests), a connection timerfd (reconnect backoff and connect timeout) and
 * a request timerfd (per-request reply timeout; see auth_redis_req.c).
 * Called by auth.c (create, destroy, is_ready); everything else runs on the
 * I/O thread, which must never block except in epoll_wait.
 *
 * Connection states (each transition logged once per outage, not per retry):
 *
 *   BACKOFF --timer--> CONNECTING --PING answered--> READY
 *      ^                   |                           |
 *      +--error, EOF, -----+                           |
 *      |  connect timeout                              |
 *      +--------------- error, EOF --------------------+
 *
 * The backoff delay starts at 100 ms and doubles up to 2 s; it restarts at
 * 100 ms once READY. Only READY sends requests; in every other state a
 * request fails at once with AUTH_UNAVAILABLE. */
#include "auth_redis_int.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

uint64_t auth_redis_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void auth_redis_timer_at(int fd, uint64_t at_ns)
{
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(at_ns / 1000000000u);
    its.it_value.tv_nsec = (long)(at_ns % 1000000000u);
    timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* false on a stale event: the timer was re-armed or disarmed after epoll
 * reported it (timerfd_settime resets the expiry count). */
bool auth_redis_timer_fired(int fd)
{
    uint64_t ticks;
    return read(fd, &ticks, sizeof(ticks)) == (ssize_t)sizeof(ticks);
}

bool auth_redis_is_ready(const auth_redis_t *rd)
{
    /* Relaxed: the flag publishes no data, it only lets auth_check fail fast.
     * A stale true is caught by the I/O thread (rule 2 in auth_redis_req.c); a stale false
     * fails one login during a state change, as a real outage would. Pairs
     * with the relaxed stores in redis_set_ready. */
    return atomic_load_explicit(&rd->ready, memory_order_relaxed);
}

static void redis_set_ready(auth_redis_t *rd, bool ready)
{
    atomic_store_explicit(&rd->ready, ready, memory_order_relaxed); /* see is_ready */
}

/* ---- the connection state machine -------------------------------------- */

static void timer_after_ms(int fd, unsigned ms)
{
    auth_redis_timer_at(fd, auth_redis_now_ns() + (uint64_t)ms * 1000000u);
}

static void enter_backoff(auth_redis_t *rd, const char *why)
{
    auth_t *a = rd->auth;
    bool was_ready = rd->state == RS_READY;
    redis_set_ready(rd, false);
    rd->state = RS_BACKOFF;
    if (was_ready) {
        auth_log(a, AUTH_LOG_WARN, "redis %s:%u: connection lost (%s); reconnecting", a->host,
                 a->cfg.redis_port, why);
        rd->outage_logged = true;
        rd->backoff_ms = BACKOFF_FIRST_MS;
    } else if (!rd->outage_logged) {
        auth_log(a, AUTH_LOG_WARN,
                 "redis %s:%u: unreachable (%s); retrying with backoff up to %u ms", a->host,
                 a->cfg.redis_port, why, (unsigned)BACKOFF_MAX_MS);
        rd->outage_logged = true;
    } else {
        auth_log(a, AUTH_LOG_DEBUG, "redis: connect failed (%s); next try in %u ms", why,
                 rd->backoff_ms);
    }
    timer_after_ms(rd->conn_tfd, rd->backoff_ms);
    rd->backoff_ms = rd->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : rd->backoff_ms * 2;
}

static void enter_ready(auth_redis_t *rd)
{
    auth_t *a = rd->auth;
    rd->state = RS_READY;
    rd->backoff_ms = BACKOFF_FIRST_MS;
    rd->outage_logged = false;
    auth_redis_timer_at(rd->conn_tfd, 0);
    auth_count(&a->n.redis_connects);
    redis_set_ready(rd, true);
    auth_log(a, AUTH_LOG_INFO, "redis %s:%u: ready%s", a->host, a->cfg.redis_port,
             a->cfg.legacy_plain ? " (legacy plain passwords: insecure)" : "");
}

/* hiredis is freeing the context (rule 3 has already failed every pending
 * callback). Runs inside hiredis: only bookkeeping and timers here. */
static void on_cleanup(void *owner, redisAsyncContext *ac)
{
    auth_redis_t *rd = owner;
    rd->ac = NULL;
    rd->drop = false;
    const char *why = rd->drop_reason ? rd->drop_reason
                      : ac->errstr    ? ac->errstr
                                      : "connection closed";
    rd->drop_reason = NULL;
    if (rd->state != RS_STOPPED)
        enter_backoff(rd, why);
}

static void on_ping(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    auth_redis_t *rd = privdata;
    const redisReply *rep = reply;
    if (!rep || rd->state != RS_CONNECTING)
        return;
    if (rep->type == REDIS_REPLY_STATUS && strcmp(rep->str, "PONG") == 0) {
        enter_ready(rd);
        return;
    }
    /* e.g. NOAUTH or LOADING: not usable yet. Freeing the context inside its
     * own callback is deferred by hiredis; the loop does it (redis_drop). */
    rd->drop = true;
    rd->drop_reason = rep->type == REDIS_REPLY_ERROR ? "PING refused" : "bad PING reply";
}

/* Frees the context from the loop (never from a hiredis callback); the
 * cleanup hook then moves to BACKOFF. */
static void redis_drop(auth_redis_t *rd, const char *why)
{
    if (!rd->ac)
        return;
    if (!rd->drop_reason)
        rd->drop_reason = why;
    redisAsyncFree(rd->ac);
}

static void start_connect(auth_redis_t *rd)
{
    auth_t *a = rd->auth;
    rd->state = RS_CONNECTING;
    redisAsyncContext *ac = redisAsyncConnect(a->host, a->cfg.redis_port);
    if (!ac) {
        enter_backoff(rd, "out of memory");
        return;
    }
    if (ac->err) { /* e.g. refused at once on loopback */
        char why[128];
        strncpy(why, ac->errstr ? ac->errstr : "connect failed", sizeof(why) - 1);
        why[sizeof(why) - 1] = '\0';
        redisAsyncFree(ac);
        enter_backoff(rd, why);
        return;
    }
    redisEnableKeepAlive(&ac->c); /* notices a peer that vanished silently */
    rd->ac = ac;
    rd->gen++;
    rd->error_logged = false;
    auth_redis_ev_attach(&rd->ev, ac, rd->epfd, TAG_SOCK_BASE + rd->gen, on_cleanup, rd);
    /* READY means Redis answered, not just that the kernel accepted the TCP
     * connection (a stopped Redis still completes handshakes). */
    timer_after_ms(rd->conn_tfd, a->cfg.timeout_ms);
    if (redisAsyncCommand(ac, on_ping, rd, "PING") != REDIS_OK)
        redis_drop(rd, "cannot queue PING");
}

static void on_conn_timer(auth_redis_t *rd)
{
    if (!auth_redis_timer_fired(rd->conn_tfd))
        return;
    if (rd->state == RS_BACKOFF)
        start_connect(rd);
    else if (rd->state == RS_CONNECTING)
        redis_drop(rd, "connect timeout");
}

/* ---- the thread ---------------------------------------------------------- */

static void redis_dispatch(auth_redis_t *rd, uint64_t tag, uint32_t events)
{
    if (tag == TAG_WAKE)
        auth_redis_req_wake(rd);
    else if (tag == TAG_CONN_TIMER)
        on_conn_timer(rd);
    else if (tag == TAG_REQ_TIMER)
        auth_redis_req_timer(rd);
    else if (rd->ac && tag == TAG_SOCK_BASE + rd->gen) /* else: an old socket's */
        auth_redis_ev_handle(&rd->ev, events);
    if (rd->drop)
        redis_drop(rd, "dropped");
}

/* Stop: fail what is queued, then free the context, which fails what is in
 * flight (rule 3) and frees timed-out requests. */
static void redis_shutdown(auth_redis_t *rd)
{
    rd->state = RS_STOPPED;
    redis_set_ready(rd, false);
    auth_redis_req_fail_queued(rd);
    redis_drop(rd, "shutting down");
}

static void *redis_main(void *arg)
{
    auth_redis_t *rd = arg;
    struct epoll_event evs[16];
    start_connect(rd);
    /* Acquire pairs with the release store in auth_redis_destroy. */
    while (!atomic_load_explicit(&rd->stop, memory_order_acquire)) {
        int n = epoll_wait(rd->epfd, evs, 16, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) { /* only a corrupted fd could cause this: fail loudly */
            auth_log(rd->auth, AUTH_LOG_ERROR, "redis: epoll_wait: %s", strerror(errno));
            abort();
        }
        for (int i = 0; i < n; i++)
            redis_dispatch(rd, evs[i].data.u64, evs[i].events);
    }
    redis_shutdown(rd);
    return NULL;
}

static int epoll_add(int epfd, int fd, uint64_t tag)
{
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = tag};
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
}

static int redis_open_fds(auth_redis_t *rd)
{
    rd->epfd = epoll_create1(EPOLL_CLOEXEC);
    rd->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    rd->conn_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    rd->req_tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (rd->epfd < 0 || rd->wakefd < 0 || rd->conn_tfd < 0 || rd->req_tfd < 0)
        return -1;
    if (epoll_add(rd->epfd, rd->wakefd, TAG_WAKE) ||
        epoll_add(rd->epfd, rd->conn_tfd, TAG_CONN_TIMER) ||
        epoll_add(rd->epfd, rd->req_tfd, TAG_REQ_TIMER))
        return -1;
    return 0;
}

auth_redis_t *auth_redis_create(auth_t *a)
{
    auth_redis_t *rd = aligned_alloc(64, (sizeof(*rd) + 63) / 64 * 64);
    if (!rd)
        return NULL;
    memset(rd, 0, sizeof(*rd));
    rd->auth = a;
    rd->epfd = rd->wakefd = rd->conn_tfd = rd->req_tfd = -1;
    rd->ev.fd = -1;
    rd->backoff_ms = BACKOFF_FIRST_MS;
    atomic_init(&rd->inbox, NULL);
    atomic_init(&rd->ready, false);
    atomic_init(&rd->stop, false);
    a->redis = rd; /* on_reply finds the backend through the request */
    if (redis_open_fds(rd) != 0) {
        auth_redis_destroy(rd);
        return NULL;
    }
    auth_log(a, AUTH_LOG_INFO, "redis %s:%u: connecting (%s, timeout %u ms)", a->host,
             a->cfg.redis_port, a->cfg.legacy_plain ? "legacy plain GET ID" : "argon2id hashes",
             a->cfg.timeout_ms);
    /* Every signal blocked on the I/O thread: process signals go to the main
     * thread, and SIGPIPE from a write to a dead Redis stays pending here
     * (harmless) while write() returns EPIPE, which hiredis handles. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&rd->thread, NULL, redis_main, rd);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        auth_redis_destroy(rd);
        return NULL;
    }
    rd->thread_started = true;
    pthread_setname_np(rd->thread, "auth-redis");
    return rd;
}

void auth_redis_destroy(auth_redis_t *rd)
{
    if (rd->thread_started) {
        /* Release pairs with the acquire load in redis_main's loop. */
        atomic_store_explicit(&rd->stop, true, memory_order_release);
        uint64_t one = 1;
        ssize_t n = write(rd->wakefd, &one, sizeof(one));
        (void)n;
        pthread_join(rd->thread, NULL);
    }
    /* Nothing can be pushed any more (auth_check refuses during shutdown);
     * this only catches a request pushed after the thread's last take. */
    auth_redis_req_fail_queued(rd);
    int fds[] = {rd->epfd, rd->wakefd, rd->conn_tfd, rd->req_tfd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
        if (fds[i] >= 0)
            close(fds[i]);
    rd->auth->redis = NULL;
    free(rd);
}
