/* rcb_report.c: turns a finished run into numbers people read (a table) and
 * numbers scripts read (one JSON line). Called by the controller once, after
 * the loop threads are joined. Never prints a number it did not measure: a
 * value that was not sampled is printed as null (JSON) or "-" (table).
 * Rates: published/s = acks received inside the window / window seconds;
 * delivered/s = deliveries received inside the window / window seconds (one
 * delivery = one message received by one member). Latency: send (intended,
 * in open loop) to receipt, for messages due inside the window. Loss:
 * expected deliveries against those received by members that never churn
 * (rcb_run.c); the churn numbers appear only in a run with --churn. */
#include "rcb_report.h"

#include <string.h>

#ifndef RINGCHAT_COMMIT
#define RINGCHAT_COMMIT "unknown"
#endif

void rcb_report_collect(rcb_report_t *r, rcb_thread_t *threads, unsigned n)
{
    rcb_hist_init(&r->lat);
    rcb_hist_init(&r->setup_hist);
    for (unsigned i = 0; i < n; i++) {
        rcb_thread_t *t = &threads[i];
        rcb_counters_t *c = &t->c;
        r->members += t->nmembers;
        r->conns += t->nconns;
        r->senders += t->nsenders;
        r->churners += t->nchurners;
        r->sent += rcb_read(&c->sent);
        r->acked += rcb_read(&c->acked);
        r->rejected += rcb_read(&c->rejected);
        r->expected += rcb_read(&c->expected);
        r->receivers += rcb_read(&c->receivers);
        r->delivered += rcb_read(&c->delivered);
        r->unsent += rcb_read(&c->unsent);
        r->win_acked += rcb_read(&c->win_acked);
        r->win_delivered += rcb_read(&c->win_delivered);
        r->win_bytes += rcb_read(&c->win_bytes);
        r->checked += rcb_read(&c->checked);
        r->churn_started += rcb_read(&c->churn_started);
        r->churn_switched += rcb_read(&c->churn_switched);
        r->churn_reconnected += rcb_read(&c->churn_reconnected);
        r->churn_failed += rcb_read(&c->churn_failed);
        r->churn_retries += rcb_read(&c->churn_retries);
        r->churn_skipped += rcb_read(&c->churn_skipped);
        r->churn_unsent += rcb_read(&c->churn_unsent);
        for (int e = 0; e < RCB_ERR_COUNT; e++)
            r->errors[e] += rcb_read(&c->errors[e]);
        rcb_hist_merge(&r->lat, &t->lat);
        rcb_hist_merge(&r->setup_hist, &t->setup);
    }
    /* Without --churn every member is checked (checked == delivered). */
    if (r->expected > r->checked)
        r->errors[RCB_ERR_LOST] += r->expected - r->checked;
    if (r->sent > r->acked + r->rejected)
        r->errors[RCB_ERR_UNANSWERED] += r->sent - r->acked - r->rejected;
    for (int e = 0; e < RCB_ERR_COUNT; e++)
        r->errors_total += r->errors[e];
}

static double per_s(uint64_t v, double s)
{
    return s > 0 ? (double)v / s : 0;
}

static double us(uint64_t ns)
{
    return (double)ns / 1000.0;
}

/* "backend=X" / "threads=N" out of the server banner; def if absent. */
static void banner_field(const char *banner, const char *key, char *out, size_t cap,
                         const char *def)
{
    const char *p = strstr(banner, key);
    if (p == NULL) {
        snprintf(out, cap, "%s", def);
        return;
    }
    p += strlen(key);
    size_t n = strcspn(p, " \t\r\n\"\\");
    snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
}

static void print_table_latency(const rcb_report_t *r, FILE *f)
{
    const rcb_hist_t *h = &r->lat;
    if (h->total == 0) {
        fprintf(f, "latency          no samples\n");
        return;
    }
    fprintf(f,
            "latency (us)     p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (%llu samples)\n",
            us(rcb_hist_quantile(h, 0.5)), us(rcb_hist_quantile(h, 0.9)),
            us(rcb_hist_quantile(h, 0.99)), us(rcb_hist_quantile(h, 0.999)), us(h->max),
            (unsigned long long)h->total);
}

static void print_table_churn(const rcb_report_t *r, FILE *f)
{
    fprintf(f,
            "churn            %.0f/s over %llu churners: started %llu  switched rooms %llu  "
            "reconnected %llu (login retries %llu)  failed %llu  skipped %llu  unsent %llu\n",
            r->o->churn_rate, (unsigned long long)r->churners, (unsigned long long)r->churn_started,
            (unsigned long long)r->churn_switched, (unsigned long long)r->churn_reconnected,
            (unsigned long long)r->churn_retries, (unsigned long long)r->churn_failed,
            (unsigned long long)r->churn_skipped, (unsigned long long)r->churn_unsent);
    fprintf(f, "checked          delivered to members that never churn %llu / expected %llu\n",
            (unsigned long long)r->checked, (unsigned long long)r->expected);
}

void rcb_report_table(const rcb_report_t *r, FILE *f)
{
    const rcb_opts_t *o = r->o;
    fprintf(f, "\nringchat-bench  target=%s  %u rooms x %u members  senders=%llu  size=%u  %s",
            o->target == RCB_TARGET_REDIS ? "redis" : "ringchat", o->rooms, o->members,
            (unsigned long long)r->senders, o->size, o->rate > 0 ? "open loop" : "closed loop");
    if (o->rate > 0)
        fprintf(f, " %.0f msgs/s\n", o->rate);
    else
        fprintf(f, " inflight %u\n", o->inflight);
    fprintf(f, "connections      %llu  set-up %.2f s  (per connection p50 %.0f us, p99 %.0f us)\n",
            (unsigned long long)r->conns, r->setup_s, us(rcb_hist_quantile(&r->setup_hist, 0.5)),
            us(rcb_hist_quantile(&r->setup_hist, 0.99)));
    if (!r->setup_ok)
        fprintf(f, "SET-UP FAILED: no chat was measured\n");
    fprintf(f, "window           %.2f s\n", r->window_s);
    fprintf(f, "published/s      %.0f\n", per_s(r->win_acked, r->window_s));
    fprintf(f, "delivered/s      %.0f  (%.1f MB/s)\n", per_s(r->win_delivered, r->window_s),
            per_s(r->win_bytes, r->window_s) / 1e6);
    print_table_latency(r, f);
    fprintf(f, "totals           sent %llu  acked %llu  rejected %llu  delivered %llu",
            (unsigned long long)r->sent, (unsigned long long)r->acked,
            (unsigned long long)r->rejected, (unsigned long long)r->delivered);
    if (o->churn_rate <= 0) /* with churn: the "checked" line */
        fprintf(f, " / expected %llu", (unsigned long long)r->expected);
    if (o->target == RCB_TARGET_REDIS)
        fprintf(f, "  redis receivers %llu", (unsigned long long)r->receivers);
    if (o->rate > 0)
        fprintf(f, "  unsent backlog %llu", (unsigned long long)r->unsent);
    fprintf(f, "\n");
    if (o->churn_rate > 0)
        print_table_churn(r, f);
    if (r->server_cpu_us >= 0 && r->window_s > 0)
        fprintf(f, "server CPU       %.1f %% of one core, %.3f us per delivery\n",
                100.0 * (double)r->server_cpu_us / (r->window_s * 1e6),
                r->win_delivered ? (double)r->server_cpu_us / (double)r->win_delivered : 0);
    if (r->server_rss_kb_after >= 0 && r->server_rss_kb_before >= 0 && r->conns > 0)
        fprintf(f, "server RSS       %lld KiB -> %lld KiB  (%.0f bytes per connection)\n",
                (long long)r->server_rss_kb_before, (long long)r->server_rss_kb_after,
                1024.0 * (double)(r->server_rss_kb_after - r->server_rss_kb_before) /
                    (double)r->conns);
    if (r->window_s > 0)
        fprintf(f, "client CPU       %.1f %% of one core\n",
                100.0 * (double)r->client_cpu_us / (r->window_s * 1e6));
    fprintf(f, "errors           %llu", (unsigned long long)r->errors_total);
    for (int e = 0; e < RCB_ERR_COUNT; e++)
        if (r->errors[e])
            fprintf(f, "  %s=%llu", rcb_err_name((rcb_err_t)e), (unsigned long long)r->errors[e]);
    fprintf(f, "\n");
}

/* A number, or null when it was not measured. */
static void json_num(FILE *f, const char *key, bool have, double v)
{
    if (have)
        fprintf(f, ",\"%s\":%.3f", key, v);
    else
        fprintf(f, ",\"%s\":null", key);
}

static void json_latency(const rcb_report_t *r, FILE *f)
{
    const rcb_hist_t *h = &r->lat;
    bool have = h->total > 0;
    fprintf(f, ",\"latency_samples\":%llu", (unsigned long long)h->total);
    json_num(f, "lat_p50_us", have, us(rcb_hist_quantile(h, 0.5)));
    json_num(f, "lat_p90_us", have, us(rcb_hist_quantile(h, 0.9)));
    json_num(f, "lat_p99_us", have, us(rcb_hist_quantile(h, 0.99)));
    json_num(f, "lat_p999_us", have, us(rcb_hist_quantile(h, 0.999)));
    json_num(f, "lat_max_us", have, us(h->max));
    json_num(f, "lat_mean_us", have, rcb_hist_mean(h) / 1000.0);
}

static void json_server(const rcb_report_t *r, FILE *f)
{
    const rcb_opts_t *o = r->o;
    bool cpu = r->server_cpu_us >= 0 && r->window_s > 0, rss = r->server_rss_kb_after >= 0;
    fprintf(f, ",\"server_pid\":%d", o->server_pid);
    json_num(f, "server_cpu_us", cpu, (double)r->server_cpu_us);
    json_num(f, "server_cpu_util", cpu, (double)r->server_cpu_us / (r->window_s * 1e6));
    json_num(f, "server_cpu_us_per_delivery", cpu && r->win_delivered,
             (double)r->server_cpu_us / (double)(r->win_delivered ? r->win_delivered : 1));
    json_num(f, "server_rss_kb_before", r->server_rss_kb_before >= 0,
             (double)r->server_rss_kb_before);
    json_num(f, "server_rss_kb_after", rss, (double)r->server_rss_kb_after);
    json_num(f, "server_rss_bytes_per_conn", rss && r->server_rss_kb_before >= 0 && r->conns,
             1024.0 * (double)(r->server_rss_kb_after - r->server_rss_kb_before) /
                 (double)(r->conns ? r->conns : 1));
    char backend[32], threads[16];
    bool redis = o->target == RCB_TARGET_REDIS;
    banner_field(o->server_banner, "backend=", backend, sizeof(backend), redis ? "redis" : "");
    banner_field(o->server_banner, "threads=", threads, sizeof(threads), redis ? "1" : "");
    fprintf(f, ",\"server_backend\":\"%s\",\"server_threads\":%s", backend,
            threads[0] ? threads : "null");
}

static void json_churn(const rcb_report_t *r, FILE *f)
{
    fprintf(f,
            ",\"churn_rate\":%.3f,\"churners\":%llu,\"churn_started\":%llu"
            ",\"churn_switches\":%llu,\"churn_reconnects\":%llu,\"churn_login_retries\":%llu"
            ",\"churn_failed\":%llu,\"churn_skipped\":%llu,\"churn_unsent\":%llu"
            ",\"checked_deliveries\":%llu",
            r->o->churn_rate, (unsigned long long)r->churners, (unsigned long long)r->churn_started,
            (unsigned long long)r->churn_switched, (unsigned long long)r->churn_reconnected,
            (unsigned long long)r->churn_retries, (unsigned long long)r->churn_failed,
            (unsigned long long)r->churn_skipped, (unsigned long long)r->churn_unsent,
            (unsigned long long)r->checked);
}

void rcb_report_json(const rcb_report_t *r, FILE *f)
{
    const rcb_opts_t *o = r->o;
    fprintf(f, "{\"bench\":\"ringchat-bench\",\"label\":\"%s\",\"target\":\"%s\"", o->label,
            o->target == RCB_TARGET_REDIS ? "redis" : "ringchat");
    fprintf(f, ",\"rooms\":%u,\"members\":%u,\"clients\":%llu,\"connections\":%llu", o->rooms,
            o->members, (unsigned long long)r->members, (unsigned long long)r->conns);
    fprintf(f, ",\"senders\":%llu,\"size\":%u,\"mode\":\"%s\",\"rate\":%.0f,\"inflight\":%u",
            (unsigned long long)r->senders, o->size, o->rate > 0 ? "open" : "closed", o->rate,
            o->inflight);
    fprintf(f, ",\"warmup_s\":%.3f,\"window_s\":%.3f,\"setup_ok\":%s,\"setup_s\":%.3f", o->warmup_s,
            r->window_s, r->setup_ok ? "true" : "false", r->setup_s);
    json_num(f, "setup_conn_p50_us", r->setup_hist.total > 0,
             us(rcb_hist_quantile(&r->setup_hist, 0.5)));
    json_num(f, "setup_conn_p99_us", r->setup_hist.total > 0,
             us(rcb_hist_quantile(&r->setup_hist, 0.99)));
    fprintf(f, ",\"published_per_s\":%.1f,\"delivered_per_s\":%.1f,\"delivered_bytes_per_s\":%.1f",
            per_s(r->win_acked, r->window_s), per_s(r->win_delivered, r->window_s),
            per_s(r->win_bytes, r->window_s));
    json_latency(r, f);
    fprintf(f,
            ",\"total_sent\":%llu,\"total_published\":%llu,\"total_rejected\":%llu"
            ",\"total_delivered\":%llu,\"expected_deliveries\":%llu,\"redis_receivers\":%llu"
            ",\"unsent_backlog\":%llu",
            (unsigned long long)r->sent, (unsigned long long)r->acked,
            (unsigned long long)r->rejected, (unsigned long long)r->delivered,
            (unsigned long long)r->expected, (unsigned long long)r->receivers,
            (unsigned long long)r->unsent);
    if (o->churn_rate > 0)
        json_churn(r, f);
    fprintf(f, ",\"errors_total\":%llu,\"errors\":{", (unsigned long long)r->errors_total);
    for (int e = 0, first = 1; e < RCB_ERR_COUNT; e++) {
        if (r->errors[e] == 0)
            continue;
        fprintf(f, "%s\"%s\":%llu", first ? "" : ",", rcb_err_name((rcb_err_t)e),
                (unsigned long long)r->errors[e]);
        first = 0;
    }
    fprintf(f, "}");
    json_server(r, f);
    json_num(f, "client_cpu_util", r->window_s > 0,
             (double)r->client_cpu_us / (r->window_s > 0 ? r->window_s * 1e6 : 1));
    fprintf(f, ",\"threads\":%u,\"backend\":\"epoll\",\"kernel\":\"%s\",\"commit\":\"%s\"}\n",
            o->threads, r->kernel, RINGCHAT_COMMIT);
}
