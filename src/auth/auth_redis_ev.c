/* auth_redis_ev.c: the hiredis <-> epoll adapter (see auth_redis_ev.h).
 * Called by hiredis (the hooks) and by the auth I/O thread's loop
 * (auth_redis_ev_handle), both on the I/O thread only. Never blocks: it only
 * changes the epoll interest set. Invariant: in_epoll == (mask != 0) while the
 * context is alive. */
#include "auth_redis_ev.h"

#include <errno.h>
#include <sys/epoll.h>

/* Makes the epoll registration match mask: add, modify or delete. */
static void ev_update(auth_redis_ev_t *ev, uint32_t mask)
{
    if (ev->fd < 0 || mask == ev->mask)
        return;
    ev->mask = mask;
    struct epoll_event e = {.events = mask, .data.u64 = ev->tag};
    if (mask == 0) {
        epoll_ctl(ev->epfd, EPOLL_CTL_DEL, ev->fd, NULL);
        ev->in_epoll = false;
    } else if (!ev->in_epoll) {
        ev->in_epoll = epoll_ctl(ev->epfd, EPOLL_CTL_ADD, ev->fd, &e) == 0;
    } else {
        epoll_ctl(ev->epfd, EPOLL_CTL_MOD, ev->fd, &e);
    }
}

static void ev_add_read(void *p)
{
    auth_redis_ev_t *ev = p;
    ev_update(ev, ev->mask | EPOLLIN);
}

static void ev_del_read(void *p)
{
    auth_redis_ev_t *ev = p;
    ev_update(ev, ev->mask & ~(uint32_t)EPOLLIN);
}

static void ev_add_write(void *p)
{
    auth_redis_ev_t *ev = p;
    ev_update(ev, ev->mask | EPOLLOUT);
}

static void ev_del_write(void *p)
{
    auth_redis_ev_t *ev = p;
    ev_update(ev, ev->mask & ~(uint32_t)EPOLLOUT);
}

/* hiredis calls this once, from inside its free path, just before it frees
 * the context: unregister the socket (hiredis closes it), then tell the
 * owner. Idempotent, as hiredis asks of its hooks. */
static void ev_cleanup(void *p)
{
    auth_redis_ev_t *ev = p;
    if (ev->fd < 0)
        return;
    ev_update(ev, 0);
    ev->fd = -1;
    redisAsyncContext *ac = ev->ac;
    ev->ac = NULL;
    if (ev->on_cleanup)
        ev->on_cleanup(ev->owner, ac);
}

void auth_redis_ev_attach(auth_redis_ev_t *ev, redisAsyncContext *ac, int epfd, uint64_t tag,
                          void (*on_cleanup)(void *owner, redisAsyncContext *ac), void *owner)
{
    ev->epfd = epfd;
    ev->fd = ac->c.fd;
    ev->mask = 0;
    ev->in_epoll = false;
    ev->tag = tag;
    ev->on_cleanup = on_cleanup;
    ev->owner = owner;
    ev->ac = ac;
    ac->ev.data = ev;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
}

void auth_redis_ev_handle(auth_redis_ev_t *ev, uint32_t events)
{
    /* An error or hang-up is given to whichever side hiredis is waiting on:
     * reading it reports EOF/reset, writing it completes a failed connect. */
    const uint32_t trouble = EPOLLERR | EPOLLHUP;
    if (ev->fd >= 0 && (ev->mask & EPOLLIN) && (events & (EPOLLIN | trouble)))
        redisAsyncHandleRead(ev->ac);
    if (ev->fd >= 0 && (ev->mask & EPOLLOUT) && (events & (EPOLLOUT | trouble)))
        redisAsyncHandleWrite(ev->ac);
}
