/* session_check.c: the replay checker of fuzz_session, request side. It
 * reads the event log (session_fuzz.h) in order and keeps, for every
 * connection, a model of what its client knows: the requests the server has
 * received (framed again here from the delivered bytes, independently of
 * src/proto's reassembler), which of them are answered, and the state the
 * answers imply (logged in? in which room?). Room packets go to the room
 * model (session_rooms.c). Used only by fuzz_session; it must never trust the
 * code under test: every expectation is derived from PROTOCOL.md,
 * docs/protocol-notes.md and docs/chat-design.md. Checked:
 *   C1. every buffer sent is exactly one well-formed server packet (checked
 *       when it is sent, in session_net.c);
 *   C2. every request gets exactly one answer, of the kind and code the
 *       client's state allows, in request order (rule 4 of chat-design.md);
 *   C3. a closing notice (ERROR_NTF 4, 6..10) is followed by the close;
 *   C4. when settled, nothing is unanswered on a connection nobody closed,
 *       and users_online, the room gauges and the chat counters match;
 *   C5. a client that half-closes gets every answer before the close. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "session_fuzz.h"

typedef enum fz_req_kind {
    RQ_FRAMING = 1, /* length < 5 or > max_packet: the stream ends here */
    RQ_BAD_TYPE,
    RQ_UNKNOWN,
    RQ_ECHO,
    RQ_LOGIN,
    RQ_ENTER,
    RQ_LEAVE,
    RQ_CHAT,
    RQ_PING,
} fz_req_kind_t;

typedef struct fz_req {
    uint8_t kind;
    uint16_t id;      /* packet id, for ERROR_NTF's offending id */
    uint32_t off;     /* body offset in the connection's delivered bytes */
    uint32_t len;     /* body length */
    uint32_t arrived; /* the clock (ms) when the DATA event completed it */
} fz_req_t;

struct fz_model {
    size_t delivered, framed; /* bytes delivered so far (replay time), framed */
    bool framing_dead;        /* a framing error was framed: nothing after it */
    fz_req_t *reqs;
    size_t nreqs, cap, head; /* head: the first request not yet answered */
    bool logged_in, in_room;
    char id[PROTO_ID_FIELD + 1];
    bool closed;            /* a close (by anyone) is in the log */
    bool broken;            /* the session closed it (it then ignores input) */
    bool told;              /* the session handled SESSION_MSG_CLOSED */
    bool eof;               /* the client half-closed: it waits for every answer */
    bool expect_close;      /* a closing notice was sent: the close must come next */
    uint16_t expect_notice; /* this ERROR_NTF must be the next event */
    uint32_t failures;      /* LOGIN_RES 33 so far */
};

static fz_model_t models[FZ_MAX_CONNS];
static fz_check_cfg_t cfg;
static size_t replayed; /* log events judged so far */
static uint32_t now_ms; /* the clock of the event being judged */
static bool shutdown_seen;
static uint64_t n_chat_ok, n_notify_ok;    /* ROOM_CHAT_RES 0, notifies queued */
static uint64_t n_login[CHAT_LOGIN_CODES]; /* LOGIN_RES by code */

void fz_check_release(void)
{
    for (unsigned i = 0; i < FZ_MAX_CONNS; i++)
        free(models[i].reqs);
    memset(models, 0, sizeof(models));
    fz_rooms_release();
}

void fz_check_reset(const fz_check_cfg_t *c)
{
    fz_check_release();
    cfg = *c;
    replayed = 0;
    now_ms = 0;
    shutdown_seen = false;
    n_chat_ok = n_notify_ok = 0;
    memset(n_login, 0, sizeof(n_login));
    fz_rooms_reset(c->room_capacity);
}

bool fz_model_told(unsigned conn)
{
    return models[conn].told;
}

const char *fz_model_id(unsigned conn)
{
    return models[conn].logged_in ? models[conn].id : NULL;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

/* ---- requests, framed from the delivered bytes ------------------------------ */

static void push_req(fz_model_t *m, uint8_t kind, uint16_t id, size_t off, size_t len)
{
    uint32_t arrived = now_ms;
    if (m->nreqs == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->reqs = realloc(m->reqs, m->cap * sizeof(*m->reqs));
        FZ_CHECK(m->reqs != NULL, "out of memory");
    }
    m->reqs[m->nreqs++] = (fz_req_t){kind, id, (uint32_t)off, (uint32_t)len, arrived};
}

static uint8_t kind_of(uint16_t id)
{
    switch (id) {
    case PROTO_DEV_ECHO:
        return RQ_ECHO;
    case PROTO_LOGIN_REQ:
        return RQ_LOGIN;
    case PROTO_ROOM_ENTER_REQ:
        return RQ_ENTER;
    case PROTO_ROOM_LEAVE_REQ:
        return RQ_LEAVE;
    case PROTO_ROOM_CHAT_REQ:
        return RQ_CHAT;
    case PROTO_PING_REQ:
        return RQ_PING;
    default:
        return RQ_UNKNOWN; /* internal, server-to-client or unknown: all 3 */
    }
}

/* Frames the delivered bytes of conn the way PROTOCOL.md describes. */
static void frame(unsigned conn)
{
    fz_model_t *m = &models[conn];
    const uint8_t *in = fz_net.conns[conn].in.p;
    while (!m->framing_dead && m->delivered - m->framed >= 2) {
        const uint8_t *p = in + m->framed;
        size_t plen = get16(p);
        if (plen < PROTO_HEADER_SIZE || plen > cfg.max_packet) {
            push_req(m, RQ_FRAMING, 0, m->framed, 0);
            m->framing_dead = true;
            return;
        }
        if (m->delivered - m->framed < plen)
            return;
        uint16_t id = get16(p + 2);
        uint8_t kind = p[4] != 0 ? RQ_BAD_TYPE : kind_of(id);
        push_req(m, kind, id, m->framed + PROTO_HEADER_SIZE, plen - PROTO_HEADER_SIZE);
        m->framed += plen;
    }
}

static fz_req_t *next_request(unsigned conn)
{
    fz_model_t *m = &models[conn];
    return m->head < m->nreqs ? &m->reqs[m->head] : NULL;
}

/* ---- C2: judging one answer --------------------------------------------------- */

typedef struct fz_answer {
    uint16_t id;
    uint16_t code; /* result, or ERROR_NTF code */
    uint16_t arg;  /* ERROR_NTF offending id */
    const uint8_t *body;
    size_t len;
} fz_answer_t;

static bool in_set(uint16_t code, const uint16_t *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (set[i] == code)
            return true;
    return false;
}

#define EXPECT(cond, conn, what)                                                                   \
    FZ_CHECK(cond, "conn %u: %s answered with %s %u (%s)", conn, what, proto_packet_name(a->id),   \
             a->code, proto_code_name(a->code))

/* The --login-attempts rules of session.c's header: from the second failure
 * on, the answer waits SESSION_BACKOFF_MS, doubling, at most
 * SESSION_BACKOFF_MAX_MS (so at least that long after the request arrived);
 * the limit-th failure closes with ERROR_NTF 10. A session that closed the
 * connection itself answers at once and counts nothing. */
static void login_failed(unsigned conn, const fz_req_t *r)
{
    fz_model_t *m = &models[conn];
    if (m->broken)
        return; /* answered at once, not counted */
    m->failures++;
    if (cfg.login_attempts != 0 && m->failures >= cfg.login_attempts) {
        m->expect_notice = PROTO_ERR_TOO_MANY_LOGIN_FAILURES;
        return;
    }
    if (m->failures < 2)
        return;
    uint32_t shift = m->failures - 2 < 8 ? m->failures - 2 : 8;
    uint32_t wait = SESSION_BACKOFF_MS << shift;
    wait = wait < SESSION_BACKOFF_MAX_MS ? wait : SESSION_BACKOFF_MAX_MS;
    FZ_CHECK(now_ms - r->arrived >= wait, "conn %u: failed login %u answered after %u ms, not %u",
             conn, m->failures, now_ms - r->arrived, wait);
}

static void judge_login(unsigned conn, const fz_req_t *r, const fz_answer_t *a)
{
    fz_model_t *m = &models[conn];
    proto_login_req_t lr;
    const uint8_t *body = fz_net.conns[conn].in.p + r->off;
    static const uint16_t fresh[] = {0, 31, 32, 33, 34}, special[] = {31, 32, 34};
    EXPECT(a->id == PROTO_LOGIN_RES, conn, "LOGIN_REQ");
    if (proto_decode_login_req(body, r->len, &lr) != PROTO_OK) {
        EXPECT(a->code == PROTO_LOGIN_INVALID_ID, conn, "an invalid LOGIN_REQ");
    } else if (m->logged_in) {
        EXPECT(a->code == PROTO_LOGIN_USER_ALREADY, conn, "a second LOGIN_REQ");
    } else if (strcmp(lr.user_id, FZ_ID_BUSY) == 0 || strcmp(lr.user_id, FZ_ID_DOWN) == 0) {
        EXPECT(in_set(a->code, special, 3), conn, "a login the backend cannot serve");
    } else {
        EXPECT(in_set(a->code, fresh, 5), conn, "LOGIN_REQ");
    }
    for (int i = 0; i < CHAT_LOGIN_CODES; i++)
        n_login[i] += chat_login_codes[i] == a->code;
    if (a->code == PROTO_LOGIN_USER_INVALID_PW)
        login_failed(conn, r);
    if (a->code != PROTO_OK)
        return;
    unsigned online = 1;
    for (unsigned i = 0; i < fz_net.nconns; i++) {
        if (i == conn || !models[i].logged_in || models[i].told)
            continue; /* (a told session may still log out: 31 is allowed) */
        online++;
        FZ_CHECK(strcmp(models[i].id, lr.user_id) != 0,
                 "conn %u logged in as '%s', still logged in on conn %u", conn, lr.user_id, i);
    }
    FZ_CHECK(online <= cfg.max_users, "%u users logged in, max_users is %u", online, cfg.max_users);
    m->logged_in = true;
    strcpy(m->id, lr.user_id);
}

static void judge_enter(unsigned conn, const fz_req_t *r, const fz_answer_t *a)
{
    fz_model_t *m = &models[conn];
    const uint8_t *b = fz_net.conns[conn].in.p + r->off;
    if (r->len != 4) {
        EXPECT(a->id == PROTO_ERROR_NTF && a->code == PROTO_ERR_BAD_BODY && a->arg == r->id, conn,
               "a ROOM_ENTER_REQ with a bad body");
        return;
    }
    int32_t room = (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                             (uint32_t)b[3] << 24);
    EXPECT(a->id == PROTO_ROOM_ENTER_RES, conn, "ROOM_ENTER_REQ");
    if (!m->logged_in || m->in_room) {
        EXPECT(a->code == PROTO_ENTER_ROOM_INVALID_USER_STATUS, conn, "an enter in a bad state");
    } else if (room < cfg.room_first || (int64_t)room - cfg.room_first >= cfg.room_count) {
        EXPECT(a->code == PROTO_ROOM_INVALID_INDEX, conn, "an enter out of range");
    } else if (a->code == PROTO_ENTER_ROOM_FULL_USER) {
        fz_rooms_check_full(room);
    } else {
        EXPECT(a->code == PROTO_OK, conn, "ROOM_ENTER_REQ");
        m->in_room = true;
        fz_rooms_entered(conn, room);
    }
}

static void judge_chat(unsigned conn, const fz_req_t *r, const fz_answer_t *a)
{
    proto_chat_req_t c;
    const uint8_t *body = fz_net.conns[conn].in.p + r->off;
    bool valid = proto_decode_room_chat_req(body, r->len, &c) == PROTO_OK;
    EXPECT(a->id == PROTO_ROOM_CHAT_RES, conn, "ROOM_CHAT_REQ");
    if (!models[conn].in_room) {
        /* PROTOCOL.md lists 81 first; protocol-notes.md says the body is
         * decoded before state checks (82). Both are accepted here. */
        EXPECT(a->code == PROTO_CHAT_ROOM_INVALID_ROOM_NUMBER ||
                   (!valid && a->code == PROTO_CHAT_INVALID_MESSAGE),
               conn, "a chat outside a room");
    } else if (!valid) {
        EXPECT(a->code == PROTO_CHAT_INVALID_MESSAGE, conn, "an invalid chat");
    } else {
        EXPECT(a->code == PROTO_OK || (cfg.rate_limited && a->code == PROTO_ROOM_TOO_MANY_PACKET),
               conn, "ROOM_CHAT_REQ");
    }
    if (a->code == PROTO_OK) {
        n_chat_ok++;
        fz_rooms_chat_accepted(conn, c.text, c.len);
    }
}

static void judge_small(unsigned conn, const fz_req_t *r, const fz_answer_t *a)
{
    const uint8_t *body = fz_net.conns[conn].in.p + r->off;
    uint16_t want_err = 0;
    if ((r->kind == RQ_LEAVE && r->len != 0) || (r->kind == RQ_PING && r->len != 8))
        want_err = PROTO_ERR_BAD_BODY;
    if (r->kind == RQ_FRAMING || r->kind == RQ_BAD_TYPE || r->kind == RQ_UNKNOWN)
        want_err = r->kind == RQ_FRAMING    ? PROTO_ERR_BAD_LENGTH
                   : r->kind == RQ_BAD_TYPE ? PROTO_ERR_BAD_TYPE
                                            : PROTO_ERR_UNKNOWN_PACKET;
    if (want_err != 0) {
        EXPECT(a->id == PROTO_ERROR_NTF && a->code == want_err && a->arg == r->id, conn,
               proto_code_name(want_err));
        return;
    }
    if (r->kind == RQ_ECHO) {
        EXPECT(a->id == PROTO_DEV_ECHO && a->len == r->len &&
                   (r->len == 0 || memcmp(a->body, body, r->len) == 0),
               conn, "DEV_ECHO");
    } else if (r->kind == RQ_PING) {
        EXPECT(a->id == PROTO_PING_RES && memcmp(a->body, body, 8) == 0, conn, "PING_REQ");
    } else { /* a leave with an empty body */
        EXPECT(a->id == PROTO_ROOM_LEAVE_RES, conn, "ROOM_LEAVE_REQ");
        if (!models[conn].in_room) {
            EXPECT(a->code == PROTO_LEAVE_ROOM_INVALID_ROOM_INDEX, conn, "a leave outside a room");
            return;
        }
        EXPECT(a->code == PROTO_OK, conn, "ROOM_LEAVE_REQ");
        models[conn].in_room = false;
        fz_rooms_left(conn);
    }
}

static void judge(unsigned conn, const fz_req_t *r, const fz_answer_t *a)
{
    switch (r->kind) {
    case RQ_LOGIN:
        judge_login(conn, r, a);
        break;
    case RQ_ENTER:
        judge_enter(conn, r, a);
        break;
    case RQ_CHAT:
        judge_chat(conn, r, a);
        break;
    default:
        judge_small(conn, r, a);
        break;
    }
    if (r->kind == RQ_FRAMING)
        models[conn].expect_close = true;
}

/* Matches an answer with the oldest unanswered request (C2). */
static void on_answer(unsigned conn, const fz_answer_t *a)
{
    fz_req_t *r = next_request(conn);
    FZ_CHECK(r != NULL, "conn %u: %s %u with no request waiting for it", conn,
             proto_packet_name(a->id), a->code);
    models[conn].head++;
    judge(conn, r, a);
}

/* A closing notice: ERROR_NTF 6..10, each only where its cause exists. */
static void on_notice(unsigned conn, const fz_answer_t *a)
{
    fz_model_t *m = &models[conn];
    bool why = false;
    switch (a->code) {
    case PROTO_ERR_IDLE_TIMEOUT:
        why = cfg.timeouts;
        break;
    case PROTO_ERR_SERVER_SHUTDOWN:
        why = shutdown_seen;
        break;
    case PROTO_ERR_TOO_MANY_CONNECTIONS:
        why = fz_net.conns[conn].refused && m->delivered == 0;
        break;
    case PROTO_ERR_TOO_MANY_LOGIN_FAILURES:
        why = m->expect_notice == a->code;
        break;
    default: /* 6 is the net layer's, never a chat actor's */
        break;
    }
    FZ_CHECK(why && a->arg == 0, "conn %u: unexpected ERROR_NTF %u (%u)", conn, a->code, a->arg);
    m->expect_notice = 0;
    m->expect_close = true; /* C3 */
}

/* A packet sent to one connection (not a room broadcast). */
static void on_packet(unsigned conn, const uint8_t *p, size_t len)
{
    fz_answer_t a = {.id = get16(p + 2), .body = p + PROTO_HEADER_SIZE};
    a.len = len - PROTO_HEADER_SIZE;
    if (a.id != PROTO_DEV_ECHO && a.len >= 2)
        a.code = get16(a.body);
    if (a.id == PROTO_ERROR_NTF) {
        a.arg = get16(a.body + 2);
        if (a.code >= PROTO_ERR_SLOW_CONSUMER && a.code <= PROTO_ERR_TOO_MANY_LOGIN_FAILURES) {
            on_notice(conn, &a);
            return;
        }
    }
    FZ_CHECK(a.id != PROTO_ROOM_NEW_USER_NTF && a.id != PROTO_ROOM_LEAVE_USER_NTF,
             "conn %u: room packet %s outside a broadcast", conn, proto_packet_name(a.id));
    /* Told of the close, a session answers nothing more; its room may. */
    FZ_CHECK(!models[conn].told || a.id == PROTO_ROOM_ENTER_RES ||
                 (a.id == PROTO_ROOM_LEAVE_RES && a.code == PROTO_OK),
             "conn %u: %s after the session was told of the close", conn, proto_packet_name(a.id));
    on_answer(conn, &a);
}

/* ---- the replay ------------------------------------------------------------- */

static bool is_broadcast_id(uint16_t id)
{
    return id == PROTO_ROOM_NEW_USER_NTF || id == PROTO_ROOM_LEAVE_USER_NTF ||
           id == PROTO_ROOM_CHAT_NOTIFY;
}

/* A room broadcast: the run of SEND events of one buffer starting at i.
 * Returns the index after it. */
static size_t replay_broadcast(size_t i, const fz_sent_buf_t *sb)
{
    unsigned recipients[FZ_MAX_CONNS];
    size_t n = 0, j = i;
    bool seen[FZ_MAX_CONNS] = {false};
    for (;
         j < fz_net.nev && fz_net.ev[j].kind == FZ_EV_SEND && fz_net.ev[j].buf == fz_net.ev[i].buf;
         j++) {
        unsigned c = fz_net.ev[j].conn;
        FZ_CHECK(!seen[c], "conn %u got one broadcast twice", c);
        FZ_CHECK(!models[c].expect_close, "conn %u: a room packet between a notice and the close",
                 c);
        seen[c] = true;
        recipients[n++] = c;
        if (cfg.trace)
            fz_net_trace(j);
        if (get16(sb->copy + 2) == PROTO_ROOM_CHAT_NOTIFY && fz_net.ev[j].rc == 0)
            n_notify_ok++;
    }
    fz_rooms_broadcast(sb->copy, sb->len, recipients, n);
    for (size_t k = i; k < j; k++)
        if (fz_net.ev[k].rc == -ENOBUFS)
            models[fz_net.ev[k].conn].closed = true; /* a slow consumer: net closes it */
    return j;
}

static void replay_send(const fz_event_t *e, const fz_sent_buf_t *sb)
{
    uint16_t id = get16(sb->copy + 2);
    if (id == PROTO_ROOM_USER_LIST_NTF) {
        fz_rooms_user_list(e->conn, sb->copy + PROTO_HEADER_SIZE, sb->len - PROTO_HEADER_SIZE);
        return;
    }
    fz_rooms_other_event();
    on_packet(e->conn, sb->copy, sb->len);
}

/* Rules that hold whatever the event: a refused connection gets its
 * notice and close only; a pending notice or close comes first (C3). */
static void check_order(const fz_event_t *e, const fz_sent_buf_t *sb)
{
    fz_model_t *m = &models[e->conn];
    bool notice = sb != NULL && get16(sb->copy + 2) == PROTO_ERROR_NTF;
    FZ_CHECK(!m->expect_close || e->kind == FZ_EV_CLOSE,
             "conn %u: a closing notice was not followed by the close", e->conn);
    FZ_CHECK(m->expect_notice == 0 ||
                 (notice && get16(sb->copy + PROTO_HEADER_SIZE) == m->expect_notice),
             "conn %u: ERROR_NTF %u did not follow", e->conn, m->expect_notice);
    FZ_CHECK(!fz_net.conns[e->conn].refused || notice || e->kind != FZ_EV_SEND,
             "conn %u: a refused connection got more than its notice", e->conn);
}

static void replay_other(const fz_event_t *e)
{
    fz_model_t *m = &models[e->conn];
    fz_rooms_other_event();
    if (e->kind == FZ_EV_DATA) {
        m->delivered = e->upto;
        frame(e->conn);
    } else if (e->kind == FZ_EV_EOF) {
        m->eof = true;
    } else {
        m->closed = true;
    }
    if (e->kind == FZ_EV_CLOSE) {
        /* C5: a half-closed client is flush-closed only once all is
         * answered; a cut (no flush: the parked-input limit) ends the
         * obligation. */
        FZ_CHECK(!m->eof || m->expect_close || m->broken || e->rc != 0 || !e->buf ||
                     next_request(e->conn) == NULL,
                 "conn %u: closed after its half-close with %zu of %zu requests answered", e->conn,
                 m->head, m->nreqs);
        m->expect_close = false;
        m->broken = !fz_net.conns[e->conn].refused;
    }
    m->told |= e->kind == FZ_EV_CLOSED;
}

void fz_check_replay(void)
{
    while (replayed < fz_net.nev) {
        const fz_event_t *e = &fz_net.ev[replayed];
        now_ms = e->ms;
        if (cfg.trace &&
            !(e->kind == FZ_EV_SEND && replayed > 0 && fz_net.ev[replayed - 1].kind == FZ_EV_SEND &&
              fz_net.ev[replayed - 1].buf == e->buf))
            fz_net_trace(replayed);
        if (e->kind == FZ_EV_TIMERS || e->kind == FZ_EV_SHUTDOWN) {
            shutdown_seen |= e->kind == FZ_EV_SHUTDOWN;
            replayed++;
            continue;
        }
        const fz_sent_buf_t *sb = e->kind == FZ_EV_SEND ? &fz_net.bufs[e->buf] : NULL;
        check_order(e, sb);
        if (sb != NULL && is_broadcast_id(get16(sb->copy + 2))) {
            replayed = replay_broadcast(replayed, sb);
            continue;
        }
        if (sb != NULL)
            replay_send(e, sb);
        else
            replay_other(e);
        if (e->rc == -ENOBUFS)
            models[e->conn].closed = true; /* a slow consumer: net closes it */
        replayed++;
    }
}

/* ---- C4: a settled server ----------------------------------------------------- */

void fz_check_settled(const chat_ctx_t *ctx)
{
    fz_check_replay();
    fz_rooms_other_event();
    uint64_t online = 0, unauth = 0;
    for (unsigned i = 0; i < fz_net.nconns; i++) {
        fz_model_t *m = &models[i];
        FZ_CHECK(!fz_rooms_chats_pending(i), "conn %u: an accepted chat was never broadcast", i);
        FZ_CHECK(!m->expect_close, "conn %u: a closing notice without a close", i);
        FZ_CHECK(!m->eof || m->closed, "conn %u: half-closed, all answered, never closed", i);
        if (!m->told) { /* its session lives: it counts */
            online += m->logged_in;
            unauth += !m->logged_in && !fz_net.conns[i].refused;
        }
        if (m->closed)
            continue;
        FZ_CHECK(next_request(i) == NULL,
                 "conn %u: a request was never answered (%zu of %zu answered)", i, m->head,
                 m->nreqs);
    }
    fz_rooms_settle();
    uint64_t members, rooms;
    fz_rooms_count(&members, &rooms);
    const chat_stats_t *st = &ctx->stats[0];
    FZ_CHECK(ck_pr_load_64((uint64_t *)&ctx->users_online) == online,
             "users_online is %llu, the clients see %llu logged in",
             (unsigned long long)ctx->users_online, (unsigned long long)online);
    FZ_CHECK(chat_unauth_count(ctx) == unauth, "unauth_conns is %llu, the clients see %llu",
             (unsigned long long)chat_unauth_count(ctx), (unsigned long long)unauth);
    FZ_CHECK(st->room_joins - st->room_leaves == members, "room members: server %llu, clients %llu",
             (unsigned long long)(st->room_joins - st->room_leaves), (unsigned long long)members);
    FZ_CHECK(st->rooms_created - st->rooms_freed == rooms, "rooms: server %llu, clients %llu",
             (unsigned long long)(st->rooms_created - st->rooms_freed), (unsigned long long)rooms);
    FZ_CHECK(st->chat_accepted == n_chat_ok && st->notifies_queued == n_notify_ok,
             "chat counters: accepted %llu/%llu, notifies %llu/%llu",
             (unsigned long long)st->chat_accepted, (unsigned long long)n_chat_ok,
             (unsigned long long)st->notifies_queued, (unsigned long long)n_notify_ok);
    for (int i = 0; i < CHAT_LOGIN_CODES; i++)
        FZ_CHECK(st->logins[i] == n_login[i], "LOGIN_RES %u counted %llu times, sent %llu",
                 chat_login_codes[i], (unsigned long long)st->logins[i],
                 (unsigned long long)n_login[i]);
}
