/* cli_proc.h: test support for tests/cli: runs the ringchat-cli binary as a
 * child with a script on its stdin (a file, so end of input follows the last
 * line), stdout on a pipe the test reads as it arrives, stderr in a file.
 * The child runs in a new session (setsid): no controlling terminal, so a
 * CLI started without --password can never block on a prompt.
 * Test code only; every wait is bounded by a poll timeout. */
#ifndef RINGCHAT_TEST_CLI_PROC_H
#define RINGCHAT_TEST_CLI_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CLI_PROC_OUT_MAX 65536

typedef struct cli_proc {
    pid_t pid;
    int pidfd;
    int out_fd; /* read end of the child's stdout */
    int err_fd; /* the child's stderr file (unlinked) */
    bool out_eof;
    char out[CLI_PROC_OUT_MAX]; /* stdout so far, NUL-terminated */
    size_t out_len;
    char err[8192]; /* stderr, filled by cli_proc_finish */
} cli_proc_t;

/* Starts RINGCHAT_CLI_BIN with args (NULL-terminated) and script on stdin.
 * -> 0 or -1. */
int cli_proc_start(cli_proc_t *p, const char *const *args, const char *script);

/* Reads stdout until it contains needle or timeout_ms passes. -> true if found. */
bool cli_proc_read_until(cli_proc_t *p, const char *needle, int timeout_ms);

/* Reads stdout to its end and reaps the child, both within timeout_ms (then
 * SIGKILL). -> the exit status as from waitpid, or -1 on timeout. */
int cli_proc_finish(cli_proc_t *p, int timeout_ms);

/* Convenience: start, finish within 15 s. -> status or -1. */
int cli_proc_run(cli_proc_t *p, const char *const *args, const char *script);

#endif
