/* uring_internal.h: state shared by the io_uring backend's files.
 *
 * Who includes it: the .c files of src/net/uring only. What it must never do: leak
 * io_uring types into common code (common code sees port->be as void *).
 * Invariant: every submitted operation is counted (per slot in s->inflight, per
 * listener in l->inflight, in total in u->inflight) until its final completion
 * (one without IORING_CQE_F_MORE); memory an operation references is released
 * only after that count reaches zero. */
#ifndef RINGCHAT_NET_URING_INTERNAL_H
#define RINGCHAT_NET_URING_INTERNAL_H

#include "net_internal.h"

#include <liburing.h>

/* Constants newer than some liburing headers. */
#ifndef IORING_CQE_F_MORE
#define IORING_CQE_F_MORE (1U << 1)
#endif
#ifndef IORING_RECV_MULTISHOT
#define IORING_RECV_MULTISHOT (1U << 1)
#endif
#ifndef IORING_ACCEPT_MULTISHOT
#define IORING_ACCEPT_MULTISHOT (1U << 0)
#endif
#ifndef IORING_SETUP_SUBMIT_ALL
#define IORING_SETUP_SUBMIT_ALL (1U << 7)
#endif
#ifndef IORING_SETUP_COOP_TASKRUN
#define IORING_SETUP_COOP_TASKRUN (1U << 8)
#endif

#define URING_BGID      0 /* the port's provided-buffer group */
#define URING_CQE_BATCH 256
#define URING_MAX_REAP  4 /* batches per run: bounded work per turn */
#define URING_CQ_FACTOR 8 /* CQ entries per SQ entry */

/* user_data: operation kind in the top byte, slot or listener index below. */
enum {
    URING_OP_WAKE = 1, /* eventfd read */
    URING_OP_ACCEPT,   /* listener index */
    URING_OP_RECV,     /* slot index */
    URING_OP_SEND,     /* slot index */
    URING_OP_CANCEL,   /* cancel of a slot's operation */
    URING_OP_LCANCEL,  /* cancel of a listener's accept */
    URING_OP_WCANCEL,  /* cancel of the wake read (destroy) */
};

static inline uint64_t uring_ud(unsigned op, uint32_t index)
{
    return ((uint64_t)op << 56) | index;
}

typedef struct net_uring {
    struct io_uring ring;
    /* provided-buffer ring */
    struct io_uring_buf_ring *br;
    size_t br_bytes;
    uint8_t *bufs;
    uint32_t buf_size, buf_count;
    int buf_returned; /* buffers added since the last advance */
    /* cross-thread wake-up */
    int wake_fd;
    uint64_t wake_val;
    bool wake_armed;
    /* features probed at start */
    bool multishot_recv, multishot_accept, has_msg_ring;
    /* connections whose receive stopped on ENOBUFS */
    uint32_t *rearm;
    uint32_t nrearm;
    int64_t inflight; /* every operation in the kernel */
} net_uring_t;

/* uring_port.c */
struct io_uring_sqe *net_uring_sqe(net_uring_t *u);

/* uring_conn.c */
int net_uring_bufs_init(struct net_port *p, net_uring_t *u);
void net_uring_bufs_fini(net_uring_t *u);
void net_uring_bufs_commit(net_uring_t *u);
void net_uring_rearm_pending(struct net_port *p);
void net_uring_recv_cqe(struct net_port *p, net_slot_t *s, const struct io_uring_cqe *cqe);
void net_uring_send_cqe(struct net_port *p, net_slot_t *s, const struct io_uring_cqe *cqe);
void net_uring_cancel_cqe(struct net_port *p, net_slot_t *s);
int net_uring_conn_start(struct net_port *p, net_slot_t *s);
int net_uring_send_start(struct net_port *p, net_slot_t *s, size_t *sent);
void net_uring_send_idle(struct net_port *p, net_slot_t *s);
bool net_uring_conn_stop(struct net_port *p, net_slot_t *s);

/* uring_listen.c */
int net_uring_listen_start(struct net_port *p, net_listener_t *l);
void net_uring_listen_stop(struct net_port *p, net_listener_t *l);
void net_uring_accept_resume(struct net_port *p);
void net_uring_accept_cqe(struct net_port *p, uint32_t lidx, const struct io_uring_cqe *cqe);
void net_uring_lcancel_cqe(struct net_port *p, uint32_t lidx);

#endif /* RINGCHAT_NET_URING_INTERNAL_H */
