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
 * Input (first FZ_INPUT_MAX bytes): 3 header bytes (server settings, see
 * configure), then records of an op byte and operands (make_session_corpus.sh
 * lists them). Op byte: bits 7-6 client slot, bit 5 "do not run the
 * actors after this record" (lets messages pile up and interleave), bit 4
 * "hold" (keep the client's bytes unsent), bits 3-0 the action (enum below).
 * session_requests.c turns an action into the bytes the client sends.
 * After the last record the harness completes every pending auth request
 * and lets time run until no timer is left, checks the settled state, resets
 * every connection and checks that nothing is left: no user online, no room,
 * no actor but the shards, no message, no buffer. */
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
/* Bytes of an input that count: deep states need far fewer, and longer
 * inputs only make every run slower. */
#define FZ_INPUT_MAX 1024

static struct {
    chat_ctx_t ctx;
    sched_t *sched;
    int slot[FZ_SLOTS]; /* connection of each slot, -1 before the first */
    uint64_t ping;      /* varies ping tokens */
    bool trace;
} h;

static _Alignas(64) chat_stats_t fz_stats[1];

/* ---- the virtual clock (ld --wrap=clock_gettime) ------------------------- */

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
        fz_put_login(out, b);
        break;
    case A_ENTER:
        fz_put_enter(out, fz_room_of(&h.ctx.cfg, b));
        break;
    case A_LEAVE:
        fz_put_leave(out);
        break;
    case A_CHAT:
        fz_put_chat(out, b);
        break;
    case A_PING:
        fz_put_ping(out, b, h.ping++);
        break;
    case A_ECHO:
        fz_put_echo(out, b);
        break;
    case A_BAD:
        if ((b != 0xcc && b != 0xcd) || (c->state == FZ_OPEN && out->len < SESSION_PARK_LIMIT))
            fz_put_bad(out, b, h.ctx.cfg.max_packet); /* a megabyte: only to an open one */
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
            /* A reset: on_close at once, maybe while DATA is still queued. */
            fz_net_peer_close((unsigned)h.slot[slot]);
            (void)fz_net_deliver_closes();
        } else if (fz_net.nconns < FZ_MAX_CONNS) {
            connect_slot(slot);
        }
        break;
    case A_READ:
        fz_net_read((unsigned)h.slot[slot]);
        break;
    case A_LOGIN_ENTER:
        fz_put_login_as(out, own[slot], "pw", PROTO_LOGIN_REQ_BODY);
        fz_put_enter(out, fz_room_of(&h.ctx.cfg, b & 3));
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
    fz_check_release(); /* every malloc of an input is freed by its end (libFuzzer) */
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
    fz_in_t in = {data + 3, (size < FZ_INPUT_MAX ? size : FZ_INPUT_MAX) - 3};
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
