/* main.c: the ringchat binary: parses the configuration, starts the server
 * (src/server/server.c), prints the banner, waits for SIGINT/SIGTERM, then
 * stops and exits 0. The main thread only waits on a signalfd: it never
 * polls and never touches a connection. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "server.h"
#include "user_cmd.h"
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
    return signalfd(-1, &set, SFD_CLOEXEC);
}

/* Blocks until SIGINT or SIGTERM; returns the signal number. */
static int wait_for_signal(int sfd)
{
    struct signalfd_siginfo si;
    for (;;) {
        ssize_t n = read(sfd, &si, sizeof(si));
        if (n == (ssize_t)sizeof(si))
            return (int)si.ssi_signo;
        if (n < 0 && errno != EINTR && errno != EAGAIN)
            return -1;
    }
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "user") == 0)
        return user_cmd_main(argc - 1, argv + 1);
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
    server_t *srv = server_create(&cfg, err, sizeof(err));
    if (srv == NULL) {
        log_error("%s", err);
        return 1;
    }
    if (server_start(srv) != 0) {
        log_error("cannot start the server (see above)");
        server_destroy(srv);
        return 1;
    }
    printf("ringchat %s listening on %s:%u backend=%s threads=%u auth=%s\n", RINGCHAT_VERSION,
           cfg.bind, (unsigned)server_port(srv), server_backend(srv), server_threads(srv),
           config_auth_name(cfg.auth));
    fflush(stdout);
    int sig = wait_for_signal(sfd);
    if (sig > 0)
        log_info("received %s: shutting down", strsignal(sig));
    server_shutdown(srv, 1500); /* leaves time to free everything within 2 s */
    server_destroy(srv);
    close(sfd);
    log_info("stopped");
    return sig > 0 ? 0 : 1;
}
