/* hostile_clients.h: the misbehaving side of test_hostile. N threads, each
 * holding one connection at a time to a ringchat server and abusing it in a
 * randomly chosen way (random bytes, random packets, truncated packets, bad
 * lengths, connect+close, connect+RST, half-close, random logins followed by
 * random room traffic) until a deadline. Used only by test_hostile.c.
 * It must never assert (it runs off the Criterion thread) and never wait
 * unboundedly: it counts what it saw and the test asserts on the counts.
 * Replay: thread i draws from a PRNG seeded with (seed, i), so one seed
 * replays each thread's choices (not the interleaving of the threads). */
#ifndef RINGCHAT_HOSTILE_CLIENTS_H
#define RINGCHAT_HOSTILE_CLIENTS_H

#include <stdint.h>

enum hostile_kind {
    HK_RANDOM_BYTES,   /* chunks of random bytes, then close */
    HK_RANDOM_PACKETS, /* valid headers, random ids, types and bodies */
    HK_TRUNCATED,      /* a packet cut short, then close */
    HK_BAD_LENGTH,     /* a header announcing < 5 or > max_packet bytes */
    HK_CONNECT_CLOSE,  /* connect and close at once */
    HK_CONNECT_RST,    /* connect (maybe send a little), close with SO_LINGER 0 */
    HK_HALF_CLOSE,     /* a partial packet, then shutdown(SHUT_WR) */
    HK_LOGIN,          /* up to 3 logins with random ids, then random room traffic */
    HK_PIPELINED,      /* 8..64 KiB of back-to-back packets in one write */
    HK_COUNT
};

typedef struct hostile_stats {
    unsigned long runs[HK_COUNT]; /* connections made, per kind */
    unsigned long connect_failed;
    unsigned long bytes_sent;
    unsigned long framing_closed; /* bad length: ERROR_NTF 4, then the server closed */
    unsigned long framing_wrong;  /* bad length: anything else */
    unsigned long half_closed;    /* half-close: the server closed too */
    unsigned long half_open;      /* half-close: still open after the wait */
    unsigned long logins_ok;
    unsigned long logins_refused; /* any LOGIN_RES other than 0 */
    unsigned long entered_room;   /* ROOM_ENTER_RES 0 into the good clients' room */
    unsigned long chats;          /* ROOM_CHAT_REQ sent after a login */
} hostile_stats_t;

typedef struct hostile_config {
    uint16_t port;
    int threads; /* concurrent connections (at most 64) */
    uint64_t seed;
    int duration_ms; /* no new connection after this; the current one ends soon after */
    int32_t room;    /* the good clients' room: about half the hostile users enter it */
    int max_packet;  /* the server's --max-packet */
} hostile_config_t;

typedef struct hostile hostile_t;

/* Starts the threads. NULL (and no thread left running) on failure. */
hostile_t *hostile_start(const hostile_config_t *cfg);

/* Waits for every thread (each stops within a few seconds of the deadline),
 * sums their counts into *out and frees h. */
void hostile_join(hostile_t *h, hostile_stats_t *out);

/* "random-bytes", "random-packets", ... */
const char *hostile_kind_name(int kind);

#endif
