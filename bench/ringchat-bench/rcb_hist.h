/* rcb_hist.h: a log-linear latency histogram in the style of HdrHistogram:
 * values below 256 are counted exactly, above that each power of two is cut
 * into 128 equal sub-buckets, so a reported value is within 1/128 (0.8 %) of
 * the true one, from 1 ns to about 18 minutes, in a fixed 36 KiB array.
 * Used by ringchat-bench (one histogram per loop thread, merged at the end)
 * and by its unit test. Never allocates; recording is O(1) with no branch
 * on the data beyond one comparison.
 * Invariant: total == the sum of counts[]; min <= max when total > 0. */
#ifndef RINGCHAT_BENCH_RCB_HIST_H
#define RINGCHAT_BENCH_RCB_HIST_H

#include <stdint.h>

#define RCB_HIST_SUB_BITS 7  /* 128 sub-buckets per power of two */
#define RCB_HIST_MAX_BITS 40 /* values up to 2^40 ns (~18 min) */
#define RCB_HIST_BUCKETS  ((RCB_HIST_MAX_BITS - RCB_HIST_SUB_BITS + 2) << RCB_HIST_SUB_BITS)

typedef struct rcb_hist {
    uint64_t counts[RCB_HIST_BUCKETS];
    uint64_t total;
    uint64_t min, max; /* exact */
    double sum;        /* for the mean */
} rcb_hist_t;

void rcb_hist_init(rcb_hist_t *h);
/* Counts one value; values past the range land in the last bucket (max stays exact). */
void rcb_hist_record(rcb_hist_t *h, uint64_t v);
/* Adds every count of src into dst. */
void rcb_hist_merge(rcb_hist_t *dst, const rcb_hist_t *src);
/* The value at quantile q (0..1): the highest value equivalent to the bucket
 * holding the ceil(q * total)-th smallest value, capped at max. 0 if empty. */
uint64_t rcb_hist_quantile(const rcb_hist_t *h, double q);
double rcb_hist_mean(const rcb_hist_t *h);

/* Bucket index of v, and the range [lo, hi] of values sharing that index. */
unsigned rcb_hist_index(uint64_t v);
uint64_t rcb_hist_bucket_lo(unsigned idx);
uint64_t rcb_hist_bucket_hi(unsigned idx);

#endif
