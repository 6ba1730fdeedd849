/* rcb_main.c: ringchat-bench's controller: parses the options, raises the
 * open-files limit, builds and starts the loop threads, waits for every
 * connection to be set up, opens the measured window, samples the server's
 * CPU time and RSS, prints a progress line per second, drains in-flight
 * messages, stops the threads and prints the report.
 * Runs on the main thread; it never touches a loop thread's members or
 * connections, only their atomic counters, until the thread is joined.
 * Every wait is bounded: set-up by --setup-timeout, the run by warmup +
 * duration, the drain by --drain-timeout (and 2 s without progress).
 * Exit status: 0 = measured (errors, if any, are in the report), 1 = bad
 * options or resources, 2 = set-up failed (nothing measured). */
#include "rcb_report.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PORTS_PER_SOURCE 28000 /* about the ephemeral port range (32768..60999) */
#define QUIET_NS         2000000000ull

typedef struct ctl {
    rcb_opts_t o;
    rcb_shared_t sh;
    rcb_thread_t *threads;
    uint64_t t_setup0;
    uint64_t nconns; /* all threads' connections */
    uint64_t last_delivered, last_acked, last_tick;
} ctl_t;

static void sleep_until(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* Sum of one counter over all threads (see rcb_read). */
static uint64_t sum(ctl_t *c, size_t offset)
{
    uint64_t s = 0;
    for (unsigned i = 0; i < c->o.threads; i++)
        s += rcb_read((_Atomic uint64_t *)((char *)&c->threads[i].c + offset));
    return s;
}
#define SUM(c, field) sum((c), offsetof(rcb_counters_t, field))

static uint64_t sum_errors(ctl_t *c)
{
    uint64_t s = 0;
    for (int e = 0; e < RCB_ERR_COUNT; e++)
        s += sum(c, offsetof(rcb_counters_t, errors) + (size_t)e * sizeof(_Atomic uint64_t));
    return s;
}

static void set_phase(ctl_t *c, rcb_phase_t p)
{
    /* Pairs with the loops' acquire load of the phase: the shared times
     * written before this store are visible to a loop that sees RUN. */
    atomic_store_explicit(&c->sh.phase, p, memory_order_release);
    uint64_t one = 1;
    for (unsigned i = 0; i < c->o.threads; i++)
        (void)!write(c->threads[i].wake_fd, &one, sizeof(one));
}

static void progress(ctl_t *c, const char *what, uint64_t now)
{
    uint64_t d = SUM(c, delivered), a = SUM(c, acked);
    double dt = (double)(now - c->last_tick) / 1e9;
    if (!c->o.quiet && dt > 0)
        fprintf(stderr,
                "[%6.1fs] %-7s conns %llu/%llu  pub/s %.0f  del/s %.0f  in flight %lld  errors "
                "%llu\n",
                (double)(now - c->t_setup0) / 1e9, what, (unsigned long long)SUM(c, conns_ready),
                (unsigned long long)c->nconns, (double)(a - c->last_acked) / dt,
                (double)(d - c->last_delivered) / dt,
                (long long)(SUM(c, expected) - SUM(c, checked)), (unsigned long long)sum_errors(c));
    c->last_delivered = d;
    c->last_acked = a;
    c->last_tick = now;
}

/* Waits until every loop has posted setup_done (then true if no connection
 * failed), or the set-up timeout (false, counted as setup_timeout). */
static bool wait_setup(ctl_t *c, rcb_report_t *r)
{
    uint64_t deadline = c->t_setup0 + (uint64_t)(c->o.setup_timeout_s * 1e9);
    unsigned posted = 0;
    while (posted < c->o.threads) {
        uint64_t now = rcb_now_ns();
        if (now >= deadline) {
            r->errors[RCB_ERR_SETUP_TIMEOUT] = 1;
            return false;
        }
        uint64_t until = now + 1000000000ull < deadline ? now + 1000000000ull : deadline;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts); /* sem_timedwait takes CLOCK_REALTIME */
        uint64_t rt = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + (until - now);
        ts.tv_sec = (time_t)(rt / 1000000000u);
        ts.tv_nsec = (long)(rt % 1000000000u);
        if (sem_timedwait(&c->sh.setup_done, &ts) == 0)
            posted++;
        else
            progress(c, "setup", rcb_now_ns());
    }
    return SUM(c, conns_failed) == 0;
}

/* Runs warmup + window with a progress line per second; samples the server
 * and this process at the window's edges. */
static void run_window(ctl_t *c, rcb_report_t *r)
{
    rcb_shared_t *sh = &c->sh;
    int64_t cpu0 = -1, self0 = 0;
    uint64_t tick = sh->t_start + 1000000000ull;
    bool opened = false;
    for (;;) {
        uint64_t next = tick;
        if (!opened && sh->t_meas0 < next)
            next = sh->t_meas0;
        if (sh->t_meas1 < next)
            next = sh->t_meas1;
        sleep_until(next);
        uint64_t now = rcb_now_ns();
        if (!opened && now >= sh->t_meas0) {
            opened = true;
            cpu0 = rcb_proc_cpu_us(c->o.server_pid);
            self0 = rcb_self_cpu_us();
        }
        if (now >= sh->t_meas1)
            break;
        if (now >= tick) {
            progress(c, now < sh->t_meas0 ? "warmup" : "measure", now);
            tick += 1000000000ull;
        }
    }
    int64_t cpu1 = rcb_proc_cpu_us(c->o.server_pid);
    r->server_cpu_us = cpu0 >= 0 && cpu1 >= 0 ? cpu1 - cpu0 : -1;
    r->client_cpu_us = rcb_self_cpu_us() - self0;
}

/* true once every loop has stopped sending for good. Acquire: pairs with
 * the release store in rcb_run.c's stop_sending, so the `sent` counts read
 * after this are final. */
static bool sending_over(ctl_t *c)
{
    for (unsigned i = 0; i < c->o.threads; i++)
        if (atomic_load_explicit(&c->threads[i].c.sending_over, memory_order_acquire) == 0)
            return false;
    return true;
}

/* Churn events that have ended, one way or another. */
static uint64_t churn_ended(ctl_t *c)
{
    return SUM(c, churn_switched) + SUM(c, churn_reconnected) + SUM(c, churn_failed);
}

/* After the window: wait until every loop has stopped sending, every
 * request has its answer, every accepted message has reached every checked
 * member (all members without --churn) and every churn event has ended; or
 * no progress for 2 s, or the drain timeout. What is still missing is
 * reported as lost. */
static void drain(ctl_t *c)
{
    uint64_t t0 = rcb_now_ns(), deadline = t0 + (uint64_t)(c->o.drain_timeout_s * 1e9);
    uint64_t last = SUM(c, delivered) + SUM(c, acked) + churn_ended(c), last_change = t0;
    for (;;) {
        uint64_t now = rcb_now_ns();
        uint64_t d = SUM(c, delivered), ended = churn_ended(c);
        uint64_t progress = d + SUM(c, acked) + ended;
        bool over = sending_over(c);
        bool answered = over && SUM(c, acked) + SUM(c, rejected) >= SUM(c, sent);
        if (answered && SUM(c, checked) >= SUM(c, expected) && ended >= SUM(c, churn_started))
            return;
        if (progress != last) {
            last = progress;
            last_change = now;
        }
        if (now >= deadline || now - last_change >= QUIET_NS)
            return;
        sleep_until(now + 10000000ull); /* 10 ms */
    }
}

static int start_threads(ctl_t *c)
{
    c->threads = calloc(c->o.threads, sizeof(rcb_thread_t));
    if (c->threads == NULL)
        return -ENOMEM;
    for (unsigned i = 0; i < c->o.threads; i++) {
        rcb_thread_t *t = &c->threads[i];
        t->index = i;
        t->o = &c->o;
        t->sh = &c->sh;
        int err = rcb_thread_init(t);
        if (err != 0)
            return err;
        c->nconns += t->nconns;
    }
    for (unsigned i = 0; i < c->o.threads; i++)
        if (pthread_create(&c->threads[i].tid, NULL, rcb_loop_main, &c->threads[i]) != 0)
            return -EAGAIN; /* the caller exits: the started threads die with the process */
    return 0;
}

/* Checks the descriptor budget and picks the number of source addresses. */
static int plan(rcb_opts_t *o)
{
    uint64_t members = (uint64_t)o->rooms * o->members;
    uint64_t senders = (uint64_t)rcb_senders_per_room(o) * o->rooms;
    uint64_t conns = o->target == RCB_TARGET_REDIS ? members + senders : members;
    long nofile = rcb_raise_nofile();
    if (nofile > 0 && conns + 32 + 2ull * o->threads > (uint64_t)nofile) {
        fprintf(stderr,
                "ringchat-bench: %llu connections need more open files than this process may "
                "have (%ld)\n",
                (unsigned long long)conns, nofile);
        return -1;
    }
    if (o->source_addrs == 0)
        o->source_addrs = (uint32_t)((conns + PORTS_PER_SOURCE - 1) / PORTS_PER_SOURCE);
    if (o->source_addrs == 0)
        o->source_addrs = 1;
    return 0;
}

int main(int argc, char **argv)
{
    static ctl_t c;
    int rc = rcb_opts_parse(&c.o, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 1;
    signal(SIGPIPE, SIG_IGN);
    if (plan(&c.o) != 0)
        return 1;
    static rcb_report_t r;
    r.o = &c.o;
    rcb_kernel(r.kernel, sizeof(r.kernel));
    r.server_cpu_us = -1;
    r.server_rss_kb_before = rcb_proc_rss_kb(c.o.server_pid);
    sem_init(&c.sh.setup_done, 0, 0);
    atomic_init(&c.sh.phase, RCB_PHASE_SETUP); /* before any loop thread exists */
    c.t_setup0 = c.last_tick = rcb_now_ns();
    int err = start_threads(&c);
    if (err != 0) {
        fprintf(stderr, "ringchat-bench: cannot start: %s\n", strerror(-err));
        return 1;
    }
    r.setup_ok = wait_setup(&c, &r);
    r.setup_s = (double)(rcb_now_ns() - c.t_setup0) / 1e9;
    r.server_rss_kb_after = rcb_proc_rss_kb(c.o.server_pid);
    if (r.setup_ok) {
        uint64_t now = rcb_now_ns();
        c.sh.t_start = now + 10000000ull; /* 10 ms: every loop sees RUN first */
        c.sh.t_meas0 = c.sh.t_start + (uint64_t)(c.o.warmup_s * 1e9);
        c.sh.t_meas1 = c.sh.t_meas0 + (uint64_t)(c.o.duration_s * 1e9);
        set_phase(&c, RCB_PHASE_RUN);
        run_window(&c, &r);
        r.window_s = c.o.duration_s;
        drain(&c);
    }
    set_phase(&c, RCB_PHASE_STOP);
    for (unsigned i = 0; i < c.o.threads; i++)
        pthread_join(c.threads[i].tid, NULL);
    rcb_report_collect(&r, c.threads, c.o.threads);
    rcb_report_table(&r, c.o.json ? stderr : stdout);
    if (c.o.json)
        rcb_report_json(&r, stdout);
    for (unsigned i = 0; i < c.o.threads; i++)
        rcb_thread_free(&c.threads[i]);
    free(c.threads);
    return r.setup_ok ? 0 : 2;
}
