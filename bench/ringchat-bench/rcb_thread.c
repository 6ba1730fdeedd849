/* rcb_thread.c: builds (and frees) one loop thread's world before it runs:
 * its members (global member i goes to thread i mod T), their connections,
 * one slab holding every output and carry buffer, the sender list, the epoll
 * instance and the wake-up eventfd. Called by the controller before the loop
 * threads start and after they are joined. All memory of a run is allocated
 * here, none per message.
 * Topology: member i is in room room_first + i / M at position i mod M; the
 * first round(senders * M) positions of each room send (at least one when
 * the fraction is above zero). Redis members have a SUBSCRIBE connection and,
 * if they send, a PUBLISH connection; ringchat members have one connection.
 * With --churn, the last rcb_churners_per_room positions of each room churn
 * (rcb_churn.c); a churner reuses its one connection slot when it reconnects. */
#include "rcb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* Members per source address, so that no address carries more than its share. */
static uint32_t members_per_src(const rcb_opts_t *o)
{
    uint64_t total = (uint64_t)o->rooms * o->members;
    return (uint32_t)((total + o->source_addrs - 1) / o->source_addrs);
}

static void init_conn(rcb_conn_t *c, rcb_member_t *m, rcb_role_t role, uint32_t src)
{
    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->role = (uint8_t)role;
    c->state = RCB_ST_NEW;
    c->m = m;
    c->src = src;
    /* Large enough for the biggest ROOM_USER_LIST_NTF; allocates nothing
     * until a packet straddles two reads. */
    (void)proto_reasm_init(&c->reasm, PROTO_USER_LIST_PACKET_MAX);
}

static int alloc_members(rcb_thread_t *t)
{
    const rcb_opts_t *o = t->o;
    uint64_t total = (uint64_t)o->rooms * o->members;
    uint32_t per_room = rcb_senders_per_room(o), churners = rcb_churners_per_room(o);
    t->nmembers =
        total > t->index ? (uint32_t)((total - t->index + o->threads - 1) / o->threads) : 0;
    t->members = calloc(t->nmembers ? t->nmembers : 1, sizeof(rcb_member_t));
    t->senders = calloc(t->nmembers ? t->nmembers : 1, sizeof(rcb_member_t *));
    t->churners = calloc(t->nmembers ? t->nmembers : 1, sizeof(rcb_member_t *));
    if (t->members == NULL || t->senders == NULL || t->churners == NULL)
        return -ENOMEM;
    bool redis = o->target == RCB_TARGET_REDIS;
    for (uint32_t j = 0; j < t->nmembers; j++) {
        rcb_member_t *m = &t->members[j];
        m->idx = t->index + j * o->threads;
        m->room = o->room_first + m->idx / o->members;
        m->checked = o->members - churners;
        m->sender = m->idx % o->members < per_room;
        m->churner = m->idx % o->members >= o->members - churners;
        if (m->churner)
            t->churners[t->nchurners++] = m;
        if (m->sender) {
            m->sender_pos = t->nsenders;
            t->senders[t->nsenders++] = m;
        }
        t->nconns += (redis && m->sender) ? 2 : 1;
    }
    return 0;
}

/* Connections and their buffers, carved out of one slab. */
static int alloc_conns(rcb_thread_t *t)
{
    const rcb_opts_t *o = t->o;
    bool redis = o->target == RCB_TARGET_REDIS;
    uint32_t per_src = members_per_src(o);
    t->conns = calloc(t->nconns ? t->nconns : 1, sizeof(rcb_conn_t));
    t->dirty = calloc(t->nconns ? t->nconns : 1, sizeof(rcb_conn_t *));
    if (t->conns == NULL || t->dirty == NULL)
        return -ENOMEM;
    uint32_t n = 0;
    size_t slab = 0;
    for (uint32_t j = 0; j < t->nmembers; j++) {
        rcb_member_t *m = &t->members[j];
        uint32_t src = m->idx / per_src;
        m->rx = &t->conns[n++];
        init_conn(m->rx, m, redis ? RCB_ROLE_SUB : RCB_ROLE_CHAT, src);
        m->tx = m->sender ? m->rx : NULL;
        if (redis && m->sender) {
            m->tx = &t->conns[n++];
            init_conn(m->tx, m, RCB_ROLE_PUB, src);
        }
    }
    for (uint32_t i = 0; i < t->nconns; i++) {
        rcb_conn_t *c = &t->conns[i];
        c->out_cap = t->tg->out_cap(o, (rcb_role_t)c->role);
        slab += c->out_cap + (redis ? RCB_CARRY_MAX : 0);
    }
    t->slab = malloc(slab ? slab : 1);
    if (t->slab == NULL)
        return -ENOMEM;
    uint8_t *p = t->slab;
    for (uint32_t i = 0; i < t->nconns; i++) {
        rcb_conn_t *c = &t->conns[i];
        c->out = p;
        p += c->out_cap;
        if (redis) {
            c->carry = p;
            p += RCB_CARRY_MAX;
        }
    }
    return 0;
}

int rcb_thread_init(rcb_thread_t *t)
{
    t->ep = -1;
    t->wake_fd = -1;
    t->tg = t->o->target == RCB_TARGET_REDIS ? &rcb_target_redis : &rcb_target_ringchat;
    t->t_start = t->t_meas0 = t->t_meas1 = UINT64_MAX; /* until phase RUN is seen */
    rcb_hist_init(&t->lat);
    rcb_hist_init(&t->setup);
    int err = alloc_members(t);
    if (err == 0)
        err = alloc_conns(t);
    if (err == 0)
        err = rcb_churn_init(t);
    if (err != 0)
        return err;
    t->rbuf = malloc(RCB_CARRY_MAX + RCB_RBUF_SIZE);
    if (t->rbuf == NULL)
        return -ENOMEM;
    /* The thread's senders share its part of the total rate. */
    double all_senders = (double)rcb_senders_per_room(t->o) * t->o->rooms;
    if (t->o->rate > 0 && t->nsenders > 0)
        t->period_ns = 1e9 / (t->o->rate * (double)t->nsenders / all_senders);
    t->setup_cap = t->o->connect_concurrency / t->o->threads;
    if (t->setup_cap == 0)
        t->setup_cap = 1;
    t->ep = epoll_create1(EPOLL_CLOEXEC);
    t->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (t->ep < 0 || t->wake_fd < 0)
        return -errno;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (epoll_ctl(t->ep, EPOLL_CTL_ADD, t->wake_fd, &ev) != 0)
        return -errno;
    return 0;
}

void rcb_thread_free(rcb_thread_t *t)
{
    for (uint32_t i = 0; t->conns != NULL && i < t->nconns; i++) {
        if (t->conns[i].fd >= 0)
            close(t->conns[i].fd);
        proto_reasm_free(&t->conns[i].reasm);
    }
    if (t->ep >= 0)
        close(t->ep);
    if (t->wake_fd >= 0)
        close(t->wake_fd);
    free(t->members);
    free(t->senders);
    free(t->churners);
    rcb_churn_free(t);
    free(t->conns);
    free(t->dirty);
    free(t->slab);
    free(t->rbuf);
}
