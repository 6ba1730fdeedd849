/* server_proc.c: child-process control for integration tests (see
 * server_proc.h). Every wait is bounded: poll(2) on a pipe or a pidfd. */
#include "server_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef RINGCHAT_BIN
#error "RINGCHAT_BIN must name the ringchat binary"
#endif

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Reads one line from fd into buf within the deadline. */
static int read_line(int fd, char *buf, size_t cap, long deadline)
{
    size_t n = 0;
    while (n + 1 < cap) {
        long left = deadline - now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return -1;
        char ch;
        if (read(fd, &ch, 1) != 1)
            return -1;
        if (ch == '\n')
            break;
        buf[n++] = ch;
    }
    buf[n] = '\0';
    return 0;
}

/* The binary under test: RINGCHAT_BIN, or $RINGCHAT_TEST_SERVER (make test
 * runs the integration suite once more against a ThreadSanitizer build). */
static const char *server_binary(void)
{
    const char *env = getenv("RINGCHAT_TEST_SERVER");
    return env != NULL && env[0] != '\0' ? env : RINGCHAT_BIN;
}

static pid_t spawn_in(const char *const *args, int in_fd, int out_fd, int err_fd)
{
    const char *bin = server_binary();
    const char *argv[64] = {bin};
    int argc = 1;
    for (; args != NULL && args[argc - 1] != NULL && argc < 63; argc++)
        argv[argc] = args[argc - 1];
    argv[argc] = NULL;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* A test that fails stops before it can stop its server: let the
         * kernel kill the server when the test process goes away. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127); /* the test died before prctl took effect */
        dup2(out_fd, STDOUT_FILENO);
        dup2(err_fd, STDERR_FILENO);
        dup2(in_fd, STDIN_FILENO);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

static pid_t spawn(const char *const *args, int out_fd, int err_fd)
{
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = spawn_in(args, devnull, out_fd, err_fd);
    close(devnull);
    return pid;
}

int server_start(server_proc_t *s, const char *const *args)
{
    memset(s, 0, sizeof(*s));
    const char *full[64] = {"--port", "0"};
    int n = 2;
    for (; args != NULL && args[n - 2] != NULL && n < 62; n++)
        full[n] = args[n - 2];
    full[n] = NULL;
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return -1;
    strcpy(s->log_path, "/tmp/ringchat-test-log-XXXXXX");
    int logfd = mkstemp(s->log_path);
    if (logfd < 0)
        return -1;
    s->pid = spawn(full, pipefd[1], logfd);
    close(pipefd[1]);
    close(logfd);
    s->out_fd = pipefd[0];
    s->pidfd = (int)syscall(SYS_pidfd_open, s->pid, 0);
    if (s->pid < 0 || s->pidfd < 0)
        return -1;
    if (read_line(s->out_fd, s->banner, sizeof(s->banner), now_ms() + 10000) != 0)
        return -1;
    const char *at = strstr(s->banner, "listening on ");
    const char *colon = at ? strchr(at + 13, ' ') : NULL;
    while (colon && colon > at && *colon != ':')
        colon--;
    if (colon == NULL || *colon != ':')
        return -1;
    s->port = (uint16_t)atoi(colon + 1);
    return s->port != 0 ? 0 : -1;
}

int server_wait(server_proc_t *s, int timeout_ms)
{
    struct pollfd p = {.fd = s->pidfd, .events = POLLIN};
    int status = -1;
    if (poll(&p, 1, timeout_ms) == 1) {
        waitpid(s->pid, &status, 0);
    } else {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        status = -1;
    }
    close(s->pidfd);
    close(s->out_fd);
    s->pidfd = s->out_fd = -1;
    return status;
}

int server_stop(server_proc_t *s, int sig, int timeout_ms)
{
    kill(s->pid, sig);
    return server_wait(s, timeout_ms);
}

int tcp_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

static void slurp(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    lseek(fd, 0, SEEK_SET);
    while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
}

int run_ringchat(const char *const *args, char *out, size_t outcap, char *err, size_t errcap)
{
    return run_ringchat_input(args, "", out, outcap, err, errcap);
}

int run_ringchat_input(const char *const *args, const char *input, char *out, size_t outcap,
                       char *err, size_t errcap)
{
    char opath[] = "/tmp/ringchat-test-out-XXXXXX", epath[] = "/tmp/ringchat-test-err-XXXXXX";
    int ofd = mkstemp(opath), efd = mkstemp(epath);
    if (ofd < 0 || efd < 0)
        return -1;
    unlink(opath);
    unlink(epath);
    char ipath[] = "/tmp/ringchat-test-in-XXXXXX";
    int ifd = mkstemp(ipath);
    if (ifd < 0)
        return -1;
    unlink(ipath);
    ssize_t w = write(ifd, input, strlen(input));
    (void)w;
    lseek(ifd, 0, SEEK_SET);
    server_proc_t s = {.out_fd = -1};
    s.pid = spawn_in(args, ifd, ofd, efd);
    close(ifd);
    s.pidfd = (int)syscall(SYS_pidfd_open, s.pid, 0);
    int status = server_wait(&s, 10000);
    slurp(ofd, out, outcap);
    slurp(efd, err, errcap);
    close(ofd);
    close(efd);
    return status;
}

void server_read_log(const server_proc_t *s, char *buf, size_t cap)
{
    int fd = open(s->log_path, O_RDONLY | O_CLOEXEC);
    buf[0] = '\0';
    if (fd >= 0) {
        slurp(fd, buf, cap);
        close(fd);
    }
}

long proc_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return kb;
}
