/* faults_storm.h: a login storm for the Redis fault test (test_faults.c):
 * one thread drives many client connections from one poll() loop; each
 * connection logs in (sometimes with a wrong password first), disconnects
 * and comes back, while the test's main thread breaks Redis. Every
 * LOGIN_REQ is timed and its LOGIN_RES counted by phase, kind and code.
 *
 * Who uses it: test_faults.c only. The storm thread never calls cr_assert
 * (Criterion asserts belong to the main thread): it only counts, and the
 * main thread asserts on the counts after storm_join. It never waits without
 * a deadline and never does more than 2 failed logins on one connection.
 *
 * Ids: a good login uses a fresh id from the pool "s0".."s{pool-1}" (never
 * reused within STORM_QUARANTINE_MS of its last close, so the asynchronous
 * release of a logout cannot turn it into 31); a wrong-password login uses
 * "w{slot}", which only that slot ever uses. The test writes all of them to
 * Redis with password "pw". */
#ifndef RINGCHAT_FAULTS_STORM_H
#define RINGCHAT_FAULTS_STORM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define STORM_PHASES        8
#define STORM_MAX_CONNS     128
#define STORM_QUARANTINE_MS 1500

/* Answer classes: 0, 33, 34, anything else. */
enum { SC_OK, SC_DENIED, SC_UNAVAIL, SC_OTHER, SC_CODES };

typedef struct storm_counts {
    uint64_t sent[STORM_PHASES][2];            /* [phase][good] LOGIN_REQ sent */
    uint64_t codes[STORM_PHASES][2][SC_CODES]; /* [phase sent][good][class] LOGIN_RES */
    uint64_t same[STORM_PHASES][2][SC_CODES];  /* the same, sent and answered in one phase */
    uint64_t arrived[STORM_PHASES][SC_CODES];  /* [phase answered][class] */
    long max_ms[SC_CODES];                     /* slowest answer per class */
    uint64_t hung;                             /* no LOGIN_RES within bound_ms */
    uint64_t cut;                              /* connection ended while a login was outstanding */
    uint64_t stray;                            /* a packet other than a well-formed LOGIN_RES */
    uint64_t connect_failed;                   /* tcp_connect refused */
    int other_code;                            /* the last code of class SC_OTHER */
} storm_counts_t;

typedef struct storm {
    /* Set before storm_start. */
    uint16_t port;
    int conns;     /* 1..STORM_MAX_CONNS */
    int pool;      /* good ids */
    long bound_ms; /* a LOGIN_RES later than this counts as hung */
    /* Shared with the main thread while running. */
    atomic_int phase;       /* stamped on each LOGIN_REQ when sent */
    atomic_bool stop;       /* no new logins; finish the outstanding ones */
    atomic_long last_ok_ms; /* fu_now_ms() of the latest LOGIN_RES 0 */
    /* Read only after storm_join. */
    storm_counts_t c;
    pthread_t thread;
    void *run; /* the thread's private state */
} storm_t;

/* Starts the storm thread. 0 or -errno. */
int storm_start(storm_t *st);

/* Sets stop and joins: outstanding logins are answered or counted hung. */
void storm_join(storm_t *st);

#endif
