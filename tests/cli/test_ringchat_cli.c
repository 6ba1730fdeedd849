/* test_ringchat_cli.c: ringchat-cli against the real server: two scripted
 * clients chatting through one room (joins, leaves, /who, /ping, result
 * names, escaping), end of input, the 257-byte limit, a wrong password, an
 * unreachable server, a server that shuts down, and bad command lines.
 * Determinism: bob starts first and the test waits until he is in the room
 * before alice starts; each script then orders itself with /wait, and script
 * mode runs a line only after the earlier ones were answered. */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_proc.h"
#include "server_proc.h"

TestSuite(ringchat_cli, .timeout = 30);

static server_proc_t srv;
static char port[8];

static void start_server(void)
{
    const char *args[] = {"--threads", "2", "--pwhash-cost", "min", NULL};
    cr_assert_eq(server_start(&srv, args), 0, "the server did not start");
    snprintf(port, sizeof(port), "%u", srv.port);
}

static void stop_server(void)
{
    int st = server_stop(&srv, SIGTERM, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "server exit status %d", st);
}

#define CLI_ARGS(user, pw)                                                                         \
    ((const char *const[]){"--port", port, "--user", user, "--password", pw, NULL})

static void assert_exit(int st, int code, const cli_proc_t *p)
{
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == code,
              "status %d, wanted exit %d\nstdout:\n%s\nstderr:\n%s", st, code, p->out, p->err);
}

/* Each of lines[] appears in out, in this order, on a line that starts with
 * a "[HH:MM:SS] " timestamp. */
static void assert_lines_in_order(const char *out, const char *const *lines)
{
    const char *from = out;
    for (size_t i = 0; lines[i] != NULL; i++) {
        const char *hit = strstr(from, lines[i]);
        cr_assert(hit != NULL, "missing (in order) \"%s\" in:\n%s", lines[i], out);
        const char *bol = hit;
        while (bol > out && bol[-1] != '\n')
            bol--;
        int h, m, s;
        char close_br;
        cr_assert(hit - bol == 11 && sscanf(bol, "[%2d:%2d:%2d%c", &h, &m, &s, &close_br) == 4 &&
                      close_br == ']' && h < 24 && m < 60 && s < 61,
                  "no timestamp before \"%s\" in:\n%s", lines[i], out);
        from = hit + strlen(lines[i]);
    }
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

Test(ringchat_cli, two_clients_chat_through_one_room)
{
    start_server();
    static cli_proc_t bob, alice;
    const char *bob_script = "/join 5\n"
                             "/wait * alice joined room 5\n"
                             "/wait alice: hello bob\n"
                             "/who\n"
                             "hi alice\n"
                             "/wait * alice left room 5\n"
                             "/who\n"
                             "/quit\n";
    const char *alice_script = "/join -1\n"
                               "/join 5\n"
                               "/who\n"
                               "hello bob\n"
                               "/wait bob: hi alice\n"
                               "/ping\n"
                               "bad\x1b[31mred\tx\n"
                               "//slash\n"
                               "/leave\n"
                               "/who\n"
                               "nobody hears this\n"
                               "/leave\n"
                               "/quit\n"
                               "after quit: never sent\n";
    cr_assert_eq(cli_proc_start(&bob, CLI_ARGS("bob", "pw-bob"), bob_script), 0);
    cr_assert(cli_proc_read_until(&bob, "joined room 5", 10000), "bob: %s", bob.out);
    cr_assert_eq(cli_proc_start(&alice, CLI_ARGS("alice", "pw-alice"), alice_script), 0);
    int st_alice = cli_proc_finish(&alice, 15000);
    int st_bob = cli_proc_finish(&bob, 15000);
    assert_exit(st_alice, 0, &alice);
    assert_exit(st_bob, 0, &bob);

    assert_lines_in_order(
        alice.out,
        (const char *const[]){"logged in as alice", "join -1 failed: ROOM_INVALID_INDEX (61)\n",
                              "joined room 5\n", "members of room 5: bob\n",
                              "room 5 (2 members): alice (you), bob\n", "alice: hello bob\n",
                              "bob: hi alice\n", "pong 1 in ", "alice: bad\\e[31mred\\tx\n",
                              "alice: /slash\n", "left room 5\n", "not in a room\n",
                              "message refused: CHAT_ROOM_INVALID_ROOM_NUMBER (81)\n",
                              "leave failed: LEAVE_ROOM_INVALID_ROOM_INDEX (71)\n", NULL});
    cr_assert_eq(count(alice.out, "message refused"), 1, "%s", alice.out);
    cr_assert(strstr(alice.out, "never sent") == NULL, "%s", alice.out);

    assert_lines_in_order(
        bob.out,
        (const char *const[]){"logged in as bob", "joined room 5\n", "* alice joined room 5\n",
                              "alice: hello bob\n", "room 5 (2 members): bob (you), alice\n",
                              "bob: hi alice\n", "alice: bad\\e[31mred\\tx\n", "alice: /slash\n",
                              "* alice left room 5\n", "room 5 (1 member): bob (you)\n", NULL});
    cr_assert(strstr(bob.out, "nobody hears this") == NULL, "%s", bob.out);
    cr_assert(strstr(bob.out, "members of room") == NULL, "bob entered an empty room: %s", bob.out);
    cr_assert(strchr(alice.out, 0x1b) == NULL && strchr(bob.out, 0x1b) == NULL,
              "a raw ESC reached the terminal");
    stop_server();
}

Test(ringchat_cli, end_of_input_exits_after_the_last_answers)
{
    start_server();
    static cli_proc_t p;
    /* No /quit, and the last line has no newline: it still runs, and the
     * client waits for its own notify before it exits. */
    int st = cli_proc_run(&p, CLI_ARGS("carol", "pw"), "/join 8\nlast words");
    assert_exit(st, 0, &p);
    assert_lines_in_order(p.out,
                          (const char *const[]){"joined room 8\n", "carol: last words\n", NULL});
    cr_assert_eq(p.err[0], '\0', "stderr: %s", p.err);
    stop_server();
}

Test(ringchat_cli, chat_over_257_bytes_and_overlong_lines_are_refused_locally)
{
    start_server();
    static cli_proc_t p;
    static char script[20000];
    char ok[258], big[259], line5k[5001], line9k[9001];
    memset(ok, 'a', 257);
    ok[257] = '\0';
    memset(big, 'b', 258);
    big[258] = '\0';
    memset(line5k, 'c', 5000);
    line5k[5000] = '\0';
    memset(line9k, 'd', 9000);
    line9k[9000] = '\0';
    snprintf(script, sizeof(script), "/join 9\n%s\n%s\n%s\n%s\n/sleep 20\nstill here\n/quit\n", big,
             line5k, line9k, ok);
    int st = cli_proc_run(&p, CLI_ARGS("dave", "pw"), script);
    assert_exit(st, 0, &p);
    char want[300];
    snprintf(want, sizeof(want), "dave: %s\n", ok);
    assert_lines_in_order(
        p.out, (const char *const[]){"joined room 9\n", want, "dave: still here\n", NULL});
    cr_assert(strstr(p.out, "bbbb") == NULL && strstr(p.out, "cccc") == NULL &&
                  strstr(p.out, "dddd") == NULL,
              "%s", p.out);
    cr_assert(strstr(p.err, "message too long: 258 bytes, the limit is 257 (not sent)") != NULL,
              "stderr: %s", p.err);
    cr_assert_eq(count(p.err, "line longer than 4096 bytes ignored"), 2, "stderr: %s", p.err);
    stop_server();
}

Test(ringchat_cli, wrong_password_prints_the_code_name_and_exits_1)
{
    start_server();
    static cli_proc_t p;
    int st = cli_proc_run(&p, CLI_ARGS("erin", "right"), "/quit\n");
    assert_exit(st, 0, &p);
    st = cli_proc_run(&p, CLI_ARGS("erin", "wrong"), "/join 1\n/quit\n");
    assert_exit(st, 1, &p);
    cr_assert(strstr(p.err, "login failed: LOGIN_USER_INVALID_PW (33)") != NULL, "stderr: %s",
              p.err);
    cr_assert(strstr(p.out, "logged in") == NULL && strstr(p.out, "joined") == NULL, "%s", p.out);
    stop_server();
}

Test(ringchat_cli, unreachable_server_exits_1_with_a_clear_message)
{
    /* A port that was just free: bound, read back, closed. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0);
    cr_assert(getsockname(fd, (struct sockaddr *)&a, &len) == 0);
    close(fd);
    snprintf(port, sizeof(port), "%u", ntohs(a.sin_port));
    static cli_proc_t p;
    int st = cli_proc_run(&p, CLI_ARGS("frank", "pw"), "/quit\n");
    assert_exit(st, 1, &p);
    char want[64];
    snprintf(want, sizeof(want), "cannot connect to 127.0.0.1 port %s: Connection refused", port);
    cr_assert(strstr(p.err, want) != NULL, "stderr: %s", p.err);
    cr_assert_eq(p.out[0], '\0', "stdout: %s", p.out);
}

Test(ringchat_cli, server_shutdown_is_reported_and_exits_1)
{
    start_server();
    static cli_proc_t p;
    cr_assert_eq(cli_proc_start(&p, CLI_ARGS("gina", "pw"), "/join 3\n/wait never printed\n"), 0);
    cr_assert(cli_proc_read_until(&p, "joined room 3", 10000), "%s", p.out);
    stop_server();
    int st = cli_proc_finish(&p, 10000);
    assert_exit(st, 1, &p);
    cr_assert(strstr(p.out, "server error: SERVER_SHUTDOWN (8)") != NULL, "%s", p.out);
    cr_assert(strstr(p.err, "connection closed by the server") != NULL, "stderr: %s", p.err);
}

static int run_args(cli_proc_t *p, const char *const *args)
{
    return cli_proc_run(p, args, "");
}

Test(ringchat_cli, command_line_errors_exit_2_help_and_version_exit_0)
{
    static cli_proc_t p;
    assert_exit(run_args(&p, (const char *const[]){"--help", NULL}), 0, &p);
    cr_assert(strstr(p.out, "usage: ringchat-cli [--host H] [--port N] --user ID") != NULL, "%s",
              p.out);
    cr_assert(strstr(p.out, "/join N") != NULL, "%s", p.out);
    assert_exit(run_args(&p, (const char *const[]){"--version", NULL}), 0, &p);
    cr_assert(strncmp(p.out, "ringchat-cli ", 13) == 0, "%s", p.out);

    static const struct {
        const char *args[6];
        const char *msg;
    } bad[] = {
        {{"--user", "x", "--bogus", NULL}, "unknown option '--bogus'"},
        {{"--password", "x", NULL}, "--user ID is required"},
        {{"--user", "x", "--port", "0", NULL}, "--port must be a number from 1 to 65535"},
        {{"--user", "x", "--port", "70000", NULL}, "--port must be a number from 1 to 65535"},
        {{"--user", "x", "--port", NULL}, "--port needs a value"},
        {{"--user", "a\tb", NULL}, "--user must be 1 to 32 bytes"},
        {{"--user", "x", "--password", "123456789012345678901234567890123", NULL},
         "--password must be at most 32 bytes"},
        {{"--user", "x", "stray", NULL}, "unexpected argument 'stray'"},
        /* No --password and (setsid) no terminal to ask on. */
        {{"--user", "x", NULL}, "no --password given and no terminal"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_exit(run_args(&p, bad[i].args), 2, &p);
        cr_assert(strstr(p.err, bad[i].msg) != NULL, "case %zu: stderr: %s", i, p.err);
    }
}
