/* test_memory.c: --memory-trim gives a burst's memory back. A member that
 * never reads lets a few megabytes of notifies pile up in its outbox; when
 * it goes, the buffers return to the pools, and the next trim hands them to
 * malloc (ringchat_memory_pool_bytes falls, RSS falls in a release build).
 * With --memory-trim 0 the pools keep them: that is what the trim changes. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "itest.h"
#include "proto.h"
#include "scrape.h"
#include "wire.h"

#define T           ITEST_T
#define BURST_CHATS 30000 /* x ~300 bytes: more than the kernel's socket buffers hold */
#define BATCH       200
#define POOL_METRIC "ringchat_memory_pool_bytes{pool=\"buffers\"}"

TestSuite(memory, .timeout = 180);

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static long long metric_now(uint16_t mport, const char *sample)
{
    static char body[65536];
    cr_assert_eq(scrape_get(mport, "/metrics", body, sizeof(body)), 200);
    return scrape_value(body, sample);
}

/* Sends BATCH chats at once and reads their BATCH answers and BATCH own
 * notifies (in whatever order they come). */
static void chat_batch(int fd, const char *text)
{
    static uint8_t out[BATCH * (PROTO_HEADER_SIZE + PROTO_MSG_FIELD)];
    size_t len = 0;
    for (int i = 0; i < BATCH; i++)
        len += proto_encode_room_chat_req(out + len, sizeof(out) - len, text, strlen(text));
    cr_assert_eq(wire_send(fd, out, len), 0);
    int res = 0, ntf = 0;
    uint8_t buf[1024];
    proto_header_t h;
    while (res < BATCH || ntf < BATCH) {
        cr_assert_gt(wire_recv(fd, buf, sizeof(buf), &h, T), 0, "%d answers, %d notifies", res,
                     ntf);
        res += h.id == PROTO_ROOM_CHAT_RES;
        ntf += h.id == PROTO_ROOM_CHAT_NOTIFY;
    }
}

typedef struct burst {
    long rss_before, rss_peak;
    long long pool_peak;
} burst_t;

/* ann chats BURST_CHATS times in room 1 while sid, also in room 1, never
 * reads; then sid resets. */
static burst_t run_burst(server_proc_t *s, uint16_t mport)
{
    burst_t b;
    int ann = wire_connect_login(s->port, "ann", "pw", T);
    int sid = wire_connect_login(s->port, "sid", "pw", T);
    cr_assert(ann >= 0 && sid >= 0);
    cr_assert_eq(wire_enter(sid, 1, T), 0);
    cr_assert_eq(wire_enter(ann, 1, T), 0);
    uint8_t buf[1024];
    cr_assert_gt(wire_expect(ann, PROTO_ROOM_USER_LIST_NTF, buf, sizeof(buf), T), 0);
    b.rss_before = proc_rss_kb(s->pid);
    char text[241];
    memset(text, 'm', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    for (int i = 0; i < BURST_CHATS / BATCH; i++)
        chat_batch(ann, text);
    b.pool_peak = metric_now(mport, POOL_METRIC);
    b.rss_peak = proc_rss_kb(s->pid);
    close(sid); /* with unread bytes: the kernel sends RST, the outbox is dropped */
    close(ann);
    cr_assert_eq(scrape_poll_at_most(mport, "ringchat_connections", 0), 0);
    return b;
}

static void start(server_proc_t *s, uint16_t mport, const char *trim)
{
    char port_arg[8];
    snprintf(port_arg, sizeof(port_arg), "%u", (unsigned)mport);
    const char *args[] = {"--metrics-port", port_arg, "--memory-trim", trim,  "--chat-rate", "0",
                          "--outbox-limit", "64m",    "--pwhash-cost", "min", NULL};
    itest_start(s, "epoll", args);
}

Test(memory, trim_returns_a_burst)
{
    uint16_t mport = scrape_free_port();
    server_proc_t s;
    start(&s, mport, "1");
    burst_t b = run_burst(&s, mport);
    cr_assert_geq(b.pool_peak, 1 << 20, "the outbox held %lld bytes of buffers", b.pool_peak);
    long long pool = b.pool_peak, deadline = now_ms() + 10000;
    while (pool > 256 * 1024 && now_ms() < deadline) { /* a trim a second */
        usleep(100 * 1000);
        pool = metric_now(mport, POOL_METRIC);
    }
    cr_assert_leq(pool, 256 * 1024, "pools still hold %lld of the %lld bytes", pool, b.pool_peak);
    cr_log_info("pool bytes %lld -> %lld; RSS %ld -> %ld -> %ld KiB", b.pool_peak, pool,
                b.rss_before, b.rss_peak, proc_rss_kb(s.pid));
    if (!itest_server_sanitized()) { /* their allocators keep freed memory */
        cr_assert_geq(metric_now(mport, "ringchat_memory_trimmed_bytes_total"), 1 << 20);
        long rss = proc_rss_kb(s.pid);
        cr_assert_leq(rss, b.rss_before + (b.rss_peak - b.rss_before) / 2,
                      "RSS %ld KiB: before %ld, peak %ld", rss, b.rss_before, b.rss_peak);
    }
    itest_stop(&s);
}

Test(memory, no_trim_keeps_the_pools)
{
    uint16_t mport = scrape_free_port();
    server_proc_t s;
    start(&s, mport, "0");
    burst_t b = run_burst(&s, mport);
    cr_assert_geq(b.pool_peak, 1 << 20);
    sleep(2);
    cr_assert_eq(metric_now(mport, "ringchat_memory_trimmed_bytes_total"), 0);
    if (!itest_server_sanitized()) /* under ASan the pools step aside (malloc/free) */
        cr_assert_geq(metric_now(mport, POOL_METRIC), b.pool_peak / 2,
                      "without a trim the pools keep the burst's buffers");
    itest_stop(&s);
}
