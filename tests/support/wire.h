/* wire.h: blocking client-side helpers for integration tests: send bytes,
 * read one whole packet with a deadline, wait for the server to close.
 * Test code only; every wait is bounded. */
#ifndef RINGCHAT_WIRE_H
#define RINGCHAT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Writes all len bytes. 0 or -1. */
int wire_send(int fd, const void *buf, size_t len);

/* Reads one packet within timeout_ms into buf (header included). Returns the
 * packet length (>= 5) and fills *h, or -1 on timeout, EOF or error. */
int wire_recv(int fd, uint8_t *buf, size_t cap, proto_header_t *h, int timeout_ms);

/* Reads one packet and checks its id; returns the body length or -1. The body
 * starts at buf + PROTO_HEADER_SIZE. */
int wire_expect(int fd, uint16_t id, uint8_t *buf, size_t cap, int timeout_ms);

/* Reads a *_RES packet of the given id; returns its result code or -1. */
int wire_expect_result(int fd, uint16_t id, int timeout_ms);

/* Reads an ERROR_NTF; returns its code (and the offending id) or -1. */
int wire_expect_error(int fd, uint16_t *offending_id, int timeout_ms);

/* true if the peer closes (EOF or reset) within timeout_ms; data before the
 * close is discarded. */
bool wire_wait_closed(int fd, int timeout_ms);

/* true if nothing at all arrives within timeout_ms. */
bool wire_silent(int fd, int timeout_ms);

/* Sends LOGIN_REQ and returns the LOGIN_RES code, or -1. */
int wire_login(int fd, const char *id, const char *pw, int timeout_ms);

/* Sends ROOM_ENTER_REQ and returns the ROOM_ENTER_RES code, or -1. On 0 the
 * ROOM_USER_LIST_NTF packets that follow are NOT read. */
int wire_enter(int fd, int32_t room, int timeout_ms);

/* Sends ROOM_CHAT_REQ (the tutorial's full 257-byte field) and returns the
 * ROOM_CHAT_RES code, or -1. */
int wire_chat(int fd, const char *text, int timeout_ms);

/* Reads one ROOM_CHAT_NOTIFY into *n. 0 or -1. */
int wire_expect_notify(int fd, proto_chat_notify_t *n, int timeout_ms);

/* A connection to 127.0.0.1:port logged in as id (password pw). -1 on failure. */
int wire_connect_login(uint16_t port, const char *id, const char *pw, int timeout_ms);

#endif
