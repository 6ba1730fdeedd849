/* test_config.c: the command-line surface of DESIGN.md: defaults, every
 * option's parsing, clear errors for bad values, --config files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char err[CONFIG_ERR_MAX];

/* Parses a NULL-terminated list of arguments into cfg. */
static int parse(config_t *cfg, const char **args)
{
    const char *argv[64] = {"ringchat"};
    int argc = 1;
    while (args[argc - 1] != NULL)
        argv[argc] = args[argc - 1], argc++;
    config_defaults(cfg);
    err[0] = '\0';
    return config_parse_args(cfg, argc, (char **)argv, err, sizeof(err));
}

#define PARSE(cfg, ...) parse(cfg, (const char *[]){__VA_ARGS__, NULL})

Test(config, defaults_match_design)
{
    config_t c;
    cr_assert_eq(parse(&c, (const char *[]){NULL}), 0);
    cr_assert_str_eq(c.bind, "127.0.0.1");
    cr_assert_eq(c.port, 7000);
    cr_assert_eq(c.auth, CONFIG_AUTH_MEMORY);
    cr_assert_eq(c.io_backend, CONFIG_IO_AUTO);
    cr_assert_eq(c.room_first, 0);
    cr_assert_eq(c.room_count, 1000000);
    cr_assert_eq(c.room_capacity, 1024);
    cr_assert_eq(c.max_packet, 4096);
    cr_assert_eq(c.outbox_limit, 8u << 20);
    cr_assert_eq(c.chat_rate, 20);
    cr_assert_eq(c.chat_burst, 40);
    cr_assert_eq(c.idle_timeout_s, 300);
    cr_assert_eq(c.login_timeout_s, 3);
    cr_assert_eq(c.max_unauth, 1024);
    cr_assert_eq(c.unauth_timeout_s, 30);
    cr_assert_eq(c.login_attempts, 5);
    cr_assert_eq(c.memory_users, 100000);
    cr_assert_eq(c.memory_trim_s, 10);
    cr_assert_eq(c.metrics_port, 0);
    cr_assert_eq(c.pwhash_cost, CONFIG_PWHASH_INTERACTIVE);
    cr_assert_eq(c.log_level, LOG_INFO);
}

Test(config, every_option_is_applied)
{
    config_t c;
    int rc = PARSE(&c, "--bind", "0.0.0.0", "--port", "7100", "--threads", "3", "--io-backend",
                   "epoll", "--auth", "redis", "--redis", "127.0.0.2:6380", "--redis-legacy-plain",
                   "--room-first", "10", "--room-count", "5", "--room-capacity", "7",
                   "--max-clients", "99", "--max-packet", "8192", "--outbox-limit", "64k",
                   "--chat-rate", "5/s", "--idle-timeout", "0", "--login-timeout", "2",
                   "--pwhash-cost", "min", "--metrics-port", "9100", "--log-level", "debug",
                   "--max-unauth", "17", "--unauth-timeout", "0", "--login-attempts", "0",
                   "--memory-users", "3", "--memory-trim", "0");
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(c.bind, "0.0.0.0");
    cr_assert_eq(c.port, 7100);
    cr_assert_eq(c.threads, 3);
    cr_assert_eq(c.io_backend, CONFIG_IO_EPOLL);
    cr_assert_eq(c.auth, CONFIG_AUTH_REDIS);
    cr_assert_str_eq(c.redis_host, "127.0.0.2");
    cr_assert_eq(c.redis_port, 6380);
    cr_assert(c.redis_legacy_plain);
    cr_assert_eq(c.room_first, 10);
    cr_assert_eq(c.room_count, 5);
    cr_assert_eq(c.room_capacity, 7);
    cr_assert_eq(c.max_clients, 99);
    cr_assert_eq(c.max_packet, 8192);
    cr_assert_eq(c.outbox_limit, 65536);
    cr_assert_eq(c.chat_rate, 5);
    cr_assert_eq(c.chat_burst, 10);
    cr_assert_eq(c.idle_timeout_s, 0);
    cr_assert_eq(c.login_timeout_s, 2);
    cr_assert_eq(c.pwhash_cost, CONFIG_PWHASH_MIN);
    cr_assert_eq(c.metrics_port, 9100);
    cr_assert_eq(c.log_level, LOG_DEBUG);
    cr_assert_eq(c.max_unauth, 17);
    cr_assert_eq(c.unauth_timeout_s, 0);
    cr_assert_eq(c.login_attempts, 0);
    cr_assert_eq(c.memory_users, 3);
    cr_assert_eq(c.memory_trim_s, 0);
}

Test(config, equals_form_and_size_suffixes)
{
    config_t c;
    cr_assert_eq(PARSE(&c, "--port=7001", "--outbox-limit=8m", "--chat-rate=0"), 0, "%s", err);
    cr_assert_eq(c.port, 7001);
    cr_assert_eq(c.outbox_limit, 8u << 20);
    cr_assert_eq(c.chat_rate, 0);
    cr_assert_eq(PARSE(&c, "--outbox-limit", "1G"), 0, "%s", err);
    cr_assert_eq(c.outbox_limit, 1ull << 30);
    cr_assert_eq(PARSE(&c, "--outbox-limit", "16KiB"), 0, "%s", err);
    cr_assert_eq(c.outbox_limit, 16384);
}

/* Each bad value is refused with a message naming the option and the value. */
Test(config, bad_values_give_clear_errors)
{
    static const char *bad[][2] = {
        {"--port", "70000"},          {"--port", "-1"},
        {"--port", "12ab"},           {"--threads", "0"},
        {"--io-backend", "kqueue"},   {"--auth", "ldap"},
        {"--redis", "nohost"},        {"--redis", "h:0"},
        {"--room-first", "-5"},       {"--room-count", "0"},
        {"--room-capacity", "0"},     {"--max-packet", "100"},
        {"--max-packet", "65536"},    {"--outbox-limit", "1k"},
        {"--outbox-limit", "8x"},     {"--chat-rate", "fast"},
        {"--idle-timeout", "1.5"},    {"--login-timeout", "0"},
        {"--pwhash-cost", "max"},     {"--metrics-port", "x"},
        {"--log-level", "trace"},     {"--max-unauth", "0"},
        {"--unauth-timeout", "3601"}, {"--login-attempts", "-1"},
        {"--memory-users", "0"},      {"--memory-trim", "3601"},
        {"--memory-trim", "-1"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        config_t c;
        cr_assert_eq(PARSE(&c, bad[i][0], bad[i][1]), -1, "%s %s accepted", bad[i][0], bad[i][1]);
        cr_assert(strstr(err, bad[i][0]) != NULL, "message '%s' lacks the option", err);
        cr_assert(strstr(err, bad[i][1]) != NULL, "message '%s' lacks the value", err);
    }
}

Test(config, unknown_option_missing_value_and_stray_argument)
{
    config_t c;
    cr_assert_eq(PARSE(&c, "--frobnicate"), -1);
    cr_assert(strstr(err, "frobnicate") != NULL, "%s", err);
    cr_assert_eq(PARSE(&c, "--port"), -1);
    cr_assert(strstr(err, "needs a value") != NULL, "%s", err);
    cr_assert_eq(PARSE(&c, "7000"), -1);
    cr_assert(strstr(err, "unexpected argument") != NULL, "%s", err);
    cr_assert_eq(PARSE(&c, "--help=yes"), -1);
}

Test(config, room_range_must_fit_in_i32)
{
    config_t c;
    cr_assert_eq(PARSE(&c, "--room-first", "2147483000", "--room-count", "1000"), -1);
    cr_assert(strstr(err, "room") != NULL, "%s", err);
    cr_assert_eq(PARSE(&c, "--room-first", "2147483000", "--room-count", "648"), 0, "%s", err);
}

Test(config, help_and_version_flags)
{
    config_t c;
    cr_assert_eq(PARSE(&c, "--help"), 0);
    cr_assert(c.show_help);
    cr_assert_eq(PARSE(&c, "--version"), 0);
    cr_assert(c.show_version);
    /* The usage text lists every option of DESIGN.md's command line. */
    const char *names[] = {"--bind",
                           "--port",
                           "--threads",
                           "--io-backend",
                           "--auth",
                           "--redis ",
                           "--redis-legacy-plain",
                           "--room-first",
                           "--room-count",
                           "--room-capacity",
                           "--max-clients",
                           "--max-packet",
                           "--outbox-limit",
                           "--chat-rate",
                           "--idle-timeout",
                           "--login-timeout",
                           "--pwhash-cost",
                           "--metrics-port",
                           "--log-level",
                           "--config",
                           "--help",
                           "--version"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        cr_assert(strstr(config_usage(), names[i]) != NULL, "usage lacks %s", names[i]);
}

static char *write_temp(const char *text)
{
    static char path[64];
    strcpy(path, "/tmp/ringchat-config-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

Test(config, file_is_read_and_command_line_wins)
{
    char *path = write_temp("# comment\n"
                            "port 7200\n"
                            "  auth   none   # trailing comment\n"
                            "redis-legacy-plain yes\n"
                            "\n"
                            "chat-rate 7/s\n");
    config_t c;
    cr_assert_eq(PARSE(&c, "--port", "7300", "--config", path), 0, "%s", err);
    cr_assert_eq(c.port, 7300, "the command line overrides the file");
    cr_assert_eq(c.auth, CONFIG_AUTH_NONE);
    cr_assert(c.redis_legacy_plain);
    cr_assert_eq(c.chat_rate, 7);
    unlink(path);
}

Test(config, file_errors_name_file_and_line)
{
    char *path = write_temp("port 7200\nmax-packet 10\n");
    config_t c;
    cr_assert_eq(PARSE(&c, "--config", path), -1);
    cr_assert(strstr(err, path) != NULL && strstr(err, ":2:") != NULL, "%s", err);
    unlink(path);
    path = write_temp("bogus 1\n");
    cr_assert_eq(PARSE(&c, "--config", path), -1);
    cr_assert(strstr(err, "bogus") != NULL, "%s", err);
    unlink(path);
    cr_assert_eq(PARSE(&c, "--config", "/nonexistent/ringchat.conf"), -1);
    cr_assert(strstr(err, "cannot open") != NULL, "%s", err);
}

/* packaging/ringchat.conf is what operators copy: it must stay valid. */
Test(config, packaged_example_is_valid)
{
    config_t c;
    cr_assert_eq(PARSE(&c, "--config", RINGCHAT_SOURCE_DIR "/packaging/ringchat.conf"), 0, "%s",
                 err);
    cr_assert_eq(c.port, 7000);
    cr_assert_eq(c.metrics_port, 9100);
    cr_assert_eq(c.outbox_limit, 8u << 20);
}
