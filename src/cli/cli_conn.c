/* cli_conn.c: ringchat-cli's socket: resolve and connect (bounded by a poll
 * timeout), and the send queue drained whenever the socket takes bytes.
 * Called by cli_loop.c (connect, flush on POLLOUT) and cli_cmd.c (send).
 * It must never block: the socket is non-blocking and a send that would
 * block leaves the rest queued for the loop's next POLLOUT.
 * Invariant: c->tx[0..tx_len) are bytes of whole packets, in request order,
 * not yet accepted by the kernel. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

long long cli_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

long long cli_now_ms(void)
{
    return cli_now_ns() / 1000000LL;
}

/* One non-blocking connect, waited for with poll until deadline.
 * -> fd or -errno. */
static int connect_one(const struct addrinfo *ai, long long deadline)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return -errno;
    int err = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        err = errno == EINPROGRESS ? 0 : errno;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        long long left = deadline - cli_now_ms();
        if (err == 0 && (left <= 0 || poll(&p, 1, (int)left) != 1))
            err = ETIMEDOUT;
        socklen_t len = sizeof(int);
        if (err == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
    }
    if (err != 0) {
        close(fd);
        return -err;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int cli_connect(const char *host, const char *port, char *err, size_t errcap)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *list;
    int g = getaddrinfo(host, port, &hints, &list);
    if (g != 0) {
        snprintf(err, errcap, "cannot resolve %s: %s", host, gai_strerror(g));
        return -1;
    }
    long long deadline = cli_now_ms() + CLI_LOGIN_MS;
    int fd = -EHOSTUNREACH;
    for (const struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        fd = connect_one(ai, deadline);
        if (fd >= 0)
            break;
    }
    freeaddrinfo(list);
    if (fd < 0) {
        snprintf(err, errcap, "cannot connect to %s port %s: %s (is the server running?)", host,
                 port, strerror(-fd));
        return -1;
    }
    return fd;
}

int cli_flush(cli_t *c)
{
    size_t done = 0;
    while (done < c->tx_len) {
        ssize_t n = send(c->fd, c->tx + done, c->tx_len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            done += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        return n < 0 ? -errno : -EPIPE;
    }
    memmove(c->tx, c->tx + done, c->tx_len - done);
    c->tx_len -= done;
    return 0;
}

int cli_send(cli_t *c, const uint8_t *pkt, size_t len)
{
    if (c->tx_len + len > c->tx_cap) {
        size_t cap = c->tx_cap ? c->tx_cap : 4096;
        while (cap < c->tx_len + len)
            cap *= 2;
        uint8_t *p = realloc(c->tx, cap);
        if (p == NULL)
            return -ENOMEM;
        c->tx = p;
        c->tx_cap = cap;
    }
    memcpy(c->tx + c->tx_len, pkt, len);
    c->tx_len += len;
    return cli_flush(c);
}
