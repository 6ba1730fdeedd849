/* user_cmd.c: `ringchat user add ID --redis HOST:PORT [--pwhash-cost C]`.
 * Reads the password from stdin (one line; without echo on a terminal),
 * hashes it with argon2id and writes ringchat:user:ID pw in Redis, the
 * layout the redis auth backend reads (DESIGN.md). */
#include "user_cmd.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "auth.h"
#include "config.h"
#include "proto.h"

static const char usage[] =
    "usage: ringchat user add ID --redis HOST:PORT [--pwhash-cost min|interactive|moderate]\n"
    "       (the password is read from standard input)\n";

/* One line from stdin into pw (newline stripped); echo off on a terminal. */
static int read_password(char *pw, size_t cap)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        fputs("password: ", stderr);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *line = fgets(pw, (int)cap, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (line == NULL)
        return -1;
    pw[strcspn(pw, "\r\n")] = '\0';
    return 0;
}

/* Applies the options after "user add ID" to cfg. 0, or -1 with a message. */
static int parse_options(config_t *cfg, int argc, char **argv)
{
    char err[CONFIG_ERR_MAX];
    for (int i = 3; i < argc; i++) {
        const char *name = argv[i] + 2;
        if (strncmp(argv[i], "--", 2) != 0 || i + 1 >= argc ||
            (strcmp(name, "redis") != 0 && strcmp(name, "pwhash-cost") != 0)) {
            fprintf(stderr, "ringchat user add: unexpected '%s'\n%s", argv[i], usage);
            return -1;
        }
        if (config_set(cfg, name, argv[++i], err, sizeof(err)) != 0) {
            fprintf(stderr, "ringchat user add: %s\n", err);
            return -1;
        }
    }
    return 0;
}

int user_cmd_main(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[1], "add") != 0) {
        fputs(usage, stderr);
        return 2;
    }
    const char *id = argv[2];
    if (!proto_user_id_valid((const uint8_t *)id, strlen(id))) {
        fprintf(stderr,
                "ringchat user add: '%s' is not a valid user id (1..32 bytes of UTF-8, "
                "no control characters)\n",
                id);
        return 2;
    }
    config_t cfg;
    config_defaults(&cfg);
    if (parse_options(&cfg, argc, argv) != 0)
        return 2;
    char pw[PROTO_PW_FIELD + 2];
    if (read_password(pw, sizeof(pw)) != 0 || strlen(pw) > PROTO_PW_FIELD) {
        fprintf(stderr, "ringchat user add: give the password (at most %d bytes) on stdin\n",
                PROTO_PW_FIELD);
        return 2;
    }
    static const pwhash_cost_t costs[] = {PWHASH_COST_MIN, PWHASH_COST_INTERACTIVE,
                                          PWHASH_COST_MODERATE};
    char err[256] = "";
    signal(SIGPIPE, SIG_IGN);
    int rc = auth_redis_user_add(cfg.redis_host, cfg.redis_port, id, pw, costs[cfg.pwhash_cost],
                                 err, sizeof(err));
    memset(pw, 0, sizeof(pw));
    if (rc != 0) {
        fprintf(stderr, "ringchat user add: %s\n", err);
        return 1;
    }
    printf("user %s added in redis %s:%u\n", id, cfg.redis_host, (unsigned)cfg.redis_port);
    return 0;
}
