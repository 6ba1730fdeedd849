/* test_proto_golden.c: golden byte vectors for every packet of PROTOCOL.md,
 * both directions. Each vector is written by hand from the protocol tables as
 * a literal array (never produced by the encoder under test): the encoder's
 * output must equal it byte for byte, and decoding it must give back the
 * fields. Run by ctest as test_proto_golden. Never touches the network.
 * Byte order reminder: every integer is little-endian, e.g. 201 = C9 00. */
#include <criterion/criterion.h>
#include <string.h>

#include "proto.h"

static uint8_t out[8192];

/* The output buffer starts full of 0xAA, so an encoder that skips NUL
 * padding or leaves a byte unwritten cannot match a golden vector. */
static void fill_out(void)
{
    memset(out, 0xAA, sizeof(out));
}

TestSuite(golden, .init = fill_out);

/* Compares the encoder's result with a golden vector. */
static void expect_bytes(size_t n, const uint8_t *golden, size_t golden_len)
{
    cr_assert_eq(n, golden_len, "encoded %zu bytes, golden has %zu", n, golden_len);
    cr_assert_arr_eq(out, golden, golden_len, "encoded bytes differ from the golden vector");
}

/* Decodes a golden header and checks it: length = whole vector, type 0. */
static void expect_header(const uint8_t *golden, size_t golden_len, uint16_t id)
{
    proto_header_t h;

    proto_header_decode(golden, &h);
    cr_assert_eq(h.length, golden_len);
    cr_assert_eq(h.id, id);
    cr_assert_eq(h.type, 0);
}

#define BODY(g)     ((g) + PROTO_HEADER_SIZE)
#define BODY_LEN(g) (sizeof(g) - PROTO_HEADER_SIZE)

Test(golden, header_is_little_endian)
{
    static const uint8_t g[] = {0x34, 0x12, 0xF3, 0x00, 0x07};
    uint8_t p[5];
    proto_header_t h;

    proto_header_decode(g, &h);
    cr_assert_eq(h.length, 0x1234);
    cr_assert_eq(h.id, 243);
    cr_assert_eq(h.type, 7);
    proto_header_encode(p, 0x1234, 243);
    cr_assert_arr_eq(p, ((uint8_t[]){0x34, 0x12, 0xF3, 0x00, 0x00}), 5);
}

Test(golden, dev_echo)
{
    static const uint8_t g[] = {0x08, 0x00, 0x01, 0x00, 0x00, 'a', 0x00, 0xFF};
    static const uint8_t empty[] = {0x05, 0x00, 0x01, 0x00, 0x00};

    expect_bytes(proto_encode_dev_echo(out, sizeof(out), "a\0\xff", 3), g, sizeof(g));
    expect_bytes(proto_encode_dev_echo(out, sizeof(out), NULL, 0), empty, sizeof(empty));
    expect_header(g, sizeof(g), PROTO_DEV_ECHO);
}

/* LOGIN_REQ: length 5 + 66 = 71 = 0x47, id 201 = 0xC9. The user id is the
 * Korean "민수" (U+BBFC U+C218) to cover multi-byte UTF-8. */
static const uint8_t login_req_g[71] = {
    0x47,           0x00, 0xC9, 0x00, 0x00, 0xEB, 0xAF, 0xBC, 0xEC, 0x88, 0x98, /* id, then NULs */
    [5 + 33] = 'p', 'w',  '!', /* password at body offset 33, then NULs */
};

Test(golden, login_req)
{
    proto_login_req_t req;

    expect_bytes(proto_encode_login_req(out, sizeof(out), "\xEB\xAF\xBC\xEC\x88\x98", "pw!"),
                 login_req_g, sizeof(login_req_g));
    expect_header(login_req_g, sizeof(login_req_g), PROTO_LOGIN_REQ);
    cr_assert_eq(proto_decode_login_req(BODY(login_req_g), BODY_LEN(login_req_g), &req), PROTO_OK);
    cr_assert_str_eq(req.user_id, "\xEB\xAF\xBC\xEC\x88\x98");
    cr_assert_eq(req.user_id_len, 6);
    cr_assert_str_eq(req.password, "pw!");
    cr_assert_eq(req.password_len, 3);
}

Test(golden, login_res)
{
    static const uint8_t g[] = {0x07, 0x00, 0xCA, 0x00, 0x00, 0x21, 0x00}; /* 33 */
    uint16_t res = 0;

    expect_bytes(proto_encode_login_res(out, sizeof(out), PROTO_LOGIN_USER_INVALID_PW), g,
                 sizeof(g));
    expect_header(g, sizeof(g), PROTO_LOGIN_RES);
    cr_assert_eq(proto_decode_result(BODY(g), BODY_LEN(g), &res), 0);
    cr_assert_eq(res, 33);
}

Test(golden, room_enter_req)
{
    /* 1234567 = 0x0012D687; -2 = FE FF FF FF */
    static const uint8_t g[] = {0x09, 0x00, 0xCE, 0x00, 0x00, 0x87, 0xD6, 0x12, 0x00};
    static const uint8_t neg[] = {0x09, 0x00, 0xCE, 0x00, 0x00, 0xFE, 0xFF, 0xFF, 0xFF};
    int32_t room = 0;

    expect_bytes(proto_encode_room_enter_req(out, sizeof(out), 1234567), g, sizeof(g));
    expect_header(g, sizeof(g), PROTO_ROOM_ENTER_REQ);
    cr_assert_eq(proto_decode_room_enter_req(BODY(g), BODY_LEN(g), &room), PROTO_OK);
    cr_assert_eq(room, 1234567);
    expect_bytes(proto_encode_room_enter_req(out, sizeof(out), -2), neg, sizeof(neg));
    cr_assert_eq(proto_decode_room_enter_req(BODY(neg), BODY_LEN(neg), &room), PROTO_OK);
    cr_assert_eq(room, -2);
}

Test(golden, room_enter_res)
{
    static const uint8_t g[] = {0x07, 0x00, 0xCF, 0x00, 0x00, 0x3D, 0x00}; /* 61 */
    uint16_t res = 0;

    expect_bytes(proto_encode_room_enter_res(out, sizeof(out), PROTO_ROOM_INVALID_INDEX), g,
                 sizeof(g));
    expect_header(g, sizeof(g), PROTO_ROOM_ENTER_RES);
    cr_assert_eq(proto_decode_result(BODY(g), BODY_LEN(g), &res), 0);
    cr_assert_eq(res, 61);
}

Test(golden, room_new_user_ntf)
{
    /* uid 0x0102030405060708, id_len 3, "bob": length 5 + 8 + 1 + 3 = 17 */
    static const uint8_t g[] = {0x11, 0x00, 0xD0, 0x00, 0x00, 0x08, 0x07, 0x06, 0x05,
                                0x04, 0x03, 0x02, 0x01, 0x03, 'b',  'o',  'b'};
    proto_user_t u;

    expect_bytes(proto_encode_room_new_user_ntf(out, sizeof(out), 0x0102030405060708, "bob"), g,
                 sizeof(g));
    expect_header(g, sizeof(g), PROTO_ROOM_NEW_USER_NTF);
    cr_assert_eq(proto_decode_room_new_user_ntf(BODY(g), BODY_LEN(g), &u), 0);
    cr_assert_eq(u.uid, 0x0102030405060708);
    cr_assert_eq(u.id_len, 3);
    cr_assert_str_eq(u.id, "bob");
}

/* Two entries: (1, "al") and (-1, "z"): 5 + 1 + 11 + 10 = 27 = 0x1B. */
static const uint8_t user_list_g[] = {
    0x1B, 0x00, 0xD1, 0x00, 0x00, 0x02,                             /* header, count 2 */
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 'a', 'l', /* uid 1 */
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 'z',      /* uid -1 */
};

Test(golden, room_user_list_ntf)
{
    proto_user_t users[2] = {{.uid = 1, .id_len = 2, .id = "al"},
                             {.uid = -1, .id_len = 1, .id = "z"}};
    proto_user_t got[2];
    proto_user_list_iter_t it;
    unsigned count = 0;

    expect_bytes(proto_encode_room_user_list_ntf(out, sizeof(out), users, 2), user_list_g,
                 sizeof(user_list_g));
    cr_assert_eq(proto_user_list_packet_size(users, 2), sizeof(user_list_g));
    expect_header(user_list_g, sizeof(user_list_g), PROTO_ROOM_USER_LIST_NTF);

    cr_assert_eq(proto_user_list_begin(BODY(user_list_g), BODY_LEN(user_list_g), &it, &count), 0);
    cr_assert_eq(count, 2);
    cr_assert(proto_user_list_next(&it, &got[0]));
    cr_assert(proto_user_list_next(&it, &got[1]));
    cr_assert_not(proto_user_list_next(&it, &got[1]));
    cr_assert_eq(got[0].uid, 1);
    cr_assert_str_eq(got[0].id, "al");
    cr_assert_eq(got[1].uid, -1);
    cr_assert_eq(got[1].id_len, 1);
    cr_assert_str_eq(got[1].id, "z");

    memset(got, 0, sizeof(got));
    cr_assert_eq(proto_decode_room_user_list_ntf(BODY(user_list_g), BODY_LEN(user_list_g), got, 2),
                 2);
    cr_assert_str_eq(got[0].id, "al");
    cr_assert_eq(got[1].uid, -1);
}

Test(golden, room_user_list_ntf_empty)
{
    static const uint8_t g[] = {0x06, 0x00, 0xD1, 0x00, 0x00, 0x00};
    proto_user_t none[1];

    expect_bytes(proto_encode_room_user_list_ntf(out, sizeof(out), NULL, 0), g, sizeof(g));
    cr_assert_eq(proto_decode_room_user_list_ntf(BODY(g), BODY_LEN(g), none, 0), 0);
}

Test(golden, room_leave_req)
{
    static const uint8_t g[] = {0x05, 0x00, 0xD7, 0x00, 0x00};

    expect_bytes(proto_encode_room_leave_req(out, sizeof(out)), g, sizeof(g));
    expect_header(g, sizeof(g), PROTO_ROOM_LEAVE_REQ);
    cr_assert_eq(proto_decode_room_leave_req(BODY(g), BODY_LEN(g)), PROTO_OK);
}

Test(golden, room_leave_res)
{
    static const uint8_t g[] = {0x07, 0x00, 0xD8, 0x00, 0x00, 0x47, 0x00}; /* 71 */
    uint16_t res = 0;

    expect_bytes(proto_encode_room_leave_res(out, sizeof(out), PROTO_LEAVE_ROOM_INVALID_ROOM_INDEX),
                 g, sizeof(g));
    expect_header(g, sizeof(g), PROTO_ROOM_LEAVE_RES);
    cr_assert_eq(proto_decode_result(BODY(g), BODY_LEN(g), &res), 0);
    cr_assert_eq(res, 71);
}

Test(golden, room_leave_user_ntf)
{
    static const uint8_t g[] = {0x0D, 0x00, 0xD9, 0x00, 0x00, 0x88, 0x77,
                                0x66, 0x55, 0x44, 0x33, 0x22, 0x11};
    int64_t uid = 0;

    expect_bytes(proto_encode_room_leave_user_ntf(out, sizeof(out), 0x1122334455667788), g,
                 sizeof(g));
    expect_header(g, sizeof(g), PROTO_ROOM_LEAVE_USER_NTF);
    cr_assert_eq(proto_decode_room_leave_user_ntf(BODY(g), BODY_LEN(g), &uid), 0);
    cr_assert_eq(uid, 0x1122334455667788);
}

/* ROOM_CHAT_REQ as the tutorial client sends it: the whole 257-byte field,
 * length 5 + 257 = 262 = 0x0106, id 221 = 0xDD. */
static const uint8_t chat_req_full_g[262] = {0x06, 0x01, 0xDD, 0x00, 0x00, 'h', 'e', 'y'};

Test(golden, room_chat_req_full_field)
{
    proto_chat_req_t c;

    expect_bytes(proto_encode_room_chat_req(out, sizeof(out), "hey", 3), chat_req_full_g,
                 sizeof(chat_req_full_g));
    expect_header(chat_req_full_g, sizeof(chat_req_full_g), PROTO_ROOM_CHAT_REQ);
    cr_assert_eq(proto_decode_room_chat_req(BODY(chat_req_full_g), BODY_LEN(chat_req_full_g), &c),
                 PROTO_OK);
    cr_assert_eq(c.len, 3);
    cr_assert_arr_eq(c.text, "hey", 3);
    cr_assert_eq(c.text, BODY(chat_req_full_g), "the text is a view into the body");
}

Test(golden, room_chat_req_short)
{
    static const uint8_t g[] = {0x08, 0x00, 0xDD, 0x00, 0x00, 'h', 'e', 'y'};
    proto_chat_req_t c;

    expect_bytes(proto_encode_room_chat_req_short(out, sizeof(out), "hey", 3), g, sizeof(g));
    cr_assert_eq(proto_decode_room_chat_req(BODY(g), BODY_LEN(g), &c), PROTO_OK);
    cr_assert_eq(c.len, 3);
    cr_assert_arr_eq(c.text, "hey", 3);
}

Test(golden, room_chat_res)
{
    static const uint8_t g[] = {0x07, 0x00, 0xDE, 0x00, 0x00, 0x52, 0x00}; /* 82 */
    uint16_t res = 0;

    expect_bytes(proto_encode_room_chat_res(out, sizeof(out), PROTO_CHAT_INVALID_MESSAGE), g,
                 sizeof(g));
    expect_header(g, sizeof(g), PROTO_ROOM_CHAT_RES);
    cr_assert_eq(proto_decode_result(BODY(g), BODY_LEN(g), &res), 0);
    cr_assert_eq(res, 82);
}

/* ROOM_CHAT_NOTIFY: length 5 + 290 = 295 = 0x0127, id 223 = 0xDF; user id
 * "bob" in a 33-byte field, message "hi!" in a 257-byte field. */
static const uint8_t chat_notify_g[295] = {
    0x27, 0x01, 0xDF, 0x00, 0x00, 'b', 'o', 'b', [5 + 33] = 'h', 'i', '!',
};

Test(golden, room_chat_notify)
{
    proto_chat_notify_t n;

    expect_bytes(proto_encode_room_chat_notify(out, sizeof(out), "bob", "hi!", 3), chat_notify_g,
                 sizeof(chat_notify_g));
    expect_header(chat_notify_g, sizeof(chat_notify_g), PROTO_ROOM_CHAT_NOTIFY);
    cr_assert_eq(proto_decode_room_chat_notify(BODY(chat_notify_g), BODY_LEN(chat_notify_g), &n),
                 0);
    cr_assert_str_eq(n.user_id, "bob");
    cr_assert_eq(n.user_id_len, 3);
    cr_assert_str_eq(n.text, "hi!");
    cr_assert_eq(n.text_len, 3);
}

Test(golden, room_chat_notify_full_message)
{
    /* A 257-byte message fills its field: no NUL on the wire. */
    uint8_t g[295] = {0x27, 0x01, 0xDF, 0x00, 0x00, 'x'};
    char text[257];
    proto_chat_notify_t n;

    memset(g + 5 + 33, 'm', 257);
    memset(text, 'm', sizeof(text));
    expect_bytes(proto_encode_room_chat_notify(out, sizeof(out), "x", text, 257), g, sizeof(g));
    cr_assert_eq(proto_decode_room_chat_notify(g + 5, 290, &n), 0);
    cr_assert_eq(n.text_len, 257);
    cr_assert_eq(n.text[257], '\0');
    cr_assert_eq(n.text[256], 'm');
}

Test(golden, ping_req_and_res)
{
    static const uint8_t req[] = {0x0D, 0x00, 0xF1, 0x00, 0x00, 0x08, 0x07,
                                  0x06, 0x05, 0x04, 0x03, 0x02, 0x01};
    static const uint8_t res[] = {0x0D, 0x00, 0xF2, 0x00, 0x00, 0x08, 0x07,
                                  0x06, 0x05, 0x04, 0x03, 0x02, 0x01};
    uint64_t t = 0;

    expect_bytes(proto_encode_ping_req(out, sizeof(out), 0x0102030405060708), req, sizeof(req));
    expect_header(req, sizeof(req), PROTO_PING_REQ);
    cr_assert_eq(proto_decode_ping_req(BODY(req), BODY_LEN(req), &t), PROTO_OK);
    cr_assert_eq(t, 0x0102030405060708);

    expect_bytes(proto_encode_ping_res(out, sizeof(out), 0x0102030405060708), res, sizeof(res));
    expect_header(res, sizeof(res), PROTO_PING_RES);
    t = 0;
    cr_assert_eq(proto_decode_ping_res(BODY(res), BODY_LEN(res), &t), 0);
    cr_assert_eq(t, 0x0102030405060708);
}

Test(golden, error_ntf)
{
    /* code 3 (UNKNOWN_PACKET) for id 11 (SYS_USER_CONNECT) */
    static const uint8_t g[] = {0x09, 0x00, 0xF3, 0x00, 0x00, 0x03, 0x00, 0x0B, 0x00};
    uint16_t code = 0, id = 0;

    expect_bytes(proto_encode_error_ntf(out, sizeof(out), PROTO_ERR_UNKNOWN_PACKET, 11), g,
                 sizeof(g));
    expect_header(g, sizeof(g), PROTO_ERROR_NTF);
    cr_assert_eq(proto_decode_error_ntf(BODY(g), BODY_LEN(g), &code, &id), 0);
    cr_assert_eq(code, 3);
    cr_assert_eq(id, 11);
}
