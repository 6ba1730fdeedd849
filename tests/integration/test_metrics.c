/* test_metrics.c: --metrics-port serves /metrics (Prometheus text) and
 * /healthz; the counters move as clients connect, log in and chat. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"
#include "proto.h"
#include "wire.h"

#define T ITEST_T

TestSuite(metrics, .timeout = 60);

/* A port that was free a moment ago (the kernel picks it). */
static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* GET path; returns the status code and the body in out. */
static int http_get(uint16_t port, const char *path, char *out, size_t cap)
{
    int fd = tcp_connect(port);
    cr_assert_geq(fd, 0);
    char req[128];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", path);
    cr_assert_eq(wire_send(fd, req, (size_t)n), 0);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(fd, out + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(fd);
    int status = 0;
    sscanf(out, "HTTP/1.0 %d", &status);
    return status;
}

/* The value of a sample line "name value" (or "name{labels} value"). */
static long long value_of(const char *body, const char *sample)
{
    char key[128];
    snprintf(key, sizeof(key), "\n%s ", sample);
    const char *p = strstr(body, key);
    cr_assert_not_null(p, "no sample %s", sample);
    return atoll(p + strlen(key));
}

/* Counters updated when an operation completes (bytes out: when the send
 * completes; closes: when the close is processed) may lag what the client
 * has already seen: poll until the sample reaches min (about 2 s at most). */
static long long poll_range(uint16_t mport, const char *sample, long long min, long long max)
{
    static char body[65536];
    long long v = -1;
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(http_get(mport, "/metrics", body, sizeof(body)), 200);
        v = value_of(body, sample);
        if (v >= min && v <= max)
            break;
        usleep(20000);
    }
    return v;
}

static long long poll_at_least(uint16_t mport, const char *sample, long long min)
{
    return poll_range(mport, sample, min, INT64_MAX);
}

/* Gauges that different actors move (the login shard, the room) settle one
 * after the other: poll until the sample drops to max. */
static long long poll_at_most(uint16_t mport, const char *sample, long long max)
{
    return poll_range(mport, sample, INT64_MIN, max);
}

Test(metrics, counters_move_with_traffic)
{
    uint16_t mport = free_port();
    char port_arg[8];
    snprintf(port_arg, sizeof(port_arg), "%u", (unsigned)mport);
    server_proc_t s;
    const char *args[] = {
        "--metrics-port", port_arg, "--pwhash-cost", "min", "--chat-rate", "0", NULL};
    itest_start(&s, "epoll", args);
    static char body[65536];
    cr_assert_eq(http_get(mport, "/healthz", body, sizeof(body)), 200);
    cr_assert_eq(http_get(mport, "/nope", body, sizeof(body)), 404);
    cr_assert_eq(http_get(mport, "/metrics", body, sizeof(body)), 200);
    cr_assert(strstr(body, "ringchat_info{backend=\"epoll\",threads=\"2\",auth=\"memory\"} 1"),
              "%s", body);
    cr_assert_eq(value_of(body, "ringchat_chat_messages_accepted_total"), 0);
    cr_assert_eq(value_of(body, "ringchat_users_online"), 0);

    int bad = tcp_connect(s.port);
    uint8_t empty_id[5 + 66] = {5 + 66, 0, 201, 0, 0};
    cr_assert_eq(wire_send(bad, empty_id, sizeof(empty_id)), 0);
    cr_assert_eq(wire_expect_result(bad, PROTO_LOGIN_RES, T), PROTO_LOGIN_INVALID_ID);
    close(bad);
    int a = wire_connect_login(s.port, "ann", "pw", T);
    int b = wire_connect_login(s.port, "ben", "pw", T);
    cr_assert_eq(wire_enter(a, 1, T), 0);
    cr_assert_eq(wire_enter(b, 1, T), 0);
    uint8_t buf[512];
    cr_assert_gt(wire_expect(a, PROTO_ROOM_NEW_USER_NTF, buf, sizeof(buf), T), 0);
    cr_assert_gt(wire_expect(b, PROTO_ROOM_USER_LIST_NTF, buf, sizeof(buf), T), 0);
    proto_chat_notify_t n;
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(wire_chat(a, "hello", T), 0);
        cr_assert_eq(wire_expect_notify(a, &n, T), 0, "own notify %d", i);
    }
    for (int i = 0; i < 5; i++)
        cr_assert_eq(wire_expect_notify(b, &n, T), 0, "notify %d", i);
    cr_assert_eq(http_get(mport, "/metrics", body, sizeof(body)), 200);
    cr_assert_eq(value_of(body, "ringchat_connections"), 2);
    cr_assert_eq(value_of(body, "ringchat_users_online"), 2);
    cr_assert_eq(value_of(body, "ringchat_chat_messages_accepted_total"), 5);
    cr_assert_eq(poll_at_least(mport, "ringchat_notifies_queued_total", 10), 10,
                 "5 messages x 2 members");
    cr_assert_eq(value_of(body, "ringchat_auth_results_total{result=\"ok\"}"), 2);
    cr_assert_geq(value_of(body, "ringchat_connections_accepted_total"), 2);
    cr_assert_gt(poll_at_least(mport, "ringchat_bytes_out_total", 5 * 2 * 295 + 1), 5 * 2 * 295);
    cr_assert_eq(value_of(body, "ringchat_rooms"), 1);
    cr_assert_eq(value_of(body, "ringchat_room_members"), 2);
    cr_assert_eq(value_of(body, "ringchat_logins_total{code=\"0\",result=\"NONE\"}"), 2);
    cr_assert_eq(value_of(body, "ringchat_login_seconds_count"), 2, "35 is answered at once");
    cr_assert_eq(value_of(body, "ringchat_logins_total{code=\"35\",result=\"LOGIN_INVALID_ID\"}"),
                 1);
    cr_assert_eq(value_of(body, "ringchat_login_seconds_bucket{le=\"+Inf\"}"), 2);
    cr_assert_gt(value_of(body, "ringchat_actor_runs_total{worker=\"0\"}") +
                     value_of(body, "ringchat_actor_runs_total{worker=\"1\"}"),
                 0, "actors ran on the workers");

    close(a);
    close(b);
    /* Closing is asynchronous: the gauges drop back to 0 shortly after. */
    long long users = -1;
    for (int i = 0; i < 100 && users != 0; i++) {
        usleep(20000);
        cr_assert_eq(http_get(mport, "/metrics", body, sizeof(body)), 200);
        users = value_of(body, "ringchat_users_online");
    }
    cr_assert_eq(users, 0);
    cr_assert_eq(poll_at_most(mport, "ringchat_connections", 0), 0);
    cr_assert_eq(poll_at_most(mport, "ringchat_rooms", 0), 0,
                 "the room is freed with its last member");
    /* A client that closes with unread bytes (ben may not have read ann's
     * leave notice yet) makes its kernel send RST: "reset", not "peer". */
    long long closes = 0;
    for (int i = 0; i < 100 && closes < 3; i++) {
        cr_assert_eq(http_get(mport, "/metrics", body, sizeof(body)), 200);
        closes = value_of(body, "ringchat_connections_closed_by_reason_total{reason=\"peer\"}") +
                 value_of(body, "ringchat_connections_closed_by_reason_total{reason=\"reset\"}");
        if (closes < 3)
            usleep(20000);
    }
    cr_assert_eq(closes, 3, "ann, ben and the refused login closed their side");
    cr_assert_eq(poll_at_most(mport, "ringchat_room_members", 0), 0);
    itest_stop(&s);
}
