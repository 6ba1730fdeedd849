/* auth_redis_ev.h: a hiredis event adapter for a plain epoll loop: hiredis's
 * ev.addRead/delRead/addWrite/delWrite/cleanup hooks become epoll_ctl calls.
 * Used only by auth_redis.c, on its I/O thread (hiredis contexts are not
 * thread-safe). Invariant: the socket is registered in epoll exactly while
 * hiredis wants to read or write it, and never after cleanup. */
#ifndef RINGCHAT_AUTH_REDIS_EV_H
#define RINGCHAT_AUTH_REDIS_EV_H

#include <stdbool.h>
#include <stdint.h>

#include <hiredis/async.h>

typedef struct auth_redis_ev {
    int epfd;
    int fd;        /* -1 once hiredis has cleaned up */
    uint32_t mask; /* EPOLLIN | EPOLLOUT wanted by hiredis */
    bool in_epoll; /* fd registered in epfd */
    uint64_t tag;  /* epoll_event.data.u64 for this connection */
    void (*on_cleanup)(void *owner, redisAsyncContext *ac);
    void *owner;
    redisAsyncContext *ac;
} auth_redis_ev_t;

/* Hooks ac to epfd; events for its socket carry tag. on_cleanup(owner, ac)
 * runs when hiredis is about to free ac (after it has failed every pending
 * callback with a NULL reply); ac is still readable then. */
void auth_redis_ev_attach(auth_redis_ev_t *ev, redisAsyncContext *ac, int epfd, uint64_t tag,
                          void (*on_cleanup)(void *owner, redisAsyncContext *ac), void *owner);

/* Feeds epoll events to hiredis. ac may be freed inside (then ev->fd is -1). */
void auth_redis_ev_handle(auth_redis_ev_t *ev, uint32_t events);

#endif
