/* redis_proc.c: a throwaway redis-server for tests (see redis_proc.h).
 * Called by test code only (auth tests, integration tests). It must never
 * touch a server it did not start (external servers are only talked to) and
 * never wait without a bound. Invariant: r->pid != 0 exactly while an own
 * child has been started and not yet reaped. */
#include "redis_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void nap_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- raw RESP client ----------------------------------------------------- */

static int rp_connect(const char *host, uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return -EINVAL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) { /* loopback: immediate */
        int e = errno;
        close(fd);
        return -e;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static int rp_write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

typedef struct rp_reader {
    int fd;
    long long deadline_ms;
    char *buf;
    size_t len, cap;
} rp_reader_t;

/* Reads more bytes, waiting until the deadline. */
static int rp_fill(rp_reader_t *rd)
{
    if (rd->len == rd->cap)
        return -ENOBUFS;
    long long left = rd->deadline_ms - mono_ms();
    if (left <= 0)
        return -ETIMEDOUT;
    struct pollfd p = {.fd = rd->fd, .events = POLLIN};
    int n = poll(&p, 1, (int)left);
    if (n == 0)
        return -ETIMEDOUT;
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    ssize_t got = recv(rd->fd, rd->buf + rd->len, rd->cap - rd->len, 0);
    if (got <= 0)
        return -ECONNRESET;
    rd->len += (size_t)got;
    return 0;
}

/* Reads one reply; see redis_proc_cmd. */
static int rp_read_reply(rp_reader_t *rd, char *out, size_t cap, bool *is_nil)
{
    char *eol;
    while (!(eol = memmem(rd->buf, rd->len, "\r\n", 2))) {
        int rc = rp_fill(rd);
        if (rc < 0)
            return rc;
    }
    int type = (unsigned char)rd->buf[0];
    const char *text = rd->buf + 1;
    size_t tlen = (size_t)(eol - text);
    if (is_nil)
        *is_nil = false;
    if (type == '$') {
        long blen = strtol(text, NULL, 10);
        if (blen < 0) {
            if (is_nil)
                *is_nil = true;
            tlen = 0;
        } else {
            size_t hdr = (size_t)(eol + 2 - rd->buf);
            size_t need = hdr + (size_t)blen + 2;
            while (rd->len < need) { /* rd->buf never moves: pointers stay valid */
                int rc = rp_fill(rd);
                if (rc < 0)
                    return rc;
            }
            text = rd->buf + hdr;
            tlen = (size_t)blen;
        }
    }
    if (cap) {
        size_t n = tlen < cap - 1 ? tlen : cap - 1;
        memcpy(out, text, n);
        out[n] = '\0';
    }
    return type;
}

static int rp_vcmd(const char *host, uint16_t port, int timeout_ms, char *out, size_t cap,
                   bool *is_nil, const char *arg0, va_list ap)
{
    const char *args[32];
    int argc = 0;
    for (const char *a = arg0; a && argc < 32; a = va_arg(ap, const char *))
        args[argc++] = a;
    size_t need = 32;
    for (int i = 0; i < argc; i++)
        need += strlen(args[i]) + 32;
    char *req = malloc(need);
    rp_reader_t rd = {.deadline_ms = mono_ms() + timeout_ms, .cap = 64 * 1024};
    rd.buf = malloc(rd.cap);
    int rc = -ENOMEM;
    if (!req || !rd.buf)
        goto out;
    size_t off = (size_t)snprintf(req, need, "*%d\r\n", argc);
    for (int i = 0; i < argc; i++)
        off += (size_t)snprintf(req + off, need - off, "$%zu\r\n%s\r\n", strlen(args[i]), args[i]);
    rd.fd = rp_connect(host, port);
    if (rd.fd < 0) {
        rc = rd.fd;
        goto out;
    }
    rc = rp_write_all(rd.fd, req, off);
    if (rc == 0)
        rc = rp_read_reply(&rd, out, cap, is_nil);
    close(rd.fd);
out:
    free(req);
    free(rd.buf);
    return rc;
}

int redis_proc_cmd(const redis_proc_t *r, int timeout_ms, char *out, size_t cap, bool *is_nil,
                   const char *arg0, ...)
{
    va_list ap;
    va_start(ap, arg0);
    int rc = rp_vcmd(r->host, r->port, timeout_ms, out, cap, is_nil, arg0, ap);
    va_end(ap);
    return rc;
}

bool redis_proc_ping(const redis_proc_t *r, int timeout_ms)
{
    char buf[16];
    return redis_proc_cmd(r, timeout_ms, buf, sizeof(buf), NULL, "PING", NULL) == '+' &&
           strcmp(buf, "PONG") == 0;
}

/* ---- the child process ------------------------------------------------------ */

/* Finds redis-server on PATH (before fork: execv in the child then needs no
 * allocation). */
static int find_redis_server(char *path, size_t cap)
{
    const char *env = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof(dirs), "%s", env ? env : "/usr/local/bin:/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(path, cap, "%s/redis-server", d);
        if (access(path, X_OK) == 0)
            return 0;
    }
    return -ENOENT;
}

/* Redis 7 refuses DEBUG unless enabled, and older versions refuse the option
 * that enables it: ask the binary which one it is. */
static bool redis_has_debug_option(const char *path)
{
    char cmd[600], line[256] = "";
    snprintf(cmd, sizeof(cmd), "'%s' --version 2>/dev/null", path);
    FILE *f = popen(cmd, "r");
    if (!f)
        return false;
    if (!fgets(line, sizeof(line), f))
        line[0] = '\0';
    pclose(f);
    const char *v = strstr(line, "v=");
    return v && atoi(v + 2) >= 7;
}

/* fork + exec redis-server on r->port; only async-signal-safe calls in the
 * child. */
static int spawn_redis(redis_proc_t *r)
{
    char path[512], port[8], logfile[96];
    if (find_redis_server(path, sizeof(path)) != 0)
        return -ENOENT;
    snprintf(port, sizeof(port), "%u", r->port);
    snprintf(logfile, sizeof(logfile), "%s/redis.log", r->dir);
    const char *argv[] = {path,    "--bind",      "127.0.0.1", "--port",
                          port,    "--save",      "",          "--appendonly",
                          "no",    "--dir",       r->dir,      "--logfile",
                          logfile, "--daemonize", "no",        "--enable-debug-command",
                          "local", NULL};
    if (!redis_has_debug_option(path))
        argv[15] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* no orphan if the test dies */
        if (getppid() != parent)
            _exit(1);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL); /* exec keeps the mask: clear it */
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        execv(path, (char *const *)argv);
        _exit(127);
    }
    r->pid = pid;
    return 0;
}

/* Reaps the child if it has exited; true if it is gone. */
static bool child_gone(redis_proc_t *r)
{
    int st;
    if (r->pid && waitpid(r->pid, &st, WNOHANG) == r->pid)
        r->pid = 0;
    return r->pid == 0;
}

/* Waits until our child answers PING and INFO reports its PID (so a server
 * that another test started on the same port is never mistaken for ours). */
static int wait_ready(redis_proc_t *r, int timeout_ms)
{
    long long end = mono_ms() + timeout_ms;
    char info[4096], want[32];
    snprintf(want, sizeof(want), "process_id:%d\r", (int)r->pid);
    while (mono_ms() < end) {
        if (child_gone(r))
            return -EADDRINUSE; /* most likely: the port was taken */
        if (redis_proc_cmd(r, 200, info, sizeof(info), NULL, "INFO", "server", NULL) == '$')
            return strstr(info, want) ? 0 : -EADDRINUSE;
        nap_ms(10);
    }
    return -ETIMEDOUT;
}

/* A port below Linux's ephemeral range (32768+), so that no client socket
 * can be holding it when we restart on it; probed with a bind. */
static uint16_t pick_port(void)
{
    static unsigned seed;
    if (!seed)
        seed = (unsigned)getpid() ^ (unsigned)mono_ms();
    for (int i = 0; i < 100; i++) {
        uint16_t port = (uint16_t)(20000 + rand_r(&seed) % 12000);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        close(fd);
        if (ok)
            return port;
    }
    return 0;
}

static void kill_and_reap(redis_proc_t *r)
{
    if (!r->pid)
        return;
    kill(r->pid, SIGKILL);
    waitpid(r->pid, NULL, 0); /* SIGKILL cannot be ignored: bounded */
    r->pid = 0;
    r->paused = false;
}

int redis_proc_start(redis_proc_t *r)
{
    memset(r, 0, sizeof(*r));
    r->sleep_fd = -1;
    snprintf(r->host, sizeof(r->host), "127.0.0.1");
    snprintf(r->dir, sizeof(r->dir), "/tmp/ringchat-redis.XXXXXX");
    if (!mkdtemp(r->dir)) {
        r->dir[0] = '\0';
        return -errno;
    }
    int rc = -EADDRINUSE;
    for (int attempt = 0; attempt < 20 && rc == -EADDRINUSE; attempt++) {
        r->port = pick_port();
        if (!r->port)
            break;
        rc = spawn_redis(r);
        if (rc == 0)
            rc = wait_ready(r, 5000);
        if (rc != 0)
            kill_and_reap(r);
    }
    return rc;
}

int redis_proc_start_or_env(redis_proc_t *r)
{
    const char *env = getenv("RINGCHAT_TEST_REDIS");
    if (!env || !*env)
        return redis_proc_start(r);
    memset(r, 0, sizeof(*r));
    r->sleep_fd = -1;
    r->external = true;
    const char *colon = strrchr(env, ':');
    if (!colon || (size_t)(colon - env) >= sizeof(r->host))
        return -EINVAL;
    memcpy(r->host, env, (size_t)(colon - env));
    r->port = (uint16_t)atoi(colon + 1);
    return redis_proc_ping(r, 2000) ? 0 : -ECONNREFUSED;
}

int redis_proc_restart(redis_proc_t *r)
{
    if (r->external)
        return -EPERM;
    if (r->pid)
        return -EBUSY;
    int rc = spawn_redis(r);
    if (rc == 0)
        rc = wait_ready(r, 5000);
    if (rc != 0)
        kill_and_reap(r);
    return rc;
}

int redis_proc_stop(redis_proc_t *r, int timeout_ms)
{
    if (r->external)
        return -EPERM;
    if (!r->pid)
        return 0;
    kill(r->pid, SIGTERM);
    if (r->paused)
        kill(r->pid, SIGCONT); /* a stopped process acts on SIGTERM only now */
    r->paused = false;
    long long end = mono_ms() + timeout_ms;
    while (!child_gone(r) && mono_ms() < end)
        nap_ms(5);
    kill_and_reap(r);
    return 0;
}

int redis_proc_kill(redis_proc_t *r)
{
    if (r->external)
        return -EPERM;
    if (!r->pid)
        return -ESRCH;
    kill_and_reap(r);
    return 0;
}

/* The state letter of /proc/PID/stat ("pid (comm) S ..."), or 0. */
static char proc_state(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : 0;
}

int redis_proc_pause(redis_proc_t *r)
{
    if (r->external)
        return -EPERM;
    if (!r->pid)
        return -ESRCH;
    kill(r->pid, SIGSTOP);
    r->paused = true;
    long long end = mono_ms() + 2000;
    while (mono_ms() < end) {
        if (proc_state(r->pid) == 'T')
            return 0;
        nap_ms(1);
    }
    return -ETIMEDOUT;
}

int redis_proc_resume(redis_proc_t *r)
{
    if (r->external)
        return -EPERM;
    if (!r->pid)
        return -ESRCH;
    kill(r->pid, SIGCONT);
    r->paused = false;
    return 0;
}

int redis_proc_debug_sleep(redis_proc_t *r, double seconds)
{
    if (r->external)
        return -EPERM;
    char secs[32], req[128];
    snprintf(secs, sizeof(secs), "%.3f", seconds);
    int n = snprintf(req, sizeof(req), "*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n$%zu\r\n%s\r\n",
                     strlen(secs), secs);
    int fd = rp_connect(r->host, r->port);
    if (fd < 0)
        return fd;
    /* PING first: once it is answered, Redis has accepted this connection
     * and watches it, so the DEBUG SLEEP below is read before any command
     * that other connections send after this function returns (epoll reports
     * sockets in the order they became readable). Without it, an accepted
     * client could be served before this one is even accepted. */
    char buf[64], pong[16];
    rp_reader_t rd = {.fd = fd, .deadline_ms = mono_ms() + 2000, .buf = buf, .cap = sizeof(buf)};
    int rc = rp_write_all(fd, "*1\r\n$4\r\nPING\r\n", 14);
    if (rc == 0 && rp_read_reply(&rd, pong, sizeof(pong), NULL) != '+')
        rc = -EIO;
    if (rc == 0)
        rc = rp_write_all(fd, req, (size_t)n);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    if (r->sleep_fd >= 0)
        close(r->sleep_fd);
    r->sleep_fd = fd; /* its +OK arrives after the sleep; nobody reads it */
    return 0;
}

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

void redis_proc_cleanup(redis_proc_t *r)
{
    if (r->sleep_fd >= 0)
        close(r->sleep_fd);
    r->sleep_fd = -1;
    if (!r->external) {
        redis_proc_stop(r, 2000);
        if (r->dir[0])
            remove_dir(r->dir);
    }
    r->dir[0] = '\0';
}
