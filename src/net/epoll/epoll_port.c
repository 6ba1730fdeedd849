/* epoll_port.c: the epoll backend's loop: the epoll set, the eventfd wake-up
 * and event dispatch. The fallback when io_uring is refused, and the same
 * behaviour through readiness instead of completions.
 *
 * Who calls it: common code through net_epoll_ops (net_port.c). Runs on the
 * owner thread, except epoll_wake (any thread: one eventfd write).
 * What it must never do: spin, or drain a socket without bound in one turn.
 *
 * Level-triggered, on purpose: each ready connection gets one recv per turn
 * (fair and bounded, like one completion per connection per batch with
 * io_uring) and is reported again next turn if more is waiting. Edge-triggered
 * would force reading until EAGAIN to avoid losing the edge, letting one busy
 * client hold the loop. EPOLLOUT is registered only while a send is waiting
 * for room: that is this backend's "one send in flight". */
#include "epoll_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

static int epoll_init(struct net_port *p)
{
    net_epoll_t *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->rbuf_size = p->cfg.recv_buf_size;
    e->rbuf = malloc(e->rbuf_size);
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    e->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    int rc = 0;
    if (!e->rbuf || e->epfd < 0 || e->wake_fd < 0) {
        rc = e->rbuf ? -errno : -ENOMEM;
    } else {
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = epoll_tag(EPOLL_TAG_WAKE, 0, 0)};
        if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->wake_fd, &ev) < 0)
            rc = -errno;
    }
    if (rc < 0) {
        if (e->epfd >= 0)
            close(e->epfd);
        if (e->wake_fd >= 0)
            close(e->wake_fd);
        free(e->rbuf);
        free(e);
        return rc;
    }
    p->be = e;
    return 0;
}

static void epoll_fini(struct net_port *p)
{
    net_epoll_t *e = p->be;
    close(e->epfd);
    close(e->wake_fd);
    free(e->rbuf);
    free(e);
    p->be = NULL;
}

static void epoll_wake(struct net_port *p)
{
    net_epoll_t *e = p->be;
    eventfd_write(e->wake_fd, 1);
}

static void epoll_wake_event(struct net_port *p)
{
    net_epoll_t *e = p->be;
    eventfd_t v;
    eventfd_read(e->wake_fd, &v); /* reset the counter (non-blocking) */
    net_port_wake_handled(p);
}

static int epoll_run(struct net_port *p, int timeout_ms)
{
    net_epoll_t *e = p->be;
    struct epoll_event evs[EPOLL_BATCH];
    int n = epoll_wait(e->epfd, evs, EPOLL_BATCH, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) {
        uint64_t tag = evs[i].data.u64;
        switch ((unsigned)(tag >> 56)) {
        case EPOLL_TAG_WAKE:
            epoll_wake_event(p);
            break;
        case EPOLL_TAG_LISTEN:
            net_epoll_accept_event(p, (uint32_t)tag);
            break;
        case EPOLL_TAG_CONN:
            net_epoll_conn_event(p, tag, evs[i].events);
            break;
        default:
            abort(); /* a tag we never registered */
        }
    }
    return n;
}

static void epoll_quiesce(struct net_port *p)
{
    (void)p; /* readiness leaves nothing in the kernel that references us */
}

const net_backend_ops_t net_epoll_ops = {
    .name = "epoll",
    .init = epoll_init,
    .fini = epoll_fini,
    .run = epoll_run,
    .wake = epoll_wake,
    .listen_start = net_epoll_listen_start,
    .listen_stop = net_epoll_listen_stop,
    .accept_resume = net_epoll_accept_resume,
    .conn_start = net_epoll_conn_start,
    .send_start = net_epoll_send_start,
    .send_idle = net_epoll_send_idle,
    .conn_stop = net_epoll_conn_stop,
    .quiesce = epoll_quiesce,
};
