/* proto_names.c: printable names of packet ids and result codes, and the
 * predicates on ids (client request, internal). Called by logging, the CLI,
 * the tests and proto_classify_request. Pure lookups: never allocates, never
 * returns NULL. Names are exactly those of PROTOCOL.md's tables. */
#include "proto.h"

const char *proto_packet_name(uint16_t id)
{
    switch (id) {
    case PROTO_DEV_ECHO:
        return "DEV_ECHO";
    case PROTO_SYS_USER_CONNECT:
        return "SYS_USER_CONNECT";
    case PROTO_SYS_USER_DISCONNECT:
        return "SYS_USER_DISCONNECT";
    case PROTO_SYS_END:
        return "SYS_END";
    case PROTO_DB_END:
        return "DB_END";
    case PROTO_LOGIN_REQ:
        return "LOGIN_REQ";
    case PROTO_LOGIN_RES:
        return "LOGIN_RES";
    case PROTO_ROOM_ENTER_REQ:
        return "ROOM_ENTER_REQ";
    case PROTO_ROOM_ENTER_RES:
        return "ROOM_ENTER_RES";
    case PROTO_ROOM_NEW_USER_NTF:
        return "ROOM_NEW_USER_NTF";
    case PROTO_ROOM_USER_LIST_NTF:
        return "ROOM_USER_LIST_NTF";
    case PROTO_ROOM_LEAVE_REQ:
        return "ROOM_LEAVE_REQ";
    case PROTO_ROOM_LEAVE_RES:
        return "ROOM_LEAVE_RES";
    case PROTO_ROOM_LEAVE_USER_NTF:
        return "ROOM_LEAVE_USER_NTF";
    case PROTO_ROOM_CHAT_REQ:
        return "ROOM_CHAT_REQ";
    case PROTO_ROOM_CHAT_RES:
        return "ROOM_CHAT_RES";
    case PROTO_ROOM_CHAT_NOTIFY:
        return "ROOM_CHAT_NOTIFY";
    case PROTO_PING_REQ:
        return "PING_REQ";
    case PROTO_PING_RES:
        return "PING_RES";
    case PROTO_ERROR_NTF:
        return "ERROR_NTF";
    default:
        return "UNKNOWN";
    }
}

const char *proto_code_name(uint16_t code)
{
    switch (code) {
    case PROTO_OK:
        return "NONE";
    case PROTO_ERR_BAD_TYPE:
        return "BAD_TYPE";
    case PROTO_ERR_UNKNOWN_PACKET:
        return "UNKNOWN_PACKET";
    case PROTO_ERR_BAD_LENGTH:
        return "BAD_LENGTH";
    case PROTO_ERR_BAD_BODY:
        return "BAD_BODY";
    case PROTO_ERR_SLOW_CONSUMER:
        return "SLOW_CONSUMER";
    case PROTO_ERR_IDLE_TIMEOUT:
        return "IDLE_TIMEOUT";
    case PROTO_ERR_SERVER_SHUTDOWN:
        return "SERVER_SHUTDOWN";
    case PROTO_ERR_TOO_MANY_CONNECTIONS:
        return "TOO_MANY_CONNECTIONS";
    case PROTO_ERR_TOO_MANY_LOGIN_FAILURES:
        return "TOO_MANY_LOGIN_FAILURES";
    case PROTO_LOGIN_USER_ALREADY:
        return "LOGIN_USER_ALREADY";
    case PROTO_LOGIN_USER_USED_ALL_OBJ:
        return "LOGIN_USER_USED_ALL_OBJ";
    case PROTO_LOGIN_USER_INVALID_PW:
        return "LOGIN_USER_INVALID_PW";
    case PROTO_LOGIN_BACKEND_UNAVAILABLE:
        return "LOGIN_BACKEND_UNAVAILABLE";
    case PROTO_LOGIN_INVALID_ID:
        return "LOGIN_INVALID_ID";
    case PROTO_ENTER_ROOM_INVALID_USER_STATUS:
        return "ENTER_ROOM_INVALID_USER_STATUS";
    case PROTO_ENTER_ROOM_FULL_USER:
        return "ENTER_ROOM_FULL_USER";
    case PROTO_ROOM_INVALID_INDEX:
        return "ROOM_INVALID_INDEX";
    case PROTO_ROOM_TOO_MANY_PACKET:
        return "ROOM_TOO_MANY_PACKET";
    case PROTO_LEAVE_ROOM_INVALID_ROOM_INDEX:
        return "LEAVE_ROOM_INVALID_ROOM_INDEX";
    case PROTO_CHAT_ROOM_INVALID_ROOM_NUMBER:
        return "CHAT_ROOM_INVALID_ROOM_NUMBER";
    case PROTO_CHAT_INVALID_MESSAGE:
        return "CHAT_INVALID_MESSAGE";
    default:
        return "UNKNOWN";
    }
}

bool proto_packet_is_client_request(uint16_t id)
{
    switch (id) {
    case PROTO_DEV_ECHO:
    case PROTO_LOGIN_REQ:
    case PROTO_ROOM_ENTER_REQ:
    case PROTO_ROOM_LEAVE_REQ:
    case PROTO_ROOM_CHAT_REQ:
    case PROTO_PING_REQ:
        return true;
    default:
        return false;
    }
}

bool proto_packet_is_internal(uint16_t id)
{
    return id == PROTO_SYS_USER_CONNECT || id == PROTO_SYS_USER_DISCONNECT || id == PROTO_SYS_END ||
           id == PROTO_DB_END;
}
