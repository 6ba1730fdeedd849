/* test_proto_names.c: proto_packet_name, proto_code_name and the id
 * predicates, checked for every id and code of PROTOCOL.md and for every
 * other 16-bit value (which must be "UNKNOWN" / false).
 * Run by ctest as test_proto_names. Pure computation. */
#include <criterion/criterion.h>
#include <string.h>

#include "proto.h"

typedef struct named {
    uint16_t value;
    const char *name;
} named_t;

static const named_t packets[] = {
    {1, "DEV_ECHO"},
    {11, "SYS_USER_CONNECT"},
    {12, "SYS_USER_DISCONNECT"},
    {30, "SYS_END"},
    {199, "DB_END"},
    {201, "LOGIN_REQ"},
    {202, "LOGIN_RES"},
    {206, "ROOM_ENTER_REQ"},
    {207, "ROOM_ENTER_RES"},
    {208, "ROOM_NEW_USER_NTF"},
    {209, "ROOM_USER_LIST_NTF"},
    {215, "ROOM_LEAVE_REQ"},
    {216, "ROOM_LEAVE_RES"},
    {217, "ROOM_LEAVE_USER_NTF"},
    {221, "ROOM_CHAT_REQ"},
    {222, "ROOM_CHAT_RES"},
    {223, "ROOM_CHAT_NOTIFY"},
    {241, "PING_REQ"},
    {242, "PING_RES"},
    {243, "ERROR_NTF"},
};

static const named_t codes[] = {
    {0, "NONE"},
    {2, "BAD_TYPE"},
    {3, "UNKNOWN_PACKET"},
    {4, "BAD_LENGTH"},
    {5, "BAD_BODY"},
    {6, "SLOW_CONSUMER"},
    {7, "IDLE_TIMEOUT"},
    {8, "SERVER_SHUTDOWN"},
    {9, "TOO_MANY_CONNECTIONS"},
    {10, "TOO_MANY_LOGIN_FAILURES"},
    {31, "LOGIN_USER_ALREADY"},
    {32, "LOGIN_USER_USED_ALL_OBJ"},
    {33, "LOGIN_USER_INVALID_PW"},
    {34, "LOGIN_BACKEND_UNAVAILABLE"},
    {35, "LOGIN_INVALID_ID"},
    {52, "ENTER_ROOM_INVALID_USER_STATUS"},
    {54, "ENTER_ROOM_FULL_USER"},
    {61, "ROOM_INVALID_INDEX"},
    {63, "ROOM_TOO_MANY_PACKET"},
    {71, "LEAVE_ROOM_INVALID_ROOM_INDEX"},
    {81, "CHAT_ROOM_INVALID_ROOM_NUMBER"},
    {82, "CHAT_INVALID_MESSAGE"},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The name listed for v, or NULL if v is not in the table. */
static const char *lookup(const named_t *t, size_t n, uint32_t v)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].value == v)
            return t[i].name;
    return NULL;
}

Test(names, every_packet_id)
{
    for (uint32_t id = 0; id <= 0xFFFF; id++) {
        const char *want = lookup(packets, N(packets), id);
        cr_assert_str_eq(proto_packet_name((uint16_t)id), want ? want : "UNKNOWN", "id %u", id);
    }
}

Test(names, every_code)
{
    for (uint32_t c = 0; c <= 0xFFFF; c++) {
        const char *want = lookup(codes, N(codes), c);
        cr_assert_str_eq(proto_code_name((uint16_t)c), want ? want : "UNKNOWN", "code %u", c);
    }
}

Test(names, enum_values_match_the_protocol_tables)
{
    cr_assert_eq(PROTO_LOGIN_REQ, 201);
    cr_assert_eq(PROTO_ROOM_CHAT_NOTIFY, 223);
    cr_assert_eq(PROTO_ERROR_NTF, 243);
    cr_assert_eq(PROTO_DB_END, 199);
    cr_assert_eq(PROTO_ERR_BAD_BODY, 5);
    cr_assert_eq(PROTO_LOGIN_INVALID_ID, 35);
    cr_assert_eq(PROTO_ENTER_ROOM_FULL_USER, 54);
    cr_assert_eq(PROTO_CHAT_INVALID_MESSAGE, 82);
    cr_assert_str_eq(proto_packet_name(PROTO_ROOM_USER_LIST_NTF), "ROOM_USER_LIST_NTF");
    cr_assert_str_eq(proto_code_name(PROTO_LOGIN_USER_INVALID_PW), "LOGIN_USER_INVALID_PW");
}

Test(names, client_request_ids_exactly)
{
    static const uint16_t client[] = {1, 201, 206, 215, 221, 241};

    for (uint32_t id = 0; id <= 0xFFFF; id++) {
        bool want = false;
        for (size_t i = 0; i < N(client); i++)
            want = want || client[i] == id;
        cr_assert_eq(proto_packet_is_client_request((uint16_t)id), want, "id %u", id);
        cr_assert_eq(proto_packet_is_internal((uint16_t)id),
                     id == 11 || id == 12 || id == 30 || id == 199, "id %u", id);
    }
}
