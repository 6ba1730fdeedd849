/* rcb_ringchat.c: the ringchat target of ringchat-bench: log in (LOGIN_REQ
 * with id PREFIX-INDEX), enter the member's room, then send ROOM_CHAT_REQ and
 * count ROOM_CHAT_RES (acks) and ROOM_CHAT_NOTIFY (deliveries); with --churn,
 * hand the answers of a churning member to rcb_churn.c. Every packet
 * goes through src/proto: encoders, the stream reassembler and the decoders.
 * Called on the connection's loop thread only. Never allocates per message:
 * packets are encoded into the connection's output buffer and decoded in
 * place (proto_reasm copies only a packet split across two reads). */
#include "rcb.h"

#include <stdio.h>

static uint32_t ringchat_out_cap(const rcb_opts_t *o, rcb_role_t role)
{
    (void)role;
    uint32_t pkt = PROTO_HEADER_SIZE + o->size;
    if (o->senders <= 0)
        return 128; /* LOGIN_REQ (71 bytes) and ROOM_ENTER_REQ (9) */
    /* Closed loop: the window; open loop: some backlog, the rest stays owed. */
    uint32_t msgs = o->rate > 0 ? 32 : o->inflight;
    return 128 + msgs * pkt;
}

static void ringchat_on_connected(rcb_thread_t *t, rcb_conn_t *c)
{
    char id[PROTO_ID_FIELD];
    uint8_t pkt[PROTO_HEADER_SIZE + PROTO_LOGIN_REQ_BODY];
    snprintf(id, sizeof(id), "%s-%u", t->o->id_prefix, c->m->idx);
    size_t n = proto_encode_login_req(pkt, sizeof(pkt), id, t->o->password);
    c->step = 0;
    if (n == 0 || !rcb_out_append(c, pkt, n))
        rcb_conn_fail(t, c, RCB_ERR_LOGIN);
}

static bool ringchat_encode_chat(rcb_thread_t *t, rcb_conn_t *c, const char *text, uint32_t len)
{
    (void)t;
    size_t room = c->out_cap - c->out_len;
    if (room < PROTO_HEADER_SIZE + len)
        return false;
    /* Short form: the body is exactly the text (the server accepts 1..257). */
    size_t n = proto_encode_room_chat_req_short(c->out + c->out_len, room, text, len);
    c->out_len += (uint32_t)n;
    return n > 0;
}

/* A *_RES body, or -1 if malformed. */
static int result_of(const proto_packet_t *p)
{
    uint16_t r;
    return proto_decode_result(p->body, p->body_len, &r) == 0 ? r : -1;
}

static void on_login_res(rcb_thread_t *t, rcb_conn_t *c, int r)
{
    if (r != PROTO_OK && c->step == 0 && rcb_churn_on_login_refused(t, c, r))
        return;
    if (r != PROTO_OK || c->step != 0) {
        rcb_conn_fail(t, c, RCB_ERR_LOGIN);
        return;
    }
    uint8_t pkt[PROTO_HEADER_SIZE + 4];
    size_t n = proto_encode_room_enter_req(pkt, sizeof(pkt), (int32_t)c->m->room);
    c->step = 1;
    if (!rcb_out_append(c, pkt, n)) {
        rcb_conn_fail(t, c, RCB_ERR_ENTER);
        return;
    }
    rcb_mark_dirty(t, c);
}

static void on_chat_res(rcb_thread_t *t, rcb_conn_t *c, int r)
{
    if (r == PROTO_OK)
        rcb_on_ack(t, c->m);
    else
        rcb_on_reject(t, c->m,
                      r == PROTO_ROOM_TOO_MANY_PACKET ? RCB_ERR_RATE_LIMITED
                                                      : RCB_ERR_CHAT_REJECTED);
}

/* One whole packet from the server. -1 if it is not what the protocol allows. */
static int on_packet(rcb_thread_t *t, rcb_conn_t *c, const proto_packet_t *p)
{
    switch (p->hdr.id) {
    case PROTO_LOGIN_RES:
        on_login_res(t, c, result_of(p));
        return 0;
    case PROTO_ROOM_ENTER_RES:
        if (c->m->churn == RCB_CHURN_ENTER)
            rcb_churn_on_enter_res(t, c, result_of(p));
        else if (result_of(p) == PROTO_OK && c->step == 1)
            rcb_conn_ready(t, c);
        else
            rcb_conn_fail(t, c, RCB_ERR_ENTER);
        return 0;
    case PROTO_ROOM_CHAT_RES:
        on_chat_res(t, c, result_of(p));
        return 0;
    case PROTO_ROOM_LEAVE_RES:
        if (c->m->churn != RCB_CHURN_LEAVE)
            return -1; /* only a churner leaves */
        rcb_churn_on_leave_res(t, c, result_of(p));
        return 0;
    case PROTO_ROOM_CHAT_NOTIFY: {
        proto_chat_notify_t n;
        if (proto_decode_room_chat_notify(p->body, p->body_len, &n) != 0)
            return -1;
        rcb_on_delivery(t, c->m, (const uint8_t *)n.text, n.text_len,
                        PROTO_HEADER_SIZE + p->body_len);
        return 0;
    }
    case PROTO_ERROR_NTF:
        rcb_count(&t->c.errors[RCB_ERR_ERROR_NTF], 1);
        return 0;
    case PROTO_ROOM_USER_LIST_NTF:
    case PROTO_ROOM_NEW_USER_NTF:
    case PROTO_ROOM_LEAVE_USER_NTF:
    case PROTO_PING_RES:
        return 0; /* membership news: not measured */
    default:
        return -1;
    }
}

static int ringchat_on_data(rcb_thread_t *t, rcb_conn_t *c, uint8_t *data, size_t n)
{
    proto_reasm_feed(&c->reasm, data, n);
    for (;;) {
        proto_packet_t p;
        int r = proto_reasm_next(&c->reasm, &p);
        if (r == PROTO_REASM_NEED_MORE)
            return 0;
        if (r != PROTO_REASM_PACKET || on_packet(t, c, &p) != 0)
            return -1;
        if (c->state == RCB_ST_DEAD)
            return -1; /* failed while handling the packet (already counted) */
        if (c->state == RCB_ST_NEW)
            return 0; /* churn closed it to reconnect: the rest of the stream is moot */
    }
}

const rcb_target_t rcb_target_ringchat = {
    .name = "ringchat",
    .on_connected = ringchat_on_connected,
    .on_data = ringchat_on_data,
    .encode_chat = ringchat_encode_chat,
    .out_cap = ringchat_out_cap,
};
