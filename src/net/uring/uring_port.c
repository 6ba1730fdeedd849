/* uring_port.c: the io_uring backend's loop: ring setup and feature probes,
 * batched submission, completion reaping and dispatch, the eventfd wake-up,
 * and the quiesce step of a safe destroy.
 *
 * Who calls it: common code through net_uring_ops (net_port.c). Runs on the
 * owner thread, except uring_wake (any thread: one eventfd write).
 * What it must never do: use SQPOLL, spin, or free memory an operation in the
 * kernel still references (see uring_internal.h).
 *
 * Probes (liburing 2.3 headers, newer kernels): the opcodes RECV, SENDMSG,
 * ACCEPT, ASYNC_CANCEL and READ are required; a provided-buffer ring must
 * register; FEAT_NODROP and FEAT_EXT_ARG are required. MSG_RING is recorded
 * but not used (a sender may be any thread, with no ring of its own). Multishot
 * accept/recv are assumed and turned off at the first -EINVAL. Any failure
 * here makes AUTO fall back to epoll (net_port.c). */
#include "uring_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct io_uring_sqe *net_uring_sqe(net_uring_t *u)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);
    if (!sqe) { /* SQ full: submit what is there, then there is room */
        io_uring_submit(&u->ring);
        sqe = io_uring_get_sqe(&u->ring);
    }
    if (!sqe)
        abort(); /* the kernel refused a submit of a full SQ: cannot recover */
    u->inflight++;
    return sqe;
}

static void uring_arm_wake(net_uring_t *u)
{
    struct io_uring_sqe *sqe = net_uring_sqe(u);
    io_uring_prep_read(sqe, u->wake_fd, &u->wake_val, sizeof(u->wake_val), 0);
    io_uring_sqe_set_data64(sqe, uring_ud(URING_OP_WAKE, 0));
    u->wake_armed = true;
}

static int uring_probe(net_uring_t *u)
{
    static const int needed[] = {IORING_OP_RECV, IORING_OP_SENDMSG, IORING_OP_ACCEPT,
                                 IORING_OP_ASYNC_CANCEL, IORING_OP_READ};
    unsigned feats = IORING_FEAT_NODROP | IORING_FEAT_EXT_ARG;
    if ((u->ring.features & feats) != feats)
        return -EOPNOTSUPP;
    struct io_uring_probe *probe = io_uring_get_probe_ring(&u->ring);
    if (!probe)
        return -EOPNOTSUPP;
    int rc = 0;
    for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++)
        if (!io_uring_opcode_supported(probe, needed[i]))
            rc = -EOPNOTSUPP;
    u->has_msg_ring = io_uring_opcode_supported(probe, IORING_OP_MSG_RING);
    io_uring_free_probe(probe);
    u->multishot_recv = u->multishot_accept = true;
    return rc;
}

static int uring_setup(struct net_port *p, net_uring_t *u)
{
    struct io_uring_params params;
    memset(&params, 0, sizeof(params));
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
    params.cq_entries = p->cfg.ring_entries * URING_CQ_FACTOR;
    int rc = io_uring_queue_init_params(p->cfg.ring_entries, &u->ring, &params);
    if (rc == -EINVAL) { /* an older kernel: only the flags we must have */
        memset(&params, 0, sizeof(params));
        params.flags = IORING_SETUP_CQSIZE;
        params.cq_entries = p->cfg.ring_entries * URING_CQ_FACTOR;
        rc = io_uring_queue_init_params(p->cfg.ring_entries, &u->ring, &params);
    }
    return rc;
}

static int uring_init(struct net_port *p)
{
    net_uring_t *u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    u->wake_fd = -1;
    int rc = uring_setup(p, u);
    if (rc < 0) {
        free(u);
        return rc;
    }
    u->rearm = calloc(p->max_conns, sizeof(*u->rearm));
    u->wake_fd = eventfd(0, EFD_CLOEXEC);
    rc = !u->rearm || u->wake_fd < 0 ? -ENOMEM : uring_probe(u);
    if (rc == 0)
        rc = net_uring_bufs_init(p, u);
    if (rc < 0) {
        if (u->wake_fd >= 0)
            close(u->wake_fd);
        free(u->rearm);
        io_uring_queue_exit(&u->ring);
        free(u);
        return rc;
    }
    p->be = u;
    uring_arm_wake(u);
    return 0;
}

static void uring_fini(struct net_port *p)
{
    net_uring_t *u = p->be;
    net_uring_bufs_fini(u);
    io_uring_queue_exit(&u->ring);
    close(u->wake_fd);
    free(u->rearm);
    free(u);
    p->be = NULL;
}

static void uring_wake(struct net_port *p)
{
    net_uring_t *u = p->be;
    /* The eventfd counter saturates harmlessly; EAGAIN cannot happen below
     * 2^64-2 pending writes, and the owner reads it to zero on every wake. */
    eventfd_write(u->wake_fd, 1);
}

static void uring_wake_cqe(struct net_port *p, net_uring_t *u, const struct io_uring_cqe *cqe)
{
    u->wake_armed = false;
    if (cqe->res == -ECANCELED || p->destroying)
        return;
    net_port_wake_handled(p);
    uring_arm_wake(u);
}

static void uring_dispatch(struct net_port *p, net_uring_t *u, const struct io_uring_cqe *cqe)
{
    uint64_t ud = io_uring_cqe_get_data64(cqe);
    unsigned op = (unsigned)(ud >> 56);
    uint32_t index = (uint32_t)ud;
    if (!(cqe->flags & IORING_CQE_F_MORE))
        u->inflight--;
    switch (op) {
    case URING_OP_WAKE:
        uring_wake_cqe(p, u, cqe);
        break;
    case URING_OP_ACCEPT:
        net_uring_accept_cqe(p, index, cqe);
        break;
    case URING_OP_LCANCEL:
        net_uring_lcancel_cqe(p, index);
        break;
    case URING_OP_RECV:
        net_uring_recv_cqe(p, &p->slots[index], cqe);
        break;
    case URING_OP_SEND:
        net_uring_send_cqe(p, &p->slots[index], cqe);
        break;
    case URING_OP_CANCEL:
        net_uring_cancel_cqe(p, &p->slots[index]);
        break;
    case URING_OP_WCANCEL:
        break;
    default:
        abort(); /* a user_data we never submitted */
    }
}

/* Reap up to URING_MAX_REAP batches; return buffers and re-arm after each. */
static int uring_reap(struct net_port *p, net_uring_t *u)
{
    struct io_uring_cqe *cqes[URING_CQE_BATCH];
    int total = 0;
    for (int b = 0; b < URING_MAX_REAP; b++) {
        if (io_uring_cq_has_overflow(&u->ring)) {
            net_stat_add(&p->stats.cq_overflows, 1);
            io_uring_get_events(&u->ring); /* move overflowed CQEs into the ring */
        }
        unsigned n = io_uring_peek_batch_cqe(&u->ring, cqes, URING_CQE_BATCH);
        if (n == 0)
            break;
        for (unsigned i = 0; i < n; i++)
            uring_dispatch(p, u, cqes[i]);
        io_uring_cq_advance(&u->ring, n);
        net_uring_bufs_commit(u);
        net_uring_rearm_pending(p);
        total += (int)n;
    }
    return total;
}

static int uring_run(struct net_port *p, int timeout_ms)
{
    net_uring_t *u = p->be;
    int rc = 0;
    if (io_uring_cq_ready(&u->ring) == 0 && timeout_ms != 0) {
        struct io_uring_cqe *cqe;
        if (timeout_ms < 0) {
            rc = io_uring_submit_and_wait(&u->ring, 1);
        } else {
            struct __kernel_timespec ts = {.tv_sec = timeout_ms / 1000,
                                           .tv_nsec = (long long)(timeout_ms % 1000) * 1000000};
            rc = io_uring_submit_and_wait_timeout(&u->ring, &cqe, 1, &ts, NULL);
        }
    }
    if (io_uring_sq_ready(&u->ring) > 0) /* not waited, or woken before submitting */
        rc = io_uring_submit(&u->ring);
    else if (timeout_ms == 0 && io_uring_cq_ready(&u->ring) == 0)
        /* COOP_TASKRUN posts completions only when we enter the kernel. */
        rc = io_uring_get_events(&u->ring);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
        return rc;
    return uring_reap(p, u);
}

/* Destroy: cancel the wake read, then reap until the kernel holds nothing. Each
 * wait blocks in the kernel for completions; cancellations finish promptly. */
static void uring_quiesce(struct net_port *p)
{
    net_uring_t *u = p->be;
    if (u->wake_armed) {
        struct io_uring_sqe *sqe = net_uring_sqe(u);
        io_uring_prep_cancel64(sqe, uring_ud(URING_OP_WAKE, 0), 0);
        io_uring_sqe_set_data64(sqe, uring_ud(URING_OP_WCANCEL, 0));
    }
    while (u->inflight > 0) {
        int rc = io_uring_submit_and_wait(&u->ring, 1);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY && rc != -ETIME)
            abort(); /* cannot prove the kernel is done with our memory */
        uring_reap(p, u);
    }
}

const net_backend_ops_t net_uring_ops = {
    .name = "io_uring",
    .init = uring_init,
    .fini = uring_fini,
    .run = uring_run,
    .wake = uring_wake,
    .listen_start = net_uring_listen_start,
    .listen_stop = net_uring_listen_stop,
    .accept_resume = net_uring_accept_resume,
    .conn_start = net_uring_conn_start,
    .send_start = net_uring_send_start,
    .send_idle = net_uring_send_idle,
    .conn_stop = net_uring_conn_stop,
    .quiesce = uring_quiesce,
};
