/* faults_room.h: client-side helpers for the room and socket fault cases of
 * test_faults.c: chat without waiting, learn a member's uid, watch a room
 * while members reset mid-send (checking that nothing is lost or reordered),
 * read until the server closes, log in again once an id is released.
 * Test code only, main test thread only (cr_assert); every read has a
 * deadline (ITEST_T per packet). */
#ifndef RINGCHAT_FAULTS_ROOM_H
#define RINGCHAT_FAULTS_ROOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FR_RESETTERS 6  /* members that reset mid-send */
#define FR_BURST     30 /* whole chats an even-numbered resetter sends before its RST */

/* What one watcher saw: per sender, the next sequence number expected;
 * the room's order; which resetters' leaves arrived. */
typedef struct watch {
    int next_a, next_b, next_r[FR_RESETTERS];
    bool a_end, left[FR_RESETTERS];
    int order[3 * FR_RESETTERS * FR_BURST], norder;
} fr_watch_t;

/* Sends ROOM_CHAT_REQ (full 257-byte field) without reading the answer. */
int fr_send_chat(int fd, const char *text);

/* Reads until the ROOM_NEW_USER_NTF of id (skipping other room notices and
 * chat results); returns that user's uid. */
int64_t fr_uid_of(int fd, const char *id);

/* Reads chats "a:0".."a:{FR_RESETTERS-1}", "a:end", "b:0".."b:{FR_RESETTERS-1}"
 * and "rK:0.." from resetter K, and the leave of every uids[K]: asserts
 * per-sender order without gaps and no chat from a resetter after its
 * leave; returns once a:end, every b and every leave arrived. */
void fr_watch_room(int fd, fr_watch_t *w, const int64_t *uids);

/* Resetter k: a burst of FR_BURST whole chats "rK:i" (even k) or one whole
 * chat and half of another (odd k), then close with RST, answers unread. */
void fr_reset_mid_send(int fd, int k);

/* Reads until the server closes (EOF or reset), at most ITEST_T ms; keeps up
 * to cap bytes. Returns the bytes read, or -1 if still open at the deadline. */
int fr_read_to_close(int fd, uint8_t *buf, size_t cap);

/* Logs in as id (password "pw") on a new connection, retrying while the id
 * is still held by a closed connection (31; released asynchronously) for up
 * to 5 s. Returns the logged-in fd. */
int fr_login_when_released(uint16_t port, const char *id);

#endif
