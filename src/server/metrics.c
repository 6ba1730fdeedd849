/* metrics.c: the HTTP side of the metrics endpoint (see metrics.h). A tiny
 * HTTP/1.0 server: one request per connection, a 1 s read timeout, then
 * close. Runs on its own thread; never touches actors or connections. */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "log.h"

struct metrics {
    int fd;
    pthread_t thread;
    metrics_render_fn render;
    void *ctx;
};

void metrics_printf(metrics_text_t *t, const char *fmt, ...)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap + (size_t)n + 1) * 2;
        char *b = realloc(t->buf, cap);
        if (b == NULL)
            return;
        t->buf = b;
        t->cap = cap;
    }
}

static void respond(int fd, const char *status, const char *type, const char *body, size_t len)
{
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, type, len);
    if (write(fd, head, (size_t)n) == n && len > 0) {
        ssize_t w = write(fd, body, len);
        (void)w;
    }
}

static void serve_one(struct metrics *m, int fd)
{
    struct timeval tv = {.tv_sec = 1};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char req[1024];
    ssize_t n = read(fd, req, sizeof(req) - 1);
    if (n <= 0)
        return;
    req[n] = '\0';
    if (strncmp(req, "GET /metrics", 12) == 0 && (req[12] == ' ' || req[12] == '?')) {
        metrics_text_t t = {.buf = malloc(4096), .cap = 4096};
        if (t.buf == NULL)
            return;
        t.buf[0] = '\0';
        m->render(m->ctx, &t);
        respond(fd, "200 OK", "text/plain; version=0.0.4", t.buf, t.len);
        free(t.buf);
    } else if (strncmp(req, "GET /healthz", 12) == 0 && (req[12] == ' ' || req[12] == '?')) {
        respond(fd, "200 OK", "text/plain", "ok\n", 3);
    } else if (strncmp(req, "GET ", 4) == 0) {
        respond(fd, "404 Not Found", "text/plain", "not found\n", 10);
    } else {
        respond(fd, "405 Method Not Allowed", "text/plain", "GET only\n", 9);
    }
}

static void *metrics_main(void *arg)
{
    struct metrics *m = arg;
    for (;;) {
        int fd = accept4(m->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL; /* metrics_stop shut the listener down */
        }
        serve_one(m, fd);
        close(fd);
    }
}

metrics_t *metrics_start(const char *addr, uint16_t port, metrics_render_fn render, void *ctx)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct metrics *m = calloc(1, sizeof(*m));
    if (m == NULL || inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
        free(m);
        return NULL;
    }
    m->render = render;
    m->ctx = ctx;
    m->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (m->fd < 0 || bind(m->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(m->fd, 16) != 0 || pthread_create(&m->thread, NULL, metrics_main, m) != 0) {
        log_error("cannot serve metrics on %s:%u: %s", addr, (unsigned)port, strerror(errno));
        if (m->fd >= 0)
            close(m->fd);
        free(m);
        return NULL;
    }
    log_info("metrics on http://%s:%u/metrics", addr, (unsigned)port);
    return m;
}

void metrics_stop(metrics_t *m)
{
    if (m == NULL)
        return;
    /* shutdown() makes the blocked accept4 return with an error. */
    shutdown(m->fd, SHUT_RDWR);
    pthread_join(m->thread, NULL);
    close(m->fd);
    free(m);
}
