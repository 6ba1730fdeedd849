/* config.h: ringchat's settings: the command-line surface of DESIGN.md and the
 * `--config FILE` reader (same names, `key value` lines).
 * Parsed once on the main thread before any worker starts; afterwards the
 * struct is read-only and shared by every thread. Parsing never exits the
 * process: errors come back as a message for main to print. */
#ifndef RINGCHAT_CONFIG_H
#define RINGCHAT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"

typedef enum config_io_backend {
    CONFIG_IO_AUTO,
    CONFIG_IO_URING,
    CONFIG_IO_EPOLL,
} config_io_backend_t;

typedef enum config_auth {
    CONFIG_AUTH_MEMORY,
    CONFIG_AUTH_REDIS,
    CONFIG_AUTH_NONE,
} config_auth_t;

typedef enum config_pwhash_cost {
    CONFIG_PWHASH_MIN,
    CONFIG_PWHASH_INTERACTIVE,
    CONFIG_PWHASH_MODERATE,
} config_pwhash_cost_t;

typedef struct config {
    char bind[64];
    uint16_t port;
    unsigned threads; /* 0 in the defaults: resolved to the CPU count */
    config_io_backend_t io_backend;
    config_auth_t auth;
    char redis_host[256];
    uint16_t redis_port;
    bool redis_legacy_plain;
    int32_t room_first;
    uint32_t room_count;
    uint32_t room_capacity;
    uint32_t max_clients;
    uint32_t max_unauth;       /* connections not logged in yet */
    uint32_t unauth_timeout_s; /* to log in after connecting; 0 = never */
    uint32_t memory_trim_s;    /* period of memory_trim; 0 = never */
    uint32_t login_attempts;   /* failed logins per connection; 0 = unlimited */
    uint32_t memory_users;     /* --auth memory: ids registered at most */
    uint32_t max_packet;
    uint64_t outbox_limit;    /* bytes */
    uint32_t chat_rate;       /* messages per second, 0 = unlimited */
    uint32_t chat_burst;      /* bucket size: 2 x chat_rate */
    uint32_t idle_timeout_s;  /* 0 = never */
    uint32_t login_timeout_s; /* >= 1 */
    config_pwhash_cost_t pwhash_cost;
    uint16_t metrics_port; /* 0 = off */
    log_level_t log_level;
    bool show_help;
    bool show_version;
} config_t;

enum { CONFIG_ERR_MAX = 256 };

/* Fills *cfg with the defaults of DESIGN.md. */
void config_defaults(config_t *cfg);

/* Applies argv (argv[0] is skipped). A `--config FILE` is read first wherever
 * it appears, so the command line overrides the file. Returns 0, or -1 with a
 * one-line message in err. */
int config_parse_args(config_t *cfg, int argc, char **argv, char *err, size_t errlen);

/* Applies one setting by its long name without dashes ("port", "7001").
 * value is NULL for a bare flag. Returns 0, or -1 with a message in err. */
int config_set(config_t *cfg, const char *name, const char *value, char *err, size_t errlen);

/* Reads `key value` lines ('#' starts a comment). Returns 0 or -1 + err. */
int config_load_file(config_t *cfg, const char *path, char *err, size_t errlen);

/* Checks cross-field rules (e.g. room range fits in i32). 0 or -1 + err. */
int config_validate(const config_t *cfg, char *err, size_t errlen);

const char *config_io_backend_name(config_io_backend_t b);
const char *config_auth_name(config_auth_t a);
const char *config_pwhash_cost_name(config_pwhash_cost_t c);

/* The --help text. */
const char *config_usage(void);

#endif
