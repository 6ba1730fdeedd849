/* test_redis_login.c: logins against a real redis-server through the real
 * binary, for both io backends: `ringchat user add`, good and wrong
 * passwords, unknown users, the legacy plain layout, Redis killed (34 within
 * the login timeout, no hang), restarted (logins work again) and paused. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backends.h"
#include "itest.h"
#include "proto.h"
#include "redis_proc.h"
#include "wire.h"

#define T ITEST_T

TestSuite(redis_login, .timeout = 120);

static char out[4096], err[4096];

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void user_add(const redis_proc_t *r, const char *id, const char *pw_line)
{
    char addr[96];
    snprintf(addr, sizeof(addr), "%s:%u", r->host, (unsigned)r->port);
    const char *args[] = {"user", "add", id, "--redis", addr, "--pwhash-cost", "min", NULL};
    int st = run_ringchat_input(args, pw_line, out, sizeof(out), err, sizeof(err));
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "user add failed: %s", err);
    cr_assert(strstr(out, id) != NULL, "%s", out);
}

static void start_on(server_proc_t *s, const char *backend, const redis_proc_t *r, bool legacy)
{
    char addr[96];
    snprintf(addr, sizeof(addr), "%s:%u", r->host, (unsigned)r->port);
    const char *args[] = {"--auth",
                          "redis",
                          "--redis",
                          addr,
                          "--login-timeout",
                          "1",
                          legacy ? "--redis-legacy-plain" : NULL,
                          NULL};
    itest_start(s, backend, args);
}

/* The server connects to Redis in the background: logins get 34 until it
 * is ready. Returns the first other answer (or 34 after about 5 s). */
static int login_once_ready(int fd, const char *id, const char *pw)
{
    int res = PROTO_LOGIN_BACKEND_UNAVAILABLE;
    for (int i = 0; i < 100 && res == PROTO_LOGIN_BACKEND_UNAVAILABLE; i++) {
        res = wire_login(fd, id, pw, T);
        if (res == PROTO_LOGIN_BACKEND_UNAVAILABLE)
            usleep(50000);
    }
    return res;
}

static void hashed_passwords(const char *backend)
{
    redis_proc_t r;
    cr_assert_eq(redis_proc_start(&r), 0);
    user_add(&r, "alice", "s3cret\n");
    char field[256];
    cr_assert_eq(redis_proc_cmd(&r, 2000, field, sizeof(field), NULL, "HGET", "ringchat:user:alice",
                                "pw", NULL),
                 '$');
    cr_assert(strncmp(field, "$argon2id$", 10) == 0, "stored: %s", field);
    server_proc_t s;
    start_on(&s, backend, &r, false);
    int fd = tcp_connect(s.port);
    cr_assert_eq(login_once_ready(fd, "alice", "wrong"), PROTO_LOGIN_USER_INVALID_PW);
    cr_assert_eq(wire_login(fd, "nobody", "s3cret", T), PROTO_LOGIN_USER_INVALID_PW);
    cr_assert_eq(wire_login(fd, "alice", "s3cret", T), PROTO_OK);
    close(fd);
    itest_stop(&s);
    redis_proc_cleanup(&r);
}

static void legacy_plain_layout(const char *backend)
{
    redis_proc_t r;
    cr_assert_eq(redis_proc_start(&r), 0);
    char reply[64];
    cr_assert_eq(
        redis_proc_cmd(&r, 2000, reply, sizeof(reply), NULL, "SET", "bob", "plainpw", NULL), '+');
    server_proc_t s;
    start_on(&s, backend, &r, true);
    int fd = tcp_connect(s.port);
    cr_assert_eq(login_once_ready(fd, "bob", "nope"), PROTO_LOGIN_USER_INVALID_PW);
    cr_assert_eq(wire_login(fd, "bob", "plainpw", T), PROTO_OK);
    close(fd);
    itest_stop(&s);
    redis_proc_cleanup(&r);
}

/* Redis killed: 34 within the 1 s login timeout, never a hang; restarted on
 * the same port: logins work again without restarting ringchat. */
static void redis_killed_and_restarted(const char *backend)
{
    redis_proc_t r;
    cr_assert_eq(redis_proc_start(&r), 0);
    user_add(&r, "carol", "pw\n");
    server_proc_t s;
    start_on(&s, backend, &r, false);
    int fd = tcp_connect(s.port);
    cr_assert_eq(login_once_ready(fd, "carol", "bad"), PROTO_LOGIN_USER_INVALID_PW);
    cr_assert_eq(redis_proc_kill(&r), 0);
    for (int i = 0; i < 5; i++) {
        long t0 = now_ms();
        cr_assert_eq(wire_login(fd, "carol", "pw", T), PROTO_LOGIN_BACKEND_UNAVAILABLE);
        cr_assert_leq(now_ms() - t0, 1500, "answered after %ld ms", now_ms() - t0);
    }
    cr_assert_eq(redis_proc_restart(&r), 0);
    user_add(&r, "carol", "pw\n"); /* persistence is off: the data went with it */
    cr_assert_eq(login_once_ready(fd, "carol", "pw"), PROTO_OK, "no login after the restart");
    close(fd);
    itest_stop(&s);
    redis_proc_cleanup(&r);
}

/* Redis paused (SIGSTOP): 34 at the login timeout; resumed: works again. */
static void redis_paused(const char *backend)
{
    redis_proc_t r;
    cr_assert_eq(redis_proc_start(&r), 0);
    user_add(&r, "dave", "pw\n");
    server_proc_t s;
    start_on(&s, backend, &r, false);
    int fd = tcp_connect(s.port);
    cr_assert_eq(login_once_ready(fd, "dave", "bad"), PROTO_LOGIN_USER_INVALID_PW);
    cr_assert_eq(redis_proc_pause(&r), 0);
    long t0 = now_ms();
    cr_assert_eq(wire_login(fd, "dave", "pw", T), PROTO_LOGIN_BACKEND_UNAVAILABLE);
    long took = now_ms() - t0;
    cr_assert(took >= 800 && took <= 2500, "34 after %ld ms, want about 1000", took);
    cr_assert_eq(redis_proc_resume(&r), 0);
    cr_assert_eq(login_once_ready(fd, "dave", "pw"), PROTO_OK, "no login after the resume");
    close(fd);
    itest_stop(&s);
    redis_proc_cleanup(&r);
}

Test(redis_login, user_add_refuses_bad_input)
{
    const char *bad_id[] = {"user", "add", "a\tb", "--redis", "127.0.0.1:1", NULL};
    int st = run_ringchat_input(bad_id, "pw\n", out, sizeof(out), err, sizeof(err));
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d", st);
    cr_assert(strstr(err, "not a valid user id") != NULL, "%s", err);
    const char *no_redis[] = {"user", "add", "x", "--redis", "127.0.0.1:1", NULL};
    st = run_ringchat_input(no_redis, "pw\n", out, sizeof(out), err, sizeof(err));
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
    cr_assert(err[0] != '\0');
}

BOTH_BACKENDS(redis_login, hashed_passwords)
BOTH_BACKENDS(redis_login, legacy_plain_layout)
BOTH_BACKENDS(redis_login, redis_killed_and_restarted)
BOTH_BACKENDS(redis_login, redis_paused)
