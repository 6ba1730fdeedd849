/* chat.c: helpers shared by the chat actors: the refcounted user identity
 * and sending a typed payload. Any thread; never blocks. */
#include "chat.h"

#include <stdlib.h>

#include "ckpr.h"
#include "login.h"

chat_user_t *chat_user_new(int64_t uid, net_conn_t conn, actor_ref_t session, const char *id,
                           size_t id_len)
{
    if (id_len == 0 || id_len > PROTO_ID_MAX_LEN)
        return NULL;
    chat_user_t *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return NULL;
    u->refs = 1;
    u->uid = uid;
    u->conn = conn;
    u->session = session;
    u->id_len = (uint8_t)id_len;
    memcpy(u->id, id, id_len);
    return u;
}

chat_user_t *chat_user_ref(chat_user_t *u)
{
    /* Any holder may add a reference; the count is > 0 while it holds one. */
    ck_pr_inc_32(&u->refs);
    return u;
}

void chat_user_unref(chat_user_t *u)
{
    if (u == NULL)
        return;
    /* The fully ordered decrement makes every holder's reads of *u happen
     * before the free by whoever drops the last reference. */
    if (ck_pr_faa_32(&u->refs, (uint32_t)-1) == 1)
        free(u);
}

/* Releases what an undelivered message holds (its actor exited first), or
 * what a behaviour did not take: every path frees a payload's reference
 * exactly once. A behaviour that takes the reference sets m->drop = NULL. */
static void chat_msg_drop(msg_t *m)
{
    switch (m->type) {
    case DIR_MSG_ENTER:
    case ROOM_MSG_ENTER: {
        room_enter_t e; /* dir_enter_t starts with the same user pointer */
        CHAT_GET(m, e);
        chat_user_unref(e.user);
        break;
    }
    case ROOM_MSG_CHAT: {
        room_chat_t c;
        CHAT_GET(m, c);
        net_buf_unref(c.notify);
        break;
    }
    case LOGIN_MSG_REQUEST: {
        login_request_t r;
        CHAT_GET(m, r);
        login_req_free(r.req);
        break;
    }
    default:
        break;
    }
}

int chat_send(actor_ref_t to, uint32_t type, const void *payload, size_t len)
{
    if (len > MSG_PAYLOAD_SIZE)
        return -EINVAL;
    msg_t *m = msg_alloc(type);
    if (m == NULL)
        return -ENOMEM;
    if (len != 0)
        memcpy(m->p.bytes, payload, len);
    m->drop = chat_msg_drop;
    return actor_send(to, m);
}

void chat_send_result(net_conn_t conn, uint16_t packet_id, uint16_t result)
{
    enum { size = PROTO_HEADER_SIZE + PROTO_RESULT_BODY };
    net_buf_t *b = net_buf_alloc(size);
    if (b == NULL)
        return;
    uint8_t *p = net_buf_data(b);
    size_t n = 0;
    switch (packet_id) {
    case PROTO_LOGIN_RES:
        n = proto_encode_login_res(p, size, result);
        break;
    case PROTO_ROOM_ENTER_RES:
        n = proto_encode_room_enter_res(p, size, result);
        break;
    case PROTO_ROOM_LEAVE_RES:
        n = proto_encode_room_leave_res(p, size, result);
        break;
    case PROTO_ROOM_CHAT_RES:
        n = proto_encode_room_chat_res(p, size, result);
        break;
    }
    chat_send_encoded(conn, b, n);
}

void chat_send_encoded(net_conn_t conn, net_buf_t *b, size_t n)
{
    if (n != 0) {
        net_buf_truncate(b, n);
        (void)net_conn_send(conn, b);
    }
    net_buf_unref(b);
}

net_buf_t *chat_error_ntf(uint16_t code, uint16_t offending_id)
{
    enum { size = PROTO_HEADER_SIZE + PROTO_ERROR_NTF_BODY };
    net_buf_t *b = net_buf_alloc(size);
    if (b != NULL)
        proto_encode_error_ntf(net_buf_data(b), size, code, offending_id);
    return b;
}

chat_stats_t *chat_stats_mine(const chat_ctx_t *ctx)
{
    int w = sched_current_worker(ctx->sched);
    return w >= 0 ? &ctx->stats[w] : NULL;
}

const uint16_t chat_login_codes[CHAT_LOGIN_CODES] = {
    PROTO_OK,
    PROTO_LOGIN_USER_ALREADY,
    PROTO_LOGIN_USER_USED_ALL_OBJ,
    PROTO_LOGIN_USER_INVALID_PW,
    PROTO_LOGIN_BACKEND_UNAVAILABLE,
    PROTO_LOGIN_INVALID_ID,
};

const uint32_t chat_login_bucket_ms[CHAT_LOGIN_BUCKETS] = {1,   5,   10,   25,   50,
                                                           100, 250, 1000, 2500, 5000};

void chat_count_login(const chat_ctx_t *ctx, uint16_t code, int64_t latency_ms)
{
    chat_stats_t *st = chat_stats_mine(ctx);
    if (st == NULL)
        return;
    for (int i = 0; i < CHAT_LOGIN_CODES; i++)
        if (chat_login_codes[i] == code)
            ck_pr_store_64(&st->logins[i], st->logins[i] + 1);
    if (latency_ms < 0)
        return;
    int b = 0;
    while (b < CHAT_LOGIN_BUCKETS && (uint64_t)latency_ms > chat_login_bucket_ms[b])
        b++;
    ck_pr_store_64(&st->login_ms[b], st->login_ms[b] + 1);
    ck_pr_store_64(&st->login_ms_sum, st->login_ms_sum + (uint64_t)latency_ms);
}

void chat_stats_sum(const chat_ctx_t *ctx, unsigned nworkers, chat_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned w = 0; w < nworkers; w++) {
        chat_stats_t *st = &ctx->stats[w];
        out->chat_accepted += ck_pr_load_64(&st->chat_accepted);
        out->notifies_queued += ck_pr_load_64(&st->notifies_queued);
        out->rooms_created += ck_pr_load_64(&st->rooms_created);
        out->rooms_freed += ck_pr_load_64(&st->rooms_freed);
        out->room_joins += ck_pr_load_64(&st->room_joins);
        out->room_leaves += ck_pr_load_64(&st->room_leaves);
        for (int i = 0; i < CHAT_LOGIN_CODES; i++)
            out->logins[i] += ck_pr_load_64(&st->logins[i]);
        for (int i = 0; i <= CHAT_LOGIN_BUCKETS; i++)
            out->login_ms[i] += ck_pr_load_64(&st->login_ms[i]);
        out->login_ms_sum += ck_pr_load_64(&st->login_ms_sum);
        for (int i = 0; i < CHAT_LIMITS; i++)
            out->limit_hits[i] += ck_pr_load_64(&st->limit_hits[i]);
    }
}
