/* test_bench_count.c: honest counting. Runs the real ringchat-bench on small
 * workloads against the real ringchat binary and a throwaway redis-server,
 * and checks its counts against what each server says it did:
 *   ringchat: the shutdown line "stats: chat_accepted=N notifies_queued=M"
 *             must equal the bench's published and delivered totals;
 *   redis:    the sum of the PUBLISH replies (subscribers reached, Redis's
 *             own count) must equal the deliveries the bench received, and
 *             INFO commandstats' PUBLISH calls its published total.
 * Also: a server killed mid-run makes the bench end by itself and report
 * errors instead of hanging. Every wait is bounded; no assertion is about
 * speed (the machine is shared and noisy). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "redis_proc.h"
#include "server_proc.h"

TestSuite(bench_count, .timeout = 90);

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

typedef struct bench_run {
    pid_t pid;
    int out_fd;
    char err_path[64];
} bench_run_t;

/* Starts ringchat-bench with args (stdout piped, stderr to a temp file). */
static void bench_spawn(bench_run_t *b, const char *const *args)
{
    const char *argv[64] = {RINGCHAT_BENCH_BIN};
    int n = 1;
    for (; args[n - 1] != NULL && n < 63; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    strcpy(b->err_path, "/tmp/rcb-test-err-XXXXXX");
    int efd = mkstemp(b->err_path);
    cr_assert_geq(efd, 0);
    b->pid = fork();
    cr_assert_geq(b->pid, 0);
    if (b->pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        dup2(efd, STDERR_FILENO);
        execv(RINGCHAT_BENCH_BIN, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    close(efd);
    b->out_fd = p[0];
}

/* Reads the bench's stdout until EOF (at most timeout_ms) and reaps it.
 * Returns its exit status (-1 if it had to be killed). */
static int bench_finish(bench_run_t *b, char *out, size_t cap, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    size_t n = 0;
    for (;;) {
        long long left = deadline - now_ms();
        struct pollfd pfd = {.fd = b->out_fd, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            break;
        ssize_t r = read(b->out_fd, out + n, cap - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n + 1 >= cap)
            break;
    }
    out[n] = '\0';
    close(b->out_fd);
    int st = -1;
    for (int i = 0; i < 100 && waitpid(b->pid, &st, WNOHANG) == 0; i++)
        usleep(20000);
    if (waitpid(b->pid, &st, WNOHANG) == 0 && kill(b->pid, 0) == 0) {
        kill(b->pid, SIGKILL);
        waitpid(b->pid, NULL, 0);
        st = -1;
    }
    return st;
}

static void bench_stderr(const bench_run_t *b, char *buf, size_t cap)
{
    FILE *f = fopen(b->err_path, "r");
    size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    unlink(b->err_path);
}

/* Runs the bench to completion (60 s cap); returns its JSON line in out. */
static void bench_run(const char *const *args, char *out, size_t cap)
{
    bench_run_t b;
    bench_spawn(&b, args);
    int st = bench_finish(&b, out, cap, 60000);
    char err[4096];
    bench_stderr(&b, err, sizeof(err));
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "bench status %d\nstdout: %s\nstderr: %s", st,
              out, err);
}

/* The unsigned number after "key": in a JSON line; fails the test if absent. */
static unsigned long long jnum(const char *json, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = strstr(json, pat);
    cr_assert_not_null(p, "no %s in %s", key, json);
    return strtoull(p + strlen(pat), NULL, 10);
}

/* Starts ringchat for benchmarking: no auth, no chat rate limit. */
static void start_ringchat(server_proc_t *s)
{
    int rc = server_start(s, ARGV("--auth", "none", "--chat-rate", "0", "--threads", "2"));
    cr_assert_eq(rc, 0, "ringchat did not start");
}

/* Stops ringchat with SIGTERM and reads its shutdown statistics line. */
static void stop_ringchat(server_proc_t *s, unsigned long long *accepted,
                          unsigned long long *queued)
{
    int st = server_stop(s, SIGTERM, 10000);
    static char log[1 << 16];
    server_read_log(s, log, sizeof(log));
    unlink(s->log_path);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "server status %d: %s", st, log);
    const char *p = strstr(log, "stats: chat_accepted=");
    cr_assert_not_null(p, "no stats line in the server log: %s", log);
    cr_assert_eq(sscanf(p, "stats: chat_accepted=%llu notifies_queued=%llu", accepted, queued), 2,
                 "%s", p);
}

/* Counts of one ringchat run must match the server's, and be self-consistent. */
static void check_ringchat(const char *json, unsigned long long accepted, unsigned long long queued,
                           unsigned members)
{
    unsigned long long pub = jnum(json, "total_published"), del = jnum(json, "total_delivered");
    cr_assert_gt(pub, 0, "nothing published: %s", json);
    cr_assert_eq(pub, accepted, "bench published %llu, server accepted %llu", pub, accepted);
    cr_assert_eq(del, queued, "bench received %llu notifies, server queued %llu", del, queued);
    cr_assert_eq(del, pub * members, "every member got every message");
    cr_assert_eq(jnum(json, "expected_deliveries"), del);
    cr_assert_eq(jnum(json, "errors_total"), 0, "%s", json);
    cr_assert_gt(jnum(json, "latency_samples"), 0, "%s", json);
    cr_assert_not_null(strstr(json, "\"setup_ok\":true"));
}

Test(bench_count, ringchat_closed_loop_matches_server_stats)
{
    server_proc_t s;
    start_ringchat(&s);
    char port[16], out[8192];
    snprintf(port, sizeof(port), "%u", s.port);
    bench_run(ARGV("--port", port, "--rooms", "10", "--members", "5", "--inflight", "2", "--warmup",
                   "0.5", "--duration", "2", "--json", "--quiet"),
              out, sizeof(out));
    unsigned long long accepted, queued;
    stop_ringchat(&s, &accepted, &queued);
    check_ringchat(out, accepted, queued, 5);
    cr_assert_eq(jnum(out, "senders"), 50);
}

Test(bench_count, ringchat_open_loop_some_senders_matches_server_stats)
{
    server_proc_t s;
    start_ringchat(&s);
    char port[16], out[8192];
    snprintf(port, sizeof(port), "%u", s.port);
    bench_run(ARGV("--port", port, "--rooms", "4", "--members", "10", "--senders", "0.3", "--rate",
                   "400", "--size", "200", "--threads", "2", "--warmup", "0.5", "--duration", "2",
                   "--json", "--quiet"),
              out, sizeof(out));
    unsigned long long accepted, queued;
    stop_ringchat(&s, &accepted, &queued);
    check_ringchat(out, accepted, queued, 10);
    cr_assert_eq(jnum(out, "senders"), 12, "3 of 10 per room, 4 rooms");
    /* Paced at 400/s for 2.5 s: about 1000 messages; the schedule is exact
     * in count (not in time), so only gross errors can fail this. */
    unsigned long long pub = jnum(out, "total_published");
    cr_assert(pub >= 900 && pub <= 1010, "published %llu", pub);
}

Test(bench_count, redis_deliveries_match_publish_replies)
{
    redis_proc_t r;
    cr_assert_eq(redis_proc_start(&r), 0, "redis-server did not start");
    char port[16], out[8192], info[8192];
    snprintf(port, sizeof(port), "%u", r.port);
    bench_run(ARGV("--target", "redis", "--port", port, "--rooms", "10", "--members", "5",
                   "--senders", "0.6", "--inflight", "2", "--warmup", "0.5", "--duration", "2",
                   "--json", "--quiet"),
              out, sizeof(out));
    int t = redis_proc_cmd(&r, 5000, info, sizeof(info), NULL, "INFO", "commandstats", NULL);
    redis_proc_cleanup(&r);
    cr_assert_eq(t, '$', "INFO failed");
    unsigned long long pub = jnum(out, "total_published"), del = jnum(out, "total_delivered");
    unsigned long long receivers = jnum(out, "redis_receivers");
    cr_assert_gt(pub, 0, "%s", out);
    cr_assert_eq(del, receivers, "bench received %llu, PUBLISH replies sum to %llu", del,
                 receivers);
    cr_assert_eq(del, pub * 5, "every subscriber got every message");
    cr_assert_eq(jnum(out, "connections"), 50 + 30, "50 subscribers + 30 publishers");
    const char *p = strstr(info, "cmdstat_publish:calls=");
    cr_assert_not_null(p, "%s", info);
    cr_assert_eq(strtoull(p + strlen("cmdstat_publish:calls="), NULL, 10), pub,
                 "redis counted other PUBLISH calls than the bench");
    cr_assert_eq(jnum(out, "errors_total"), 0, "%s", out);
}

Test(bench_count, killed_server_ends_the_run_with_errors)
{
    server_proc_t s;
    start_ringchat(&s);
    char port[16], out[8192], err[4096];
    snprintf(port, sizeof(port), "%u", s.port);
    bench_run_t b;
    bench_spawn(&b, ARGV("--port", port, "--rooms", "5", "--members", "4", "--warmup", "0",
                         "--duration", "3", "--drain-timeout", "3", "--json", "--quiet"));
    usleep(1500 * 1000); /* set-up takes milliseconds; chat is running */
    kill(s.pid, SIGKILL);
    server_wait(&s, 5000);
    unlink(s.log_path);
    int st = bench_finish(&b, out, sizeof(out), 30000);
    bench_stderr(&b, err, sizeof(err));
    cr_assert(WIFEXITED(st), "bench did not end by itself: %d\n%s", st, err);
    if (WEXITSTATUS(st) == 2)
        cr_skip("the server died before the bench finished set-up (very slow machine)");
    cr_assert_eq(WEXITSTATUS(st), 0, "%s", err);
    cr_assert_gt(jnum(out, "errors_total"), 0, "a dead server is an error: %s", out);
    cr_assert_not_null(strstr(out, "\"disconnect\":"), "%s", out);
}
