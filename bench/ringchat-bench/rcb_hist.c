/* rcb_hist.c: the log-linear histogram of rcb_hist.h. Called by the loop
 * threads (record, each on its own histogram) and by the reporter after the
 * threads are joined (merge, quantile). Never allocates, never locks.
 * Layout: index i < 256 holds the value i. For v >= 256 with highest set bit
 * b (b >= 8), shift = b - 7 and sub = v >> shift (128..255); the index is
 * shift * 128 + sub, so consecutive powers of two follow each other with no
 * gap, and every bucket spans 2^shift values. */
#include "rcb_hist.h"

#include <math.h>
#include <string.h>

#define SUB_COUNT (1u << RCB_HIST_SUB_BITS) /* 128 */

void rcb_hist_init(rcb_hist_t *h)
{
    memset(h, 0, sizeof(*h));
}

unsigned rcb_hist_index(uint64_t v)
{
    if (v < 2 * SUB_COUNT)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    if (msb > RCB_HIST_MAX_BITS)
        return RCB_HIST_BUCKETS - 1;
    unsigned shift = msb - RCB_HIST_SUB_BITS;
    return shift * SUB_COUNT + (unsigned)(v >> shift);
}

uint64_t rcb_hist_bucket_lo(unsigned idx)
{
    if (idx < 2 * SUB_COUNT)
        return idx;
    unsigned shift = idx / SUB_COUNT - 1;
    uint64_t sub = idx - shift * SUB_COUNT;
    return sub << shift;
}

uint64_t rcb_hist_bucket_hi(unsigned idx)
{
    if (idx < 2 * SUB_COUNT)
        return idx;
    unsigned shift = idx / SUB_COUNT - 1;
    return rcb_hist_bucket_lo(idx) + ((uint64_t)1 << shift) - 1;
}

void rcb_hist_record(rcb_hist_t *h, uint64_t v)
{
    h->counts[rcb_hist_index(v)]++;
    if (h->total == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->total++;
    h->sum += (double)v;
}

void rcb_hist_merge(rcb_hist_t *dst, const rcb_hist_t *src)
{
    if (src->total == 0)
        return;
    for (unsigned i = 0; i < RCB_HIST_BUCKETS; i++)
        dst->counts[i] += src->counts[i];
    if (dst->total == 0 || src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    dst->total += src->total;
    dst->sum += src->sum;
}

uint64_t rcb_hist_quantile(const rcb_hist_t *h, double q)
{
    if (h->total == 0)
        return 0;
    if (q < 0)
        q = 0;
    if (q > 1)
        q = 1;
    /* The ceil(q * total)-th smallest value; the epsilon absorbs the rounding
     * of q * total (0.99 * 100 must be rank 99, not 100). */
    uint64_t rank = (uint64_t)ceil(q * (double)h->total - 1e-9);
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned i = 0; i < RCB_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            if (i == RCB_HIST_BUCKETS - 1)
                return h->max; /* the last bucket also holds every value past the range */
            uint64_t hi = rcb_hist_bucket_hi(i);
            return hi < h->max ? hi : h->max;
        }
    }
    return h->max;
}

double rcb_hist_mean(const rcb_hist_t *h)
{
    return h->total ? h->sum / (double)h->total : 0.0;
}
