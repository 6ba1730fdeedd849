/* log.h: ringchat's operator log: one line per event, with a UTC timestamp and
 * a level, written to stderr with a single write(2) so lines from different
 * threads never interleave.
 * Called from anywhere, including worker threads; it must never be called once
 * per chat message at info level (the hot path stays quiet). */
#ifndef RINGCHAT_LOG_H
#define RINGCHAT_LOG_H

#include <stdbool.h>

typedef enum log_level {
    LOG_ERROR = 0,
    LOG_WARN = 1,
    LOG_INFO = 2,
    LOG_DEBUG = 3,
} log_level_t;

/* Sets the most verbose level that is printed (default LOG_INFO). */
void log_set_level(log_level_t level);
log_level_t log_get_level(void);
bool log_enabled(log_level_t level);

/* Parses "error", "warn", "info", "debug". Returns 0 or -EINVAL. */
int log_level_parse(const char *name, log_level_t *out);
const char *log_level_name(log_level_t level);

/* printf-style; a trailing newline is added. Lines longer than ~1 KiB are cut. */
void log_msg(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LOG_DEBUG))                                                                \
            log_msg(LOG_DEBUG, __VA_ARGS__);                                                       \
    } while (0)

#endif
