/* test_bench_churn.c: ringchat-bench --churn against the real ringchat.
 * Members leave and enter rooms and disconnect and reconnect while the
 * others chat; the bench's counts are checked against what the server says:
 *   - its published total equals the server's chat_accepted (a churning
 *     sender waits for every answer before it goes, so nothing is unanswered);
 *   - deliveries to the members that never churn equal exactly the accepted
 *     messages times their number per room (nothing lost), and the server
 *     queued at least every delivery the bench received;
 *   - the server's LOGIN_RES counters equal the bench's logins: one per
 *     member at set-up plus one per reconnect (code 0), one per retried
 *     login (code 31), and no member is left in a room at the end;
 *   - open loop: sends due while their sender churned are counted, not lost;
 *   - --churn is refused where it cannot work.
 * Used by ctest (label integration, release build). Every wait is bounded;
 * no assertion is about speed. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server_proc.h"
#include "wire.h"

TestSuite(bench_churn, .timeout = 90);

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Runs ringchat-bench with args to completion (timeout_ms cap, then
 * SIGKILL). Its stdout goes to out, its stderr to err. Returns the status
 * from waitpid, or -1 if it had to be killed. */
static int bench(const char *const *args, char *out, size_t cap, char *err, size_t errcap,
                 int timeout_ms)
{
    const char *argv[64] = {RINGCHAT_BENCH_BIN};
    int n = 1;
    for (; args[n - 1] != NULL && n < 63; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    int p[2];
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
    char path[] = "/tmp/rcb-churn-err-XXXXXX";
    int efd = mkstemp(path);
    cr_assert_geq(efd, 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        dup2(efd, STDERR_FILENO);
        execv(RINGCHAT_BENCH_BIN, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    long long deadline = now_ms() + timeout_ms;
    size_t len = 0;
    for (;;) {
        long long left = deadline - now_ms();
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
            break;
        ssize_t r = read(p[0], out + len, cap - 1 - len);
        if (r <= 0 || (len += (size_t)r) + 1 >= cap)
            break;
    }
    out[len] = '\0';
    close(p[0]);
    int st = -1;
    for (int i = 0; i < 250 && waitpid(pid, &st, WNOHANG) == 0; i++)
        usleep(20000);
    if (waitpid(pid, &st, WNOHANG) == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        st = -1;
    }
    ssize_t e = pread(efd, err, errcap - 1, 0);
    err[e > 0 ? e : 0] = '\0';
    close(efd);
    unlink(path);
    return st;
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

/* A port that was free a moment ago (the kernel picks it). */
static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* The value of the sample "name" (labels included) from /metrics, or -1. */
static long long metric(uint16_t mport, const char *name)
{
    static char body[1 << 17];
    int fd = tcp_connect(mport);
    cr_assert_geq(fd, 0, "metrics port %u", mport);
    const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
    cr_assert_eq(wire_send(fd, req, sizeof(req) - 1), 0);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < sizeof(body) && (r = read(fd, body + len, sizeof(body) - 1 - len)) > 0)
        len += (size_t)r;
    body[len] = '\0';
    close(fd);
    char key[160];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = strstr(body, key);
    return p != NULL ? atoll(p + strlen(key)) : -1;
}

/* Polls a metric until it equals want (counters of operations that have
 * completed may be published a moment later); returns the last value. */
static long long metric_settles(uint16_t mport, const char *name, long long want)
{
    long long v = -1;
    for (long long deadline = now_ms() + 5000; now_ms() < deadline; usleep(20000))
        if ((v = metric(mport, name)) == want)
            break;
    return v;
}

/* ringchat for the bench: no auth, no chat rate limit, metrics on mport. */
static void start_ringchat(server_proc_t *s, uint16_t mport)
{
    char mp[8];
    snprintf(mp, sizeof(mp), "%u", (unsigned)mport);
    int rc = server_start(
        s, ARGV("--auth", "none", "--chat-rate", "0", "--threads", "2", "--metrics-port", mp));
    cr_assert_eq(rc, 0, "ringchat did not start");
}

/* Stops ringchat; reads its "stats:" line. */
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
    cr_assert_eq(sscanf(p, "stats: chat_accepted=%llu notifies_queued=%llu", accepted, queued), 2);
}

Test(bench_churn, closed_loop_counts_match_the_server)
{
    server_proc_t s;
    uint16_t mport = free_port();
    start_ringchat(&s, mport);
    char port[16], out[8192], err[8192];
    snprintf(port, sizeof(port), "%u", s.port);
    /* 6 rooms x 6 members, 3 of each room churn (the last ones), all send. */
    int st = bench(ARGV("--port", port, "--rooms", "6", "--members", "6", "--inflight", "2",
                        "--threads", "2", "--churn", "150/s", "--churners", "0.5", "--warmup",
                        "0.5", "--duration", "2", "--json", "--quiet"),
                   out, sizeof(out), err, sizeof(err), 60000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "bench status %d\n%s\n%s", st, out, err);
    unsigned long long pub = jnum(out, "total_published"), del = jnum(out, "total_delivered");
    unsigned long long checked = jnum(out, "checked_deliveries");
    unsigned long long sw = jnum(out, "churn_switches"), rc = jnum(out, "churn_reconnects");
    unsigned long long retries = jnum(out, "churn_login_retries");
    cr_assert_eq(jnum(out, "errors_total"), 0, "%s", out);
    cr_assert_eq(jnum(out, "churners"), 18);
    cr_assert_gt(pub, 0, "%s", out);
    cr_assert_gt(sw, 0, "no room switch: %s", out);
    cr_assert_gt(rc, 0, "no reconnect: %s", out);
    cr_assert_eq(jnum(out, "churn_started"), sw + rc + jnum(out, "churn_failed"), "%s", out);
    /* Nothing lost among the checked members: 3 per room, every message. */
    cr_assert_eq(jnum(out, "expected_deliveries"), pub * 3, "%s", out);
    cr_assert_eq(checked, pub * 3, "%s", out);
    cr_assert_gt(del, checked, "churners received nothing: %s", out);
    /* The server saw every login: 36 at set-up + one per reconnect. */
    long long ok = metric_settles(mport, "ringchat_logins_total{code=\"0\",result=\"NONE\"}",
                                  (long long)(36 + rc));
    cr_assert_eq(ok, (long long)(36 + rc), "logins 0: server %lld, bench 36 + %llu", ok, rc);
    long long already =
        metric(mport, "ringchat_logins_total{code=\"31\",result=\"LOGIN_USER_ALREADY\"}");
    cr_assert_eq(already, (long long)retries, "logins 31: server %lld, bench %llu", already,
                 retries);
    cr_assert_eq(metric_settles(mport, "ringchat_room_members", 0), 0, "members left in rooms");
    unsigned long long accepted, queued;
    stop_ringchat(&s, &accepted, &queued);
    cr_assert_eq(pub, accepted, "bench published %llu, server accepted %llu", pub, accepted);
    cr_assert_geq(queued, del, "bench received %llu, server queued only %llu", del, queued);
}

Test(bench_churn, open_loop_counts_sends_skipped_while_churning)
{
    server_proc_t s;
    start_ringchat(&s, free_port());
    char port[16], out[8192], err[8192];
    snprintf(port, sizeof(port), "%u", s.port);
    /* Every member sends and every member churns, all of them reconnecting:
     * some sends fall due while their sender is away. */
    int st = bench(ARGV("--port", port, "--rooms", "2", "--members", "4", "--rate", "400",
                        "--churn", "200", "--churners", "1", "--churn-reconnect", "1", "--warmup",
                        "0.5", "--duration", "2", "--json", "--quiet"),
                   out, sizeof(out), err, sizeof(err), 60000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "bench status %d\n%s\n%s", st, out, err);
    unsigned long long pub = jnum(out, "total_published"), unsent = jnum(out, "churn_unsent");
    cr_assert_eq(jnum(out, "errors_total"), 0, "%s", out);
    cr_assert_eq(jnum(out, "churn_switches"), 0, "--churn-reconnect 1: %s", out);
    cr_assert_gt(jnum(out, "churn_reconnects"), 0, "%s", out);
    cr_assert_eq(jnum(out, "expected_deliveries"), 0, "nobody is checked: %s", out);
    /* 400/s for 2.5 s = 1000 sends due: each one either sent or counted. */
    unsigned long long due = pub + unsent + jnum(out, "unsent_backlog");
    cr_assert(due >= 900 && due <= 1010, "published %llu + unsent %llu: %s", pub, unsent, out);
    unsigned long long accepted, queued;
    stop_ringchat(&s, &accepted, &queued);
    cr_assert_eq(pub, accepted);
}

Test(bench_churn, refused_where_it_cannot_work)
{
    char out[4096], err[4096];
    int st = bench(ARGV("--target", "redis", "--churn", "10"), out, sizeof(out), err, sizeof(err),
                   10000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
    cr_assert_not_null(strstr(err, "ringchat only"), "%s", err);
    st = bench(ARGV("--churn", "10", "--churners", "0"), out, sizeof(out), err, sizeof(err), 10000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
    cr_assert_not_null(strstr(err, "--churners above 0"), "%s", err);
    st = bench(ARGV("--churn", "10/m"), out, sizeof(out), err, sizeof(err), 10000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
    cr_assert_not_null(strstr(err, "bad value '10/m'"), "%s", err);
    st = bench(ARGV("--help"), out, sizeof(out), err, sizeof(err), 10000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_not_null(strstr(out, "--churn N[/s]"), "%s", out);
}
