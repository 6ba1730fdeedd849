/* epoll_internal.h: state shared by the epoll backend's files.
 *
 * Who includes it: the .c files of src/net/epoll only. What it must never do: leak epoll
 * details into common code (common code sees port->be as void *).
 * Invariant: an event's tag names the slot *and* the low bits of its
 * generation, so an event reaped in the same batch in which its connection was
 * closed and its slot reused is recognised as stale and dropped. */
#ifndef RINGCHAT_NET_EPOLL_INTERNAL_H
#define RINGCHAT_NET_EPOLL_INTERNAL_H

#include "net_internal.h"

#include <sys/epoll.h>

#define EPOLL_BATCH      256 /* events per epoll_wait */
#define EPOLL_ACCEPT_MAX 64  /* accepts per readiness event: bounded work */

/* epoll_event.data.u64: kind in the top byte, 24 bits of generation, index. */
enum { EPOLL_TAG_WAKE = 1, EPOLL_TAG_LISTEN, EPOLL_TAG_CONN };

static inline uint64_t epoll_tag(unsigned kind, uint32_t gen, uint32_t index)
{
    return ((uint64_t)kind << 56) | ((uint64_t)(gen & 0xffffff) << 32) | index;
}

typedef struct net_epoll {
    int epfd;
    int wake_fd;
    uint8_t *rbuf; /* the one receive buffer of the port */
    size_t rbuf_size;
} net_epoll_t;

/* epoll_conn.c */
void net_epoll_conn_event(struct net_port *p, uint64_t tag, uint32_t events);
int net_epoll_conn_start(struct net_port *p, net_slot_t *s);
int net_epoll_send_start(struct net_port *p, net_slot_t *s, size_t *sent);
void net_epoll_send_idle(struct net_port *p, net_slot_t *s);
bool net_epoll_conn_stop(struct net_port *p, net_slot_t *s);

/* epoll_listen.c */
int net_epoll_listen_start(struct net_port *p, net_listener_t *l);
void net_epoll_listen_stop(struct net_port *p, net_listener_t *l);
void net_epoll_accept_resume(struct net_port *p);
void net_epoll_accept_event(struct net_port *p, uint32_t lidx);

#endif /* RINGCHAT_NET_EPOLL_INTERNAL_H */
