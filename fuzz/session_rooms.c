/* session_rooms.c: the room model of fuzz_session's replay checker. From the
 * log alone it rebuilds who is in which room and checks every room packet
 * against it: the user list a newcomer gets, the join and leave notices,
 * the fan-out of every chat. A member whose connection closed stays in the
 * model until the log shows its room dropped it (a broadcast that skips it,
 * or its ROOM_LEAVE_USER_NTF); only a member whose session was told of the
 * close can be dropped that way. Fed by session_check.c only; single-threaded.
 * It must never accept a room packet it cannot explain. Checked:
 *   R1. a newcomer's ROOM_USER_LIST_NTF names exactly the room's members, and
 *       ROOM_NEW_USER_NTF (its id and uid) goes to exactly those members;
 *   R2. a leave (explicit or by close) is told to exactly the members left;
 *   R3. every accepted chat is broadcast once, after its ROOM_CHAT_RES 0 and
 *       in the sender's order, with its text, to every member (the sender
 *       included) and to nobody else (rules 1 and 3 of chat-design.md);
 *   R4. a room never holds more than its capacity; uids are unique. */
#include <stdlib.h>
#include <string.h>

#include "session_fuzz.h"

typedef struct fz_room {
    int32_t number;
    uint8_t member[FZ_MAX_CONNS];
    unsigned n;
} fz_room_t;

typedef struct fz_chat {
    uint16_t len;
    uint8_t text[PROTO_MSG_FIELD];
} fz_chat_t;

typedef struct fz_rconn {
    bool member;
    int32_t room;
    bool uid_known;
    int64_t uid;
    fz_chat_t *chats; /* accepted, not yet broadcast: [head, n) */
    size_t head, n, cap;
} fz_rconn_t;

enum { SEQ_NONE, SEQ_ENTER, SEQ_LEAVE };

/* A room's enter or leave: ENTER_RES 0, user lists, NEW_USER broadcast; or
 * LEAVE_RES 0, LEAVE_USER broadcast. The room sends each run in one go. */
typedef struct fz_seq {
    int kind;
    unsigned conn;
    int32_t room;
    bool others[FZ_MAX_CONNS]; /* enter: the members when it was accepted */
    bool listed[FZ_MAX_CONNS];
    unsigned nlisted;
    bool list_done; /* a list packet shorter than 127 entries was the last */
} fz_seq_t;

static fz_room_t rooms[FZ_MAX_CONNS];
static unsigned nrooms;
static fz_rconn_t rcs[FZ_MAX_CONNS];
static fz_seq_t seq;
static uint32_t capacity;

void fz_rooms_release(void)
{
    for (unsigned i = 0; i < FZ_MAX_CONNS; i++)
        free(rcs[i].chats);
    memset(rcs, 0, sizeof(rcs));
}

void fz_rooms_reset(uint32_t cap)
{
    fz_rooms_release();
    memset(&seq, 0, sizeof(seq));
    nrooms = 0;
    capacity = cap;
}

static fz_room_t *room_find(int32_t number)
{
    for (unsigned i = 0; i < nrooms; i++)
        if (rooms[i].number == number)
            return &rooms[i];
    return NULL;
}

static void room_remove(fz_room_t *r, unsigned conn)
{
    for (unsigned i = 0; i < r->n; i++) {
        if (r->member[i] != conn)
            continue;
        r->member[i] = r->member[--r->n];
        rcs[conn].member = false;
        break;
    }
    if (r->n == 0)
        *r = rooms[--nrooms];
}

static const char *id_of(unsigned conn)
{
    const char *id = fz_model_id(conn);
    FZ_CHECK(id != NULL, "conn %u is in a room without being logged in", conn);
    return id;
}

static void set_uid(unsigned conn, int64_t uid)
{
    fz_rconn_t *c = &rcs[conn];
    if (c->uid_known) {
        FZ_CHECK(c->uid == uid, "conn %u: uid %lld, earlier %lld", conn, (long long)uid,
                 (long long)c->uid);
        return;
    }
    for (unsigned i = 0; i < FZ_MAX_CONNS; i++)
        FZ_CHECK(!rcs[i].uid_known || rcs[i].uid != uid, "uid %lld given to conns %u and %u",
                 (long long)uid, i, conn);
    c->uid_known = true;
    c->uid = uid;
}

/* ---- enter -------------------------------------------------------------------- */

void fz_rooms_entered(unsigned conn, int32_t number)
{
    FZ_CHECK(!rcs[conn].member, "conn %u entered room %d while in room %d", conn, number,
             rcs[conn].room);
    fz_room_t *r = room_find(number);
    if (r == NULL) {
        r = &rooms[nrooms++];
        r->number = number;
        r->n = 0;
    }
    memset(&seq, 0, sizeof(seq));
    seq.kind = SEQ_ENTER;
    seq.conn = conn;
    seq.room = number;
    unsigned open = 0;
    for (unsigned i = 0; i < r->n; i++) {
        seq.others[r->member[i]] = true;
        open += !fz_model_told(r->member[i]);
    }
    FZ_CHECK(open < capacity, "conn %u entered room %d holding %u open members (capacity %u)", conn,
             number, open, capacity);
    r->member[r->n++] = (uint8_t)conn;
    rcs[conn].member = true;
    rcs[conn].room = number;
}

void fz_rooms_check_full(int32_t number)
{
    fz_room_t *r = room_find(number);
    unsigned n = r != NULL ? r->n : 0;
    FZ_CHECK(n >= capacity, "ROOM_ENTER_RES 54 for room %d with at most %u of %u members", number,
             n, capacity);
}

/* The member of the entered room that a list entry names (R1). */
static unsigned list_match(const proto_user_t *u)
{
    for (unsigned c = 0; c < FZ_MAX_CONNS; c++)
        if (seq.others[c] && !seq.listed[c] && rcs[c].uid_known && rcs[c].uid == u->uid)
            return c;
    for (unsigned c = 0; c < FZ_MAX_CONNS; c++)
        if (seq.others[c] && !seq.listed[c] && !rcs[c].uid_known && strcmp(id_of(c), u->id) == 0)
            return c;
    fz_fail("conn %u: the user list of room %d names '%s' (uid %lld), not a member", seq.conn,
            seq.room, u->id, (long long)u->uid);
}

void fz_rooms_user_list(unsigned conn, const uint8_t *body, size_t len)
{
    static proto_user_t list[PROTO_USER_LIST_MAX];
    FZ_CHECK(seq.kind == SEQ_ENTER && seq.conn == conn && !seq.list_done,
             "conn %u: ROOM_USER_LIST_NTF not right after its ROOM_ENTER_RES 0", conn);
    int n = proto_decode_room_user_list_ntf(body, len, list, PROTO_USER_LIST_MAX);
    if (n < PROTO_USER_LIST_MAX)
        seq.list_done = true;
    for (int i = 0; i < n; i++) {
        unsigned c = list_match(&list[i]);
        FZ_CHECK(strcmp(id_of(c), list[i].id) == 0, "user list: uid %lld is '%s', not '%s'",
                 (long long)list[i].uid, id_of(c), list[i].id);
        set_uid(c, list[i].uid);
        seq.listed[c] = true;
        seq.nlisted++;
    }
}

/* The list is complete: the open members must all be on it; a closed one
 * that is not had already been dropped by the room. */
static void finish_list(void)
{
    for (unsigned c = 0; c < FZ_MAX_CONNS; c++) {
        if (!seq.others[c] || seq.listed[c])
            continue;
        FZ_CHECK(fz_model_told(c), "conn %u: open member %u of room %d missing from its list",
                 seq.conn, c, seq.room);
        if (rcs[c].member && rcs[c].room == seq.room)
            room_remove(room_find(seq.room), c);
    }
    FZ_CHECK(seq.nlisted < capacity, "room %d took a member beyond capacity %u", seq.room,
             capacity);
}

/* ---- leave ---------------------------------------------------------------------- */

void fz_rooms_left(unsigned conn)
{
    FZ_CHECK(rcs[conn].member, "conn %u: ROOM_LEAVE_RES 0 while in no room", conn);
    int32_t number = rcs[conn].room;
    room_remove(room_find(number), conn);
    memset(&seq, 0, sizeof(seq));
    seq.kind = SEQ_LEAVE;
    seq.conn = conn;
    seq.room = number;
}

void fz_rooms_other_event(void)
{
    if (seq.kind == SEQ_ENTER) {
        finish_list();
        FZ_CHECK(seq.nlisted == 0, "conn %u entered room %d: %u members got no ROOM_NEW_USER_NTF",
                 seq.conn, seq.room, seq.nlisted);
    } else if (seq.kind == SEQ_LEAVE) {
        fz_room_t *r = room_find(seq.room);
        while (r != NULL && r->n > 0) {
            unsigned c = r->member[0];
            FZ_CHECK(fz_model_told(c), "conn %u left room %d: member %u was not told", seq.conn,
                     seq.room, c);
            room_remove(r, c); /* dropped by the room already */
            r = room_find(seq.room);
        }
    }
    seq.kind = SEQ_NONE;
}

/* ---- broadcasts ------------------------------------------------------------------- */

/* The recipients are exactly the room's members (R2, R3). */
static void check_recipients(int32_t number, const unsigned *to, size_t n)
{
    bool got[FZ_MAX_CONNS] = {false};
    for (size_t i = 0; i < n; i++) {
        FZ_CHECK(rcs[to[i]].member && rcs[to[i]].room == number,
                 "conn %u got a packet of room %d, not being a member", to[i], number);
        got[to[i]] = true;
    }
    fz_room_t *r = room_find(number);
    for (unsigned i = 0; r != NULL && i < r->n;) {
        unsigned c = r->member[i];
        if (got[c]) {
            i++;
            continue;
        }
        FZ_CHECK(fz_model_told(c), "member %u of room %d missed a room packet", c, number);
        room_remove(r, c);
        r = room_find(number);
        i = 0;
    }
}

static void on_new_user(const uint8_t *body, size_t len, const unsigned *to, size_t n)
{
    proto_user_t u;
    FZ_CHECK(seq.kind == SEQ_ENTER, "ROOM_NEW_USER_NTF outside an enter");
    finish_list();
    (void)proto_decode_room_new_user_ntf(body, len, &u);
    FZ_CHECK(strcmp(u.id, id_of(seq.conn)) == 0, "ROOM_NEW_USER_NTF names '%s', not '%s'", u.id,
             id_of(seq.conn));
    set_uid(seq.conn, u.uid);
    for (size_t i = 0; i < n; i++)
        FZ_CHECK(seq.listed[to[i]], "ROOM_NEW_USER_NTF to conn %u, not on the newcomer's list",
                 to[i]);
    FZ_CHECK(n == seq.nlisted, "ROOM_NEW_USER_NTF to %zu members, the list named %u", n,
             seq.nlisted);
    seq.kind = SEQ_NONE;
}

/* Who left, and from which room: the explicit leaver, or a member whose
 * session handled its close (by uid, or one of the recipients' room whose
 * uid nobody has seen). The leaver is out of the model afterwards. */
static int32_t leaver_room(int64_t uid, const unsigned *to, size_t n)
{
    /* Right after a ROOM_LEAVE_RES 0, to that room's members: its notice.
     * (Another room's notice may follow a leave that left nobody behind.) */
    if (seq.kind == SEQ_LEAVE && n > 0 && rcs[to[0]].member && rcs[to[0]].room == seq.room) {
        set_uid(seq.conn, uid);
        seq.kind = SEQ_NONE;
        return seq.room;
    }
    fz_rooms_other_event();
    for (unsigned c = 0; c < FZ_MAX_CONNS; c++) {
        if (!rcs[c].uid_known || rcs[c].uid != uid)
            continue;
        FZ_CHECK(rcs[c].member && fz_model_told(c),
                 "ROOM_LEAVE_USER_NTF for conn %u, which neither left nor closed", c);
        int32_t number = rcs[c].room;
        room_remove(room_find(number), c);
        return number;
    }
    FZ_CHECK(n > 0 && rcs[to[0]].member, "ROOM_LEAVE_USER_NTF for an unknown uid %lld",
             (long long)uid);
    int32_t number = rcs[to[0]].room;
    fz_room_t *r = room_find(number);
    for (unsigned i = 0; i < r->n; i++) {
        unsigned c = r->member[i];
        if (fz_model_told(c) && !rcs[c].uid_known) {
            set_uid(c, uid);
            room_remove(r, c);
            return number;
        }
    }
    fz_fail("ROOM_LEAVE_USER_NTF for uid %lld: no member of room %d closed", (long long)uid,
            number);
}

static void on_chat_notify(const uint8_t *body, size_t len, const unsigned *to, size_t n)
{
    proto_chat_notify_t nt;
    fz_rooms_other_event();
    (void)proto_decode_room_chat_notify(body, len, &nt);
    FZ_CHECK(n > 0 && rcs[to[0]].member, "ROOM_CHAT_NOTIFY to conn %u, in no room", to[0]);
    int32_t number = rcs[to[0]].room;
    fz_room_t *r = room_find(number);
    for (unsigned i = 0; i < r->n; i++) {
        fz_rconn_t *c = &rcs[r->member[i]];
        if (c->head == c->n || strcmp(id_of(r->member[i]), nt.user_id) != 0)
            continue;
        fz_chat_t *ch = &c->chats[c->head];
        if (ch->len != nt.text_len || memcmp(ch->text, nt.text, ch->len) != 0)
            continue;
        c->head++;
        check_recipients(number, to, n);
        return;
    }
    fz_fail("ROOM_CHAT_NOTIFY from '%s' in room %d matches no accepted chat", nt.user_id, number);
}

void fz_rooms_broadcast(const uint8_t *pkt, size_t len, const unsigned *to, size_t n)
{
    const uint8_t *body = pkt + PROTO_HEADER_SIZE;
    size_t blen = len - PROTO_HEADER_SIZE;
    uint16_t id = (uint16_t)(pkt[2] | pkt[3] << 8);
    if (id == PROTO_ROOM_NEW_USER_NTF) {
        on_new_user(body, blen, to, n);
    } else if (id == PROTO_ROOM_LEAVE_USER_NTF) {
        int64_t uid;
        (void)proto_decode_room_leave_user_ntf(body, blen, &uid);
        check_recipients(leaver_room(uid, to, n), to, n);
    } else {
        on_chat_notify(body, blen, to, n);
    }
}

/* ---- chats, settling, counting -------------------------------------------------- */

void fz_rooms_chat_accepted(unsigned conn, const uint8_t *text, size_t len)
{
    fz_rconn_t *c = &rcs[conn];
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->chats = realloc(c->chats, c->cap * sizeof(*c->chats));
        FZ_CHECK(c->chats != NULL, "out of memory");
    }
    c->chats[c->n].len = (uint16_t)len;
    memcpy(c->chats[c->n].text, text, len);
    c->n++;
}

bool fz_rooms_chats_pending(unsigned conn)
{
    return rcs[conn].head < rcs[conn].n;
}

void fz_rooms_settle(void)
{
    fz_rooms_other_event();
    for (unsigned i = 0; i < nrooms;) {
        fz_room_t *r = &rooms[i];
        unsigned k = 0;
        while (k < r->n && !fz_model_told(r->member[k]))
            k++;
        if (k == r->n) {
            i++;
            continue;
        }
        room_remove(r, r->member[k]); /* may move another room into slot i */
    }
}

void fz_rooms_count(uint64_t *members, uint64_t *nonempty)
{
    *members = 0;
    for (unsigned i = 0; i < nrooms; i++)
        *members += rooms[i].n;
    *nonempty = nrooms;
}
