/* auth_test_util.c: see auth_test_util.h. Test code only. */
#include "auth_test_util.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void nap_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void waiter_init(waiter_t *w)
{
    memset(w, 0, sizeof(*w));
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

void waiter_fini(waiter_t *w)
{
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
}

void slot_init(slot_t *s, waiter_t *w)
{
    memset(s, 0, sizeof(*s));
    s->w = w;
    atomic_init(&s->calls, 0);
    atomic_init(&s->result, -1);
}

void waiter_done(void *ctx, auth_result_t result)
{
    slot_t *s = ctx;
    s->done_thread = pthread_self();
    if (s->recheck)
        s->recheck_rc = auth_check(s->recheck, "again", 5, "pw", 2, waiter_done, s);
    atomic_store(&s->result, (int)result);
    atomic_fetch_add(&s->calls, 1);
    pthread_mutex_lock(&s->w->mu);
    s->w->calls++;
    if ((unsigned)result < 3)
        s->w->by_result[result]++;
    pthread_cond_broadcast(&s->w->cv);
    pthread_mutex_unlock(&s->w->mu);
}

bool waiter_wait(waiter_t *w, unsigned n, int timeout_ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&w->mu);
    while (w->calls < n) {
        if (pthread_cond_timedwait(&w->cv, &w->mu, &dl) != 0)
            break;
    }
    bool ok = w->calls >= n;
    pthread_mutex_unlock(&w->mu);
    return ok;
}

unsigned waiter_calls(waiter_t *w)
{
    pthread_mutex_lock(&w->mu);
    unsigned n = w->calls;
    pthread_mutex_unlock(&w->mu);
    return n;
}

unsigned waiter_count(waiter_t *w, auth_result_t r)
{
    pthread_mutex_lock(&w->mu);
    unsigned n = w->by_result[r];
    pthread_mutex_unlock(&w->mu);
    return n;
}

int check_async(auth_t *a, const char *id, const char *pw, slot_t *s)
{
    return auth_check(a, id, strlen(id), pw, strlen(pw), waiter_done, s);
}

int check_sync(auth_t *a, const char *id, const char *pw)
{
    waiter_t w;
    slot_t s;
    waiter_init(&w);
    slot_init(&s, &w);
    int rc = check_async(a, id, pw, &s);
    int res = -1;
    if (rc == 0 && waiter_wait(&w, 1, 10000))
        res = atomic_load(&s.result);
    /* A slot must not be touched by a late second call after we return:
     * exactly-once is also what keeps this stack memory safe. */
    waiter_fini(&w);
    return res;
}

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t log_cv = PTHREAD_COND_INITIALIZER;
static char log_buf[64 * 1024];
static size_t log_len;

void test_log(int level, const char *msg)
{
    pthread_mutex_lock(&log_mu);
    int n = snprintf(log_buf + log_len, sizeof(log_buf) - log_len, "%d %s\n", level, msg);
    if (n > 0 && log_len + (size_t)n < sizeof(log_buf))
        log_len += (size_t)n;
    pthread_cond_broadcast(&log_cv);
    pthread_mutex_unlock(&log_mu);
    if (getenv("AUTH_TEST_VERBOSE"))
        fprintf(stderr, "[auth log %d] %s\n", level, msg);
}

static unsigned count_locked(const char *needle)
{
    unsigned n = 0;
    for (const char *p = log_buf; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

unsigned test_log_count(const char *needle)
{
    pthread_mutex_lock(&log_mu);
    unsigned n = count_locked(needle);
    pthread_mutex_unlock(&log_mu);
    return n;
}

bool test_log_wait(const char *needle, unsigned n, int timeout_ms)
{
    long long end = now_ms() + timeout_ms;
    bool ok;
    while (!(ok = test_log_count(needle) >= n) && now_ms() < end)
        nap_ms(5);
    return ok;
}

void test_config(auth_config_t *c, auth_kind_t kind)
{
    auth_config_default(c, kind);
    c->cost = PWHASH_COST_MIN;
    c->log = test_log;
}

bool wait_redis_ready(auth_t *a, bool want, int timeout_ms)
{
    long long end = now_ms() + timeout_ms;
    bool ok;
    while (!(ok = auth_redis_ready(a) == want) && now_ms() < end)
        nap_ms(5);
    return ok;
}

bool wait_stat(auth_t *a, size_t field_offset, uint64_t want, int timeout_ms)
{
    long long end = now_ms() + timeout_ms;
    for (;;) {
        auth_stats_t st;
        auth_get_stats(a, &st);
        uint64_t v;
        memcpy(&v, (const char *)&st + field_offset, sizeof(v));
        if (v == want)
            return true;
        if (now_ms() >= end)
            return false;
        nap_ms(5);
    }
}
