/* scrape.h: integration-test support: read ringchat's /metrics over HTTP
 * and pick samples out of the Prometheus text, polling (bounded) for values
 * that move asynchronously. Criterion test code only (asserts on failure). */
#ifndef RINGCHAT_SCRAPE_H
#define RINGCHAT_SCRAPE_H

#include <stddef.h>
#include <stdint.h>

/* A loopback TCP port that was free a moment ago (for --metrics-port). */
uint16_t scrape_free_port(void);

/* GET path from 127.0.0.1:port; returns the HTTP status, the response in out. */
int scrape_get(uint16_t port, const char *path, char *out, size_t cap);

/* The value of the sample line "name value" or "name{labels} value" in a
 * /metrics body; asserts that it is there. */
long long scrape_value(const char *body, const char *sample);

/* Scrapes until the sample lies in [min, max] (about 2 s at most) and
 * returns the last value read. */
long long scrape_poll_range(uint16_t port, const char *sample, long long min, long long max);
long long scrape_poll_at_least(uint16_t port, const char *sample, long long min);
long long scrape_poll_at_most(uint16_t port, const char *sample, long long max);

#endif
