/* test_proto_reasm.c: the stream reassembler. A stream of mixed packets must
 * come out identical however it is chunked (whole, byte by byte, split at
 * every position, pseudo-random chunks); whole packets inside a chunk are
 * zero copy; the length limits (5 and max_packet) are exact; errors are
 * sticky; partial-packet tracking is right. Run by ctest as test_proto_reasm.
 * Pure computation, no waiting. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

#define STREAM_MAX 8192
#define MAX_PKTS   128

/* Everything the reassembler returned, re-serialised: when all packets are
 * valid, the concatenation must equal the input stream exactly, and lens[]
 * records where the boundaries were. */
typedef struct sink {
    uint8_t bytes[STREAM_MAX];
    size_t len;
    uint16_t lens[MAX_PKTS];
    size_t count;
    size_t copied; /* packets whose body did not point into the fed chunk */
} sink_t;

static void sink_add(sink_t *s, const proto_packet_t *p, const uint8_t *chunk, size_t chunk_len)
{
    uint8_t *o = s->bytes + s->len;

    cr_assert_eq(p->body_len + PROTO_HEADER_SIZE, p->hdr.length);
    cr_assert_leq(s->len + p->hdr.length, sizeof(s->bytes));
    cr_assert_lt(s->count, MAX_PKTS);
    proto_header_encode(o, p->hdr.length, p->hdr.id);
    o[4] = p->hdr.type;
    if (p->body_len > 0)
        memcpy(o + PROTO_HEADER_SIZE, p->body, p->body_len);
    s->len += p->hdr.length;
    s->lens[s->count++] = p->hdr.length;
    if (!(p->body >= chunk && p->body + p->body_len <= chunk + chunk_len))
        s->copied++;
}

/* Feeds one chunk and drains it. Returns the final next() result. */
static int feed_drain(proto_reasm_t *r, sink_t *s, const uint8_t *chunk, size_t len)
{
    proto_packet_t p;
    int rc;

    proto_reasm_feed(r, chunk, len);
    while ((rc = proto_reasm_next(r, &p)) == PROTO_REASM_PACKET)
        sink_add(s, &p, chunk, len);
    return rc;
}

static uint8_t stream[STREAM_MAX];
static size_t stream_len;
static uint16_t stream_lens[MAX_PKTS];
static size_t stream_count;

static void add(size_t n)
{
    cr_assert_gt(n, 0);
    stream_lens[stream_count++] = (uint16_t)n;
    stream_len += n;
}

/* A stream of mixed packets: empty body, fixed bodies, a large body, a type
 * byte that is not 0 (not the reassembler's business), an unknown id. */
static void build_stream(void)
{
    static uint8_t big[1000];
    static const uint8_t odd[] = {0x06, 0x00, 0x39, 0x30, 0x05, 'x'};
    proto_user_t users[2] = {{.uid = 7, .id_len = 3, .id = "ann"},
                             {.uid = 8, .id_len = 2, .id = "bo"}};
    uint8_t *p;

    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7 + 3);
    stream_len = stream_count = 0;
    p = stream;
#define PUT(call) (add(call), p = stream + stream_len)
    PUT(proto_encode_dev_echo(p, STREAM_MAX - stream_len, NULL, 0));
    PUT(proto_encode_login_req(p, STREAM_MAX - stream_len, "alice", "pw"));
    PUT(proto_encode_ping_req(p, STREAM_MAX - stream_len, 42));
    PUT(proto_encode_room_chat_req(p, STREAM_MAX - stream_len, "hello", 5));
    PUT(proto_encode_dev_echo(p, STREAM_MAX - stream_len, big, sizeof(big)));
    PUT(proto_encode_room_leave_req(p, STREAM_MAX - stream_len));
    PUT(proto_encode_room_chat_notify(p, STREAM_MAX - stream_len, "bob", "hi", 2));
    PUT(proto_encode_room_user_list_ntf(p, STREAM_MAX - stream_len, users, 2));
    memcpy(p, odd, sizeof(odd));
    PUT(sizeof(odd));
    PUT(proto_encode_error_ntf(p, STREAM_MAX - stream_len, 3, 11));
    PUT(proto_encode_room_chat_req_short(p, STREAM_MAX - stream_len, "x", 1));
#undef PUT
}

static void expect_identical(const sink_t *s)
{
    cr_assert_eq(s->count, stream_count, "got %zu packets, want %zu", s->count, stream_count);
    cr_assert_eq(s->len, stream_len);
    cr_assert_arr_eq(s->lens, stream_lens, stream_count * sizeof(uint16_t));
    cr_assert_arr_eq(s->bytes, stream, stream_len);
}

static sink_t sink;
static proto_reasm_t r;

static void setup(void)
{
    memset(&sink, 0, sizeof(sink));
    build_stream();
    cr_assert_eq(proto_reasm_init(&r, PROTO_MAX_PACKET_DEFAULT), 0);
}

static void teardown(void)
{
    proto_reasm_free(&r);
}

TestSuite(reasm, .init = setup, .fini = teardown);

Test(reasm, whole_stream_in_one_chunk_is_zero_copy)
{
    cr_assert_eq(feed_drain(&r, &sink, stream, stream_len), PROTO_REASM_NEED_MORE);
    expect_identical(&sink);
    cr_assert_eq(sink.copied, 0, "no packet may be copied");
    cr_assert_null(r.buf, "nothing allocated when no packet straddles");
    cr_assert_not(proto_reasm_has_partial(&r));
}

Test(reasm, one_byte_at_a_time)
{
    for (size_t i = 0; i < stream_len; i++)
        cr_assert_eq(feed_drain(&r, &sink, stream + i, 1), PROTO_REASM_NEED_MORE);
    expect_identical(&sink);
    cr_assert_not(proto_reasm_has_partial(&r));
}

Test(reasm, split_in_two_at_every_position)
{
    for (size_t k = 0; k <= stream_len; k++) {
        memset(&sink, 0, sizeof(sink));
        cr_assert_eq(feed_drain(&r, &sink, stream, k), PROTO_REASM_NEED_MORE);
        cr_assert_eq(feed_drain(&r, &sink, stream + k, stream_len - k), PROTO_REASM_NEED_MORE);
        expect_identical(&sink);
        cr_assert_leq(sink.copied, 1, "split at %zu: only the straddling packet is copied", k);
        cr_assert_not(proto_reasm_has_partial(&r));
    }
}

Test(reasm, pseudo_random_chunks)
{
    uint32_t seed = 12345;

    for (int round = 0; round < 300; round++) {
        size_t off = 0;
        memset(&sink, 0, sizeof(sink));
        while (off < stream_len) {
            seed = seed * 1103515245u + 12345u;
            size_t n = 1 + (seed >> 16) % 600;
            if (n > stream_len - off)
                n = stream_len - off;
            cr_assert_eq(feed_drain(&r, &sink, stream + off, n), PROTO_REASM_NEED_MORE);
            off += n;
        }
        expect_identical(&sink);
    }
}

Test(reasm, fifty_packets_in_one_chunk)
{
    static uint8_t chunk[50 * 13];
    proto_packet_t p;
    size_t off = 0;
    uint64_t token;

    for (uint64_t i = 0; i < 50; i++)
        off += proto_encode_ping_req(chunk + off, sizeof(chunk) - off, 1000 + i);
    cr_assert_eq(off, sizeof(chunk));
    proto_reasm_feed(&r, chunk, sizeof(chunk));
    for (uint64_t i = 0; i < 50; i++) {
        cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_PACKET, "packet %lu", (unsigned long)i);
        cr_assert_eq(p.hdr.id, PROTO_PING_REQ);
        cr_assert_eq(p.body, chunk + i * 13 + 5, "zero copy, in order");
        cr_assert_eq(proto_decode_ping_req(p.body, p.body_len, &token), PROTO_OK);
        cr_assert_eq(token, 1000 + i);
    }
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_NEED_MORE);
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_NEED_MORE, "stays drained");
    cr_assert_null(r.buf);
}

Test(reasm, partial_bytes_are_copied_so_the_chunk_may_be_reused)
{
    uint8_t tmp[64];
    proto_packet_t p;
    uint64_t token;
    size_t n = proto_encode_ping_req(tmp, sizeof(tmp), 0xA1B2C3D4E5F60718);

    proto_reasm_feed(&r, tmp, 7);
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_NEED_MORE);
    cr_assert(proto_reasm_has_partial(&r));
    memmove(tmp, tmp + 7, n - 7);
    memset(tmp + n - 7, 0xEE, sizeof(tmp) - (n - 7)); /* the first 7 bytes are gone */
    proto_reasm_feed(&r, tmp, n - 7);
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_PACKET);
    cr_assert_eq(proto_decode_ping_req(p.body, p.body_len, &token), PROTO_OK);
    cr_assert_eq(token, 0xA1B2C3D4E5F60718);
    cr_assert_not(proto_reasm_has_partial(&r));
}

/* ---- limits ----------------------------------------------------------------- */

static uint8_t pkt[PROTO_MAX_PACKET_LIMIT];

/* A DEV_ECHO packet of exactly total bytes (total >= 5) in pkt. */
static size_t make_packet(size_t total)
{
    memset(pkt, 'e', total);
    return proto_encode_dev_echo(pkt, sizeof(pkt), pkt + PROTO_HEADER_SIZE,
                                 total - PROTO_HEADER_SIZE);
}

Test(reasm, init_rejects_max_packet_outside_5_to_65535)
{
    proto_reasm_t x;

    cr_assert_eq(proto_reasm_init(&x, 4), -EINVAL);
    cr_assert_eq(proto_reasm_init(&x, 0), -EINVAL);
    cr_assert_eq(proto_reasm_init(&x, 65536), -EINVAL);
    cr_assert_eq(proto_reasm_init(&x, 5), 0);
    proto_reasm_free(&x);
    cr_assert_eq(proto_reasm_init(&x, 65535), 0);
    proto_reasm_free(&x);
}

Test(reasm, exactly_max_packet_is_accepted)
{
    proto_packet_t p;
    proto_reasm_t x;

    cr_assert_eq(proto_reasm_init(&x, 100), 0);
    cr_assert_eq(make_packet(100), 100);
    proto_reasm_feed(&x, pkt, 60); /* split too, so the copy path is used */
    cr_assert_eq(proto_reasm_next(&x, &p), PROTO_REASM_NEED_MORE);
    proto_reasm_feed(&x, pkt + 60, 40);
    cr_assert_eq(proto_reasm_next(&x, &p), PROTO_REASM_PACKET);
    cr_assert_eq(p.hdr.length, 100);
    cr_assert_eq(p.body_len, 95);
    cr_assert_arr_eq(p.body, pkt + 5, 95);
    proto_reasm_free(&x);

    cr_assert_eq(make_packet(4096), 4096);
    proto_reasm_feed(&r, pkt, 4096);
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_PACKET);
}

Test(reasm, max_packet_plus_one_is_too_long)
{
    proto_packet_t p;
    proto_reasm_t x;

    cr_assert_eq(proto_reasm_init(&x, 100), 0);
    cr_assert_eq(make_packet(101), 101);
    proto_reasm_feed(&x, pkt, 101);
    cr_assert_eq(proto_reasm_next(&x, &p), PROTO_REASM_TOO_LONG);
    proto_reasm_free(&x);

    cr_assert_eq(make_packet(4097), 4097);
    proto_reasm_feed(&r, pkt, 1); /* length field split across chunks */
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_NEED_MORE);
    proto_reasm_feed(&r, pkt + 1, 1);
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_TOO_LONG, "known from 2 bytes");
}

Test(reasm, largest_packet_in_three_chunks)
{
    proto_packet_t p;
    proto_reasm_t x;

    cr_assert_eq(proto_reasm_init(&x, PROTO_MAX_PACKET_LIMIT), 0);
    cr_assert_eq(make_packet(65535), 65535);
    pkt[65534] = 'Z';
    proto_reasm_feed(&x, pkt, 3);
    cr_assert_eq(proto_reasm_next(&x, &p), PROTO_REASM_NEED_MORE);
    proto_reasm_feed(&x, pkt + 3, 40000);
    cr_assert_eq(proto_reasm_next(&x, &p), PROTO_REASM_NEED_MORE);
    proto_reasm_feed(&x, pkt + 40003, 65535 - 40003);
    cr_assert_eq(proto_reasm_next(&x, &p), PROTO_REASM_PACKET);
    cr_assert_eq(p.body_len, 65530);
    cr_assert_eq(p.body[65529], 'Z');
    proto_reasm_free(&x);
}

Test(reasm, length_below_5_is_too_short)
{
    for (uint8_t len = 0; len < 5; len++) {
        uint8_t bad[8] = {len, 0x00, 0x01, 0x00, 0x00, 0, 0, 0};
        proto_packet_t p;
        proto_reasm_t x;

        cr_assert_eq(proto_reasm_init(&x, 4096), 0);
        proto_reasm_feed(&x, bad, sizeof(bad));
        cr_assert_eq(proto_reasm_next(&x, &p), PROTO_REASM_TOO_SHORT, "length %u", len);
        proto_reasm_free(&x);

        cr_assert_eq(proto_reasm_init(&x, 4096), 0); /* split inside the length field */
        proto_reasm_feed(&x, bad, 1);
        cr_assert_eq(proto_reasm_next(&x, &p), PROTO_REASM_NEED_MORE);
        proto_reasm_feed(&x, bad + 1, 2);
        cr_assert_eq(proto_reasm_next(&x, &p), PROTO_REASM_TOO_SHORT, "split, length %u", len);
        cr_assert_not(proto_reasm_has_partial(&x), "an error drops the partial packet");
        proto_reasm_free(&x);
    }
    cr_assert_neq(PROTO_REASM_TOO_SHORT, PROTO_REASM_TOO_LONG);
}

Test(reasm, length_exactly_5_is_an_empty_body)
{
    static const uint8_t g[] = {0x05, 0x00, 0xD7, 0x00, 0x00};
    proto_packet_t p;

    proto_reasm_feed(&r, g, sizeof(g));
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_PACKET);
    cr_assert_eq(p.hdr.id, PROTO_ROOM_LEAVE_REQ);
    cr_assert_eq(p.body_len, 0);
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_NEED_MORE);
}

Test(reasm, packets_before_an_error_are_delivered_and_errors_are_sticky)
{
    static const uint8_t g[] = {0x05, 0x00, 0xD7, 0x00, 0x00,  /* ok */
                                0x03, 0x00, 0xD7, 0x00, 0x00}; /* length 3 */
    static const uint8_t good[] = {0x05, 0x00, 0xD7, 0x00, 0x00};
    proto_packet_t p;

    proto_reasm_feed(&r, g, sizeof(g));
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_PACKET);
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_TOO_SHORT);
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_TOO_SHORT);
    proto_reasm_feed(&r, good, sizeof(good)); /* ignored, no abort */
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_TOO_SHORT);
    proto_reasm_feed(&r, good, sizeof(good));
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_TOO_SHORT);
}

Test(reasm, partial_tracking)
{
    proto_packet_t p;

    cr_assert_not(proto_reasm_has_partial(&r));
    proto_reasm_feed(&r, stream, 0);
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_NEED_MORE, "empty chunk");
    cr_assert_not(proto_reasm_has_partial(&r));
    proto_reasm_feed(&r, stream, 1);
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_NEED_MORE);
    cr_assert(proto_reasm_has_partial(&r), "one byte of a header");
    proto_reasm_feed(&r, stream + 1, 4 + 3); /* rest of packet 1, 3 bytes of packet 2 */
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_PACKET);
    cr_assert_eq(p.hdr.length, 5);
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_NEED_MORE);
    cr_assert(proto_reasm_has_partial(&r), "3 bytes of the login packet");
    proto_reasm_feed(&r, stream + 8, 71 - 3);
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_PACKET);
    cr_assert_eq(p.hdr.id, PROTO_LOGIN_REQ);
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_NEED_MORE);
    cr_assert_not(proto_reasm_has_partial(&r));
}

Test(reasm, feeding_before_draining_aborts, .signal = SIGABRT)
{
    proto_packet_t p;

    proto_reasm_feed(&r, stream, stream_len);
    cr_assert_eq(proto_reasm_next(&r, &p), PROTO_REASM_PACKET);
    proto_reasm_feed(&r, stream, stream_len); /* the rest of the first chunk is pending */
}
