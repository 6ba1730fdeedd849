/* session_requests.c: the client side of fuzz_session: turns an action's
 * operand byte into the bytes a client sends (well-formed requests through
 * src/proto's encoders, malformed ones by hand). Used only by
 * fuzz_session.c; it must stay a pure function of its arguments (no state),
 * so that an input means the same requests every time. The operand layouts
 * are listed in make_session_corpus.sh. */
#include <stdio.h>
#include <string.h>

#include "session.h"
#include "session_fuzz.h"

static void put_packet(fz_bytes_t *out, uint16_t id, uint8_t type, const void *body, size_t len)
{
    uint8_t hdr[PROTO_HEADER_SIZE];
    proto_header_encode(hdr, (uint16_t)(PROTO_HEADER_SIZE + len), id);
    hdr[4] = type;
    fz_bytes_add(out, hdr, sizeof(hdr));
    fz_bytes_add(out, body, len);
}

static const char *const fz_ids[] = {
    "ann",
    "bob",
    "cy",
    "dee",
    FZ_ID_BUSY,
    FZ_ID_DOWN,
    "",
    "\x01x",
    "\xc3\xa9t\xc3\xa9",
    "abcdefghijklmnopqrstuvwxyz012345", /* 32 bytes: the longest id */
    "\xff",                             /* not UTF-8 */
    NULL,                               /* 33 bytes and no NUL */
};
static const char *const fz_pws[] = {"pw", "other", "", NULL /* 33 bytes, no NUL */};

void fz_put_login(fz_bytes_t *out, uint8_t b)
{
    fz_put_login_as(out, fz_ids[(b & 15) % 12], fz_pws[(b >> 4) & 3], PROTO_LOGIN_REQ_BODY);
}

/* A LOGIN_REQ body built by hand, so that invalid fields can be sent. */
void fz_put_login_as(fz_bytes_t *out, const char *id, const char *pw, size_t body_len)
{
    uint8_t body[PROTO_LOGIN_REQ_BODY + 1] = {0};
    if (id != NULL)
        memcpy(body, id, strlen(id));
    else
        memset(body, 'z', PROTO_ID_FIELD);
    if (pw != NULL)
        memcpy(body + PROTO_ID_FIELD, pw, strlen(pw));
    else
        memset(body + PROTO_ID_FIELD, 'p', PROTO_PW_FIELD);
    put_packet(out, PROTO_LOGIN_REQ, 0, body, body_len);
}

int32_t fz_room_of(const chat_config_t *c, uint8_t b)
{
    switch (b & 7) {
    case 4:
        return c->room_first + (int32_t)c->room_count; /* one past the last */
    case 5:
        return c->room_first - 1;
    case 6:
        return INT32_MAX;
    case 7:
        return INT32_MIN;
    default:
        return c->room_first + (b & 3);
    }
}

void fz_put_enter(fz_bytes_t *out, int32_t room)
{
    uint8_t pkt[PROTO_HEADER_SIZE + 4];
    fz_bytes_add(out, pkt, proto_encode_room_enter_req(pkt, sizeof(pkt), room));
}

void fz_put_chat(fz_bytes_t *out, uint8_t b)
{
    static const char *const texts[] = {"hi", "hello, room", "\xc3\xa9\xf0\x9f\x98\x80", "\xff\xfe",
                                        "\0abc"};
    uint8_t pkt[PROTO_HEADER_SIZE + PROTO_MSG_FIELD + 1], body[PROTO_MSG_FIELD + 1];
    char text[16];
    size_t v = (b & 15) % 9;
    if (v < 3) { /* valid texts, told apart by the high bits */
        snprintf(text, sizeof(text), "%s%u", texts[v], b >> 4);
        size_t n = b & 16 ? proto_encode_room_chat_req(pkt, sizeof(pkt), text, strlen(text))
                          : proto_encode_room_chat_req_short(pkt, sizeof(pkt), text, strlen(text));
        fz_bytes_add(out, pkt, n);
        return;
    }
    size_t len;
    memset(body, 'a' + (b >> 4), sizeof(body));
    switch (v) {
    case 3: /* invalid UTF-8 */
    case 4: /* empty text: starts with NUL */
        len = v == 3 ? 2 : 4;
        memcpy(body, texts[v], len);
        break;
    case 5: /* 257 bytes, no NUL: the longest text */
        len = PROTO_MSG_FIELD;
        break;
    case 6: /* 258 bytes: too long, 82 */
        len = PROTO_MSG_FIELD + 1;
        break;
    case 7: /* a 2-byte character cut by the end of the field */
        len = PROTO_MSG_FIELD;
        body[len - 1] = 0xc3;
        break;
    default: /* empty body */
        len = 0;
        break;
    }
    put_packet(out, PROTO_ROOM_CHAT_REQ, 0, body, len);
}

void fz_put_bad(fz_bytes_t *out, uint8_t b, uint32_t max_packet)
{
    static const uint8_t zeros[PROTO_LOGIN_REQ_BODY + 1];
    uint8_t hdr[PROTO_HEADER_SIZE];
    static const uint8_t flood[SESSION_PARK_LIMIT + 1]; /* length 0: framing */
    if (b == 0xcc || b == 0xcd) { /* rare, and slow: over a parked-input limit at once */
        fz_bytes_add(out, flood, b == 0xcc ? SESSION_PARK_LIMIT_UNAUTH + 1 : sizeof(flood));
        return;
    }
    switch (b % 12) {
    case 0:
        put_packet(out, PROTO_PING_REQ, 1 + (b >> 4), zeros, 8);
        break;
    case 1:
        put_packet(out, 9999, 0, NULL, 0);
        break;
    case 2:
        put_packet(out, PROTO_SYS_USER_CONNECT, 0, NULL, 0);
        break;
    case 3:
        put_packet(out, PROTO_LOGIN_RES, 0, zeros, 2);
        break;
    case 4:
        put_packet(out, PROTO_ROOM_ENTER_REQ, 0, zeros, 3);
        break;
    case 5:
        put_packet(out, PROTO_ROOM_LEAVE_REQ, 0, zeros, 1);
        break;
    case 6:
        put_packet(out, PROTO_PING_REQ, 0, zeros, 7);
        break;
    case 7:
    case 8:
        fz_put_login_as(out, "ann", "pw", PROTO_LOGIN_REQ_BODY + (b % 12 == 7 ? -1 : 1));
        break;
    case 9: /* length 4: a framing error */
        proto_header_encode(hdr, 4, PROTO_PING_REQ);
        fz_bytes_add(out, hdr, sizeof(hdr));
        break;
    case 10: /* one more than max_packet: a framing error */
        proto_header_encode(hdr, (uint16_t)(max_packet + 1), PROTO_PING_REQ);
        fz_bytes_add(out, hdr, sizeof(hdr));
        break;
    default: /* a bad type on an unknown id: 2 wins */
        put_packet(out, 12345, 0x80, NULL, 0);
        break;
    }
}

void fz_put_echo(fz_bytes_t *out, uint8_t b)
{
    uint8_t body[64];
    size_t len = b & 63;
    for (size_t i = 0; i < len; i++)
        body[i] = (uint8_t)(i * 7 + b);
    put_packet(out, PROTO_DEV_ECHO, 0, body, len);
}

void fz_put_ping(fz_bytes_t *out, uint8_t b, uint64_t n)
{
    uint8_t pkt[PROTO_HEADER_SIZE + 8];
    uint64_t token = b * 0x0101010101010101ull ^ n;
    fz_bytes_add(out, pkt, proto_encode_ping_req(pkt, sizeof(pkt), token));
}

void fz_put_leave(fz_bytes_t *out)
{
    uint8_t pkt[PROTO_HEADER_SIZE];
    fz_bytes_add(out, pkt, proto_encode_room_leave_req(pkt, sizeof(pkt)));
}
