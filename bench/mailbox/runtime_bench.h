/* runtime_bench.h: mailbox_bench's scenarios that go through the whole actor runtime
 * (scheduler, run queues, built-in thread pool), not just one queue.
 * Called only by mailbox_bench.c. Never asserts: it measures and returns numbers. */
#ifndef RINGCHAT_BENCH_RUNTIME_BENCH_H
#define RINGCHAT_BENCH_RUNTIME_BENCH_H

#include <stdint.h>

/* Round trips per second: `pairs` pairs of actors forwarding one message each back and forth
 * for `ms` milliseconds on `workers` workers. */
double rtb_pingpong(unsigned workers, int pairs, unsigned ms);

typedef struct rtb_fanin {
    double msgs_per_s;     /* delivered messages per second of wall time */
    double cpu_ns_per_msg; /* process CPU time (all threads) per delivered message */
    uint64_t runs;         /* actor runs (sched_stats) */
    uint64_t stalls;       /* runs that found nothing to pop (sched_stats) */
} rtb_fanin_t;

/* `producers` threads each send `per_producer` messages to one actor on a 2-worker pool.
 * Between two sends a producer does `work` iterations of a busy loop (0 = flood): with
 * work, the actor catches up with its senders and goes idle often, which is where a mailbox
 * with a push gap made the runtime re-run the actor while a send was half-done. */
rtb_fanin_t rtb_fanin(int producers, long per_producer, unsigned work);

#endif /* RINGCHAT_BENCH_RUNTIME_BENCH_H */
