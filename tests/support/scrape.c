/* scrape.c: see scrape.h. Test code only; every wait is bounded. */
#include "scrape.h"

#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server_proc.h"
#include "wire.h"

uint16_t scrape_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

int scrape_get(uint16_t port, const char *path, char *out, size_t cap)
{
    int fd = tcp_connect(port);
    cr_assert_geq(fd, 0);
    char req[128];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", path);
    cr_assert_eq(wire_send(fd, req, (size_t)n), 0);
    size_t len = 0;
    ssize_t r;
    while (len + 1 < cap && (r = read(fd, out + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    out[len] = '\0';
    close(fd);
    int status = 0;
    sscanf(out, "HTTP/1.0 %d", &status);
    return status;
}

long long scrape_value(const char *body, const char *sample)
{
    char key[160];
    snprintf(key, sizeof(key), "\n%s ", sample);
    const char *p = strstr(body, key);
    cr_assert_not_null(p, "no sample %s", sample);
    return atoll(p + strlen(key));
}

long long scrape_poll_range(uint16_t port, const char *sample, long long min, long long max)
{
    static char body[65536];
    long long v = -1;
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(scrape_get(port, "/metrics", body, sizeof(body)), 200);
        v = scrape_value(body, sample);
        if (v >= min && v <= max)
            break;
        usleep(20000);
    }
    return v;
}

long long scrape_poll_at_least(uint16_t port, const char *sample, long long min)
{
    return scrape_poll_range(port, sample, min, INT64_MAX);
}

long long scrape_poll_at_most(uint16_t port, const char *sample, long long max)
{
    return scrape_poll_range(port, sample, INT64_MIN, max);
}
