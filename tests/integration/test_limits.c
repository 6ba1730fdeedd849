/* test_limits.c: the connection-level limits, as a client and an operator
 * see them: --max-unauth (ERROR_NTF 9 for connections over the cap),
 * --unauth-timeout (ERROR_NTF 7 for a connection that never logs in),
 * --login-attempts (failed logins answered ever slower, then ERROR_NTF 10
 * and close), each with its log line and ringchat_limit_hits_total; and the
 * gauges that show pressure: ringchat_outbox_bytes, ringchat_mailbox_depth_max. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backends.h"
#include "itest.h"
#include "proto.h"
#include "scrape.h"
#include "wire.h"

#define T ITEST_T

TestSuite(limits, .timeout = 120);

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Starts ringchat with a metrics port and the given extra arguments. */
static uint16_t start_with_metrics(server_proc_t *s, const char *backend, const char *const *extra)
{
    static char port_arg[8];
    uint16_t mport = scrape_free_port();
    snprintf(port_arg, sizeof(port_arg), "%u", (unsigned)mport);
    const char *args[32] = {"--metrics-port", port_arg, "--pwhash-cost", "min"};
    int n = 4;
    for (; extra[n - 4] != NULL; n++)
        args[n] = extra[n - 4];
    args[n] = NULL;
    itest_start(s, backend, args);
    return mport;
}

/* A PING_REQ answered: the connection is served. */
static bool served(int fd)
{
    uint8_t pkt[PROTO_HEADER_SIZE + 8], buf[64];
    size_t n = proto_encode_ping_req(pkt, sizeof(pkt), 42);
    return wire_send(fd, pkt, n) == 0 && wire_expect(fd, PROTO_PING_RES, buf, sizeof(buf), T) == 8;
}

static void assert_log_has(server_proc_t *s, const char *what)
{
    static char log[65536];
    for (int i = 0; i < 100; i++) { /* the line is written by a worker: may lag */
        server_read_log(s, log, sizeof(log));
        if (strstr(log, what) != NULL)
            return;
        usleep(20000);
    }
    cr_assert_fail("no log line with \"%s\" in:\n%s", what, log);
}

/* Three connections may wait to log in; the fourth is told 9 and closed;
 * once one logs in, a new connection is served again. */
static void max_unauth_refuses_with_9(const char *backend)
{
    server_proc_t s;
    uint16_t mport = start_with_metrics(&s, backend, (const char *[]){"--max-unauth", "3", NULL});
    int fd[3];
    for (int i = 0; i < 3; i++) {
        fd[i] = tcp_connect(s.port);
        cr_assert(served(fd[i]), "connection %d", i);
    }
    cr_assert_eq(scrape_poll_at_least(mport, "ringchat_unauth_connections", 3), 3);
    int over = tcp_connect(s.port);
    cr_assert_eq(wire_expect_error(over, NULL, T), PROTO_ERR_TOO_MANY_CONNECTIONS);
    cr_assert(wire_wait_closed(over, T), "the refused connection stays open");
    close(over);
    assert_log_has(&s, "limit max-unauth");
    cr_assert_eq(scrape_poll_at_least(mport, "ringchat_limit_hits_total{limit=\"max-unauth\"}", 1),
                 1);

    cr_assert_eq(wire_login(fd[0], "ann", "pw", T), PROTO_OK);
    cr_assert_eq(scrape_poll_at_most(mport, "ringchat_unauth_connections", 2), 2);
    int next = tcp_connect(s.port);
    cr_assert(served(next), "a place freed by a login is not given back");
    close(fd[1]); /* a close gives its place back too */
    cr_assert_eq(scrape_poll_at_most(mport, "ringchat_unauth_connections", 2), 2);
    int last = tcp_connect(s.port);
    cr_assert(served(last), "a place freed by a close is not given back");
    close(last);
    close(next);
    close(fd[2]);
    close(fd[0]);
    cr_assert_eq(scrape_poll_at_most(mport, "ringchat_unauth_connections", 0), 0);
    itest_stop(&s);
}

/* A connection that never logs in is closed with 7 after --unauth-timeout,
 * even while it keeps pinging; one that logged in stays. */
static void unauth_timeout_closes_with_7(const char *backend)
{
    server_proc_t s;
    uint16_t mport =
        start_with_metrics(&s, backend, (const char *[]){"--unauth-timeout", "1", NULL});
    int anon = tcp_connect(s.port);
    int user = wire_connect_login(s.port, "bob", "pw", T);
    cr_assert_geq(user, 0);
    long t0 = now_ms();
    cr_assert(served(anon), "a ping before the deadline is answered");
    cr_assert_eq(wire_expect_error(anon, NULL, T), PROTO_ERR_IDLE_TIMEOUT);
    long took = now_ms() - t0;
    cr_assert_geq(took, 800, "closed after %ld ms, before the 1 s deadline", took);
    cr_assert(wire_wait_closed(anon, T));
    close(anon);
    cr_assert(served(user), "the logged-in client was closed too");
    assert_log_has(&s, "limit unauth-timeout");
    cr_assert_eq(
        scrape_poll_at_least(mport, "ringchat_limit_hits_total{limit=\"unauth-timeout\"}", 1), 1);
    close(user);
    itest_stop(&s);
}

/* Wrong passwords: the first answer at once, the next ones held back
 * (500 ms, then 1 s), the third closes with 10. A ping sent right behind a
 * held answer comes after it: order is kept. */
static void login_attempts_slow_then_drop(const char *backend)
{
    server_proc_t s;
    uint16_t mport =
        start_with_metrics(&s, backend, (const char *[]){"--login-attempts", "3", NULL});
    int owner = wire_connect_login(s.port, "carl", "right", T); /* registers carl */
    cr_assert_geq(owner, 0);
    close(owner); /* logged out: a guess is checked against the password, not refused as 31 */
    cr_assert_eq(scrape_poll_at_most(mport, "ringchat_users_online", 0), 0);
    int guess = tcp_connect(s.port);
    long t0 = now_ms();
    cr_assert_eq(wire_login(guess, "carl", "wrong1", T), PROTO_LOGIN_USER_INVALID_PW);
    long first = now_ms() - t0;

    uint8_t pkt[256], buf[64];
    size_t n = proto_encode_login_req(pkt, sizeof(pkt), "carl", "wrong2");
    n += proto_encode_ping_req(pkt + n, sizeof(pkt) - n, 7);
    t0 = now_ms();
    cr_assert_eq(wire_send(guess, pkt, n), 0);
    cr_assert_eq(wire_expect_result(guess, PROTO_LOGIN_RES, T), PROTO_LOGIN_USER_INVALID_PW);
    long second = now_ms() - t0;
    cr_assert_eq(wire_expect(guess, PROTO_PING_RES, buf, sizeof(buf), T), 8,
                 "the ping behind a held login answer was lost or reordered");
    cr_assert_geq(second, 450, "second failure answered after %ld ms (first: %ld)", second, first);

    cr_assert_eq(wire_login(guess, "carl", "wrong3", T), PROTO_LOGIN_USER_INVALID_PW);
    cr_assert_eq(wire_expect_error(guess, NULL, T), PROTO_ERR_TOO_MANY_LOGIN_FAILURES);
    cr_assert(wire_wait_closed(guess, T), "the guesser was not dropped");
    close(guess);
    assert_log_has(&s, "limit login-attempts");
    cr_assert_eq(
        scrape_poll_at_least(mport, "ringchat_limit_hits_total{limit=\"login-attempts\"}", 1), 1);

    /* The count is per connection: a new one starts again, and the right
     * password still works there. */
    int again = tcp_connect(s.port);
    cr_assert_eq(wire_login(again, "carl", "wrong", T), PROTO_LOGIN_USER_INVALID_PW);
    cr_assert_eq(wire_login(again, "carl", "right", T), PROTO_OK);
    close(again);
    itest_stop(&s);
}

/* A connection whose receive window stays small (set before connect). */
static int connect_small_rcvbuf(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* A member that does not read makes its outbox grow: the gauge shows the
 * bytes while they wait and drops to 0 once they are read; the room's
 * mailbox depth high-water mark moves with the flood. */
static void outbox_and_mailbox_gauges(const char *backend)
{
    enum { MSGS = 20000 };
    server_proc_t s;
    uint16_t mport = start_with_metrics(
        &s, backend, (const char *[]){"--chat-rate", "0", "--outbox-limit", "64m", NULL});
    int slow = connect_small_rcvbuf(s.port);
    cr_assert_eq(wire_login(slow, "slow", "pw", T), PROTO_OK);
    int fast = wire_connect_login(s.port, "fast", "pw", T);
    cr_assert_eq(wire_enter(slow, 1, T), 0);
    cr_assert_eq(wire_enter(fast, 1, T), 0);

    static uint8_t pkt[MSGS * (PROTO_HEADER_SIZE + PROTO_MSG_FIELD)];
    size_t len = 0;
    for (int i = 0; i < MSGS; i++)
        len += proto_encode_room_chat_req(pkt + len, sizeof(pkt) - len, "flood", 5);
    cr_assert_eq(wire_send(fast, pkt, len), 0);
    long long queued = scrape_poll_at_least(mport, "ringchat_outbox_bytes", 64 * 1024);
    cr_assert_geq(queued, 64 * 1024, "the unread notifies are not counted as queued");
    cr_assert_gt(scrape_poll_at_least(mport, "ringchat_mailbox_depth_max{worker=\"0\"}", 0) +
                     scrape_poll_at_least(mport, "ringchat_mailbox_depth_max{worker=\"1\"}", 0),
                 1, "a flood of %d messages left no mailbox deeper than 1", MSGS);

    close(slow);
    close(fast);
    cr_assert_eq(scrape_poll_at_most(mport, "ringchat_outbox_bytes", 0), 0,
                 "closed connections still count queued bytes");
    itest_stop(&s);
}

/* 100 KiB pipelined behind a login that is still hashing (the default
 * argon2id cost takes about 0.1 s): more than a client may park before it is
 * logged in (64 KiB), so the connection is cut; a logged-in client may
 * pipeline the same behind an enter. */
static void parked_input_before_login_is_capped(const char *backend)
{
    enum { PINGS = 100 * 1024 / 13 };
    server_proc_t s;
    itest_start(&s, backend, NULL); /* default cost: the login stays pending a while */
    static uint8_t pkt[256 + PINGS * 13];
    size_t n = proto_encode_login_req(pkt, sizeof(pkt), "parker", "pw");
    for (int i = 0; i < PINGS; i++)
        n += proto_encode_ping_req(pkt + n, sizeof(pkt) - n, (uint64_t)i);
    int fd = tcp_connect(s.port);
    cr_assert_eq(wire_send(fd, pkt, n), 0);
    cr_assert(wire_wait_closed(fd, T), "100 KiB behind a pending login were held");
    close(fd);
    assert_log_has(&s, "limit parked-input");

    int ok = wire_connect_login(s.port, "settled", "pw", T);
    cr_assert_geq(ok, 0);
    n = proto_encode_room_enter_req(pkt, sizeof(pkt), 3);
    for (int i = 0; i < PINGS; i++)
        n += proto_encode_ping_req(pkt + n, sizeof(pkt) - n, (uint64_t)i);
    cr_assert_eq(wire_send(ok, pkt, n), 0);
    cr_assert_eq(wire_expect_result(ok, PROTO_ROOM_ENTER_RES, T), 0);
    uint8_t buf[64];
    int pongs = 0;
    for (int i = 0; i < PINGS + 1 && pongs < PINGS; i++) {
        proto_header_t h;
        cr_assert_gt(wire_recv(ok, buf, sizeof(buf), &h, T), 0, "after %d pongs", pongs);
        pongs += h.id == PROTO_PING_RES;
    }
    cr_assert_eq(pongs, PINGS);
    close(ok);
    itest_stop(&s);
}

BOTH_BACKENDS(limits, max_unauth_refuses_with_9)
BOTH_BACKENDS(limits, unauth_timeout_closes_with_7)
BOTH_BACKENDS(limits, login_attempts_slow_then_drop)
BOTH_BACKENDS(limits, outbox_and_mailbox_gauges)
BOTH_BACKENDS(limits, parked_input_before_login_is_capped)
