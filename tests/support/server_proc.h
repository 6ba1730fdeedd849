/* server_proc.h: integration-test support: runs the real ringchat binary as
 * a child process on a free loopback port, reads its banner, connects to it,
 * and stops it with a bounded wait. Test code only. */
#ifndef RINGCHAT_SERVER_PROC_H
#define RINGCHAT_SERVER_PROC_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct server_proc {
    pid_t pid;
    int pidfd;
    int out_fd;        /* the child's stdout (banner) */
    uint16_t port;     /* parsed from the banner */
    char banner[512];  /* first stdout line */
    char log_path[64]; /* the child's stderr, kept for inspection */
} server_proc_t;

/* Starts RINGCHAT_BIN with "--port 0" followed by args (NULL-terminated; may
 * be NULL) and waits up to 10 s for its banner. Returns 0 or -1. */
int server_start(server_proc_t *s, const char *const *args);

/* Sends sig and waits up to timeout_ms for exit. Returns the exit status as
 * from waitpid (use WIFEXITED etc.), or -1 on timeout (then SIGKILLs). */
int server_stop(server_proc_t *s, int sig, int timeout_ms);

/* Waits up to timeout_ms for the child to exit by itself; as server_stop. */
int server_wait(server_proc_t *s, int timeout_ms);

/* A blocking TCP connection to 127.0.0.1:port, or -1. */
int tcp_connect(uint16_t port);

/* Runs RINGCHAT_BIN with args to completion (10 s cap), capturing stdout and
 * stderr into out/err (NUL-terminated, truncated to cap). Returns the exit
 * status as from waitpid, or -1. */
int run_ringchat(const char *const *args, char *out, size_t outcap, char *err, size_t errcap);

/* As run_ringchat, with `input` written to the child's stdin. */
int run_ringchat_input(const char *const *args, const char *input, char *out, size_t outcap,
                       char *err, size_t errcap);

/* Reads the whole log file of s into buf (NUL-terminated). */
void server_read_log(const server_proc_t *s, char *buf, size_t cap);

/* VmRSS of process pid in KiB (/proc/PID/status), or -1. */
long proc_rss_kb(pid_t pid);

#endif
