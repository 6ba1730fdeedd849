/* session.h: the session actor, one per client connection. It turns the
 * connection's bytes into packets (src/proto), runs the login and room
 * state machine of PROTOCOL.md, and answers through the single send path
 * (net_conn_send). Spawned by the worker that accepted the connection (on
 * that worker's thread: it arms the idle timer there); fed only by
 * messages. Never touches another actor's state; never blocks. */
#ifndef RINGCHAT_SESSION_H
#define RINGCHAT_SESSION_H

#include "actor.h"
#include "chat.h"

/* Spawns the session of a freshly accepted connection: 0, -EBUSY when
 * --max-unauth connections are waiting to log in already (the caller
 * refuses this one with ERROR_NTF 9), or -ENOMEM. */
int session_spawn(const chat_ctx_t *ctx, net_conn_t conn, actor_ref_t *out);

/* Builds a SESSION_MSG_DATA message holding a copy of data (one pooled
 * net_buf; the message's drop hook releases it). NULL when out of memory. */
msg_t *session_data_msg(const uint8_t *data, size_t len);

/* Builds a SESSION_MSG_CLOSED message. NULL when out of memory. */
msg_t *session_closed_msg(net_close_reason_t reason);

/* Input a session holds while it waits for a login or enter answer; more
 * than this closes the connection (a client cannot queue unlimited work). */
#define SESSION_PARK_LIMIT (1u << 20)

/* The same before login: a client has nothing to pipeline behind its login
 * but a few requests, and up to --max-unauth connections may each hold
 * this much (64 MiB at the default 1024, where 1 MiB would allow 1 GiB). */
#define SESSION_PARK_LIMIT_UNAUTH (64u << 10)

/* The answer to a second failed login on a connection waits this long, the
 * next ones twice as long as the one before, at most the maximum. */
#define SESSION_BACKOFF_MS     500u
#define SESSION_BACKOFF_MAX_MS 4000u

#endif
