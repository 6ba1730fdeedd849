/* rcb_redis.c: the redis target of ringchat-bench: the same workload on
 * Redis pub/sub. A room is the channel PREFIX<room>; each member SUBSCRIBEs
 * on one connection and, if it sends, PUBLISHes on a second one (a
 * subscribed connection may not publish). A PUBLISH reply (:N, the number
 * of subscribers that got it) is the ack; each "message" push is one
 * delivery. The sum of the N is kept as the server's own count.
 * Called on the connection's loop thread only. Never allocates: commands are
 * written into the output buffer and replies parsed in place (rcb_resp.c);
 * only an incomplete reply is copied, into the connection's carry buffer. */
#include "rcb.h"
#include "rcb_resp.h"

#include <stdio.h>
#include <string.h>

static uint32_t redis_out_cap(const rcb_opts_t *o, rcb_role_t role)
{
    uint32_t cmd = 64 + (uint32_t)sizeof(o->channel_prefix) + 16 + o->size;
    if (role == RCB_ROLE_SUB)
        return 128 + (uint32_t)sizeof(o->channel_prefix) + 16;
    return 128 + (o->rate > 0 ? 32 : o->inflight) * cmd;
}

/* Writes "PREFIX<room>" into buf; its length. */
static int channel(const rcb_thread_t *t, const rcb_member_t *m, char *buf, size_t cap)
{
    return snprintf(buf, cap, "%s%u", t->o->channel_prefix, m->room);
}

static void redis_on_connected(rcb_thread_t *t, rcb_conn_t *c)
{
    char cmd[160], ch[80];
    int n;
    if (c->role == RCB_ROLE_SUB) {
        int cl = channel(t, c->m, ch, sizeof(ch));
        n = snprintf(cmd, sizeof(cmd), "*2\r\n$9\r\nSUBSCRIBE\r\n$%d\r\n%s\r\n", cl, ch);
    } else {
        /* The PUBLISH connection is ready once Redis has accepted it. */
        n = snprintf(cmd, sizeof(cmd), "*1\r\n$4\r\nPING\r\n");
    }
    if (n <= 0 || !rcb_out_append(c, cmd, (size_t)n))
        rcb_conn_fail(t, c, RCB_ERR_SUBSCRIBE);
}

static bool redis_encode_chat(rcb_thread_t *t, rcb_conn_t *c, const char *text, uint32_t len)
{
    char head[160], ch[80];
    int cl = channel(t, c->m, ch, sizeof(ch));
    int hn =
        snprintf(head, sizeof(head), "*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%u\r\n", cl, ch, len);
    if (hn <= 0 || (size_t)hn + len + 2 > c->out_cap - c->out_len)
        return false;
    rcb_out_append(c, head, (size_t)hn);
    rcb_out_append(c, text, len);
    rcb_out_append(c, "\r\n", 2);
    return true;
}

/* A reply on the SUBSCRIBE connection. -1 if unexpected. */
static int on_sub_reply(rcb_thread_t *t, rcb_conn_t *c, const rcb_resp_t *r, size_t wire)
{
    if (r->type == '-') {
        rcb_conn_fail(t, c, c->state == RCB_ST_READY ? RCB_ERR_REDIS : RCB_ERR_SUBSCRIBE);
        return -1;
    }
    if (r->type != '*' || r->n != 3)
        return -1;
    if (rcb_resp_is(&r->v[0], "message") && r->v[2].type == '$') {
        rcb_on_delivery(t, c->m, r->v[2].p, r->v[2].len, wire);
        return 0;
    }
    if (rcb_resp_is(&r->v[0], "subscribe")) {
        rcb_conn_ready(t, c);
        return 0;
    }
    return -1;
}

/* A reply on the PUBLISH connection: PONG in the handshake, then one
 * integer (or error) per PUBLISH, in order. */
static int on_pub_reply(rcb_thread_t *t, rcb_conn_t *c, const rcb_resp_t *r)
{
    if (c->state == RCB_ST_HANDSHAKE) {
        if (r->type == '+' && rcb_resp_is(&r->v[0], "PONG")) {
            rcb_conn_ready(t, c);
            return 0;
        }
        rcb_conn_fail(t, c, RCB_ERR_SUBSCRIBE);
        return -1;
    }
    if (r->type == ':') {
        rcb_count(&t->c.receivers, (uint64_t)(r->v[0].num > 0 ? r->v[0].num : 0));
        rcb_on_ack(t, c->m);
        return 0;
    }
    if (r->type == '-') {
        rcb_on_reject(t, c->m, RCB_ERR_REDIS);
        return 0;
    }
    return -1;
}

static int redis_on_data(rcb_thread_t *t, rcb_conn_t *c, uint8_t *data, size_t n)
{
    size_t off = 0;
    while (off < n) {
        rcb_resp_t r;
        long used = rcb_resp_parse(data + off, n - off, &r);
        if (used < 0)
            return -1;
        if (used == 0)
            break;
        int rc =
            c->role == RCB_ROLE_SUB ? on_sub_reply(t, c, &r, (size_t)used) : on_pub_reply(t, c, &r);
        if (rc != 0 || c->state == RCB_ST_DEAD)
            return -1;
        off += (size_t)used;
    }
    /* Keep the incomplete reply for the next read. */
    size_t rest = n - off;
    if (rest > RCB_CARRY_MAX)
        return -1;
    memcpy(c->carry, data + off, rest);
    c->carry_len = (uint32_t)rest;
    return 0;
}

const rcb_target_t rcb_target_redis = {
    .name = "redis",
    .on_connected = redis_on_connected,
    .on_data = redis_on_data,
    .encode_chat = redis_encode_chat,
    .out_cap = redis_out_cap,
};
