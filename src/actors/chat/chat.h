/* chat.h: what the chat actors (session, room, directory, login) share:
 * their settings, the identity of a logged-in user, and the message types
 * they exchange. The settings are filled once by the server before any
 * worker starts and are read-only afterwards. Never holds per-connection
 * state. See docs/chat-design.md for who sends what to whom. */
#ifndef RINGCHAT_CHAT_H
#define RINGCHAT_CHAT_H

#include <stdbool.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "actor.h"
#include "chat_limits.h"
#include "ckpr.h"
#include "net.h"
#include "proto.h"
#include "scheduler.h"

typedef struct auth auth_t;

typedef struct chat_config {
    uint32_t max_packet; /* largest packet a client may send (5..65535) */
    int32_t room_first;  /* valid rooms: room_first .. room_first+room_count-1 */
    uint32_t room_count;
    uint32_t room_capacity;     /* members per room */
    uint32_t max_users;         /* logged-in users at once (LOGIN_RES 32 beyond) */
    uint32_t max_unauth;        /* connections not logged in yet (ERROR_NTF 9 beyond) */
    uint32_t unauth_timeout_ms; /* to log in after connecting; 0 = never */
    uint32_t login_attempts;    /* failed logins per connection; 0 = unlimited */
    uint32_t chat_rate;         /* chat messages per second per session; 0 = unlimited */
    uint32_t chat_burst;        /* token bucket size */
    uint32_t idle_timeout_ms;   /* 0 = never */
    uint32_t login_timeout_ms;
} chat_config_t;

enum { CHAT_DIR_SHARDS_MAX = 64, CHAT_LOGIN_SHARDS_MAX = 64 };

/* Counters of one worker thread. Only actors running on that worker write
 * them (one writer: a plain add stored atomically), anyone may read them:
 * no shared cache line is touched per message. */
/* LOGIN_RES codes, in the order of chat_stats_t.logins. */
#define CHAT_LOGIN_CODES 6
extern const uint16_t chat_login_codes[CHAT_LOGIN_CODES]; /* 0, 31, 32, 33, 34, 35 */

/* Upper bounds (ms) of the login latency histogram; a last bucket is +Inf. */
#define CHAT_LOGIN_BUCKETS 10
extern const uint32_t chat_login_bucket_ms[CHAT_LOGIN_BUCKETS];

typedef struct chat_stats {
    /* _Alignas on the first member also rounds sizeof up to 64, so that the
     * per-worker array shares no cache line and suits aligned_alloc. */
    _Alignas(64) uint64_t chat_accepted; /* ROOM_CHAT_REQ answered 0 */
    uint64_t notifies_queued;            /* ROOM_CHAT_NOTIFY handed to a member's send path */
    uint64_t rooms_created;              /* gauge of rooms = created - freed, summed */
    uint64_t rooms_freed;
    uint64_t room_joins; /* gauge of members in rooms = joins - leaves, summed */
    uint64_t room_leaves;
    uint64_t logins[CHAT_LOGIN_CODES];         /* LOGIN_RES sent, by code */
    uint64_t login_ms[CHAT_LOGIN_BUCKETS + 1]; /* answered logins, by latency bucket */
    uint64_t login_ms_sum;
    uint64_t limit_hits[CHAT_LIMITS]; /* chat_limit_hit, by limit */
} chat_stats_t;
_Static_assert(sizeof(chat_stats_t) % 64 == 0, "chat_stats_t fills whole cache lines");

/* Everything a chat actor needs to reach the rest of the server. */
typedef struct chat_ctx {
    chat_config_t cfg;
    sched_t *sched;
    auth_t *auth;
    unsigned ndirs;
    actor_ref_t dirs[CHAT_DIR_SHARDS_MAX]; /* room directory shards */
    unsigned nlogins;
    actor_ref_t logins[CHAT_LOGIN_SHARDS_MAX]; /* login shards */
    uint64_t users_online;                     /* logged-in users, atomic (ck_pr) */
    uint64_t next_uid;                         /* user_uid source, atomic (ck_pr) */
    uint64_t unauth_conns;                     /* connections not logged in: chat_unauth_acquire */
    chat_warn_gate_t warn_gates[CHAT_LIMITS];  /* chat_limit_hit's log gates */
    chat_stats_t *stats;                       /* one per worker, cache-line aligned */
    /* An operator log line at warn level (the server's log; may be NULL). */
    void (*warn)(const char *line);
} chat_ctx_t;

/* A logged-in user as rooms see it: immutable after login, shared by the
 * session and every room it is in, freed with its last reference. */
typedef struct chat_user {
    uint32_t refs; /* atomic */
    int64_t uid;
    net_conn_t conn;
    actor_ref_t session;
    uint8_t id_len;
    char id[PROTO_ID_MAX_LEN + 1];
} chat_user_t;

chat_user_t *chat_user_new(int64_t uid, net_conn_t conn, actor_ref_t session, const char *id,
                           size_t id_len);
chat_user_t *chat_user_ref(chat_user_t *u);
void chat_user_unref(chat_user_t *u);

/* Message types (msg_t.type). One numbering for all chat actors so a stray
 * message is recognisable in a debugger. Each type's payload is the struct
 * named beside it, copied in and out of msg_t.p with CHAT_PUT / CHAT_GET. */
enum chat_msg_type {
    /* to a session */
    SESSION_MSG_DATA = 1,      /* net_buf_t* in p.ptr[0] (owned; see session_data_msg) */
    SESSION_MSG_CLOSED,        /* session_closed_t */
    SESSION_MSG_LOGIN_DONE,    /* session_login_done_t */
    SESSION_MSG_ENTER_DONE,    /* session_enter_done_t */
    SESSION_MSG_IDLE_CHECK,    /* timer message */
    SESSION_MSG_SHUTDOWN,      /* none: the server stops (ERROR_NTF 8, flush, close) */
    SESSION_MSG_LOGIN_BACKOFF, /* timer message: a held LOGIN_RES 33 is due */
    SESSION_MSG_EOF,           /* none: the client sent all it will (half-close) */
    SESSION_MSG_LEAVE_DONE,    /* none: the room sent ROOM_LEAVE_RES */
    /* to a directory shard */
    DIR_MSG_ENTER = 32, /* dir_enter_t */
    DIR_MSG_EMPTY,      /* dir_empty_t */
    /* to a room */
    ROOM_MSG_ENTER = 48, /* room_enter_t */
    ROOM_MSG_LEAVE,      /* room_leave_t */
    ROOM_MSG_CHAT,       /* room_chat_t */
    ROOM_MSG_EXIT,       /* none: the directory removed the room */
    /* to a login shard */
    LOGIN_MSG_REQUEST = 64, /* login_request_t */
    LOGIN_MSG_AUTH_DONE,    /* login_auth_done_t */
    LOGIN_MSG_TIMEOUT,      /* timer message: arg = request seq */
    LOGIN_MSG_LOGOUT,       /* login_logout_t */
};

typedef struct session_closed {
    net_close_reason_t reason;
} session_closed_t;

typedef struct session_login_done {
    uint16_t result; /* LOGIN_RES code */
    int64_t uid;     /* when result is 0 */
} session_login_done_t;

typedef struct session_enter_done {
    uint16_t result;  /* the ROOM_ENTER_RES the room already sent */
    actor_ref_t room; /* when result is 0 */
} session_enter_done_t;

typedef struct dir_enter {
    chat_user_t *user; /* a reference, passed on to the room */
    int32_t room;
} dir_enter_t;

typedef struct dir_empty {
    int32_t room;
    uint64_t enters_seen; /* ROOM_MSG_ENTER messages the room has handled */
    actor_ref_t from;
} dir_empty_t;

typedef struct room_enter {
    chat_user_t *user; /* a reference: the room keeps it while a member */
} room_enter_t;

typedef struct room_leave {
    chat_user_t *user; /* borrowed: the room holds its own reference */
    bool answer;       /* an explicit ROOM_LEAVE_REQ: send ROOM_LEAVE_RES 0 */
} room_leave_t;

typedef struct room_chat {
    net_buf_t *notify; /* an encoded ROOM_CHAT_NOTIFY (a reference) */
} room_chat_t;

typedef struct login_req login_req_t; /* login.h */

typedef struct login_request {
    login_req_t *req; /* owned by the login shard from now on */
} login_request_t;

typedef struct login_auth_done {
    uint64_t seq;
    int result; /* auth_result_t */
} login_auth_done_t;

typedef struct login_logout {
    uint8_t id_len;
    char id[PROTO_ID_MAX_LEN + 1];
} login_logout_t;

/* Payload in / out of a message, by value (memcpy: no aliasing games). */
#define CHAT_PUT(m, v)                                                                             \
    do {                                                                                           \
        _Static_assert(sizeof(v) <= MSG_PAYLOAD_SIZE, "payload too large");                        \
        memcpy((m)->p.bytes, &(v), sizeof(v));                                                     \
    } while (0)
#define CHAT_GET(m, v) memcpy(&(v), (m)->p.bytes, sizeof(v))

/* The calling worker's counters, or NULL on a thread that is not a worker
 * (never the case for an actor). */
chat_stats_t *chat_stats_mine(const chat_ctx_t *ctx);

/* Adds n to a counter of the calling worker (single writer: a plain add,
 * stored atomically so that chat_stats_sum may read it). */
#define CHAT_COUNT(ctx, field, n)                                                                  \
    do {                                                                                           \
        chat_stats_t *st_ = chat_stats_mine(ctx);                                                  \
        if (st_ != NULL)                                                                           \
            ck_pr_store_64(&st_->field, st_->field + (n));                                         \
    } while (0)

/* Counts a LOGIN_RES code (and, for a request that went to a login shard,
 * its latency; latency_ms < 0: answered at once by the session). */
void chat_count_login(const chat_ctx_t *ctx, uint16_t code, int64_t latency_ms);

/* Sums every worker's counters into *out. Any thread. */
void chat_stats_sum(const chat_ctx_t *ctx, unsigned nworkers, chat_stats_t *out);

/* Queues the first n bytes of b on conn (what an encoder wrote into it; 0:
 * the encoder refused and nothing is sent), then drops the caller's
 * reference. The one way the chat actors hand a freshly encoded packet to the
 * send path. Any thread. */
void chat_send_encoded(net_conn_t conn, net_buf_t *b, size_t n);

/* A new buffer holding ERROR_NTF(code, offending_id), or NULL when out of
 * memory. The caller owns the reference. */
net_buf_t *chat_error_ntf(uint16_t code, uint16_t offending_id);

/* Queues a *_RES packet (LOGIN_RES, ROOM_ENTER_RES, ROOM_LEAVE_RES,
 * ROOM_CHAT_RES: all a u16 result) on conn. Any thread. */
void chat_send_result(net_conn_t conn, uint16_t packet_id, uint16_t result);

/* Allocates a message of `type` carrying a copy of payload[0..len) and sends
 * it to `to`. Returns 0, -ESRCH (stale target: the message was released) or
 * -ENOMEM. Any thread. */
int chat_send(actor_ref_t to, uint32_t type, const void *payload, size_t len);

#endif
