/* fuzz_proto.c: libFuzzer target over all of src/proto: the reassembler fed
 * with input-chosen chunking and max_packet, request classification, every
 * body decoder on every packet, the encoders with tight capacities, and the
 * UTF-8 validator against an independent reference.
 * Built only with -DRINGCHAT_FUZZ=ON and clang (fuzz/CMakeLists.txt); run by
 * hand or by CI, never by ctest. It must never accept a failed invariant
 * quietly: every check calls fuzz_fail, which aborts so libFuzzer saves the input.
 * Input layout: byte 0 picks max_packet, byte 1 the chunking pattern, the rest
 * is the byte stream. Invariants checked:
 *   1. the reassembler agrees with a simple independent framing model, and its
 *      output does not depend on how the stream is chunked;
 *   2. a decoder that succeeds produced fields that re-encode to the same body
 *      (fixed layouts) or decode to the same fields again (padded layouts);
 *   3. proto_utf8_valid agrees with a reference decoder written differently;
 *   4. encoders never write past cap (ASan: buffers are exactly cap bytes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_fail(const char *what, int line)
{
    fprintf(stderr, "fuzz_proto invariant failed at line %d: %s\n", line, what);
    abort();
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fuzz_fail(#cond, __LINE__);                                                            \
    } while (0)

/* ---- 3. reference UTF-8 validator ----------------------------------------------- */

/* Decodes generically (any lead byte 110xxxxx/1110xxxx/11110xxx), then rejects
 * by value: overlong (not the shortest form), surrogate, above U+10FFFF. */
static bool ref_utf8_valid(const uint8_t *s, size_t len)
{
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    static const uint8_t lead_bits[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    size_t i = 0;

    while (i < len) {
        uint8_t b = s[i];
        size_t n = (b & 0x80) == 0      ? 1
                   : (b & 0xE0) == 0xC0 ? 2
                   : (b & 0xF0) == 0xE0 ? 3
                   : (b & 0xF8) == 0xF0 ? 4
                                        : 0;
        uint32_t cp = b & lead_bits[n];
        if (n == 0 || i + n > len)
            return false;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3Fu);
        }
        if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n;
    }
    return true;
}

/* ---- 4. encoders with an exact-size heap buffer ------------------------------- */

/* Encoders write into a malloc'd buffer of exactly cap bytes (exact_buf), so
 * ASan reports any byte written past cap; keep() checks the returned size,
 * copies the packet to enc and frees the buffer:
 *     x = exact_buf(cap); n = keep(x, cap, proto_encode_...(x, cap, ...)); */
static uint8_t enc[PROTO_MAX_PACKET_LIMIT + 16];

static uint8_t *exact_buf(size_t cap)
{
    uint8_t *b = malloc(cap ? cap : 1);
    CHECK(b != NULL);
    return b;
}

static size_t keep(uint8_t *b, size_t cap, size_t n)
{
    CHECK(n <= cap);
    memcpy(enc, b, n);
    free(b);
    return n;
}

/* A fixed-layout body re-encoded (now in enc) must equal the original. */
static void check_body_equal(size_t n, const uint8_t *body, size_t len)
{
    CHECK(n == PROTO_HEADER_SIZE + len);
    CHECK(memcmp(enc + PROTO_HEADER_SIZE, body, len) == 0);
}

/* ---- 2. decoders on every body ------------------------------------------------ */

static void fuzz_login(const uint8_t *b, size_t len)
{
    proto_login_req_t a, c;
    uint8_t *x;

    if (proto_decode_login_req(b, len, &a) != PROTO_OK)
        return;
    CHECK(len == PROTO_LOGIN_REQ_BODY);
    CHECK(strlen(a.user_id) == a.user_id_len && strlen(a.password) == a.password_len);
    CHECK(proto_user_id_valid((const uint8_t *)a.user_id, a.user_id_len));
    CHECK(ref_utf8_valid((const uint8_t *)a.user_id, a.user_id_len));
    if (a.password_len > PROTO_ID_MAX_LEN) /* 33-byte password: not encodable */
        return;
    x = exact_buf(71);
    CHECK(keep(x, 71, proto_encode_login_req(x, 71, a.user_id, a.password)) == 71);
    CHECK(proto_decode_login_req(enc + 5, 66, &c) == PROTO_OK);
    CHECK(strcmp(a.user_id, c.user_id) == 0 && strcmp(a.password, c.password) == 0);
}

static void fuzz_chat_req(const uint8_t *b, size_t len)
{
    proto_chat_req_t c;
    proto_chat_notify_t nt;
    uint8_t *x;

    if (proto_decode_room_chat_req(b, len, &c) != PROTO_OK)
        return;
    CHECK(len >= 1 && len <= PROTO_MSG_FIELD && c.len >= 1 && c.len <= len);
    CHECK(c.text == b && memchr(c.text, 0, c.len) == NULL);
    CHECK(ref_utf8_valid(c.text, c.len));
    x = exact_buf(295);
    CHECK(keep(x, 295, proto_encode_room_chat_notify(x, 295, "u", (const char *)c.text, c.len)) ==
          295);
    CHECK(proto_decode_room_chat_notify(enc + 5, 290, &nt) == 0);
    CHECK(nt.text_len == c.len && memcmp(nt.text, c.text, c.len) == 0);
}

static void fuzz_fixed_requests(const uint8_t *b, size_t len)
{
    int32_t room;
    uint64_t token;
    uint8_t *x;

    if (proto_decode_room_enter_req(b, len, &room) == PROTO_OK) {
        x = exact_buf(9);
        check_body_equal(keep(x, 9, proto_encode_room_enter_req(x, 9, room)), b, len);
    }
    if (proto_decode_ping_req(b, len, &token) == PROTO_OK) {
        x = exact_buf(13);
        check_body_equal(keep(x, 13, proto_encode_ping_req(x, 13, token)), b, len);
    }
    CHECK((proto_decode_room_leave_req(b, len) == PROTO_OK) == (len == 0));
}

static void fuzz_fixed_responses(const uint8_t *b, size_t len)
{
    uint16_t res, code, id;
    int64_t uid;
    uint64_t token;
    uint8_t *x;

    if (proto_decode_result(b, len, &res) == 0) {
        x = exact_buf(7);
        check_body_equal(keep(x, 7, proto_encode_login_res(x, 7, res)), b, len);
    }
    if (proto_decode_room_leave_user_ntf(b, len, &uid) == 0) {
        x = exact_buf(13);
        check_body_equal(keep(x, 13, proto_encode_room_leave_user_ntf(x, 13, uid)), b, len);
    }
    if (proto_decode_ping_res(b, len, &token) == 0) {
        x = exact_buf(13);
        check_body_equal(keep(x, 13, proto_encode_ping_res(x, 13, token)), b, len);
    }
    if (proto_decode_error_ntf(b, len, &code, &id) == 0) {
        x = exact_buf(9);
        check_body_equal(keep(x, 9, proto_encode_error_ntf(x, 9, code, id)), b, len);
    }
}

static void fuzz_users(const uint8_t *b, size_t len)
{
    static proto_user_t users[PROTO_USER_LIST_MAX];
    proto_user_t u;
    size_t cap = PROTO_HEADER_SIZE + len, n;
    uint8_t *x;
    int count;

    if (proto_decode_room_new_user_ntf(b, len, &u) == 0) {
        CHECK(u.id_len >= 1 && u.id_len <= PROTO_ID_MAX_LEN && strlen(u.id) == u.id_len);
        x = exact_buf(cap);
        check_body_equal(keep(x, cap, proto_encode_room_new_user_ntf(x, cap, u.uid, u.id)), b, len);
    }
    count = proto_decode_room_user_list_ntf(b, len, users, PROTO_USER_LIST_MAX);
    if (count < 0)
        return;
    CHECK(count <= PROTO_USER_LIST_MAX);
    CHECK(proto_user_list_packet_size(users, (size_t)count) == cap);
    x = exact_buf(cap);
    n = keep(x, cap, proto_encode_room_user_list_ntf(x, cap, users, (size_t)count));
    check_body_equal(n, b, len);
    /* One byte less must be refused (ASan: the buffer is cap - 1 bytes). */
    x = exact_buf(cap - 1);
    CHECK(keep(x, cap - 1, proto_encode_room_user_list_ntf(x, cap - 1, users, (size_t)count)) == 0);
}

static void fuzz_chat_notify(const uint8_t *b, size_t len)
{
    proto_chat_notify_t a, c;
    uint8_t *x;

    if (proto_decode_room_chat_notify(b, len, &a) != 0)
        return;
    CHECK(len == PROTO_CHAT_NOTIFY_BODY);
    CHECK(a.user_id_len >= 1 && a.user_id_len <= PROTO_ID_MAX_LEN);
    CHECK(strlen(a.user_id) == a.user_id_len && strlen(a.text) == a.text_len);
    x = exact_buf(295);
    CHECK(keep(x, 295, proto_encode_room_chat_notify(x, 295, a.user_id, a.text, a.text_len)) ==
          295);
    CHECK(proto_decode_room_chat_notify(enc + 5, 290, &c) == 0);
    CHECK(strcmp(a.user_id, c.user_id) == 0 && a.text_len == c.text_len);
    CHECK(memcmp(a.text, c.text, a.text_len) == 0);
}

/* Classification must follow the documented precedence exactly. */
static void fuzz_classify(const proto_header_t *h, size_t max_packet)
{
    enum proto_code want = PROTO_OK;

    if (h->length < PROTO_HEADER_SIZE || h->length > max_packet)
        want = PROTO_ERR_BAD_LENGTH;
    else if (h->type != 0)
        want = PROTO_ERR_BAD_TYPE;
    else if (!proto_packet_is_client_request(h->id))
        want = PROTO_ERR_UNKNOWN_PACKET;
    CHECK(proto_classify_request(h, max_packet) == want);
    CHECK(proto_packet_name(h->id) != NULL && proto_code_name(h->id) != NULL);
}

static void fuzz_packet(const proto_packet_t *p, size_t max_packet)
{
    const uint8_t *b = p->body;
    size_t len = p->body_len;

    CHECK(p->hdr.length >= PROTO_HEADER_SIZE && p->hdr.length <= max_packet);
    CHECK(len == (size_t)p->hdr.length - PROTO_HEADER_SIZE);
    fuzz_classify(&p->hdr, max_packet);
    CHECK(proto_utf8_valid(b, len) == ref_utf8_valid(b, len));
    if (proto_user_id_valid(b, len))
        CHECK(len >= 1 && len <= PROTO_ID_MAX_LEN && ref_utf8_valid(b, len));
    fuzz_login(b, len);
    fuzz_chat_req(b, len);
    fuzz_fixed_requests(b, len);
    fuzz_fixed_responses(b, len);
    fuzz_users(b, len);
    fuzz_chat_notify(b, len);
}

/* ---- 1. framing: model, whole feed, chunked feed --------------------------------- */

typedef struct frames {
    const uint8_t *pkt[PROTO_MAX_PACKET_LIMIT / PROTO_HEADER_SIZE + 1]; /* into the stream */
    size_t count;
    int end;      /* final result: NEED_MORE or the framing error */
    bool partial; /* bytes of an incomplete packet left at the end */
} frames_t;

static frames_t model;

/* The framing rules of PROTOCOL.md, written as plainly as possible. */
static void frame_model(const uint8_t *s, size_t len, size_t max_packet, frames_t *m)
{
    size_t off = 0;

    m->count = 0;
    m->end = PROTO_REASM_NEED_MORE;
    while (len - off >= 2) {
        size_t plen = (size_t)s[off] | ((size_t)s[off + 1] << 8);
        if (plen < 5 || plen > max_packet) {
            m->end = plen < 5 ? PROTO_REASM_TOO_SHORT : PROTO_REASM_TOO_LONG;
            break;
        }
        if (len - off < plen)
            break;
        m->pkt[m->count++] = s + off;
        off += plen;
    }
    m->partial = m->end == PROTO_REASM_NEED_MORE && off < len;
}

/* Next chunk size for pattern p (byte 1 of the input). */
static size_t chunk_size(uint8_t p, uint32_t *state, size_t left)
{
    size_t param = (size_t)(p & 63) + 1, n;

    switch (p >> 6) {
    case 0:
        n = left; /* the whole rest */
        break;
    case 1:
        n = param; /* fixed size */
        break;
    case 2:
        *state = *state * 1103515245u + 12345u;
        n = 1 + (*state >> 16) % (param * 8);
        break;
    default:
        *state ^= 1;
        n = *state & 1 ? 1 : param; /* alternate 1 byte and param bytes */
        break;
    }
    return n < left ? n : left;
}

/* Compares one reassembled packet with the model's next packet. */
static void expect_model_packet(const proto_packet_t *p, size_t *i)
{
    proto_header_t h;

    CHECK(*i < model.count);
    proto_header_decode(model.pkt[*i], &h);
    CHECK(p->hdr.length == h.length && p->hdr.id == h.id && p->hdr.type == h.type);
    CHECK(memcmp(p->body, model.pkt[*i] + PROTO_HEADER_SIZE, p->body_len) == 0);
    (*i)++;
}

/* Feeds the stream in chunks, each copied to an exact-size heap buffer so that
 * ASan catches any read outside the chunk. Checks against the model. */
static void run_chunked(const uint8_t *s, size_t len, size_t max_packet, uint8_t pattern,
                        bool decode)
{
    proto_reasm_t r;
    proto_packet_t p;
    uint32_t state = pattern;
    size_t off = 0, i = 0;
    int rc = PROTO_REASM_NEED_MORE;

    CHECK(proto_reasm_init(&r, max_packet) == 0);
    do {
        size_t n = chunk_size(pattern, &state, len - off);
        uint8_t *chunk = malloc(n ? n : 1);
        memcpy(chunk, s + off, n);
        proto_reasm_feed(&r, chunk, n);
        while ((rc = proto_reasm_next(&r, &p)) == PROTO_REASM_PACKET) {
            expect_model_packet(&p, &i);
            if (decode)
                fuzz_packet(&p, max_packet);
        }
        free(chunk);
        off += n;
    } while (off < len && rc == PROTO_REASM_NEED_MORE);
    CHECK(rc == model.end && i == model.count);
    CHECK(proto_reasm_has_partial(&r) == model.partial);
    if (rc < 0) { /* sticky */
        proto_reasm_feed(&r, s, len);
        CHECK(proto_reasm_next(&r, &p) == rc);
    }
    proto_reasm_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t max_table[8] = {5, 6, 13, 71, 262, 295, 4096, 65535};
    size_t max_packet;
    uint8_t pattern;
    proto_header_t h;

    if (size < 2)
        return 0;
    max_packet = max_table[data[0] & 7];
    if (data[0] & 0x80) /* any other value in 5..65535 too */
        max_packet = 5 + ((size_t)data[0] * 517) % (PROTO_MAX_PACKET_LIMIT - 4);
    pattern = data[1];
    data += 2;
    size -= 2;
    if (size > PROTO_MAX_PACKET_LIMIT)
        size = PROTO_MAX_PACKET_LIMIT;

    frame_model(data, size, max_packet, &model);
    run_chunked(data, size, max_packet, pattern, true); /* input-chosen chunks */
    run_chunked(data, size, max_packet, 0, false);      /* one chunk */
    run_chunked(data, size, max_packet, 0x40, false);   /* one byte at a time */
    if (size >= PROTO_HEADER_SIZE) {
        proto_header_decode(data, &h);
        fuzz_classify(&h, max_packet);
    }
    CHECK(proto_utf8_valid(data, size) == ref_utf8_valid(data, size));
    return 0;
}
