/* log.c: the operator log (see log.h). Formats into a stack buffer and emits
 * it with one write(2): no lock, no allocation, and lines from many threads
 * stay whole. Must never block on anything but stderr itself. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Written once at start-up (or by tests), read by every thread: relaxed
 * atomics suffice because a slightly stale level only changes verbosity. */
static _Atomic int current_level = LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_set_level(log_level_t level)
{
    current_level = (int)level;
}

log_level_t log_get_level(void)
{
    return (log_level_t)current_level;
}

bool log_enabled(log_level_t level)
{
    return (int)level <= current_level;
}

const char *log_level_name(log_level_t level)
{
    if ((unsigned)level < sizeof(level_names) / sizeof(level_names[0]))
        return level_names[level];
    return "?";
}

int log_level_parse(const char *name, log_level_t *out)
{
    for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    return -EINVAL;
}

void log_msg(log_level_t level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char line[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, log_level_name(level));
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    /* One write per line; a short write to a pipe of < PIPE_BUF bytes cannot
     * happen, and on a terminal a rare short write only cuts one log line. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}
