/* room.c: the room actor (see room.h). Runs on one thread at a time, so the
 * member array needs no lock. Ordering (docs/chat-design.md): every member
 * gets this room's packets in the order the room handles its messages,
 * because only this actor queues them, one message at a time.
 * Never blocks; never writes to a buffer once it is queued; a member's
 * chat_user_t is kept alive by the room's own reference. */
#include "room.h"

#include <errno.h>
#include <stdlib.h>

typedef struct room {
    const chat_ctx_t *ctx;
    int32_t number;
    actor_ref_t self;
    actor_ref_t dir;
    uint64_t enters_seen; /* ROOM_MSG_ENTER handled, reported with DIR_MSG_EMPTY */
    uint32_t count;
    uint32_t cap;
    chat_user_t **members;
} room_t;

/* Queues one encoded buffer to every member, then drops the caller's
 * reference. A member whose connection is gone or
 * too slow is skipped here; its session's leave removes it. Returns how many
 * members it was queued to. */
static uint32_t broadcast(room_t *r, net_buf_t *b)
{
    uint32_t queued = 0;
    for (uint32_t i = 0; i < r->count; i++)
        if (net_conn_send(r->members[i]->conn, b) == 0)
            queued++;
    net_buf_unref(b);
    return queued;
}

/* ROOM_USER_LIST_NTF to `to`: the current members, at most 127 a packet. */
static void send_user_list(room_t *r, const chat_user_t *to)
{
    proto_user_t chunk[PROTO_USER_LIST_MAX];
    for (uint32_t first = 0; first < r->count; first += PROTO_USER_LIST_MAX) {
        size_t n = r->count - first < PROTO_USER_LIST_MAX ? r->count - first : PROTO_USER_LIST_MAX;
        for (size_t i = 0; i < n; i++) {
            const chat_user_t *m = r->members[first + i];
            chunk[i].uid = m->uid;
            chunk[i].id_len = m->id_len;
            memcpy(chunk[i].id, m->id, m->id_len + 1u);
        }
        size_t size = proto_user_list_packet_size(chunk, n);
        net_buf_t *b = net_buf_alloc(size);
        if (b == NULL)
            return;
        chat_send_encoded(to->conn, b,
                          proto_encode_room_user_list_ntf(net_buf_data(b), size, chunk, n));
    }
}

static void reply_enter(room_t *r, const chat_user_t *u, uint16_t result)
{
    session_enter_done_t done = {.result = result, .room = result == 0 ? r->self : ACTOR_REF_NULL};
    (void)chat_send(u->session, SESSION_MSG_ENTER_DONE, &done, sizeof(done));
}

static bool grow(room_t *r)
{
    uint32_t cap = r->cap ? r->cap * 2 : 8;
    chat_user_t **m = realloc(r->members, cap * sizeof(*m));
    if (m == NULL)
        return false;
    r->members = m;
    r->cap = cap;
    return true;
}

static void on_enter(room_t *r, chat_user_t *u)
{
    r->enters_seen++;
    if (r->count >= r->ctx->cfg.room_capacity || (r->count == r->cap && !grow(r))) {
        chat_limit_hit(r->ctx, CHAT_LIMIT_ROOM_CAPACITY,
                       "room %d is full (%u members): ROOM_ENTER_RES 54", (int)r->number, r->count);
        chat_send_result(u->conn, PROTO_ROOM_ENTER_RES, PROTO_ENTER_ROOM_FULL_USER);
        reply_enter(r, u, PROTO_ENTER_ROOM_FULL_USER);
        chat_user_unref(u);
        return;
    }
    chat_send_result(u->conn, PROTO_ROOM_ENTER_RES, PROTO_OK);
    send_user_list(r, u);
    enum { size = PROTO_HEADER_SIZE + 9 + PROTO_ID_MAX_LEN };
    net_buf_t *b = net_buf_alloc(size);
    if (b != NULL) {
        net_buf_truncate(b, proto_encode_room_new_user_ntf(net_buf_data(b), size, u->uid, u->id));
        (void)broadcast(r, b); /* before the append: the newcomer is not told of itself */
    }
    r->members[r->count++] = u;
    CHAT_COUNT(r->ctx, room_joins, 1);
    reply_enter(r, u, PROTO_OK);
}

static void on_leave(room_t *r, const room_leave_t *l)
{
    uint32_t i = 0;
    while (i < r->count && r->members[i] != l->user)
        i++;
    if (l->answer) {
        /* The answer comes after every notify this room queued for the
         * member; the session waits for LEAVE_DONE before it answers any
         * later request, so the client sees its answers in request order. */
        chat_send_result(l->user->conn, PROTO_ROOM_LEAVE_RES, PROTO_OK);
        (void)chat_send(l->user->session, SESSION_MSG_LEAVE_DONE, NULL, 0);
    }
    if (i == r->count)
        return; /* not a member: nothing to undo */
    chat_user_t *u = r->members[i];
    r->members[i] = r->members[--r->count];
    CHAT_COUNT(r->ctx, room_leaves, 1);
    enum { size = PROTO_HEADER_SIZE + 8 };
    net_buf_t *b = net_buf_alloc(size);
    if (b != NULL) {
        net_buf_truncate(b, proto_encode_room_leave_user_ntf(net_buf_data(b), size, u->uid));
        (void)broadcast(r, b);
    }
    chat_user_unref(u);
    if (r->count == 0) {
        dir_empty_t e = {.room = r->number, .enters_seen = r->enters_seen, .from = r->self};
        (void)chat_send(r->dir, DIR_MSG_EMPTY, &e, sizeof(e));
    }
}

static void room_behaviour(actor_t *self, msg_t *m)
{
    room_t *r = actor_state(self);
    switch (m->type) {
    case ROOM_MSG_ENTER: {
        room_enter_t e;
        CHAT_GET(m, e);
        m->drop = NULL; /* the reference in the payload is ours now */
        on_enter(r, e.user);
        break;
    }
    case ROOM_MSG_LEAVE: {
        room_leave_t l;
        CHAT_GET(m, l);
        on_leave(r, &l);
        break;
    }
    case ROOM_MSG_CHAT: {
        room_chat_t c;
        CHAT_GET(m, c);
        m->drop = NULL; /* broadcast drops the reference */
        uint32_t queued = broadcast(r, c.notify);
        CHAT_COUNT(r->ctx, notifies_queued, queued);
        break;
    }
    case ROOM_MSG_EXIT:
        actor_exit(self);
        break;
    }
    msg_free(m);
}

static void room_on_exit(actor_t *self, void *state)
{
    (void)self;
    room_t *r = state;
    for (uint32_t i = 0; i < r->count; i++)
        chat_user_unref(r->members[i]);
    free(r->members);
    free(r);
}

static const actor_type_t room_type = {
    .name = "room",
    .behaviour = room_behaviour,
    .on_exit = room_on_exit,
};

int room_spawn(const chat_ctx_t *ctx, int32_t number, actor_ref_t dir, actor_ref_t *out)
{
    room_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    r->ctx = ctx;
    r->number = number;
    r->dir = dir;
    int rc = actor_spawn(ctx->sched, &room_type, r, out);
    if (rc != 0) {
        free(r);
        return rc;
    }
    r->self = *out;
    return 0;
}
