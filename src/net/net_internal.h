/* net_internal.h: what the common code of net and its backends share.
 *
 * Who includes it: the .c files of src/net and of its backend folders only; never the
 * layer above (net.h is the contract). What it must never do: expose backend
 * types to common code (the backend keeps its state behind port->be).
 * Invariants (each explained where it is enforced):
 *  - a connection slot is never freed while its port lives; it is recycled
 *    (generation + 1) only when no sender holds it, it is on no ready stack, and
 *    the kernel holds no operation that references it (net_conn.c);
 *  - at most one send operation is in flight per connection (net_outbox.c);
 *  - the slot state word is the only place where other threads meet the owner
 *    (bit layout below; protocol in net_outbox.c and docs/net.md).
 *
 * Atomics: C11 <stdatomic.h>. Concurrency Kit's ck_pr is implemented in inline
 * assembly that ThreadSanitizer cannot see (every publication through it is
 * reported as a race); C11 atomics compile to the same x86-64 instructions and
 * let the TSan build check the protocol. */
#ifndef RINGCHAT_NET_INTERNAL_H
#define RINGCHAT_NET_INTERNAL_H

#include "net.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define NET_CACHE_LINE    64
#define NET_IOV_MAX       64 /* iovecs in one send (one per queued buffer) */
#define NET_MAX_LISTENERS 8
#define NET_PARK_MAX      64 /* accepted sockets waiting for a free slot */
#define NET_FLUSH_ROUNDS  8  /* synchronous send rounds per flush (epoll fairness) */

/* ------------------------------------------------------------ buffer pools */

/* Pool classes: 0 holds outbox nodes; 1.. hold buffers by size. */
enum { NET_POOL_ONODE = 0, NET_POOL_NCLASSES = 7 };
#define NET_POOL_NONE 0xff /* a buffer too large for any class: plain malloc */

void *net_pool_get(unsigned cls);
void net_pool_put(unsigned cls, void *obj);
size_t net_pool_obj_size(unsigned cls);
/* The smallest buffer class whose objects hold `bytes`, or NET_POOL_NONE. */
unsigned net_pool_class_for(size_t bytes);

struct net_buf {
    _Atomic uint32_t refs; /* references; the last net_buf_unref frees */
    uint8_t cls;           /* pool class or NET_POOL_NONE */
    size_t len;            /* bytes in use */
    size_t cap;            /* bytes allocated after the header */
    _Alignas(16) uint8_t data[];
};

/* One (connection, buffer) pair: a buffer sits in many outboxes at once, so
 * the link cannot live in the buffer. From the NET_POOL_ONODE pool. */
typedef struct net_onode {
    struct net_onode *next;
    net_buf_t *buf;
} net_onode_t;

/* --------------------------------------------------------- slot state word
 * 63..32 generation | 29 SLOW | 28 CLOSE_FLUSH | 27 CLOSE_REQ | 26 QUEUED
 * | 25 FP (flush pending) | 24 OPEN | 23..0 senders (threads inside a send). */
#define NET_ST_SENDERS     0x00ffffffull
#define NET_ST_OPEN        (1ull << 24)
#define NET_ST_FP          (1ull << 25)
#define NET_ST_QUEUED      (1ull << 26)
#define NET_ST_CLOSE_REQ   (1ull << 27)
#define NET_ST_CLOSE_FLUSH (1ull << 28)
#define NET_ST_SLOW        (1ull << 29)
#define NET_ST_GEN_SHIFT   32

static inline uint32_t net_st_gen(uint64_t st)
{
    return (uint32_t)(st >> NET_ST_GEN_SHIFT);
}

/* Owner-side life of a slot (docs/net.md has the diagram). */
typedef enum net_ostate {
    NET_OS_FREE = 0, /* on the free list */
    NET_OS_OPEN,     /* receiving and sending */
    NET_OS_DRAINING, /* close requested with flush: sending what is queued */
    NET_OS_CLOSING,  /* waiting for the kernel to finish every operation */
    NET_OS_CLOSED,   /* on_close done; waiting for senders to leave, then free */
} net_ostate_t;

typedef struct net_slot {
    /* Shared with every thread (own cache line). */
    _Alignas(NET_CACHE_LINE) _Atomic uint64_t state;
    _Atomic(net_onode_t *) head; /* outbox: LIFO stack, pushed by senders */
    _Atomic size_t queued;       /* outbox bytes not yet written */
    struct net_slot *ready_next; /* link on the port's ready stack; written only
                                  * by whoever set QUEUED (see net_port.c) */

    /* Owner thread only. */
    _Alignas(NET_CACHE_LINE) int fd;
    uint32_t index;
    net_ostate_t ostate;
    net_close_reason_t reason;
    void *udata;
    net_onode_t *q_head; /* private FIFO, oldest first, of what is not in iov[] yet */
    net_onode_t *q_tail;
    uint32_t niov;   /* the send queue: iov[0..niov) hold the oldest buffers */
    size_t send_off; /* bytes of iov[0]'s buffer already written */
    size_t send_len; /* bytes offered by the send in flight */
    bool send_busy;  /* a send is in flight (uring) / waiting for POLLOUT (epoll) */
    bool recv_armed; /* uring: a receive is armed; epoll: EPOLLIN registered */
    bool rearm_wait; /* uring: receive stopped on ENOBUFS, re-arm pending */
    bool out_armed;  /* epoll: EPOLLOUT registered */
    bool read_eof;   /* end of stream seen and handed to on_eof: receive no more */
    int inflight;    /* uring: kernel operations referencing this slot */
    uint32_t free_next;
    struct msghdr msg;
    /* The send queue itself: one entry per queued buffer, pointing at the
     * bytes still to write, so a send needs no list walk and a completion
     * frees buffers without touching an outbox node (net_outbox.c). */
    struct iovec iov[NET_IOV_MAX];
} net_slot_t;

/* ------------------------------------------------------------------- ports */

typedef struct net_listener {
    int fd;
    uint16_t port;
    bool armed;  /* an accept is armed (uring) / registered (epoll) */
    bool closed; /* closing: do not re-arm */
    int inflight;
} net_listener_t;

/* Counters written by the owner, read by anyone (relaxed). */
typedef struct net_stats_atomic {
    _Atomic uint64_t accepted, closed, bytes_in, bytes_out, sends, partial_sends;
    _Atomic uint64_t recv_enobufs, accept_pauses, wakeups, cq_overflows, slow_closes;
} net_stats_atomic_t;

/* Owner-only increment of a counter others read: a relaxed load and store is
 * enough because only the owner writes it (readers want a snapshot). */
static inline void net_stat_add(_Atomic uint64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}

/* Result of a backend's send_start. */
enum { NET_SEND_DONE = 0, NET_SEND_ASYNC = 1 };

struct net_port;

/* The backend interface: common code decides *what* to do, a backend says
 * *how* with its kernel interface. Every function runs on the owner thread. */
typedef struct net_backend_ops {
    const char *name;
    int (*init)(struct net_port *p); /* 0 or -errno (kernel refusal for uring) */
    void (*fini)(struct net_port *p);
    /* Submit, wait up to timeout_ms (-1 forever), reap, dispatch. */
    int (*run)(struct net_port *p, int timeout_ms);
    void (*wake)(struct net_port *p); /* make a waiting run return (any thread) */
    int (*listen_start)(struct net_port *p, net_listener_t *l);
    void (*listen_stop)(struct net_port *p, net_listener_t *l);
    void (*accept_resume)(struct net_port *p);            /* after accept_paused */
    int (*conn_start)(struct net_port *p, net_slot_t *s); /* start receiving */
    /* Offer s->msg (iov built by common code). NET_SEND_DONE with *sent filled
     * (epoll), NET_SEND_ASYNC (completion later calls net_conn_send_done or
     * net_conn_writable), or -errno. */
    int (*send_start)(struct net_port *p, net_slot_t *s, size_t *sent);
    void (*send_idle)(struct net_port *p, net_slot_t *s); /* nothing left to send */
    /* Stop every operation on s. Returns true if none is left (close the fd
     * now), false if the backend will call net_conn_io_drained() later. */
    bool (*conn_stop)(struct net_port *p, net_slot_t *s);
    /* Wait for every kernel operation of the port (destroy only). */
    void (*quiesce)(struct net_port *p);
} net_backend_ops_t;

extern const net_backend_ops_t net_uring_ops;
extern const net_backend_ops_t net_epoll_ops;

struct net_port {
    /* Shared with every thread (own cache line). */
    _Alignas(NET_CACHE_LINE) _Atomic(net_slot_t *) ready_head; /* slots needing
                                                                * the owner */
    _Atomic unsigned wake_pending; /* an eventfd write is pending (coalescing) */
    _Atomic(void *) owner;         /* token of the owner thread (net_port.c) */
    _Atomic uint32_t nconns;       /* slots not FREE */

    /* Owner thread only (read-only after create for the config). */
    _Alignas(NET_CACHE_LINE) const net_backend_ops_t *ops;
    void *be; /* backend state */
    net_config_t cfg;
    net_callbacks_t cb;
    void *udata;
    net_slot_t *slots; /* max_conns of them, mapped at once, touched only once used */
    uint32_t max_conns;
    uint32_t free_head;     /* free list of slots through free_next; UINT32_MAX = none */
    _Atomic uint32_t fresh; /* slots [fresh, max_conns) were never used; any thread
                             * reads it (relaxed), the owner writes it */
    net_listener_t listeners[NET_MAX_LISTENERS];
    int nlisteners;
    _Atomic uint16_t bound_port;
    bool accept_paused;
    bool self_wake; /* net_port_wake from the owner: next run does not block */
    /* io_uring's multishot accept can deliver sockets after the table filled
     * up and before its cancellation lands: they wait here (FIFO) for a slot
     * instead of being refused. */
    int parked[NET_PARK_MAX];
    int nparked;
    bool destroying;
    net_stats_atomic_t stats;
};

/* ------------------------------------------- common code for the backends */

/* net_port.c */
void net_port_log(struct net_port *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void net_port_enqueue(struct net_port *p, net_slot_t *s); /* push on ready stack */
int net_port_drain_ready(struct net_port *p);             /* owner: ready stack */
bool net_port_has_ready(struct net_port *p);
bool net_port_is_owner(const struct net_port *p);
void net_port_wake_handled(struct net_port *p); /* backend consumed the eventfd */

/* net_conn.c */
net_slot_t *net_conn_slot(net_conn_t c); /* bounds-checked; NULL if out of range */
net_conn_t net_conn_handle(struct net_port *p, net_slot_t *s);
bool net_conn_can_accept(struct net_port *p); /* a free slot exists */
/* A new socket: allocate a slot, call on_accept, start receiving. If the
 * table is full the socket is parked until a slot frees (or closed if the
 * parking is full too) and -ENFILE is returned: the backend pauses accepting. */
int net_conn_accepted(struct net_port *p, int fd);
void net_conn_data(struct net_port *p, net_slot_t *s, const uint8_t *data, size_t len);
void net_conn_close_now(struct net_port *p, net_slot_t *s, net_close_reason_t reason);
/* Backend: recv saw end of stream. Closes at once (NET_CLOSE_PEER) unless
 * the owner takes it through on_eof; then read_eof is set and the backend
 * must stop receiving. */
void net_conn_eof(struct net_port *p, net_slot_t *s);
void net_conn_io_drained(struct net_port *p, net_slot_t *s); /* backend: ops done */
void net_conn_on_ready(struct net_port *p, net_slot_t *s);   /* popped from ready */
net_close_reason_t net_conn_reason_from_errno(int err);
int net_conn_table_init(struct net_port *p);
void net_conn_table_fini(struct net_port *p); /* also closes parked sockets */

/* net_outbox.c (owner side) */
void net_outbox_flush(struct net_port *p, net_slot_t *s);
void net_conn_send_done(struct net_port *p, net_slot_t *s, int res); /* uring */
void net_conn_writable(struct net_port *p, net_slot_t *s);           /* epoll */
void net_outbox_discard(struct net_port *p, net_slot_t *s);          /* release everything */

#endif /* RINGCHAT_NET_INTERNAL_H */
