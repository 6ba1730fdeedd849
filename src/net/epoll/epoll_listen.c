/* epoll_listen.c: accepting connections through readiness.
 *
 * Who calls it: common code (listen_start, listen_stop, accept_resume via
 * net_epoll_ops) and epoll_port.c (events). Owner thread only.
 * What it must never do: spin on a failing accept. On EMFILE, ENFILE, ENOBUFS,
 * ENOMEM, an unexpected error, or a full connection table, the listeners leave
 * the epoll set (accept_paused) until a connection closes and net_conn.c calls
 * accept_resume; pending connections wait in the backlog. At most
 * EPOLL_ACCEPT_MAX accepts per readiness event. */
#include "epoll_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

static int listener_add(struct net_port *p, net_listener_t *l)
{
    net_epoll_t *e = p->be;
    struct epoll_event ev = {
        .events = EPOLLIN,
        .data.u64 = epoll_tag(EPOLL_TAG_LISTEN, 0, (uint32_t)(l - p->listeners)),
    };
    if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, l->fd, &ev) < 0)
        return -errno;
    l->armed = true;
    return 0;
}

static void listener_remove(struct net_port *p, net_listener_t *l)
{
    net_epoll_t *e = p->be;
    if (l->armed)
        epoll_ctl(e->epfd, EPOLL_CTL_DEL, l->fd, NULL);
    l->armed = false;
}

static void epoll_accept_pause(struct net_port *p)
{
    if (p->accept_paused)
        return;
    p->accept_paused = true;
    net_stat_add(&p->stats.accept_pauses, 1);
    for (int i = 0; i < p->nlisteners; i++)
        listener_remove(p, &p->listeners[i]);
}

int net_epoll_listen_start(struct net_port *p, net_listener_t *l)
{
    int flags = fcntl(l->fd, F_GETFL);
    if (flags < 0 || fcntl(l->fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -errno;
    return p->accept_paused ? 0 : listener_add(p, l);
}

void net_epoll_listen_stop(struct net_port *p, net_listener_t *l)
{
    if (l->closed)
        return;
    listener_remove(p, l);
    l->closed = true;
    close(l->fd);
    l->fd = -1;
}

void net_epoll_accept_resume(struct net_port *p)
{
    for (int i = 0; i < p->nlisteners; i++) {
        net_listener_t *l = &p->listeners[i];
        if (!l->armed && !l->closed)
            listener_add(p, l);
    }
}

/* Returns false when accepting must stop for this event. */
static bool epoll_accept_one(struct net_port *p, net_listener_t *l)
{
    if (!net_conn_can_accept(p)) {
        epoll_accept_pause(p); /* leave the connection in the backlog */
        return false;
    }
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
        net_conn_accepted(p, fd);
        return true;
    }
    switch (errno) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
        return false;
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
        return true;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
        break;
    default:
        net_port_log(p, "accept failed (errno %d), pausing until a connection closes", errno);
        break;
    }
    epoll_accept_pause(p);
    return false;
}

void net_epoll_accept_event(struct net_port *p, uint32_t lidx)
{
    if (lidx >= (uint32_t)p->nlisteners)
        return;
    net_listener_t *l = &p->listeners[lidx];
    for (int i = 0; i < EPOLL_ACCEPT_MAX && l->armed && !l->closed; i++)
        if (!epoll_accept_one(p, l))
            break;
}
