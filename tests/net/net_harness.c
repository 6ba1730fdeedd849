/* net_harness.c: the in-process echo server used by tests/net (see
 * net_harness.h). Worker threads run their ports with an infinite timeout and
 * stop through net_port_wake, so a broken wake-up hangs (and times out) tests.
 * The harness keeps its own bookkeeping under a mutex: it is test code, not the
 * message path. Must never leave a worker running: h_stop joins them all and
 * checks that every accepted connection got exactly one on_close. */
#include "net_harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define H_MAX_WORKERS 8
#define H_MAX_CONNS   4096 /* handles remembered for h_conn() */

typedef struct h_conn_state {
    uint8_t *buf; /* PACKET mode: bytes of an unfinished packet */
    size_t len, cap;
} h_conn_state_t;

struct h_server {
    h_opts_t o;
    int n;
    net_port_t *ports[H_MAX_WORKERS];
    pthread_t threads[H_MAX_WORKERS];
    atomic_bool stop;
    uint16_t port;
    atomic_uint_fast64_t accepted, closed, echo_fail;
    atomic_uint_fast64_t reasons[NET_CLOSE_SHUTDOWN + 1];
    pthread_mutex_t mu;
    net_conn_t conns[H_MAX_CONNS];
    size_t nconns;
};

static void h_echo_bytes(h_server_t *h, net_conn_t c, const uint8_t *data, size_t len)
{
    net_buf_t *b = net_buf_alloc(len);
    cr_assert_not_null(b);
    memcpy(net_buf_data(b), data, len);
    if (net_conn_send(c, b) != 0)
        atomic_fetch_add(&h->echo_fail, 1);
    net_buf_unref(b);
}

static void h_echo_packets(h_server_t *h, net_conn_t c, const uint8_t *data, size_t len)
{
    h_conn_state_t *st = net_conn_udata(c);
    cr_assert_not_null(st);
    if (st->len + len > st->cap) {
        st->cap = (st->len + len) * 2;
        st->buf = realloc(st->buf, st->cap);
        cr_assert_not_null(st->buf);
    }
    memcpy(st->buf + st->len, data, len);
    st->len += len;
    size_t off = 0;
    while (st->len - off >= 2) {
        size_t plen = (size_t)st->buf[off] | ((size_t)st->buf[off + 1] << 8);
        cr_assert_geq(plen, 2, "bad packet length %zu", plen);
        if (st->len - off < plen)
            break;
        h_echo_bytes(h, c, st->buf + off, plen);
        off += plen;
    }
    memmove(st->buf, st->buf + off, st->len - off);
    st->len -= off;
}

static void h_on_accept(net_conn_t c, void *udata)
{
    h_server_t *h = udata;
    h_conn_state_t *st = calloc(1, sizeof(*st));
    cr_assert_not_null(st);
    cr_assert_eq(net_conn_set_udata(c, st), 0);
    pthread_mutex_lock(&h->mu);
    if (h->nconns < H_MAX_CONNS)
        h->conns[h->nconns++] = c;
    pthread_mutex_unlock(&h->mu);
    atomic_fetch_add(&h->accepted, 1);
}

static void h_on_data(net_conn_t c, const uint8_t *data, size_t len, void *udata)
{
    h_server_t *h = udata;
    if (h->o.mode == H_RAW)
        h_echo_bytes(h, c, data, len);
    else if (h->o.mode == H_PACKET)
        h_echo_packets(h, c, data, len);
}

static void h_on_close(net_conn_t c, net_close_reason_t reason, void *udata)
{
    h_server_t *h = udata;
    h_conn_state_t *st = net_conn_udata(c);
    if (st) {
        free(st->buf);
        free(st);
    }
    cr_assert(reason >= NET_CLOSE_PEER && reason <= NET_CLOSE_SHUTDOWN);
    atomic_fetch_add(&h->reasons[reason], 1);
    atomic_fetch_add(&h->closed, 1);
}

static void h_on_eof(net_conn_t c, void *udata)
{
    (void)udata;
    cr_assert_eq(net_conn_close(c, true), 0);
}

static void *h_worker(void *arg)
{
    h_server_t *h = *(h_server_t **)arg;
    net_port_t *p = ((net_port_t **)arg)[1];
    free(arg);
    while (!atomic_load(&h->stop)) {
        int rc = net_port_run(p, -1);
        cr_assert_geq(rc, 0, "net_port_run: %d", rc);
    }
    return NULL;
}

static void h_config(const h_opts_t *o, net_config_t *cfg)
{
    net_config_init(cfg);
    cfg->backend = o->backend;
    if (o->outbox_limit)
        cfg->outbox_limit = o->outbox_limit;
    if (o->recv_buf_count)
        cfg->recv_buf_count = o->recv_buf_count;
    if (o->recv_buf_size)
        cfg->recv_buf_size = o->recv_buf_size;
    cfg->max_conns = o->max_conns ? o->max_conns : 8192;
    cfg->overflow_notice = o->overflow_notice;
}

h_server_t *h_start(const h_opts_t *o)
{
    int probe = net_backend_probe(o->backend);
    if (probe < 0 && o->backend == NET_BACKEND_URING)
        cr_skip_test("io_uring refused here: %s", strerror(-probe));
    cr_assert_eq(probe, 0, "backend probe: %s", strerror(-probe));
    h_server_t *h = calloc(1, sizeof(*h));
    cr_assert_not_null(h);
    h->o = *o;
    h->n = o->workers > 0 ? o->workers : 2;
    cr_assert_leq(h->n, H_MAX_WORKERS);
    pthread_mutex_init(&h->mu, NULL);
    net_config_t cfg;
    h_config(o, &cfg);
    net_callbacks_t cb = {h_on_accept, h_on_data, h_on_close, o->eof_flush ? h_on_eof : NULL};
    for (int i = 0; i < h->n; i++) {
        h->ports[i] = net_port_create(&cfg, &cb, h);
        cr_assert_not_null(h->ports[i], "net_port_create: %s", strerror(errno));
        int rc = net_port_listen(h->ports[i], "127.0.0.1", h->port);
        cr_assert_eq(rc, 0, "listen: %s", strerror(-rc));
        if (i == 0)
            h->port = net_port_bound_port(h->ports[0]);
        cr_assert_neq(h->port, 0);
    }
    for (int i = 0; i < h->n; i++) {
        void **arg = malloc(2 * sizeof(void *));
        arg[0] = h;
        arg[1] = h->ports[i];
        cr_assert_eq(pthread_create(&h->threads[i], NULL, h_worker, arg), 0);
    }
    return h;
}

uint64_t h_stop(h_server_t *h)
{
    atomic_store(&h->stop, true);
    for (int i = 0; i < h->n; i++)
        net_port_wake(h->ports[i]);
    for (int i = 0; i < h->n; i++)
        pthread_join(h->threads[i], NULL);
    for (int i = 0; i < h->n; i++)
        net_port_destroy(h->ports[i]);
    cr_assert_eq(atomic_load(&h->accepted), atomic_load(&h->closed),
                 "every accepted connection gets exactly one on_close");
    uint64_t shutdown_closes = atomic_load(&h->reasons[NET_CLOSE_SHUTDOWN]);
    pthread_mutex_destroy(&h->mu);
    free(h);
    return shutdown_closes;
}

uint16_t h_port(const h_server_t *h)
{
    return h->port;
}

net_port_t *h_net_port(const h_server_t *h, int i)
{
    return h->ports[i];
}

int h_workers(const h_server_t *h)
{
    return h->n;
}

uint64_t h_accepted(h_server_t *h)
{
    return atomic_load(&h->accepted);
}

uint64_t h_closed(h_server_t *h)
{
    return atomic_load(&h->closed);
}

uint64_t h_closed_with(h_server_t *h, net_close_reason_t reason)
{
    return atomic_load(&h->reasons[reason]);
}

uint64_t h_echo_failures(h_server_t *h)
{
    return atomic_load(&h->echo_fail);
}

uint32_t h_open(h_server_t *h)
{
    uint32_t n = 0;
    for (int i = 0; i < h->n; i++)
        n += net_port_conn_count(h->ports[i]);
    return n;
}

void h_stats(h_server_t *h, net_stats_t *sum)
{
    memset(sum, 0, sizeof(*sum));
    for (int i = 0; i < h->n; i++) {
        net_stats_t s;
        net_port_stats(h->ports[i], &s);
        sum->accepted += s.accepted;
        sum->closed += s.closed;
        sum->bytes_in += s.bytes_in;
        sum->bytes_out += s.bytes_out;
        sum->sends += s.sends;
        sum->partial_sends += s.partial_sends;
        sum->recv_enobufs += s.recv_enobufs;
        sum->accept_pauses += s.accept_pauses;
        sum->wakeups += s.wakeups;
        sum->cq_overflows += s.cq_overflows;
        sum->slow_closes += s.slow_closes;
    }
}

net_conn_t h_conn(h_server_t *h, size_t i, int timeout_ms)
{
    uint64_t deadline = h_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        pthread_mutex_lock(&h->mu);
        net_conn_t c = i < h->nconns ? h->conns[i] : NET_CONN_NULL;
        pthread_mutex_unlock(&h->mu);
        if (c.port || h_now_ms() >= deadline)
            return c;
        h_sleep_ms(1);
    }
}
