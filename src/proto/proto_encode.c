/* proto_encode.c: header encoding and the encoders of every packet.
 * Called by the session and room actors (responses, notifies), by
 * ringchat-cli and ringchat-bench (requests) and by the tests.
 * Never writes past cap: the whole packet size is computed and checked against
 * cap before the first byte is written, so a refused call writes nothing.
 * Never allocates. Fixed char fields are always fully written (NUL padded),
 * so no stale buffer bytes can leak onto the wire. */
#include <string.h>

#include "proto.h"
#include "proto_bytes.h"

void proto_header_encode(uint8_t *p, uint16_t length, uint16_t id)
{
    proto_put_u16(p, length);
    proto_put_u16(p + 2, id);
    p[4] = 0;
}

/* Checks that a packet with body_len bytes of body fits the u16 length field
 * and cap; if so writes its header and returns where the body goes. */
static uint8_t *proto_begin(uint8_t *buf, size_t cap, uint16_t id, size_t body_len)
{
    size_t total;

    if (body_len > PROTO_MAX_PACKET_LIMIT - PROTO_HEADER_SIZE)
        return NULL;
    total = PROTO_HEADER_SIZE + body_len;
    if (total > cap)
        return NULL;
    proto_header_encode(buf, (uint16_t)total, id);
    return buf + PROTO_HEADER_SIZE;
}

/* Writes a fixed char field: len bytes of text, then NUL up to size. */
static void proto_put_field(uint8_t *field, size_t size, const void *text, size_t len)
{
    if (len > 0)
        memcpy(field, text, len);
    memset(field + len, 0, size - len);
}

size_t proto_encode_dev_echo(uint8_t *buf, size_t cap, const void *body, size_t len)
{
    uint8_t *b = proto_begin(buf, cap, PROTO_DEV_ECHO, len);

    if (b == NULL)
        return 0;
    if (len > 0)
        memcpy(b, body, len);
    return PROTO_HEADER_SIZE + len;
}

size_t proto_encode_login_req(uint8_t *buf, size_t cap, const char *user_id, const char *password)
{
    size_t id_len = strnlen(user_id, PROTO_ID_FIELD);
    size_t pw_len = strnlen(password, PROTO_PW_FIELD);
    uint8_t *b;

    if (id_len > PROTO_ID_MAX_LEN || pw_len > PROTO_ID_MAX_LEN)
        return 0;
    b = proto_begin(buf, cap, PROTO_LOGIN_REQ, PROTO_LOGIN_REQ_BODY);
    if (b == NULL)
        return 0;
    proto_put_field(b, PROTO_ID_FIELD, user_id, id_len);
    proto_put_field(b + PROTO_ID_FIELD, PROTO_PW_FIELD, password, pw_len);
    return PROTO_HEADER_SIZE + PROTO_LOGIN_REQ_BODY;
}

/* Every *_RES body: one 16-bit result. */
static size_t proto_encode_u16_body(uint8_t *buf, size_t cap, uint16_t id, uint16_t v)
{
    uint8_t *b = proto_begin(buf, cap, id, 2);

    if (b == NULL)
        return 0;
    proto_put_u16(b, v);
    return PROTO_HEADER_SIZE + 2;
}

static size_t proto_encode_u64_body(uint8_t *buf, size_t cap, uint16_t id, uint64_t v)
{
    uint8_t *b = proto_begin(buf, cap, id, 8);

    if (b == NULL)
        return 0;
    proto_put_u64(b, v);
    return PROTO_HEADER_SIZE + 8;
}

size_t proto_encode_login_res(uint8_t *buf, size_t cap, uint16_t result)
{
    return proto_encode_u16_body(buf, cap, PROTO_LOGIN_RES, result);
}

size_t proto_encode_room_enter_req(uint8_t *buf, size_t cap, int32_t room)
{
    uint8_t *b = proto_begin(buf, cap, PROTO_ROOM_ENTER_REQ, 4);

    if (b == NULL)
        return 0;
    proto_put_u32(b, (uint32_t)room); /* two's complement, well defined */
    return PROTO_HEADER_SIZE + 4;
}

size_t proto_encode_room_enter_res(uint8_t *buf, size_t cap, uint16_t result)
{
    return proto_encode_u16_body(buf, cap, PROTO_ROOM_ENTER_RES, result);
}

/* Writes one user entry at p; the caller checked that it fits. */
static size_t proto_put_user(uint8_t *p, int64_t uid, const char *id, size_t id_len)
{
    proto_put_u64(p, (uint64_t)uid);
    p[8] = (uint8_t)id_len;
    memcpy(p + 9, id, id_len);
    return 9 + id_len;
}

size_t proto_encode_room_new_user_ntf(uint8_t *buf, size_t cap, int64_t uid, const char *user_id)
{
    size_t id_len = strnlen(user_id, PROTO_ID_FIELD);
    uint8_t *b;

    if (id_len == 0 || id_len > PROTO_ID_MAX_LEN)
        return 0;
    b = proto_begin(buf, cap, PROTO_ROOM_NEW_USER_NTF, 9 + id_len);
    if (b == NULL)
        return 0;
    return PROTO_HEADER_SIZE + proto_put_user(b, uid, user_id, id_len);
}

/* An entry is encodable if its id is 1..32 bytes with no NUL among them, the
 * same rule the decoder enforces, so encode -> decode always round-trips. */
static bool proto_user_encodable(const proto_user_t *u)
{
    return u->id_len >= 1 && u->id_len <= PROTO_ID_MAX_LEN && memchr(u->id, 0, u->id_len) == NULL;
}

size_t proto_user_list_packet_size(const proto_user_t *users, size_t n)
{
    size_t total = PROTO_HEADER_SIZE + 1;

    if (n > PROTO_USER_LIST_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!proto_user_encodable(&users[i]))
            return 0;
        total += 9 + users[i].id_len;
    }
    return total; /* at most PROTO_USER_LIST_PACKET_MAX, fits the u16 */
}

size_t proto_encode_room_user_list_ntf(uint8_t *buf, size_t cap, const proto_user_t *users,
                                       size_t n)
{
    size_t total = proto_user_list_packet_size(users, n);
    uint8_t *b;

    if (total == 0)
        return 0;
    b = proto_begin(buf, cap, PROTO_ROOM_USER_LIST_NTF, total - PROTO_HEADER_SIZE);
    if (b == NULL)
        return 0;
    *b++ = (uint8_t)n;
    for (size_t i = 0; i < n; i++)
        b += proto_put_user(b, users[i].uid, users[i].id, users[i].id_len);
    return total;
}

size_t proto_encode_room_leave_req(uint8_t *buf, size_t cap)
{
    return proto_begin(buf, cap, PROTO_ROOM_LEAVE_REQ, 0) ? PROTO_HEADER_SIZE : 0;
}

size_t proto_encode_room_leave_res(uint8_t *buf, size_t cap, uint16_t result)
{
    return proto_encode_u16_body(buf, cap, PROTO_ROOM_LEAVE_RES, result);
}

size_t proto_encode_room_leave_user_ntf(uint8_t *buf, size_t cap, int64_t uid)
{
    return proto_encode_u64_body(buf, cap, PROTO_ROOM_LEAVE_USER_NTF, (uint64_t)uid);
}

size_t proto_encode_room_chat_req(uint8_t *buf, size_t cap, const char *text, size_t len)
{
    uint8_t *b;

    if (len > PROTO_MSG_FIELD)
        return 0;
    b = proto_begin(buf, cap, PROTO_ROOM_CHAT_REQ, PROTO_MSG_FIELD);
    if (b == NULL)
        return 0;
    proto_put_field(b, PROTO_MSG_FIELD, text, len);
    return PROTO_HEADER_SIZE + PROTO_MSG_FIELD;
}

size_t proto_encode_room_chat_req_short(uint8_t *buf, size_t cap, const char *text, size_t len)
{
    uint8_t *b;

    if (len > PROTO_MSG_FIELD)
        return 0;
    b = proto_begin(buf, cap, PROTO_ROOM_CHAT_REQ, len);
    if (b == NULL)
        return 0;
    if (len > 0)
        memcpy(b, text, len);
    return PROTO_HEADER_SIZE + len;
}

size_t proto_encode_room_chat_res(uint8_t *buf, size_t cap, uint16_t result)
{
    return proto_encode_u16_body(buf, cap, PROTO_ROOM_CHAT_RES, result);
}

size_t proto_encode_room_chat_notify(uint8_t *buf, size_t cap, const char *user_id,
                                     const char *text, size_t text_len)
{
    size_t id_len = strnlen(user_id, PROTO_ID_FIELD);
    uint8_t *b;

    if (id_len == 0 || id_len > PROTO_ID_MAX_LEN || text_len > PROTO_MSG_FIELD)
        return 0;
    b = proto_begin(buf, cap, PROTO_ROOM_CHAT_NOTIFY, PROTO_CHAT_NOTIFY_BODY);
    if (b == NULL)
        return 0;
    proto_put_field(b, PROTO_ID_FIELD, user_id, id_len);
    proto_put_field(b + PROTO_ID_FIELD, PROTO_MSG_FIELD, text, text_len);
    return PROTO_HEADER_SIZE + PROTO_CHAT_NOTIFY_BODY;
}

size_t proto_encode_ping_req(uint8_t *buf, size_t cap, uint64_t token)
{
    return proto_encode_u64_body(buf, cap, PROTO_PING_REQ, token);
}

size_t proto_encode_ping_res(uint8_t *buf, size_t cap, uint64_t token)
{
    return proto_encode_u64_body(buf, cap, PROTO_PING_RES, token);
}

size_t proto_encode_error_ntf(uint8_t *buf, size_t cap, uint16_t code, uint16_t offending_id)
{
    uint8_t *b = proto_begin(buf, cap, PROTO_ERROR_NTF, PROTO_ERROR_NTF_BODY);

    if (b == NULL)
        return 0;
    proto_put_u16(b, code);
    proto_put_u16(b + 2, offending_id);
    return PROTO_HEADER_SIZE + PROTO_ERROR_NTF_BODY;
}
