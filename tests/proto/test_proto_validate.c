/* test_proto_validate.c: every validation rule of the decoders, one at a
 * time: login id and password rules, strict UTF-8, body sizes of the fixed
 * packets, chat text rules, request classification, malformed server->client
 * bodies, and encoders refusing a too-small buffer or unrepresentable input.
 * Run by ctest as test_proto_validate. Pure computation, no waiting. */
#include <criterion/criterion.h>
#include <string.h>

#include "proto.h"

/* ---- strict UTF-8 ---------------------------------------------------------- */

typedef struct seq {
    const char *what;
    const char *bytes;
    size_t len;
} seq_t;

#define SEQ(what, lit)                                                                             \
    {                                                                                              \
        what, lit, sizeof(lit) - 1                                                                 \
    }

static const seq_t bad_utf8[] = {
    SEQ("overlong 2-byte NUL", "\xC0\x80"),
    SEQ("overlong 2-byte C1", "\xC1\xBF"),
    SEQ("overlong 3-byte", "\xE0\x80\x80"),
    SEQ("overlong 3-byte max", "\xE0\x9F\xBF"),
    SEQ("overlong 4-byte", "\xF0\x80\x80\x80"),
    SEQ("overlong 4-byte max", "\xF0\x8F\xBF\xBF"),
    SEQ("surrogate D800", "\xED\xA0\x80"),
    SEQ("surrogate DFFF", "\xED\xBF\xBF"),
    SEQ("U+110000", "\xF4\x90\x80\x80"),
    SEQ("lead F5", "\xF5\x80\x80\x80"),
    SEQ("byte FE", "\xFE"),
    SEQ("byte FF", "\xFF"),
    SEQ("truncated 2-byte", "\xC3"),
    SEQ("truncated 3-byte", "\xE2\x82"),
    SEQ("truncated 4-byte", "\xF0\x9F\x98"),
    SEQ("truncated in the middle", "a\xE2\x82"
                                   "b"),
    SEQ("stray continuation 80", "\x80"),
    SEQ("stray continuation BF", "\xBF"),
    SEQ("stray continuation after ASCII", "a\x80"
                                          "b"),
    SEQ("continuation after complete seq", "\xC3\xA9\xA9"),
    SEQ("ASCII as continuation", "\xC3\x41"),
    SEQ("bad third byte", "\xE2\x82\x28"),
    SEQ("bad fourth byte", "\xF0\x9F\x98\x41"),
};

static const seq_t good_utf8[] = {
    SEQ("ASCII", "abc"),
    SEQ("U+0080", "\xC2\x80"),
    SEQ("U+07FF", "\xDF\xBF"),
    SEQ("U+0800", "\xE0\xA0\x80"),
    SEQ("U+D7FF", "\xED\x9F\xBF"),
    SEQ("U+E000", "\xEE\x80\x80"),
    SEQ("U+FFFF", "\xEF\xBF\xBF"),
    SEQ("U+10000", "\xF0\x90\x80\x80"),
    SEQ("U+10FFFF", "\xF4\x8F\xBF\xBF"),
    SEQ("Hangul", "\xEB\xAF\xBC\xEC\x88\x98"),
    SEQ("emoji", "\xF0\x9F\x98\x80"),
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

Test(utf8, rejects_each_kind_of_invalid_sequence)
{
    for (size_t i = 0; i < N(bad_utf8); i++)
        cr_expect_not(proto_utf8_valid((const uint8_t *)bad_utf8[i].bytes, bad_utf8[i].len),
                      "accepted: %s", bad_utf8[i].what);
}

Test(utf8, accepts_boundary_code_points)
{
    cr_assert(proto_utf8_valid((const uint8_t *)"", 0));
    for (size_t i = 0; i < N(good_utf8); i++)
        cr_expect(proto_utf8_valid((const uint8_t *)good_utf8[i].bytes, good_utf8[i].len),
                  "rejected: %s", good_utf8[i].what);
}

Test(utf8, never_reads_past_len)
{
    /* A valid 2-byte sequence cut by len must be seen as truncated. */
    cr_assert_not(proto_utf8_valid((const uint8_t *)"\xC3\xA9", 1));
    cr_assert(proto_utf8_valid((const uint8_t *)"ab\xFF", 2));
}

/* ---- LOGIN_REQ ------------------------------------------------------------- */

/* Builds a 66-byte login body: id field then password field, zero padded. */
static void login_body(uint8_t body[66], const void *id, size_t id_len, const void *pw,
                       size_t pw_len)
{
    memset(body, 0, 66);
    memcpy(body, id, id_len);
    memcpy(body + 33, pw, pw_len);
}

static enum proto_code login(const void *id, size_t id_len)
{
    uint8_t body[66];
    proto_login_req_t req;

    login_body(body, id, id_len, "pw", 2);
    return proto_decode_login_req(body, 66, &req);
}

Test(login_req, valid_id_and_password)
{
    uint8_t body[66];
    proto_login_req_t req;

    login_body(body, "alice", 5, "secret", 6);
    cr_assert_eq(proto_decode_login_req(body, 66, &req), PROTO_OK);
    cr_assert_str_eq(req.user_id, "alice");
    cr_assert_str_eq(req.password, "secret");
}

Test(login_req, body_not_66_bytes_is_invalid_id)
{
    uint8_t body[67];
    proto_login_req_t req;

    login_body(body, "alice", 5, "pw", 2);
    body[66] = 0;
    cr_assert_eq(proto_decode_login_req(body, 65, &req), PROTO_LOGIN_INVALID_ID);
    cr_assert_eq(proto_decode_login_req(body, 67, &req), PROTO_LOGIN_INVALID_ID);
    cr_assert_eq(proto_decode_login_req(body, 0, &req), PROTO_LOGIN_INVALID_ID);
    cr_assert_eq(proto_decode_login_req(body, 66, &req), PROTO_OK);
}

Test(login_req, empty_id)
{
    cr_assert_eq(login("", 0), PROTO_LOGIN_INVALID_ID);
}

Test(login_req, id_without_nul_in_its_33_bytes)
{
    uint8_t id[33];

    memset(id, 'a', sizeof(id));
    cr_assert_eq(login(id, 33), PROTO_LOGIN_INVALID_ID);
    cr_assert_eq(login(id, 32), PROTO_OK, "32 bytes + NUL is the longest id");
}

Test(login_req, id_text_ends_at_first_nul)
{
    uint8_t body[66];
    proto_login_req_t req;

    login_body(body, "bob\0\x01\xFF", 6, "pw", 2);
    cr_assert_eq(proto_decode_login_req(body, 66, &req), PROTO_OK);
    cr_assert_str_eq(req.user_id, "bob");
    cr_assert_eq(req.user_id_len, 3);
}

Test(login_req, id_with_control_characters)
{
    static const seq_t ctl[] = {
        SEQ("SOH", "a\x01"),
        SEQ("TAB", "a\tb"),
        SEQ("LF", "a\n"),
        SEQ("US", "\x1F"
                  "a"),
        SEQ("ESC", "\x1B[0m"),
        SEQ("DEL", "a\x7F"),
        SEQ("C1 U+0080", "a\xC2\x80"),
        SEQ("C1 U+0085 NEL", "\xC2\x85"),
        SEQ("C1 U+009F", "a\xC2\x9F"),
    };

    for (size_t i = 0; i < N(ctl); i++)
        cr_expect_eq(login(ctl[i].bytes, ctl[i].len), PROTO_LOGIN_INVALID_ID, "accepted: %s",
                     ctl[i].what);
    /* Neighbours of the control ranges are allowed. */
    cr_expect_eq(login(" ~", 2), PROTO_OK);
    cr_expect_eq(login("\xC2\xA0", 2), PROTO_OK, "U+00A0 is not a control");
}

Test(login_req, id_with_invalid_utf8)
{
    for (size_t i = 0; i < N(bad_utf8); i++) {
        if (memchr(bad_utf8[i].bytes, 0, bad_utf8[i].len))
            continue;
        cr_expect_eq(login(bad_utf8[i].bytes, bad_utf8[i].len), PROTO_LOGIN_INVALID_ID,
                     "accepted: %s", bad_utf8[i].what);
    }
    cr_expect_eq(login("\xEB\xAF\xBC\xEC\x88\x98", 6), PROTO_OK);
}

Test(login_req, password_may_fill_its_field_without_nul)
{
    uint8_t body[66];
    proto_login_req_t req;

    memset(body, 0, sizeof(body));
    memcpy(body, "u", 1);
    memset(body + 33, 'p', 33);
    cr_assert_eq(proto_decode_login_req(body, 66, &req), PROTO_OK);
    cr_assert_eq(req.password_len, 33);
    cr_assert_eq(strlen(req.password), 33);
}

Test(login_req, password_is_opaque_and_ends_at_nul)
{
    uint8_t body[66];
    proto_login_req_t req;

    login_body(body, "u", 1,
               "\x01\xFF\x7F\xC0\x80"
               "x\0tail",
               11);
    cr_assert_eq(proto_decode_login_req(body, 66, &req), PROTO_OK);
    cr_assert_eq(req.password_len, 6);
    cr_assert_arr_eq(req.password, "\x01\xFF\x7F\xC0\x80x", 7);

    login_body(body, "u", 1, "", 0);
    cr_assert_eq(proto_decode_login_req(body, 66, &req), PROTO_OK);
    cr_assert_eq(req.password_len, 0, "an empty password is the auth backend's call");
}

/* ---- fixed-size requests ----------------------------------------------------- */

Test(requests, room_enter_body_must_be_4_bytes)
{
    static const uint8_t b[5] = {1, 0, 0, 0, 0};
    int32_t room = 99;

    cr_assert_eq(proto_decode_room_enter_req(b, 3, &room), PROTO_ERR_BAD_BODY);
    cr_assert_eq(proto_decode_room_enter_req(b, 5, &room), PROTO_ERR_BAD_BODY);
    cr_assert_eq(proto_decode_room_enter_req(b, 0, &room), PROTO_ERR_BAD_BODY);
    cr_assert_eq(room, 99, "untouched on error");
    cr_assert_eq(proto_decode_room_enter_req(b, 4, &room), PROTO_OK);
    cr_assert_eq(room, 1);
}

Test(requests, room_leave_body_must_be_empty)
{
    static const uint8_t b[1] = {0};

    cr_assert_eq(proto_decode_room_leave_req(b, 1), PROTO_ERR_BAD_BODY);
    cr_assert_eq(proto_decode_room_leave_req(b, 0), PROTO_OK);
    cr_assert_eq(proto_decode_room_leave_req(NULL, 0), PROTO_OK);
}

Test(requests, ping_body_must_be_8_bytes)
{
    static const uint8_t b[9] = {0};
    uint64_t t;

    cr_assert_eq(proto_decode_ping_req(b, 7, &t), PROTO_ERR_BAD_BODY);
    cr_assert_eq(proto_decode_ping_req(b, 9, &t), PROTO_ERR_BAD_BODY);
    cr_assert_eq(proto_decode_ping_req(b, 8, &t), PROTO_OK);
}

/* ---- ROOM_CHAT_REQ ---------------------------------------------------------- */

static enum proto_code chat(const void *body, size_t len, proto_chat_req_t *c)
{
    return proto_decode_room_chat_req(body, len, c);
}

Test(chat_req, body_sizes_0_1_257_258)
{
    uint8_t b[258];
    proto_chat_req_t c;

    memset(b, 'a', sizeof(b));
    cr_assert_eq(chat(b, 0, &c), PROTO_CHAT_INVALID_MESSAGE);
    cr_assert_eq(chat(b, 1, &c), PROTO_OK);
    cr_assert_eq(c.len, 1);
    cr_assert_eq(chat(b, 257, &c), PROTO_OK);
    cr_assert_eq(c.len, 257);
    cr_assert_eq(chat(b, 258, &c), PROTO_CHAT_INVALID_MESSAGE, "258 bytes > the 257 field");
}

Test(chat_req, empty_text)
{
    static const uint8_t nul1[1] = {0};
    static const uint8_t nuls[257] = {0};
    proto_chat_req_t c;

    cr_assert_eq(chat(nul1, 1, &c), PROTO_CHAT_INVALID_MESSAGE);
    cr_assert_eq(chat(nuls, 257, &c), PROTO_CHAT_INVALID_MESSAGE);
}

Test(chat_req, text_ends_at_nul_in_the_middle)
{
    proto_chat_req_t c;

    cr_assert_eq(chat("ab\0cd", 5, &c), PROTO_OK);
    cr_assert_eq(c.len, 2);
    /* Garbage after the NUL is not text and is not validated. */
    cr_assert_eq(chat("ok\0\xFF\xC0\x80", 6, &c), PROTO_OK);
    cr_assert_eq(c.len, 2);
}

Test(chat_req, invalid_utf8)
{
    proto_chat_req_t c;

    for (size_t i = 0; i < N(bad_utf8); i++)
        cr_expect_eq(chat(bad_utf8[i].bytes, bad_utf8[i].len, &c), PROTO_CHAT_INVALID_MESSAGE,
                     "accepted: %s", bad_utf8[i].what);
}

Test(chat_req, multibyte_cut_by_the_field_end)
{
    uint8_t b[257];
    proto_chat_req_t c;

    memset(b, 'a', sizeof(b));
    b[256] = 0xE2; /* starts a 3-byte sequence in the last byte of the field */
    cr_assert_eq(chat(b, 257, &c), PROTO_CHAT_INVALID_MESSAGE);
    b[255] = 0xC3;
    b[256] = 0xA9; /* a complete é ends the field */
    cr_assert_eq(chat(b, 257, &c), PROTO_OK);
}

Test(chat_req, control_characters_are_allowed)
{
    proto_chat_req_t c;

    cr_assert_eq(chat("a\tb\nc\x01\x7F\xC2\x85", 9, &c), PROTO_OK);
    cr_assert_eq(c.len, 9);
}

/* ---- classification ----------------------------------------------------------- */

static enum proto_code classify(uint16_t length, uint16_t id, uint8_t type)
{
    proto_header_t h = {.length = length, .id = id, .type = type};
    return proto_classify_request(&h, PROTO_MAX_PACKET_DEFAULT);
}

Test(classify, client_requests_are_ok)
{
    static const uint16_t ids[] = {1, 201, 206, 215, 221, 241};

    for (size_t i = 0; i < N(ids); i++)
        cr_expect_eq(classify(5, ids[i], 0), PROTO_OK, "id %u", ids[i]);
}

Test(classify, type_not_zero_is_bad_type_and_checked_before_id)
{
    cr_assert_eq(classify(5, PROTO_PING_REQ, 1), PROTO_ERR_BAD_TYPE);
    cr_assert_eq(classify(5, PROTO_LOGIN_REQ, 0x80), PROTO_ERR_BAD_TYPE);
    cr_assert_eq(classify(5, 9999, 0xFF), PROTO_ERR_BAD_TYPE);
    cr_assert_eq(classify(5, 11, 2), PROTO_ERR_BAD_TYPE);
}

Test(classify, internal_ids_are_unknown_packet)
{
    static const uint16_t ids[] = {11, 12, 30, 199};

    for (size_t i = 0; i < N(ids); i++) {
        cr_expect_eq(classify(5, ids[i], 0), PROTO_ERR_UNKNOWN_PACKET, "id %u", ids[i]);
        cr_expect(proto_packet_is_internal(ids[i]));
    }
}

Test(classify, unknown_and_server_to_client_ids)
{
    static const uint16_t ids[] = {0,   2,   200, 202, 207, 208, 209,  216,
                                   217, 222, 223, 242, 243, 244, 65535};

    for (size_t i = 0; i < N(ids); i++)
        cr_expect_eq(classify(5, ids[i], 0), PROTO_ERR_UNKNOWN_PACKET, "id %u", ids[i]);
}

Test(classify, length_outside_5_to_max_packet)
{
    proto_header_t h = {.length = 100, .id = PROTO_PING_REQ, .type = 1};

    cr_assert_eq(classify(4, PROTO_PING_REQ, 0), PROTO_ERR_BAD_LENGTH);
    cr_assert_eq(classify(0, PROTO_PING_REQ, 1), PROTO_ERR_BAD_LENGTH, "length before type");
    cr_assert_eq(proto_classify_request(&h, 99), PROTO_ERR_BAD_LENGTH);
    cr_assert_eq(proto_classify_request(&h, 100), PROTO_ERR_BAD_TYPE);
}

/* ---- malformed server -> client bodies ---------------------------------------- */

Test(server_bodies, result_must_be_2_bytes)
{
    static const uint8_t b[3] = {0};
    uint16_t r;

    cr_assert_eq(proto_decode_result(b, 1, &r), -EBADMSG);
    cr_assert_eq(proto_decode_result(b, 3, &r), -EBADMSG);
    cr_assert_eq(proto_decode_result(b, 0, &r), -EBADMSG);
}

Test(server_bodies, new_user_ntf_inconsistent)
{
    /* uid 1, id_len 2, "ab", one spare byte for the "too long" case */
    uint8_t b[12] = {1, 0, 0, 0, 0, 0, 0, 0, 2, 'a', 'b', 'c'};
    proto_user_t u;

    cr_assert_eq(proto_decode_room_new_user_ntf(b, 11, &u), 0);
    cr_assert_eq(proto_decode_room_new_user_ntf(b, 10, &u), -EBADMSG, "short by one");
    cr_assert_eq(proto_decode_room_new_user_ntf(b, 12, &u), -EBADMSG, "one extra byte");
    cr_assert_eq(proto_decode_room_new_user_ntf(b, 8, &u), -EBADMSG, "no id_len");
    b[8] = 0;
    cr_assert_eq(proto_decode_room_new_user_ntf(b, 9, &u), -EBADMSG, "id_len 0");
    b[8] = 0x80;
    cr_assert_eq(proto_decode_room_new_user_ntf(b, 11, &u), -EBADMSG, "negative id_len");
    b[8] = 2;
    b[10] = 0;
    cr_assert_eq(proto_decode_room_new_user_ntf(b, 11, &u), -EBADMSG, "NUL inside the id");
}

Test(server_bodies, new_user_ntf_id_len_33)
{
    uint8_t b[9 + 33];
    proto_user_t u;

    memset(b, 'x', sizeof(b));
    b[8] = 33;
    cr_assert_eq(proto_decode_room_new_user_ntf(b, sizeof(b), &u), -EBADMSG);
    b[8] = 32;
    cr_assert_eq(proto_decode_room_new_user_ntf(b, sizeof(b) - 1, &u), 0);
    cr_assert_eq(strlen(u.id), 32);
}

Test(server_bodies, user_list_inconsistent)
{
    /* count 2: (1, "a"), (2, "bc") = 1 + 10 + 11 = 22 bytes, + 1 spare */
    uint8_t b[23] = {2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 'a', 2, 0, 0, 0, 0, 0, 0, 0, 2, 'b', 'c', 0};
    proto_user_t users[2];
    proto_user_list_iter_t it;
    unsigned n;

    cr_assert_eq(proto_decode_room_user_list_ntf(b, 22, users, 2), 2);
    cr_assert_eq(proto_decode_room_user_list_ntf(b, 0, users, 2), -EBADMSG, "no count");
    cr_assert_eq(proto_decode_room_user_list_ntf(b, 21, users, 2), -EBADMSG, "truncated entry");
    cr_assert_eq(proto_decode_room_user_list_ntf(b, 23, users, 2), -EBADMSG, "trailing byte");
    cr_assert_eq(proto_decode_room_user_list_ntf(b, 11, users, 2), -EBADMSG, "one entry missing");
    cr_assert_eq(proto_decode_room_user_list_ntf(b, 22, users, 1), -ENOSPC);
    b[0] = 1;
    cr_assert_eq(proto_user_list_begin(b, 22, &it, &n), -EBADMSG, "count 1 with 2 entries");
    b[0] = 0x80;
    cr_assert_eq(proto_user_list_begin(b, 22, &it, &n), -EBADMSG, "count -128");
    b[0] = 0xFF;
    cr_assert_eq(proto_user_list_begin(b, 22, &it, &n), -EBADMSG, "count -1");
    b[0] = 2;
    b[19] = 0;
    cr_assert_eq(proto_user_list_begin(b, 22, &it, &n), -EBADMSG, "id_len 0 in 2nd entry");
    b[19] = 0xFE;
    cr_assert_eq(proto_user_list_begin(b, 22, &it, &n), -EBADMSG, "negative id_len");
}

Test(server_bodies, user_list_id_len_0_even_when_sizes_add_up)
{
    /* count 2: (1, id_len 0), (2, "a"): 1 + 9 + 10 = 20 bytes, consistent
     * in size, but an empty id is not a user id. */
    static const uint8_t b[20] = {2, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 'a'};
    proto_user_t users[2];

    cr_assert_eq(proto_decode_room_user_list_ntf(b, 20, users, 2), -EBADMSG);
}

Test(server_bodies, user_list_127_entries_of_32_bytes_round_trip)
{
    static proto_user_t users[PROTO_USER_LIST_MAX + 1], got[PROTO_USER_LIST_MAX];
    static uint8_t buf[PROTO_USER_LIST_PACKET_MAX + 64];
    proto_header_t h;

    for (int i = 0; i <= PROTO_USER_LIST_MAX; i++) {
        users[i].uid = (int64_t)i * 1000003 - 5;
        users[i].id_len = 32;
        memset(users[i].id, 'a' + i % 26, 32);
        users[i].id[32] = '\0';
    }
    cr_assert_eq(proto_encode_room_user_list_ntf(buf, sizeof(buf), users, 128), 0, "128 > max");
    cr_assert_eq(proto_encode_room_user_list_ntf(buf, sizeof(buf), users, 127), 5213);
    proto_header_decode(buf, &h);
    cr_assert_eq(h.length, 5213);
    cr_assert_eq(buf[5], 127);
    cr_assert_eq(proto_decode_room_user_list_ntf(buf + 5, 5208, got, 127), 127);
    for (int i = 0; i < PROTO_USER_LIST_MAX; i++) {
        cr_expect_eq(got[i].uid, users[i].uid);
        cr_expect_str_eq(got[i].id, users[i].id);
    }
}

Test(server_bodies, fixed_sizes)
{
    static const uint8_t b[300] = {'u'};
    int64_t uid;
    uint64_t t;
    uint16_t c, id;
    proto_chat_notify_t n;

    cr_assert_eq(proto_decode_room_leave_user_ntf(b, 7, &uid), -EBADMSG);
    cr_assert_eq(proto_decode_room_leave_user_ntf(b, 9, &uid), -EBADMSG);
    cr_assert_eq(proto_decode_ping_res(b, 7, &t), -EBADMSG);
    cr_assert_eq(proto_decode_ping_res(b, 9, &t), -EBADMSG);
    cr_assert_eq(proto_decode_error_ntf(b, 3, &c, &id), -EBADMSG);
    cr_assert_eq(proto_decode_error_ntf(b, 5, &c, &id), -EBADMSG);
    cr_assert_eq(proto_decode_room_chat_notify(b, 289, &n), -EBADMSG);
    cr_assert_eq(proto_decode_room_chat_notify(b, 291, &n), -EBADMSG);
    cr_assert_eq(proto_decode_room_chat_notify(b, 290, &n), 0);
}

Test(server_bodies, chat_notify_bad_user_id)
{
    uint8_t b[290] = {0};
    proto_chat_notify_t n;

    b[33] = 'm';
    cr_assert_eq(proto_decode_room_chat_notify(b, 290, &n), -EBADMSG, "empty id");
    memset(b, 'i', 33);
    cr_assert_eq(proto_decode_room_chat_notify(b, 290, &n), -EBADMSG, "id without NUL");
    b[32] = 0;
    cr_assert_eq(proto_decode_room_chat_notify(b, 290, &n), 0);
    cr_assert_eq(n.user_id_len, 32);
    cr_assert_str_eq(n.text, "m");
}

/* ---- encoders: capacity and arguments -------------------------------------------- */

#define GUARD 0xAA

/* Calls an encoder with cap = size - 1 and cap = size, over a guard-filled
 * buffer: the first must return 0 and leave every byte alone. */
#define CHECK_CAP(size, call_with_cap)                                                             \
    do {                                                                                           \
        uint8_t buf_[PROTO_USER_LIST_PACKET_MAX + 8];                                              \
        uint8_t *buf = buf_;                                                                       \
        size_t cap;                                                                                \
        memset(buf_, GUARD, sizeof(buf_));                                                         \
        cap = (size)-1;                                                                            \
        cr_expect_eq(call_with_cap, 0, "%s fits in %zu", #call_with_cap, cap);                     \
        for (size_t k_ = 0; k_ < sizeof(buf_); k_++)                                               \
            cr_assert_eq(buf_[k_], GUARD, "%s wrote byte %zu", #call_with_cap, k_);                \
        cap = (size);                                                                              \
        cr_expect_eq(call_with_cap, (size), "%s", #call_with_cap);                                 \
        cap = 0;                                                                                   \
        cr_expect_eq(call_with_cap, 0);                                                            \
        (void)buf;                                                                                 \
    } while (0)

Test(encoders, refuse_a_buffer_one_byte_too_small)
{
    proto_user_t users[2] = {{.uid = 1, .id_len = 2, .id = "al"},
                             {.uid = 2, .id_len = 1, .id = "z"}};

    CHECK_CAP(8, proto_encode_dev_echo(buf, cap, "abc", 3));
    CHECK_CAP(71, proto_encode_login_req(buf, cap, "id", "pw"));
    CHECK_CAP(7, proto_encode_login_res(buf, cap, 0));
    CHECK_CAP(9, proto_encode_room_enter_req(buf, cap, 7));
    CHECK_CAP(7, proto_encode_room_enter_res(buf, cap, 0));
    CHECK_CAP(16, proto_encode_room_new_user_ntf(buf, cap, 5, "ab"));
    CHECK_CAP(27, proto_encode_room_user_list_ntf(buf, cap, users, 2));
    CHECK_CAP(5, proto_encode_room_leave_req(buf, cap));
    CHECK_CAP(7, proto_encode_room_leave_res(buf, cap, 0));
    CHECK_CAP(13, proto_encode_room_leave_user_ntf(buf, cap, 5));
    CHECK_CAP(262, proto_encode_room_chat_req(buf, cap, "hi", 2));
    CHECK_CAP(7, proto_encode_room_chat_req_short(buf, cap, "hi", 2));
    CHECK_CAP(7, proto_encode_room_chat_res(buf, cap, 0));
    CHECK_CAP(295, proto_encode_room_chat_notify(buf, cap, "u", "hi", 2));
    CHECK_CAP(13, proto_encode_ping_req(buf, cap, 1));
    CHECK_CAP(13, proto_encode_ping_res(buf, cap, 1));
    CHECK_CAP(9, proto_encode_error_ntf(buf, cap, 3, 11));
}

Test(encoders, refuse_unrepresentable_arguments)
{
    static uint8_t buf[70000], src[65535];
    char id33[34];
    char text[258];
    proto_user_t bad[1] = {{.uid = 1, .id_len = 0, .id = ""}};
    proto_user_t nul_inside[1] = {{.uid = 1, .id_len = 3, .id = "a\0b"}};

    memset(id33, 'i', 33);
    id33[33] = '\0';
    memset(text, 't', sizeof(text));
    cr_assert_eq(proto_encode_login_req(buf, sizeof(buf), id33, "pw"), 0, "id of 33 bytes");
    cr_assert_eq(proto_encode_login_req(buf, sizeof(buf), "id", id33), 0, "password of 33");
    cr_assert_eq(proto_encode_login_req(buf, sizeof(buf), id33 + 1, id33 + 1), 71, "32 is fine");
    cr_assert_eq(proto_encode_room_new_user_ntf(buf, sizeof(buf), 1, ""), 0);
    cr_assert_eq(proto_encode_room_new_user_ntf(buf, sizeof(buf), 1, id33), 0);
    cr_assert_eq(proto_encode_room_user_list_ntf(buf, sizeof(buf), bad, 1), 0);
    cr_assert_eq(proto_encode_room_user_list_ntf(buf, sizeof(buf), nul_inside, 1), 0);
    cr_assert_eq(proto_encode_room_chat_req(buf, sizeof(buf), text, 258), 0);
    cr_assert_eq(proto_encode_room_chat_req_short(buf, sizeof(buf), text, 258), 0);
    cr_assert_eq(proto_encode_room_chat_notify(buf, sizeof(buf), "u", text, 258), 0);
    cr_assert_eq(proto_encode_room_chat_notify(buf, sizeof(buf), "", text, 1), 0);
    cr_assert_eq(proto_encode_room_chat_notify(buf, sizeof(buf), id33, text, 1), 0);
    cr_assert_eq(proto_encode_dev_echo(buf, sizeof(buf), src, 65531), 0, "length > 65535");
    cr_assert_eq(proto_encode_dev_echo(buf, sizeof(buf), src, 65530), 65535);
}
