/* test_auth_redis.c: the redis backend against a real redis-server: users
 * written by auth_redis_user_add, wrong passwords, unknown users, values that
 * are not argon2id hashes, legacy plain mode (GET ID), 200 concurrent checks,
 * and fail-fast while Redis is unreachable.
 * Uses the shared server of `make test` (RINGCHAT_TEST_REDIS) when set, else
 * starts its own; it never breaks the server (see test_auth_redis_faults.c
 * for that). Keys carry this process's PID so parallel runs never collide. */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth_test_util.h"
#include "redis_proc.h"

static redis_proc_t srv;

static void setup(void)
{
    int rc = redis_proc_start_or_env(&srv);
    cr_assert_eq(rc, 0, "redis-server: %s", strerror(-rc));
}

static void teardown(void)
{
    redis_proc_cleanup(&srv);
}

TestSuite(auth_redis, .init = setup, .fini = teardown, .timeout = 30);

/* A per-process id, so that tests sharing one server never collide. Main
 * thread only (a small ring of static buffers). */
static const char *uid(const char *name)
{
    static char buf[8][64];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, 64, "t%d-%s", (int)getpid(), name);
    return b;
}

static auth_t *mk_redis(bool legacy)
{
    auth_config_t c;
    test_config(&c, AUTH_REDIS);
    c.redis_host = srv.host;
    c.redis_port = srv.port;
    c.legacy_plain = legacy;
    auth_t *a = auth_create(&c);
    cr_assert_not_null(a);
    cr_assert(wait_redis_ready(a, true, 10000), "connects to %s:%u", srv.host, srv.port);
    return a;
}

static void add_user(const char *id, const char *pw)
{
    char err[128];
    int rc = auth_redis_user_add(srv.host, srv.port, id, pw, PWHASH_COST_MIN, err, sizeof(err));
    cr_assert_eq(rc, 0, "user add: %s", err);
}

static void del_key(const char *key)
{
    char out[32];
    cr_assert_eq(redis_proc_cmd(&srv, 2000, out, sizeof(out), NULL, "DEL", key, NULL), ':');
}

static void user_key(char *key, size_t cap, const char *id)
{
    snprintf(key, cap, "ringchat:user:%s", id);
}

Test(auth_redis, user_add_writes_an_argon2id_hash_field)
{
    const char *id = uid("layout");
    const char *pw = "plain-Secret-42"; /* '-' never occurs in base64 */
    add_user(id, pw);
    char key[128], out[256];
    user_key(key, sizeof(key), id);
    cr_assert_eq(redis_proc_cmd(&srv, 2000, out, sizeof(out), NULL, "HGET", key, "pw", NULL), '$');
    cr_assert(strncmp(out, "$argon2id$v=19$", 15) == 0, "stored %s", out);
    cr_assert_null(strstr(out, pw), "never the plain password");
    cr_assert(pwhash_verify(out, pw, strlen(pw)));
}

Test(auth_redis, good_login_wrong_password_unknown_user)
{
    const char *id = uid("alice"), *ghost = uid("ghost");
    add_user(id, "s3cret");
    char key[128];
    user_key(key, sizeof(key), ghost);
    del_key(key);
    auth_t *a = mk_redis(false);
    cr_assert_eq(check_sync(a, id, "s3cret"), AUTH_OK);
    cr_assert_eq(check_sync(a, id, "s3cret!"), AUTH_DENIED);
    cr_assert_eq(check_sync(a, id, ""), AUTH_DENIED);
    cr_assert_eq(check_sync(a, ghost, "s3cret"), AUTH_DENIED, "unknown user");
    add_user(id, "changed"); /* user add overwrites: the new hash counts at once */
    cr_assert_eq(check_sync(a, id, "s3cret"), AUTH_DENIED);
    cr_assert_eq(check_sync(a, id, "changed"), AUTH_OK);
    auth_stats_t st;
    auth_get_stats(a, &st);
    cr_assert_eq(st.ok, 2);
    cr_assert_eq(st.denied, 4);
    cr_assert_eq(st.unavailable, 0);
    auth_destroy(a);
}

Test(auth_redis, values_that_are_not_argon2id_hashes_are_denied)
{
    char key1[128], key2[128], out[32];
    const char *plain = uid("plainfield"), *wrongtype = uid("wrongtype");
    user_key(key1, sizeof(key1), plain);
    user_key(key2, sizeof(key2), wrongtype);
    del_key(key1);
    del_key(key2);
    cr_assert_eq(redis_proc_cmd(&srv, 2000, out, sizeof(out), NULL, "HSET", key1, "pw", "pw", NULL),
                 ':');
    cr_assert_eq(redis_proc_cmd(&srv, 2000, out, sizeof(out), NULL, "SET", key2, "pw", NULL), '+');
    auth_t *a = mk_redis(false);
    cr_assert_eq(check_sync(a, plain, "pw"), AUTH_DENIED, "a plain value is not a hash");
    cr_assert_eq(check_sync(a, wrongtype, "pw"), AUTH_DENIED, "a string key is not a user");
    auth_destroy(a);
}

Test(auth_redis, legacy_plain_mode_reads_get_id)
{
    const char *id = uid("legacy"), *ghost = uid("legacy-ghost"), *hashed = uid("hashed");
    char out[32];
    cr_assert_eq(redis_proc_cmd(&srv, 2000, out, sizeof(out), NULL, "SET", id, "plainpw", NULL),
                 '+');
    del_key(ghost);
    del_key(hashed);
    add_user(hashed, "pw"); /* the hash layout is invisible in legacy mode */
    auth_t *a = mk_redis(true);
    cr_assert_eq(check_sync(a, id, "plainpw"), AUTH_OK);
    cr_assert_eq(check_sync(a, id, "plainpW"), AUTH_DENIED);
    cr_assert_eq(check_sync(a, id, "plainpw2"), AUTH_DENIED, "longer");
    cr_assert_eq(check_sync(a, id, "plain"), AUTH_DENIED, "prefix");
    cr_assert_eq(check_sync(a, ghost, "plainpw"), AUTH_DENIED, "unknown user");
    cr_assert_eq(check_sync(a, hashed, "pw"), AUTH_DENIED);
    auth_destroy(a);
    /* And the other way round: the hash mode never reads GET ID. */
    a = mk_redis(false);
    cr_assert_eq(check_sync(a, id, "plainpw"), AUTH_DENIED);
    auth_destroy(a);
}

/* ---- 200 concurrent checks on one connection ------------------------------ */

enum { P_USERS = 10, P_THREADS = 4, P_EACH = 50 };

typedef struct piper {
    auth_t *a;
    int thread;
    slot_t slots[P_EACH];
    unsigned expect_ok;
    int refused;
} piper_t;

static void *piper_main(void *arg)
{
    piper_t *p = arg;
    for (int i = 0; i < P_EACH; i++) {
        int u = (p->thread * 3 + i) % P_USERS;
        bool right = (i + p->thread) % 4 != 0;
        char pw[32];
        snprintf(pw, sizeof(pw), right ? "pw-%d" : "nope-%d", u);
        char id[64]; /* not uid(): this runs on several threads */
        snprintf(id, sizeof(id), "t%d-pipe%d", (int)getpid(), u);
        p->expect_ok += right;
        if (check_async(p->a, id, pw, &p->slots[i]) != 0)
            p->refused++;
    }
    return NULL;
}

Test(auth_redis, two_hundred_concurrent_checks_all_answered_once, .timeout = 60)
{
    for (int u = 0; u < P_USERS; u++) {
        char name[16], pw[32];
        snprintf(name, sizeof(name), "pipe%d", u);
        snprintf(pw, sizeof(pw), "pw-%d", u);
        add_user(uid(name), pw);
    }
    auth_t *a = mk_redis(false);
    waiter_t w;
    waiter_init(&w);
    static piper_t pipers[P_THREADS];
    pthread_t th[P_THREADS];
    unsigned expect_ok = 0;
    for (int t = 0; t < P_THREADS; t++) {
        pipers[t] = (piper_t){.a = a, .thread = t};
        for (int i = 0; i < P_EACH; i++)
            slot_init(&pipers[t].slots[i], &w);
        pthread_create(&th[t], NULL, piper_main, &pipers[t]);
    }
    for (int t = 0; t < P_THREADS; t++) {
        pthread_join(th[t], NULL);
        cr_assert_eq(pipers[t].refused, 0);
        expect_ok += pipers[t].expect_ok;
    }
    cr_assert(waiter_wait(&w, P_THREADS * P_EACH, 40000), "got %u", waiter_calls(&w));
    auth_destroy(a);
    cr_assert_eq(waiter_count(&w, AUTH_OK), expect_ok);
    cr_assert_eq(waiter_count(&w, AUTH_DENIED), P_THREADS * P_EACH - expect_ok);
    for (int t = 0; t < P_THREADS; t++)
        for (int i = 0; i < P_EACH; i++)
            cr_assert_eq(atomic_load(&pipers[t].slots[i].calls), 1);
    waiter_fini(&w);
}

/* A loopback port with no listener: bind an ephemeral port and close it. */
static uint16_t closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

Test(auth_redis, unreachable_redis_fails_fast_and_logs_the_outage_once)
{
    auth_config_t c;
    test_config(&c, AUTH_REDIS);
    c.redis_host = "127.0.0.1";
    c.redis_port = closed_port();
    auth_t *a = auth_create(&c);
    cr_assert_not_null(a, "auth_create does not wait for Redis");
    waiter_t w;
    slot_t s;
    waiter_init(&w);
    slot_init(&s, &w);
    cr_assert_eq(check_async(a, "anyone", "pw", &s), 0);
    cr_assert_eq(atomic_load(&s.calls), 1, "failed before auth_check returned");
    cr_assert_eq(atomic_load(&s.result), AUTH_UNAVAILABLE);
    cr_assert(pthread_equal(s.done_thread, pthread_self()), "inline, on the caller's thread");
    /* It keeps retrying (debug lines) but warns about the outage once. */
    cr_assert(test_log_wait("next try in", 2, 10000), "retries with backoff");
    cr_assert_eq(test_log_count("unreachable"), 1);
    cr_assert_not(auth_redis_ready(a));
    auth_destroy(a);
    waiter_fini(&w);
}

Test(auth_redis, user_add_reports_errors)
{
    char err[128] = "";
    cr_assert_eq(auth_redis_user_add("127.0.0.1", closed_port(), "x", "pw", PWHASH_COST_MIN, err,
                                     sizeof(err)),
                 -ECONNREFUSED);
    cr_assert_neq(err[0], '\0');
    cr_assert_eq(
        auth_redis_user_add(srv.host, srv.port, "", "pw", PWHASH_COST_MIN, err, sizeof(err)),
        -EINVAL);
}
