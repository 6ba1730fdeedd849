/* uring_listen.c: accepting connections with multishot accept.
 *
 * Who calls it: common code (listen_start, listen_stop, accept_resume through
 * net_uring_ops) and uring_port.c (completions). Owner thread only.
 * What it must never do: spin on a failing accept. When accepting fails for
 * lack of descriptors (EMFILE, ENFILE, ENOBUFS, ENOMEM) or of connection slots,
 * or with an error we do not expect, the port *pauses*: armed accepts are
 * cancelled and nothing is re-armed until a connection closes
 * (net_conn.c calls accept_resume). Pending connections wait in the backlog.
 * Invariant: a listener's socket is closed only when no accept on it is in the
 * kernel (l->inflight == 0). */
#include "uring_internal.h"

#include <errno.h>
#include <unistd.h>

static uint32_t listener_index(struct net_port *p, net_listener_t *l)
{
    return (uint32_t)(l - p->listeners);
}

static void uring_arm_accept(struct net_port *p, net_listener_t *l)
{
    net_uring_t *u = p->be;
    struct io_uring_sqe *sqe = net_uring_sqe(u);
    if (u->multishot_accept)
        io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
    else
        io_uring_prep_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, uring_ud(URING_OP_ACCEPT, listener_index(p, l)));
    l->armed = true;
    l->inflight++;
}

static void uring_cancel_accept(struct net_port *p, net_listener_t *l)
{
    net_uring_t *u = p->be;
    uint32_t idx = listener_index(p, l);
    struct io_uring_sqe *sqe = net_uring_sqe(u);
    io_uring_prep_cancel64(sqe, uring_ud(URING_OP_ACCEPT, idx), 0);
    io_uring_sqe_set_data64(sqe, uring_ud(URING_OP_LCANCEL, idx));
    l->inflight++;
}

static void listener_maybe_close(net_listener_t *l)
{
    if (l->closed && l->inflight == 0 && l->fd >= 0) {
        close(l->fd);
        l->fd = -1;
    }
}

static void uring_accept_pause(struct net_port *p)
{
    if (p->accept_paused)
        return;
    p->accept_paused = true;
    net_stat_add(&p->stats.accept_pauses, 1);
    for (int i = 0; i < p->nlisteners; i++) {
        net_listener_t *l = &p->listeners[i];
        if (l->armed && !l->closed)
            uring_cancel_accept(p, l);
    }
}

int net_uring_listen_start(struct net_port *p, net_listener_t *l)
{
    if (!p->accept_paused)
        uring_arm_accept(p, l);
    return 0;
}

void net_uring_listen_stop(struct net_port *p, net_listener_t *l)
{
    if (l->closed)
        return;
    l->closed = true;
    if (l->armed)
        uring_cancel_accept(p, l);
    listener_maybe_close(l);
}

void net_uring_accept_resume(struct net_port *p)
{
    for (int i = 0; i < p->nlisteners; i++) {
        net_listener_t *l = &p->listeners[i];
        if (!l->armed && !l->closed)
            uring_arm_accept(p, l);
    }
}

static void uring_accept_error(struct net_port *p, int err, bool more)
{
    net_uring_t *u = p->be;
    switch (err) {
    case ECANCELED: /* our pause or stop */
    case ECONNABORTED:
    case EINTR:
    case EAGAIN:
        break;
    case EINVAL:
        if (u->multishot_accept && !more) {
            u->multishot_accept = false; /* kernel without multishot accept */
            net_port_log(p, "io_uring multishot accept unsupported, using single-shot");
            break;
        }
        /* fall through */
    default:
        net_port_log(p, "accept failed (errno %d), pausing until a connection closes", err);
        /* fall through */
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
        uring_accept_pause(p);
        break;
    }
}

void net_uring_accept_cqe(struct net_port *p, uint32_t lidx, const struct io_uring_cqe *cqe)
{
    net_listener_t *l = &p->listeners[lidx];
    bool more = cqe->flags & IORING_CQE_F_MORE;
    if (!more) {
        l->armed = false;
        l->inflight--;
    }
    if (cqe->res >= 0) {
        if (l->closed || p->destroying)
            close(cqe->res);
        else if (net_conn_accepted(p, cqe->res) < 0 || !net_conn_can_accept(p))
            uring_accept_pause(p); /* table full: stop before refusing anyone */
    } else {
        uring_accept_error(p, -cqe->res, more);
    }
    if (!l->armed && !l->closed && !p->accept_paused && !p->destroying)
        uring_arm_accept(p, l); /* F_MORE clear: the multishot ended */
    listener_maybe_close(l);
}

void net_uring_lcancel_cqe(struct net_port *p, uint32_t lidx)
{
    net_listener_t *l = &p->listeners[lidx];
    l->inflight--;
    listener_maybe_close(l);
}
