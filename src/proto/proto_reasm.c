/* proto_reasm.c: stream reassembler, bytes in chunks -> whole packets.
 * Called by the session actor with each received chunk (and by the CLI, the
 * bench and the tests). One reassembler per connection, used by one thread at
 * a time; no locking and no atomics.
 * It must never hold more than one partial packet, never copy a packet that
 * lies wholly inside a chunk, and never read outside the fed chunk.
 * Invariants:
 *   1. have < 2 or the length field held in buf is valid (5..max_packet);
 *   2. have < (that length), i.e. buf never holds a complete packet
 *      between calls, so it never needs more than max_packet bytes;
 *   3. err != 0 => every call returns err and nothing else changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "proto_bytes.h"

int proto_reasm_init(proto_reasm_t *r, size_t max_packet)
{
    if (max_packet < PROTO_HEADER_SIZE || max_packet > PROTO_MAX_PACKET_LIMIT)
        return -EINVAL;
    memset(r, 0, sizeof(*r));
    r->max_packet = max_packet;
    return 0;
}

void proto_reasm_free(proto_reasm_t *r)
{
    free(r->buf);
    r->buf = NULL;
    r->have = 0;
    r->in = NULL;
    r->in_len = 0;
}

void proto_reasm_feed(proto_reasm_t *r, const uint8_t *data, size_t len)
{
    if (r->err != 0)
        return; /* a broken stream stays broken; the bytes are dropped */
    if (r->in_len != 0) {
        /* Contract violation: the previous chunk was not drained, and its
         * bytes would be lost silently. Checked in release builds too. */
        fprintf(stderr, "proto_reasm_feed: previous chunk not consumed\n");
        abort();
    }
    r->in = data;
    r->in_len = len;
}

bool proto_reasm_has_partial(const proto_reasm_t *r)
{
    return r->have > 0;
}

/* Records a framing error (sticky, invariant 3) and drops pending input and
 * any partial packet: nothing after a framing error can be trusted. */
static int proto_reasm_fail(proto_reasm_t *r, int err)
{
    r->err = err;
    r->have = 0;
    r->in = NULL;
    r->in_len = 0;
    return err;
}

/* 0 if a header length field is acceptable, else the framing error. */
static int proto_reasm_check_len(const proto_reasm_t *r, uint16_t length)
{
    if (length < PROTO_HEADER_SIZE)
        return PROTO_REASM_TOO_SHORT;
    if (length > r->max_packet)
        return PROTO_REASM_TOO_LONG;
    return 0;
}

static void proto_reasm_emit(const uint8_t *p, proto_packet_t *out)
{
    proto_header_decode(p, &out->hdr);
    out->body = p + PROTO_HEADER_SIZE;
    out->body_len = (size_t)out->hdr.length - PROTO_HEADER_SIZE;
}

static void proto_reasm_take(proto_reasm_t *r, size_t n)
{
    r->in += n;
    r->in_len -= n;
}

/* Continues the partial packet in buf with bytes of the current chunk: first
 * up to the 2-byte length field, then up to the whole packet. */
static int proto_reasm_complete(proto_reasm_t *r, proto_packet_t *out)
{
    for (;;) {
        size_t target = r->have < 2 ? 2 : proto_get_u16(r->buf);
        size_t n = target - r->have;
        int rc;

        if (n > r->in_len)
            n = r->in_len;
        memcpy(r->buf + r->have, r->in, n);
        r->have += n;
        proto_reasm_take(r, n);
        if (r->have < target)
            return PROTO_REASM_NEED_MORE; /* the chunk is used up */
        if (target > 2) {
            proto_reasm_emit(r->buf, out); /* valid until the next call */
            r->have = 0;
            return PROTO_REASM_PACKET;
        }
        rc = proto_reasm_check_len(r, proto_get_u16(r->buf));
        if (rc != 0)
            return proto_reasm_fail(r, rc);
    }
}

/* Saves the tail of the chunk (an incomplete packet) into buf. */
static int proto_reasm_save(proto_reasm_t *r)
{
    if (r->buf == NULL) {
        r->buf = malloc(r->max_packet);
        if (r->buf == NULL)
            return proto_reasm_fail(r, PROTO_REASM_NOMEM);
    }
    /* in_len < the packet's length <= max_packet (or in_len is 1). */
    memcpy(r->buf, r->in, r->in_len);
    r->have = r->in_len;
    proto_reasm_take(r, r->in_len);
    return PROTO_REASM_NEED_MORE;
}

int proto_reasm_next(proto_reasm_t *r, proto_packet_t *out)
{
    uint16_t length;
    int rc;

    if (r->err != 0)
        return r->err;
    if (r->have > 0)
        return proto_reasm_complete(r, out);
    if (r->in_len == 0)
        return PROTO_REASM_NEED_MORE;
    if (r->in_len < 2)
        return proto_reasm_save(r);
    /* Fail as soon as the length field is readable, not when the header is. */
    length = proto_get_u16(r->in);
    rc = proto_reasm_check_len(r, length);
    if (rc != 0)
        return proto_reasm_fail(r, rc);
    if (r->in_len < length)
        return proto_reasm_save(r);
    proto_reasm_emit(r->in, out); /* zero copy: points into the chunk */
    proto_reasm_take(r, length);
    return PROTO_REASM_PACKET;
}
