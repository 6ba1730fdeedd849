/* rcb_payload.c: the text every benchmark chat message carries, and the
 * names of the error kinds. The same text goes to ringchat (ROOM_CHAT_REQ
 * body) and to redis (PUBLISH payload), so both targets do the same work.
 * Format: 16 hex digits of the intended send time (CLOCK_MONOTONIC ns, the
 * sender's clock: senders and receivers are one process), ':', 8 hex digits
 * of the sender's member index, ':', then 'x' filler to the payload size.
 * Called on the hot path: never allocates, never reads past len. */
#include "rcb.h"

#include <string.h>

static const char hex[16] = "0123456789abcdef";

static void put_hex(char *out, uint64_t v, int digits)
{
    for (int i = digits - 1; i >= 0; i--) {
        out[i] = hex[v & 15];
        v >>= 4;
    }
}

/* -1 if s[0..digits) is not lower-case hex, else 0 and *v. */
static int get_hex(const uint8_t *s, int digits, uint64_t *v)
{
    uint64_t x = 0;
    for (int i = 0; i < digits; i++) {
        uint8_t ch = s[i];
        unsigned d;
        if (ch >= '0' && ch <= '9')
            d = ch - '0';
        else if (ch >= 'a' && ch <= 'f')
            d = ch - 'a' + 10u;
        else
            return -1;
        x = (x << 4) | d;
    }
    *v = x;
    return 0;
}

void rcb_payload_encode(char *out, uint32_t size, uint64_t intended_ns, uint32_t sender)
{
    put_hex(out, intended_ns, 16);
    out[16] = ':';
    put_hex(out + 17, sender, 8);
    out[25] = ':';
    if (size > RCB_PAYLOAD_MIN)
        memset(out + RCB_PAYLOAD_MIN, 'x', size - RCB_PAYLOAD_MIN);
}

bool rcb_payload_decode(const uint8_t *text, size_t len, uint64_t *intended_ns, uint32_t *sender)
{
    uint64_t s;
    if (len < RCB_PAYLOAD_MIN || text[16] != ':' || text[25] != ':')
        return false;
    if (get_hex(text, 16, intended_ns) != 0 || get_hex(text + 17, 8, &s) != 0)
        return false;
    *sender = (uint32_t)s;
    return true;
}

const char *rcb_err_name(rcb_err_t e)
{
    static const char *const names[RCB_ERR_COUNT] = {
        [RCB_ERR_CONNECT] = "connect",
        [RCB_ERR_LOGIN] = "login",
        [RCB_ERR_ENTER] = "enter",
        [RCB_ERR_LEAVE] = "leave",
        [RCB_ERR_SUBSCRIBE] = "subscribe",
        [RCB_ERR_CHAT_REJECTED] = "chat_rejected",
        [RCB_ERR_RATE_LIMITED] = "rate_limited",
        [RCB_ERR_ERROR_NTF] = "error_ntf",
        [RCB_ERR_PROTOCOL] = "protocol",
        [RCB_ERR_DISCONNECT] = "disconnect",
        [RCB_ERR_IO] = "io",
        [RCB_ERR_REDIS] = "redis_error",
        [RCB_ERR_SETUP_TIMEOUT] = "setup_timeout",
        [RCB_ERR_LOST] = "lost",
        [RCB_ERR_UNANSWERED] = "unanswered",
    };
    return (unsigned)e < RCB_ERR_COUNT ? names[e] : "unknown";
}
