/* test_net_echo.c: bytes go through net intact, for both backends: many
 * concurrent connections, one long stream, 1-byte writes, and partial sends to
 * a slow reader with a tiny receive buffer. Every byte that comes back is
 * compared with the deterministic stream that was sent. Run by ctest;
 * never asserts on speed (it only prints it), every wait has a deadline. */
#include "net_harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* 1,000 connections (2,000 descriptors in this process, under the 20,000 cap),
 * each echoing 100 packets through the packet-reassembling server. A small
 * provided-buffer ring makes io_uring run out of buffers and re-arm. */
H_BOTH(echo, thousand_connections, 90)
{
    h_opts_t o = {.backend = be, .workers = 2, .mode = H_PACKET, .recv_buf_count = 2};
    h_server_t *h = h_start(&o);
    int n = H_SCALE(1000, 4);
    h_client_t *cs = calloc((size_t)n, sizeof(*cs));
    cr_assert_not_null(cs);
    for (int i = 0; i < n; i++) {
        uint64_t seed = 1000u + (uint64_t)i;
        h_client_init(&cs[i], h_connect(h_port(h)), seed, h_gen_packets_size(seed, 300, 100), 300);
    }
    int intact = h_drive(cs, n, 60000);
    for (int i = 0; i < n && intact != n; i++)
        if (cs[i].bad || cs[i].recvd != cs[i].total)
            cr_log_error("client %d: bad=%d at %llu, %llu/%llu bytes", i, cs[i].bad,
                         (unsigned long long)cs[i].bad_at, (unsigned long long)cs[i].recvd,
                         (unsigned long long)cs[i].total);
    cr_assert_eq(intact, n, "%d of %d connections echoed intact", intact, n);
    cr_assert_eq(h_echo_failures(h), 0);
    net_stats_t st;
    h_stats(h, &st);
    fprintf(stderr, "echo/thousand_connections[%s]: %d conns, %llu sends, %llu recv ENOBUFS\n",
            net_backend_name(h_net_port(h, 0)), n, (unsigned long long)st.sends,
            (unsigned long long)st.recv_enobufs);
    for (int i = 0; i < n; i++)
        close(cs[i].fd);
    H_WAIT(h_closed(h) == (uint64_t)n, 10000);
    cr_assert_eq(h_closed(h), (uint64_t)n);
    cr_assert_eq(h_closed_with(h, NET_CLOSE_PEER), (uint64_t)n);
    free(cs);
    h_stop(h);
}

/* 64 MiB through one connection, verified byte for byte. */
H_BOTH(echo, stream_64mib, 90)
{
    h_opts_t o = {.backend = be, .workers = 2, .mode = H_RAW};
    h_server_t *h = h_start(&o);
    h_client_t c;
    uint64_t total = (uint64_t)H_SCALE(64, 4) << 20;
    h_client_init(&c, h_connect(h_port(h)), 64, total, 8000);
    c.window = 1u << 20; /* stays far below the 8 MiB outbox limit */
    uint64_t t0 = h_now_us();
    int intact = h_drive(&c, 1, 80000);
    uint64_t us = h_now_us() - t0;
    cr_assert_eq(intact, 1, "bad=%d at %llu, %llu/%llu bytes", c.bad, (unsigned long long)c.bad_at,
                 (unsigned long long)c.recvd, (unsigned long long)c.total);
    fprintf(stderr, "echo/stream_64mib[%s]: %llu MiB in %.2f s (%.0f MiB/s)\n",
            net_backend_name(h_net_port(h, 0)), (unsigned long long)(total >> 20), us / 1e6,
            (double)(total >> 20) / (us / 1e6));
    close(c.fd);
    h_stop(h);
}

/* Packets written one byte per system call arrive split in every possible
 * place; the server reassembles and echoes whole packets. */
H_BOTH(echo, one_byte_writes, 60)
{
    h_opts_t o = {.backend = be, .workers = 1, .mode = H_PACKET};
    h_server_t *h = h_start(&o);
    enum { N = 3 };
    h_client_t cs[N];
    for (int i = 0; i < N; i++) {
        uint64_t seed = 77u + (uint64_t)i;
        h_client_init(&cs[i], h_connect(h_port(h)), seed, h_gen_packets_size(seed, 40, 150), 40);
        cs[i].chunk = 1;
    }
    int intact = h_drive(cs, N, 50000);
    cr_assert_eq(intact, N);
    net_stats_t st;
    h_stats(h, &st);
    /* The server really saw small pieces: more receives than packets. */
    cr_assert_gt(st.bytes_in, 0);
    for (int i = 0; i < N; i++)
        close(cs[i].fd);
    h_stop(h);
}

/* The server pushes 16 MiB (64 KiB buffers, up to 64 per sendmsg) to a client
 * with a 4 KiB receive buffer that reads 4 KiB at a time with pauses: sends
 * come back short and must resume exactly where they stopped. */
H_BOTH(echo, partial_sends_slow_reader, 60)
{
    h_opts_t o = {.backend = be, .workers = 1, .mode = H_SILENT, .outbox_limit = 64u << 20};
    h_server_t *h = h_start(&o);
    int fd = h_connect_rcvbuf(h_port(h), 4096);
    net_conn_t c = h_conn(h, 0, 5000);
    cr_assert_not_null(c.port);
    enum { BUF = 64 * 1024 };
    uint64_t total = (uint64_t)H_SCALE(16, 4) << 20;
    h_gen_t g;
    h_gen_init(&g, 9, 1000);
    for (uint64_t off = 0; off < total; off += BUF) {
        net_buf_t *b = net_buf_alloc(BUF);
        h_gen_fill(&g, net_buf_data(b), BUF);
        cr_assert_eq(net_conn_send(c, b), 0);
        net_buf_unref(b);
    }
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    h_gen_init(&g, 9, 1000);
    uint8_t got[4096], want[4096];
    uint64_t recvd = 0;
    for (unsigned reads = 1; recvd < total; reads++) {
        ssize_t r = h_recv(fd, got, sizeof(got));
        cr_assert_gt(r, 0, "stream ended at %llu of %llu", (unsigned long long)recvd,
                     (unsigned long long)total);
        h_gen_fill(&g, want, (size_t)r);
        cr_assert_arr_eq(got, want, (size_t)r, "bytes differ near offset %llu",
                         (unsigned long long)recvd);
        recvd += (uint64_t)r;
        if (reads % 16 == 0)
            h_sleep_ms(1); /* a slow reader */
    }
    net_stats_t st;
    H_WAIT((net_port_stats(h_net_port(h, 0), &st), st.bytes_out == total), 5000);
    fprintf(stderr, "echo/partial_sends[%s]: %llu sends, %llu partial\n",
            net_backend_name(h_net_port(h, 0)), (unsigned long long)st.sends,
            (unsigned long long)st.partial_sends);
    cr_assert_eq(st.bytes_out, total);
    cr_assert_gt(st.partial_sends, 0, "no partial send happened: the test did not test");
    cr_assert_eq(net_conn_outbox_bytes(c), 0);
    close(fd);
    h_stop(h);
}
