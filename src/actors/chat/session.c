/* session.c: the session actor (see session.h). Runs on whichever worker
 * the scheduler picks, one message at a time; all its output goes through
 * net_conn_send. Never blocks; never frees what another actor may read.
 *
 * Handling of one received packet, in the order PROTOCOL.md sets:
 *   framing error (length < 5 or > max_packet)  -> ERROR_NTF 4, then close
 *   type != 0                                   -> ERROR_NTF 2, packet ignored
 *   unknown / internal / server-to-client id    -> ERROR_NTF 3, packet ignored
 *   otherwise                                   -> the request's handler
 *
 * Responses in request order: while a login or an enter waits for its
 * answer (state LOGGING_IN / ENTERING), the session stops reading packets;
 * the rest of the current chunk stays in the reassembler and later chunks
 * are parked, in order, until the answer arrives.
 *
 * Limits a session enforces itself (docs/operations.md): it holds one of
 * the --max-unauth places from spawn until it logs in or ends; it must log
 * in within --unauth-timeout and say something every --idle-timeout (one
 * timer serves both deadlines); failed logins are answered ever slower
 * (SESSION_BACKOFF_MS doubling from the second failure) and the
 * --login-attempts'th failure closes the connection with ERROR_NTF 10. */
#include "session.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"
#include "login.h"
#include "timer.h"

typedef enum session_state {
    S_CONNECTED,  /* not logged in */
    S_LOGGING_IN, /* LOGIN_REQ sent to a login shard: input parked */
    S_LOGGED_IN,  /* in no room */
    S_ENTERING,   /* DIR_MSG_ENTER sent: input parked */
    S_IN_ROOM,
    S_LOGIN_BACKOFF, /* a failed login's answer is held back: input parked */
    S_LEAVING,       /* ROOM_MSG_LEAVE sent, the room answers: input parked */
} session_state_t;

typedef struct session {
    const chat_ctx_t *ctx;
    net_conn_t conn;
    actor_ref_t self;
    session_state_t state;
    bool closed; /* CLOSED arrived: exit once no answer is pending */
    bool broken; /* a framing error was answered: ignore all input */
    bool idle_closing;
    bool holds_unauth; /* one of the --max-unauth places (chat_unauth_acquire) */
    bool peer_done;    /* EOF arrived: close once every request is answered */
    proto_reasm_t reasm;
    msg_t *cur;                  /* DATA whose bytes the reassembler is reading */
    msg_t *parked, *parked_tail; /* later DATA, in arrival order */
    size_t parked_bytes;
    uint8_t id_len; /* the id of the pending or done login */
    char id[PROTO_ID_MAX_LEN + 1];
    chat_user_t *user; /* once logged in */
    actor_ref_t room;  /* in S_IN_ROOM */
    uint64_t tokens;   /* chat token bucket, in thousandths */
    uint64_t refilled_ms;
    uint64_t active_ms;     /* last input, for the idle timeout */
    uint64_t login_sent_ms; /* when the pending login went to its shard */
    uint64_t born_ms;       /* accepted: the --unauth-timeout clock */
    uint32_t login_failures;
    timer_id_t idle_timer;    /* both deadlines: --unauth-timeout, --idle-timeout */
    timer_id_t backoff_timer; /* S_LOGIN_BACKOFF */
} session_t;

/* ---- output ------------------------------------------------------------ */

static void send_error(session_t *s, uint16_t code, uint16_t offending_id)
{
    net_buf_t *b = chat_error_ntf(code, offending_id);
    if (b != NULL)
        chat_send_encoded(s->conn, b, net_buf_len(b));
}

static void on_dev_echo(session_t *s, const proto_packet_t *p)
{
    size_t size = PROTO_HEADER_SIZE + p->body_len;
    net_buf_t *b = net_buf_alloc(size);
    if (b != NULL)
        chat_send_encoded(s->conn, b,
                          proto_encode_dev_echo(net_buf_data(b), size, p->body, p->body_len));
}

static void on_ping(session_t *s, const proto_packet_t *p)
{
    enum { size = PROTO_HEADER_SIZE + 8 };
    uint64_t token;
    if (proto_decode_ping_req(p->body, p->body_len, &token) != PROTO_OK) {
        send_error(s, PROTO_ERR_BAD_BODY, p->hdr.id);
        return;
    }
    net_buf_t *b = net_buf_alloc(size);
    if (b != NULL)
        chat_send_encoded(s->conn, b, proto_encode_ping_res(net_buf_data(b), size, token));
}

/* ---- requests ------------------------------------------------------------ */

/* Sends LOGIN_RES and counts it (latency_ms < 0: answered at once). */
static void login_answer(session_t *s, uint16_t code, int64_t latency_ms)
{
    /* Counted first: a client that reads the answer then the metrics sees it. */
    chat_count_login(s->ctx, code, latency_ms);
    chat_send_result(s->conn, PROTO_LOGIN_RES, code);
}

static void on_login(session_t *s, const proto_packet_t *p)
{
    proto_login_req_t lr;
    if (proto_decode_login_req(p->body, p->body_len, &lr) != PROTO_OK) {
        login_answer(s, PROTO_LOGIN_INVALID_ID, -1);
        return;
    }
    if (s->state != S_CONNECTED) {
        login_answer(s, PROTO_LOGIN_USER_ALREADY, -1);
        return;
    }
    login_request_t req = {.req = login_req_new(s->self, &lr)};
    memset(lr.password, 0, sizeof(lr.password));
    if (req.req == NULL || chat_send(login_for(s->ctx, lr.user_id, lr.user_id_len),
                                     LOGIN_MSG_REQUEST, &req, sizeof(req)) == -ENOMEM) {
        login_req_free(req.req);
        login_answer(s, PROTO_LOGIN_BACKEND_UNAVAILABLE, -1);
        return;
    }
    s->login_sent_ms = timer_now_ms();
    memcpy(s->id, lr.user_id, lr.user_id_len + 1);
    s->id_len = (uint8_t)lr.user_id_len;
    s->state = S_LOGGING_IN;
}

static void on_enter(session_t *s, const proto_packet_t *p)
{
    int32_t room;
    const chat_config_t *cfg = &s->ctx->cfg;
    if (proto_decode_room_enter_req(p->body, p->body_len, &room) != PROTO_OK) {
        send_error(s, PROTO_ERR_BAD_BODY, p->hdr.id);
        return;
    }
    if (s->state != S_LOGGED_IN) {
        chat_send_result(s->conn, PROTO_ROOM_ENTER_RES, PROTO_ENTER_ROOM_INVALID_USER_STATUS);
        return;
    }
    if (room < cfg->room_first || (uint64_t)room - (uint64_t)cfg->room_first >= cfg->room_count) {
        chat_send_result(s->conn, PROTO_ROOM_ENTER_RES, PROTO_ROOM_INVALID_INDEX);
        return;
    }
    dir_enter_t e = {.user = chat_user_ref(s->user), .room = room};
    if (chat_send(directory_for(s->ctx, room), DIR_MSG_ENTER, &e, sizeof(e)) == -ENOMEM) {
        chat_user_unref(e.user);
        chat_send_result(s->conn, PROTO_ROOM_ENTER_RES, PROTO_ENTER_ROOM_FULL_USER);
        return;
    }
    s->state = S_ENTERING;
}

/* answer: an explicit ROOM_LEAVE_REQ, which the room answers (after the
 * notifies it queued for us) and confirms with LEAVE_DONE; until then later
 * requests wait, so that their answers do not overtake ROOM_LEAVE_RES. */
static void leave_room(session_t *s, bool answer)
{
    room_leave_t l = {.user = s->user, .answer = answer};
    int rc = chat_send(s->room, ROOM_MSG_LEAVE, &l, sizeof(l));
    s->room = ACTOR_REF_NULL;
    s->state = answer && rc == 0 ? S_LEAVING : S_LOGGED_IN;
    if (answer && rc != 0) /* out of memory: the room never heard of it */
        chat_send_result(s->conn, PROTO_ROOM_LEAVE_RES, PROTO_OK);
}

static void on_leave(session_t *s, const proto_packet_t *p)
{
    if (proto_decode_room_leave_req(p->body, p->body_len) != PROTO_OK) {
        send_error(s, PROTO_ERR_BAD_BODY, p->hdr.id);
        return;
    }
    if (s->state != S_IN_ROOM) {
        chat_send_result(s->conn, PROTO_ROOM_LEAVE_RES, PROTO_LEAVE_ROOM_INVALID_ROOM_INDEX);
        return;
    }
    leave_room(s, true); /* the room answers ROOM_LEAVE_RES in its own order */
}

/* Token bucket: chat_rate tokens a second, at most chat_burst saved. */
static bool take_token(session_t *s)
{
    const chat_config_t *cfg = &s->ctx->cfg;
    if (cfg->chat_rate == 0)
        return true;
    uint64_t now = timer_now_ms(), cap = (uint64_t)cfg->chat_burst * 1000;
    s->tokens += (now - s->refilled_ms) * cfg->chat_rate; /* thousandths per ms */
    if (s->tokens > cap)
        s->tokens = cap;
    s->refilled_ms = now;
    if (s->tokens < 1000)
        return false;
    s->tokens -= 1000;
    return true;
}

static void on_chat(session_t *s, const proto_packet_t *p)
{
    enum { size = PROTO_HEADER_SIZE + PROTO_CHAT_NOTIFY_BODY };
    proto_chat_req_t c;
    if (s->state != S_IN_ROOM) {
        chat_send_result(s->conn, PROTO_ROOM_CHAT_RES, PROTO_CHAT_ROOM_INVALID_ROOM_NUMBER);
        return;
    }
    if (proto_decode_room_chat_req(p->body, p->body_len, &c) != PROTO_OK) {
        chat_send_result(s->conn, PROTO_ROOM_CHAT_RES, PROTO_CHAT_INVALID_MESSAGE);
        return;
    }
    if (!take_token(s)) {
        chat_limit_hit(s->ctx, CHAT_LIMIT_CHAT_RATE,
                       "user %s chats faster than %u/s: ROOM_CHAT_RES 63", s->id,
                       s->ctx->cfg.chat_rate);
        chat_send_result(s->conn, PROTO_ROOM_CHAT_RES, PROTO_ROOM_TOO_MANY_PACKET);
        return;
    }
    room_chat_t rc = {.notify = net_buf_alloc(size)};
    if (rc.notify == NULL)
        return;
    proto_encode_room_chat_notify(net_buf_data(rc.notify), size, s->user->id, (const char *)c.text,
                                  c.len);
    /* The result is queued before the room can queue the notify: the sender
     * sees ROOM_CHAT_RES first (docs/chat-design.md, rule 1). */
    chat_send_result(s->conn, PROTO_ROOM_CHAT_RES, PROTO_OK);
    CHAT_COUNT(s->ctx, chat_accepted, 1);
    if (chat_send(s->room, ROOM_MSG_CHAT, &rc, sizeof(rc)) == -ENOMEM)
        net_buf_unref(rc.notify);
}

static void on_packet(session_t *s, const proto_packet_t *p)
{
    enum proto_code c = proto_classify_request(&p->hdr, s->ctx->cfg.max_packet);
    if (c != PROTO_OK) {
        send_error(s, (uint16_t)c, p->hdr.id);
        return;
    }
    switch (p->hdr.id) {
    case PROTO_DEV_ECHO:
        on_dev_echo(s, p);
        break;
    case PROTO_LOGIN_REQ:
        on_login(s, p);
        break;
    case PROTO_ROOM_ENTER_REQ:
        on_enter(s, p);
        break;
    case PROTO_ROOM_LEAVE_REQ:
        on_leave(s, p);
        break;
    case PROTO_ROOM_CHAT_REQ:
        on_chat(s, p);
        break;
    case PROTO_PING_REQ:
        on_ping(s, p);
        break;
    }
}

/* ---- input ------------------------------------------------------------- */

static bool waiting(const session_t *s)
{
    return s->state == S_LOGGING_IN || s->state == S_ENTERING || s->state == S_LOGIN_BACKOFF ||
           s->state == S_LEAVING;
}

static void drop_input(session_t *s)
{
    msg_free(s->cur);
    s->cur = NULL;
    while (s->parked != NULL) {
        msg_t *m = s->parked;
        s->parked = m->p.ptr[1];
        msg_free(m);
    }
    s->parked_tail = NULL;
    s->parked_bytes = 0;
}

/* Framing cannot be resynchronised: say why, flush, close. */
static void fail_framing(session_t *s, int why)
{
    if (why == PROTO_REASM_TOO_LONG)
        chat_limit_hit(s->ctx, CHAT_LIMIT_MAX_PACKET,
                       "a packet header announced more than %u bytes: ERROR_NTF 4, closed",
                       s->ctx->cfg.max_packet);
    send_error(s, PROTO_ERR_BAD_LENGTH, 0);
    (void)net_conn_close(s->conn, true);
    s->broken = true;
    drop_input(s);
}

/* Handles packets until the input runs out or an answer must be awaited. */
static void pump_input(session_t *s)
{
    while (!waiting(s) && !s->broken && !s->closed) {
        if (s->cur == NULL) {
            s->cur = s->parked;
            if (s->cur == NULL)
                return;
            s->parked = s->cur->p.ptr[1];
            if (s->parked == NULL)
                s->parked_tail = NULL;
            net_buf_t *b = s->cur->p.ptr[0];
            s->parked_bytes -= net_buf_len(b);
            proto_reasm_feed(&s->reasm, net_buf_data(b), net_buf_len(b));
        }
        proto_packet_t p;
        int rc = proto_reasm_next(&s->reasm, &p);
        if (rc == PROTO_REASM_PACKET) {
            on_packet(s, &p);
        } else if (rc == PROTO_REASM_NEED_MORE) {
            msg_free(s->cur);
            s->cur = NULL;
        } else {
            fail_framing(s, rc);
        }
    }
}

/* Handles packets until the input runs out or an answer must be awaited;
 * a client that has half-closed is closed (after the flush) once its last
 * request is answered. */
static void pump(session_t *s)
{
    pump_input(s);
    if (s->peer_done && !waiting(s) && s->cur == NULL && s->parked == NULL && !s->broken &&
        !s->closed) {
        (void)net_conn_close(s->conn, true);
        s->broken = true;
    }
}

static void on_data(session_t *s, msg_t *m)
{
    net_buf_t *b = m->p.ptr[0];
    s->active_ms = timer_now_ms();
    if (s->broken || s->closed) {
        msg_free(m);
        return;
    }
    s->parked_bytes += net_buf_len(b);
    m->p.ptr[1] = NULL;
    if (s->parked_tail != NULL)
        s->parked_tail->p.ptr[1] = m;
    else
        s->parked = m;
    s->parked_tail = m;
    size_t limit = s->user != NULL ? SESSION_PARK_LIMIT : SESSION_PARK_LIMIT_UNAUTH;
    if (waiting(s) && s->parked_bytes > limit) {
        /* Megabytes sent while a login or enter is pending: refuse to hold
         * more. PROTOCOL.md has no code for this; the connection is cut. */
        chat_limit_hit(s->ctx, CHAT_LIMIT_PARKED_INPUT,
                       "more than %u bytes sent behind a pending request: connection cut",
                       (unsigned)limit);
        (void)net_conn_close(s->conn, false);
        s->broken = true;
        drop_input(s);
        return;
    }
    pump(s);
}

/* ---- answers, close, timers --------------------------------------------- */

static void release_unauth(session_t *s)
{
    if (s->holds_unauth) {
        s->holds_unauth = false;
        chat_unauth_release(s->ctx);
    }
}

/* The connection is gone and no answer is pending: undo what the session
 * holds elsewhere (room membership, the login registry) and exit. */
static void finish(actor_t *self, session_t *s)
{
    if (s->state == S_IN_ROOM)
        leave_room(s, false);
    if (s->user != NULL) {
        login_logout_t l = {.id_len = s->id_len};
        memcpy(l.id, s->id, s->id_len);
        (void)chat_send(login_for(s->ctx, s->id, s->id_len), LOGIN_MSG_LOGOUT, &l, sizeof(l));
        chat_user_unref(s->user);
        s->user = NULL;
    }
    release_unauth(s);
    (void)timer_cancel(s->idle_timer);
    actor_exit(self);
}

/* Says why, flushes what is queued and closes; later input is ignored. */
static void close_with_error(session_t *s, uint16_t code)
{
    send_error(s, code, 0);
    (void)net_conn_close(s->conn, true);
    s->broken = true;
    drop_input(s);
}

/* A wrong password (LOGIN_RES 33). The first is answered at once; later
 * ones after SESSION_BACKOFF_MS, doubling, at most SESSION_BACKOFF_MAX_MS
 * (the input behind them waits too); the --login-attempts'th closes the
 * connection. Returns true when the answer was sent or held here. */
static bool on_login_failed(session_t *s)
{
    uint32_t limit = s->ctx->cfg.login_attempts;
    s->login_failures++;
    if (limit != 0 && s->login_failures >= limit) {
        chat_limit_hit(s->ctx, CHAT_LIMIT_LOGIN_ATTEMPTS,
                       "%u failed logins on one connection (last as %s): ERROR_NTF 10, closed",
                       s->login_failures, s->id);
        login_answer(s, PROTO_LOGIN_USER_INVALID_PW, (int64_t)(timer_now_ms() - s->login_sent_ms));
        close_with_error(s, PROTO_ERR_TOO_MANY_LOGIN_FAILURES);
        return true;
    }
    if (s->login_failures < 2)
        return false;
    uint32_t shift = s->login_failures - 2 < 8 ? s->login_failures - 2 : 8;
    uint32_t delay = SESSION_BACKOFF_MS << shift;
    if (delay > SESSION_BACKOFF_MAX_MS)
        delay = SESSION_BACKOFF_MAX_MS;
    if (timer_start(s->self, SESSION_MSG_LOGIN_BACKOFF, 0, delay, 0, &s->backoff_timer) != 0)
        return false; /* no timer: answer now rather than never */
    s->state = S_LOGIN_BACKOFF;
    return true;
}

static void on_login_done(actor_t *self, session_t *s, const session_login_done_t *d)
{
    uint16_t result = d->result;
    if (result == PROTO_OK) {
        s->user = chat_user_new(d->uid, s->conn, s->self, s->id, s->id_len);
        if (s->user == NULL) {
            login_logout_t l = {.id_len = s->id_len};
            memcpy(l.id, s->id, s->id_len);
            (void)chat_send(login_for(s->ctx, s->id, s->id_len), LOGIN_MSG_LOGOUT, &l, sizeof(l));
            result = PROTO_LOGIN_BACKEND_UNAVAILABLE;
        }
    }
    s->state = s->user != NULL ? S_LOGGED_IN : S_CONNECTED;
    if (s->user != NULL)
        release_unauth(s);
    if (s->closed) {
        finish(self, s);
        return;
    }
    if (result == PROTO_LOGIN_USER_INVALID_PW && !s->broken && on_login_failed(s))
        return;
    login_answer(s, result, (int64_t)(timer_now_ms() - s->login_sent_ms));
    pump(s);
}

/* The held answer to a failed login is due. */
static void on_login_backoff(actor_t *self, session_t *s, const msg_t *m)
{
    if (s->state != S_LOGIN_BACKOFF || !timer_msg_is(m, s->backoff_timer))
        return;
    s->state = S_CONNECTED;
    if (s->closed) {
        finish(self, s);
        return;
    }
    login_answer(s, PROTO_LOGIN_USER_INVALID_PW, (int64_t)(timer_now_ms() - s->login_sent_ms));
    pump(s);
}

static void on_enter_done(actor_t *self, session_t *s, const session_enter_done_t *d)
{
    if (d->result == PROTO_OK) {
        s->state = S_IN_ROOM;
        s->room = d->room;
    } else {
        s->state = S_LOGGED_IN;
    }
    if (s->closed)
        finish(self, s);
    else
        pump(s);
}

static void on_closed(actor_t *self, session_t *s)
{
    s->closed = true;
    drop_input(s);
    if (!waiting(s))
        finish(self, s);
}

/* The earlier of the session's two deadlines (UINT64_MAX: none): log in
 * within --unauth-timeout of connecting, send something every
 * --idle-timeout. *which says which one it is. */
static uint64_t next_deadline(const session_t *s, chat_limit_t *which)
{
    const chat_config_t *cfg = &s->ctx->cfg;
    uint64_t due = UINT64_MAX;
    if (cfg->idle_timeout_ms != 0) {
        due = s->active_ms + cfg->idle_timeout_ms;
        *which = CHAT_LIMIT_IDLE_TIMEOUT;
    }
    if (s->user == NULL && cfg->unauth_timeout_ms != 0 &&
        s->born_ms + cfg->unauth_timeout_ms < due) {
        due = s->born_ms + cfg->unauth_timeout_ms;
        *which = CHAT_LIMIT_UNAUTH_TIMEOUT;
    }
    return due;
}

static void arm_deadline(session_t *s, uint64_t now)
{
    chat_limit_t which;
    uint64_t due = next_deadline(s, &which);
    if (due != UINT64_MAX)
        (void)timer_start(s->self, SESSION_MSG_IDLE_CHECK, 0, due > now ? due - now : 0, 0,
                          &s->idle_timer);
}

/* The deadline timer: close a connection past a deadline (ERROR_NTF 7,
 * flush); if it does not drain within another 2 s (a peer that never
 * reads), cut it. */
static void on_deadline(session_t *s, const msg_t *m)
{
    if (s->closed || !timer_msg_is(m, s->idle_timer))
        return;
    if (s->idle_closing) {
        (void)net_conn_close(s->conn, false);
        return;
    }
    uint64_t now = timer_now_ms();
    chat_limit_t which;
    if (next_deadline(s, &which) > now) {
        arm_deadline(s, now);
        return;
    }
    if (which == CHAT_LIMIT_UNAUTH_TIMEOUT)
        chat_limit_hit(s->ctx, which, "a connection did not log in within %u s: ERROR_NTF 7",
                       s->ctx->cfg.unauth_timeout_ms / 1000);
    else
        chat_limit_hit(s->ctx, which, "a client was silent for %u s: ERROR_NTF 7",
                       s->ctx->cfg.idle_timeout_ms / 1000);
    close_with_error(s, PROTO_ERR_IDLE_TIMEOUT);
    s->idle_closing = true;
    (void)timer_start(s->self, SESSION_MSG_IDLE_CHECK, 0, 2000, 0, &s->idle_timer);
}

static void on_shutdown(session_t *s)
{
    if (s->closed)
        return;
    send_error(s, PROTO_ERR_SERVER_SHUTDOWN, 0);
    (void)net_conn_close(s->conn, true);
    s->broken = true;
}

static void session_behaviour(actor_t *self, msg_t *m)
{
    session_t *s = actor_state(self);
    switch (m->type) {
    case SESSION_MSG_DATA:
        on_data(s, m); /* keeps m while its bytes are unread */
        return;
    case SESSION_MSG_LOGIN_DONE: {
        session_login_done_t d;
        CHAT_GET(m, d);
        on_login_done(self, s, &d);
        break;
    }
    case SESSION_MSG_ENTER_DONE: {
        session_enter_done_t d;
        CHAT_GET(m, d);
        on_enter_done(self, s, &d);
        break;
    }
    case SESSION_MSG_CLOSED:
        on_closed(self, s);
        break;
    case SESSION_MSG_IDLE_CHECK:
        on_deadline(s, m);
        break;
    case SESSION_MSG_LOGIN_BACKOFF:
        on_login_backoff(self, s, m);
        break;
    case SESSION_MSG_SHUTDOWN:
        on_shutdown(s);
        break;
    case SESSION_MSG_LEAVE_DONE:
        if (s->state == S_LEAVING) {
            s->state = S_LOGGED_IN;
            if (s->closed)
                finish(self, s);
            else
                pump(s);
        }
        break;
    case SESSION_MSG_EOF:
        s->peer_done = true; /* after every DATA: the worker sent those first */
        pump(s);
        break;
    }
    msg_free(m);
}

static void session_on_exit(actor_t *self, void *state)
{
    (void)self;
    session_t *s = state;
    drop_input(s);
    chat_user_unref(s->user);
    release_unauth(s);
    proto_reasm_free(&s->reasm);
    free(s);
}

static const actor_type_t session_type = {
    .name = "session",
    .behaviour = session_behaviour,
    .on_exit = session_on_exit,
};

int session_spawn(const chat_ctx_t *ctx, net_conn_t conn, actor_ref_t *out)
{
    if (!chat_unauth_acquire(ctx)) {
        chat_limit_hit(ctx, CHAT_LIMIT_MAX_UNAUTH,
                       "%u connections have not logged in yet; refusing new ones with "
                       "ERROR_NTF 9",
                       ctx->cfg.max_unauth);
        return -EBUSY;
    }
    session_t *s = calloc(1, sizeof(*s));
    int rc = s != NULL ? proto_reasm_init(&s->reasm, ctx->cfg.max_packet) : -ENOMEM;
    if (rc == 0) {
        s->ctx = ctx;
        s->conn = conn;
        s->holds_unauth = true;
        s->born_ms = s->active_ms = s->refilled_ms = timer_now_ms();
        s->tokens = (uint64_t)ctx->cfg.chat_burst * 1000;
        rc = actor_spawn(ctx->sched, &session_type, s, out);
        if (rc != 0)
            proto_reasm_free(&s->reasm);
    }
    if (rc != 0) {
        chat_unauth_release(ctx);
        free(s);
        return rc;
    }
    s->self = *out;
    arm_deadline(s, s->born_ms);
    return 0;
}

static void drop_data(msg_t *m)
{
    net_buf_unref(m->p.ptr[0]);
}

msg_t *session_data_msg(const uint8_t *data, size_t len)
{
    net_buf_t *b = net_buf_alloc(len);
    if (b == NULL)
        return NULL;
    memcpy(net_buf_data(b), data, len);
    msg_t *m = msg_alloc(SESSION_MSG_DATA);
    if (m == NULL) {
        net_buf_unref(b);
        return NULL;
    }
    m->p.ptr[0] = b;
    m->drop = drop_data;
    return m;
}

msg_t *session_closed_msg(net_close_reason_t reason)
{
    session_closed_t c = {.reason = reason};
    msg_t *m = msg_alloc(SESSION_MSG_CLOSED);
    if (m != NULL)
        CHAT_PUT(m, c);
    return m;
}
