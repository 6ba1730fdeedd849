/* test_cli.c: the ringchat binary as a user runs it: banner, --help,
 * --version, bad options, a port already in use, signals. */
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server_proc.h"

TestSuite(cli, .timeout = 30);

static char out[8192], err[8192];

#define RUN(...)                                                                                   \
    run_ringchat((const char *const[]){__VA_ARGS__, NULL}, out, sizeof(out), err, sizeof(err))

Test(cli, banner_names_address_backend_threads_and_auth)
{
    server_proc_t s;
    const char *args[] = {"--threads", "2", NULL};
    cr_assert_eq(server_start(&s, args), 0, "no banner");
    cr_assert(strstr(s.banner, "ringchat ") == s.banner, "%s", s.banner);
    cr_assert(strstr(s.banner, "listening on 127.0.0.1:") != NULL, "%s", s.banner);
    cr_assert(strstr(s.banner, "backend=") != NULL, "%s", s.banner);
    cr_assert(strstr(s.banner, "threads=2") != NULL, "%s", s.banner);
    cr_assert(strstr(s.banner, "auth=memory") != NULL, "%s", s.banner);
    int st = server_stop(&s, SIGTERM, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
}

Test(cli, sigint_and_sigterm_exit_zero)
{
    int sigs[] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
        server_proc_t s;
        cr_assert_eq(server_start(&s, NULL), 0);
        int st = server_stop(&s, sigs[i], 2000);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "signal %d: status %d", sigs[i], st);
    }
}

Test(cli, accepts_connections)
{
    server_proc_t s;
    cr_assert_eq(server_start(&s, NULL), 0);
    for (int i = 0; i < 20; i++) {
        int fd = tcp_connect(s.port);
        cr_assert_geq(fd, 0, "connection %d refused", i);
        close(fd);
    }
    int st = server_stop(&s, SIGTERM, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

Test(cli, help_lists_the_options)
{
    int st = RUN("--help");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert(strstr(out, "usage: ringchat") != NULL, "%s", out);
    cr_assert(strstr(out, "--outbox-limit") != NULL);
}

Test(cli, version_prints_name_and_version)
{
    int st = RUN("--version");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert(strncmp(out, "ringchat ", 9) == 0, "%s", out);
}

Test(cli, bad_option_exits_2_with_a_clear_message)
{
    int st = RUN("--port", "99999");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d", st);
    cr_assert(strstr(err, "--port") && strstr(err, "99999"), "stderr: %s", err);
    st = RUN("--no-such-option");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    cr_assert(strstr(err, "no-such-option") != NULL, "stderr: %s", err);
}

Test(cli, port_in_use_is_reported)
{
    server_proc_t s;
    cr_assert_eq(server_start(&s, NULL), 0);
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)s.port);
    int st = RUN("--port", port);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
    cr_assert(strstr(err, "cannot listen") != NULL, "stderr: %s", err);
    server_stop(&s, SIGTERM, 5000);
}
