/* cli.h: the internals of ringchat-cli, the terminal client, shared by its
 * files (main.c, cli_opts.c, cli_text.c, cli_room.c, cli_cmd.c, cli_conn.c,
 * cli_recv.c, cli_loop.c) and by the unit tests in tests/cli/.
 * The client is one thread around one poll(2) on stdin and the socket: it
 * must never block anywhere else once logged in, never busy-wait and never
 * sleep (waits are poll timeouts). It must never print a byte received from
 * the server without escaping control characters (terminal escape injection).
 * Invariant: every request sent has one entry in the pending queue until its
 * answer (or an ERROR_NTF naming it) arrives; answers come in request order
 * per kind, so an answer always matches the oldest entry of its kind. */
#ifndef RINGCHAT_CLI_H
#define RINGCHAT_CLI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "proto.h"

#define CLI_LINE_MAX     4096  /* longest input line (bytes, without the newline) */
#define CLI_PENDING_MAX  256   /* requests in flight; input pauses when full */
#define CLI_ANSWER_MS    10000 /* an outstanding request must see an answer by then */
#define CLI_LOGIN_MS     10000 /* connect + login deadline */
#define CLI_WAIT_MS      10000 /* /wait gives up (exit 1) after this */
#define CLI_DRAIN_MS     2000  /* after /quit or end of input: wait for answers */
#define CLI_SLEEP_MAX_MS 60000 /* largest /sleep */

/* ---- options (cli_opts.c) ---------------------------------------------- */

typedef struct cli_opts {
    const char *host;     /* default "127.0.0.1" */
    const char *port;     /* default "7000"; validated 1..65535 */
    const char *user;     /* required: a valid user id (proto_user_id_valid) */
    const char *password; /* NULL: ask on the terminal */
    bool help;
    bool version;
} cli_opts_t;

/* -> 0, or -EINVAL with a one-line reason in err (the caller exits 2). */
int cli_opts_parse(cli_opts_t *o, int argc, char **argv, char *err, size_t errcap);
const char *cli_usage(void);
/* Asks for the password on the controlling terminal with echo off. -> 0,
 * -ENXIO (no terminal), -EINTR (interrupted), -ENAMETOOLONG (> 32 bytes). */
int cli_ask_password(const char *user, char *buf, size_t cap);

/* ---- text output (cli_text.c) ------------------------------------------ */

/* Worst case: every input byte becomes \xHH (4 bytes). */
#define CLI_ESCAPED_MAX(len) (4 * (len) + 1)

/* Copies text for a terminal: valid printable UTF-8 as is; C0 controls, DEL
 * and bytes of invalid UTF-8 as \n \t \r \e \xHH; backslash as \\; C1
 * controls and bidi overrides (U+202A-U+202E, U+2066-U+2069) as \uXXXX.
 * Always NUL-terminates (if cap > 0); -> bytes written, without the NUL. */
size_t cli_escape(const char *in, size_t len, char *out, size_t cap);

/* Everything the session prints to stdout goes through cli_out, which
 * prefixes "[HH:MM:SS] " and keeps the lines not yet matched by /wait. */
typedef struct cli_out {
    FILE *f;
    char *log; /* lines printed since the last /wait match, NUL-terminated */
    size_t len, cap;
} cli_out_t;

void cli_out_init(cli_out_t *o, FILE *f);
void cli_out_free(cli_out_t *o);
void cli_out_line(cli_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* /wait: if a line printed since the last match contains needle, forgets the
 * log up to the end of that line and returns true. */
bool cli_out_take(cli_out_t *o, const char *needle);

/* ---- room members (cli_room.c) ----------------------------------------- */

typedef struct cli_member {
    int64_t uid;
    char id[PROTO_ID_MAX_LEN + 1];
} cli_member_t;

/* The current room as known from the enter answer and the notifies. */
typedef struct cli_room {
    bool in_room;
    int32_t number;
    cli_member_t *m; /* other members, in arrival order */
    size_t n, cap;
} cli_room_t;

/* Adds (or renames) uid. -> 0 or -ENOMEM. */
int cli_room_add(cli_room_t *r, int64_t uid, const char *id);
/* Removes uid, copying its id to id_out (cap PROTO_ID_MAX_LEN + 1). -> false if unknown. */
bool cli_room_remove(cli_room_t *r, int64_t uid, char *id_out);
void cli_room_clear(cli_room_t *r);
void cli_room_free(cli_room_t *r);

/* ---- commands (cli_cmd.c) ---------------------------------------------- */

typedef enum cli_cmd_kind {
    CLI_CMD_EMPTY, /* blank line: nothing to do */
    CLI_CMD_CHAT,
    CLI_CMD_JOIN,
    CLI_CMD_LEAVE,
    CLI_CMD_WHO,
    CLI_CMD_PING,
    CLI_CMD_QUIT,
    CLI_CMD_WAIT,
    CLI_CMD_SLEEP,
    CLI_CMD_HELP,
    CLI_CMD_ERROR, /* refused locally: see error */
} cli_cmd_kind_t;

typedef struct cli_cmd {
    cli_cmd_kind_t kind;
    int32_t room;     /* JOIN */
    long ms;          /* SLEEP */
    const char *text; /* CHAT, WAIT: points into the line */
    size_t len;
    char error[128]; /* ERROR */
} cli_cmd_t;

/* Parses one input line (no newline; a trailing \r is ignored). "//x" sends
 * the chat "/x". Never fails: a bad line gives CLI_CMD_ERROR. */
void cli_cmd_parse(const char *line, size_t len, cli_cmd_t *out);
const char *cli_cmd_help(void);

/* ---- the client ---------------------------------------------------------- */

typedef struct cli_pending {
    uint16_t req; /* PROTO_*_REQ */
    int32_t room; /* ROOM_ENTER_REQ */
    uint64_t token;
    long long sent_ns; /* PING_REQ */
    bool silent;       /* PING_REQ sent after ROOM_ENTER_REQ as a barrier */
} cli_pending_t;

/* Tokens of barrier pings: the high bit set, so /ping counts 1, 2, 3... */
#define CLI_BARRIER_TOKEN (UINT64_C(1) << 63)

typedef enum cli_state {
    CLI_LOGGING_IN,
    CLI_READY,
    CLI_DRAINING, /* /quit or end of input: waiting for the last answers */
} cli_state_t;

typedef struct cli {
    const cli_opts_t *opts;
    bool interactive; /* stdin is a terminal: no lock-step */
    cli_state_t state;
    int exit_code; /* >= 0: stop with this code */
    int fd;
    proto_reasm_t reasm;
    uint8_t *tx; /* bytes not yet sent */
    size_t tx_len, tx_cap;
    cli_pending_t pend[CLI_PENDING_MAX];
    size_t npend;
    unsigned own_notifies; /* own chats accepted, notify not yet seen */
    uint64_t next_token, next_barrier;
    long long answer_by_ms;   /* while answers are due, the next must arrive by then */
    long long drain_until_ms; /* CLI_DRAINING: exit by then at the latest */
    long long wait_until_ms, sleep_until_ms;
    char wait_text[CLI_LINE_MAX + 1]; /* non-empty while /wait runs */
    char in[2 * CLI_LINE_MAX];        /* stdin bytes not yet run */
    size_t in_len;
    bool in_eof, in_skip; /* in_skip: dropping the rest of a too-long line */
    cli_room_t room;
    cli_out_t out;
} cli_t;

long long cli_now_ms(void);
long long cli_now_ns(void);

/* cli_conn.c: the socket. */
/* Resolves host:port and connects within CLI_LOGIN_MS. -> fd, or -1 with a
 * reason in err. */
int cli_connect(const char *host, const char *port, char *err, size_t errcap);
/* Queues a whole packet and sends what the socket takes now. -> 0 or -errno. */
int cli_send(cli_t *c, const uint8_t *pkt, size_t len);
/* Sends queued bytes until EAGAIN. -> 0 or -errno. */
int cli_flush(cli_t *c);

/* cli_recv.c: one packet from the server. */
void cli_pending_push(cli_t *c, const cli_pending_t *p);
void cli_handle_packet(cli_t *c, const proto_packet_t *pkt);
/* /who: the current room's members, this user first. */
void cli_print_who(cli_t *c);

/* cli_cmd.c: runs a parsed command. */
void cli_cmd_run(cli_t *c, const cli_cmd_t *cmd);

/* cli_loop.c: prints "ringchat-cli: <reason>" on stderr and makes the loop
 * stop with exit code 1. */
void cli_fatal(cli_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* cli_loop.c: connects, logs in, runs until /quit, end of input or a fatal
 * error. -> the exit code (0, or 1 with a message on stderr). */
int cli_run(const cli_opts_t *o, const char *password, bool interactive);

#endif
