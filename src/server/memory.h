/* memory.h: giving memory back after a burst, and reporting what is held.
 *
 * The buffer pools (src/net/net_pool.c) and message slabs (src/actors/msg.c)
 * keep what a burst made them allocate, so that the next burst costs no
 * malloc. Each worker calls memory_trim every --memory-trim seconds: the pools'
 * surplus goes back to malloc, and malloc gives whole free pages back to the
 * kernel. Without it, RSS after a stall stays at the stall's high-water mark
 * (docs/benchmarks.md, "Soak"). */
#ifndef RINGCHAT_MEMORY_H
#define RINGCHAT_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

/* One worker's trim, on that worker's thread (each trims its own caches).
 * Worker 0 also returns free pages to the kernel. Cold path. */
void memory_trim(unsigned worker);

/* The ringchat_memory_* metrics. Any thread. */
void memory_render(metrics_text_t *t);

#endif
