/* proto_bytes.h: little-endian load/store helpers, private to src/proto.
 * Included only by the .c files of src/proto. Every access is byte by byte, so it never
 * does an unaligned load and never depends on the host's byte order.
 * It must never be installed or included from outside src/proto. */
#ifndef RINGCHAT_PROTO_BYTES_H
#define RINGCHAT_PROTO_BYTES_H

#include <stdint.h>

static inline uint16_t proto_get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t proto_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline uint64_t proto_get_u64(const uint8_t *p)
{
    return (uint64_t)proto_get_u32(p) | ((uint64_t)proto_get_u32(p + 4) << 32);
}

static inline void proto_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void proto_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void proto_put_u64(uint8_t *p, uint64_t v)
{
    proto_put_u32(p, (uint32_t)v);
    proto_put_u32(p + 4, (uint32_t)(v >> 32));
}

/* Two's complement on the wire; the conversion back is implementation-defined
 * in C11 for out-of-range values, so go through memcpy-free arithmetic. */
static inline int32_t proto_get_i32(const uint8_t *p)
{
    uint32_t u = proto_get_u32(p);
    return u <= INT32_MAX ? (int32_t)u : (int32_t)(u - INT32_MAX - 1) + INT32_MIN;
}

static inline int64_t proto_get_i64(const uint8_t *p)
{
    uint64_t u = proto_get_u64(p);
    return u <= INT64_MAX ? (int64_t)u : (int64_t)(u - INT64_MAX - 1) + INT64_MIN;
}

#endif
