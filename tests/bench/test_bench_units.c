/* test_bench_units.c: unit tests of ringchat-bench's pure parts: the
 * log-linear latency histogram (bucket bounds, precision, quantiles, merge),
 * the in-place RESP parser (every split point of a reply is "incomplete",
 * never a wrong parse) and the payload stamp (round trip, rejection).
 * Pure code: no sockets, no threads, nothing waits. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "rcb.h"
#include "rcb_hist.h"
#include "rcb_resp.h"

TestSuite(bench_hist, .timeout = 30);
TestSuite(bench_resp, .timeout = 30);
TestSuite(bench_payload, .timeout = 30);

Test(bench_hist, every_value_lies_in_its_bucket_and_buckets_are_narrow)
{
    unsigned prev = 0;
    for (uint64_t v = 0; v < (1ull << 41); v = v < 4096 ? v + 1 : v + v / 97 + 1) {
        unsigned i = rcb_hist_index(v);
        cr_assert_lt(i, RCB_HIST_BUCKETS, "v=%llu", (unsigned long long)v);
        cr_assert_geq(i, prev, "index not monotonic at %llu", (unsigned long long)v);
        prev = i;
        uint64_t lo = rcb_hist_bucket_lo(i), hi = rcb_hist_bucket_hi(i);
        cr_assert(lo <= v && v <= hi, "v=%llu in [%llu,%llu]", (unsigned long long)v,
                  (unsigned long long)lo, (unsigned long long)hi);
        if (v < 256)
            cr_assert_eq(lo, hi, "values below 256 are exact");
        else
            cr_assert_leq((double)(hi - lo + 1) / (double)lo, 1.0 / 128 + 1e-12,
                          "bucket of %llu too wide", (unsigned long long)v);
    }
}

Test(bench_hist, buckets_tile_the_range_without_gaps)
{
    for (unsigned i = 1; i < RCB_HIST_BUCKETS; i++)
        cr_assert_eq(rcb_hist_bucket_lo(i), rcb_hist_bucket_hi(i - 1) + 1, "gap at %u", i);
}

Test(bench_hist, quantiles_of_a_known_distribution)
{
    static rcb_hist_t h;
    rcb_hist_init(&h);
    cr_assert_eq(rcb_hist_quantile(&h, 0.5), 0, "empty");
    for (uint64_t v = 1; v <= 100000; v++)
        rcb_hist_record(&h, v * 1000); /* 1 us .. 100 ms */
    cr_assert_eq(h.total, 100000);
    cr_assert_eq(h.min, 1000);
    cr_assert_eq(h.max, 100000000);
    const double qs[] = {0.5, 0.9, 0.99, 0.999};
    for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
        double want = qs[k] * 100000 * 1000;
        double got = (double)rcb_hist_quantile(&h, qs[k]);
        cr_assert(got >= want && got <= want * (1 + 1.0 / 128), "q=%g got %.0f want %.0f", qs[k],
                  got, want);
    }
    cr_assert_eq(rcb_hist_quantile(&h, 1.0), h.max, "q=1 is the exact max");
    cr_assert_float_eq(rcb_hist_mean(&h), 50000.5 * 1000, 1e-3);
}

Test(bench_hist, merge_adds_counts_min_max)
{
    static rcb_hist_t a, b;
    rcb_hist_init(&a);
    rcb_hist_init(&b);
    for (int i = 0; i < 10; i++)
        rcb_hist_record(&a, 500);
    rcb_hist_record(&b, 7);
    rcb_hist_record(&b, 1ull << 45); /* past the range: counted, max exact */
    rcb_hist_merge(&a, &b);
    cr_assert_eq(a.total, 12);
    cr_assert_eq(a.min, 7);
    cr_assert_eq(a.max, 1ull << 45);
    cr_assert_eq(rcb_hist_quantile(&a, 0.01), 7);
    cr_assert_leq(rcb_hist_quantile(&a, 0.5), 503);
    cr_assert_geq(rcb_hist_quantile(&a, 0.5), 500);
    cr_assert_eq(rcb_hist_quantile(&a, 1.0), 1ull << 45);
}

static const char push[] = "*3\r\n$7\r\nmessage\r\n$5\r\nroom7\r\n$11\r\nhello world\r\n";

Test(bench_resp, parses_a_pubsub_message)
{
    rcb_resp_t r;
    long n = rcb_resp_parse((const uint8_t *)push, strlen(push), &r);
    cr_assert_eq(n, (long)strlen(push));
    cr_assert_eq(r.type, '*');
    cr_assert_eq(r.n, 3);
    cr_assert(rcb_resp_is(&r.v[0], "message"));
    cr_assert(rcb_resp_is(&r.v[1], "room7"));
    cr_assert_eq(r.v[2].len, 11);
    cr_assert_eq(memcmp(r.v[2].p, "hello world", 11), 0);
}

Test(bench_resp, every_prefix_is_incomplete_never_wrong)
{
    rcb_resp_t r;
    for (size_t cut = 0; cut < strlen(push); cut++)
        cr_assert_eq(rcb_resp_parse((const uint8_t *)push, cut, &r), 0, "cut at %zu", cut);
    /* Two replies back to back: the first one is parsed alone. */
    char two[256];
    snprintf(two, sizeof(two), "%s:3\r\n", push);
    cr_assert_eq(rcb_resp_parse((const uint8_t *)two, strlen(two), &r), (long)strlen(push));
}

Test(bench_resp, scalars_subscribe_and_errors)
{
    rcb_resp_t r;
    const char *sub = "*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n";
    cr_assert_eq(rcb_resp_parse((const uint8_t *)sub, strlen(sub), &r), (long)strlen(sub));
    cr_assert(rcb_resp_is(&r.v[0], "subscribe"));
    cr_assert_eq(r.v[2].type, ':');
    cr_assert_eq(r.v[2].num, 1);
    cr_assert_eq(rcb_resp_parse((const uint8_t *)":42\r\n", 5, &r), 5);
    cr_assert_eq(r.type, ':');
    cr_assert_eq(r.v[0].num, 42);
    cr_assert_eq(rcb_resp_parse((const uint8_t *)"+PONG\r\n", 7, &r), 7);
    cr_assert(rcb_resp_is(&r.v[0], "PONG"));
    const char *err = "-ERR max number of clients reached\r\n";
    cr_assert_eq(rcb_resp_parse((const uint8_t *)err, strlen(err), &r), (long)strlen(err));
    cr_assert_eq(r.type, '-');
    cr_assert_eq(rcb_resp_parse((const uint8_t *)"$-1\r\n", 5, &r), 5);
    cr_assert_null(r.v[0].p, "nil bulk");
}

Test(bench_resp, malformed_input_is_refused)
{
    rcb_resp_t r;
    const char *bad[] = {
        "?x\r\n",                         /* unknown type */
        ":12a\r\n",                       /* bad integer */
        "$3\r\nabcd\r\n",                 /* bulk longer than announced */
        "*9\r\n",                         /* too many elements */
        "*1\r\n*1\r\n:1\r\n",             /* nested array */
        "$99999999\r\n",                  /* bulk too long */
        ":1234567890123456789012345\r\n", /* number too long */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(rcb_resp_parse((const uint8_t *)bad[i], strlen(bad[i]), &r), -1, "%s", bad[i]);
}

Test(bench_payload, round_trip_at_every_size)
{
    char buf[RCB_PAYLOAD_MAX + 1];
    for (uint32_t size = RCB_PAYLOAD_MIN; size <= RCB_PAYLOAD_MAX; size++) {
        memset(buf, 0, sizeof(buf));
        rcb_payload_encode(buf, size, 0x0123456789abcdefull, 0xfedcba98u);
        cr_assert_eq(strlen(buf), size, "exactly size bytes, no NUL inside");
        cr_assert(proto_utf8_valid((const uint8_t *)buf, size), "valid chat text");
        uint64_t t = 0;
        uint32_t s = 0;
        cr_assert(rcb_payload_decode((const uint8_t *)buf, size, &t, &s));
        cr_assert_eq(t, 0x0123456789abcdefull);
        cr_assert_eq(s, 0xfedcba98u);
    }
}

Test(bench_payload, malformed_stamps_are_refused)
{
    char buf[64];
    uint64_t t;
    uint32_t s;
    rcb_payload_encode(buf, 40, 12345, 7);
    cr_assert_not(rcb_payload_decode((const uint8_t *)buf, RCB_PAYLOAD_MIN - 1, &t, &s), "short");
    buf[16] = '-';
    cr_assert_not(rcb_payload_decode((const uint8_t *)buf, 40, &t, &s), "separator");
    rcb_payload_encode(buf, 40, 12345, 7);
    buf[3] = 'G';
    cr_assert_not(rcb_payload_decode((const uint8_t *)buf, 40, &t, &s), "not hex");
}
