/* drain_bench.h: mailbox_bench's consumer-cost scenario (drain_bench.c): ns per message to pop
 * a mailbox that another core has just filled with n messages, for the runtime's mailbox and
 * the previous Vyukov mailbox. Called only by mailbox_bench.c. Never asserts. */
#ifndef RINGCHAT_BENCH_DRAIN_BENCH_H
#define RINGCHAT_BENCH_DRAIN_BENCH_H

/* For each sizes[i], best-of-25 ns per message into mbox_ns[i] and vyukov_ns[i]. */
void drain_bench(const int *sizes, int nsizes, double *mbox_ns, double *vyukov_ns);

#endif /* RINGCHAT_BENCH_DRAIN_BENCH_H */
