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
#include "scrape.h"
#include "wire.h"

#define T ITEST_T

TestSuite(metrics, .timeout = 60);

Test(metrics, counters_move_with_traffic)
{
    uint16_t mport = scrape_free_port();
    char port_arg[8];
    snprintf(port_arg, sizeof(port_arg), "%u", (unsigned)mport);
    server_proc_t s;
    const char *args[] = {
        "--metrics-port", port_arg, "--pwhash-cost", "min", "--chat-rate", "0", NULL};
    itest_start(&s, "epoll", args);
    static char body[65536];
    cr_assert_eq(scrape_get(mport, "/healthz", body, sizeof(body)), 200);
    cr_assert_eq(scrape_get(mport, "/nope", body, sizeof(body)), 404);
    cr_assert_eq(scrape_get(mport, "/metrics", body, sizeof(body)), 200);
    cr_assert(strstr(body, "ringchat_info{backend=\"epoll\",threads=\"2\",auth=\"memory\"} 1"),
              "%s", body);
    cr_assert_eq(scrape_value(body, "ringchat_chat_messages_accepted_total"), 0);
    cr_assert_eq(scrape_value(body, "ringchat_users_online"), 0);

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
    cr_assert_eq(scrape_get(mport, "/metrics", body, sizeof(body)), 200);
    cr_assert_eq(scrape_value(body, "ringchat_connections"), 2);
    cr_assert_eq(scrape_value(body, "ringchat_users_online"), 2);
    cr_assert_eq(scrape_value(body, "ringchat_chat_messages_accepted_total"), 5);
    cr_assert_eq(scrape_poll_at_least(mport, "ringchat_notifies_queued_total", 10), 10,
                 "5 messages x 2 members");
    cr_assert_eq(scrape_value(body, "ringchat_auth_results_total{result=\"ok\"}"), 2);
    cr_assert_geq(scrape_value(body, "ringchat_connections_accepted_total"), 2);
    cr_assert_gt(scrape_poll_at_least(mport, "ringchat_bytes_out_total", 5 * 2 * 295 + 1),
                 5 * 2 * 295);
    cr_assert_eq(scrape_value(body, "ringchat_rooms"), 1);
    cr_assert_eq(scrape_value(body, "ringchat_room_members"), 2);
    cr_assert_eq(scrape_value(body, "ringchat_logins_total{code=\"0\",result=\"NONE\"}"), 2);
    cr_assert_eq(scrape_value(body, "ringchat_login_seconds_count"), 2, "35 is answered at once");
    cr_assert_eq(
        scrape_value(body, "ringchat_logins_total{code=\"35\",result=\"LOGIN_INVALID_ID\"}"), 1);
    cr_assert_eq(scrape_value(body, "ringchat_login_seconds_bucket{le=\"+Inf\"}"), 2);
    cr_assert_gt(scrape_value(body, "ringchat_actor_runs_total{worker=\"0\"}") +
                     scrape_value(body, "ringchat_actor_runs_total{worker=\"1\"}"),
                 0, "actors ran on the workers");

    close(a);
    close(b);
    /* Closing is asynchronous: the gauges drop back to 0 shortly after. */
    long long users = -1;
    for (int i = 0; i < 100 && users != 0; i++) {
        usleep(20000);
        cr_assert_eq(scrape_get(mport, "/metrics", body, sizeof(body)), 200);
        users = scrape_value(body, "ringchat_users_online");
    }
    cr_assert_eq(users, 0);
    cr_assert_eq(scrape_poll_at_most(mport, "ringchat_connections", 0), 0);
    cr_assert_eq(scrape_poll_at_most(mport, "ringchat_rooms", 0), 0,
                 "the room is freed with its last member");
    /* A client that closes with unread bytes (ben may not have read ann's
     * leave notice yet) makes its kernel send RST: "reset", not "peer". */
    long long closes = 0;
    for (int i = 0; i < 100 && closes < 3; i++) {
        cr_assert_eq(scrape_get(mport, "/metrics", body, sizeof(body)), 200);
        closes =
            scrape_value(body, "ringchat_connections_closed_by_reason_total{reason=\"peer\"}") +
            scrape_value(body, "ringchat_connections_closed_by_reason_total{reason=\"reset\"}");
        if (closes < 3)
            usleep(20000);
    }
    cr_assert_eq(closes, 3, "ann, ben and the refused login closed their side");
    cr_assert_eq(scrape_poll_at_most(mport, "ringchat_room_members", 0), 0);
    itest_stop(&s);
}
