/* abuse.h: ringchat-abuse, the hostile client behind bench/abuse.sh. One
 * process, one thread, one epoll loop drives N connections that misbehave in
 * one way (a "mode") for a bounded time, then prints what the server did to
 * them as key=value counters. Shared by abuse_main.c (options, loop,
 * connection plumbing, counters) and abuse_modes.c (the six misbehaviours).
 * It measures nothing itself: abuse.sh samples the server's memory meanwhile.
 * Never run against a server you care about; never waits without a deadline. */
#ifndef RINGCHAT_ABUSE_H
#define RINGCHAT_ABUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

typedef struct ab_opts {
    const char *mode;
    uint16_t port;
    uint32_t conns;      /* connections the mode drives */
    uint32_t senders;    /* noread: chatting members besides the readers */
    double duration_s;   /* the abuse lasts this long, then every socket closes */
    double rate;         /* noread: chat messages/s per sender */
    uint32_t max_packet; /* the server's --max-packet */
    int32_t room;        /* noread, rate: the room; rooms: the first of the range */
    char prefix[16];     /* user ids PREFIX-MODE-K */
} ab_opts_t;

typedef enum ab_state {
    AB_IDLE,       /* no socket (closed, or waiting to reconnect) */
    AB_CONNECTING, /* non-blocking connect in progress */
    AB_OPEN,       /* connected; the mode's own sub-state is in step */
} ab_state_t;

typedef struct ab_conn {
    int fd;
    uint8_t state; /* ab_state_t */
    uint8_t kind;  /* mode-specific role */
    uint8_t step;  /* mode-specific progress */
    bool reading;  /* false: EPOLLIN off, only hang-ups are noticed */
    bool want_out; /* EPOLLOUT registered */
    uint32_t k;    /* index among the mode's connections */
    uint32_t unacked;
    uint64_t due_ns; /* mode timer: next action (0 = none) */
    uint64_t count;  /* mode-specific (rooms: rooms visited; park: bytes pushed) */
    proto_reasm_t ra;
} ab_conn_t;

/* Counters printed at the end as key=value, in this order, non-zero only. */
typedef enum ab_ctr {
    C_CONNECTED,
    C_CONNECT_FAILED,
    C_CLOSED_BY_SERVER, /* EOF or reset while we still wanted the connection */
    C_OPEN_AT_END,
    C_LOGIN_OK,
    C_LOGIN_REFUSED,
    C_ENTER_OK,
    C_ENTER_REFUSED,
    C_LEAVE_OK,
    C_CHAT_OK,
    C_CHAT_RATE_LIMITED,
    C_CHAT_OTHER,
    C_NOTIFIES,
    C_BYTES_PUSHED, /* park: bytes written behind the pending login */
    C_READERS_CUT,  /* noread: readers the server disconnected */
    C_ROUNDS,       /* park, hugelen: connections that went through the abuse */
    C_ERR_NTF_BASE, /* + code: ERROR_NTF by code (0..15) */
    C_COUNT = C_ERR_NTF_BASE + 16
} ab_ctr_t;

extern uint64_t ab_ctr[C_COUNT];
extern const ab_opts_t *ab_o;
extern uint64_t ab_now; /* CLOCK_MONOTONIC ns, refreshed per loop turn */

/* A misbehaviour. Every callback runs on the one loop thread. */
typedef struct ab_mode {
    const char *name;
    const char *help;
    /* Before the loop: set kinds and open the first connections. */
    void (*start)(ab_conn_t *conns, uint32_t n);
    /* The connection is established. */
    void (*connected)(ab_conn_t *c);
    /* One whole packet from the server (ERROR_NTF is counted already). */
    void (*packet)(ab_conn_t *c, const proto_packet_t *p);
    /* EPOLLOUT: the socket takes more bytes (park). May be NULL. */
    void (*writable)(ab_conn_t *c);
    /* The server closed it (already counted and the socket released). */
    void (*closed)(ab_conn_t *c);
    /* c->due_ns has passed. May be NULL. */
    void (*due)(ab_conn_t *c);
} ab_mode_t;

extern const ab_mode_t ab_modes[];
extern const unsigned ab_nmodes;

/* ---- plumbing (abuse_main.c) ---------------------------------------------- */

/* Opens a non-blocking connection for c (state IDLE). rcvbuf > 0 shrinks its
 * receive buffer first (a reader that does not read). */
void ab_open(ab_conn_t *c, int rcvbuf);
/* Closes c from our side (not counted as a server close). */
void ab_close(ab_conn_t *c);
/* Writes all n bytes or none that did not fit: returns the bytes written
 * (short only when the socket is full; EPOLLOUT is then armed). */
size_t ab_send(ab_conn_t *c, const void *p, size_t n);
/* Stops (or resumes) reading c: only hang-ups are reported while off. */
void ab_reading(ab_conn_t *c, bool on);
/* Sends LOGIN_REQ for PREFIX-MODE-K with the password. */
void ab_login(ab_conn_t *c, const char *password);
/* Sends one small request packet (enter room / leave / chat text). */
void ab_enter(ab_conn_t *c, int32_t room);
void ab_leave(ab_conn_t *c);
void ab_chat(ab_conn_t *c, const char *text);
/* A *_RES result, or -1 if malformed. */
int ab_result(const proto_packet_t *p);

#endif
