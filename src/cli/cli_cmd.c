/* cli_cmd.c: ringchat-cli's input lines: parsing ("/join 5", plain text
 * chats, ...) and running them (encode with src/proto and send, or answer
 * locally). Called by cli_loop.c for every input line; the parser is
 * unit-tested. It must never send a packet the protocol cannot carry (chat
 * over 257 bytes is refused here) and never block.
 * Invariant: every request sent is pushed on the pending queue. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void set_error(cli_cmd_t *out, const char *fmt, const char *word)
{
    out->kind = CLI_CMD_ERROR;
    snprintf(out->error, sizeof(out->error), fmt, word);
}

/* Parses a decimal integer in [lo, hi] from s (exactly len bytes). */
static bool parse_long(const char *s, size_t len, long lo, long hi, long *v)
{
    char buf[24];
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    *v = strtol(buf, &end, 10);
    return errno == 0 && *end == '\0' && *v >= lo && *v <= hi;
}

static void parse_chat(const char *text, size_t len, cli_cmd_t *out)
{
    if (len > PROTO_MSG_FIELD) {
        out->kind = CLI_CMD_ERROR;
        snprintf(out->error, sizeof(out->error),
                 "message too long: %zu bytes, the limit is %d (not sent)", len, PROTO_MSG_FIELD);
        return;
    }
    out->kind = CLI_CMD_CHAT;
    out->text = text;
    out->len = len;
}

static void parse_command(const char *w, size_t wlen, const char *arg, size_t alen, cli_cmd_t *out)
{
    static const struct {
        const char *name;
        cli_cmd_kind_t kind;
    } plain[] = {{"leave", CLI_CMD_LEAVE}, {"who", CLI_CMD_WHO},   {"ping", CLI_CMD_PING},
                 {"quit", CLI_CMD_QUIT},   {"help", CLI_CMD_HELP}, {"exit", CLI_CMD_QUIT}};
    char word[16];
    snprintf(word, sizeof(word), "%.*s", (int)(wlen < 15 ? wlen : 15), w);
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        if (wlen == strlen(plain[i].name) && memcmp(w, plain[i].name, wlen) == 0) {
            out->kind = plain[i].kind;
            if (alen != 0)
                set_error(out, "usage: /%s (no argument)", word);
            return;
        }
    }
    long v;
    if (wlen == 4 && memcmp(w, "join", 4) == 0) {
        if (!parse_long(arg, alen, INT32_MIN, INT32_MAX, &v)) {
            set_error(out, "usage: /%s N (a room number)", word);
            return;
        }
        out->kind = CLI_CMD_JOIN;
        out->room = (int32_t)v;
    } else if (wlen == 5 && memcmp(w, "sleep", 5) == 0) {
        if (!parse_long(arg, alen, 0, CLI_SLEEP_MAX_MS, &v)) {
            set_error(out, "usage: /%s MS (0 to 60000)", word);
            return;
        }
        out->kind = CLI_CMD_SLEEP;
        out->ms = v;
    } else if (wlen == 4 && memcmp(w, "wait", 4) == 0) {
        if (alen == 0) {
            set_error(out, "usage: /%s TEXT", word);
            return;
        }
        out->kind = CLI_CMD_WAIT;
        out->text = arg;
        out->len = alen;
    } else {
        set_error(out, "unknown command /%s (try /help)", word);
    }
}

void cli_cmd_parse(const char *line, size_t len, cli_cmd_t *out)
{
    memset(out, 0, sizeof(*out));
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len == 0) {
        out->kind = CLI_CMD_EMPTY;
        return;
    }
    if (line[0] != '/' || (len >= 2 && line[1] == '/')) {
        size_t skip = line[0] == '/' ? 1 : 0; /* "//x" says "/x" */
        parse_chat(line + skip, len - skip, out);
        return;
    }
    const char *w = line + 1, *end = line + len;
    const char *sp = memchr(w, ' ', (size_t)(end - w));
    const char *arg = sp ? sp : end;
    while (arg < end && *arg == ' ')
        arg++;
    size_t alen = (size_t)(end - arg);
    while (alen > 0 && arg[alen - 1] == ' ')
        alen--;
    parse_command(w, (size_t)((sp ? sp : end) - w), arg, alen, out);
}

const char *cli_cmd_help(void)
{
    return "  TEXT              say TEXT in the current room (at most 257 bytes)\n"
           "  //TEXT            say /TEXT\n"
           "  /join N           enter room N (leave the current room first)\n"
           "  /leave            leave the current room\n"
           "  /who              members of the current room, as known from the notifies\n"
           "  /ping             measure the round trip to the server\n"
           "  /quit             wait for the answers still due (at most 2 s), then exit\n"
           "  /wait TEXT        (scripts) pause until a line containing TEXT has been\n"
           "                    printed since the last /wait; exit 1 after 10 s\n"
           "  /sleep MS         (scripts) pause reading input for MS milliseconds\n"
           "  /help             this list\n";
}

/* Encodes and sends one request, and records it as pending. */
static void request(cli_t *c, const uint8_t *pkt, size_t n, const cli_pending_t *p)
{
    int r = n == 0 ? -EINVAL : cli_send(c, pkt, n);
    if (r != 0) {
        cli_fatal(c, "cannot send %s: %s", proto_packet_name(p->req), strerror(-r));
        return;
    }
    cli_pending_push(c, p);
}

static void run_wait(cli_t *c, const cli_cmd_t *cmd)
{
    memcpy(c->wait_text, cmd->text, cmd->len);
    c->wait_text[cmd->len] = '\0';
    if (cli_out_take(&c->out, c->wait_text)) {
        c->wait_text[0] = '\0';
        return;
    }
    c->wait_until_ms = cli_now_ms() + CLI_WAIT_MS;
}

void cli_cmd_run(cli_t *c, const cli_cmd_t *cmd)
{
    uint8_t pkt[PROTO_HEADER_SIZE + PROTO_MSG_FIELD];
    cli_pending_t p = {0};
    switch (cmd->kind) {
    case CLI_CMD_EMPTY:
        break;
    case CLI_CMD_CHAT:
        p.req = PROTO_ROOM_CHAT_REQ;
        request(c, pkt, proto_encode_room_chat_req(pkt, sizeof(pkt), cmd->text, cmd->len), &p);
        break;
    case CLI_CMD_JOIN:
        p.req = PROTO_ROOM_ENTER_REQ;
        p.room = cmd->room;
        request(c, pkt, proto_encode_room_enter_req(pkt, sizeof(pkt), cmd->room), &p);
        /* The server sends the member list right after the enter answer and
         * reads nothing else from us meanwhile, so the answer to this ping
         * marks the end of the list: script mode waits for it. */
        p = (cli_pending_t){.req = PROTO_PING_REQ, .silent = true};
        p.token = CLI_BARRIER_TOKEN | ++c->next_barrier;
        request(c, pkt, proto_encode_ping_req(pkt, sizeof(pkt), p.token), &p);
        break;
    case CLI_CMD_LEAVE:
        p.req = PROTO_ROOM_LEAVE_REQ;
        request(c, pkt, proto_encode_room_leave_req(pkt, sizeof(pkt)), &p);
        break;
    case CLI_CMD_PING:
        p.req = PROTO_PING_REQ;
        p.token = ++c->next_token;
        p.sent_ns = cli_now_ns();
        request(c, pkt, proto_encode_ping_req(pkt, sizeof(pkt), p.token), &p);
        break;
    case CLI_CMD_WHO:
        cli_print_who(c);
        break;
    case CLI_CMD_QUIT:
        c->state = CLI_DRAINING;
        c->drain_until_ms = cli_now_ms() + CLI_DRAIN_MS;
        break;
    case CLI_CMD_WAIT:
        run_wait(c, cmd);
        break;
    case CLI_CMD_SLEEP:
        c->sleep_until_ms = cli_now_ms() + cmd->ms;
        break;
    case CLI_CMD_HELP:
        fputs(cli_cmd_help(), stdout);
        fflush(stdout);
        break;
    case CLI_CMD_ERROR:
        fprintf(stderr, "ringchat-cli: %s\n", cmd->error);
        break;
    }
}
