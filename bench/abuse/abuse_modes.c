/* abuse_modes.c: the six misbehaviours of ringchat-abuse (abuse.h), each
 * aimed at one of the server's memory bounds (docs/operations.md):
 *   unauth  - N connections that never send a byte          (--max-unauth)
 *   noread  - N members that never read while S others chat  (--outbox-limit)
 *   park    - 1.5 MiB of max-size packets pipelined behind a wrong login
 *             held back by the login back-off                (1 MiB park limit)
 *   rate    - N members chatting as fast as the socket goes  (--chat-rate)
 *   rooms   - N members entering and leaving ever new rooms  (rooms freed when empty)
 *   hugelen - half of N announce a 65535-byte packet, over and over; half
 *             hold a max-size packet one byte short         (--max-packet)
 * Runs on the loop thread only; never allocates. */
#include "abuse.h"

#include <stdio.h>
#include <string.h>

#define PARK_BYTES     (3u << 19) /* 1.5 MiB: past the server's 1 MiB park limit */
#define PARK_SETTLE_NS 300000000ull
#define RECONNECT_NS   200000000ull
#define RATE_INFLIGHT  16
#define ROOM_NUMBERS   1000000 /* the server's default --room-count */
#define MS(x)          ((uint64_t)(x)*1000000ull)

enum { K_PLAIN, K_SENDER, K_READER, K_REGISTER, K_ABUSER, K_OVER, K_PARTIAL };

static void open_all(ab_conn_t *conns, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        ab_open(&conns[i], 0);
}

static void nothing(ab_conn_t *c)
{
    (void)c;
}

static void ignore_packet(ab_conn_t *c, const proto_packet_t *p)
{
    (void)c;
    (void)p;
}

static void login_pw(ab_conn_t *c)
{
    ab_login(c, "pw");
}

/* LOGIN_RES of a member that goes on to enter `room`; false if refused. */
static bool logged_in(ab_conn_t *c, const proto_packet_t *p, int32_t room)
{
    if (ab_result(p) != PROTO_OK) {
        ab_ctr[C_LOGIN_REFUSED]++;
        ab_close(c);
        return false;
    }
    ab_ctr[C_LOGIN_OK]++;
    ab_enter(c, room);
    return true;
}

/* Counts a ROOM_CHAT_RES. */
static void chat_res(ab_conn_t *c, const proto_packet_t *p)
{
    int r = ab_result(p);
    if (c->unacked > 0)
        c->unacked--;
    ab_ctr[r == PROTO_OK                     ? C_CHAT_OK
           : r == PROTO_ROOM_TOO_MANY_PACKET ? C_CHAT_RATE_LIMITED
                                             : C_CHAT_OTHER]++;
}

/* ---- noread --------------------------------------------------------------- */

static void noread_start(ab_conn_t *conns, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        conns[i].kind = i < ab_o->senders ? K_SENDER : K_READER;
        /* A small receive buffer: the kernel holds little, the server the rest. */
        ab_open(&conns[i], conns[i].kind == K_READER ? 4096 : 0);
    }
}

static void noread_packet(ab_conn_t *c, const proto_packet_t *p)
{
    switch (p->hdr.id) {
    case PROTO_LOGIN_RES:
        (void)logged_in(c, p, ab_o->room);
        break;
    case PROTO_ROOM_ENTER_RES:
        if (ab_result(p) != PROTO_OK) {
            ab_ctr[C_ENTER_REFUSED]++;
            break;
        }
        ab_ctr[C_ENTER_OK]++;
        if (c->kind == K_READER)
            ab_reading(c, false); /* from now on it never reads */
        else
            c->due_ns = ab_now + MS(1 + c->k % 50); /* spread the senders' ticks */
        break;
    case PROTO_ROOM_CHAT_RES:
        chat_res(c, p);
        break;
    case PROTO_ROOM_CHAT_NOTIFY:
        ab_ctr[C_NOTIFIES]++;
        break;
    }
}

static void noread_due(ab_conn_t *c)
{
    if (c->state != AB_OPEN)
        return;
    ab_chat(c, "a flood that some members never read ......................");
    c->due_ns = ab_now + (uint64_t)(1e9 / ab_o->rate);
}

static void noread_closed(ab_conn_t *c)
{
    if (c->kind == K_READER)
        ab_ctr[C_READERS_CUT]++;
}

/* ---- park ----------------------------------------------------------------- */

static void park_start(ab_conn_t *conns, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        conns[i].kind = K_REGISTER; /* first log in once: memory auth registers the id */
        ab_open(&conns[i], 0);
    }
}

/* Pushes max-size DEV_ECHO packets until PARK_BYTES or the socket is full. */
static void park_push(ab_conn_t *c)
{
    static uint8_t pkt[65535];
    uint32_t size = ab_o->max_packet;
    if (pkt[0] == 0) {
        static uint8_t body[65535];
        memset(body, 'p', sizeof(body));
        (void)proto_encode_dev_echo(pkt, sizeof(pkt), body, size - PROTO_HEADER_SIZE);
    }
    while (c->state == AB_OPEN && c->count < PARK_BYTES) {
        size_t off = c->count % size;
        size_t w = ab_send(c, pkt + off, size - off);
        c->count += w;
        ab_ctr[C_BYTES_PUSHED] += w;
        if (w < size - off)
            return; /* full: EPOLLOUT resumes */
    }
}

static void park_connected(ab_conn_t *c)
{
    if (c->kind == K_REGISTER) {
        ab_login(c, "right");
        return;
    }
    /* The first wrong password is answered at once, the second is held back
     * (login back-off) and the input behind it is parked. */
    ab_ctr[C_ROUNDS]++;
    c->count = 0;
    ab_login(c, "wrong");
    ab_login(c, "wrong");
    park_push(c);
}

static void park_packet(ab_conn_t *c, const proto_packet_t *p)
{
    if (p->hdr.id != PROTO_LOGIN_RES)
        return;
    if (c->kind == K_REGISTER) {
        ab_ctr[ab_result(p) == PROTO_OK ? C_LOGIN_OK : C_LOGIN_REFUSED]++;
        ab_close(c);
        c->kind = K_ABUSER;
        c->due_ns = ab_now + PARK_SETTLE_NS; /* let the server log it out */
        return;
    }
    ab_ctr[C_LOGIN_REFUSED]++;
}

static void reopen_later(ab_conn_t *c)
{
    c->due_ns = ab_now + RECONNECT_NS;
}

static void reopen(ab_conn_t *c)
{
    if (c->state == AB_IDLE)
        ab_open(c, 0);
}

/* ---- rate ----------------------------------------------------------------- */

static void rate_fill(ab_conn_t *c)
{
    while (c->state == AB_OPEN && c->unacked < RATE_INFLIGHT) {
        uint32_t before = c->unacked;
        ab_chat(c, "faster than the rate limit");
        if (c->unacked == before)
            return; /* the socket is full */
    }
}

static void rate_packet(ab_conn_t *c, const proto_packet_t *p)
{
    switch (p->hdr.id) {
    case PROTO_LOGIN_RES:
        (void)logged_in(c, p, ab_o->room + 1);
        break;
    case PROTO_ROOM_ENTER_RES:
        ab_ctr[ab_result(p) == PROTO_OK ? C_ENTER_OK : C_ENTER_REFUSED]++;
        rate_fill(c);
        break;
    case PROTO_ROOM_CHAT_RES:
        chat_res(c, p);
        rate_fill(c);
        break;
    case PROTO_ROOM_CHAT_NOTIFY:
        ab_ctr[C_NOTIFIES]++;
        break;
    }
}

/* ---- rooms ---------------------------------------------------------------- */

/* Member k visits rooms k, k + N, k + 2N, ...: every room it enters is new
 * and empty, so every enter creates a room and every leave frees it. */
static int32_t next_room(const ab_conn_t *c)
{
    return (int32_t)((c->k + c->count * ab_o->conns) % ROOM_NUMBERS);
}

static void rooms_packet(ab_conn_t *c, const proto_packet_t *p)
{
    switch (p->hdr.id) {
    case PROTO_LOGIN_RES:
        c->count = 0;
        (void)logged_in(c, p, next_room(c));
        break;
    case PROTO_ROOM_ENTER_RES:
        if (ab_result(p) == PROTO_OK) {
            ab_ctr[C_ENTER_OK]++;
            ab_leave(c);
        } else {
            ab_ctr[C_ENTER_REFUSED]++;
            c->count++;
            ab_enter(c, next_room(c));
        }
        break;
    case PROTO_ROOM_LEAVE_RES:
        ab_ctr[C_LEAVE_OK]++;
        c->count++;
        ab_enter(c, next_room(c));
        break;
    }
}

/* ---- hugelen -------------------------------------------------------------- */

static void hugelen_start(ab_conn_t *conns, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        conns[i].kind = i % 2 == 0 ? K_OVER : K_PARTIAL;
        ab_open(&conns[i], 0);
    }
}

static void hugelen_connected(ab_conn_t *c)
{
    static uint8_t buf[65535];
    ab_ctr[C_ROUNDS]++;
    if (c->kind == K_OVER) {
        /* A ROOM_CHAT_REQ announcing 65535 bytes, and the first few of them. */
        proto_header_encode(buf, 65535, PROTO_ROOM_CHAT_REQ);
        memset(buf + PROTO_HEADER_SIZE, 'h', 64);
        (void)ab_send(c, buf, PROTO_HEADER_SIZE + 64);
        return;
    }
    /* A max-size DEV_ECHO one byte short: the server holds the partial packet. */
    uint32_t size = ab_o->max_packet;
    proto_header_encode(buf, (uint16_t)size, PROTO_DEV_ECHO);
    memset(buf + PROTO_HEADER_SIZE, 'h', size - PROTO_HEADER_SIZE);
    (void)ab_send(c, buf, size - 1);
}

static void hugelen_closed(ab_conn_t *c)
{
    if (c->kind == K_OVER)
        reopen_later(c); /* over and over */
}

const ab_mode_t ab_modes[] = {
    {"unauth", "N connections that never send a byte", open_all, nothing, ignore_packet, NULL,
     nothing, NULL},
    {"noread", "N members of --room never read while --senders S chat at --rate each", noread_start,
     login_pw, noread_packet, NULL, noread_closed, noread_due},
    {"park", "1.5 MiB of max-size packets behind a held-back wrong login, repeated", park_start,
     park_connected, park_packet, park_push, reopen_later, reopen},
    {"rate", "N members chat as fast as the socket takes it", open_all, login_pw, rate_packet, NULL,
     nothing, NULL},
    {"rooms", "N members enter and leave ever new rooms", open_all, login_pw, rooms_packet, NULL,
     nothing, NULL},
    {"hugelen", "N/2 announce 65535-byte packets over and over, N/2 hold a partial one",
     hugelen_start, hugelen_connected, ignore_packet, NULL, hugelen_closed, reopen},
};
const unsigned ab_nmodes = sizeof(ab_modes) / sizeof(ab_modes[0]);
