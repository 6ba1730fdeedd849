/* cli_opts.c: ringchat-cli's command line (`--host H --port N --user ID
 * [--password PW]`, --help, --version) and the no-echo password prompt.
 * Called by main.c before anything touches the network; the parser is also
 * unit-tested (tests/cli/test_cli_units.c).
 * It must never print (errors go back as text, main decides) and never exit.
 * The prompt must always restore the terminal's echo, even on Ctrl-C. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static int fail(char *err, size_t errcap, const char *what, const char *arg)
{
    snprintf(err, errcap, "%s%s%s", what, arg ? arg : "", arg ? "' (see --help)" : "");
    return -EINVAL;
}

static bool port_valid(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return errno == 0 && end != s && *end == '\0' && s[0] != '-' && s[0] != '+' && v >= 1 &&
           v <= 65535;
}

/* Matches "--name VALUE" or "--name=VALUE"; advances *i over the value.
 * -> 1 matched, 0 not this option, -EINVAL (value missing). */
static int take_value(const char *name, int argc, char **argv, int *i, const char **val)
{
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -EINVAL;
    *val = argv[++*i];
    return 1;
}

static int check(const cli_opts_t *o, char *err, size_t errcap)
{
    if (o->help || o->version)
        return 0;
    if (o->host[0] == '\0')
        return fail(err, errcap, "--host must not be empty", NULL);
    if (!port_valid(o->port))
        return fail(err, errcap, "--port must be a number from 1 to 65535", NULL);
    if (o->user == NULL)
        return fail(err, errcap, "--user ID is required (see --help)", NULL);
    if (!proto_user_id_valid((const uint8_t *)o->user, strlen(o->user)))
        return fail(err, errcap, "--user must be 1 to 32 bytes of UTF-8 without control characters",
                    NULL);
    if (o->password != NULL && strlen(o->password) > PROTO_ID_MAX_LEN)
        return fail(err, errcap, "--password must be at most 32 bytes", NULL);
    return 0;
}

int cli_opts_parse(cli_opts_t *o, int argc, char **argv, char *err, size_t errcap)
{
    static const char *const names[] = {"--host", "--port", "--user", "--password"};
    *o = (cli_opts_t){.host = "127.0.0.1", .port = "7000"};
    const char **slots[] = {&o->host, &o->port, &o->user, &o->password};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            o->help = true;
            continue;
        }
        if (strcmp(a, "--version") == 0) {
            o->version = true;
            continue;
        }
        int r = 0;
        for (size_t k = 0; k < 4 && r == 0; k++) {
            r = take_value(names[k], argc, argv, &i, slots[k]);
            if (r < 0) {
                snprintf(err, errcap, "%s needs a value", names[k]);
                return -EINVAL;
            }
        }
        if (r == 0)
            return fail(err, errcap, a[0] == '-' ? "unknown option '" : "unexpected argument '", a);
    }
    return check(o, err, errcap);
}

const char *cli_usage(void)
{
    return "usage: ringchat-cli [--host H] [--port N] --user ID [--password PW]\n"
           "\n"
           "  --host H          server address or name (default 127.0.0.1)\n"
           "  --port N          server port (default 7000)\n"
           "  --user ID         user id to log in as (1 to 32 bytes)\n"
           "  --password PW     password (at most 32 bytes); asked on the terminal,\n"
           "                    without echo, when not given\n"
           "  --help            show this text\n"
           "  --version         show the version\n"
           "\n"
           "Then type lines: plain text chats in the current room; commands start with '/'.\n"
           "When stdin is not a terminal the lines run as a script, each one after the\n"
           "server has answered the previous requests. Commands:\n";
}

static volatile sig_atomic_t prompt_interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    prompt_interrupted = 1;
}

/* Reads one line from fd (echo already off) into buf. */
static int read_secret(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    for (;;) {
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r < 0 && errno == EINTR && !prompt_interrupted)
            continue;
        if (r < 0)
            return errno == EINTR ? -EINTR : -errno;
        if (r == 0 || ch == '\n')
            break;
        if (n + 1 >= cap)
            return -ENAMETOOLONG;
        buf[n++] = ch;
    }
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    buf[n] = '\0';
    return 0;
}

int cli_ask_password(const char *user, char *buf, size_t cap)
{
    int fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -ENXIO;
    struct termios old, quiet;
    if (tcgetattr(fd, &old) != 0) {
        close(fd);
        return -ENXIO;
    }
    /* Ctrl-C must interrupt the read (no SA_RESTART) so echo is restored. */
    struct sigaction sa = {.sa_handler = on_sigint}, old_sa;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_sa);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL;
    dprintf(fd, "password for %s: ", user);
    tcsetattr(fd, TCSAFLUSH, &quiet);
    int r = read_secret(fd, buf, cap);
    tcsetattr(fd, TCSAFLUSH, &old);
    sigaction(SIGINT, &old_sa, NULL);
    if (r == -EINTR)
        dprintf(fd, "\n");
    close(fd);
    if (r == 0 && strlen(buf) > PROTO_ID_MAX_LEN)
        r = -ENAMETOOLONG;
    return r;
}
