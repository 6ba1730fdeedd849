/* uring_conn.c: io_uring operations of one connection: multishot receive from
 * the port's provided-buffer ring, one sendmsg in flight, and cancellation.
 *
 * Who calls it: common code (conn_start, send_start, conn_stop via
 * net_uring_ops) and uring_port.c (completions). Owner thread only.
 * What it must never do: hold a receive buffer after the callback returns (an
 * idle connection holds none), re-arm a receive of a closing connection, or
 * report a slot drained while an operation on it is in the kernel.
 *
 * ENOBUFS: a multishot receive ends with -ENOBUFS (no IORING_CQE_F_MORE) when
 * the ring has no free buffer. The slot goes on a re-arm list that is served
 * after the batch's buffers went back to the ring (net_uring_rearm_pending),
 * never on a timer. */
#include "uring_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

int net_uring_bufs_init(struct net_port *p, net_uring_t *u)
{
    u->buf_count = p->cfg.recv_buf_count;
    u->buf_size = p->cfg.recv_buf_size;
    u->br_bytes = (size_t)u->buf_count * sizeof(struct io_uring_buf);
    /* The ring must be page aligned: mmap gives that. */
    void *br = mmap(NULL, u->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (br == MAP_FAILED)
        return -ENOMEM;
    u->br = br;
    u->bufs = aligned_alloc(NET_CACHE_LINE, (size_t)u->buf_count * u->buf_size);
    if (!u->bufs) {
        munmap(br, u->br_bytes);
        return -ENOMEM;
    }
    struct io_uring_buf_reg reg = {
        .ring_addr = (uintptr_t)br, .ring_entries = u->buf_count, .bgid = URING_BGID};
    int rc = io_uring_register_buf_ring(&u->ring, &reg, 0);
    if (rc < 0) { /* kernels before 5.19: no provided-buffer rings */
        free(u->bufs);
        munmap(br, u->br_bytes);
        return rc;
    }
    io_uring_buf_ring_init(u->br);
    int mask = io_uring_buf_ring_mask(u->buf_count);
    for (uint32_t i = 0; i < u->buf_count; i++)
        io_uring_buf_ring_add(u->br, u->bufs + (size_t)i * u->buf_size, u->buf_size,
                              (unsigned short)i, mask, (int)i);
    io_uring_buf_ring_advance(u->br, (int)u->buf_count);
    return 0;
}

void net_uring_bufs_fini(net_uring_t *u)
{
    io_uring_unregister_buf_ring(&u->ring, URING_BGID);
    munmap(u->br, u->br_bytes);
    free(u->bufs);
}

static void uring_buf_return(net_uring_t *u, unsigned bid)
{
    io_uring_buf_ring_add(u->br, u->bufs + (size_t)bid * u->buf_size, u->buf_size,
                          (unsigned short)bid, io_uring_buf_ring_mask(u->buf_count),
                          u->buf_returned++);
}

void net_uring_bufs_commit(net_uring_t *u)
{
    if (u->buf_returned) { /* one release store publishes the whole batch */
        io_uring_buf_ring_advance(u->br, u->buf_returned);
        u->buf_returned = 0;
    }
}

static bool uring_receiving(const net_slot_t *s)
{
    return (s->ostate == NET_OS_OPEN || s->ostate == NET_OS_DRAINING) && !s->read_eof;
}

static void uring_arm_recv(net_uring_t *u, net_slot_t *s)
{
    struct io_uring_sqe *sqe = net_uring_sqe(u);
    if (u->multishot_recv)
        io_uring_prep_recv_multishot(sqe, s->fd, NULL, 0, 0);
    else
        io_uring_prep_recv(sqe, s->fd, NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = URING_BGID;
    io_uring_sqe_set_data64(sqe, uring_ud(URING_OP_RECV, s->index));
    s->recv_armed = true;
    s->inflight++;
}

void net_uring_rearm_pending(struct net_port *p)
{
    net_uring_t *u = p->be;
    for (uint32_t i = 0; i < u->nrearm; i++) {
        net_slot_t *s = &p->slots[u->rearm[i]];
        s->rearm_wait = false;
        if (uring_receiving(s) && !s->recv_armed)
            uring_arm_recv(u, s);
    }
    u->nrearm = 0;
}

static void uring_recv_error(struct net_port *p, net_uring_t *u, net_slot_t *s, int err, bool more)
{
    if (err == ENOBUFS) {
        net_stat_add(&p->stats.recv_enobufs, 1);
        if (!more && !s->rearm_wait) { /* once per slot on the list */
            s->rearm_wait = true;
            u->rearm[u->nrearm++] = s->index;
        }
    } else if (err == EINVAL && u->multishot_recv && !more) {
        u->multishot_recv = false; /* kernel without multishot receive */
        net_port_log(p, "io_uring multishot recv unsupported, using single-shot");
        if (uring_receiving(s))
            uring_arm_recv(u, s);
    } else if (err != ECANCELED) {
        net_conn_close_now(p, s, net_conn_reason_from_errno(err));
    }
}

void net_uring_recv_cqe(struct net_port *p, net_slot_t *s, const struct io_uring_cqe *cqe)
{
    net_uring_t *u = p->be;
    bool more = cqe->flags & IORING_CQE_F_MORE;
    if (!more) {
        s->recv_armed = false;
        s->inflight--;
    }
    if (cqe->flags & IORING_CQE_F_BUFFER) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (cqe->res > 0)
            net_conn_data(p, s, u->bufs + (size_t)bid * u->buf_size, (size_t)cqe->res);
        uring_buf_return(u, bid); /* the callback copied what it keeps */
    }
    if (cqe->res < 0)
        uring_recv_error(p, u, s, -cqe->res, more);
    else if (cqe->res == 0)
        net_conn_eof(p, s); /* ends the multishot receive; none is re-armed */
    else if (!more && uring_receiving(s) && !s->recv_armed)
        uring_arm_recv(u, s); /* single-shot, or the kernel ended the multishot */
    if (s->ostate == NET_OS_CLOSING && s->inflight == 0)
        net_conn_io_drained(p, s);
}

void net_uring_send_cqe(struct net_port *p, net_slot_t *s, const struct io_uring_cqe *cqe)
{
    s->inflight--;
    net_conn_send_done(p, s, cqe->res);
    if (s->ostate == NET_OS_CLOSING && s->inflight == 0)
        net_conn_io_drained(p, s);
}

void net_uring_cancel_cqe(struct net_port *p, net_slot_t *s)
{
    s->inflight--;
    if (s->ostate == NET_OS_CLOSING && s->inflight == 0)
        net_conn_io_drained(p, s);
}

int net_uring_conn_start(struct net_port *p, net_slot_t *s)
{
    uring_arm_recv(p->be, s);
    return 0;
}

int net_uring_send_start(struct net_port *p, net_slot_t *s, size_t *sent)
{
    (void)sent;
    net_uring_t *u = p->be;
    struct io_uring_sqe *sqe = net_uring_sqe(u);
    io_uring_prep_sendmsg(sqe, s->fd, &s->msg, MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, uring_ud(URING_OP_SEND, s->index));
    s->inflight++;
    return NET_SEND_ASYNC;
}

void net_uring_send_idle(struct net_port *p, net_slot_t *s)
{
    (void)p;
    (void)s;
}

static void uring_cancel(net_uring_t *u, net_slot_t *s, unsigned op)
{
    struct io_uring_sqe *sqe = net_uring_sqe(u);
    io_uring_prep_cancel64(sqe, uring_ud(op, s->index), 0);
    io_uring_sqe_set_data64(sqe, uring_ud(URING_OP_CANCEL, s->index));
    s->inflight++;
}

bool net_uring_conn_stop(struct net_port *p, net_slot_t *s)
{
    net_uring_t *u = p->be;
    if (s->recv_armed)
        uring_cancel(u, s, URING_OP_RECV);
    if (s->send_busy)
        uring_cancel(u, s, URING_OP_SEND);
    return s->inflight == 0;
}
