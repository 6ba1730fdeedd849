/* config.c: parses ringchat's options (see config.h). One table lists every
 * option with its parser, so the command line and --config FILE share the
 * same names and the same checks. Never exits: errors are returned as text. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* Strict unsigned parse: digits only, no sign, no trailing junk, in range. */
static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool parse_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    if (s == NULL || *s == '\0')
        return false;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* "8388608", "64k", "8m", "1g" (powers of 1024). */
static bool parse_bytes(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return false;
    unsigned shift = 0;
    if (*end != '\0') {
        switch (*end | 0x20) {
        case 'k':
            shift = 10;
            break;
        case 'm':
            shift = 20;
            break;
        case 'g':
            shift = 30;
            break;
        default:
            return false;
        }
        if (end[1] != '\0' && !((end[1] | 0x20) == 'b' && end[2] == '\0') &&
            !((end[1] | 0x20) == 'i' && (end[2] | 0x20) == 'b' && end[3] == '\0'))
            return false;
    }
    if (v > (UINT64_MAX >> shift))
        return false;
    *out = (uint64_t)v << shift;
    return true;
}

/* "on"/"off" style values for flags given in a config file. */
static bool parse_flag(const char *s, bool *out)
{
    if (s == NULL || strcmp(s, "yes") == 0 || strcmp(s, "true") == 0 || strcmp(s, "on") == 0 ||
        strcmp(s, "1") == 0) {
        *out = true;
        return true;
    }
    if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0 || strcmp(s, "off") == 0 ||
        strcmp(s, "0") == 0) {
        *out = false;
        return true;
    }
    return false;
}

static bool copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n == 0 || n >= cap)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

/* "HOST:PORT" (HOST may be a bracketed IPv6 address). */
static bool parse_hostport(const char *s, char *host, size_t cap, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    if (colon == NULL || colon == s)
        return false;
    uint64_t p;
    if (!parse_u64(colon + 1, 1, 65535, &p))
        return false;
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= cap)
        return false;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t)p;
    return true;
}

/* An option's parser: NULL on success, else what the value should have been. */
typedef const char *(*opt_fn)(config_t *cfg, const char *v);

typedef enum opt_kind {
    OPT_VALUE,  /* --name VALUE */
    OPT_FLAG,   /* --name; in a config file also "name yes|no" */
    OPT_ACTION, /* --help, --version: never a value */
} opt_kind_t;

typedef struct opt {
    const char *name;
    opt_kind_t kind;
    opt_fn apply;
} opt_t;

static const char *opt_bind(config_t *c, const char *v)
{
    struct in_addr a;
    if (inet_pton(AF_INET, v, &a) != 1 || !copy_str(c->bind, sizeof(c->bind), v))
        return "an IPv4 address (e.g. 127.0.0.1 or 0.0.0.0)";
    return NULL;
}

static const char *opt_port(config_t *c, const char *v)
{
    uint64_t x;
    /* 0 asks the kernel for a free port; the banner prints the one bound. */
    if (!parse_u64(v, 0, 65535, &x))
        return "a port number (0..65535)";
    c->port = (uint16_t)x;
    return NULL;
}

static const char *opt_threads(config_t *c, const char *v)
{
    uint64_t x;
    if (!parse_u64(v, 1, 256, &x))
        return "a thread count (1..256)";
    c->threads = (unsigned)x;
    return NULL;
}

static const char *opt_io_backend(config_t *c, const char *v)
{
    for (int b = CONFIG_IO_AUTO; b <= CONFIG_IO_EPOLL; b++) {
        if (strcmp(v, config_io_backend_name((config_io_backend_t)b)) == 0) {
            c->io_backend = (config_io_backend_t)b;
            return NULL;
        }
    }
    return "one of auto, uring, epoll";
}

static const char *opt_auth(config_t *c, const char *v)
{
    for (int a = CONFIG_AUTH_MEMORY; a <= CONFIG_AUTH_NONE; a++) {
        if (strcmp(v, config_auth_name((config_auth_t)a)) == 0) {
            c->auth = (config_auth_t)a;
            return NULL;
        }
    }
    return "one of memory, redis, none";
}

static const char *opt_redis(config_t *c, const char *v)
{
    if (!parse_hostport(v, c->redis_host, sizeof(c->redis_host), &c->redis_port))
        return "HOST:PORT";
    return NULL;
}

static const char *opt_redis_legacy_plain(config_t *c, const char *v)
{
    return parse_flag(v, &c->redis_legacy_plain) ? NULL : "yes or no";
}

static const char *opt_room_first(config_t *c, const char *v)
{
    int64_t x;
    if (!parse_i64(v, 0, INT32_MAX, &x))
        return "a room number (0..2147483647)";
    c->room_first = (int32_t)x;
    return NULL;
}

static const char *opt_room_count(config_t *c, const char *v)
{
    uint64_t x;
    if (!parse_u64(v, 1, (uint64_t)INT32_MAX + 1, &x))
        return "a room count (1..2147483648)";
    c->room_count = (uint32_t)x;
    return NULL;
}

static const char *opt_room_capacity(config_t *c, const char *v)
{
    uint64_t x;
    if (!parse_u64(v, 1, 1000000, &x))
        return "a capacity (1..1000000)";
    c->room_capacity = (uint32_t)x;
    return NULL;
}

static const char *opt_max_clients(config_t *c, const char *v)
{
    uint64_t x;
    if (!parse_u64(v, 1, 10000000, &x))
        return "a client count (1..10000000)";
    c->max_clients = (uint32_t)x;
    return NULL;
}

static const char *opt_max_unauth(config_t *c, const char *v)
{
    uint64_t x;
    if (!parse_u64(v, 1, 1000000, &x))
        return "a connection count (1..1000000)";
    c->max_unauth = (uint32_t)x;
    return NULL;
}

static const char *opt_unauth_timeout(config_t *c, const char *v)
{
    uint64_t x;
    if (!parse_u64(v, 0, 3600, &x))
        return "a number of seconds (0..3600, 0 = never)";
    c->unauth_timeout_s = (uint32_t)x;
    return NULL;
}

static const char *opt_memory_trim(config_t *c, const char *v)
{
    uint64_t x;
    if (!parse_u64(v, 0, 3600, &x))
        return "a number of seconds (0..3600, 0 = never)";
    c->memory_trim_s = (uint32_t)x;
    return NULL;
}

static const char *opt_login_attempts(config_t *c, const char *v)
{
    uint64_t x;
    if (!parse_u64(v, 0, 1000, &x))
        return "a number of failed logins (0..1000, 0 = unlimited)";
    c->login_attempts = (uint32_t)x;
    return NULL;
}

static const char *opt_memory_users(config_t *c, const char *v)
{
    uint64_t x;
    if (!parse_u64(v, 1, 100000000, &x))
        return "a number of users (1..100000000)";
    c->memory_users = (uint32_t)x;
    return NULL;
}

static const char *opt_max_packet(config_t *c, const char *v)
{
    uint64_t x;
    /* 295 = the largest fixed packet (ROOM_CHAT_NOTIFY, 5 + 290). */
    if (!parse_u64(v, 295, 65535, &x))
        return "a packet size (295..65535)";
    c->max_packet = (uint32_t)x;
    return NULL;
}

static const char *opt_outbox_limit(config_t *c, const char *v)
{
    uint64_t x;
    if (!parse_bytes(v, &x) || x < 4096 || x > ((uint64_t)1 << 40))
        return "a byte size between 4k and 1t (e.g. 8m)";
    c->outbox_limit = x;
    return NULL;
}

static const char *opt_chat_rate(config_t *c, const char *v)
{
    char num[32];
    size_t n = strlen(v);
    if (n > 2 && strcmp(v + n - 2, "/s") == 0)
        n -= 2;
    uint64_t x;
    if (n == 0 || n >= sizeof(num))
        return "a rate (N or N/s, 0 = unlimited)";
    memcpy(num, v, n);
    num[n] = '\0';
    if (!parse_u64(num, 0, 1000000, &x))
        return "a rate (N or N/s, 0..1000000, 0 = unlimited)";
    c->chat_rate = (uint32_t)x;
    c->chat_burst = (uint32_t)(2 * x);
    return NULL;
}

static const char *opt_idle_timeout(config_t *c, const char *v)
{
    uint64_t x;
    if (!parse_u64(v, 0, 86400 * 7, &x))
        return "a number of seconds (0..604800, 0 = never)";
    c->idle_timeout_s = (uint32_t)x;
    return NULL;
}

static const char *opt_login_timeout(config_t *c, const char *v)
{
    uint64_t x;
    if (!parse_u64(v, 1, 3600, &x))
        return "a number of seconds (1..3600)";
    c->login_timeout_s = (uint32_t)x;
    return NULL;
}

static const char *opt_pwhash_cost(config_t *c, const char *v)
{
    for (int p = CONFIG_PWHASH_MIN; p <= CONFIG_PWHASH_MODERATE; p++) {
        if (strcmp(v, config_pwhash_cost_name((config_pwhash_cost_t)p)) == 0) {
            c->pwhash_cost = (config_pwhash_cost_t)p;
            return NULL;
        }
    }
    return "one of min, interactive, moderate";
}

static const char *opt_metrics_port(config_t *c, const char *v)
{
    uint64_t x;
    if (!parse_u64(v, 0, 65535, &x))
        return "a port number (0 = off)";
    c->metrics_port = (uint16_t)x;
    return NULL;
}

static const char *opt_log_level(config_t *c, const char *v)
{
    return log_level_parse(v, &c->log_level) == 0 ? NULL : "one of error, warn, info, debug";
}

static const char *opt_help(config_t *c, const char *v)
{
    (void)v;
    c->show_help = true;
    return NULL;
}

static const char *opt_version(config_t *c, const char *v)
{
    (void)v;
    c->show_version = true;
    return NULL;
}

static const opt_t options[] = {
    {"bind", OPT_VALUE, opt_bind},
    {"port", OPT_VALUE, opt_port},
    {"threads", OPT_VALUE, opt_threads},
    {"io-backend", OPT_VALUE, opt_io_backend},
    {"auth", OPT_VALUE, opt_auth},
    {"redis", OPT_VALUE, opt_redis},
    {"redis-legacy-plain", OPT_FLAG, opt_redis_legacy_plain},
    {"room-first", OPT_VALUE, opt_room_first},
    {"room-count", OPT_VALUE, opt_room_count},
    {"room-capacity", OPT_VALUE, opt_room_capacity},
    {"max-clients", OPT_VALUE, opt_max_clients},
    {"max-unauth", OPT_VALUE, opt_max_unauth},
    {"unauth-timeout", OPT_VALUE, opt_unauth_timeout},
    {"login-attempts", OPT_VALUE, opt_login_attempts},
    {"memory-users", OPT_VALUE, opt_memory_users},
    {"memory-trim", OPT_VALUE, opt_memory_trim},
    {"max-packet", OPT_VALUE, opt_max_packet},
    {"outbox-limit", OPT_VALUE, opt_outbox_limit},
    {"chat-rate", OPT_VALUE, opt_chat_rate},
    {"idle-timeout", OPT_VALUE, opt_idle_timeout},
    {"login-timeout", OPT_VALUE, opt_login_timeout},
    {"pwhash-cost", OPT_VALUE, opt_pwhash_cost},
    {"metrics-port", OPT_VALUE, opt_metrics_port},
    {"log-level", OPT_VALUE, opt_log_level},
    {"help", OPT_ACTION, opt_help},
    {"version", OPT_ACTION, opt_version},
};

static const opt_t *find_option(const char *name)
{
    for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
        if (strcmp(options[i].name, name) == 0)
            return &options[i];
    return NULL;
}

void config_defaults(config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    strcpy(cfg->bind, "127.0.0.1");
    cfg->port = 7000;
    cfg->threads = 0;
    cfg->io_backend = CONFIG_IO_AUTO;
    cfg->auth = CONFIG_AUTH_MEMORY;
    strcpy(cfg->redis_host, "127.0.0.1");
    cfg->redis_port = 6379;
    cfg->room_first = 0;
    cfg->room_count = 1000000;
    cfg->room_capacity = 1024;
    cfg->max_clients = 10000;
    cfg->max_unauth = 1024;
    cfg->unauth_timeout_s = 30;
    cfg->login_attempts = 5;
    cfg->memory_users = 100000;
    cfg->memory_trim_s = 10;
    cfg->max_packet = 4096;
    cfg->outbox_limit = 8u << 20;
    cfg->chat_rate = 20;
    cfg->chat_burst = 40;
    cfg->idle_timeout_s = 300;
    cfg->login_timeout_s = 3;
    cfg->pwhash_cost = CONFIG_PWHASH_INTERACTIVE;
    cfg->metrics_port = 0;
    cfg->log_level = LOG_INFO;
}

int config_set(config_t *cfg, const char *name, const char *value, char *err, size_t errlen)
{
    const opt_t *o = find_option(name);
    if (o == NULL)
        return fail(err, errlen, "unknown option '%s' (see --help)", name);
    if (o->kind == OPT_VALUE && value == NULL)
        return fail(err, errlen, "--%s needs a value", name);
    if (o->kind == OPT_ACTION && value != NULL)
        return fail(err, errlen, "--%s takes no value", name);
    const char *expected = o->apply(cfg, value);
    if (expected != NULL)
        return fail(err, errlen, "--%s: '%s' is not %s", name, value ? value : "", expected);
    return 0;
}

/* Splits "--name=value" or takes the value from the next argument. */
static int apply_arg(config_t *cfg, int argc, char **argv, int *i, char *err, size_t errlen)
{
    const char *arg = argv[*i];
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
        return fail(err, errlen, "unexpected argument '%s' (see --help)", arg);
    char name[48];
    const char *eq = strchr(arg + 2, '=');
    size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    if (n >= sizeof(name))
        return fail(err, errlen, "unknown option '%s' (see --help)", arg);
    memcpy(name, arg + 2, n);
    name[n] = '\0';
    const opt_t *o = find_option(name);
    if (o == NULL)
        return fail(err, errlen, "unknown option '--%s' (see --help)", name);
    const char *value = eq ? eq + 1 : NULL;
    if (o->kind == OPT_VALUE && value == NULL) {
        if (*i + 1 >= argc)
            return fail(err, errlen, "--%s needs a value", name);
        value = argv[++*i];
    } else if (o->kind == OPT_FLAG && value == NULL) {
        value = "yes";
    }
    return config_set(cfg, name, value, err, errlen);
}

/* Finds --config FILE (or --config=FILE) so the file can be applied first. */
static const char *find_config_path(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            path = argv[i] + 9;
    }
    return path;
}

int config_parse_args(config_t *cfg, int argc, char **argv, char *err, size_t errlen)
{
    const char *path = find_config_path(argc, argv);
    if (path != NULL && config_load_file(cfg, path, err, errlen) != 0)
        return -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc)
                return fail(err, errlen, "--config needs a file name");
            i++;
            continue;
        }
        if (strncmp(argv[i], "--config=", 9) == 0)
            continue;
        if (apply_arg(cfg, argc, argv, &i, err, errlen) != 0)
            return -1;
    }
    if (cfg->show_help || cfg->show_version)
        return 0;
    return config_validate(cfg, err, errlen);
}

/* Trims spaces and tabs at both ends, in place. */
static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

static int load_line(config_t *cfg, char *line, const char *path, int lineno, char *err,
                     size_t errlen)
{
    char *hash = strchr(line, '#');
    if (hash != NULL)
        *hash = '\0';
    char *key = trim(line);
    if (*key == '\0')
        return 0;
    char *value = key + strcspn(key, " \t");
    if (*value != '\0') {
        *value++ = '\0';
        value = trim(value);
    }
    if (strcmp(key, "config") == 0)
        return fail(err, errlen, "%s:%d: a config file cannot include another", path, lineno);
    const opt_t *o = find_option(key);
    if (o != NULL && o->kind == OPT_ACTION)
        return fail(err, errlen, "%s:%d: '%s' is not a setting", path, lineno, key);
    char msg[CONFIG_ERR_MAX];
    if (config_set(cfg, key, *value ? value : NULL, msg, sizeof(msg)) != 0)
        return fail(err, errlen, "%s:%d: %s", path, lineno, msg);
    return 0;
}

int config_load_file(config_t *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return fail(err, errlen, "--config: cannot open '%s': %s", path, strerror(errno));
    char line[1024];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f))
            rc = fail(err, errlen, "%s:%d: line too long", path, lineno);
        else
            rc = load_line(cfg, line, path, lineno, err, errlen);
    }
    fclose(f);
    return rc;
}

int config_validate(const config_t *cfg, char *err, size_t errlen)
{
    if ((int64_t)cfg->room_first + (int64_t)cfg->room_count - 1 > INT32_MAX)
        return fail(err, errlen,
                    "--room-first %" PRId32 " with --room-count %" PRIu32
                    " goes past the largest room number 2147483647",
                    cfg->room_first, cfg->room_count);
    return 0;
}

const char *config_io_backend_name(config_io_backend_t b)
{
    static const char *const names[] = {"auto", "uring", "epoll"};
    return (unsigned)b < 3 ? names[b] : "?";
}

const char *config_auth_name(config_auth_t a)
{
    static const char *const names[] = {"memory", "redis", "none"};
    return (unsigned)a < 3 ? names[a] : "?";
}

const char *config_pwhash_cost_name(config_pwhash_cost_t c)
{
    static const char *const names[] = {"min", "interactive", "moderate"};
    return (unsigned)c < 3 ? names[c] : "?";
}

const char *config_usage(void)
{
    return "usage: ringchat [options]\n"
           "       ringchat user add ID --redis HOST:PORT   (password read from stdin)\n"
           "\n"
           "  --bind ADDR               listen address (default 127.0.0.1)\n"
           "  --port N                  listen port (default 7000; 0 = any free port)\n"
           "  --threads N               worker threads (default: number of CPUs)\n"
           "  --io-backend B            auto|uring|epoll (default auto)\n"
           "  --auth A                  memory|redis|none (default memory)\n"
           "  --redis HOST:PORT         Redis for --auth redis (default 127.0.0.1:6379)\n"
           "  --redis-legacy-plain      Redis holds plain passwords (GET ID); insecure\n"
           "  --room-first N            first room number (default 0)\n"
           "  --room-count N            number of rooms (default 1000000)\n"
           "  --room-capacity N         members per room (default 1024)\n"
           "  --max-clients N           logged-in users at once (default 10000); more get\n"
           "                            LOGIN_RES 32\n"
           "  --max-unauth N            connections not logged in yet (default 1024); more\n"
           "                            are refused with ERROR_NTF 9\n"
           "  --unauth-timeout S        close connections that have not logged in after S\n"
           "                            seconds (default 30; 0 = never)\n"
           "  --login-attempts N        failed logins per connection, answered ever slower,\n"
           "                            then ERROR_NTF 10 and close (default 5; 0 = no limit)\n"
           "  --max-packet N            largest packet in bytes (default 4096)\n"
           "  --outbox-limit BYTES      per-client queued output before it is dropped as a\n"
           "                            slow consumer (default 8m; k/m/g suffixes)\n"
           "  --chat-rate N/s           chat messages per second per client, burst 2N\n"
           "                            (default 20/s; 0 = unlimited)\n"
           "  --idle-timeout S          close clients silent for S seconds (default 300; 0 = "
           "never)\n"
           "  --login-timeout S         answer every login within S seconds (default 3)\n"
           "  --memory-users N          --auth memory: ids registered at most (default\n"
           "                            100000); a new id beyond gets LOGIN_RES 34\n"
           "  --pwhash-cost C           min|interactive|moderate argon2id cost (default "
           "interactive)\n"
           "  --memory-trim S           every S seconds give memory cached after a burst\n"
           "                            back to the system (default 10; 0 = never)\n"
           "  --metrics-port N          serve /metrics on 127.0.0.1:N (default 0 = off)\n"
           "  --log-level L             error|warn|info|debug (default info)\n"
           "  --config FILE             read 'name value' lines (same names, no dashes)\n"
           "  --help                    show this text\n"
           "  --version                 show the version\n";
}
