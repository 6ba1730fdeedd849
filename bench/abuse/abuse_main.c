/* abuse_main.c: ringchat-abuse's options, event loop and connection
 * plumbing (see abuse.h). Run by bench/abuse.sh, one mode per process, so
 * that the abusive connections never share the server's descriptor limit.
 * Never blocks except in epoll_wait (10 ms at most) and stops by itself when
 * --duration is over. Exit status: 0 after the run (the counters say what
 * happened), 2 for a bad command line. */
#include "abuse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

uint64_t ab_ctr[C_COUNT];
const ab_opts_t *ab_o;
uint64_t ab_now;

static int ep = -1;
static const ab_mode_t *mode;

static const char *const ctr_names[C_ERR_NTF_BASE] = {
    "connected", "connect_failed", "closed_by_server", "open_at_end", "login_ok", "login_refused",
    "enter_ok",  "enter_refused",  "leave_ok",         "chat_ok",     "chat_63",  "chat_other",
    "notifies",  "bytes_pushed",   "readers_cut",      "rounds",
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void set_events(ab_conn_t *c)
{
    uint32_t ev = EPOLLRDHUP | (c->reading ? EPOLLIN : 0) | (c->want_out ? EPOLLOUT : 0);
    struct epoll_event e = {.events = ev, .data.ptr = c};
    (void)epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

void ab_open(ab_conn_t *c, int rcvbuf)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        ab_ctr[C_CONNECT_FAILED]++;
        return;
    }
    if (rcvbuf > 0)
        (void)setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    int one = 1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(ab_o->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 && errno != EINPROGRESS) {
        close(c->fd);
        c->fd = -1;
        ab_ctr[C_CONNECT_FAILED]++;
        return;
    }
    c->state = AB_CONNECTING;
    c->step = 0;
    c->unacked = 0;
    c->reading = true;
    c->want_out = false;
    size_t max = c->ra.max_packet;
    proto_reasm_free(&c->ra);
    (void)proto_reasm_init(&c->ra, max);
    struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
    (void)epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
}

void ab_close(ab_conn_t *c)
{
    if (c->fd >= 0) {
        (void)epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = AB_IDLE;
}

/* The server ended c (EOF, reset, hang-up). */
static void server_closed(ab_conn_t *c)
{
    ab_close(c);
    ab_ctr[C_CLOSED_BY_SERVER]++;
    mode->closed(c);
}

size_t ab_send(ab_conn_t *c, const void *p, size_t n)
{
    if (c->state != AB_OPEN)
        return 0;
    ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN) {
        server_closed(c);
        return 0;
    }
    size_t done = w > 0 ? (size_t)w : 0;
    if (done < n && !c->want_out) {
        c->want_out = true;
        set_events(c);
    }
    return done;
}

void ab_reading(ab_conn_t *c, bool on)
{
    c->reading = on;
    if (c->state == AB_OPEN)
        set_events(c);
}

void ab_login(ab_conn_t *c, const char *password)
{
    char id[PROTO_ID_FIELD];
    uint8_t pkt[PROTO_HEADER_SIZE + PROTO_LOGIN_REQ_BODY];
    snprintf(id, sizeof(id), "%s-%s-%u", ab_o->prefix, ab_o->mode, c->k);
    size_t n = proto_encode_login_req(pkt, sizeof(pkt), id, password);
    (void)ab_send(c, pkt, n);
}

void ab_enter(ab_conn_t *c, int32_t room)
{
    uint8_t pkt[PROTO_HEADER_SIZE + 4];
    (void)ab_send(c, pkt, proto_encode_room_enter_req(pkt, sizeof(pkt), room));
}

void ab_leave(ab_conn_t *c)
{
    uint8_t pkt[PROTO_HEADER_SIZE];
    (void)ab_send(c, pkt, proto_encode_room_leave_req(pkt, sizeof(pkt)));
}

void ab_chat(ab_conn_t *c, const char *text)
{
    uint8_t pkt[PROTO_HEADER_SIZE + PROTO_MSG_FIELD];
    size_t n = proto_encode_room_chat_req_short(pkt, sizeof(pkt), text, strlen(text));
    if (ab_send(c, pkt, n) == n)
        c->unacked++;
}

int ab_result(const proto_packet_t *p)
{
    uint16_t r;
    return proto_decode_result(p->body, p->body_len, &r) == 0 ? r : -1;
}

static void on_readable(ab_conn_t *c)
{
    static uint8_t buf[1 << 16];
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        server_closed(c);
        return;
    }
    proto_reasm_feed(&c->ra, buf, (size_t)n);
    proto_packet_t p;
    int r;
    while (c->state == AB_OPEN && (r = proto_reasm_next(&c->ra, &p)) == PROTO_REASM_PACKET) {
        uint16_t code, id;
        if (p.hdr.id == PROTO_ERROR_NTF &&
            proto_decode_error_ntf(p.body, p.body_len, &code, &id) == 0 && code < 16)
            ab_ctr[C_ERR_NTF_BASE + code]++;
        mode->packet(c, &p);
    }
}

static void on_event(ab_conn_t *c, uint32_t ev)
{
    if (c->state == AB_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            ab_close(c);
            ab_ctr[C_CONNECT_FAILED]++;
            mode->closed(c);
            return;
        }
        c->state = AB_OPEN;
        ab_ctr[C_CONNECTED]++;
        set_events(c);
        mode->connected(c);
        return;
    }
    if (c->state == AB_OPEN && (ev & EPOLLIN))
        on_readable(c);
    else if (c->state == AB_OPEN && (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        server_closed(c); /* not reading: the hang-up is all we see */
    if (c->state == AB_OPEN && (ev & EPOLLOUT)) {
        c->want_out = false;
        set_events(c);
        if (mode->writable != NULL)
            mode->writable(c);
    }
}

/* Runs the loop until the deadline; every 10 ms at most it fires due timers. */
static void run(ab_conn_t *conns, uint32_t n)
{
    uint64_t end = now_ns() + (uint64_t)(ab_o->duration_s * 1e9);
    struct epoll_event evs[256];
    while ((ab_now = now_ns()) < end) {
        int k = epoll_wait(ep, evs, 256, 10);
        ab_now = now_ns();
        for (int i = 0; i < k; i++)
            on_event(evs[i].data.ptr, evs[i].events);
        for (uint32_t i = 0; mode->due != NULL && i < n; i++)
            if (conns[i].due_ns != 0 && conns[i].due_ns <= ab_now) {
                conns[i].due_ns = 0;
                mode->due(&conns[i]);
            }
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: ringchat-abuse --mode MODE --port N [--conns N] [--duration S]\n"
               "         [--senders N] [--rate N] [--room R] [--max-packet N] [--prefix P]\n"
               "Drives N connections that misbehave in one way against a ringchat server\n"
               "for --duration seconds (default 20), then prints key=value counters.\n"
               "Modes:\n");
    for (unsigned i = 0; i < ab_nmodes; i++)
        fprintf(f, "  %-9s %s\n", ab_modes[i].name, ab_modes[i].help);
}

static const struct option longopts[] = {
    {"mode", 1, 0, 'm'},     {"port", 1, 0, 'p'}, {"conns", 1, 0, 'n'}, {"senders", 1, 0, 's'},
    {"duration", 1, 0, 'd'}, {"rate", 1, 0, 'r'}, {"room", 1, 0, 'R'},  {"max-packet", 1, 0, 'M'},
    {"prefix", 1, 0, 'P'},   {"help", 0, 0, 'h'}, {0, 0, 0, 0},
};

/* One option with its value; false if the option is unknown. The ranges
 * are checked once all are read (parse). */
static bool apply(ab_opts_t *o, int c, const char *v)
{
    switch (c) {
    case 'm':
        o->mode = v;
        return true;
    case 'p':
        o->port = (uint16_t)atoi(v);
        return true;
    case 'n':
        o->conns = (uint32_t)atoi(v);
        return true;
    case 's':
        o->senders = (uint32_t)atoi(v);
        return true;
    case 'd':
        o->duration_s = atof(v);
        return true;
    case 'r':
        o->rate = atof(v);
        return true;
    case 'R':
        o->room = atoi(v);
        return true;
    case 'M':
        o->max_packet = (uint32_t)atoi(v);
        return true;
    case 'P':
        snprintf(o->prefix, sizeof(o->prefix), "%s", v);
        return true;
    }
    return false;
}

/* Parses argv into o; 0, or 2 after printing why. */
static int parse(int argc, char **argv, ab_opts_t *o)
{
    *o = (ab_opts_t){.conns = 100,
                     .senders = 100,
                     .duration_s = 20,
                     .rate = 19,
                     .max_packet = 4096,
                     .room = 500000};
    snprintf(o->prefix, sizeof(o->prefix), "a%x", (unsigned)getpid());
    int c;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            exit(0);
        }
        if (!apply(o, c, optarg)) {
            usage(stderr);
            return 2;
        }
    }
    for (unsigned i = 0; o->mode != NULL && i < ab_nmodes; i++)
        if (strcmp(o->mode, ab_modes[i].name) == 0)
            mode = &ab_modes[i];
    bool ok = mode != NULL && o->port != 0 && o->conns > 0 && o->conns <= 19000 &&
              o->senders <= 1000 && o->duration_s > 0 && o->duration_s <= 600 && o->rate > 0 &&
              o->max_packet >= 64 && o->max_packet <= 65535;
    if (!ok)
        usage(stderr);
    return ok ? 0 : 2;
}

int main(int argc, char **argv)
{
    static ab_opts_t o;
    if (parse(argc, argv, &o) != 0)
        return 2;
    ab_o = &o;
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    uint32_t n = o.conns + (strcmp(o.mode, "noread") == 0 ? o.senders : 0);
    ab_conn_t *conns = calloc(n, sizeof(*conns));
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (conns == NULL || ep < 0)
        return 1;
    for (uint32_t i = 0; i < n; i++) {
        conns[i].fd = -1;
        conns[i].k = i;
        (void)proto_reasm_init(&conns[i].ra, PROTO_USER_LIST_PACKET_MAX);
    }
    ab_now = now_ns();
    mode->start(conns, n);
    run(conns, n);
    for (uint32_t i = 0; i < n; i++) {
        if (conns[i].state == AB_OPEN)
            ab_ctr[C_OPEN_AT_END]++;
        ab_close(&conns[i]);
        proto_reasm_free(&conns[i].ra);
    }
    free(conns);
    printf("mode=%s conns=%u", o.mode, o.conns);
    for (int i = 0; i < C_COUNT; i++) {
        if (ab_ctr[i] == 0)
            continue;
        if (i < C_ERR_NTF_BASE)
            printf(" %s=%llu", ctr_names[i], (unsigned long long)ab_ctr[i]);
        else
            printf(" error_ntf_%d=%llu", i - C_ERR_NTF_BASE, (unsigned long long)ab_ctr[i]);
    }
    printf("\n");
    return 0;
}
