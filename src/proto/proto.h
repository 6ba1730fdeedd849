/* proto.h: the ringchat wire protocol (PROTOCOL.md v1) as a C API: packet ids,
 * result codes, header and body encode/decode, UTF-8 / user-id validation and
 * the stream reassembler. The one public header of src/proto.
 * Called by the session and room actors (server side), by ringchat-cli and
 * ringchat-bench (client side), by the tests and by the fuzz target.
 * It must never allocate except proto_reasm's one partial-packet buffer, never
 * block, never read past a (pointer, length) it was given, never write past a
 * capacity it was given, and never depend on host endianness or alignment.
 * Invariant: a decoder that succeeds has filled every field of its output; one
 * that fails returns the exact answer PROTOCOL.md prescribes (its output is
 * then unspecified). */
#ifndef RINGCHAT_PROTO_H
#define RINGCHAT_PROTO_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- sizes -------------------------------------------------------------- */

#define PROTO_HEADER_SIZE        5     /* u16 length, u16 id, u8 type */
#define PROTO_MAX_PACKET_DEFAULT 4096  /* server default for --max-packet */
#define PROTO_MAX_PACKET_LIMIT   65535 /* largest value the u16 length can hold */
#define PROTO_ID_FIELD           33    /* char user_id[33] */
#define PROTO_PW_FIELD           33    /* char password[33] */
#define PROTO_MSG_FIELD          257   /* char message[257] */
#define PROTO_ID_MAX_LEN         32    /* a user id always leaves room for its NUL */
#define PROTO_LOGIN_REQ_BODY     66    /* user_id[33] + password[33] */
#define PROTO_RESULT_BODY        2     /* u16/i16 result of every *_RES */
#define PROTO_CHAT_NOTIFY_BODY   290   /* user_id[33] + message[257] */
#define PROTO_USER_LIST_MAX      127   /* i8 count */
#define PROTO_ERROR_NTF_BODY     4     /* u16 code, u16 offending id */
/* One user entry on the wire: i64 uid, i8 id_len, id bytes. */
#define PROTO_USER_ENTRY_MIN 10
#define PROTO_USER_ENTRY_MAX (9 + PROTO_ID_MAX_LEN)
/* Largest ROOM_USER_LIST_NTF: 5 + 1 + 127 * 41 = 5213 bytes. It is larger than
 * PROTO_MAX_PACKET_DEFAULT: a client must reassemble with a larger max_packet. */
#define PROTO_USER_LIST_PACKET_MAX                                                                 \
    (PROTO_HEADER_SIZE + 1 + PROTO_USER_LIST_MAX * PROTO_USER_ENTRY_MAX)

/* ---- packet ids and codes ---------------------------------------------- */

enum proto_packet_id {
    PROTO_DEV_ECHO = 1,
    /* Internal ids of the tutorial: named so they can be recognised and refused. */
    PROTO_SYS_USER_CONNECT = 11,
    PROTO_SYS_USER_DISCONNECT = 12,
    PROTO_SYS_END = 30,
    PROTO_DB_END = 199,

    PROTO_LOGIN_REQ = 201,
    PROTO_LOGIN_RES = 202,
    PROTO_ROOM_ENTER_REQ = 206,
    PROTO_ROOM_ENTER_RES = 207,
    PROTO_ROOM_NEW_USER_NTF = 208,
    PROTO_ROOM_USER_LIST_NTF = 209,
    PROTO_ROOM_LEAVE_REQ = 215,
    PROTO_ROOM_LEAVE_RES = 216,
    PROTO_ROOM_LEAVE_USER_NTF = 217,
    PROTO_ROOM_CHAT_REQ = 221,
    PROTO_ROOM_CHAT_RES = 222,
    PROTO_ROOM_CHAT_NOTIFY = 223,
    PROTO_PING_REQ = 241,
    PROTO_PING_RES = 242,
    PROTO_ERROR_NTF = 243,
};

/* Result codes (in *_RES bodies) and error codes (in ERROR_NTF). */
enum proto_code {
    PROTO_OK = 0,
    PROTO_ERR_BAD_TYPE = 2,
    PROTO_ERR_UNKNOWN_PACKET = 3,
    PROTO_ERR_BAD_LENGTH = 4,
    PROTO_ERR_BAD_BODY = 5,
    PROTO_ERR_SLOW_CONSUMER = 6,
    PROTO_ERR_IDLE_TIMEOUT = 7,
    PROTO_ERR_SERVER_SHUTDOWN = 8,
    PROTO_ERR_TOO_MANY_CONNECTIONS = 9,     /* ERROR_NTF before close: --max-unauth reached */
    PROTO_ERR_TOO_MANY_LOGIN_FAILURES = 10, /* ERROR_NTF before close: --login-attempts */
    PROTO_LOGIN_USER_ALREADY = 31,
    PROTO_LOGIN_USER_USED_ALL_OBJ = 32,
    PROTO_LOGIN_USER_INVALID_PW = 33,
    PROTO_LOGIN_BACKEND_UNAVAILABLE = 34,
    PROTO_LOGIN_INVALID_ID = 35,
    PROTO_ENTER_ROOM_INVALID_USER_STATUS = 52,
    PROTO_ENTER_ROOM_FULL_USER = 54,
    PROTO_ROOM_INVALID_INDEX = 61,
    PROTO_ROOM_TOO_MANY_PACKET = 63,
    PROTO_LEAVE_ROOM_INVALID_ROOM_INDEX = 71,
    PROTO_CHAT_ROOM_INVALID_ROOM_NUMBER = 81,
    PROTO_CHAT_INVALID_MESSAGE = 82,
};

/* "LOGIN_REQ", ...; "UNKNOWN" for any other id. Never NULL. */
const char *proto_packet_name(uint16_t id);
/* "NONE", "BAD_TYPE", "LOGIN_USER_INVALID_PW", ...; "UNKNOWN" otherwise. */
const char *proto_code_name(uint16_t code);
/* Ids a client may send: DEV_ECHO, LOGIN_REQ, ROOM_ENTER_REQ, ROOM_LEAVE_REQ,
 * ROOM_CHAT_REQ, PING_REQ. */
bool proto_packet_is_client_request(uint16_t id);
/* The tutorial's internal ids 11, 12, 30, 199. */
bool proto_packet_is_internal(uint16_t id);

/* ---- header ------------------------------------------------------------- */

typedef struct proto_header {
    uint16_t length; /* whole packet, header included */
    uint16_t id;
    uint8_t type; /* must be 0 */
} proto_header_t;

/* Reads PROTO_HEADER_SIZE bytes at p. */
void proto_header_decode(const uint8_t *p, proto_header_t *h);
/* Writes PROTO_HEADER_SIZE bytes at p, type 0. */
void proto_header_encode(uint8_t *p, uint16_t length, uint16_t id);

/* What the server does with a client packet before decoding its body, checked
 * in this order (the first failing rule wins):
 *   length < 5 or > max_packet    -> PROTO_ERR_BAD_LENGTH (ERROR_NTF 4, close;
 *                                    normally already caught by proto_reasm)
 *   type != 0                     -> PROTO_ERR_BAD_TYPE (ERROR_NTF 2, ignore packet)
 *   not a client request id       -> PROTO_ERR_UNKNOWN_PACKET (ERROR_NTF 3, ignore)
 *   otherwise                     -> PROTO_OK: decode the body by id. */
enum proto_code proto_classify_request(const proto_header_t *h, size_t max_packet);

/* ---- text validation ------------------------------------------------------ */

/* Strict UTF-8: no overlongs, no surrogates, nothing above U+10FFFF, no
 * truncated sequence, no stray continuation byte. len 0 is valid. */
bool proto_utf8_valid(const uint8_t *s, size_t len);
/* A user id as accepted at login: 1..32 bytes, valid UTF-8, no C0 control
 * (0x00-0x1F), no DEL (0x7F), no C1 control (U+0080-U+009F). */
bool proto_user_id_valid(const uint8_t *s, size_t len);

/* ---- client -> server bodies ------------------------------------------- */
/* Each returns PROTO_OK or the code PROTOCOL.md says the server answers with
 * (in LOGIN_RES / ROOM_CHAT_RES, or in ERROR_NTF for PROTO_ERR_BAD_BODY). */

typedef struct proto_login_req {
    char user_id[PROTO_ID_FIELD];      /* NUL-terminated, 1..32 bytes, validated */
    size_t user_id_len;                /* strlen(user_id) */
    char password[PROTO_PW_FIELD + 1]; /* NUL-terminated, 0..33 bytes, any bytes */
    size_t password_len;               /* strlen(password) */
} proto_login_req_t;

/* -> PROTO_OK or PROTO_LOGIN_INVALID_ID (body not 66 bytes, or a bad user id). */
enum proto_code proto_decode_login_req(const uint8_t *body, size_t len, proto_login_req_t *out);
/* -> PROTO_OK or PROTO_ERR_BAD_BODY (body not exactly 4 bytes). */
enum proto_code proto_decode_room_enter_req(const uint8_t *body, size_t len, int32_t *room);
/* -> PROTO_OK or PROTO_ERR_BAD_BODY (body not empty). */
enum proto_code proto_decode_room_leave_req(const uint8_t *body, size_t len);
/* -> PROTO_OK or PROTO_ERR_BAD_BODY (body not exactly 8 bytes). */
enum proto_code proto_decode_ping_req(const uint8_t *body, size_t len, uint64_t *token);

typedef struct proto_chat_req {
    const uint8_t *text; /* points into the body (zero copy); NOT NUL-terminated */
    size_t len;          /* 1..257: bytes before the first NUL */
} proto_chat_req_t;

/* -> PROTO_OK or PROTO_CHAT_INVALID_MESSAGE (body 0 or > 257 bytes, empty text,
 * invalid UTF-8). Bytes after the first NUL are ignored. */
enum proto_code proto_decode_room_chat_req(const uint8_t *body, size_t len, proto_chat_req_t *out);

/* ---- server -> client bodies ------------------------------------------- */
/* Each returns 0, or -EBADMSG when the body is inconsistent (malformed). */

typedef struct proto_user {
    int64_t uid;
    uint8_t id_len;                /* 1..32 */
    char id[PROTO_ID_MAX_LEN + 1]; /* NUL-terminated */
} proto_user_t;

/* LOGIN_RES, ROOM_ENTER_RES, ROOM_LEAVE_RES, ROOM_CHAT_RES: exactly 2 bytes. */
int proto_decode_result(const uint8_t *body, size_t len, uint16_t *result);
/* ROOM_NEW_USER_NTF: 9 + id_len bytes, id_len 1..32, no NUL in the id. */
int proto_decode_room_new_user_ntf(const uint8_t *body, size_t len, proto_user_t *out);
/* ROOM_LEAVE_USER_NTF and PING_RES: exactly 8 bytes. */
int proto_decode_room_leave_user_ntf(const uint8_t *body, size_t len, int64_t *uid);
int proto_decode_ping_res(const uint8_t *body, size_t len, uint64_t *token);
/* ERROR_NTF: exactly 4 bytes. */
int proto_decode_error_ntf(const uint8_t *body, size_t len, uint16_t *code, uint16_t *offending_id);

typedef struct proto_chat_notify {
    char user_id[PROTO_ID_MAX_LEN + 1]; /* NUL-terminated, 1..32 bytes */
    size_t user_id_len;
    char text[PROTO_MSG_FIELD + 1]; /* NUL-terminated, 0..257 bytes */
    size_t text_len;
} proto_chat_notify_t;

/* ROOM_CHAT_NOTIFY: exactly 290 bytes, user id non-empty with a NUL inside its
 * 33 bytes. The message is taken up to its first NUL, unvalidated. */
int proto_decode_room_chat_notify(const uint8_t *body, size_t len, proto_chat_notify_t *out);

/* ROOM_USER_LIST_NTF: i8 count 0..127, then exactly count entries, each with
 * id_len 1..32 and no NUL in the id, and nothing after the last one.
 * proto_user_list_begin validates the WHOLE body first; only then does
 * proto_user_list_next hand out entries, so next can never overread. */
typedef struct proto_user_list_iter {
    const uint8_t *p;   /* next entry */
    unsigned remaining; /* entries left */
} proto_user_list_iter_t;

/* -> 0 (it ready, *count = number of entries) or -EBADMSG. */
int proto_user_list_begin(const uint8_t *body, size_t len, proto_user_list_iter_t *it,
                          unsigned *count);
/* -> true and *out filled, or false when no entry is left. */
bool proto_user_list_next(proto_user_list_iter_t *it, proto_user_t *out);
/* Fill-an-array form: -> count (0..127), -EBADMSG, or -ENOSPC if cap < count. */
int proto_decode_room_user_list_ntf(const uint8_t *body, size_t len, proto_user_t *out, size_t cap);

/* ---- encoders ---------------------------------------------------------- */
/* Each writes a whole packet (header + body) at buf and returns its size, or
 * returns 0 and writes nothing if cap is too small or an argument cannot be
 * represented (the reason is given per function). Never writes past cap. */

/* 0 if len > 65530 (the u16 length counts the header). */
size_t proto_encode_dev_echo(uint8_t *buf, size_t cap, const void *body, size_t len);
/* 0 if strlen(user_id) or strlen(password) > 32 (an empty id is encodable). */
size_t proto_encode_login_req(uint8_t *buf, size_t cap, const char *user_id, const char *password);
size_t proto_encode_login_res(uint8_t *buf, size_t cap, uint16_t result);
size_t proto_encode_room_enter_req(uint8_t *buf, size_t cap, int32_t room);
size_t proto_encode_room_enter_res(uint8_t *buf, size_t cap, uint16_t result);
/* 0 if strlen(user_id) is 0 or > 32. */
size_t proto_encode_room_new_user_ntf(uint8_t *buf, size_t cap, int64_t uid, const char *user_id);
/* 0 if n > 127 or an entry's id_len is 0 or > 32. Size: 6 + sum(9 + id_len). */
size_t proto_encode_room_user_list_ntf(uint8_t *buf, size_t cap, const proto_user_t *users,
                                       size_t n);
size_t proto_user_list_packet_size(const proto_user_t *users, size_t n);
size_t proto_encode_room_leave_req(uint8_t *buf, size_t cap);
size_t proto_encode_room_leave_res(uint8_t *buf, size_t cap, uint16_t result);
size_t proto_encode_room_leave_user_ntf(uint8_t *buf, size_t cap, int64_t uid);
/* The tutorial client's form: the full 257-byte field, NUL padded. 0 if len > 257. */
size_t proto_encode_room_chat_req(uint8_t *buf, size_t cap, const char *text, size_t len);
/* Short form: a body of exactly len bytes (0..257; 0 is encodable but refused
 * by the server). 0 if len > 257. */
size_t proto_encode_room_chat_req_short(uint8_t *buf, size_t cap, const char *text, size_t len);
size_t proto_encode_room_chat_res(uint8_t *buf, size_t cap, uint16_t result);
/* Always 5 + 290 bytes. 0 if strlen(user_id) is 0 or > 32, or text_len > 257. */
size_t proto_encode_room_chat_notify(uint8_t *buf, size_t cap, const char *user_id,
                                     const char *text, size_t text_len);
size_t proto_encode_ping_req(uint8_t *buf, size_t cap, uint64_t token);
size_t proto_encode_ping_res(uint8_t *buf, size_t cap, uint64_t token);
size_t proto_encode_error_ntf(uint8_t *buf, size_t cap, uint16_t code, uint16_t offending_id);

/* ---- stream reassembler ------------------------------------------------ */
/* Turns a byte stream, fed in chunks of any size, into whole packets.
 * Memory bound: at most ONE partial packet is held, in a buffer of max_packet
 * bytes malloc'd the first time a packet straddles two chunks and kept until
 * proto_reasm_free (a connection whose packets never straddle holds nothing).
 * Packets wholly inside a chunk are returned as pointers into that chunk
 * (zero copy); only a straddling packet is copied.
 * Use: feed(chunk), then call next() until it returns 0 (chunk consumed, any
 * tail saved) or an error. The chunk must stay valid until then. Feeding again
 * before next() returned 0 is a contract violation (aborts). */

typedef struct proto_packet {
    proto_header_t hdr;
    const uint8_t *body; /* hdr.length - 5 bytes; valid until the next feed/next call */
    size_t body_len;
} proto_packet_t;

#define PROTO_REASM_PACKET    1
#define PROTO_REASM_NEED_MORE 0
#define PROTO_REASM_TOO_SHORT (-EBADMSG)  /* header length < 5 */
#define PROTO_REASM_TOO_LONG  (-EMSGSIZE) /* header length > max_packet */
#define PROTO_REASM_NOMEM     (-ENOMEM)   /* the partial buffer could not be allocated */

typedef struct proto_reasm {
    size_t max_packet; /* 5..65535 */
    uint8_t *buf;      /* partial packet, max_packet bytes, NULL until first needed */
    size_t have;       /* bytes of the partial packet in buf */
    const uint8_t *in; /* unconsumed rest of the fed chunk */
    size_t in_len;
    int err; /* 0, or the sticky framing error */
} proto_reasm_t;

/* -> 0, or -EINVAL if max_packet is outside 5..65535. Allocates nothing. */
int proto_reasm_init(proto_reasm_t *r, size_t max_packet);
void proto_reasm_free(proto_reasm_t *r);
void proto_reasm_feed(proto_reasm_t *r, const uint8_t *data, size_t len);
/* -> PROTO_REASM_PACKET (out valid), PROTO_REASM_NEED_MORE, or a negative
 * framing error. Errors are sticky: every later call returns the same error. */
int proto_reasm_next(proto_reasm_t *r, proto_packet_t *out);
/* true while bytes of an incomplete packet are held: a stream that ends now
 * ended mid-packet (the caller just drops it). false after a framing error. */
bool proto_reasm_has_partial(const proto_reasm_t *r);

#endif
