/* test_auth_redis_faults.c: the redis backend while Redis misbehaves: killed
 * with requests in flight, restarted on the same port, paused (SIGSTOP and
 * DEBUG SLEEP) past the request timeout, and auth_destroy with requests in
 * flight. Each test starts its OWN redis-server (never the shared one of
 * `make test`, which other tests are using). Run under ASan, the late-reply
 * tests prove that a reply for a request already failed by its timeout
 * touches no freed memory; "exactly once" is checked per request. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "auth_test_util.h"
#include "redis_proc.h"

static redis_proc_t srv;

static void setup(void)
{
    int rc = redis_proc_start(&srv);
    cr_assert_eq(rc, 0, "redis-server: %s", strerror(-rc));
}

static void teardown(void)
{
    redis_proc_cleanup(&srv);
}

TestSuite(auth_redis_faults, .init = setup, .fini = teardown, .timeout = 40);

static void add_user(const char *id, const char *pw)
{
    char err[128];
    int rc = auth_redis_user_add(srv.host, srv.port, id, pw, PWHASH_COST_MIN, err, sizeof(err));
    cr_assert_eq(rc, 0, "user add: %s", err);
}

static auth_t *mk_redis(unsigned timeout_ms)
{
    auth_config_t c;
    test_config(&c, AUTH_REDIS);
    c.redis_host = srv.host;
    c.redis_port = srv.port;
    c.timeout_ms = timeout_ms;
    auth_t *a = auth_create(&c);
    cr_assert_not_null(a);
    cr_assert(wait_redis_ready(a, true, 10000));
    return a;
}

static uint64_t stat_of(auth_t *a, size_t off)
{
    auth_stats_t st;
    auth_get_stats(a, &st);
    uint64_t v;
    memcpy(&v, (const char *)&st + off, sizeof(v));
    return v;
}

/* Sends n checks of ("u", right ? "pw" : "bad") into slots[first..]. */
static void send_checks(auth_t *a, waiter_t *w, slot_t *slots, int n, bool right)
{
    for (int i = 0; i < n; i++) {
        slot_init(&slots[i], w);
        cr_assert_eq(check_async(a, "u", right ? "pw" : "bad", &slots[i]), 0);
    }
}

Test(auth_redis_faults, killed_mid_run_fails_in_flight_then_recovers_on_restart)
{
    enum { N = 20 };
    add_user("u", "pw");
    auth_t *a = mk_redis(3000);
    cr_assert_eq(check_sync(a, "u", "pw"), AUTH_OK);

    /* Freeze Redis so that N requests are surely in flight, then kill it. */
    cr_assert_eq(redis_proc_pause(&srv), 0);
    waiter_t w;
    slot_t s[N];
    waiter_init(&w);
    send_checks(a, &w, s, N, true);
    cr_assert(wait_stat(a, STAT(redis_inflight), N, 10000), "all %d sent", N);
    cr_assert_eq(redis_proc_kill(&srv), 0);

    cr_assert(waiter_wait(&w, N, 10000), "no hang: got %u", waiter_calls(&w));
    cr_assert_eq(waiter_count(&w, AUTH_UNAVAILABLE), N);
    /* Failed by the disconnect itself, not by the 3 s request timer. */
    cr_assert_eq(stat_of(a, STAT(redis_timeouts)), 0);
    cr_assert(wait_redis_ready(a, false, 5000));

    /* While down: immediate AUTH_UNAVAILABLE, inline. */
    slot_t now;
    slot_init(&now, &w);
    cr_assert_eq(check_async(a, "u", "pw", &now), 0);
    cr_assert_eq(atomic_load(&now.calls), 1);
    cr_assert_eq(atomic_load(&now.result), AUTH_UNAVAILABLE);

    /* Back on the same port (empty: persistence is off): no new auth_t. */
    cr_assert_eq(redis_proc_restart(&srv), 0);
    add_user("u", "pw");
    cr_assert(wait_redis_ready(a, true, 10000), "reconnects within the 2 s backoff cap");
    cr_assert_eq(check_sync(a, "u", "pw"), AUTH_OK);
    cr_assert_eq(check_sync(a, "u", "nope"), AUTH_DENIED);
    cr_assert_eq(stat_of(a, STAT(redis_connects)), 2);
    cr_assert_eq(test_log_count("connection lost"), 1, "the outage is logged once");
    cr_assert_eq(test_log_count(": ready"), 2);
    auth_destroy(a);
    for (int i = 0; i < N; i++)
        cr_assert_eq(atomic_load(&s[i].calls), 1);
    waiter_fini(&w);
}

Test(auth_redis_faults, paused_past_timeout_fails_then_late_replies_are_ignored)
{
    enum { N = 5 };
    add_user("u", "pw");
    auth_t *a = mk_redis(500);
    cr_assert_eq(redis_proc_pause(&srv), 0); /* SIGSTOP: TCP stays up */
    waiter_t w;
    slot_t s[N];
    waiter_init(&w);
    long long t0 = now_ms();
    send_checks(a, &w, s, N, true);
    cr_assert(waiter_wait(&w, N, 10000), "no hang");
    long long took = now_ms() - t0;
    cr_assert_eq(waiter_count(&w, AUTH_UNAVAILABLE), N);
    cr_assert_geq(took, 495, "not before the 500 ms timeout (%lld ms)", took);
    cr_assert_eq(stat_of(a, STAT(redis_timeouts)), N);
    cr_assert(auth_redis_ready(a), "a slow Redis is not a lost connection");

    /* Resume: Redis now answers all N; each reply must be dropped quietly. */
    cr_assert_eq(redis_proc_resume(&srv), 0);
    cr_assert(wait_stat(a, STAT(redis_late_replies), N, 10000));
    cr_assert_eq(check_sync(a, "u", "pw"), AUTH_OK, "works again after the pause");
    cr_assert_eq(waiter_calls(&w), N, "late replies completed nothing");
    auth_destroy(a);
    for (int i = 0; i < N; i++)
        cr_assert_eq(atomic_load(&s[i].calls), 1);
    waiter_fini(&w);
}

Test(auth_redis_faults, debug_sleep_times_out_then_works)
{
    enum { N = 10 };
    add_user("u", "pw");
    auth_t *a = mk_redis(500);
    cr_assert_eq(redis_proc_debug_sleep(&srv, 2.0), 0);
    waiter_t w;
    slot_t s[N];
    waiter_init(&w);
    send_checks(a, &w, s, N, true);
    cr_assert(waiter_wait(&w, N, 10000));
    cr_assert_eq(waiter_count(&w, AUTH_UNAVAILABLE), N, "ok %u denied %u unav %u",
                 waiter_count(&w, AUTH_OK), waiter_count(&w, AUTH_DENIED),
                 waiter_count(&w, AUTH_UNAVAILABLE));
    cr_assert_eq(stat_of(a, STAT(redis_timeouts)), N);
    cr_assert(wait_stat(a, STAT(redis_late_replies), N, 10000), "the sleep ends, replies come");
    cr_assert_eq(check_sync(a, "u", "pw"), AUTH_OK);
    auth_destroy(a);
    for (int i = 0; i < N; i++)
        cr_assert_eq(atomic_load(&s[i].calls), 1);
    waiter_fini(&w);
}

/* 200 requests from 4 threads, all in flight on one connection at once
 * (Redis is paused until every one is sent), then all answered correctly. */
enum { PP_THREADS = 4, PP_EACH = 50 };

typedef struct pp {
    auth_t *a;
    int thread;
    slot_t slots[PP_EACH];
    unsigned expect_ok;
    int refused;
} pp_t;

static void *pp_main(void *arg)
{
    pp_t *p = arg;
    for (int i = 0; i < PP_EACH; i++) {
        bool right = (i + p->thread) % 3 != 0;
        p->expect_ok += right;
        if (check_async(p->a, "u", right ? "pw" : "bad", &p->slots[i]) != 0)
            p->refused++;
    }
    return NULL;
}

Test(auth_redis_faults, two_hundred_pipelined_while_paused_all_answered)
{
    add_user("u", "pw");
    auth_t *a = mk_redis(20000); /* long: this test is about pipelining */
    cr_assert_eq(redis_proc_pause(&srv), 0);
    waiter_t w;
    waiter_init(&w);
    static pp_t pps[PP_THREADS];
    pthread_t th[PP_THREADS];
    unsigned expect_ok = 0;
    for (int t = 0; t < PP_THREADS; t++) {
        pps[t] = (pp_t){.a = a, .thread = t};
        for (int i = 0; i < PP_EACH; i++)
            slot_init(&pps[t].slots[i], &w);
        pthread_create(&th[t], NULL, pp_main, &pps[t]);
    }
    for (int t = 0; t < PP_THREADS; t++) {
        pthread_join(th[t], NULL);
        cr_assert_eq(pps[t].refused, 0);
        expect_ok += pps[t].expect_ok;
    }
    cr_assert(wait_stat(a, STAT(redis_inflight), PP_THREADS * PP_EACH, 10000),
              "all 200 in flight on the one connection");
    cr_assert_eq(waiter_calls(&w), 0);
    cr_assert_eq(redis_proc_resume(&srv), 0);
    cr_assert(waiter_wait(&w, PP_THREADS * PP_EACH, 20000), "got %u", waiter_calls(&w));
    auth_destroy(a);
    cr_assert_eq(waiter_count(&w, AUTH_OK), expect_ok);
    cr_assert_eq(waiter_count(&w, AUTH_DENIED), PP_THREADS * PP_EACH - expect_ok);
    for (int t = 0; t < PP_THREADS; t++)
        for (int i = 0; i < PP_EACH; i++)
            cr_assert_eq(atomic_load(&pps[t].slots[i].calls), 1);
    waiter_fini(&w);
}

Test(auth_redis_faults, destroy_with_requests_in_flight_completes_each_once)
{
    enum { OLD = 10, LIVE = 20 };
    add_user("u", "pw");
    auth_t *a = mk_redis(1000);
    cr_assert_eq(redis_proc_pause(&srv), 0);
    waiter_t w;
    slot_t old[OLD], live[LIVE];
    waiter_init(&w);
    /* OLD time out first, but hiredis still holds them (their replies are
     * due): auth_destroy must free them without completing them again. */
    send_checks(a, &w, old, OLD, true);
    cr_assert(waiter_wait(&w, OLD, 10000));
    cr_assert_eq(stat_of(a, STAT(redis_timeouts)), OLD);
    /* LIVE are in flight and (given the 1 s timeout) not yet timed out. */
    send_checks(a, &w, live, LIVE, false);
    cr_assert(wait_stat(a, STAT(redis_inflight), OLD + LIVE, 10000));
    auth_destroy(a);
    cr_assert_eq(waiter_calls(&w), OLD + LIVE, "every one completed before destroy returned");
    for (int i = 0; i < OLD; i++)
        cr_assert_eq(atomic_load(&old[i].calls), 1);
    for (int i = 0; i < LIVE; i++) {
        cr_assert_eq(atomic_load(&live[i].calls), 1);
        cr_assert_eq(atomic_load(&live[i].result), AUTH_UNAVAILABLE);
    }
    cr_assert_eq(redis_proc_resume(&srv), 0);
    waiter_fini(&w);
}
