/* fuzz_session.c: libFuzzer target over the chat actors in-process: real
 * session, login, directory and room actors on one single-threaded
 * scheduler, fed by fake connections (session_net.c) and a fake auth backend
 * (session_auth.c), judged by a replay checker (session_check.c,
 * session_rooms.c). Built only with -DRINGCHAT_FUZZ=ON and clang
 * (fuzz/CMakeLists.txt); run by hand or by `make test`, never by ctest. It
 * must never depend on wall-clock time or threads: while an input runs,
 * CLOCK_MONOTONIC is a virtual clock (ld --wrap=clock_gettime, so timer.c's
 * deadlines and every timer_now_ms are virtual) that moves only when the
 * input says so, and every input replays exactly. Every failed invariant
 * aborts (fz_fail).
 *
 * Input: 3 header bytes (server settings, see setup), then records of an op
 * byte and operands. Op byte: bits 7-6 client slot, bit 5 "do not run the
 * actors after this record" (lets messages pile up and interleave), bit 4
 * "hold" (keep the client's bytes unsent), bits 3-0 the action (enum below).
 * Requests are encoded with src/proto's encoders or by hand when malformed.
 * After the last record the harness completes every pending auth request,
 * fires timers, checks the settled state, closes every connection and checks
 * that nothing is left: no user online, no room, no message, no buffer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "directory.h"
#include "login.h"
#include "session.h"
#include "session_fuzz.h"
#include "timer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

enum fz_action {
    A_LOGIN,       /* operand: id (bits 0-3), password (bits 4-5) */
    A_ENTER,       /* operand: room (bits 0-2: 4 valid, 4 invalid) */
    A_LEAVE,       /* no operand */
    A_CHAT,        /* operand: text variant */
    A_PING,        /* operand: token */
    A_ECHO,        /* operand: body length and pattern */
    A_BAD,         /* operand: which malformed packet */
    A_RAW,         /* operand: n (bits 0-4), then n raw bytes */
    A_SPLIT,       /* operand: deliver the held bytes in chunks of (b & 63) + 1 */
    A_CLOSE,       /* the client resets (hold bit: half-closes after sending what it
                    * holds); on a closed slot: it connects again */
    A_AUTH,        /* operand: complete pending auth b, or (bit 7) toggle deferral */
    A_TIMERS,      /* the clock jumps to the next timer, which fires */
    A_TICK,        /* operand: the clock moves on; due timers fire */
    A_READ,        /* the client reads everything queued for it */
    A_SHUTDOWN,    /* operand >= 0xf0: SESSION_MSG_SHUTDOWN to every session */
    A_LOGIN_ENTER, /* operand: room; log in as the slot's own user, then enter */
};

#define FZ_DIRS        2
#define FZ_LOGINS      2
#define FZ_CLOCK_START 1000000 /* ms: the virtual clock of every input starts here */

static struct {
    chat_ctx_t ctx;
    sched_t *sched;
    int slot[FZ_SLOTS]; /* connection of each slot, -1 before the first */
    uint64_t ping;      /* varies ping tokens */
    bool trace;
} h;

static _Alignas(64) chat_stats_t fz_stats[1];

/* ---- the virtual clock (ld --wrap=timer_now_ms) -------------------------- */

static uint64_t fz_now; /* ms */
static bool fz_virtual; /* an input is running: the clock is fz_now */
int __wrap_clock_gettime(clockid_t clk, struct timespec *ts);
int __real_clock_gettime(clockid_t clk, struct timespec *ts);

int __wrap_clock_gettime(clockid_t clk, struct timespec *ts)
{
    if (!fz_virtual || clk != CLOCK_MONOTONIC)
        return __real_clock_gettime(clk, ts);
    ts->tv_sec = (time_t)(fz_now / 1000);
    ts->tv_nsec = (long)(fz_now % 1000) * 1000000;
    return 0;
}

static void set_clock(uint64_t ms)
{
    fz_now = ms;
    fz_net.clock_ms = (uint32_t)(ms - FZ_CLOCK_START);
}

/* ---- input ------------------------------------------------------------------ */

typedef struct fz_in {
    const uint8_t *p;
    size_t n;
} fz_in_t;

static uint8_t take(fz_in_t *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

/* ---- requests ------------------------------------------------------------ */

static void put_packet(fz_bytes_t *out, uint16_t id, uint8_t type, const void *body, size_t len)
{
    uint8_t hdr[PROTO_HEADER_SIZE];
    proto_header_encode(hdr, (uint16_t)(PROTO_HEADER_SIZE + len), id);
    hdr[4] = type;
    fz_bytes_add(out, hdr, sizeof(hdr));
    fz_bytes_add(out, body, len);
}

static const char *const fz_ids[] = {
    "ann",
    "bob",
    "cy",
    "dee",
    FZ_ID_BUSY,
    FZ_ID_DOWN,
    "",
    "\x01x",
    "\xc3\xa9t\xc3\xa9",
    "abcdefghijklmnopqrstuvwxyz012345", /* 32 bytes: the longest id */
    "\xff",                             /* not UTF-8 */
    NULL,                               /* 33 bytes and no NUL */
};
static const char *const fz_pws[] = {"pw", "other", "", NULL /* 33 bytes, no NUL */};

/* A LOGIN_REQ body built by hand, so that invalid fields can be sent. */
static void put_login(fz_bytes_t *out, const char *id, const char *pw, size_t body_len)
{
    uint8_t body[PROTO_LOGIN_REQ_BODY + 1] = {0};
    if (id != NULL)
        memcpy(body, id, strlen(id));
    else
        memset(body, 'z', PROTO_ID_FIELD);
    if (pw != NULL)
        memcpy(body + PROTO_ID_FIELD, pw, strlen(pw));
    else
        memset(body + PROTO_ID_FIELD, 'p', PROTO_PW_FIELD);
    put_packet(out, PROTO_LOGIN_REQ, 0, body, body_len);
}

static int32_t room_of(uint8_t b)
{
    const chat_config_t *c = &h.ctx.cfg;
    switch (b & 7) {
    case 4:
        return c->room_first + (int32_t)c->room_count; /* one past the last */
    case 5:
        return c->room_first - 1;
    case 6:
        return INT32_MAX;
    case 7:
        return INT32_MIN;
    default:
        return c->room_first + (b & 3);
    }
}

static void put_enter(fz_bytes_t *out, int32_t room)
{
    uint8_t pkt[PROTO_HEADER_SIZE + 4];
    fz_bytes_add(out, pkt, proto_encode_room_enter_req(pkt, sizeof(pkt), room));
}

static void put_chat(fz_bytes_t *out, uint8_t b)
{
    static const char *const texts[] = {"hi", "hello, room", "\xc3\xa9\xf0\x9f\x98\x80", "\xff\xfe",
                                        "\0abc"};
    uint8_t pkt[PROTO_HEADER_SIZE + PROTO_MSG_FIELD + 1], body[PROTO_MSG_FIELD + 1];
    char text[16];
    size_t v = (b & 15) % 9;
    if (v < 3) { /* valid texts, told apart by the high bits */
        snprintf(text, sizeof(text), "%s%u", texts[v], b >> 4);
        size_t n = b & 16 ? proto_encode_room_chat_req(pkt, sizeof(pkt), text, strlen(text))
                          : proto_encode_room_chat_req_short(pkt, sizeof(pkt), text, strlen(text));
        fz_bytes_add(out, pkt, n);
        return;
    }
    size_t len;
    memset(body, 'a' + (b >> 4), sizeof(body));
    switch (v) {
    case 3: /* invalid UTF-8 */
    case 4: /* empty text: starts with NUL */
        len = v == 3 ? 2 : 4;
        memcpy(body, texts[v], len);
        break;
    case 5: /* 257 bytes, no NUL: the longest text */
        len = PROTO_MSG_FIELD;
        break;
    case 6: /* 258 bytes: too long, 82 */
        len = PROTO_MSG_FIELD + 1;
        break;
    case 7: /* a 2-byte character cut by the end of the field */
        len = PROTO_MSG_FIELD;
        body[len - 1] = 0xc3;
        break;
    default: /* empty body */
        len = 0;
        break;
    }
    put_packet(out, PROTO_ROOM_CHAT_REQ, 0, body, len);
}

static void put_bad(fz_bytes_t *out, uint8_t b)
{
    static const uint8_t zeros[PROTO_LOGIN_REQ_BODY + 1];
    uint8_t hdr[PROTO_HEADER_SIZE];
    static const uint8_t flood[SESSION_PARK_LIMIT + 1]; /* length 0: framing */
    if (b == 0xcc) { /* rare, and slow: more than SESSION_PARK_LIMIT at once */
        fz_bytes_add(out, flood, sizeof(flood));
        return;
    }
    switch (b % 12) {
    case 0:
        put_packet(out, PROTO_PING_REQ, 1 + (b >> 4), zeros, 8);
        break;
    case 1:
        put_packet(out, 9999, 0, NULL, 0);
        break;
    case 2:
        put_packet(out, PROTO_SYS_USER_CONNECT, 0, NULL, 0);
        break;
    case 3:
        put_packet(out, PROTO_LOGIN_RES, 0, zeros, 2);
        break;
    case 4:
        put_packet(out, PROTO_ROOM_ENTER_REQ, 0, zeros, 3);
        break;
    case 5:
        put_packet(out, PROTO_ROOM_LEAVE_REQ, 0, zeros, 1);
        break;
    case 6:
        put_packet(out, PROTO_PING_REQ, 0, zeros, 7);
        break;
    case 7:
    case 8:
        put_login(out, "ann", "pw", PROTO_LOGIN_REQ_BODY + (b % 12 == 7 ? -1 : 1));
        break;
    case 9: /* length 4: a framing error */
        proto_header_encode(hdr, 4, PROTO_PING_REQ);
        fz_bytes_add(out, hdr, sizeof(hdr));
        break;
    case 10: /* one more than max_packet: a framing error */
        proto_header_encode(hdr, (uint16_t)(h.ctx.cfg.max_packet + 1), PROTO_PING_REQ);
        fz_bytes_add(out, hdr, sizeof(hdr));
        break;
    default: /* a bad type on an unknown id: 2 wins */
        put_packet(out, 12345, 0x80, NULL, 0);
        break;
    }
}

static void put_echo(fz_bytes_t *out, uint8_t b)
{
    uint8_t body[64];
    size_t len = b & 63;
    for (size_t i = 0; i < len; i++)
        body[i] = (uint8_t)(i * 7 + b);
    put_packet(out, PROTO_DEV_ECHO, 0, body, len);
}

static void put_ping(fz_bytes_t *out, uint8_t b)
{
    uint8_t pkt[PROTO_HEADER_SIZE + 8];
    uint64_t token = b * 0x0101010101010101ull ^ h.ping++;
    fz_bytes_add(out, pkt, proto_encode_ping_req(pkt, sizeof(pkt), token));
}

static void put_leave(fz_bytes_t *out)
{
    uint8_t pkt[PROTO_HEADER_SIZE];
    fz_bytes_add(out, pkt, proto_encode_room_leave_req(pkt, sizeof(pkt)));
}

/* ---- the harness ---------------------------------------------------------- */

/* Runs the actors and delivers closes until nothing moves. */
static void settle(void)
{
    for (unsigned i = 0;; i++) {
        FZ_CHECK(i < 1000000, "the actors never went quiet");
        if (sched_run_batch(h.sched, 0, 64) > 0)
            continue;
        if (fz_net_deliver_closes() > 0)
            continue;
        return;
    }
}

/* Moves the clock by `by` ms (or, by < 0, to the next timer) and fires
 * what is due, as a worker does after its wait. Returns false if by < 0 and
 * no timer is armed. */
static bool run_clock(int64_t by)
{
    if (by < 0) {
        by = timer_next_ms(h.sched, 0, fz_now);
        if (by < 0)
            return false;
    }
    set_clock(fz_now + (uint64_t)by);
    fz_net_log(FZ_EV_TIMERS);
    (void)timer_run_due(h.sched, 0, fz_now);
    return true;
}

/* A new connection, accepted the way server.c's on_accept does it: over
 * --max-unauth it is refused with ERROR_NTF 9 and closed. */
static void connect_slot(unsigned slot)
{
    unsigned c = fz_net_open();
    net_conn_t conn = fz_net_handle(c);
    int rc = session_spawn(&h.ctx, conn, &fz_net.conns[c].session);
    h.slot[slot] = (int)c;
    if (rc == -EBUSY) {
        fz_net.conns[c].refused = true;
        net_buf_t *b = chat_error_ntf(PROTO_ERR_TOO_MANY_CONNECTIONS, 0);
        FZ_CHECK(b != NULL, "out of memory");
        chat_send_encoded(conn, b, net_buf_len(b));
        (void)net_conn_close(conn, true);
        return;
    }
    FZ_CHECK(rc == 0, "session_spawn failed: %d", rc);
}

static void shutdown_all(void)
{
    fz_net_log(FZ_EV_SHUTDOWN);
    for (unsigned i = 0; i < fz_net.nconns; i++) {
        if (fz_net.conns[i].state == FZ_DEAD || fz_net.conns[i].refused)
            continue;
        msg_t *m = msg_alloc(SESSION_MSG_SHUTDOWN);
        FZ_CHECK(m != NULL, "out of memory");
        (void)actor_send(fz_net.conns[i].session, m);
    }
}

/* Actions that need no connection. */
static void run_global(enum fz_action a, uint8_t b)
{
    static const uint64_t ticks[8] = {1, 50, 500, 1000, 3000, 10000, 60000, 400000};
    switch (a) {
    case A_AUTH:
        if (b & 0x80)
            fz_auth_set_deferred(b & 1);
        else
            (void)fz_auth_complete(b);
        break;
    case A_TIMERS:
        (void)run_clock(-1);
        break;
    case A_TICK:
        (void)run_clock((int64_t)ticks[b & 7]);
        break;
    case A_SHUTDOWN:
        if (b >= 0xf0)
            shutdown_all();
        break;
    default:
        break;
    }
}

/* One record for connection c (of slot). */
static void run_conn(enum fz_action a, unsigned slot, bool hold, fz_in_t *in)
{
    static const char *const own[FZ_SLOTS] = {"ann", "bob", "cy", "dee"};
    fz_conn_t *c = &fz_net.conns[h.slot[slot]];
    fz_bytes_t *out = &c->pend;
    uint8_t b = a == A_LEAVE || a == A_READ || a == A_CLOSE ? 0 : take(in);
    switch (a) {
    case A_LOGIN:
        put_login(out, fz_ids[(b & 15) % 12], fz_pws[(b >> 4) & 3], PROTO_LOGIN_REQ_BODY);
        break;
    case A_ENTER:
        put_enter(out, room_of(b));
        break;
    case A_LEAVE:
        put_leave(out);
        break;
    case A_CHAT:
        put_chat(out, b);
        break;
    case A_PING:
        put_ping(out, b);
        break;
    case A_ECHO:
        put_echo(out, b);
        break;
    case A_BAD:
        if (b != 0xcc || (c->state == FZ_OPEN && out->len < SESSION_PARK_LIMIT))
            put_bad(out, b); /* one megabyte at a time, and only to an open one */
        break;
    case A_RAW:
        for (unsigned i = 0, n = b & 31; i < n; i++) {
            uint8_t r = take(in);
            fz_bytes_add(out, &r, 1);
        }
        break;
    case A_SPLIT:
        fz_net_deliver((unsigned)h.slot[slot], (size_t)(b & 63) + 1);
        break;
    case A_CLOSE:
        if (c->state == FZ_OPEN && hold) {
            fz_net_deliver((unsigned)h.slot[slot], SIZE_MAX);
            fz_net_eof((unsigned)h.slot[slot]);
        } else if (c->state == FZ_OPEN) {
            fz_net_peer_close((unsigned)h.slot[slot]);
        } else if (fz_net.nconns < FZ_MAX_CONNS) {
            connect_slot(slot);
        }
        break;
    case A_READ:
        fz_net_read((unsigned)h.slot[slot]);
        break;
    case A_LOGIN_ENTER:
        put_login(out, own[slot], "pw", PROTO_LOGIN_REQ_BODY);
        put_enter(out, room_of(b & 3));
        break;
    default:
        run_global(a, b);
        break;
    }
}

static void run_record(fz_in_t *in)
{
    uint8_t op = take(in);
    unsigned slot = op >> 6;
    enum fz_action a = (enum fz_action)(op & 15);
    if (h.slot[slot] < 0 && a == A_CLOSE && fz_net.nconns < FZ_MAX_CONNS)
        connect_slot(slot);
    else if (h.slot[slot] < 0)
        run_global(a, take(in));
    else
        run_conn(a, slot, op & 16, in);
    if (!(op & 16) && h.slot[slot] >= 0)
        fz_net_deliver((unsigned)h.slot[slot], SIZE_MAX);
    if (!(op & 32))
        settle();
}

/* ---- setup, the end, teardown --------------------------------------------- */

static void wake_nobody(void *ctx, unsigned worker)
{
    (void)ctx;
    (void)worker;
}

static void warn_line(const char *line)
{
    FZ_CHECK(strlen(line) > 0, "an empty log line");
}

/* Header byte 0: max_packet (bits 0-1), chat rate (2), room capacity (3-4),
 * max users (5-6), room_first (7). Byte 1: idle timeout (bits 0-1), outbox
 * limit (2-3), auth answers deferred (4), unauth timeout (5), login
 * attempts (6-7). Byte 2: max unauth (bits 0-1). */
static void configure(const uint8_t *hdr)
{
    uint8_t h0 = hdr[0], h1 = hdr[1], h2 = hdr[2];
    static const uint32_t attempts[4] = {0, 2, 3, 5};
    static const uint32_t unauth[4] = {1024, 1, 2, 3};
    static const uint32_t max_packet[4] = {4096, 300, 262, 71};
    static const uint32_t capacity[4] = {1024, 1, 2, 3};
    static const uint32_t users[4] = {10000, 1, 2, 3};
    static const uint32_t idle_ms[4] = {0, 0, 30000, 300000};
    static const size_t outbox[4] = {0, 0, 400, 2000};
    static uint32_t nonce;
    chat_config_t *c = &h.ctx.cfg;

    memset(&h.ctx, 0, sizeof(h.ctx));
    memset(fz_stats, 0, sizeof(fz_stats));
    c->max_packet = max_packet[h0 & 3];
    c->chat_rate = h0 & 4 ? 2 : 0;
    c->chat_burst = 3;
    c->room_capacity = capacity[(h0 >> 3) & 3];
    c->max_users = users[(h0 >> 5) & 3];
    c->room_first = h0 & 0x80 ? -2 : 0;
    c->room_count = 4;
    c->idle_timeout_ms = idle_ms[h1 & 3];
    c->login_timeout_ms = 3000;
    c->unauth_timeout_ms = h1 & 32 ? 20000 : 0;
    c->login_attempts = attempts[h1 >> 6];
    c->max_unauth = unauth[h2 & 3];
    set_clock(FZ_CLOCK_START);
    h.ping = 0;
    fz_net_reset(++nonce, outbox[(h1 >> 2) & 3]);
    fz_auth_reset();
    fz_auth_set_deferred(h1 & 16);
    fz_check_cfg_t cc = {.max_packet = c->max_packet,
                         .room_first = c->room_first,
                         .room_count = c->room_count,
                         .room_capacity = c->room_capacity,
                         .max_users = c->max_users,
                         .rate_limited = c->chat_rate != 0,
                         .timeouts = c->idle_timeout_ms != 0 || c->unauth_timeout_ms != 0,
                         .login_attempts = c->login_attempts,
                         .trace = h.trace};
    fz_check_reset(&cc);
}

/* What server.c's chat_start does, on one worker: the directory and login
 * shards; then three clients connect. */
static void setup(const uint8_t *hdr)
{
    configure(hdr);
    sched_hooks_t hooks = {.wake = wake_nobody, .ctx = NULL};
    h.sched = sched_create(1, &hooks);
    FZ_CHECK(h.sched != NULL, "sched_create failed");
    sched_worker_enter(h.sched, 0);
    h.ctx.sched = h.sched;
    h.ctx.auth = fz_auth_handle();
    h.ctx.stats = fz_stats;
    h.ctx.warn = warn_line;
    h.ctx.ndirs = FZ_DIRS;
    h.ctx.nlogins = FZ_LOGINS;
    for (unsigned i = 0; i < FZ_DIRS; i++)
        FZ_CHECK(directory_spawn(&h.ctx, &h.ctx.dirs[i]) == 0, "directory_spawn failed");
    for (unsigned i = 0; i < FZ_LOGINS; i++)
        FZ_CHECK(login_spawn(&h.ctx, &h.ctx.logins[i]) == 0, "login_spawn failed");
    for (unsigned s = 0; s < FZ_SLOTS; s++)
        h.slot[s] = -1;
    for (unsigned s = 0; s < 3; s++)
        connect_slot(s);
}

/* Lets the backend answer and time run until no timer is left: held login
 * answers come out (and the input parked behind them), deadlines close what
 * they close. */
static void finish_pending(void)
{
    for (int round = 0;; round++) {
        FZ_CHECK(round < 100000, "timers never ran out");
        settle();
        while (fz_auth_complete(0))
            settle();
        if (!run_clock(-1))
            return;
    }
}

static void teardown(const msg_stats_t *before)
{
    msg_stats_t after;
    sched_stats_t st;
    sched_stats(h.sched, &st);
    FZ_CHECK(st.spawns - st.exits == FZ_DIRS + FZ_LOGINS, "%llu actors alive at the end, not %u",
             (unsigned long long)(st.spawns - st.exits), FZ_DIRS + FZ_LOGINS);
    msg_stats(&after);
    FZ_CHECK(after.allocs - before->allocs == after.frees - before->frees, "messages leaked: %lld",
             (long long)((after.allocs - before->allocs) - (after.frees - before->frees)));
    FZ_CHECK(h.ctx.users_online == 0, "users_online %llu after every close",
             (unsigned long long)h.ctx.users_online);
    sched_worker_leave(h.sched, 0);
    sched_destroy(h.sched);
    h.sched = NULL;
    fz_net_release();
    FZ_CHECK(fz_net.live_bufs == 0, "net_bufs leaked: %lld", (long long)fz_net.live_bufs);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *s = getenv("FUZZ_SESSION_TRACE");
    h.trace = s != NULL && strcmp(s, "1") == 0;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    msg_stats_t before;
    msg_stats(&before);
    fz_virtual = true;
    setup(data);
    fz_in_t in = {data + 3, size - 3};
    while (in.n > 0)
        run_record(&in);
    finish_pending();
    fz_check_settled(&h.ctx);
    for (unsigned i = 0; i < fz_net.nconns; i++)
        fz_net_peer_close(i);
    finish_pending();
    fz_check_settled(&h.ctx); /* now: nobody online, no room */
    teardown(&before);
    fz_virtual = false;
    return 0;
}
