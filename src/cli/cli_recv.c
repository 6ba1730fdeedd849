/* cli_recv.c: what ringchat-cli does with each packet from the server:
 * match answers to pending requests, keep the room's member map, and print
 * one timestamped line per event, with result codes by name.
 * Called by cli_loop.c for every reassembled packet, in arrival order.
 * It must never print network text unescaped and never trust a body: every
 * body goes through a src/proto decoder first; a malformed one is reported.
 * Invariant: an answer removes exactly one pending entry (the oldest of its
 * kind, or the ping with its token). */
#include "cli.h"

#include <string.h>

#define CLI_MEMBERS_LINE 3500 /* a member list wraps to a new line here */

void cli_pending_push(cli_t *c, const cli_pending_t *p)
{
    if (c->npend == CLI_PENDING_MAX) { /* cannot happen: may_run keeps room for a /join */
        cli_fatal(c, "too many requests in flight");
        return;
    }
    if (c->npend + c->own_notifies == 0) /* the first answer due: start the clock */
        c->answer_by_ms = cli_now_ms() + CLI_ANSWER_MS;
    c->pend[c->npend++] = *p;
}

/* Removes the oldest pending request of kind req (if token is not NULL: the
 * one with that token) into *out. -> false if none is pending. */
static bool pending_pop(cli_t *c, uint16_t req, const uint64_t *token, cli_pending_t *out)
{
    for (size_t i = 0; i < c->npend; i++) {
        if (c->pend[i].req != req || (token != NULL && c->pend[i].token != *token))
            continue;
        *out = c->pend[i];
        memmove(&c->pend[i], &c->pend[i + 1], (c->npend - i - 1) * sizeof(c->pend[0]));
        c->npend--;
        return true;
    }
    return false;
}

static void malformed(cli_t *c, const proto_packet_t *pkt)
{
    cli_out_line(&c->out, "malformed %s from the server (%zu body bytes)",
                 proto_packet_name(pkt->hdr.id), pkt->body_len);
}

/* Prints head, then self marked "(you)" if not NULL, then the ids, escaped;
 * a long list wraps over several lines. */
static void print_members(cli_t *c, const char *head, const char *self, const cli_member_t *m,
                          size_t n)
{
    char line[CLI_MEMBERS_LINE + CLI_ESCAPED_MAX(PROTO_ID_MAX_LEN) + 16];
    size_t len = (size_t)snprintf(line, sizeof(line), "%s", head);
    bool first = self == NULL;
    if (self != NULL) {
        len += cli_escape(self, strlen(self), line + len, sizeof(line) - len);
        len += (size_t)snprintf(line + len, sizeof(line) - len, " (you)");
    }
    for (size_t i = 0; i < n; i++) {
        if (!first && len > CLI_MEMBERS_LINE) {
            cli_out_line(&c->out, "%s,", line);
            len = (size_t)snprintf(line, sizeof(line), "  ");
        } else if (!first) {
            len += (size_t)snprintf(line + len, sizeof(line) - len, ", ");
        }
        len += cli_escape(m[i].id, strlen(m[i].id), line + len, sizeof(line) - len);
        first = false;
    }
    cli_out_line(&c->out, "%s", line);
}

void cli_print_who(cli_t *c)
{
    if (!c->room.in_room) {
        cli_out_line(&c->out, "not in a room");
        return;
    }
    char head[64];
    snprintf(head, sizeof(head), "room %d (%zu member%s): ", (int)c->room.number, c->room.n + 1,
             c->room.n ? "s" : "");
    print_members(c, head, c->opts->user, c->room.m, c->room.n);
}

static void on_login_res(cli_t *c, uint16_t r, const cli_pending_t *p)
{
    (void)p;
    if (r != PROTO_OK) {
        cli_fatal(c, "login failed: %s (%u)", proto_code_name(r), r);
        return;
    }
    if (c->state == CLI_LOGGING_IN)
        c->state = CLI_READY;
    cli_out_line(&c->out, "logged in as %s on %s port %s", c->opts->user, c->opts->host,
                 c->opts->port);
}

static void on_enter_res(cli_t *c, uint16_t r, const cli_pending_t *p)
{
    if (r != PROTO_OK) {
        cli_out_line(&c->out, "join %d failed: %s (%u)", (int)p->room, proto_code_name(r), r);
        return;
    }
    c->room.in_room = true;
    c->room.number = p->room;
    cli_room_clear(&c->room);
    cli_out_line(&c->out, "joined room %d", (int)p->room);
}

static void on_leave_res(cli_t *c, uint16_t r, const cli_pending_t *p)
{
    (void)p;
    if (r != PROTO_OK) {
        cli_out_line(&c->out, "leave failed: %s (%u)", proto_code_name(r), r);
        return;
    }
    cli_out_line(&c->out, "left room %d", (int)c->room.number);
    c->room.in_room = false;
    cli_room_clear(&c->room);
}

static void on_chat_res(cli_t *c, uint16_t r, const cli_pending_t *p)
{
    (void)p;
    if (r == PROTO_OK)
        c->own_notifies++; /* our notify follows the result (PROTOCOL.md) */
    else
        cli_out_line(&c->out, "message refused: %s (%u)", proto_code_name(r), r);
}

/* Every *_RES: a u16 result answering the oldest request of its kind. */
static void on_result(cli_t *c, const proto_packet_t *pkt, uint16_t req,
                      void (*fn)(cli_t *, uint16_t, const cli_pending_t *))
{
    uint16_t r;
    cli_pending_t p;
    if (proto_decode_result(pkt->body, pkt->body_len, &r) != 0) {
        malformed(c, pkt);
        return;
    }
    if (!pending_pop(c, req, NULL, &p)) {
        cli_out_line(&c->out, "unexpected %s: %s (%u)", proto_packet_name(pkt->hdr.id),
                     proto_code_name(r), r);
        return;
    }
    fn(c, r, &p);
}

static void on_user_list(cli_t *c, const proto_packet_t *pkt)
{
    proto_user_list_iter_t it;
    proto_user_t u;
    unsigned count;
    if (proto_user_list_begin(pkt->body, pkt->body_len, &it, &count) != 0) {
        malformed(c, pkt);
        return;
    }
    size_t first = c->room.n;
    while (proto_user_list_next(&it, &u))
        if (cli_room_add(&c->room, u.uid, u.id) != 0)
            cli_fatal(c, "out of memory");
    char head[64];
    snprintf(head, sizeof(head), "members of room %d: ", (int)c->room.number);
    print_members(c, head, NULL, c->room.m + first, c->room.n - first);
}

static void on_new_user(cli_t *c, const proto_packet_t *pkt)
{
    proto_user_t u;
    char id[CLI_ESCAPED_MAX(PROTO_ID_MAX_LEN)];
    if (proto_decode_room_new_user_ntf(pkt->body, pkt->body_len, &u) != 0) {
        malformed(c, pkt);
        return;
    }
    if (cli_room_add(&c->room, u.uid, u.id) != 0)
        cli_fatal(c, "out of memory");
    cli_escape(u.id, u.id_len, id, sizeof(id));
    cli_out_line(&c->out, "* %s joined room %d", id, (int)c->room.number);
}

static void on_leave_user(cli_t *c, const proto_packet_t *pkt)
{
    int64_t uid;
    char raw[PROTO_ID_MAX_LEN + 1], id[CLI_ESCAPED_MAX(PROTO_ID_MAX_LEN)];
    if (proto_decode_room_leave_user_ntf(pkt->body, pkt->body_len, &uid) != 0) {
        malformed(c, pkt);
        return;
    }
    if (cli_room_remove(&c->room, uid, raw))
        cli_escape(raw, strlen(raw), id, sizeof(id));
    else
        snprintf(id, sizeof(id), "user #%lld", (long long)uid);
    cli_out_line(&c->out, "* %s left room %d", id, (int)c->room.number);
}

static void on_chat(cli_t *c, const proto_packet_t *pkt)
{
    proto_chat_notify_t n;
    char id[CLI_ESCAPED_MAX(PROTO_ID_MAX_LEN)], text[CLI_ESCAPED_MAX(PROTO_MSG_FIELD)];
    if (proto_decode_room_chat_notify(pkt->body, pkt->body_len, &n) != 0) {
        malformed(c, pkt);
        return;
    }
    if (c->own_notifies > 0 && strcmp(n.user_id, c->opts->user) == 0)
        c->own_notifies--;
    cli_escape(n.user_id, n.user_id_len, id, sizeof(id));
    cli_escape(n.text, n.text_len, text, sizeof(text));
    cli_out_line(&c->out, "%s: %s", id, text);
}

static void on_ping(cli_t *c, const proto_packet_t *pkt)
{
    uint64_t token;
    cli_pending_t p;
    if (proto_decode_ping_res(pkt->body, pkt->body_len, &token) != 0) {
        malformed(c, pkt);
        return;
    }
    if (!pending_pop(c, PROTO_PING_REQ, &token, &p)) {
        cli_out_line(&c->out, "unexpected PING_RES (token %llu)", (unsigned long long)token);
        return;
    }
    if (p.silent)
        return;
    double ms = (double)(cli_now_ns() - p.sent_ns) / 1e6;
    cli_out_line(&c->out, "pong %llu in %.2f ms", (unsigned long long)token, ms);
}

static void on_error(cli_t *c, const proto_packet_t *pkt)
{
    uint16_t code, id;
    cli_pending_t p;
    if (proto_decode_error_ntf(pkt->body, pkt->body_len, &code, &id) != 0) {
        malformed(c, pkt);
        return;
    }
    /* A refused request gets no other answer than this one. */
    pending_pop(c, id, NULL, &p);
    cli_out_line(&c->out, "server error: %s (%u)%s%s", proto_code_name(code), code,
                 id ? " about " : "", id ? proto_packet_name(id) : "");
}

void cli_handle_packet(cli_t *c, const proto_packet_t *pkt)
{
    switch (pkt->hdr.id) {
    case PROTO_LOGIN_RES:
        on_result(c, pkt, PROTO_LOGIN_REQ, on_login_res);
        break;
    case PROTO_ROOM_ENTER_RES:
        on_result(c, pkt, PROTO_ROOM_ENTER_REQ, on_enter_res);
        break;
    case PROTO_ROOM_LEAVE_RES:
        on_result(c, pkt, PROTO_ROOM_LEAVE_REQ, on_leave_res);
        break;
    case PROTO_ROOM_CHAT_RES:
        on_result(c, pkt, PROTO_ROOM_CHAT_REQ, on_chat_res);
        break;
    case PROTO_ROOM_USER_LIST_NTF:
        on_user_list(c, pkt);
        break;
    case PROTO_ROOM_NEW_USER_NTF:
        on_new_user(c, pkt);
        break;
    case PROTO_ROOM_LEAVE_USER_NTF:
        on_leave_user(c, pkt);
        break;
    case PROTO_ROOM_CHAT_NOTIFY:
        on_chat(c, pkt);
        break;
    case PROTO_PING_RES:
        on_ping(c, pkt);
        break;
    case PROTO_ERROR_NTF:
        on_error(c, pkt);
        break;
    default:
        cli_out_line(&c->out, "unexpected packet %s (id %u, %zu body bytes)",
                     proto_packet_name(pkt->hdr.id), pkt->hdr.id, pkt->body_len);
    }
}
