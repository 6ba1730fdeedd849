/* rcb.h: ringchat-bench's shared types: options, members, connections, the
 * per-thread event loop state, the counters the controller reads, and the
 * interface every target (ringchat, redis) implements.
 * Included by every rcb_*.c file of bench/ringchat-bench; nothing else.
 * Never put code that allocates per message behind these interfaces: the hot
 * path (read, decode, record, re-send) works on preallocated buffers only.
 * Invariant: a member and its connections belong to exactly one loop thread,
 * which is the only thread that touches them; the controller thread reads only
 * the atomic counters (rcb_counters_t) while the loops run. */
#ifndef RINGCHAT_BENCH_RCB_H
#define RINGCHAT_BENCH_RCB_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "rcb_hist.h"

/* ---- options -------------------------------------------------------------- */

typedef enum rcb_target_kind { RCB_TARGET_RINGCHAT, RCB_TARGET_REDIS } rcb_target_kind_t;

typedef struct rcb_opts {
    rcb_target_kind_t target;
    char host[64]; /* IPv4 address of the server */
    uint16_t port;
    uint32_t rooms, members, room_first;
    double senders; /* fraction 0..1 of the members of each room that send */
    uint32_t size;  /* payload bytes per chat message (RCB_PAYLOAD_MIN..257) */
    double warmup_s, duration_s, setup_timeout_s, drain_timeout_s;
    double rate;                  /* open loop: messages/s over all senders; 0 = closed loop */
    uint32_t inflight;            /* closed loop: messages in flight per sender */
    uint32_t threads;             /* loop threads */
    uint32_t connect_concurrency; /* connections in set-up at once, all threads */
    uint32_t source_addrs;        /* 127.0.0.1.. source addresses; 0 = automatic */
    char id_prefix[20];           /* ringchat user ids: PREFIX-INDEX */
    char password[33];
    char channel_prefix[48]; /* redis channels: PREFIXROOM */
    double churn_rate;       /* churn events per second over all threads; 0 = no churn */
    double churners;         /* fraction 0..1 of the members of each room that churn */
    double churn_reconnect;  /* fraction 0..1 of churn events that reconnect */
    int server_pid;          /* 0 = no server sampling */
    char server_banner[256]; /* echoed (backend=, threads=) into the JSON line */
    char label[64];
    bool json, quiet;
} rcb_opts_t;

/* Parses argv into o. 0 = run, 1 = --help printed (exit 0), -1 = error printed. */
int rcb_opts_parse(rcb_opts_t *o, int argc, char **argv);
/* round(senders * members), at least 1 when the fraction is above 0: the
 * first that many members of each room send. */
uint32_t rcb_senders_per_room(const rcb_opts_t *o);
/* 0 without --churn; else round(churners * members), at least 1, at most
 * members: the LAST that many members of each room churn. */
uint32_t rcb_churners_per_room(const rcb_opts_t *o);

/* ---- payload: the text of one chat message ------------------------------ */

/* "TTTTTTTTTTTTTTTT:SSSSSSSS:" (intended send time in ns, sender index, hex)
 * followed by filler up to the payload size. */
#define RCB_PAYLOAD_MIN 26
#define RCB_PAYLOAD_MAX PROTO_MSG_FIELD

/* Writes exactly size bytes (no NUL) at out. */
void rcb_payload_encode(char *out, uint32_t size, uint64_t intended_ns, uint32_t sender);
/* true and the two fields, if text starts with a well-formed stamp. */
bool rcb_payload_decode(const uint8_t *text, size_t len, uint64_t *intended_ns, uint32_t *sender);

/* ---- errors, by kind ---------------------------------------------------- */

typedef enum rcb_err {
    RCB_ERR_CONNECT,       /* connect() failed or timed out */
    RCB_ERR_LOGIN,         /* LOGIN_RES != 0 */
    RCB_ERR_ENTER,         /* ROOM_ENTER_RES != 0 */
    RCB_ERR_LEAVE,         /* churn: ROOM_LEAVE_RES != 0 */
    RCB_ERR_SUBSCRIBE,     /* redis: SUBSCRIBE / PING not confirmed */
    RCB_ERR_CHAT_REJECTED, /* ROOM_CHAT_RES != 0 other than rate limit */
    RCB_ERR_RATE_LIMITED,  /* ROOM_CHAT_RES 63 */
    RCB_ERR_ERROR_NTF,     /* ERROR_NTF received (slow consumer, idle, shutdown...) */
    RCB_ERR_PROTOCOL,      /* undecodable bytes from the server */
    RCB_ERR_DISCONNECT,    /* the server closed or reset a connection */
    RCB_ERR_IO,            /* read/write failed */
    RCB_ERR_REDIS,         /* redis error reply */
    RCB_ERR_SETUP_TIMEOUT, /* connections not ready within --setup-timeout */
    RCB_ERR_LOST,          /* deliveries expected but not received by the end of drain */
    RCB_ERR_UNANSWERED,    /* chat requests without an ack or refusal by the end of drain */
    RCB_ERR_COUNT
} rcb_err_t;

/* "connect", "login", ... (JSON keys). */
const char *rcb_err_name(rcb_err_t e);

/* ---- counters ------------------------------------------------------------- */

/* Written by one loop thread only (rcb_count), read by the controller while
 * the loop runs (rcb_read) and by anyone after pthread_join. */
typedef struct rcb_counters {
    _Atomic uint64_t sent;          /* chat requests written, all phases */
    _Atomic uint64_t acked;         /* accepted by the server, all phases */
    _Atomic uint64_t rejected;      /* refused by the server (never delivered) */
    _Atomic uint64_t expected;      /* checked deliveries the acked messages owe */
    _Atomic uint64_t receivers;     /* redis: sum of PUBLISH replies */
    _Atomic uint64_t delivered;     /* notifies/messages received, all phases */
    _Atomic uint64_t checked;       /* of those, received by members that never churn */
    _Atomic uint64_t win_acked;     /* acks received inside the measured window */
    _Atomic uint64_t win_delivered; /* deliveries received inside the window */
    _Atomic uint64_t win_bytes;     /* their wire bytes */
    _Atomic uint64_t unsent;        /* open loop: due but never written (backlog at the end) */
    _Atomic uint64_t sending_over;  /* 1 once this loop has stopped sending for good */
    _Atomic uint64_t conns_ready;   /* connections fully set up */
    _Atomic uint64_t conns_failed;  /* connections that failed set-up */
    /* Churn (rcb_churn.c): events begun, and how each one ended. */
    _Atomic uint64_t churn_started;
    _Atomic uint64_t churn_switched;    /* left the room and entered the next one */
    _Atomic uint64_t churn_reconnected; /* disconnected, reconnected, logged in, entered */
    _Atomic uint64_t churn_failed;      /* ended by an error (counted in errors[] too) */
    _Atomic uint64_t churn_retries;     /* reconnect logins refused 31 (old session still
                                           on the server), retried on a new connection */
    _Atomic uint64_t churn_skipped;     /* due while the chosen member was still busy */
    _Atomic uint64_t churn_unsent;      /* open loop: sends due while their sender churned */
    _Atomic uint64_t errors[RCB_ERR_COUNT];
} rcb_counters_t;

/* Owner-thread increment. Single writer, so load + store is enough (no RMW);
 * relaxed: it pairs with nothing but the controller's relaxed rcb_read,
 * which only needs an untorn value; no other memory is published through it. */
static inline void rcb_count(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* Controller-side read of a counter written by rcb_count (relaxed: a
 * statistic, possibly a few events stale, never torn). */
static inline uint64_t rcb_read(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* ---- members and connections -------------------------------------------- */

typedef enum rcb_role { RCB_ROLE_CHAT, RCB_ROLE_SUB, RCB_ROLE_PUB } rcb_role_t;

typedef enum rcb_state {
    RCB_ST_NEW,        /* not started */
    RCB_ST_CONNECTING, /* non-blocking connect in progress */
    RCB_ST_HANDSHAKE,  /* login/enter or subscribe/ping in progress */
    RCB_ST_READY,
    RCB_ST_DEAD,
} rcb_state_t;

struct rcb_conn;

/* Where a churning member is (rcb_churn.c). */
typedef enum rcb_churn_st {
    RCB_CHURN_NONE,      /* not churning */
    RCB_CHURN_QUIESCE,   /* stopped sending; waits for its messages in flight */
    RCB_CHURN_ACT,       /* quiet: queued for the loop to leave or disconnect */
    RCB_CHURN_LEAVE,     /* ROOM_LEAVE_REQ sent */
    RCB_CHURN_ENTER,     /* ROOM_ENTER_REQ for the next room sent */
    RCB_CHURN_RECONNECT, /* a new connection is in set-up (connect, login, enter) */
    RCB_CHURN_RETRY,     /* login refused 31: waits to reconnect */
} rcb_churn_st_t;

typedef struct rcb_member {
    uint32_t idx;     /* global member index; the sender id in payloads */
    uint32_t room;    /* room number on the wire (a churner moves) */
    uint32_t checked; /* checked deliveries per accepted message: the members
                         of a room that never churn */
    bool sender;
    bool churner;         /* one of the last rcb_churners_per_room of its room */
    bool churn_reconnect; /* the current churn event reconnects (else switches) */
    uint8_t churn;        /* rcb_churn_st_t */
    uint16_t churn_tries; /* connections opened by the current reconnect */
    uint32_t sender_pos;  /* open loop: position among this thread's senders */
    uint32_t inflight;    /* closed loop: written, own copy not yet received */
    uint32_t owed;        /* due (open loop) or allowed (closed loop) but not yet written */
    uint64_t seq;         /* messages written by this sender */
    struct rcb_conn *rx;  /* receives the room's messages */
    struct rcb_conn *tx;  /* sends chat (ringchat: == rx; redis: the PUBLISH connection) */
} rcb_member_t;

typedef struct rcb_conn {
    int fd;
    uint8_t role;  /* rcb_role_t */
    uint8_t state; /* rcb_state_t */
    uint8_t step;  /* target-specific handshake step */
    bool want_out; /* EPOLLOUT is registered */
    bool dirty;    /* on the thread's flush list */
    uint32_t src;  /* source address index: 127.0.0.(1 + src) */
    rcb_member_t *m;
    uint8_t *out; /* pending output [0, out_len) */
    uint32_t out_len, out_cap;
    uint64_t t_connect;  /* when connect() started (set-up time) */
    uint32_t unacked;    /* chat requests written, reply not yet read */
    proto_reasm_t reasm; /* ringchat */
    uint8_t *carry;      /* redis: an incomplete reply, RCB_CARRY_MAX bytes */
    uint32_t carry_len;
} rcb_conn_t;

#define RCB_CARRY_MAX 1024
#define RCB_RBUF_SIZE (64 * 1024)

/* ---- run phases (controller -> loops) ----------------------------------- */

typedef enum rcb_phase { RCB_PHASE_SETUP, RCB_PHASE_RUN, RCB_PHASE_STOP } rcb_phase_t;

typedef struct rcb_shared {
    /* Written by the controller before it stores phase = RUN (release); the
     * loops read them only after loading phase == RUN (acquire). */
    uint64_t t_start; /* first send */
    uint64_t t_meas0; /* measured window [t_meas0, t_meas1) */
    uint64_t t_meas1; /* sending stops */
    _Atomic int phase;
    sem_t setup_done; /* one post per loop thread when its set-up is over */
} rcb_shared_t;

/* ---- the loop thread ---------------------------------------------------- */

typedef struct rcb_thread {
    unsigned index;
    pthread_t tid;
    int ep;      /* epoll instance */
    int wake_fd; /* eventfd: the controller wakes the loop on a phase change */
    const rcb_opts_t *o;
    rcb_shared_t *sh;
    const struct rcb_target *tg;
    rcb_member_t *members; /* this thread's members */
    uint32_t nmembers;
    rcb_conn_t *conns; /* this thread's connections, in set-up order */
    uint32_t nconns;
    uint32_t next_setup, in_setup, setup_cap, setup_over;
    bool setup_posted;
    rcb_member_t **senders; /* this thread's senders, in sender_pos order */
    uint32_t nsenders;
    rcb_member_t **churners; /* this thread's churners */
    uint32_t nchurners;
    double churn_period_ns;    /* time between two churn events of this thread */
    uint64_t churn_k;          /* next churn event of this thread */
    struct rcb_churn_q *churn; /* the act and retry queues (rcb_churn.c) */
    double period_ns;          /* open loop: time between two sends of this thread */
    uint64_t sched_k;          /* open loop: next due send of this thread */
    bool running, started_sending, stopped_sending;
    /* Copies of the shared times, taken after the acquire load of phase RUN;
     * UINT64_MAX before (nothing counts as inside the window). */
    uint64_t t_start, t_meas0, t_meas1;
    uint64_t now;       /* CLOCK_MONOTONIC ns, refreshed per event batch */
    uint8_t *rbuf;      /* RCB_CARRY_MAX + RCB_RBUF_SIZE bytes */
    rcb_conn_t **dirty; /* connections with output to flush after this batch */
    uint32_t ndirty;
    uint8_t *slab;    /* every connection's output and carry buffers */
    rcb_hist_t lat;   /* delivery latency, ns, messages intended inside the window */
    rcb_hist_t setup; /* connect -> ready, ns, per connection */
    rcb_counters_t c;
} rcb_thread_t;

/* What differs between ringchat and redis. Every function runs on the
 * connection's loop thread. */
typedef struct rcb_target {
    const char *name;
    /* The connection is established: queue the first handshake bytes. */
    void (*on_connected)(rcb_thread_t *t, rcb_conn_t *c);
    /* n bytes of input at data: the saved carry (c->carry, already copied in
     * front and c->carry_len reset to 0) followed by what was just read. A
     * target that parses only whole frames saves the incomplete tail back
     * into c->carry. Returns 0, or -1 if the connection must be closed: the
     * target either called rcb_conn_fail with the precise kind, or the loop
     * closes it as a protocol error (rcb_conn_fail is idempotent). */
    int (*on_data)(rcb_thread_t *t, rcb_conn_t *c, uint8_t *data, size_t n);
    /* Appends one chat message to c->out; false if it does not fit. */
    bool (*encode_chat)(rcb_thread_t *t, rcb_conn_t *c, const char *text, uint32_t len);
    /* Output buffer size for a connection of this role. */
    uint32_t (*out_cap)(const rcb_opts_t *o, rcb_role_t role);
} rcb_target_t;

extern const rcb_target_t rcb_target_ringchat;
extern const rcb_target_t rcb_target_redis;

/* ---- loop services used by the targets (rcb_loop.c) --------------------- */

/* Appends bytes to c->out (false if they do not fit). */
bool rcb_out_append(rcb_conn_t *c, const void *p, size_t n);
/* The connection finished its handshake. */
void rcb_conn_ready(rcb_thread_t *t, rcb_conn_t *c);
/* Closes c and counts err, once (later calls are no-ops); during set-up it
 * also ends that connection's set-up as failed. */
void rcb_conn_fail(rcb_thread_t *t, rcb_conn_t *c, rcb_err_t err);
/* The server accepted one message sent by member m (expected deliveries). */
void rcb_on_ack(rcb_thread_t *t, rcb_member_t *m);
/* The server refused one message of m: it will not come back. */
void rcb_on_reject(rcb_thread_t *t, rcb_member_t *m, rcb_err_t err);
/* One delivery of a message with this text to member m (wire bytes). */
void rcb_on_delivery(rcb_thread_t *t, rcb_member_t *m, const uint8_t *text, size_t len,
                     size_t wire_bytes);

/* Puts c on the thread's flush list (written once per event batch). */
void rcb_mark_dirty(rcb_thread_t *t, rcb_conn_t *c);

/* ---- sending and counting (rcb_run.c), called by the loop ----------------- */

/* Phase RUN seen (the shared times are valid from now on). */
void rcb_run_start(rcb_thread_t *t);
/* Queues the sends that are due at t->now (open loop) and stops sending at
 * the end of the window. Returns the time the loop must wake up next. */
uint64_t rcb_run_pace(rcb_thread_t *t);
/* Writes member m's owed messages into its connection while they fit. */
void rcb_sender_fill(rcb_thread_t *t, rcb_member_t *m);

/* The loop thread's entry point (arg: rcb_thread_t *). */
void *rcb_loop_main(void *arg);
/* Prepares t (epoll, eventfd, buffers, connections). 0 or -errno. */
int rcb_thread_init(rcb_thread_t *t);
void rcb_thread_free(rcb_thread_t *t);

/* ---- churn (rcb_churn.c), ringchat only --------------------------------- */

/* The churners' queues; 0 or -ENOMEM. Called by rcb_thread_init. */
int rcb_churn_init(rcb_thread_t *t);
void rcb_churn_free(rcb_thread_t *t);
/* Starts the churn events due by now (inside [t_start, t_meas1)), acts for
 * the members that became quiet and reconnects those whose retry is due.
 * Returns the time the loop must wake up next for churn (UINT64_MAX: never). */
uint64_t rcb_churn_pace(rcb_thread_t *t);
/* m's messages in flight went down: a quiescing member may act now. */
void rcb_churn_check(rcb_thread_t *t, rcb_member_t *m);
/* ROOM_LEAVE_RES / ROOM_ENTER_RES (result r) of a member switching rooms. */
void rcb_churn_on_leave_res(rcb_thread_t *t, rcb_conn_t *c, int r);
void rcb_churn_on_enter_res(rcb_thread_t *t, rcb_conn_t *c, int r);
/* LOGIN_RES r on a reconnection; true if churn handled it (31: retry). */
bool rcb_churn_on_login_refused(rcb_thread_t *t, rcb_conn_t *c, int r);
/* The reconnection is logged in and in its room again. */
void rcb_churn_reconnected(rcb_thread_t *t, rcb_conn_t *c);
/* c failed (already counted and closed) while its member was churning. */
void rcb_churn_failed(rcb_thread_t *t, rcb_member_t *m);

/* Connection plumbing for the churn (rcb_loop.c). */
/* Starts a non-blocking connect of c (state NEW) to the server. */
void rcb_conn_connect(rcb_thread_t *t, rcb_conn_t *c);
/* Closes c without counting an error; it becomes NEW, ready to reconnect. */
void rcb_conn_close(rcb_thread_t *t, rcb_conn_t *c);

/* ---- system helpers (rcb_sys.c) ----------------------------------------- */

uint64_t rcb_now_ns(void);
/* Raises RLIMIT_NOFILE's soft limit to its hard limit; returns the new soft
 * limit, or -errno. */
long rcb_raise_nofile(void);
/* utime + stime of pid in microseconds, or -1. */
int64_t rcb_proc_cpu_us(int pid);
/* VmRSS of pid in KiB, or -1. */
int64_t rcb_proc_rss_kb(int pid);
/* This process's user + system CPU time, microseconds. */
int64_t rcb_self_cpu_us(void);
/* uname -r into buf. */
void rcb_kernel(char *buf, size_t cap);

#endif
