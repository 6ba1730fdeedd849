/* epoll_conn.c: one connection through readiness: one recv per turn into the
 * port's single receive buffer, sendmsg of the outbox's iovec batch, EPOLLOUT
 * while a send waits for room.
 *
 * Who calls it: common code (conn_start, send_start, send_idle, conn_stop via
 * net_epoll_ops) and epoll_port.c (events). Owner thread only.
 * What it must never do: act on an event whose tag names an older generation of
 * the slot, or keep EPOLLOUT registered with nothing to send (level-triggered:
 * it would fire every turn). */
#include "epoll_internal.h"

#include <errno.h>
#include <sys/socket.h>

static uint32_t slot_gen(const net_slot_t *s)
{
    /* Relaxed: the owner reads its own slot's generation. */
    return net_st_gen(atomic_load_explicit(&s->state, memory_order_relaxed));
}

static int epoll_set(struct net_port *p, net_slot_t *s, int op)
{
    net_epoll_t *e = p->be;
    struct epoll_event ev = {
        .events = (s->read_eof ? 0 : EPOLLIN | EPOLLRDHUP) | (s->out_armed ? EPOLLOUT : 0),
        .data.u64 = epoll_tag(EPOLL_TAG_CONN, slot_gen(s), s->index),
    };
    return epoll_ctl(e->epfd, op, s->fd, &ev) < 0 ? -errno : 0;
}

static void epoll_recv(struct net_port *p, net_slot_t *s)
{
    net_epoll_t *e = p->be;
    ssize_t n = recv(s->fd, e->rbuf, e->rbuf_size, MSG_DONTWAIT);
    if (n > 0)
        net_conn_data(p, s, e->rbuf, (size_t)n);
    else if (n == 0 && s->read_eof)
        net_conn_close_now(p, s, NET_CLOSE_PEER); /* hung up both ways: no one to answer */
    else if (n == 0) {
        net_conn_eof(p, s);
        if (s->read_eof) /* still open for sending: stop level-triggered EOF reports */
            epoll_set(p, s, EPOLL_CTL_MOD);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        net_conn_close_now(p, s, net_conn_reason_from_errno(errno));
}

void net_epoll_conn_event(struct net_port *p, uint64_t tag, uint32_t events)
{
    uint32_t index = (uint32_t)tag;
    if (index >= p->max_conns)
        return;
    net_slot_t *s = &p->slots[index];
    bool live = s->ostate == NET_OS_OPEN || s->ostate == NET_OS_DRAINING;
    if (!live || ((tag >> 32) & 0xffffff) != (slot_gen(s) & 0xffffff))
        return; /* closed (or reused) earlier in this batch */
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
        epoll_recv(p, s);
    live = s->ostate == NET_OS_OPEN || s->ostate == NET_OS_DRAINING;
    if (live && (events & (EPOLLOUT | EPOLLERR)) && s->out_armed)
        net_conn_writable(p, s);
}

int net_epoll_conn_start(struct net_port *p, net_slot_t *s)
{
    s->out_armed = false;
    int rc = epoll_set(p, s, EPOLL_CTL_ADD);
    s->recv_armed = rc == 0;
    return rc;
}

int net_epoll_send_start(struct net_port *p, net_slot_t *s, size_t *sent)
{
    ssize_t n = sendmsg(s->fd, &s->msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
        *sent = (size_t)n;
        return NET_SEND_DONE;
    }
    if (errno == EINTR) {
        *sent = 0;
        return NET_SEND_DONE;
    }
    if (errno != EAGAIN && errno != EWOULDBLOCK)
        return -errno;
    if (!s->out_armed) { /* wait for room: the send is now "in flight" */
        s->out_armed = true;
        int rc = epoll_set(p, s, EPOLL_CTL_MOD);
        if (rc < 0)
            return rc;
    }
    return NET_SEND_ASYNC;
}

void net_epoll_send_idle(struct net_port *p, net_slot_t *s)
{
    if (s->out_armed) {
        s->out_armed = false;
        epoll_set(p, s, EPOLL_CTL_MOD);
    }
}

bool net_epoll_conn_stop(struct net_port *p, net_slot_t *s)
{
    net_epoll_t *e = p->be;
    if (s->recv_armed)
        epoll_ctl(e->epfd, EPOLL_CTL_DEL, s->fd, NULL);
    s->recv_armed = false;
    s->out_armed = false;
    return true; /* nothing in the kernel references the slot */
}
