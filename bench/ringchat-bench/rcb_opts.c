/* rcb_opts.c: ringchat-bench's command line (--help lists it). Called once
 * by main before anything starts. Never exits the process: it returns a
 * status and prints the reason on stderr. Every value is range-checked so
 * that the rest of the program can trust the options. */
#include "rcb.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: ringchat-bench [options]\n"
            "Drives R rooms x M members of chat against ringchat or Redis pub/sub and\n"
            "reports published/s, delivered/s, latency percentiles and errors.\n"
            "  --target ringchat|redis   server kind (default ringchat)\n"
            "  --host ADDR --port N      server address (default 127.0.0.1, 7000 / 6379)\n"
            "  --rooms R --members M     topology (default 10 x 10); clients = R x M\n"
            "  --room-first N            first room number (default 0)\n"
            "  --senders FRACTION        share of each room's members that send (default 1)\n"
            "  --size BYTES              chat payload bytes, %d..%d (default 64)\n"
            "  --warmup S --duration S   unmeasured then measured seconds (default 2, 10)\n"
            "  --rate N                  open loop: N msgs/s in total, evenly paced; latency\n"
            "                            from the intended send time (default 0 = closed loop)\n"
            "  --inflight K              closed loop: messages in flight per sender (default 1)\n"
            "  --churn N[/s]             ringchat: N churn events per second in total\n"
            "                            (default 0 = none): a churner stops sending, waits for\n"
            "                            its messages in flight, then leaves its room and\n"
            "                            enters the next one, or disconnects, reconnects, logs\n"
            "                            in and enters the next room\n"
            "  --churners FRACTION       share of each room's members that churn: the last\n"
            "                            ones (default 0.5). Deliveries to churners are counted\n"
            "                            in delivered/s but not checked for loss: expected\n"
            "                            deliveries count only the members that never churn\n"
            "  --churn-reconnect F       share of churn events that reconnect (default 0.5)\n"
            "  --threads N               event-loop threads (default 1)\n"
            "  --connect-concurrency N   connections in set-up at once (default 256)\n"
            "  --setup-timeout S         (default 60)   --drain-timeout S (default 10)\n"
            "  --source-addrs N          spread over 127.0.0.1..N (default: one per 28000)\n"
            "  --id-prefix P             ringchat user ids P-INDEX (default b<pid>)\n"
            "  --password PW             ringchat password (default bench)\n"
            "  --channel-prefix P        redis channels PROOM (default rcb:<pid>:)\n"
            "  --server-pid PID          sample the server's CPU time and RSS\n"
            "  --server-banner TEXT      server banner; backend= and threads= go to --json\n"
            "  --label TEXT              a tag copied into the --json line\n"
            "  --json                    one JSON line on stdout (the table goes to stderr)\n"
            "  --quiet                   no progress line per second\n",
            RCB_PAYLOAD_MIN, RCB_PAYLOAD_MAX);
}

static bool num(const char *s, double min, double max, double *out)
{
    char *end;
    if (s == NULL || *s == '\0')
        return false;
    double v = strtod(s, &end);
    if (*end != '\0' || !(v >= min && v <= max))
        return false;
    *out = v;
    return true;
}

static bool u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
    double v;
    if (!num(s, min, max, &v) || v != (double)(uint32_t)v)
        return false;
    *out = (uint32_t)v;
    return true;
}

static bool str(const char *s, char *dst, size_t cap)
{
    size_t n = strlen(s);
    if (n >= cap)
        return false;
    memcpy(dst, s, n + 1);
    return true;
}

/* "N" or "N/s", 0..1e6. */
static bool per_second(const char *s, double *out)
{
    char buf[32];
    size_t n = strlen(s);
    if (n >= 2 && strcmp(s + n - 2, "/s") == 0)
        n -= 2;
    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return num(buf, 0, 1e6, out);
}

static bool target(const char *s, rcb_target_kind_t *out)
{
    if (strcmp(s, "ringchat") != 0 && strcmp(s, "redis") != 0)
        return false;
    *out = strcmp(s, "redis") == 0 ? RCB_TARGET_REDIS : RCB_TARGET_RINGCHAT;
    return true;
}

static bool ipv4(const char *s, char *dst, size_t cap)
{
    struct in_addr a;
    return inet_pton(AF_INET, s, &a) == 1 && str(s, dst, cap);
}

enum {
    O_TARGET = 256,
    O_HOST,
    O_PORT,
    O_ROOMS,
    O_MEMBERS,
    O_ROOM_FIRST,
    O_SENDERS,
    O_SIZE,
    O_WARMUP,
    O_DURATION,
    O_RATE,
    O_INFLIGHT,
    O_CHURN,
    O_CHURNERS,
    O_CHURN_RECONNECT,
    O_THREADS,
    O_CONCUR,
    O_SETUP_TO,
    O_DRAIN_TO,
    O_SRC,
    O_ID_PREFIX,
    O_PASSWORD,
    O_CHAN,
    O_PID,
    O_BANNER,
    O_LABEL,
    O_JSON,
    O_QUIET,
    O_HELP
};

static const struct option longopts[] = {
    {"target", required_argument, 0, O_TARGET},
    {"host", required_argument, 0, O_HOST},
    {"port", required_argument, 0, O_PORT},
    {"rooms", required_argument, 0, O_ROOMS},
    {"members", required_argument, 0, O_MEMBERS},
    {"room-first", required_argument, 0, O_ROOM_FIRST},
    {"senders", required_argument, 0, O_SENDERS},
    {"size", required_argument, 0, O_SIZE},
    {"warmup", required_argument, 0, O_WARMUP},
    {"duration", required_argument, 0, O_DURATION},
    {"rate", required_argument, 0, O_RATE},
    {"inflight", required_argument, 0, O_INFLIGHT},
    {"churn", required_argument, 0, O_CHURN},
    {"churners", required_argument, 0, O_CHURNERS},
    {"churn-reconnect", required_argument, 0, O_CHURN_RECONNECT},
    {"threads", required_argument, 0, O_THREADS},
    {"connect-concurrency", required_argument, 0, O_CONCUR},
    {"setup-timeout", required_argument, 0, O_SETUP_TO},
    {"drain-timeout", required_argument, 0, O_DRAIN_TO},
    {"source-addrs", required_argument, 0, O_SRC},
    {"id-prefix", required_argument, 0, O_ID_PREFIX},
    {"password", required_argument, 0, O_PASSWORD},
    {"channel-prefix", required_argument, 0, O_CHAN},
    {"server-pid", required_argument, 0, O_PID},
    {"server-banner", required_argument, 0, O_BANNER},
    {"label", required_argument, 0, O_LABEL},
    {"json", no_argument, 0, O_JSON},
    {"quiet", no_argument, 0, O_QUIET},
    {"help", no_argument, 0, O_HELP},
    {0, 0, 0, 0},
};

static void defaults(rcb_opts_t *o)
{
    memset(o, 0, sizeof(*o));
    o->target = RCB_TARGET_RINGCHAT;
    strcpy(o->host, "127.0.0.1");
    o->rooms = 10;
    o->members = 10;
    o->senders = 1.0;
    o->size = 64;
    o->warmup_s = 2;
    o->duration_s = 10;
    o->setup_timeout_s = 60;
    o->drain_timeout_s = 10;
    o->inflight = 1;
    o->churners = 0.5;
    o->churn_reconnect = 0.5;
    o->threads = 1;
    o->connect_concurrency = 256;
    snprintf(o->id_prefix, sizeof(o->id_prefix), "b%x", (unsigned)getpid());
    strcpy(o->password, "bench");
    snprintf(o->channel_prefix, sizeof(o->channel_prefix), "rcb:%x:", (unsigned)getpid());
}

/* The --churn options; false if the value is out of range. */
static bool apply_churn(rcb_opts_t *o, int c, const char *v)
{
    if (c == O_CHURN)
        return per_second(v, &o->churn_rate);
    return num(v, 0, 1, c == O_CHURNERS ? &o->churners : &o->churn_reconnect);
}

/* Applies one option; false if its value is out of range. */
static bool apply(rcb_opts_t *o, int c, const char *v, bool *port_set)
{
    uint32_t x;
    switch (c) {
    case O_TARGET:
        return target(v, &o->target);
    case O_HOST:
        return ipv4(v, o->host, sizeof(o->host));
    case O_PORT:
        *port_set = true;
        return u32(v, 1, 65535, &x) && (o->port = (uint16_t)x, true);
    case O_ROOMS:
        return u32(v, 1, 1000000, &o->rooms);
    case O_MEMBERS:
        return u32(v, 1, 100000, &o->members);
    case O_ROOM_FIRST:
        return u32(v, 0, 2000000000, &o->room_first);
    case O_SENDERS:
        return num(v, 0, 1, &o->senders);
    case O_SIZE:
        return u32(v, RCB_PAYLOAD_MIN, RCB_PAYLOAD_MAX, &o->size);
    case O_WARMUP:
        return num(v, 0, 3600, &o->warmup_s);
    case O_DURATION:
        return num(v, 0.1, 3600, &o->duration_s);
    case O_RATE:
        return num(v, 0, 1e8, &o->rate);
    case O_INFLIGHT:
        return u32(v, 1, 1024, &o->inflight);
    case O_CHURN:
    case O_CHURNERS:
    case O_CHURN_RECONNECT:
        return apply_churn(o, c, v);
    case O_THREADS:
        return u32(v, 1, 64, &o->threads);
    case O_CONCUR:
        return u32(v, 1, 100000, &o->connect_concurrency);
    case O_SETUP_TO:
        return num(v, 1, 3600, &o->setup_timeout_s);
    case O_DRAIN_TO:
        return num(v, 0.1, 600, &o->drain_timeout_s);
    case O_SRC:
        return u32(v, 1, 254, &o->source_addrs);
    case O_ID_PREFIX:
        return *v != '\0' && str(v, o->id_prefix, sizeof(o->id_prefix));
    case O_PASSWORD:
        return str(v, o->password, sizeof(o->password));
    case O_CHAN:
        return str(v, o->channel_prefix, sizeof(o->channel_prefix));
    case O_PID:
        return u32(v, 1, 1u << 30, &x) && (o->server_pid = (int)x, true);
    case O_BANNER:
        snprintf(o->server_banner, sizeof(o->server_banner), "%s", v);
        return true;
    case O_LABEL:
        /* Copied into JSON unescaped: plain characters only. */
        return strspn(v,
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:/=+ -") ==
                   strlen(v) &&
               str(v, o->label, sizeof(o->label));
    }
    return false;
}

int rcb_opts_parse(rcb_opts_t *o, int argc, char **argv)
{
    defaults(o);
    bool port_set = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == O_HELP) {
            usage(stdout);
            return 1;
        }
        if (c == O_JSON || c == O_QUIET) {
            *(c == O_JSON ? &o->json : &o->quiet) = true;
            continue;
        }
        if (c == '?' || c == ':') {
            fprintf(stderr, "ringchat-bench: unknown option or missing value: %s (see --help)\n",
                    argv[optind - 1]);
            return -1;
        }
        if (!apply(o, c, optarg, &port_set)) {
            fprintf(stderr, "ringchat-bench: bad value '%s' for %s (see --help)\n", optarg,
                    argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ringchat-bench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (!port_set)
        o->port = o->target == RCB_TARGET_REDIS ? 6379 : 7000;
    if ((uint64_t)o->rooms * o->members > 1000000) {
        fprintf(stderr, "ringchat-bench: at most 1,000,000 clients\n");
        return -1;
    }
    if (o->churn_rate > 0 && o->target != RCB_TARGET_RINGCHAT) {
        fprintf(stderr, "ringchat-bench: --churn works with --target ringchat only\n");
        return -1;
    }
    if (o->churn_rate > 0 && o->churners <= 0) {
        fprintf(stderr, "ringchat-bench: --churn needs --churners above 0\n");
        return -1;
    }
    if ((uint64_t)o->room_first + o->rooms > 2147483647u) {
        fprintf(stderr, "ringchat-bench: room numbers past 2^31-1\n");
        return -1;
    }
    return 0;
}

uint32_t rcb_senders_per_room(const rcb_opts_t *o)
{
    if (o->senders <= 0)
        return 0;
    uint32_t s = (uint32_t)lround(o->senders * o->members);
    return s == 0 ? 1 : (s > o->members ? o->members : s);
}

uint32_t rcb_churners_per_room(const rcb_opts_t *o)
{
    if (o->churn_rate <= 0 || o->churners <= 0)
        return 0;
    uint32_t c = (uint32_t)lround(o->churners * o->members);
    return c == 0 ? 1 : (c > o->members ? o->members : c);
}
