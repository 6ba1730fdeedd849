/* metrics.h: the operator's HTTP endpoint (--metrics-port): GET /metrics in
 * the Prometheus text format and GET /healthz. One blocking thread, off the
 * message path; it only reads counters through the render callback. */
#ifndef RINGCHAT_METRICS_H
#define RINGCHAT_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* A growing text buffer the render callback appends to. */
typedef struct metrics_text {
    char *buf;
    size_t len, cap;
} metrics_text_t;

void metrics_printf(metrics_text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends the whole /metrics body. Called on the metrics thread. */
typedef void (*metrics_render_fn)(void *ctx, metrics_text_t *out);

typedef struct metrics metrics_t;

/* Listens on addr:port and serves until metrics_stop. NULL (and a log line)
 * when the port cannot be bound. */
metrics_t *metrics_start(const char *addr, uint16_t port, metrics_render_fn render, void *ctx);
void metrics_stop(metrics_t *m);

#endif
