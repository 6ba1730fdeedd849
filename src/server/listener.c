/* listener.c: the listening socket (see listener.h). SO_REUSEADDR so a
 * restart does not wait for TIME_WAIT; the address is resolved once. */
#include "listener.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

static uint16_t port_of(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

int listener_open(const char *addr, uint16_t port, int backlog, uint16_t *bound_port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char service[8];
    snprintf(service, sizeof(service), "%u", (unsigned)port);
    int gai = getaddrinfo(addr, service, &hints, &res);
    if (gai != 0) {
        log_error("cannot resolve --bind %s: %s", addr, gai_strerror(gai));
        return -EINVAL;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        freeaddrinfo(res);
        log_error("socket: %s", strerror(e));
        return -e;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
        int e = errno;
        freeaddrinfo(res);
        close(fd);
        log_error("cannot listen on %s:%u: %s", addr, (unsigned)port, strerror(e));
        return -e;
    }
    freeaddrinfo(res);
    *bound_port = port_of(fd);
    return fd;
}
