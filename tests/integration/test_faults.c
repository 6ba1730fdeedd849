/* test_faults.c: the server under faults (issue 7), for both io backends:
 *   - a login storm while Redis is killed and restarted, paused by DEBUG
 *     SLEEP and by SIGSTOP: every LOGIN_REQ answered 0, 33 or 34 within the
 *     login timeout plus a margin, and logins recover without a restart;
 *   - clients that reset (RST) mid-send while others chat: the others lose
 *     nothing and see the leave notices;
 *   - half-closed sockets (shutdown(SHUT_WR)), complete or mid-packet;
 *   - a full accept backlog while the server is stopped (SIGSTOP), with
 *     more connections queued than --max-unauth admits.
 * Uses the real binary, a private redis-server (redis_proc.h) and the storm
 * thread (faults_storm.h). Never more than 2 failed logins per connection;
 * every wait has a deadline. */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends.h"
#include "faults_room.h"
#include "faults_storm.h"
#include "faults_util.h"
#include "itest.h"
#include "proto.h"
#include "redis_proc.h"
#include "scrape.h"
#include "wire.h"

#define T                 ITEST_T
#define CLOSED_BY(reason) "ringchat_connections_closed_by_reason_total{reason=\"" reason "\"}"

TestSuite(faults, .timeout = 150);

/* ---- 1. a login storm while Redis fails ---------------------------------- */

#define STORM_CONNS    48
#define STORM_POOL     600
#define LOGIN_BOUND_MS 4000 /* --login-timeout 1, plus 3 s for a loaded machine */
#define RECOVER_MS     10000

enum {
    PH_BASE,
    PH_KILLED,
    PH_RESTARTED,
    PH_SLEEP,
    PH_AFTER_SLEEP,
    PH_STOPPED,
    PH_AFTER_STOP,
    PH_FINAL
};
static const char *const phase_names[STORM_PHASES] = {
    "base", "killed", "restarted", "debug-sleep", "after-sleep", "sigstop", "after-stop", "final"};

static char out[4096], err[4096];

/* Writes every id the storm uses (s0.., w0..) with the argon2id string of
 * "pw" that `ringchat user add` produced: one hash, many users. */
static void write_users(const redis_proc_t *r, const char *hash)
{
    char key[64], reply[64];
    for (int i = 0; i < STORM_POOL + STORM_CONNS; i++) {
        if (i < STORM_POOL)
            snprintf(key, sizeof(key), "ringchat:user:s%d", i);
        else
            snprintf(key, sizeof(key), "ringchat:user:w%d", i - STORM_POOL);
        cr_assert_eq(
            redis_proc_cmd(r, 2000, reply, sizeof(reply), NULL, "HSET", key, "pw", hash, NULL), ':',
            "HSET %s: %s", key, reply);
    }
}

/* `ringchat user add` once (cheap hash), then its stored string. */
static void make_hash(const redis_proc_t *r, char *hash, size_t cap)
{
    char addr[96];
    snprintf(addr, sizeof(addr), "%s:%u", r->host, (unsigned)r->port);
    const char *args[] = {"user", "add", "proto", "--redis", addr, "--pwhash-cost", "min", NULL};
    int st = run_ringchat_input(args, "pw\n", out, sizeof(out), err, sizeof(err));
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "user add failed: %s", err);
    cr_assert_eq(
        redis_proc_cmd(r, 2000, hash, cap, NULL, "HGET", "ringchat:user:proto", "pw", NULL), '$');
    cr_assert(strncmp(hash, "$argon2id$", 10) == 0, "stored: %s", hash);
}

/* The server connects to Redis in the background: 34 until it is ready. */
static void wait_logins_work(uint16_t port)
{
    int fd = tcp_connect(port), res = -1;
    cr_assert_geq(fd, 0);
    for (int i = 0; i < 100 && res != PROTO_OK; i++) {
        res = wire_login(fd, "proto", "pw", T);
        if (res == PROTO_LOGIN_BACKEND_UNAVAILABLE)
            usleep(50000);
        else
            cr_assert_eq(res, PROTO_OK);
    }
    cr_assert_eq(res, PROTO_OK, "Redis never became ready");
    close(fd);
}

/* Waits until the storm got a LOGIN_RES 0 after `since`. Returns the wait. */
static long wait_recovered(storm_t *st, long since, const char *after)
{
    long t0 = fu_now_ms();
    while (atomic_load(&st->last_ok_ms) <= since && fu_now_ms() - t0 < RECOVER_MS)
        usleep(20000);
    cr_assert_gt(atomic_load(&st->last_ok_ms), since, "no successful login within %d ms after %s",
                 RECOVER_MS, after);
    return fu_now_ms() - t0;
}

static void report_storm(const char *backend, const storm_counts_t *c)
{
    for (int p = 0; p < STORM_PHASES; p++) {
        const uint64_t *g = c->codes[p][1], *w = c->codes[p][0];
        cr_log_info("%s %-11s good %4llu: 0=%llu 33=%llu 34=%llu | wrong %4llu: 0=%llu 33=%llu "
                    "34=%llu",
                    backend, phase_names[p], (unsigned long long)c->sent[p][1],
                    (unsigned long long)g[SC_OK], (unsigned long long)g[SC_DENIED],
                    (unsigned long long)g[SC_UNAVAIL], (unsigned long long)c->sent[p][0],
                    (unsigned long long)w[SC_OK], (unsigned long long)w[SC_DENIED],
                    (unsigned long long)w[SC_UNAVAIL]);
    }
    cr_log_info("%s slowest answer: 0 in %ld ms, 33 in %ld ms, 34 in %ld ms", backend,
                c->max_ms[SC_OK], c->max_ms[SC_DENIED], c->max_ms[SC_UNAVAIL]);
}

static void check_storm(const storm_counts_t *c)
{
    cr_assert_eq(c->hung, 0, "%llu LOGIN_REQ without LOGIN_RES within %d ms",
                 (unsigned long long)c->hung, LOGIN_BOUND_MS);
    cr_assert_eq(c->cut, 0, "%llu connections closed with a login outstanding",
                 (unsigned long long)c->cut);
    cr_assert_eq(c->stray, 0, "%llu unexpected packets", (unsigned long long)c->stray);
    cr_assert_eq(c->connect_failed, 0);
    for (int p = 0; p < STORM_PHASES; p++) {
        for (int good = 0; good < 2; good++) {
            const uint64_t *k = c->codes[p][good];
            cr_assert_eq(k[SC_OTHER], 0, "phase %s: LOGIN_RES %d (want 0, 33 or 34)",
                         phase_names[p], c->other_code);
            cr_assert_eq(k[SC_OK] + k[SC_DENIED] + k[SC_UNAVAIL], c->sent[p][good],
                         "phase %s: answers != requests", phase_names[p]);
        }
        cr_assert_eq(c->codes[p][0][SC_OK], 0, "phase %s: a wrong password was accepted",
                     phase_names[p]);
        /* The users exist except between the restart and their rewrite. */
        if (p != PH_KILLED)
            cr_assert_eq(c->codes[p][1][SC_DENIED], 0, "phase %s: the right password got 33",
                         phase_names[p]);
    }
    /* A login sent and answered while Redis was healthy is never 34; while
     * it was broken, some 34s arrive (the fault was real). */
    static const int healthy[] = {PH_BASE, PH_FINAL}, broken[] = {PH_KILLED, PH_SLEEP, PH_STOPPED};
    for (size_t i = 0; i < 2; i++) {
        const uint64_t(*k)[SC_CODES] = c->same[healthy[i]];
        cr_assert_eq(k[1][SC_UNAVAIL] + k[0][SC_UNAVAIL], 0, "phase %s: 34 while Redis was healthy",
                     phase_names[healthy[i]]);
        cr_assert_gt(k[1][SC_OK], 0, "phase %s: no login succeeded", phase_names[healthy[i]]);
    }
    for (size_t i = 0; i < 3; i++)
        cr_assert_gt(c->arrived[broken[i]][SC_UNAVAIL], 0, "phase %s: the fault was never seen",
                     phase_names[broken[i]]);
}

static void redis_storm(const char *backend)
{
    redis_proc_t r;
    cr_assert_eq(redis_proc_start(&r), 0);
    static char hash[256];
    make_hash(&r, hash, sizeof(hash));
    write_users(&r, hash);
    char addr[96];
    snprintf(addr, sizeof(addr), "%s:%u", r.host, (unsigned)r.port);
    server_proc_t s;
    const char *args[] = {"--auth", "redis", "--redis", addr, "--login-timeout", "1", NULL};
    itest_start(&s, backend, args);
    wait_logins_work(s.port);

    static storm_t st;
    st = (storm_t){
        .port = s.port, .conns = STORM_CONNS, .pool = STORM_POOL, .bound_ms = LOGIN_BOUND_MS};
    cr_assert_eq(storm_start(&st), 0);
    usleep(1500 * 1000);
    atomic_store(&st.phase, PH_KILLED);
    cr_assert_eq(redis_proc_kill(&r), 0);
    usleep(1500 * 1000);
    cr_assert_eq(redis_proc_restart(&r), 0);
    write_users(&r, hash); /* persistence is off: the data went with it */
    atomic_store(&st.phase, PH_RESTARTED);
    long after_kill = wait_recovered(&st, fu_now_ms(), "the restart");

    atomic_store(&st.phase, PH_SLEEP);
    cr_assert_eq(redis_proc_debug_sleep(&r, 2.0), 0);
    usleep(2500 * 1000);
    atomic_store(&st.phase, PH_AFTER_SLEEP);
    long after_sleep = wait_recovered(&st, fu_now_ms(), "DEBUG SLEEP");

    atomic_store(&st.phase, PH_STOPPED);
    cr_assert_eq(redis_proc_pause(&r), 0);
    usleep(2000 * 1000);
    cr_assert_eq(redis_proc_resume(&r), 0);
    atomic_store(&st.phase, PH_AFTER_STOP);
    long after_stop = wait_recovered(&st, fu_now_ms(), "SIGCONT");
    atomic_store(&st.phase, PH_FINAL);
    usleep(1500 * 1000);
    storm_join(&st);

    report_storm(backend, &st.c);
    cr_log_info("%s recovered %ld ms after the restart, %ld ms after the sleep, %ld ms after "
                "SIGCONT",
                backend, after_kill, after_sleep, after_stop);
    check_storm(&st.c);
    static char log[1 << 16];
    server_read_log(&s, log, sizeof(log));
    cr_assert(strstr(log, "connection lost") != NULL, "no disconnect line: %s", log);
    cr_assert_geq(fu_count(log, ": ready"), 2, "no reconnect line: %s", log);
    itest_stop(&s);
    redis_proc_cleanup(&r);
}

/* ---- 2. clients that reset mid-send ---------------------------------------- */

#define ROOM 5

static void start_chat_server(server_proc_t *s, const char *backend, uint16_t mport,
                              const char *const *more)
{
    char mp[8];
    snprintf(mp, sizeof(mp), "%u", (unsigned)mport);
    const char *args[24] = {"--pwhash-cost", "min", "--chat-rate", "0", "--metrics-port", mp};
    int n = 6;
    for (; more != NULL && more[n - 6] != NULL && n < 23; n++)
        args[n] = more[n - 6];
    args[n] = NULL;
    itest_start(s, backend, args);
}

/* r0..r{FR_RESETTERS-1} log in and enter; both watchers learn their uids. */
static void join_resetters(uint16_t port, int a, int b, int *r, int64_t *uids)
{
    char id[16];
    for (int k = 0; k < FR_RESETTERS; k++) {
        snprintf(id, sizeof(id), "r%d", k);
        r[k] = wire_connect_login(port, id, "pw", T);
        cr_assert_geq(r[k], 0);
        cr_assert_eq(wire_enter(r[k], ROOM, T), 0);
        uids[k] = fr_uid_of(a, id);
        cr_assert_eq(fr_uid_of(b, id), uids[k]);
    }
}

/* Two clients vanish outside the room: one with its login pending, one
 * halfway through its LOGIN_REQ. */
static void vanish_outside(uint16_t port)
{
    uint8_t login[PROTO_HEADER_SIZE + PROTO_LOGIN_REQ_BODY];
    size_t n = proto_encode_login_req(login, sizeof(login), "pending", "pw");
    int p1 = tcp_connect(port), p2 = tcp_connect(port);
    cr_assert(p1 >= 0 && p2 >= 0);
    cr_assert_eq(wire_send(p1, login, n), 0);
    cr_assert_eq(wire_send(p2, login, n / 2), 0);
    fu_rst_close(p1);
    fu_rst_close(p2);
}

static void rst_mid_send(const char *backend)
{
    uint16_t mport = scrape_free_port();
    server_proc_t s;
    start_chat_server(&s, backend, mport, NULL);
    int a = wire_connect_login(s.port, "wa", "pw", T),
        b = wire_connect_login(s.port, "wb", "pw", T);
    cr_assert_eq(wire_enter(a, ROOM, T), 0);
    cr_assert_eq(wire_enter(b, ROOM, T), 0);
    fr_uid_of(a, "wb");
    int r[FR_RESETTERS];
    int64_t uids[FR_RESETTERS];
    join_resetters(s.port, a, b, r, uids);
    vanish_outside(s.port);

    char text[32];
    for (int k = 0; k < FR_RESETTERS; k++) {
        snprintf(text, sizeof(text), "a:%d", k);
        cr_assert_eq(fr_send_chat(a, text), 0);
        fr_reset_mid_send(r[k], k);
        snprintf(text, sizeof(text), "b:%d", k);
        cr_assert_eq(fr_send_chat(b, text), 0);
    }
    cr_assert_eq(fr_send_chat(a, "a:end"), 0);
    static fr_watch_t wa, wb;
    memset(&wa, 0, sizeof(wa));
    memset(&wb, 0, sizeof(wb));
    fr_watch_room(a, &wa, uids);
    fr_watch_room(b, &wb, uids);
    /* Both saw the same messages in the same order (their tails may differ
     * only by what arrived after the last leave: read just as far). */
    int common = wa.norder < wb.norder ? wa.norder : wb.norder;
    cr_assert_eq(memcmp(wa.order, wb.order, (size_t)common * sizeof(int)), 0, "orders differ");
    for (int k = 0; k < FR_RESETTERS; k++) {
        cr_assert_eq(wa.next_r[k], wb.next_r[k], "r%d: the watchers saw different counts", k);
        cr_log_info("%s: r%d's %d whole chats before its RST: %d delivered", backend, k,
                    k % 2 == 0 ? FR_BURST : 1, wa.next_r[k]);
    }

    /* The server still serves, and the reset ids are free again. */
    int back = fr_login_when_released(s.port, "r0");
    cr_assert_eq(wire_enter(back, ROOM, T), 0);
    cr_assert_eq(fr_send_chat(back, "r0:0"), 0);
    proto_chat_notify_t note;
    fr_uid_of(a, "r0");
    cr_assert_eq(wire_expect_notify(a, &note, T), 0);
    cr_assert_str_eq(note.text, "r0:0");
    /* Every RST is counted as one: the 6 members and the 2 outside. */
    long long resets = scrape_poll_at_least(mport, CLOSED_BY("reset"), FR_RESETTERS + 2);
    cr_assert_eq(resets, FR_RESETTERS + 2, "closes counted as reset");
    cr_assert_eq(scrape_poll_at_most(mport, "ringchat_users_online", 3), 3, "wa, wb, r0 online");
    close(a);
    close(b);
    close(back);
    itest_stop(&s);
}

/* ---- 3. half-closed sockets ------------------------------------------------ */

/* A complete request, then SHUT_WR: the server answers what was sent, then
 * closes (docs/net.md, end of stream). Requires exactly the answer, then
 * the close. */
static void ping_then_half_close(uint16_t port, uint64_t token)
{
    int fd = tcp_connect(port);
    cr_assert_geq(fd, 0);
    uint8_t pkt[16], got[64];
    size_t n = proto_encode_ping_req(pkt, sizeof(pkt), token);
    cr_assert_eq(wire_send(fd, pkt, n), 0);
    cr_assert_eq(shutdown(fd, SHUT_WR), 0);
    int len = fr_read_to_close(fd, got, sizeof(got));
    close(fd);
    cr_assert_geq(len, 0, "the server kept a half-closed connection open");
    cr_assert_gt(len, 0, "the answer to a request sent before the half-close was lost");
    uint64_t echoed = 0;
    proto_header_t h;
    proto_header_decode(got, &h);
    cr_assert(len == PROTO_HEADER_SIZE + 8 && h.id == PROTO_PING_RES &&
                  proto_decode_ping_res(got + 5, 8, &echoed) == 0 && echoed == token,
              "%d bytes of something else than the PING_RES", len);
}

/* Sends len bytes of pkt, SHUT_WR, and requires the server to close. */
static void partial_then_half_close(uint16_t port, const uint8_t *pkt, size_t len, int login_fd)
{
    int fd = login_fd >= 0 ? login_fd : tcp_connect(port);
    uint8_t got[64];
    cr_assert_eq(wire_send(fd, pkt, len), 0);
    cr_assert_eq(shutdown(fd, SHUT_WR), 0);
    cr_assert_eq(fr_read_to_close(fd, got, sizeof(got)), 0, "an answer to half a packet?");
    close(fd);
}

static void half_close(const char *backend)
{
    enum { PINGS = 20 };
    uint16_t mport = scrape_free_port();
    server_proc_t s;
    start_chat_server(&s, backend, mport, NULL);
    for (int i = 0; i < PINGS; i++)
        ping_then_half_close(s.port, 1000 + (uint64_t)i);

    /* Mid-packet: 3 bytes of a header; half a LOGIN_REQ; half a chat from a
     * logged-in client. */
    uint8_t pkt[PROTO_HEADER_SIZE + PROTO_MSG_FIELD];
    size_t n = proto_encode_login_req(pkt, sizeof(pkt), "half", "pw");
    partial_then_half_close(s.port, pkt, 3, -1);
    partial_then_half_close(s.port, pkt, n / 2, -1);
    int c = wire_connect_login(s.port, "chatter", "pw", T);
    n = proto_encode_room_chat_req(pkt, sizeof(pkt), "never whole", 11);
    partial_then_half_close(s.port, pkt, n - 1, c);

    /* A LOGIN_REQ, then SHUT_WR at once: the login may still complete, but
     * the id must be released with the connection. */
    int fd = tcp_connect(s.port);
    n = proto_encode_login_req(pkt, sizeof(pkt), "ghost", "pw");
    cr_assert_eq(wire_send(fd, pkt, n), 0);
    cr_assert_eq(shutdown(fd, SHUT_WR), 0);
    cr_assert_geq(fr_read_to_close(fd, pkt, sizeof(pkt)), 0, "still open");
    close(fd);

    /* A member of a room half-closes: the room hears that it left. */
    int a = wire_connect_login(s.port, "stay", "pw", T),
        b = wire_connect_login(s.port, "go", "pw", T);
    cr_assert_eq(wire_enter(a, 9, T), 0);
    cr_assert_eq(wire_enter(b, 9, T), 0);
    int64_t uid = fr_uid_of(a, "go"), left = 0;
    cr_assert_eq(shutdown(b, SHUT_WR), 0);
    int len = wire_expect(a, PROTO_ROOM_LEAVE_USER_NTF, pkt, sizeof(pkt), T);
    cr_assert_eq(proto_decode_room_leave_user_ntf(pkt + 5, (size_t)len, &left), 0);
    cr_assert_eq(left, uid, "the leave notice names someone else");
    cr_assert(wire_wait_closed(b, T), "the server kept the half-closed member open");
    close(b);

    int ghost = fr_login_when_released(s.port, "ghost");
    uint8_t ping[16];
    cr_assert_eq(wire_send(a, ping, proto_encode_ping_req(ping, sizeof(ping), 7)), 0);
    cr_assert_gt(wire_expect(a, PROTO_PING_RES, ping, sizeof(ping), T), 0,
                 "server stopped serving");
    /* 20 pings, 3 partial packets, the login and the member; a retry of
     * the relogin that got 31 adds one more each. */
    long long peer = scrape_poll_at_least(mport, CLOSED_BY("peer"), PINGS + 5);
    cr_assert_geq(peer, PINGS + 5, "half-closes counted as peer closes");
    close(a);
    close(ghost);
    itest_stop(&s);
}

/* ---- 4. a full accept backlog, and more connections than admitted ---------- */

#define NET_BACKLOG              4096 /* src/net/net_port.c: listen(fd, 4096), capped by somaxconn */
#define OVER_BACKLOG             150
#define ADMIT                    1024 /* --max-unauth (its default) */
#define ADMIT_S                  "1024"
#define ERR_TOO_MANY_CONNECTIONS 9 /* PROTOCOL.md: ERROR_NTF before close, --max-unauth */

static int listen_backlog(void)
{
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
    int v = NET_BACKLOG;
    if (f != NULL) {
        if (fscanf(f, "%d", &v) != 1)
            v = NET_BACKLOG;
        fclose(f);
    }
    return v < NET_BACKLOG ? v : NET_BACKLOG;
}

/* Connection states of the backlog test. */
enum { BL_CONNECTING, BL_CONNECTED, BL_REFUSED, BL_PINGED, BL_SERVED };

/* After SIGCONT: completes connects and reads refusals (ERROR_NTF 9, then
 * the server's close) until every connection is connected and `refuse` of
 * them were refused, or 20 s passed. Clients send nothing meanwhile, so a
 * refusal is never mixed with an answer. Returns the refusals seen. */
static int collect_refusals(struct pollfd *pfd, char *state, int n, int refuse)
{
    int refused = 0, connected = 0;
    long t0 = fu_now_ms();
    while ((connected < n || refused < refuse) && fu_now_ms() - t0 < 20000) {
        for (int i = 0; i < n; i++)
            pfd[i].events = state[i] == BL_CONNECTING  ? POLLOUT
                            : state[i] == BL_CONNECTED ? POLLIN
                                                       : 0;
        cr_assert_geq(poll(pfd, (nfds_t)n, 50), 0);
        for (int i = 0; i < n; i++) {
            if (pfd[i].revents == 0)
                continue;
            if (state[i] == BL_CONNECTING) {
                int e = 0;
                socklen_t el = sizeof(e);
                getsockopt(pfd[i].fd, SOL_SOCKET, SO_ERROR, &e, &el);
                cr_assert_eq(e, 0, "connect %d failed: %s", i, strerror(e));
                state[i] = BL_CONNECTED;
                connected++;
            } else if (state[i] == BL_CONNECTED) {
                cr_assert_eq(wire_expect_error(pfd[i].fd, NULL, T), ERR_TOO_MANY_CONNECTIONS,
                             "connection %d: something else than ERROR_NTF 9", i);
                cr_assert(wire_wait_closed(pfd[i].fd, T), "refused connection %d left open", i);
                state[i] = BL_REFUSED;
                cr_assert_leq(++refused, refuse, "more refused than over --max-unauth");
            }
        }
    }
    cr_assert_eq(connected, n, "only %d of %d connects completed within 20 s", connected, n);
    return refused;
}

/* Pings every admitted connection; each must answer. */
static void ping_admitted(struct pollfd *pfd, char *state, int n)
{
    uint8_t buf[64];
    for (int i = 0; i < n; i++) {
        if (state[i] != BL_CONNECTED)
            continue;
        cr_assert_eq(wire_send(pfd[i].fd, buf, proto_encode_ping_req(buf, 16, (uint64_t)i)), 0);
        state[i] = BL_PINGED;
    }
    for (int i = 0; i < n; i++) {
        if (state[i] != BL_PINGED)
            continue;
        uint64_t token = 0;
        int len = wire_expect(pfd[i].fd, PROTO_PING_RES, buf, sizeof(buf), T);
        cr_assert(len == 8 && proto_decode_ping_res(buf + 5, 8, &token) == 0 &&
                      token == (uint64_t)i,
                  "admitted connection %d not served", i);
        state[i] = BL_SERVED;
    }
}

/* The closes of the flood free their places asynchronously: a new client
 * may still be refused for a moment, then logs in (within 5 s). */
static void login_after_flood(uint16_t port)
{
    uint8_t pkt[PROTO_HEADER_SIZE + PROTO_LOGIN_REQ_BODY];
    size_t n = proto_encode_login_req(pkt, sizeof(pkt), "after", "pw");
    for (int i = 0; i < 250; i++) {
        int fd = tcp_connect(port);
        cr_assert_geq(fd, 0);
        cr_assert_eq(wire_send(fd, pkt, n), 0);
        proto_header_t h;
        uint8_t buf[64];
        int len = wire_recv(fd, buf, sizeof(buf), &h, T);
        close(fd);
        if (len > 0 && h.id == PROTO_LOGIN_RES) {
            cr_assert_eq(buf[5] | buf[6] << 8, PROTO_OK);
            return;
        }
        /* Refused: ERROR_NTF 9, or a reset when the close found the login
         * unread (the kernel may then drop the notice). */
        cr_assert(len < 0 || (h.id == PROTO_ERROR_NTF &&
                              (buf[5] | buf[6] << 8) == ERR_TOO_MANY_CONNECTIONS),
                  "packet %u after the flood", h.id);
        usleep(20000);
    }
    cr_assert_fail("still refused 5 s after the flood ended");
}

/* The server stopped (SIGSTOP) while more clients connect than its listen
 * queue holds: the kernel completes handshakes up to the backlog and drops
 * later SYNs (the clients retry). After SIGCONT the server accepts them
 * all: exactly --max-unauth are admitted and served, every other one gets
 * ERROR_NTF 9 and a close (none hangs); then it idles without spinning. */
static void full_backlog(const char *backend)
{
    const int n = listen_backlog() + 1 + OVER_BACKLOG;
    server_proc_t s;
    /* One worker: one listener, one queue. */
    const char *args[] = {"--threads", "1", "--pwhash-cost", "min", "--max-unauth", ADMIT_S, NULL};
    itest_start(&s, backend, args);
    static struct pollfd pfd[NET_BACKLOG + 1 + OVER_BACKLOG];
    static char state[NET_BACKLOG + 1 + OVER_BACKLOG];
    cr_assert_eq(kill(s.pid, SIGSTOP), 0);
    cr_assert(fu_wait_state(s.pid, 'T', 5000), "the server did not stop");
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons(s.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < n; i++) {
        pfd[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        cr_assert_geq(pfd[i].fd, 0, "socket %d: %s", i, strerror(errno));
        int rc = connect(pfd[i].fd, (struct sockaddr *)&sa, sizeof(sa));
        cr_assert(rc == 0 || errno == EINPROGRESS, "connect %d: %s", i, strerror(errno));
        pfd[i].events = POLLOUT;
        state[i] = BL_CONNECTING;
    }
    /* While stopped: count the handshakes the kernel completed. */
    long t0 = fu_now_ms();
    int established = 0;
    while (fu_now_ms() - t0 < 1000) {
        established = 0;
        cr_assert_geq(poll(pfd, (nfds_t)n, 50), 0);
        for (int i = 0; i < n; i++)
            established += (pfd[i].revents & POLLOUT) != 0;
    }
    cr_assert_lt(established, n, "every handshake completed: the backlog never filled");
    cr_assert_eq(kill(s.pid, SIGCONT), 0);
    long t1 = fu_now_ms();
    int refused = collect_refusals(pfd, state, n, n - ADMIT);
    cr_assert_eq(refused, n - ADMIT, "refused %d of %d with --max-unauth %d", refused, n, ADMIT);
    ping_admitted(pfd, state, n);
    cr_log_info("%s: %d clients, %d connected while the server was stopped; %d served and %d "
                "refused %ld ms after SIGCONT",
                backend, n, established, ADMIT, refused, fu_now_ms() - t1);
    long cpu0 = fu_cpu_ms(s.pid);
    usleep(1000 * 1000);
    long cpu = fu_cpu_ms(s.pid) - cpu0;
    cr_log_info("%s: %ld ms of CPU in 1 s idle with %d connections (%ld ms in all)", backend, cpu,
                ADMIT, cpu0);
    cr_assert_lt(cpu, 500, "the idle server spins: %ld ms of CPU in 1 s", cpu);
    for (int i = 0; i < n; i++)
        close(pfd[i].fd);
    login_after_flood(s.port);
    itest_stop(&s);
}

BOTH_BACKENDS(faults, redis_storm)
BOTH_BACKENDS(faults, rst_mid_send)
BOTH_BACKENDS(faults, half_close)
BOTH_BACKENDS(faults, full_backlog)
