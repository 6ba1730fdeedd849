/* faults_room.c: see faults_room.h. Test code only (cr_assert). */
#include "faults_room.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "faults_util.h"
#include "itest.h"
#include "proto.h"
#include "server_proc.h"
#include "wire.h"

#define T ITEST_T

int fr_send_chat(int fd, const char *text)
{
    uint8_t pkt[PROTO_HEADER_SIZE + PROTO_MSG_FIELD];
    return wire_send(fd, pkt, proto_encode_room_chat_req(pkt, sizeof(pkt), text, strlen(text)));
}

/* Reads until the ROOM_NEW_USER_NTF of `id` (skipping other room notices
 * and chat results); returns that user's uid. */
int64_t fr_uid_of(int fd, const char *id)
{
    uint8_t buf[PROTO_USER_LIST_PACKET_MAX];
    for (int i = 0; i < 1000; i++) {
        proto_header_t h;
        int n = wire_recv(fd, buf, sizeof(buf), &h, T);
        cr_assert_gt(n, 0, "no ROOM_NEW_USER_NTF for %s", id);
        proto_user_t u;
        if (h.id == PROTO_ROOM_NEW_USER_NTF &&
            proto_decode_room_new_user_ntf(buf + 5, (size_t)n - 5, &u) == 0 &&
            strcmp(u.id, id) == 0)
            return u.uid;
        cr_assert(h.id == PROTO_ROOM_NEW_USER_NTF || h.id == PROTO_ROOM_USER_LIST_NTF ||
                      h.id == PROTO_ROOM_CHAT_RES,
                  "unexpected packet %u", h.id);
    }
    cr_assert_fail("no ROOM_NEW_USER_NTF for %s", id);
    return -1;
}

static void watch_notify(fr_watch_t *w, const char *text)
{
    int k, seq;
    if (strcmp(text, "a:end") == 0) {
        cr_assert_eq(w->next_a, FR_RESETTERS, "a:end before a's other messages");
        w->a_end = true;
        seq = 9999;
    } else if (sscanf(text, "a:%d", &seq) == 1) {
        cr_assert_eq(seq, w->next_a++, "a's messages lost or out of order");
    } else if (sscanf(text, "b:%d", &seq) == 1) {
        cr_assert_eq(seq, w->next_b++, "b's messages lost or out of order");
        seq += 10000;
    } else {
        cr_assert_eq(sscanf(text, "r%d:%d", &k, &seq), 2, "unexpected chat text '%s'", text);
        cr_assert(k >= 0 && k < FR_RESETTERS && !w->left[k], "r%d chatted after leaving", k);
        cr_assert_eq(seq, w->next_r[k]++, "r%d: a gap: a message lost before %d", k, seq);
        seq += 20000 + k * 100;
    }
    cr_assert_lt(w->norder, (int)(sizeof(w->order) / sizeof(w->order[0])));
    w->order[w->norder++] = seq;
}

/* Reads until a's last message, all of b's and every resetter's leave. */
void fr_watch_room(int fd, fr_watch_t *w, const int64_t *uids)
{
    uint8_t buf[PROTO_USER_LIST_PACKET_MAX];
    int leaves = 0;
    while (!w->a_end || w->next_b < FR_RESETTERS || leaves < FR_RESETTERS) {
        proto_header_t h;
        int n = wire_recv(fd, buf, sizeof(buf), &h, T);
        cr_assert_gt(n, 0, "stream ended: a %d b %d leaves %d", w->next_a, w->next_b, leaves);
        if (h.id == PROTO_ROOM_CHAT_NOTIFY) {
            proto_chat_notify_t note;
            cr_assert_eq(proto_decode_room_chat_notify(buf + 5, (size_t)n - 5, &note), 0);
            watch_notify(w, note.text);
        } else if (h.id == PROTO_ROOM_LEAVE_USER_NTF) {
            int64_t uid;
            cr_assert_eq(proto_decode_room_leave_user_ntf(buf + 5, (size_t)n - 5, &uid), 0);
            int k = 0;
            while (k < FR_RESETTERS && uids[k] != uid)
                k++;
            cr_assert(k < FR_RESETTERS && !w->left[k], "leave of an unknown uid %lld",
                      (long long)uid);
            w->left[k] = true;
            leaves++;
        } else {
            cr_assert_eq(h.id, PROTO_ROOM_CHAT_RES, "unexpected packet %u", h.id);
            cr_assert_eq(buf[5] | buf[6] << 8, 0, "a chat was refused");
        }
    }
}

/* Resetter k: a burst of whole chats (even k) or one chat and half of
 * another (odd k), then RST with the answers unread. */
void fr_reset_mid_send(int fd, int k)
{
    static uint8_t pkt[FR_BURST * (PROTO_HEADER_SIZE + PROTO_MSG_FIELD)];
    size_t len = 0;
    char text[32];
    int whole = k % 2 == 0 ? FR_BURST : 1;
    for (int i = 0; i < whole; i++) {
        snprintf(text, sizeof(text), "r%d:%d", k, i);
        len += proto_encode_room_chat_req(pkt + len, sizeof(pkt) - len, text, strlen(text));
    }
    if (k % 2 == 1) {
        size_t n = proto_encode_room_chat_req(pkt + len, sizeof(pkt) - len, "HALF", 4);
        len += n / 2; /* the header announces 262 bytes; half of them follow */
    }
    cr_assert_eq(wire_send(fd, pkt, len), 0);
    fu_rst_close(fd);
}

/* Reads everything until the server closes (EOF or reset), at most T ms.
 * Returns the bytes read, or -1 if the connection was still open. */
int fr_read_to_close(int fd, uint8_t *buf, size_t cap)
{
    long deadline = fu_now_ms() + T;
    size_t len = 0;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        long left = deadline - fu_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return -1;
        uint8_t sink[512];
        ssize_t n = read(fd, sink, sizeof(sink));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return (int)len;
        size_t take = (size_t)n < cap - len ? (size_t)n : cap - len;
        memcpy(buf + len, sink, take);
        len += take;
    }
}

int fr_login_when_released(uint16_t port, const char *id)
{
    for (int i = 0; i < 250; i++) {
        int fd = tcp_connect(port);
        cr_assert_geq(fd, 0);
        int res = wire_login(fd, id, "pw", T);
        cr_assert(res == PROTO_OK || res == PROTO_LOGIN_USER_ALREADY, "%s: got %d", id, res);
        if (res == PROTO_OK)
            return fd;
        close(fd);
        usleep(20000);
    }
    cr_assert_fail("%s was never released", id);
    return -1;
}
