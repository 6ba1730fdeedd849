/* server.c: wiring of net ports, the actor scheduler and the session actors
 * (see server.h).
 *
 * The worker loop (one thread per worker, the io_uring/IOCP "worker"):
 *   1. fire due timers;  2. run a bounded batch of ready actors;
 *   3. if nothing ran and sched_idle_begin() agrees that nothing is queued,
 *      block in net_port_run() until a completion, a wake-up or the next
 *      timer; otherwise only reap what is ready (timeout 0).
 * The scheduler's wake hook is net_port_wake(), so a message sent to an
 * actor on a sleeping worker interrupts that worker's wait: no polling.
 * Net callbacks never touch session state: each completion becomes a
 * message to the connection's session actor. */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "directory.h"
#include "ckpr.h"
#include "log.h"
#include "memory.h"
#include "metrics.h"
#include "login.h"
#include "net.h"
#include "scheduler.h"
#include "session.h"
#include "timer.h"

/* Actors run per loop turn before the port is serviced again. */
#define WORKER_BATCH 64

typedef struct conn_link conn_link_t;

typedef struct worker {
    struct server *srv;
    unsigned index;
    net_port_t *port;
    pthread_t thread;
    bool started;
    bool drain_sent;     /* shutdown: this worker's sessions were told */
    bool drained;        /* shutdown: this worker's port has no connection left */
    conn_link_t *links;  /* this port's connections (owner thread only) */
    uint64_t trim_at_ms; /* when this worker next calls memory_trim */
    /* Closes by net_close_reason_t; written by the owner thread only, read
     * by the metrics thread (atomic stores/loads of a single writer). */
    uint64_t closed_by_reason[NET_CLOSE_SHUTDOWN + 1];
} worker_t;

struct server {
    chat_ctx_t chat;
    sched_t *sched;
    unsigned nworkers;
    worker_t *workers;
    uint16_t port;
    atomic_bool stop;       /* set once by server_destroy; read by every worker loop */
    atomic_bool ports_gone; /* set before ports are destroyed: the wake hook stops */
    atomic_bool draining;   /* set once by server_shutdown */
    atomic_uint ndrained;   /* workers whose port has emptied while draining */
    uint64_t drain_deadline_ms;
    bool joined; /* server_shutdown joined the workers */
    metrics_t *metrics;
    uint16_t metrics_port;
    const char *auth_name;
    uint64_t outbox_limit;
    uint64_t trim_ms; /* --memory-trim; 0 = never */
};

/* What a connection's net udata points to: its session actor. Allocated on
 * accept, freed in on_close, both on the port's owner thread, which also
 * keeps them in a list so that a shutdown can reach every session. */
struct conn_link {
    conn_link_t *prev, *next;
    actor_ref_t session;
};

/* A connection that gets no session is told why (best effort) and closed
 * once that is flushed. */
static void refuse(net_conn_t conn, uint16_t code)
{
    net_buf_t *b = chat_error_ntf(code, 0);
    if (b != NULL)
        chat_send_encoded(conn, b, net_buf_len(b));
    net_conn_close(conn, true);
}

static void on_accept(net_conn_t conn, void *udata)
{
    worker_t *w = udata;
    if (atomic_load(&w->srv->draining)) {
        /* Accepted while shutting down (it connected just before). */
        refuse(conn, PROTO_ERR_SERVER_SHUTDOWN);
        return;
    }
    conn_link_t *link = calloc(1, sizeof(*link));
    int rc = link != NULL ? session_spawn(&w->srv->chat, conn, &link->session) : -ENOMEM;
    if (rc != 0) {
        free(link);
        if (rc == -EBUSY) { /* --max-unauth: session_spawn logged and counted it */
            refuse(conn, PROTO_ERR_TOO_MANY_CONNECTIONS);
            return;
        }
        log_warn("out of memory for a new connection: closing it");
        net_conn_close(conn, false);
        return;
    }
    net_conn_set_udata(conn, link);
    link->next = w->links;
    if (w->links != NULL)
        w->links->prev = link;
    w->links = link;
}

static void on_data(net_conn_t conn, const uint8_t *data, size_t len, void *udata)
{
    (void)udata;
    conn_link_t *link = net_conn_udata(conn);
    if (link == NULL)
        return;
    msg_t *m = session_data_msg(data, len);
    if (m == NULL) {
        log_warn("out of memory for received bytes: closing the connection");
        net_conn_close(conn, false);
        return;
    }
    (void)actor_send(link->session, m); /* a stale session already released m */
}

static void on_close(net_conn_t conn, net_close_reason_t reason, void *udata)
{
    worker_t *w = udata;
    conn_link_t *link = net_conn_udata(conn);
    if ((unsigned)reason <= NET_CLOSE_SHUTDOWN)
        ck_pr_store_64(&w->closed_by_reason[reason], w->closed_by_reason[reason] + 1);
    if (reason == NET_CLOSE_SLOW_CONSUMER)
        chat_limit_hit(&w->srv->chat, CHAT_LIMIT_OUTBOX,
                       "a client was disconnected as a slow consumer (its queued output passed "
                       "%" PRIu64 " bytes)",
                       w->srv->outbox_limit);
    if (link == NULL)
        return;
    msg_t *m = session_closed_msg(reason);
    if (m != NULL)
        (void)actor_send(link->session, m);
    if (link->prev != NULL)
        link->prev->next = link->next;
    else
        w->links = link->next;
    if (link->next != NULL)
        link->next->prev = link->prev;
    free(link);
}

/* The client has finished sending (it may still read): its session answers
 * what it sent, then closes after the flush. */
static void on_eof(net_conn_t conn, void *udata)
{
    (void)udata;
    conn_link_t *link = net_conn_udata(conn);
    msg_t *m = link != NULL ? msg_alloc(SESSION_MSG_EOF) : NULL;
    if (m == NULL || actor_send(link->session, m) != 0)
        net_conn_close(conn, true); /* (a stale session already released m) */
}

static void wake_worker(void *ctx, unsigned w)
{
    struct server *srv = ctx;
    if (!atomic_load(&srv->ports_gone))
        net_port_wake(srv->workers[w].port);
}

static void wake_all(struct server *srv)
{
    for (unsigned i = 0; i < srv->nworkers; i++)
        net_port_wake(srv->workers[i].port);
}

/* How long a worker may block: until its next timer, its next trim or
 * the drain deadline. */
static int block_timeout_ms(worker_t *w)
{
    uint64_t now = timer_now_ms();
    int64_t ms = timer_next_ms(w->srv->sched, w->index, now);
    int64_t trim = w->trim_at_ms > now ? (int64_t)(w->trim_at_ms - now) : 0;
    if (w->srv->trim_ms != 0 && (ms < 0 || trim < ms))
        ms = trim;
    if (atomic_load(&w->srv->draining)) {
        int64_t left = (int64_t)(w->srv->drain_deadline_ms - now);
        if (ms < 0 || left < ms)
            ms = left > 0 ? left : 0;
    }
    if (ms < 0)
        return -1;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

/* Shutdown, on each worker: tell this port's sessions once (each answers
 * ERROR_NTF 8, flushes and closes); count this port as drained when its
 * last connection is gone; stop every worker when all are drained or the
 * deadline has passed. Returns true when this worker should stop. */
static bool drain_step(worker_t *w)
{
    struct server *srv = w->srv;
    if (!w->drain_sent) {
        for (conn_link_t *l = w->links; l != NULL; l = l->next) {
            msg_t *m = msg_alloc(SESSION_MSG_SHUTDOWN);
            if (m != NULL)
                (void)actor_send(l->session, m);
        }
        w->drain_sent = true;
    }
    if (!w->drained && net_port_conn_count(w->port) == 0) {
        w->drained = true;
        if (atomic_fetch_add(&srv->ndrained, 1) + 1 == srv->nworkers)
            wake_all(srv); /* the others may be blocked until the deadline */
    }
    return atomic_load(&srv->ndrained) == srv->nworkers || timer_now_ms() >= srv->drain_deadline_ms;
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    sched_t *s = w->srv->sched;
    sched_worker_enter(s, w->index);
    w->trim_at_ms = timer_now_ms() + w->srv->trim_ms;
    while (!atomic_load(&w->srv->stop)) {
        if (atomic_load(&w->srv->draining) && drain_step(w))
            break;
        uint64_t now = timer_now_ms();
        timer_run_due(s, w->index, now);
        if (w->srv->trim_ms != 0 && now >= w->trim_at_ms) {
            memory_trim(w->index);
            w->trim_at_ms = now + w->srv->trim_ms;
        }
        size_t ran = sched_run_batch(s, w->index, WORKER_BATCH);
        bool idle = ran == 0 && sched_idle_begin(s, w->index);
        int rc = net_port_run(w->port, idle ? block_timeout_ms(w) : 0);
        if (idle)
            sched_idle_end(s, w->index);
        if (rc < 0 && rc != -EINTR) {
            log_error("worker %u: event loop failed: %s", w->index, strerror(-rc));
            break;
        }
    }
    sched_worker_leave(s, w->index);
    return NULL;
}

static net_backend_t net_backend_of(config_io_backend_t b)
{
    switch (b) {
    case CONFIG_IO_URING:
        return NET_BACKEND_URING;
    case CONFIG_IO_EPOLL:
        return NET_BACKEND_EPOLL;
    default:
        return NET_BACKEND_AUTO;
    }
}

static void net_log(void *udata, const char *line)
{
    (void)udata;
    log_warn("net: %s", line);
}

static unsigned cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* The workers' listeners share the port with SO_REUSEPORT, which would also
 * let a second ringchat (same user) bind it and silently take half of the
 * connections. A plain bind first, without SO_REUSEPORT, fails with
 * EADDRINUSE when anyone listens there already. Returns 0 or -errno. */
static int check_port_free(const char *addr, uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    if (port == 0)
        return 0;
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        return -EINVAL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1, rc = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* Creates worker w's port and listener; worker 0 resolves a port of 0. */
static int worker_open(struct server *srv, unsigned i, const config_t *cfg,
                       const net_config_t *ncfg, char *err, size_t errlen)
{
    static const net_callbacks_t callbacks = {on_accept, on_data, on_close, on_eof};
    worker_t *w = &srv->workers[i];
    w->srv = srv;
    w->index = i;
    w->port = net_port_create(ncfg, &callbacks, w);
    if (w->port == NULL) {
        snprintf(err, errlen, "cannot create the %s event loop: %s",
                 config_io_backend_name(cfg->io_backend), strerror(errno));
        return -1;
    }
    uint16_t want = i == 0 ? cfg->port : srv->port;
    int rc = net_port_listen(w->port, cfg->bind, want);
    if (rc != 0) {
        snprintf(err, errlen, "cannot listen on %s:%u: %s", cfg->bind, (unsigned)want,
                 strerror(-rc));
        return -1;
    }
    if (i == 0)
        srv->port = net_port_bound_port(w->port);
    return 0;
}

static void chat_config_from(chat_config_t *c, const config_t *cfg)
{
    c->max_packet = cfg->max_packet;
    c->room_first = cfg->room_first;
    c->room_count = cfg->room_count;
    c->room_capacity = cfg->room_capacity;
    c->max_users = cfg->max_clients;
    c->max_unauth = cfg->max_unauth;
    c->unauth_timeout_ms = cfg->unauth_timeout_s * 1000;
    c->login_attempts = cfg->login_attempts;
    c->chat_rate = cfg->chat_rate;
    c->chat_burst = cfg->chat_burst;
    c->idle_timeout_ms = cfg->idle_timeout_s * 1000;
    c->login_timeout_ms = cfg->login_timeout_s * 1000;
}

static void chat_warn(const char *line)
{
    log_warn("%s", line);
}

static void auth_log(int level, const char *msg)
{
    log_msg((log_level_t)level, "auth: %s", msg);
}

static const auth_kind_t auth_kinds[] = {[CONFIG_AUTH_MEMORY] = AUTH_MEMORY,
                                         [CONFIG_AUTH_REDIS] = AUTH_REDIS,
                                         [CONFIG_AUTH_NONE] = AUTH_NONE};
static const pwhash_cost_t pwhash_costs[] = {[CONFIG_PWHASH_MIN] = PWHASH_COST_MIN,
                                             [CONFIG_PWHASH_INTERACTIVE] = PWHASH_COST_INTERACTIVE,
                                             [CONFIG_PWHASH_MODERATE] = PWHASH_COST_MODERATE};

/* The auth backend and the directory and login shards (2 of each per worker:
 * enough that one busy shard rarely holds a worker up). */
static int chat_start(struct server *srv, const config_t *cfg, char *err, size_t errlen)
{
    auth_config_t acfg;
    auth_config_default(&acfg, auth_kinds[cfg->auth]);
    acfg.redis_host = cfg->redis_host;
    acfg.redis_port = cfg->redis_port;
    acfg.legacy_plain = cfg->redis_legacy_plain;
    acfg.cost = pwhash_costs[cfg->pwhash_cost];
    acfg.timeout_ms = cfg->login_timeout_s * 1000;
    acfg.max_users = cfg->memory_users;
    acfg.log = auth_log;
    srv->chat.auth = auth_create(&acfg);
    if (srv->chat.auth == NULL) {
        snprintf(err, errlen, "cannot start the %s auth backend", config_auth_name(cfg->auth));
        return -1;
    }
    unsigned shards = srv->nworkers * 2;
    srv->chat.ndirs = shards < CHAT_DIR_SHARDS_MAX ? shards : CHAT_DIR_SHARDS_MAX;
    srv->chat.nlogins = shards < CHAT_LOGIN_SHARDS_MAX ? shards : CHAT_LOGIN_SHARDS_MAX;
    for (unsigned i = 0; i < srv->chat.ndirs; i++) {
        if (directory_spawn(&srv->chat, &srv->chat.dirs[i]) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    for (unsigned i = 0; i < srv->chat.nlogins; i++) {
        if (login_spawn(&srv->chat, &srv->chat.logins[i]) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

server_t *server_create(const config_t *cfg, char *err, size_t errlen)
{
    struct server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL)
        return NULL;
    srv->nworkers = cfg->threads != 0 ? cfg->threads : cpu_count();
    chat_config_from(&srv->chat.cfg, cfg);
    srv->metrics_port = cfg->metrics_port;
    srv->chat.warn = chat_warn;
    srv->auth_name = config_auth_name(cfg->auth);
    srv->outbox_limit = cfg->outbox_limit;
    srv->trim_ms = (uint64_t)cfg->memory_trim_s * 1000;
    srv->chat.stats = aligned_alloc(64, srv->nworkers * sizeof(chat_stats_t));
    if (srv->chat.stats != NULL)
        memset(srv->chat.stats, 0, srv->nworkers * sizeof(chat_stats_t));
    srv->workers = calloc(srv->nworkers, sizeof(worker_t));
    sched_hooks_t hooks = {.wake = wake_worker, .ctx = srv};
    srv->sched = srv->workers && srv->chat.stats ? sched_create(srv->nworkers, &hooks) : NULL;
    if (srv->sched == NULL) {
        snprintf(err, errlen, "out of memory");
        server_destroy(srv);
        return NULL;
    }
    srv->chat.sched = srv->sched;
    if (chat_start(srv, cfg, err, errlen) != 0) {
        server_destroy(srv);
        return NULL;
    }
    net_config_t ncfg;
    net_config_init(&ncfg);
    ncfg.backend = net_backend_of(cfg->io_backend);
    ncfg.outbox_limit = cfg->outbox_limit;
    /* Any port may receive most connections (SO_REUSEPORT spreads them only
     * roughly), so each can hold every logged-in user (--max-clients) and
     * every connection not logged in yet (--max-unauth), plus a margin for
     * connections still closing. Those two limits answer a client (LOGIN_RES
     * 32, ERROR_NTF 9); a full table could only pause accepting. */
    ncfg.max_conns = cfg->max_clients + cfg->max_unauth + 64;
    ncfg.log = net_log;
    /* Sent (best effort) before a slow-consumer close; each port keeps its
     * own reference. */
    ncfg.overflow_notice = chat_error_ntf(PROTO_ERR_SLOW_CONSUMER, 0);
    int rc = check_port_free(cfg->bind, cfg->port);
    if (rc != 0) {
        snprintf(err, errlen, "cannot listen on %s:%u: %s", cfg->bind, (unsigned)cfg->port,
                 strerror(-rc));
        server_destroy(srv);
        return NULL;
    }
    for (unsigned i = 0; i < srv->nworkers; i++) {
        if (worker_open(srv, i, cfg, &ncfg, err, errlen) != 0) {
            net_buf_unref(ncfg.overflow_notice);
            server_destroy(srv);
            return NULL;
        }
    }
    net_buf_unref(ncfg.overflow_notice);
    return srv;
}

/* One counter or gauge, with its HELP and TYPE lines. */
static void metric(metrics_text_t *t, const char *name, const char *type, const char *help,
                   uint64_t value)
{
    metrics_printf(t, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name,
                   value);
}

/* LOGIN_RES by code, and the latency histogram of logins sent to a shard. */
static void render_logins(metrics_text_t *t, const chat_stats_t *c)
{
    metrics_printf(t, "# HELP ringchat_logins_total LOGIN_RES sent, by result.\n"
                      "# TYPE ringchat_logins_total counter\n");
    for (int i = 0; i < CHAT_LOGIN_CODES; i++)
        metrics_printf(t, "ringchat_logins_total{code=\"%u\",result=\"%s\"} %" PRIu64 "\n",
                       chat_login_codes[i], proto_code_name(chat_login_codes[i]), c->logins[i]);
    metrics_printf(t, "# HELP ringchat_login_seconds Time from LOGIN_REQ to LOGIN_RES.\n"
                      "# TYPE ringchat_login_seconds histogram\n");
    uint64_t cumulative = 0;
    for (int b = 0; b <= CHAT_LOGIN_BUCKETS; b++) {
        cumulative += c->login_ms[b];
        if (b < CHAT_LOGIN_BUCKETS)
            metrics_printf(t, "ringchat_login_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                           chat_login_bucket_ms[b] / 1000.0, cumulative);
        else
            metrics_printf(t, "ringchat_login_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
                           cumulative);
    }
    metrics_printf(t, "ringchat_login_seconds_sum %g\nringchat_login_seconds_count %" PRIu64 "\n",
                   c->login_ms_sum / 1000.0, cumulative);
}

/* Scheduling counters per worker (a hot room shows as one busy worker, and
 * stealing as the others taking its actors). */
static void render_workers(metrics_text_t *t, struct server *srv)
{
    static const char *const names[] = {"ringchat_actors_scheduled_total",
                                        "ringchat_actors_stolen_total", "ringchat_actor_runs_total",
                                        "ringchat_mailbox_depth_max"};
    static const char *const helps[] = {
        "Actors put on a worker's run queue.", "Actors a worker stole from another's queue.",
        "Actor runs (up to 64 messages each).",
        "Most messages one actor's mailbox held when a run on this worker took them."};
    for (int k = 0; k < 4; k++) {
        metrics_printf(t, "# HELP %s %s\n# TYPE %s %s\n", names[k], helps[k], names[k],
                       k == 3 ? "gauge" : "counter");
        for (unsigned i = 0; i < srv->nworkers; i++) {
            sched_stats_t w;
            sched_worker_stats(srv->sched, i, &w);
            uint64_t v = k == 0   ? w.schedules
                         : k == 1 ? w.steals
                         : k == 2 ? w.runs
                                  : w.mbox_depth_max;
            metrics_printf(t, "%s{worker=\"%u\"} %" PRIu64 "\n", names[k], i, v);
        }
    }
}

/* Limits hit, by the setting's name, and the gauges they bound. */
static void render_limits(metrics_text_t *t, struct server *srv, const chat_stats_t *c)
{
    metrics_printf(t, "# HELP ringchat_limit_hits_total Times a client hit a limit, by setting.\n"
                      "# TYPE ringchat_limit_hits_total counter\n");
    for (int i = 0; i < CHAT_LIMITS; i++)
        metrics_printf(t, "ringchat_limit_hits_total{limit=\"%s\"} %" PRIu64 "\n",
                       chat_limit_name((chat_limit_t)i), c->limit_hits[i]);
    metric(t, "ringchat_unauth_connections", "gauge", "Connections not logged in yet.",
           chat_unauth_count(&srv->chat));
    uint64_t queued = 0;
    for (unsigned i = 0; i < srv->nworkers; i++)
        queued += net_port_outbox_bytes(srv->workers[i].port);
    metric(t, "ringchat_outbox_bytes", "gauge", "Bytes queued to clients, not yet written.",
           queued);
}

/* The /metrics body: sums over the ports and workers, read without stopping
 * anything (each value is atomic; the set is not a snapshot). */
static void render_metrics(void *ctx, metrics_text_t *t)
{
    struct server *srv = ctx;
    net_stats_t n = {0};
    uint64_t conns = 0;
    for (unsigned i = 0; i < srv->nworkers; i++) {
        net_stats_t one;
        net_port_stats(srv->workers[i].port, &one);
        n.accepted += one.accepted, n.closed += one.closed, n.bytes_in += one.bytes_in;
        n.bytes_out += one.bytes_out, n.slow_closes += one.slow_closes;
        n.recv_enobufs += one.recv_enobufs, n.accept_pauses += one.accept_pauses;
        conns += net_port_conn_count(srv->workers[i].port);
    }
    chat_stats_t c;
    chat_stats_sum(&srv->chat, srv->nworkers, &c);
    auth_stats_t a;
    auth_get_stats(srv->chat.auth, &a);
    sched_stats_t sc;
    sched_stats(srv->sched, &sc);
    metrics_printf(t,
                   "# HELP ringchat_info Build and runtime facts.\n# TYPE ringchat_info gauge\n"
                   "ringchat_info{backend=\"%s\",threads=\"%u\",auth=\"%s\"} 1\n",
                   net_backend_name(srv->workers[0].port), srv->nworkers, srv->auth_name);
    metric(t, "ringchat_connections", "gauge", "Open connections.", conns);
    metric(t, "ringchat_connections_accepted_total", "counter", "Connections accepted.",
           n.accepted);
    metric(t, "ringchat_connections_closed_total", "counter", "Connections closed.", n.closed);
    metrics_printf(t, "# HELP ringchat_connections_closed_by_reason_total Closes by reason.\n"
                      "# TYPE ringchat_connections_closed_by_reason_total counter\n");
    for (unsigned r = NET_CLOSE_PEER; r <= NET_CLOSE_SHUTDOWN; r++) {
        uint64_t sum = 0;
        for (unsigned i = 0; i < srv->nworkers; i++)
            sum += ck_pr_load_64(&srv->workers[i].closed_by_reason[r]);
        metrics_printf(t,
                       "ringchat_connections_closed_by_reason_total{reason=\"%s\"} %" PRIu64 "\n",
                       net_close_reason_name((net_close_reason_t)r), sum);
    }
    metric(t, "ringchat_slow_consumer_disconnects_total", "counter",
           "Connections closed at --outbox-limit.", n.slow_closes);
    metric(t, "ringchat_bytes_in_total", "counter", "Bytes received.", n.bytes_in);
    metric(t, "ringchat_bytes_out_total", "counter", "Bytes sent.", n.bytes_out);
    metric(t, "ringchat_accept_pauses_total", "counter", "Times accepting paused (fd limit).",
           n.accept_pauses);
    metric(t, "ringchat_users_online", "gauge", "Logged-in users.",
           ck_pr_load_64((uint64_t *)&srv->chat.users_online));
    metric(t, "ringchat_chat_messages_accepted_total", "counter", "ROOM_CHAT_REQ answered 0.",
           c.chat_accepted);
    metric(t, "ringchat_notifies_queued_total", "counter",
           "ROOM_CHAT_NOTIFY packets queued to members.", c.notifies_queued);
    metrics_printf(t, "# HELP ringchat_auth_results_total Auth backend answers.\n"
                      "# TYPE ringchat_auth_results_total counter\n");
    metrics_printf(t, "ringchat_auth_results_total{result=\"ok\"} %" PRIu64 "\n", a.ok);
    metrics_printf(t, "ringchat_auth_results_total{result=\"denied\"} %" PRIu64 "\n", a.denied);
    metrics_printf(t, "ringchat_auth_results_total{result=\"unavailable\"} %" PRIu64 "\n",
                   a.unavailable);
    metric(t, "ringchat_auth_memory_users", "gauge", "Ids the memory backend has registered.",
           a.registered);
    metric(t, "ringchat_auth_memory_full_total", "counter",
           "New ids refused at --memory-users (LOGIN_RES 34).", a.registry_full);
    metric(t, "ringchat_rooms", "gauge", "Rooms with members.", c.rooms_created - c.rooms_freed);
    metric(t, "ringchat_room_members", "gauge", "Sessions in a room.",
           c.room_joins - c.room_leaves);
    render_logins(t, &c);
    render_limits(t, srv, &c);
    render_workers(t, srv);
    memory_render(t);
    metric(t, "ringchat_actor_messages_total", "counter", "Messages handed to actors.",
           sc.delivered);
}

int server_start(server_t *srv)
{
    if (srv->metrics_port != 0) {
        srv->metrics = metrics_start("127.0.0.1", srv->metrics_port, render_metrics, srv);
        if (srv->metrics == NULL)
            return -EADDRINUSE;
    }
    for (unsigned i = 0; i < srv->nworkers; i++) {
        int rc = pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]);
        if (rc != 0) {
            log_error("cannot start worker thread %u: %s", i, strerror(rc));
            return -rc;
        }
        srv->workers[i].started = true;
    }
    return 0;
}

void server_shutdown(server_t *srv, unsigned timeout_ms)
{
    srv->drain_deadline_ms = timer_now_ms() + timeout_ms;
    atomic_store(&srv->draining, true); /* after the deadline: workers read both */
    wake_all(srv);
    for (unsigned i = 0; i < srv->nworkers; i++) {
        if (srv->workers[i].started)
            pthread_join(srv->workers[i].thread, NULL);
    }
    srv->joined = true;
}

/* Order matters: (1) stop and join the workers; (2) destroy the auth backend
 * (it completes pending logins: their messages now only queue up); (3)
 * silence the wake hook, then destroy the ports, whose on_close callbacks
 * send CLOSED messages that also only queue up; (4) destroy the scheduler,
 * which releases those messages and runs every actor's on_exit. */
void server_destroy(server_t *srv)
{
    if (srv == NULL)
        return;
    metrics_stop(srv->metrics); /* first: it reads everything below */
    srv->metrics = NULL;
    atomic_store(&srv->stop, true);
    for (unsigned i = 0; i < srv->nworkers && srv->workers; i++) {
        if (srv->workers[i].port != NULL)
            net_port_wake(srv->workers[i].port);
    }
    for (unsigned i = 0; i < srv->nworkers && srv->workers && !srv->joined; i++) {
        if (srv->workers[i].started)
            pthread_join(srv->workers[i].thread, NULL);
    }
    auth_destroy(srv->chat.auth);
    atomic_store(&srv->ports_gone, true);
    for (unsigned i = 0; i < srv->nworkers && srv->workers; i++) {
        if (srv->workers[i].port != NULL)
            net_port_destroy(srv->workers[i].port);
    }
    sched_destroy(srv->sched);
    if (srv->chat.stats != NULL) {
        chat_stats_t st;
        chat_stats_sum(&srv->chat, srv->nworkers, &st);
        log_info("stats: chat_accepted=%" PRIu64 " notifies_queued=%" PRIu64, st.chat_accepted,
                 st.notifies_queued);
    }
    free(srv->chat.stats);
    free(srv->workers);
    free(srv);
}

uint16_t server_port(const server_t *srv)
{
    return srv->port;
}

unsigned server_threads(const server_t *srv)
{
    return srv->nworkers;
}

const char *server_backend(const server_t *srv)
{
    return net_backend_name(srv->workers[0].port);
}
