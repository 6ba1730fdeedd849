/* session_fuzz.h: what the pieces of the fuzz_session target share: the fake
 * connections (session_net.c), the fake auth backend (session_auth.c), the
 * client's requests (session_requests.c), the event log, and the replay
 * checker (session_check.c, session_rooms.c) that judges the log. Used
 * only by fuzz/fuzz_session.c and its helpers; never linked into the server.
 * Single-threaded by design: the whole target runs on one thread that is
 * also the only scheduler worker, so nothing here is atomic. Invariant:
 * every byte a chat actor hands to net_conn_send and every close it asks
 * for is in the log, in call order. */
#ifndef RINGCHAT_FUZZ_SESSION_H
#define RINGCHAT_FUZZ_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chat.h"

/* Client slots driven by the input, and connections (incarnations: a slot
 * that reconnects gets a new one) per input. */
#define FZ_SLOTS     4
#define FZ_MAX_CONNS 24

/* Aborts with a message, so that libFuzzer saves the input. */
_Noreturn void fz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define FZ_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond))                                                                               \
            fz_fail(__VA_ARGS__);                                                                  \
    } while (0)

/* A growable byte string. */
typedef struct fz_bytes {
    uint8_t *p;
    size_t len, cap;
} fz_bytes_t;
void fz_bytes_add(fz_bytes_t *b, const void *data, size_t len);

/* ---- fake connections (session_net.c) ------------------------------------ */

typedef enum fz_state {
    FZ_OPEN = 0, /* receiving and sending */
    FZ_CLOSING,  /* a close was asked for: sends fail, on_close not yet delivered */
    FZ_DEAD,     /* on_close delivered (SESSION_MSG_CLOSED sent): the handle is stale */
} fz_state_t;

typedef struct fz_conn {
    fz_state_t state;
    net_close_reason_t reason; /* why it is closing */
    bool close_queued;         /* on the list of closes to deliver */
    bool draining;             /* closing after the client reads what is queued */
    bool refused;              /* session_spawn said -EBUSY: no session */
    bool eof;                  /* the client half-closed: it sends nothing more */
    actor_ref_t session;
    uint64_t id;     /* the net_conn_t id handed to the session */
    size_t unread;   /* bytes queued and not yet read by the client */
    fz_bytes_t in;   /* every byte delivered to the session, in order */
    fz_bytes_t pend; /* bytes the client wrote and the server has not received */
} fz_conn_t;

typedef enum fz_ev_kind {
    FZ_EV_SEND = 1,   /* net_conn_send was called (whatever it returned) */
    FZ_EV_CLOSE,      /* net_conn_close was called by a chat actor */
    FZ_EV_PEER_CLOSE, /* the client closed its side */
    FZ_EV_DATA,       /* bytes were delivered to the session */
    FZ_EV_CLOSED,     /* the session handled SESSION_MSG_CLOSED */
    FZ_EV_TIMERS,     /* the harness fired every armed timer */
    FZ_EV_SHUTDOWN,   /* the harness told every session the server stops */
    FZ_EV_EOF,        /* the client half-closed (SESSION_MSG_EOF sent) */
} fz_ev_kind_t;

typedef struct fz_event {
    uint8_t kind;  /* fz_ev_kind_t */
    uint8_t conn;  /* index into fz_net.conns */
    int16_t rc;    /* SEND, CLOSE: what the call returned (0 or -errno) */
    uint32_t buf;  /* SEND: index into fz_net.bufs; CLOSE: flush_first */
    uint32_t upto; /* DATA: conn's delivered byte count after this delivery */
    uint32_t ms;   /* the virtual clock when it happened (ms since the start) */
} fz_event_t;

/* One distinct buffer that was sent: a reference is held until the end of
 * the input, so its address cannot be reused and identifies it. */
typedef struct fz_sent_buf {
    net_buf_t *b;
    uint8_t *copy; /* its bytes at the first send (immutability check) */
    size_t len;
} fz_sent_buf_t;

typedef struct fz_net {
    fz_conn_t conns[FZ_MAX_CONNS];
    unsigned nconns;
    uint32_t nonce;      /* per input: handles of another input are foreign */
    size_t outbox_limit; /* 0 = none */
    fz_event_t *ev;
    size_t nev, ev_cap;
    fz_sent_buf_t *bufs;
    size_t nbufs, bufs_cap;
    uint32_t *map; /* open addressing: buffer address -> index + 1 */
    size_t map_cap;
    uint8_t closes[FZ_MAX_CONNS]; /* closes to deliver to sessions, in order */
    unsigned nclose;
    int64_t live_bufs; /* net_buf_alloc minus last unrefs */
    uint32_t clock_ms; /* the virtual clock (ms since the start), for the log */
} fz_net_t;

extern fz_net_t fz_net;

void fz_net_reset(uint32_t nonce, size_t outbox_limit);
/* A new open connection; returns its index (the caller spawns the session). */
unsigned fz_net_open(void);
net_conn_t fz_net_handle(unsigned conn);
/* The client closes the connection (FZ_OPEN only), as a reset would. */
void fz_net_peer_close(unsigned conn);
/* The client half-closes: end of stream, it still reads (FZ_OPEN only). */
void fz_net_eof(unsigned conn);
/* The client reads everything queued (a draining close then completes). */
void fz_net_read(unsigned conn);
/* Delivers every pending client byte of conn to its session, in chunks of
 * `chunk` bytes (at most FZ_MAX_CHUNKS of them; SIZE_MAX: one chunk). */
#define FZ_MAX_CHUNKS 256
void fz_net_deliver(unsigned conn, size_t chunk);
/* Tells sessions about closed connections (as the server's on_close does):
 * SESSION_MSG_CLOSED goes behind whatever the session has not handled yet.
 * Returns how many were delivered. */
unsigned fz_net_deliver_closes(void);
/* Prints log event i on stderr (FUZZ_SESSION_TRACE=1). */
void fz_net_trace(size_t i);
/* Records a harness event that concerns no connection in particular. */
void fz_net_log(fz_ev_kind_t kind);
/* Drops the held buffer references and the log. */
void fz_net_release(void);

/* ---- fake auth backend (session_auth.c) ---------------------------------- */

/* Ids with special behaviour in the fake backend. */
#define FZ_ID_BUSY "busy" /* auth_check refuses: -EAGAIN */
#define FZ_ID_DOWN "down" /* completes with AUTH_UNAVAILABLE */

void fz_auth_reset(void);
/* The next auth_check answers inline (like AUTH_NONE) or waits for
 * fz_auth_complete (like the hash pool). */
void fz_auth_set_deferred(bool deferred);
/* Completes the pending request number i % pending (memory backend rules:
 * the first password seen for an id registers it). false if none pends. */
bool fz_auth_complete(unsigned i);
unsigned fz_auth_pending(void);
auth_t *fz_auth_handle(void);

/* ---- client requests (session_requests.c) ---------------------------------- */

/* Each appends one packet (or, for fz_put_bad's 0xcc / 0xcd, a flood over
 * SESSION_PARK_LIMIT_UNAUTH / SESSION_PARK_LIMIT) to out; b is the operand. */
void fz_put_login(fz_bytes_t *out, uint8_t b); /* id: bits 0-3, password: 4-5 */
void fz_put_login_as(fz_bytes_t *out, const char *id, const char *pw, size_t body_len);
int32_t fz_room_of(const chat_config_t *c, uint8_t b); /* 4 valid, 4 invalid */
void fz_put_enter(fz_bytes_t *out, int32_t room);
void fz_put_leave(fz_bytes_t *out);
void fz_put_chat(fz_bytes_t *out, uint8_t b);
void fz_put_bad(fz_bytes_t *out, uint8_t b, uint32_t max_packet);
void fz_put_echo(fz_bytes_t *out, uint8_t b);
void fz_put_ping(fz_bytes_t *out, uint8_t b, uint64_t n);

/* ---- the replay checker (session_check.c, session_rooms.c) -------------- */

typedef struct fz_check_cfg {
    size_t max_packet;
    int32_t room_first;
    uint32_t room_count;
    uint32_t room_capacity;
    uint32_t max_users;
    bool rate_limited;       /* chat_rate != 0: ROOM_CHAT_RES 63 is possible */
    bool timeouts;           /* idle or unauth timeout set: ERROR_NTF 7 is possible */
    uint32_t login_attempts; /* the Nth LOGIN_RES 33 is followed by ERROR_NTF 10 */
    bool trace;              /* print every event to stderr */
} fz_check_cfg_t;

void fz_check_reset(const fz_check_cfg_t *cfg);
/* Frees what the checker allocated for this input. */
void fz_check_release(void);
/* Judges every log event not yet judged. */
void fz_check_replay(void);
/* At a quiescent point with no auth pending: every request on a connection
 * nobody closed was answered, every accepted chat was broadcast; then what
 * the model says must match the server's counters. */
void fz_check_settled(const chat_ctx_t *ctx);

/* Model of one connection, as its client sees it (session_check.c). */
typedef struct fz_model fz_model_t;
/* The room model (session_rooms.c), fed by session_check.c. */
void fz_rooms_reset(uint32_t capacity);
void fz_rooms_release(void);
void fz_rooms_entered(unsigned conn, int32_t room);
/* ROOM_ENTER_RES 54: the room must hold capacity members. */
void fz_rooms_check_full(int32_t room);
void fz_rooms_left(unsigned conn);
/* Handles a room packet sent as one broadcast to recipients[0..n). */
void fz_rooms_broadcast(const uint8_t *pkt, size_t len, const unsigned *recipients, size_t n);
/* A ROOM_USER_LIST_NTF to conn (right after its ROOM_ENTER_RES 0). */
void fz_rooms_user_list(unsigned conn, const uint8_t *body, size_t len);
/* Any other event: ends an enter or leave sequence in progress. */
void fz_rooms_other_event(void);
/* Quiescent: every closed member has been removed by its room. */
void fz_rooms_settle(void);
/* How many model members are in rooms, and how many rooms are non-empty. */
void fz_rooms_count(uint64_t *members, uint64_t *rooms);
/* A chat accepted on conn (ROOM_CHAT_RES 0): its notify must follow. */
void fz_rooms_chat_accepted(unsigned conn, const uint8_t *text, size_t len);
bool fz_rooms_chats_pending(unsigned conn);

/* What session_check.c knows about a connection, for session_rooms.c. */
bool fz_model_told(unsigned conn);
const char *fz_model_id(unsigned conn);

#endif
