/* cli_proc.c: child-process control for the ringchat-cli tests (see
 * cli_proc.h). Called by tests/cli only. It must never wait without a
 * deadline: every wait is a poll(2) on a pipe or a pidfd, and a child still
 * running at its deadline is killed. */
#include "cli_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef RINGCHAT_CLI_BIN
#error "RINGCHAT_CLI_BIN must name the ringchat-cli binary"
#endif

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* An unlinked temporary file holding text, positioned at its start. */
static int temp_file(const char *text)
{
    char path[] = "/tmp/ringchat-cli-test-XXXXXX";
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return -1;
    unlink(path);
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w <= 0) {
            close(fd);
            return -1;
        }
        done += (size_t)w;
    }
    lseek(fd, 0, SEEK_SET);
    return fd;
}

int cli_proc_start(cli_proc_t *p, const char *const *args, const char *script)
{
    memset(p, 0, sizeof(*p));
    p->out_fd = p->err_fd = p->pidfd = -1;
    const char *argv[64] = {RINGCHAT_CLI_BIN};
    int argc = 1;
    for (; args != NULL && args[argc - 1] != NULL && argc < 63; argc++)
        argv[argc] = args[argc - 1];
    argv[argc] = NULL;
    int pipefd[2];
    int in_fd = temp_file(script), err_fd = temp_file("");
    if (in_fd < 0 || err_fd < 0 || pipe2(pipefd, O_CLOEXEC) != 0)
        return -1;
    p->pid = fork();
    if (p->pid == 0) {
        setsid();
        dup2(in_fd, STDIN_FILENO);
        dup2(pipefd[1], STDOUT_FILENO);
        dup2(err_fd, STDERR_FILENO);
        execv(RINGCHAT_CLI_BIN, (char *const *)argv);
        _exit(127);
    }
    close(in_fd);
    close(pipefd[1]);
    p->out_fd = pipefd[0];
    p->err_fd = err_fd;
    if (p->pid < 0)
        return -1;
    p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
    return p->pidfd >= 0 ? 0 : -1;
}

/* One bounded read of stdout into p->out. -> false on timeout. */
static bool read_some(cli_proc_t *p, long deadline)
{
    long left = deadline - now_ms();
    struct pollfd pf = {.fd = p->out_fd, .events = POLLIN};
    if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
        return false;
    size_t room = sizeof(p->out) - 1 - p->out_len;
    ssize_t n = read(p->out_fd, p->out + p->out_len, room);
    if (n <= 0 || room == 0) {
        p->out_eof = true;
        return true;
    }
    p->out_len += (size_t)n;
    p->out[p->out_len] = '\0';
    return true;
}

bool cli_proc_read_until(cli_proc_t *p, const char *needle, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    while (strstr(p->out, needle) == NULL) {
        if (p->out_eof || !read_some(p, deadline))
            return false;
    }
    return true;
}

int cli_proc_finish(cli_proc_t *p, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    while (!p->out_eof && read_some(p, deadline)) {
    }
    int status = -1;
    long left = deadline - now_ms();
    struct pollfd pf = {.fd = p->pidfd, .events = POLLIN};
    if (p->out_eof && left > 0 && poll(&pf, 1, (int)left) == 1) {
        waitpid(p->pid, &status, 0);
    } else {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, NULL, 0);
    }
    lseek(p->err_fd, 0, SEEK_SET);
    ssize_t n = read(p->err_fd, p->err, sizeof(p->err) - 1);
    p->err[n > 0 ? n : 0] = '\0';
    close(p->out_fd);
    close(p->err_fd);
    close(p->pidfd);
    p->out_fd = p->err_fd = p->pidfd = -1;
    return status;
}

int cli_proc_run(cli_proc_t *p, const char *const *args, const char *script)
{
    if (cli_proc_start(p, args, script) != 0)
        return -1;
    return cli_proc_finish(p, 15000);
}
