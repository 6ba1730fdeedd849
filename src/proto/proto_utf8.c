/* proto_utf8.c: strict UTF-8 validation and the user-id rule.
 * Called by the login and chat decoders (server side) and by anyone who must
 * decide whether text may go on the wire. Never reads past len, never
 * allocates. The accepted byte sequences are exactly the well-formed ones of
 * Unicode 15, section 3.9, table 3-7: no overlong forms, no surrogates
 * (U+D800-U+DFFF), nothing above U+10FFFF, no truncated sequence and no
 * continuation byte without a lead byte. */
#include "proto.h"

/* Decodes the one sequence at s (len >= 1). Returns its size (1..4) and the
 * code point in *cp, or 0 if the bytes are not a well-formed sequence. */
static size_t proto_utf8_decode(const uint8_t *s, size_t len, uint32_t *cp)
{
    uint8_t b0 = s[0];
    size_t n;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the SECOND byte */

    if (b0 < 0x80) {
        *cp = b0;
        return 1;
    }
    if (b0 < 0xC2) /* 80..BF: stray continuation; C0, C1: overlong 2-byte */
        return 0;
    if (b0 < 0xE0) {
        n = 2;
        *cp = b0 & 0x1F;
    } else if (b0 < 0xF0) {
        n = 3;
        *cp = b0 & 0x0F;
        if (b0 == 0xE0)
            lo = 0xA0; /* E0 80..9F would be overlong */
        else if (b0 == 0xED)
            hi = 0x9F; /* ED A0..BF would be a surrogate */
    } else if (b0 < 0xF5) {
        n = 4;
        *cp = b0 & 0x07;
        if (b0 == 0xF0)
            lo = 0x90; /* F0 80..8F would be overlong */
        else if (b0 == 0xF4)
            hi = 0x8F; /* F4 90.. would be above U+10FFFF */
    } else {
        return 0; /* F5..FF never appear in UTF-8 */
    }
    if (len < n)
        return 0; /* truncated */
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        *cp = (*cp << 6) | (s[i] & 0x3F);
    }
    return n;
}

bool proto_utf8_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    uint32_t cp;

    while (i < len) {
        size_t n = proto_utf8_decode(s + i, len - i, &cp);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

/* C0 controls (NUL included), DEL and the C1 controls U+0080-U+009F. */
static bool proto_is_control(uint32_t cp)
{
    return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

bool proto_user_id_valid(const uint8_t *s, size_t len)
{
    size_t i = 0;
    uint32_t cp;

    if (len == 0 || len > PROTO_ID_MAX_LEN)
        return false;
    while (i < len) {
        size_t n = proto_utf8_decode(s + i, len - i, &cp);
        if (n == 0 || proto_is_control(cp))
            return false;
        i += n;
    }
    return true;
}
