/* cli_loop.c: ringchat-cli's one loop: a single poll(2) on the socket and
 * stdin, with every wait (answer deadline, /wait, /sleep, the drain after
 * /quit) expressed as that poll's timeout. Called by main.c through cli_run.
 * It must never busy-wait, never sleep, and never read stdin before the
 * login is answered. In script mode (stdin not a terminal) a line runs only
 * when every earlier request has been answered, and own chats echoed, so a
 * script's output order is deterministic.
 * Invariant: the loop ends exactly when exit_code >= 0. */
#include "cli.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void cli_fatal(cli_t *c, const char *fmt, ...)
{
    if (c->exit_code >= 0)
        return; /* the first reason is the one worth printing */
    va_list ap;
    va_start(ap, fmt);
    fputs("ringchat-cli: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    c->exit_code = 1;
}

/* Answers (and own-chat echoes) still owed by the server. */
static size_t due(const cli_t *c)
{
    return c->npend + c->own_notifies;
}

static void read_socket(cli_t *c)
{
    static uint8_t chunk[65536]; /* one thread, and packets are handled before the next recv */
    ssize_t n = recv(c->fd, chunk, sizeof(chunk), MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0 && c->state == CLI_LOGGING_IN) {
        cli_fatal(c, "connection closed before the login was answered (is this a ringchat "
                     "server?)");
        return;
    }
    if (n <= 0) {
        cli_fatal(c, "connection closed by the server%s%s", n < 0 ? ": " : "",
                  n < 0 ? strerror(errno) : "");
        return;
    }
    proto_reasm_feed(&c->reasm, chunk, (size_t)n);
    proto_packet_t pkt;
    int r;
    while ((r = proto_reasm_next(&c->reasm, &pkt)) == PROTO_REASM_PACKET) {
        size_t before = due(c);
        cli_handle_packet(c, &pkt);
        if (due(c) < before)
            c->answer_by_ms = cli_now_ms() + CLI_ANSWER_MS;
    }
    if (r < 0)
        cli_fatal(c, "bad framing from the server (%s)", strerror(-r));
}

static void read_stdin(cli_t *c)
{
    ssize_t n = read(STDIN_FILENO, c->in + c->in_len, sizeof(c->in) - c->in_len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0)
        c->in_eof = true;
    else
        c->in_len += (size_t)n;
}

static void start_drain(cli_t *c)
{
    c->state = CLI_DRAINING;
    c->drain_until_ms = cli_now_ms() + CLI_DRAIN_MS;
}

/* May the next input line run now? Clears a /wait or /sleep that is over. */
static bool may_run(cli_t *c)
{
    if (c->exit_code >= 0 || c->state != CLI_READY)
        return false;
    if (c->wait_text[0] != '\0' && !cli_out_take(&c->out, c->wait_text))
        return false;
    c->wait_text[0] = '\0';
    if (c->sleep_until_ms != 0 && cli_now_ms() < c->sleep_until_ms)
        return false;
    c->sleep_until_ms = 0;
    if (c->npend + 2 > CLI_PENDING_MAX) /* a /join queues two requests */
        return false;
    return c->interactive || due(c) == 0; /* script mode: lock-step */
}

/* Runs the first buffered line; -> false if there is no whole line yet. */
static bool run_one_line(cli_t *c)
{
    char *nl = memchr(c->in, '\n', c->in_len);
    size_t len = nl ? (size_t)(nl - c->in) : c->in_len;
    if (nl == NULL && c->in_len == sizeof(c->in)) {
        if (!c->in_skip)
            fprintf(stderr, "ringchat-cli: line longer than %d bytes ignored\n", CLI_LINE_MAX);
        c->in_skip = true;
        c->in_len = 0;
        return true;
    }
    if (nl == NULL && !(c->in_eof && c->in_len > 0))
        return false;
    if (c->in_skip) {
        c->in_skip = false;
    } else if (len > CLI_LINE_MAX) {
        fprintf(stderr, "ringchat-cli: line longer than %d bytes ignored\n", CLI_LINE_MAX);
    } else {
        cli_cmd_t cmd;
        cli_cmd_parse(c->in, len, &cmd);
        cli_cmd_run(c, &cmd);
    }
    size_t used = nl ? len + 1 : len;
    memmove(c->in, c->in + used, c->in_len - used);
    c->in_len -= used;
    return true;
}

static void run_lines(cli_t *c)
{
    while (may_run(c) && run_one_line(c)) {
    }
    if (may_run(c) && c->in_eof && c->in_len == 0)
        start_drain(c); /* end of input: as /quit */
}

/* The deadlines: each either fires here or bounds the next poll. */
static void check_timers(cli_t *c, long long now)
{
    if (c->exit_code >= 0)
        return;
    if (due(c) > 0 && now >= c->answer_by_ms)
        cli_fatal(c, "no answer from the server for %d s", CLI_ANSWER_MS / 1000);
    else if (c->wait_text[0] != '\0' && now >= c->wait_until_ms &&
             !cli_out_take(&c->out, c->wait_text))
        cli_fatal(c, "/wait timed out after %d s: no line containing \"%s\"", CLI_WAIT_MS / 1000,
                  c->wait_text);
    else if (c->state == CLI_DRAINING && due(c) == 0 && c->tx_len == 0)
        c->exit_code = 0;
    else if (c->state == CLI_DRAINING && now >= c->drain_until_ms) {
        fprintf(stderr, "ringchat-cli: exiting with %zu answers still due\n", due(c));
        c->exit_code = 0;
    }
}

static int poll_timeout(const cli_t *c, long long now)
{
    long long t = -1;
    long long at[4] = {due(c) > 0 ? c->answer_by_ms : 0,
                       c->wait_text[0] != '\0' ? c->wait_until_ms : 0, c->sleep_until_ms,
                       c->state == CLI_DRAINING ? c->drain_until_ms : 0};
    for (int i = 0; i < 4; i++)
        if (at[i] != 0 && (t < 0 || at[i] < t))
            t = at[i];
    if (t < 0)
        return -1;
    return t <= now ? 0 : (int)(t - now);
}

static void step(cli_t *c)
{
    struct pollfd p[2] = {
        {.fd = c->fd, .events = (short)(POLLIN | (c->tx_len ? POLLOUT : 0))},
        {.fd = STDIN_FILENO, .events = POLLIN},
    };
    bool has_line = memchr(c->in, '\n', c->in_len) != NULL;
    bool want_in = c->state == CLI_READY && !c->in_eof && !has_line && c->in_len < sizeof(c->in);
    int r = poll(p, want_in ? 2 : 1, poll_timeout(c, cli_now_ms()));
    if (r < 0 && errno != EINTR) {
        cli_fatal(c, "poll: %s", strerror(errno));
        return;
    }
    if (r > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR)))
        read_socket(c);
    if (r > 0 && (p[0].revents & POLLOUT) && c->exit_code < 0) {
        int e = cli_flush(c);
        if (e != 0)
            cli_fatal(c, "connection lost: %s", strerror(-e));
    }
    if (r > 0 && want_in && (p[1].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)))
        read_stdin(c);
    run_lines(c);
    check_timers(c, cli_now_ms());
}

/* Sends LOGIN_REQ; the loop reads no input until LOGIN_RES says 0. */
static void send_login(cli_t *c, const char *password)
{
    uint8_t pkt[PROTO_HEADER_SIZE + PROTO_LOGIN_REQ_BODY];
    size_t n = proto_encode_login_req(pkt, sizeof(pkt), c->opts->user, password);
    int r = n ? cli_send(c, pkt, n) : -EINVAL;
    if (r != 0) {
        cli_fatal(c, "cannot send the login: %s", strerror(-r));
        return;
    }
    cli_pending_push(c, &(cli_pending_t){.req = PROTO_LOGIN_REQ});
}

int cli_run(const cli_opts_t *o, const char *password, bool interactive)
{
    cli_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        fputs("ringchat-cli: out of memory\n", stderr);
        return 1;
    }
    *c = (cli_t){.opts = o, .interactive = interactive, .exit_code = -1, .fd = -1};
    cli_out_init(&c->out, stdout);
    proto_reasm_init(&c->reasm, PROTO_MAX_PACKET_LIMIT);
    char err[512];
    c->fd = cli_connect(o->host, o->port, err, sizeof(err));
    if (c->fd < 0)
        cli_fatal(c, "%s", err);
    else
        send_login(c, password);
    while (c->exit_code < 0)
        step(c);
    int rc = c->exit_code;
    if (c->fd >= 0)
        close(c->fd);
    proto_reasm_free(&c->reasm);
    cli_room_free(&c->room);
    cli_out_free(&c->out);
    free(c->tx);
    free(c);
    return rc;
}
