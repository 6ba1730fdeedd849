/* test_ringchat_cli_fake.c: ringchat-cli against a fake server played by
 * this test, byte by byte, to check what a real server cannot be made to
 * do on demand: the bytes of the client's requests, the barrier ping that
 * makes /who after /join see the whole member list, and hostile or broken
 * server packets (escape sequences in ids and text, a malformed body, an
 * unknown id) that must be printed escaped or reported, never obeyed. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_proc.h"
#include "wire.h"

TestSuite(ringchat_cli_fake, .timeout = 30);

#define T 5000 /* ms per expected packet */

static int listen_any(uint16_t *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 4) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static int accept_within(int lfd, int timeout_ms)
{
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, timeout_ms), 1, "the client did not connect");
    return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
}

static void send_pkt(int fd, const uint8_t *buf, size_t n)
{
    cr_assert(n > 0 && wire_send(fd, buf, n) == 0);
}

/* Plays the server up to the member list; returns the barrier ping token. */
static uint64_t serve_login_and_enter(int fd)
{
    uint8_t buf[512];
    proto_login_req_t login;
    int n = wire_expect(fd, PROTO_LOGIN_REQ, buf, sizeof(buf), T);
    cr_assert_eq(n, PROTO_LOGIN_REQ_BODY, "LOGIN_REQ body %d", n);
    cr_assert_eq(proto_decode_login_req(buf + 5, (size_t)n, &login), PROTO_OK);
    cr_assert_str_eq(login.user_id, "x");
    cr_assert_str_eq(login.password, "secret");
    send_pkt(fd, buf, proto_encode_login_res(buf, sizeof(buf), PROTO_OK));

    int32_t room;
    n = wire_expect(fd, PROTO_ROOM_ENTER_REQ, buf, sizeof(buf), T);
    cr_assert_eq(proto_decode_room_enter_req(buf + 5, (size_t)n, &room), PROTO_OK);
    cr_assert_eq(room, 5);
    send_pkt(fd, buf, proto_encode_room_enter_res(buf, sizeof(buf), PROTO_OK));
    /* The member list is held back until the client's next packet: it must
     * be the barrier ping, sent without waiting for the enter answer. */
    uint64_t token;
    n = wire_expect(fd, PROTO_PING_REQ, buf, sizeof(buf), T);
    cr_assert(n >= 0, "no barrier PING_REQ after ROOM_ENTER_REQ");
    cr_assert_eq(proto_decode_ping_req(buf + 5, (size_t)n, &token), PROTO_OK);
    return token;
}

/* Hostile and broken packets, each of which the client must survive. */
static void send_trouble(int fd)
{
    uint8_t buf[1024];
    const proto_user_t users[] = {{.uid = 7, .id_len = 3, .id = "bob"},
                                  {.uid = 8, .id_len = 5, .id = "ev\x1bil"}};
    send_pkt(fd, buf, proto_encode_room_user_list_ntf(buf, sizeof(buf), users, 2));
    const char text[] = "\xC2\x9B"
                        "2J\x1b]0;pwned\x07";
    send_pkt(
        fd, buf,
        proto_encode_room_chat_notify(buf, sizeof(buf), "mal\x1b[2Jory", text, sizeof(text) - 1));
    /* ROOM_NEW_USER_NTF with id_len 0: malformed. */
    uint8_t bad[5 + 9];
    memset(bad, 0, sizeof(bad));
    proto_header_encode(bad, sizeof(bad), PROTO_ROOM_NEW_USER_NTF);
    send_pkt(fd, bad, sizeof(bad));
    uint8_t unknown[5 + 3] = {0};
    proto_header_encode(unknown, sizeof(unknown), 999);
    send_pkt(fd, unknown, sizeof(unknown));
    send_pkt(fd, buf, proto_encode_room_leave_user_ntf(buf, sizeof(buf), 7));
    send_pkt(fd, buf, proto_encode_room_leave_user_ntf(buf, sizeof(buf), 99));
}

Test(ringchat_cli_fake, barrier_ping_and_hostile_packets)
{
    uint16_t port;
    int lfd = listen_any(&port);
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", port);
    static cli_proc_t p;
    const char *args[] = {"--port", portstr, "--user", "x", "--password", "secret", NULL};
    cr_assert_eq(cli_proc_start(&p, args, "/join 5\n/who\n/quit\n"), 0);
    int fd = accept_within(lfd, 10000);
    cr_assert(fd >= 0);
    uint64_t token = serve_login_and_enter(fd);
    send_trouble(fd);
    uint8_t buf[64];
    send_pkt(fd, buf, proto_encode_ping_res(buf, sizeof(buf), token));
    cr_assert(wire_wait_closed(fd, T), "the client did not close after /quit");
    int st = cli_proc_finish(&p, 10000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d\n%s\n%s", st, p.out, p.err);

    static const char *const want[] = {
        "logged in as x",
        "joined room 5\n",
        "members of room 5: bob, ev\\eil\n",
        "mal\\e[2Jory: \\u009B2J\\e]0;pwned\\x07\n",
        "malformed ROOM_NEW_USER_NTF from the server (9 body bytes)\n",
        "unexpected packet UNKNOWN (id 999, 3 body bytes)\n",
        "* bob left room 5\n",
        "* user #99 left room 5\n",
        "room 5 (2 members): x (you), ev\\eil\n",
    };
    const char *from = p.out;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const char *hit = strstr(from, want[i]);
        cr_assert(hit != NULL, "missing (in order) \"%s\" in:\n%s", want[i], p.out);
        from = hit + strlen(want[i]);
    }
    cr_assert(strchr(p.out, 0x1b) == NULL && strchr(p.out, 0x07) == NULL &&
                  strstr(p.out, "\xC2\x9B") == NULL,
              "a control character reached stdout");
    close(fd);
    close(lfd);
}

Test(ringchat_cli_fake, server_that_never_answers_the_login_is_given_up_on)
{
    uint16_t port;
    int lfd = listen_any(&port);
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", port);
    static cli_proc_t p;
    const char *args[] = {"--port", portstr, "--user", "x", "--password", "pw", NULL};
    cr_assert_eq(cli_proc_start(&p, args, "/quit\n"), 0);
    int fd = accept_within(lfd, 10000);
    uint8_t buf[512];
    cr_assert_eq(wire_expect(fd, PROTO_LOGIN_REQ, buf, sizeof(buf), T), PROTO_LOGIN_REQ_BODY);
    /* Never answer: the client gives up after its 10 s answer deadline. */
    int st = cli_proc_finish(&p, 20000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
    cr_assert(strstr(p.err, "no answer from the server for 10 s") != NULL, "%s", p.err);
    close(fd);
    close(lfd);
}
