/* rcb_resp.h: the slice of RESP (the Redis protocol) ringchat-bench needs:
 * parse one reply - a simple string, error, integer, bulk string, or an
 * array of up to RCB_RESP_MAX_ELEMS such scalars (pub/sub pushes are arrays
 * of three) - in place, without copying or allocating.
 * Used by the redis target (rcb_redis.c) and its unit test. Never reads past
 * the given length; a reply that is not complete yet is reported as such,
 * never guessed. */
#ifndef RINGCHAT_BENCH_RCB_RESP_H
#define RINGCHAT_BENCH_RCB_RESP_H

#include <stddef.h>
#include <stdint.h>

#define RCB_RESP_MAX_ELEMS 4
#define RCB_RESP_MAX_BULK  (64 * 1024)

typedef struct rcb_resp_val {
    char type;        /* '+', '-', ':', '$' */
    const uint8_t *p; /* the text or bulk bytes (not NUL-terminated); NULL for a nil bulk */
    size_t len;
    int64_t num; /* ':' */
} rcb_resp_val_t;

typedef struct rcb_resp {
    char type;  /* '+', '-', ':', '$' (in v[0]) or '*' (elements in v[0..n)) */
    unsigned n; /* number of elements ('*'), else 1 */
    rcb_resp_val_t v[RCB_RESP_MAX_ELEMS];
} rcb_resp_t;

/* Parses the reply at p[0..len). Returns its size in bytes (> 0) and fills
 * *out, 0 if more bytes are needed, or -1 if the bytes are not RESP this
 * parser accepts (unknown type, bad number, nested or too long array, bulk
 * longer than RCB_RESP_MAX_BULK, missing CRLF). */
long rcb_resp_parse(const uint8_t *p, size_t len, rcb_resp_t *out);

/* true if v is the bulk or simple string s (exact, case-sensitive). */
int rcb_resp_is(const rcb_resp_val_t *v, const char *s);

#endif
