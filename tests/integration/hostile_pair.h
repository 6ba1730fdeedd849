/* hostile_pair.h: the well-behaved side of test_hostile: two logged-in users
 * in one room, each in its own thread, sending numbered chats at a steady
 * pace and reading everything the server sends them. Each checks that it
 * gets its own ROOM_CHAT_RES 0 before each of its own notifies, and every
 * message of both members exactly once and in order (by the sequence number
 * in the text); it records the latency of each of the other's messages (send
 * time, carried in the text, to receipt). Used only by test_hostile.c.
 * The threads never assert: the first violation is kept as text in error[]
 * and the test asserts on it after pair_stop. Every wait is bounded. */
#ifndef RINGCHAT_HOSTILE_PAIR_H
#define RINGCHAT_HOSTILE_PAIR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

/* Most chats one member sends: about 110 s at one every 7 ms. */
#define PAIR_MAX_MSGS 16384

struct pair;

typedef struct pair_member {
    struct pair *pair;
    int index; /* 0 or 1; the peer is 1 - index */
    int fd;
    char id[16]; /* "good0", "good1" */
    pthread_t thread;
    /* Written by the member's thread; read by the test after pair_stop. */
    int sent;                     /* chats sent */
    int results_ok;               /* ROOM_CHAT_RES 0 received */
    int own_seen;                 /* own notifies received, in order */
    int peer_seen;                /* the peer's notifies received, in order */
    unsigned long others;         /* notifies from anyone else (the hostile users) */
    double lat_ms[PAIR_MAX_MSGS]; /* latency of each of the peer's messages */
    int nlat;
    char error[256]; /* the first violation; "" if none */
} pair_member_t;

typedef struct pair {
    pair_member_t m[2];
    int period_us;
    int max_msgs;             /* per member; also the capacity of lat_ms */
    atomic_int stop;          /* set by pair_stop: no more sending */
    atomic_int final_sent[2]; /* -1 until member i stopped sending, then its total */
} pair_t;

/* Connects and logs in good0 and good1, enters both into room, and starts
 * their threads: a chat every period_us, at most max_msgs each. 0, or -1
 * with the reason in p->m[0].error (nothing left running). p is large
 * (the latency arrays): give it static storage. */
int pair_start(pair_t *p, uint16_t port, int32_t room, int period_us, int max_msgs);

/* Stops sending, waits until each member has everything it is owed (at most
 * about 20 s), joins the threads. The sockets stay open: pair_close. */
void pair_stop(pair_t *p);

/* Closes both sockets. */
void pair_close(pair_t *p);

/* Percentiles of both members' latencies together (ms); n = sample count. */
void pair_latency(const pair_t *p, double *p50, double *p99, double *max, int *n);

#endif
