/* wire.c: see wire.h. poll(2) with a deadline before every read. */
#include "wire.h"

#include "server_proc.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int wire_send(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads exactly len bytes before the deadline. 0 or -1. */
static int read_exact(int fd, uint8_t *p, size_t len, long deadline)
{
    while (len > 0) {
        long left = deadline - now_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return -1;
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int wire_recv(int fd, uint8_t *buf, size_t cap, proto_header_t *h, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    if (cap < PROTO_HEADER_SIZE || read_exact(fd, buf, PROTO_HEADER_SIZE, deadline) != 0)
        return -1;
    proto_header_decode(buf, h);
    if (h->length < PROTO_HEADER_SIZE || h->length > cap)
        return -1;
    if (read_exact(fd, buf + PROTO_HEADER_SIZE, h->length - PROTO_HEADER_SIZE, deadline) != 0)
        return -1;
    return h->length;
}

int wire_expect(int fd, uint16_t id, uint8_t *buf, size_t cap, int timeout_ms)
{
    proto_header_t h;
    int n = wire_recv(fd, buf, cap, &h, timeout_ms);
    if (n < 0 || h.id != id)
        return -1;
    return n - PROTO_HEADER_SIZE;
}

int wire_expect_result(int fd, uint16_t id, int timeout_ms)
{
    uint8_t buf[64];
    uint16_t result;
    int n = wire_expect(fd, id, buf, sizeof(buf), timeout_ms);
    if (n < 0 || proto_decode_result(buf + PROTO_HEADER_SIZE, (size_t)n, &result) != 0)
        return -1;
    return result;
}

int wire_expect_error(int fd, uint16_t *offending_id, int timeout_ms)
{
    uint8_t buf[64];
    uint16_t code, off;
    int n = wire_expect(fd, PROTO_ERROR_NTF, buf, sizeof(buf), timeout_ms);
    if (n < 0 || proto_decode_error_ntf(buf + PROTO_HEADER_SIZE, (size_t)n, &code, &off) != 0)
        return -1;
    if (offending_id != NULL)
        *offending_id = off;
    return code;
}

bool wire_wait_closed(int fd, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    uint8_t sink[4096];
    for (;;) {
        long left = deadline - now_ms();
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            return false;
        ssize_t n = read(fd, sink, sizeof(sink));
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
            return true;
    }
}

bool wire_silent(int fd, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    return poll(&pfd, 1, timeout_ms) == 0;
}

int wire_login(int fd, const char *id, const char *pw, int timeout_ms)
{
    uint8_t pkt[PROTO_HEADER_SIZE + PROTO_LOGIN_REQ_BODY];
    size_t n = proto_encode_login_req(pkt, sizeof(pkt), id, pw);
    if (n == 0 || wire_send(fd, pkt, n) != 0)
        return -1;
    return wire_expect_result(fd, PROTO_LOGIN_RES, timeout_ms);
}

int wire_enter(int fd, int32_t room, int timeout_ms)
{
    uint8_t pkt[16];
    size_t n = proto_encode_room_enter_req(pkt, sizeof(pkt), room);
    if (wire_send(fd, pkt, n) != 0)
        return -1;
    return wire_expect_result(fd, PROTO_ROOM_ENTER_RES, timeout_ms);
}

int wire_chat(int fd, const char *text, int timeout_ms)
{
    uint8_t pkt[PROTO_HEADER_SIZE + PROTO_MSG_FIELD];
    size_t n = proto_encode_room_chat_req(pkt, sizeof(pkt), text, strlen(text));
    if (n == 0 || wire_send(fd, pkt, n) != 0)
        return -1;
    return wire_expect_result(fd, PROTO_ROOM_CHAT_RES, timeout_ms);
}

int wire_expect_notify(int fd, proto_chat_notify_t *out, int timeout_ms)
{
    uint8_t buf[PROTO_HEADER_SIZE + PROTO_CHAT_NOTIFY_BODY];
    int n = wire_expect(fd, PROTO_ROOM_CHAT_NOTIFY, buf, sizeof(buf), timeout_ms);
    if (n < 0)
        return -1;
    return proto_decode_room_chat_notify(buf + PROTO_HEADER_SIZE, (size_t)n, out);
}

int wire_connect_login(uint16_t port, const char *id, const char *pw, int timeout_ms)
{
    int fd = tcp_connect(port);
    if (fd < 0)
        return -1;
    if (wire_login(fd, id, pw, timeout_ms) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}
