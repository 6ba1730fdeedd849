/* test_net_outbox.c: the send path and the wake-up, for both backends: a slow
 * consumer is cut off at the outbox limit while another client keeps full
 * speed; many threads send to one connection at once (per-sender order, exactly
 * once); a sleeping port wakes for another thread; closing races with senders
 * and every buffer reference comes back. Label "tsan": also run under
 * ThreadSanitizer, with counts scaled down. Throughput is reported, never
 * asserted (a noisy 2-core machine); every wait has a deadline. */
#include "net_harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static double timed_echo(uint16_t port, uint64_t seed, uint64_t total)
{
    h_client_t c;
    h_client_init(&c, h_connect(port), seed, total, 4000);
    c.window = 128 * 1024; /* half the outbox limit: never a slow consumer */
    uint64_t t0 = h_now_us();
    int intact = h_drive(&c, 1, 60000);
    double secs = (double)(h_now_us() - t0) / 1e6;
    cr_assert_eq(intact, 1, "fast client: bad=%d at %llu, %llu/%llu bytes", c.bad,
                 (unsigned long long)c.bad_at, (unsigned long long)c.recvd,
                 (unsigned long long)c.total);
    close(c.fd);
    return secs;
}

typedef struct slow_writer {
    uint16_t port;
    atomic_bool cut; /* the server ended the connection */
    uint64_t written;
} slow_writer_t;

/* Writes and never reads, until the server cuts it off (bounded: 256 MiB). */
static void *slow_writer_main(void *arg)
{
    slow_writer_t *w = arg;
    int fd = h_connect_rcvbuf(w->port, 4096);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    static uint8_t chunk[64 * 1024];
    while (w->written < (256u << 20)) {
        ssize_t n = send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            atomic_store(&w->cut, errno == EPIPE || errno == ECONNRESET);
            break;
        }
        w->written += (uint64_t)n;
    }
    h_close_rst(fd);
    return NULL;
}

/* A client that never reads is closed as a slow consumer when its outbox
 * passes 256 KiB, while another client echoes with every byte intact. */
H_BOTH(outbox, slow_consumer_cut_fast_client_unharmed, 90)
{
    h_opts_t o = {.backend = be, .workers = 2, .mode = H_RAW, .outbox_limit = 256 * 1024};
    h_server_t *h = h_start(&o);
    uint64_t total = (uint64_t)H_SCALE(32, 8) << 20;
    double alone = timed_echo(h_port(h), 1, total);

    slow_writer_t w = {.port = h_port(h)};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, slow_writer_main, &w), 0);
    double shared = timed_echo(h_port(h), 2, total);
    pthread_join(t, NULL);
    H_WAIT(h_closed_with(h, NET_CLOSE_SLOW_CONSUMER) == 1, 10000);
    cr_assert_eq(h_closed_with(h, NET_CLOSE_SLOW_CONSUMER), 1);
    cr_assert(atomic_load(&w.cut), "the slow client was not cut off (wrote %llu bytes)",
              (unsigned long long)w.written);
    net_stats_t st;
    h_stats(h, &st);
    cr_assert_eq(st.slow_closes, 1);
    fprintf(stderr,
            "outbox/slow_consumer[%s]: fast client %llu MiB alone %.2f s, beside a slow "
            "consumer %.2f s (ratio %.2f); slow client wrote %llu KiB before the cut\n",
            net_backend_name(h_net_port(h, 0)), (unsigned long long)(total >> 20), alone, shared,
            shared / alone, (unsigned long long)(w.written >> 10));
    h_stop(h);
}

typedef struct sender {
    net_conn_t c;
    uint32_t id, count;
    int refused;
} sender_t;

typedef struct record {
    uint32_t sender, seq;
    uint64_t magic;
} record_t;

#define RECORD_MAGIC 0x5eed5eed5eed5eedull

static void *sender_main(void *arg)
{
    sender_t *s = arg;
    for (uint32_t i = 0; i < s->count; i++) {
        net_buf_t *b = net_buf_alloc(sizeof(record_t));
        record_t r = {s->id, i, RECORD_MAGIC};
        memcpy(net_buf_data(b), &r, sizeof(r));
        if (net_conn_send(s->c, b) != 0)
            s->refused++;
        net_buf_unref(b);
    }
    return NULL;
}

/* Several threads send to one connection at once: the client receives every
 * record exactly once, and each sender's records in the order it sent them. */
H_BOTH(outbox, many_senders_one_connection, 60)
{
    h_opts_t o = {.backend = be, .workers = 1, .mode = H_SILENT, .outbox_limit = 64u << 20};
    h_server_t *h = h_start(&o);
    int fd = h_connect(h_port(h));
    net_conn_t c = h_conn(h, 0, 5000);
    cr_assert_not_null(c.port);
    enum { T = 4 };
    uint32_t per = (uint32_t)H_SCALE(20000, 10);
    sender_t s[T];
    pthread_t th[T];
    for (int i = 0; i < T; i++) {
        s[i] = (sender_t){.c = c, .id = (uint32_t)i, .count = per};
        cr_assert_eq(pthread_create(&th[i], NULL, sender_main, &s[i]), 0);
    }
    uint32_t next[T] = {0};
    uint64_t want = (uint64_t)T * per, got = 0;
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    static record_t recs[4096];
    size_t have = 0; /* bytes in recs */
    while (got < want) {
        ssize_t r = h_recv(fd, (uint8_t *)recs + have, sizeof(recs) - have);
        cr_assert_gt(r, 0, "stream ended after %llu records", (unsigned long long)got);
        have += (size_t)r;
        size_t whole = have / sizeof(record_t);
        for (size_t k = 0; k < whole; k++) {
            record_t *x = &recs[k];
            cr_assert_eq(x->magic, RECORD_MAGIC, "torn record %llu", (unsigned long long)got);
            cr_assert_lt(x->sender, T);
            cr_assert_eq(x->seq, next[x->sender], "sender %u: got %u, expected %u", x->sender,
                         x->seq, next[x->sender]);
            next[x->sender]++;
            got++;
        }
        memmove(recs, (uint8_t *)recs + whole * sizeof(record_t), have % sizeof(record_t));
        have %= sizeof(record_t);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(s[i].refused, 0);
    }
    cr_assert_eq(got, want);
    close(fd);
    h_stop(h);
}

/* Byte k of the stream partial_sends_resume_mid_buffer sends. */
static uint8_t stream_byte(uint64_t k)
{
    return (uint8_t)((k * 7) % 251);
}

/* One connection is sent thousands of buffers of odd sizes (1..2999 bytes)
 * while its client, with a 4 KiB receive buffer, reads slowly: sends are cut
 * short mid-buffer, each resumes where the last stopped, more buffers are
 * queued than one send takes (NET_IOV_MAX), and the client reads one unbroken
 * stream. Every buffer reference the outbox took comes back. Not scaled
 * down under sanitizers: the cut needs the volume. */
H_BOTH(outbox, partial_sends_resume_mid_buffer, 60)
{
    h_opts_t o = {.backend = be, .workers = 1, .mode = H_SILENT, .outbox_limit = 64u << 20};
    h_server_t *h = h_start(&o);
    int fd = h_connect_rcvbuf(h_port(h), 4096);
    net_conn_t c = h_conn(h, 0, 5000);
    cr_assert_not_null(c.port);
    /* About 9 MB: more than the server's socket and the client's receive
     * buffer hold together (tcp_wmem's maximum is 4 MiB), so a send is cut
     * short even before the client reads. */
    enum { NBUFS = 6000 };
    size_t nbufs = NBUFS;
    static net_buf_t *bufs[NBUFS];
    uint64_t total = 0;
    for (size_t i = 0; i < nbufs; i++) {
        size_t len = 1 + (i * 389) % 2999;
        bufs[i] = net_buf_alloc(len);
        cr_assert_not_null(bufs[i]);
        uint8_t *d = net_buf_data(bufs[i]);
        for (size_t k = 0; k < len; k++)
            d[k] = stream_byte(total + k);
        total += len;
        cr_assert_eq(net_conn_send(c, bufs[i]), 0, "buffer %zu refused", i);
    }
    net_stats_t st;
    H_WAIT((h_stats(h, &st), st.partial_sends > 0), 3000);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    uint8_t chunk[1000];
    for (uint64_t got = 0, reads = 0; got < total; reads++) {
        if (reads % 64 == 0)
            h_sleep_ms(1); /* let the server's socket fill up */
        ssize_t r = h_recv(fd, chunk, sizeof(chunk));
        cr_assert_gt(r, 0, "stream ended at byte %llu of %llu", (unsigned long long)got,
                     (unsigned long long)total);
        for (ssize_t k = 0; k < r; k++, got++)
            cr_assert_eq(chunk[k], stream_byte(got), "byte %llu differs", (unsigned long long)got);
    }
    h_stats(h, &st);
    cr_assert_gt(st.partial_sends, 0, "no send was cut short: the test did not test");
    for (size_t i = 0; i < nbufs; i++) {
        H_WAIT(net_buf_refcount(bufs[i]) == 1, 5000);
        cr_assert_eq(net_buf_refcount(bufs[i]), 1, "buffer %zu: reference not released", i);
        net_buf_unref(bufs[i]);
    }
    fprintf(stderr,
            "outbox/partial_sends[%s]: %llu bytes in %zu buffers, %llu sends, %llu partial\n",
            net_backend_name(h_net_port(h, 0)), (unsigned long long)total, nbufs,
            (unsigned long long)st.sends, (unsigned long long)st.partial_sends);
    close(fd);
    h_stop(h);
}

/* A port asleep in net_port_run(-1) wakes for net_port_wake and for a send
 * from another thread; many wakes in a burst are coalesced. */
H_BOTH(outbox, wake_from_another_thread, 30)
{
    h_opts_t o = {.backend = be, .workers = 1, .mode = H_SILENT};
    h_server_t *h = h_start(&o);
    net_port_t *p = h_net_port(h, 0);
    net_stats_t st;
    net_port_stats(p, &st);
    uint64_t w0 = st.wakeups;
    net_port_wake(p);
    H_WAIT((net_port_stats(p, &st), st.wakeups > w0), 5000);
    cr_assert_gt(st.wakeups, w0, "the port did not wake up");

    int fd = h_connect(h_port(h));
    net_conn_t c = h_conn(h, 0, 5000);
    cr_assert_not_null(c.port);
    h_sleep_ms(50); /* let the worker go back to sleep */
    net_buf_t *b = net_buf_alloc(5);
    memcpy(net_buf_data(b), "hello", 5);
    cr_assert_eq(net_conn_send(c, b), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char got[8];
    cr_assert_eq(h_recv(fd, got, sizeof(got)), 5, "a send from another thread was not delivered");
    cr_assert_arr_eq(got, "hello", 5);

    net_port_stats(p, &st);
    w0 = st.wakeups;
    for (int i = 0; i < 1000; i++)
        net_port_wake(p);
    H_WAIT((net_port_stats(p, &st), st.wakeups > w0), 5000);
    net_port_stats(p, &st);
    cr_assert_gt(st.wakeups, w0);
    cr_assert_lt(st.wakeups - w0, 1000, "wakes were not coalesced");
    net_buf_unref(b);
    close(fd);
    h_stop(h);
}

/* A wake from the owner thread itself costs no system call but still makes
 * the next run return at once instead of sleeping its full timeout (the test
 * times out if it sleeps). */
H_BOTH(outbox, wake_from_owner_thread, 10)
{
    if (net_backend_probe(be) < 0)
        cr_skip_test("backend refused here");
    net_config_t cfg;
    net_config_init(&cfg);
    cfg.backend = be;
    net_port_t *p = net_port_create(&cfg, NULL, NULL);
    cr_assert_not_null(p);
    cr_assert_geq(net_port_run(p, 0), 0); /* this thread is now the owner */
    net_port_wake(p);
    uint64_t t0 = h_now_ms();
    cr_assert_geq(net_port_run(p, 60000), 0);
    cr_assert_lt(h_now_ms() - t0, 30000, "the self-wake was lost");
    net_stats_t st;
    net_port_stats(p, &st);
    cr_assert_eq(st.wakeups, 0, "no eventfd round trip for the owner's own wake");
    net_port_destroy(p);
}

typedef struct hammer {
    net_conn_t c;
    net_buf_t *b;
    pthread_barrier_t *go;
    int sent;
    int last_rc;
} hammer_t;

static void *hammer_main(void *arg)
{
    hammer_t *hm = arg;
    pthread_barrier_wait(hm->go);
    for (int i = 0; i < 1000000; i++) { /* bounded; stops at the close */
        int rc = net_conn_send(hm->c, hm->b);
        if (rc != 0) {
            hm->last_rc = rc;
            break;
        }
        hm->sent++;
    }
    return NULL;
}

/* Threads send the same buffer to a connection while another thread closes
 * it: sends stop with -EPIPE/-ESTALE, the connection closes once, and every
 * reference the outbox took is released. */
H_BOTH(outbox, close_races_with_senders, 60)
{
    h_opts_t o = {.backend = be, .workers = 1, .mode = H_SILENT, .outbox_limit = 1u << 30};
    h_server_t *h = h_start(&o);
    enum { T = 3 };
    int rounds = H_SCALE(20, 4);
    for (int round = 0; round < rounds; round++) {
        int fd = h_connect(h_port(h));
        net_conn_t c = h_conn(h, (size_t)round, 5000);
        cr_assert_not_null(c.port);
        net_buf_t *b = net_buf_alloc(100);
        memset(net_buf_data(b), 'x', 100);
        pthread_barrier_t go;
        pthread_barrier_init(&go, NULL, T + 1);
        hammer_t hm[T];
        pthread_t th[T];
        for (int i = 0; i < T; i++) {
            hm[i] = (hammer_t){.c = c, .b = b, .go = &go};
            cr_assert_eq(pthread_create(&th[i], NULL, hammer_main, &hm[i]), 0);
        }
        pthread_barrier_wait(&go);
        h_sleep_ms(2);
        cr_assert_eq(net_conn_close(c, round % 2 == 0), 0);
        for (int i = 0; i < T; i++) {
            pthread_join(th[i], NULL);
            cr_assert(hm[i].last_rc == -EPIPE || hm[i].last_rc == -ESTALE,
                      "round %d: sender stopped with %d", round, hm[i].last_rc);
        }
        pthread_barrier_destroy(&go);
        if (round % 2 == 0) /* flush-first: let the client drain it */
            h_close_rst(fd);
        H_WAIT(h_closed(h) == (uint64_t)round + 1, 10000);
        cr_assert_eq(h_closed(h), (uint64_t)round + 1);
        H_WAIT(net_buf_refcount(b) == 1, 5000);
        cr_assert_eq(net_buf_refcount(b), 1, "round %d: references leaked", round);
        net_buf_unref(b);
        if (round % 2 != 0)
            close(fd);
    }
    H_WAIT(h_open(h) == 0, 5000);
    cr_assert_eq(h_open(h), 0);
    h_stop(h);
}
