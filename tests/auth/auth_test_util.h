/* auth_test_util.h: helpers shared by the auth tests: a completion recorder
 * that counts every done call per request (to prove exactly-once), bounded
 * waits, and a log hook that keeps the lines for assertions. Test code only;
 * every wait has a timeout. */
#ifndef RINGCHAT_AUTH_TEST_UTIL_H
#define RINGCHAT_AUTH_TEST_UTIL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "auth.h"

/* Collects the completions of many requests. */
typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    unsigned calls;
    unsigned by_result[3]; /* indexed by auth_result_t */
} waiter_t;

/* One request: the ctx given to auth_check. */
typedef struct slot {
    waiter_t *w;
    _Atomic unsigned calls; /* must end at exactly 1 (or 0 if refused) */
    _Atomic int result;
    pthread_t done_thread; /* written before calls is incremented */
    int recheck_rc;        /* see slot_recheck */
    auth_t *recheck;       /* if set, done calls auth_check again on it */
} slot_t;

void waiter_init(waiter_t *w);
void waiter_fini(waiter_t *w);
void slot_init(slot_t *s, waiter_t *w);
/* The auth_done_fn: ctx is a slot_t. */
void waiter_done(void *ctx, auth_result_t result);
/* Waits until at least n completions arrived; false on timeout. */
bool waiter_wait(waiter_t *w, unsigned n, int timeout_ms);
unsigned waiter_calls(waiter_t *w);
unsigned waiter_count(waiter_t *w, auth_result_t r);

/* auth_check with C strings and waiter_done. */
int check_async(auth_t *a, const char *id, const char *pw, slot_t *s);
/* auth_check and wait (10 s); returns the result, or -1 if refused or none. */
int check_sync(auth_t *a, const char *id, const char *pw);

/* A config for tests: PWHASH_COST_MIN, the capturing log hook. */
void test_config(auth_config_t *c, auth_kind_t kind);

/* Log capture (process-wide; each Criterion test runs in its own process). */
void test_log(int level, const char *msg);
unsigned test_log_count(const char *needle);
bool test_log_wait(const char *needle, unsigned n, int timeout_ms);

/* Polls pred-like conditions with 5 ms naps until timeout_ms. */
bool wait_redis_ready(auth_t *a, bool want, int timeout_ms);
bool wait_stat(auth_t *a, size_t field_offset, uint64_t want, int timeout_ms);
#define STAT(field) offsetof(auth_stats_t, field)

long long now_ms(void);
void nap_ms(int ms);

#endif
