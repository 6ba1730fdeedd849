/* proto_decode.c: header decoding, request classification and the body
 * decoders of every packet, both directions.
 * Called by the session actor (client -> server bodies) and by ringchat-cli,
 * ringchat-bench and the tests (server -> client bodies).
 * Never reads outside (body, len), never allocates, never trusts a length or
 * count field before checking it against len. Invariant: a decoder that
 * returns success has filled every field of its output. */
#include <string.h>

#include "proto.h"
#include "proto_bytes.h"

void proto_header_decode(const uint8_t *p, proto_header_t *h)
{
    h->length = proto_get_u16(p);
    h->id = proto_get_u16(p + 2);
    h->type = p[4];
}

enum proto_code proto_classify_request(const proto_header_t *h, size_t max_packet)
{
    /* Framing first: it is the only fatal error and the body cannot be
     * trusted without it. Then type before id, as PROTOCOL.md lists them. */
    if (h->length < PROTO_HEADER_SIZE || h->length > max_packet)
        return PROTO_ERR_BAD_LENGTH;
    if (h->type != 0)
        return PROTO_ERR_BAD_TYPE;
    if (!proto_packet_is_client_request(h->id))
        return PROTO_ERR_UNKNOWN_PACKET;
    return PROTO_OK;
}

/* Length of the text in a fixed char field: up to the first NUL or the end. */
static size_t proto_field_len(const uint8_t *field, size_t size)
{
    const uint8_t *nul = memchr(field, 0, size);
    return nul ? (size_t)(nul - field) : size;
}

/* ---- client -> server ---------------------------------------------------- */

enum proto_code proto_decode_login_req(const uint8_t *body, size_t len, proto_login_req_t *out)
{
    const uint8_t *id = body;
    const uint8_t *pw = body + PROTO_ID_FIELD;
    const uint8_t *nul;
    size_t id_len, pw_len;

    if (len != PROTO_LOGIN_REQ_BODY)
        return PROTO_LOGIN_INVALID_ID;
    nul = memchr(id, 0, PROTO_ID_FIELD);
    if (nul == NULL) /* 33 bytes of id and no terminator */
        return PROTO_LOGIN_INVALID_ID;
    id_len = (size_t)(nul - id);
    if (!proto_user_id_valid(id, id_len)) /* empty, control char, bad UTF-8 */
        return PROTO_LOGIN_INVALID_ID;

    /* The password is opaque to the protocol: any bytes up to the first NUL
     * or the end of its field (33 bytes without a NUL are allowed). */
    pw_len = proto_field_len(pw, PROTO_PW_FIELD);
    memcpy(out->user_id, id, id_len);
    out->user_id[id_len] = '\0';
    out->user_id_len = id_len;
    memcpy(out->password, pw, pw_len);
    out->password[pw_len] = '\0';
    out->password_len = pw_len;
    return PROTO_OK;
}

enum proto_code proto_decode_room_enter_req(const uint8_t *body, size_t len, int32_t *room)
{
    if (len != 4)
        return PROTO_ERR_BAD_BODY;
    *room = proto_get_i32(body);
    return PROTO_OK;
}

enum proto_code proto_decode_room_leave_req(const uint8_t *body, size_t len)
{
    (void)body;
    return len == 0 ? PROTO_OK : PROTO_ERR_BAD_BODY;
}

enum proto_code proto_decode_ping_req(const uint8_t *body, size_t len, uint64_t *token)
{
    if (len != 8)
        return PROTO_ERR_BAD_BODY;
    *token = proto_get_u64(body);
    return PROTO_OK;
}

enum proto_code proto_decode_room_chat_req(const uint8_t *body, size_t len, proto_chat_req_t *out)
{
    size_t text_len;

    /* A body longer than the 257-byte field cannot come from a conforming
     * client; it is answered like any other bad message (82), not with a
     * framing error, so the connection stays open (docs/protocol-notes.md). */
    if (len == 0 || len > PROTO_MSG_FIELD)
        return PROTO_CHAT_INVALID_MESSAGE;
    text_len = proto_field_len(body, len);
    if (text_len == 0 || !proto_utf8_valid(body, text_len))
        return PROTO_CHAT_INVALID_MESSAGE;
    out->text = body;
    out->len = text_len;
    return PROTO_OK;
}

/* ---- server -> client ---------------------------------------------------- */

int proto_decode_result(const uint8_t *body, size_t len, uint16_t *result)
{
    if (len != PROTO_RESULT_BODY)
        return -EBADMSG;
    *result = proto_get_u16(body);
    return 0;
}

/* Parses one user entry (i64 uid, i8 id_len, id bytes) at p with left bytes
 * available. Returns the entry's size, or 0 if it is malformed: id_len outside
 * 1..32 (a negative i8 included), fewer bytes than announced, or a NUL in the
 * id. out may be NULL (validation only). */
static size_t proto_user_entry_parse(const uint8_t *p, size_t left, proto_user_t *out)
{
    size_t id_len;

    if (left < PROTO_USER_ENTRY_MIN)
        return 0;
    id_len = p[8];
    if (id_len == 0 || id_len > PROTO_ID_MAX_LEN || left < 9 + id_len)
        return 0;
    if (memchr(p + 9, 0, id_len) != NULL)
        return 0;
    if (out) {
        out->uid = proto_get_i64(p);
        out->id_len = (uint8_t)id_len;
        memcpy(out->id, p + 9, id_len);
        out->id[id_len] = '\0';
    }
    return 9 + id_len;
}

int proto_decode_room_new_user_ntf(const uint8_t *body, size_t len, proto_user_t *out)
{
    proto_user_t tmp;
    size_t n = proto_user_entry_parse(body, len, &tmp);

    if (n == 0 || n != len) /* the body is exactly one entry */
        return -EBADMSG;
    *out = tmp;
    return 0;
}

int proto_decode_room_leave_user_ntf(const uint8_t *body, size_t len, int64_t *uid)
{
    if (len != 8)
        return -EBADMSG;
    *uid = proto_get_i64(body);
    return 0;
}

int proto_decode_ping_res(const uint8_t *body, size_t len, uint64_t *token)
{
    if (len != 8)
        return -EBADMSG;
    *token = proto_get_u64(body);
    return 0;
}

int proto_decode_error_ntf(const uint8_t *body, size_t len, uint16_t *code, uint16_t *offending_id)
{
    if (len != PROTO_ERROR_NTF_BODY)
        return -EBADMSG;
    *code = proto_get_u16(body);
    *offending_id = proto_get_u16(body + 2);
    return 0;
}

int proto_decode_room_chat_notify(const uint8_t *body, size_t len, proto_chat_notify_t *out)
{
    const uint8_t *nul;
    size_t id_len, text_len;

    if (len != PROTO_CHAT_NOTIFY_BODY)
        return -EBADMSG;
    nul = memchr(body, 0, PROTO_ID_FIELD);
    if (nul == NULL || nul == body) /* id must be 1..32 bytes and terminated */
        return -EBADMSG;
    id_len = (size_t)(nul - body);
    text_len = proto_field_len(body + PROTO_ID_FIELD, PROTO_MSG_FIELD);
    memcpy(out->user_id, body, id_len);
    out->user_id[id_len] = '\0';
    out->user_id_len = id_len;
    memcpy(out->text, body + PROTO_ID_FIELD, text_len);
    out->text[text_len] = '\0';
    out->text_len = text_len;
    return 0;
}

int proto_user_list_begin(const uint8_t *body, size_t len, proto_user_list_iter_t *it,
                          unsigned *count)
{
    const uint8_t *p;
    size_t left;
    unsigned n;

    if (len < 1 || body[0] > PROTO_USER_LIST_MAX) /* i8 count: 0x80.. is negative */
        return -EBADMSG;
    n = body[0];
    p = body + 1;
    left = len - 1;
    /* Validate every entry now, so that proto_user_list_next cannot fail. */
    for (unsigned i = 0; i < n; i++) {
        size_t sz = proto_user_entry_parse(p, left, NULL);
        if (sz == 0)
            return -EBADMSG;
        p += sz;
        left -= sz;
    }
    if (left != 0) /* bytes after the last entry */
        return -EBADMSG;
    it->p = body + 1;
    it->remaining = n;
    *count = n;
    return 0;
}

bool proto_user_list_next(proto_user_list_iter_t *it, proto_user_t *out)
{
    size_t sz;

    if (it->remaining == 0)
        return false;
    /* begin() proved this entry well formed; PROTO_USER_ENTRY_MAX bounds it. */
    sz = proto_user_entry_parse(it->p, PROTO_USER_ENTRY_MAX, out);
    it->p += sz;
    it->remaining--;
    return true;
}

int proto_decode_room_user_list_ntf(const uint8_t *body, size_t len, proto_user_t *out, size_t cap)
{
    proto_user_list_iter_t it;
    unsigned count, i = 0;
    int rc = proto_user_list_begin(body, len, &it, &count);

    if (rc < 0)
        return rc;
    if (count > cap)
        return -ENOSPC;
    while (proto_user_list_next(&it, &out[i]))
        i++;
    return (int)count;
}
