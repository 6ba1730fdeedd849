/* rcb_report.h: the results of one ringchat-bench run and how they are
 * printed: a progress line per second (stderr), a human table and one JSON
 * line. Filled by the controller (rcb_main.c) from the loop threads'
 * counters and histograms after they are joined; printed by rcb_report.c.
 * Never reads the loop threads' state itself. */
#ifndef RINGCHAT_BENCH_RCB_REPORT_H
#define RINGCHAT_BENCH_RCB_REPORT_H

#include <stdio.h>

#include "rcb.h"

typedef struct rcb_report {
    const rcb_opts_t *o;
    uint64_t members, conns, senders;
    bool setup_ok;
    double setup_s;        /* first connect -> every connection ready */
    rcb_hist_t setup_hist; /* per connection, ns */
    double window_s;       /* measured window */
    uint64_t sent, acked, rejected, expected, receivers, delivered, unsent;
    uint64_t win_acked, win_delivered, win_bytes;
    uint64_t checked; /* deliveries to members that never churn (all without --churn) */
    uint64_t churners, churn_started, churn_switched, churn_reconnected, churn_failed;
    uint64_t churn_retries, churn_skipped, churn_unsent;
    uint64_t errors[RCB_ERR_COUNT], errors_total;
    rcb_hist_t lat;               /* ns */
    int64_t server_cpu_us;        /* over the window; -1 if not sampled */
    int64_t server_rss_kb_before; /* before the first connect */
    int64_t server_rss_kb_after;  /* once every connection is ready */
    int64_t client_cpu_us;        /* this process, over the window */
    char kernel[64];
} rcb_report_t;

/* Sums the counters and merges the histograms of n joined loop threads. */
void rcb_report_collect(rcb_report_t *r, rcb_thread_t *threads, unsigned n);
/* The human-readable table. */
void rcb_report_table(const rcb_report_t *r, FILE *f);
/* One JSON object on one line. */
void rcb_report_json(const rcb_report_t *r, FILE *f);

#endif
