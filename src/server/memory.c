/* memory.c: the periodic trim of pooled memory, and its metrics (see
 * memory.h). Runs on the worker threads every --memory-trim seconds and on the
 * metrics thread; it must never run on the message path or take a lock that
 * the message path takes (malloc_trim takes malloc's arena locks, which the
 * message path does not: it allocates from pools). */
#include "memory.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "log.h"
#include "msg.h"
#include "net.h"

static _Atomic uint64_t trimmed_bytes; /* relaxed: a counter for /metrics */

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void memory_trim(unsigned worker)
{
    uint64_t t0 = now_us();
    size_t freed = net_pool_trim() + msg_trim();
    atomic_fetch_add_explicit(&trimmed_bytes, freed, memory_order_relaxed);
#ifdef __GLIBC__
    /* free() returns only the top of a heap to the kernel; the pools' objects
     * are scattered through it. malloc_trim also releases every whole free
     * page inside (madvise). One worker is enough: it walks every arena. */
    if (worker == 0)
        (void)malloc_trim(0);
#endif
    log_debug("memory: worker %u gave %zu bytes back in %" PRIu64 " us", worker, freed,
              now_us() - t0);
}

void memory_render(metrics_text_t *t)
{
    net_pool_stats_t np;
    net_pool_stats(&np);
    msg_stats_t ms;
    msg_stats(&ms);
    metrics_printf(t,
                   "# HELP ringchat_memory_pool_bytes Memory the pools hold (in use and free).\n"
                   "# TYPE ringchat_memory_pool_bytes gauge\n"
                   "ringchat_memory_pool_bytes{pool=\"buffers\"} %" PRIu64 "\n"
                   "ringchat_memory_pool_bytes{pool=\"buffers_depot\"} %" PRIu64 "\n"
                   "ringchat_memory_pool_bytes{pool=\"messages\"} %" PRIu64 "\n",
                   np.bytes, np.depot_bytes,
                   (ms.refills - ms.slabs_freed) * (uint64_t)msg_slab_bytes());
    metrics_printf(
        t,
        "# HELP ringchat_memory_trimmed_bytes_total Pool and slab memory given back to malloc.\n"
        "# TYPE ringchat_memory_trimmed_bytes_total counter\n"
        "ringchat_memory_trimmed_bytes_total %" PRIu64 "\n",
        atomic_load_explicit(&trimmed_bytes, memory_order_relaxed));
}
