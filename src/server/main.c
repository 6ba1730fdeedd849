/* main.c: the ringchat binary: parses the configuration, prints the banner,
 * runs the server until SIGINT/SIGTERM, exits 0 after a graceful stop.
 *
 * Step 1 of the build-out: the server accepts and immediately closes
 * connections; the worker loop (net ports + actor scheduler) replaces
 * serve_accept_close() once src/net is wired in. Must never busy-poll: it
 * blocks in poll(2) on the listener and a signalfd. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "listener.h"
#include "log.h"

#ifndef RINGCHAT_VERSION
#define RINGCHAT_VERSION "0.0.0"
#endif
#ifndef RINGCHAT_COMMIT
#define RINGCHAT_COMMIT "unknown"
#endif

/* Blocks SIGINT/SIGTERM for every thread and returns a signalfd for them. */
static int signals_open(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static void drain_accepts(int lfd, unsigned long *accepted)
{
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("accept: %s", strerror(errno));
            return;
        }
        close(fd);
        (*accepted)++;
    }
}

/* Waits for connections and signals; returns the signal that stopped it. */
static int serve_accept_close(int lfd, int sfd)
{
    unsigned long accepted = 0;
    struct pollfd pfd[2] = {{.fd = lfd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    for (;;) {
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("poll: %s", strerror(errno));
            return -1;
        }
        if (pfd[0].revents & POLLIN)
            drain_accepts(lfd, &accepted);
        if (pfd[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                log_info("received %s after %lu connections: shutting down",
                         strsignal((int)si.ssi_signo), accepted);
                return (int)si.ssi_signo;
            }
        }
    }
}

static unsigned resolve_threads(const config_t *cfg)
{
    if (cfg->threads != 0)
        return cfg->threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

int main(int argc, char **argv)
{
    config_t cfg;
    char err[CONFIG_ERR_MAX];
    config_defaults(&cfg);
    if (config_parse_args(&cfg, argc, argv, err, sizeof(err)) != 0) {
        fprintf(stderr, "ringchat: %s\n", err);
        return 2;
    }
    if (cfg.show_help) {
        fputs(config_usage(), stdout);
        return 0;
    }
    if (cfg.show_version) {
        printf("ringchat %s (%s)\n", RINGCHAT_VERSION, RINGCHAT_COMMIT);
        return 0;
    }
    log_set_level(cfg.log_level);
    int sfd = signals_open();
    if (sfd < 0) {
        log_error("signalfd: %s", strerror(errno));
        return 1;
    }
    uint16_t port = 0;
    int lfd = listener_open(cfg.bind, cfg.port, 4096, &port);
    if (lfd < 0)
        return 1;
    printf("ringchat %s listening on %s:%u backend=accept-only threads=%u auth=%s\n",
           RINGCHAT_VERSION, cfg.bind, (unsigned)port, resolve_threads(&cfg),
           config_auth_name(cfg.auth));
    fflush(stdout);
    int sig = serve_accept_close(lfd, sfd);
    close(lfd);
    close(sfd);
    log_info("stopped");
    return sig > 0 ? 0 : 1;
}
