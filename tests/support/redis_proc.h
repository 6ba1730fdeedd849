/* redis_proc.h: test support: a throwaway redis-server for tests, started on
 * a free 127.0.0.1 port in its own temp dir with persistence off, and driven
 * like a failing production Redis: stopped, killed, paused (SIGSTOP or
 * DEBUG SLEEP), resumed, restarted on the same port. Test code only; talks
 * raw RESP over a socket, so it needs no hiredis.
 *
 * Two kinds of instance:
 *   - own: started here (redis_proc_start), always stopped by its PID in
 *     redis_proc_cleanup; the child also gets SIGKILL if the starting thread
 *     dies first (PR_SET_PDEATHSIG), so a crashed test leaves no server.
 *     Start it from a thread that outlives it (the test's main thread).
 *   - external: the shared server named by RINGCHAT_TEST_REDIS=HOST:PORT
 *     (`make test` sets it; HOST must be an IPv4 address). Never stopped, paused or killed: the
 * fault functions refuse with -EPERM. Tests that break Redis must use their own. Functions return 0
 * or -errno and never wait longer than their timeout. */
#ifndef RINGCHAT_REDIS_PROC_H
#define RINGCHAT_REDIS_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct redis_proc {
    char host[64]; /* "127.0.0.1" for own servers */
    uint16_t port;
    bool external; /* from RINGCHAT_TEST_REDIS */
    pid_t pid;     /* own server's PID while running, else 0 */
    bool paused;   /* SIGSTOPped by redis_proc_pause */
    char dir[64];  /* own server's temp dir (its log is dir/redis.log) */
    int sleep_fd;  /* connection that sent DEBUG SLEEP, or -1 */
} redis_proc_t;

/* Starts an own redis-server on a free loopback port (retrying other ports if
 * one is taken) and waits up to 5 s until it answers PING and reports its
 * PID. Runs `redis-server` from PATH. */
int redis_proc_start(redis_proc_t *r);

/* Uses RINGCHAT_TEST_REDIS when it is set (external), else redis_proc_start. */
int redis_proc_start_or_env(redis_proc_t *r);

/* Own server, after stop or kill: starts it again on the same port and dir
 * (the data is gone: persistence is off). */
int redis_proc_restart(redis_proc_t *r);

/* SIGTERM, then SIGKILL if it has not exited within timeout_ms; reaps it. */
int redis_proc_stop(redis_proc_t *r, int timeout_ms);

/* SIGKILL and reap: Redis "crashes"; its sockets are reset by the kernel. */
int redis_proc_kill(redis_proc_t *r);

/* SIGSTOP; returns once the process is stopped (state T in /proc). A stopped
 * Redis still accepts TCP connections (the kernel does) but answers nothing. */
int redis_proc_pause(redis_proc_t *r);

/* SIGCONT after redis_proc_pause: queued commands are answered (late). */
int redis_proc_resume(redis_proc_t *r);

/* Sends DEBUG SLEEP seconds on a separate connection and returns once it is
 * written (own servers enable the DEBUG command for local clients). Redis
 * takes it before commands that arrive after it, so commands sent after this
 * returns are answered only after the sleep. */
int redis_proc_debug_sleep(redis_proc_t *r, double seconds);

/* true if the server answers PING within timeout_ms. */
bool redis_proc_ping(const redis_proc_t *r, int timeout_ms);

/* Runs one command (NULL-terminated argument list, binary-safe strings) and
 * reads one reply within timeout_ms. Returns the reply's RESP type byte
 * ('+', '-', ':', '$', '*') and copies its text into out (NUL-terminated,
 * truncated to cap): the status/error/integer text, the bulk string, or for
 * an array its count. A nil bulk returns '$' with out = "" and *is_nil set
 * (is_nil may be NULL). Negative -errno on I/O errors or timeout. */
int redis_proc_cmd(const redis_proc_t *r, int timeout_ms, char *out, size_t cap, bool *is_nil,
                   const char *arg0, ...) __attribute__((sentinel));

/* Stops an own server (if running) and removes its temp dir. External: only
 * forgets it. Safe to call twice. */
void redis_proc_cleanup(redis_proc_t *r);

#endif
