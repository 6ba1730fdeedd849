/* session_net.c: a fake of the connection half of net.h for fuzz_session:
 * net_conn_send / net_conn_close record into an event log instead of
 * writing to sockets, and the harness plays the kernel's part (client bytes
 * in, peer closes, on_close). The buffer half of net.h is the real
 * src/net/net_buf.c, wrapped (ld --wrap) to count live buffers.
 * Used only by the fuzz_session target; never by the server. Must never
 * block or let a send or close go unrecorded. Single-threaded.
 * Semantics kept from net.h: -EINVAL for a NULL buffer, -ESTALE for a dead
 * handle, -EPIPE while closing, -ENOBUFS (and a slow-consumer close) past
 * the outbox limit; no reference is taken by a failed send; a close with
 * flush_first completes once the client has read what is queued (or at a
 * second close without it); after a half-close (EOF) sends still work and
 * nothing more is received; on_close (SESSION_MSG_CLOSED) comes later. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session.h"
#include "session_fuzz.h"

fz_net_t fz_net;

/* The port pointer of every fake handle: any other value is foreign. */
static char fz_port_token;
#define FZ_PORT ((net_port_t *)(void *)&fz_port_token)

void fz_fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "fuzz_session invariant failed: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static void *fz_grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    p = realloc(p, n * elem);
    FZ_CHECK(p != NULL, "out of memory");
    *cap = n;
    return p;
}

void fz_bytes_add(fz_bytes_t *b, const void *data, size_t len)
{
    b->p = fz_grow(b->p, &b->cap, b->len + len + 1, 1);
    if (len > 0)
        memcpy(b->p + b->len, data, len);
    b->len += len;
}

/* ---- net_buf accounting (ld --wrap=net_buf_alloc,--wrap=net_buf_unref) ---- */

net_buf_t *__real_net_buf_alloc(size_t len);
void __real_net_buf_unref(net_buf_t *b);
net_buf_t *__wrap_net_buf_alloc(size_t len);
void __wrap_net_buf_unref(net_buf_t *b);

net_buf_t *__wrap_net_buf_alloc(size_t len)
{
    net_buf_t *b = __real_net_buf_alloc(len);
    if (b != NULL)
        fz_net.live_bufs++;
    return b;
}

void __wrap_net_buf_unref(net_buf_t *b)
{
    if (b != NULL && net_buf_refcount(b) == 1)
        fz_net.live_bufs--; /* single thread: nobody else can drop it meanwhile */
    __real_net_buf_unref(b);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

/* ---- C1 of session_check.c: every buffer is one server packet ------------- */

/* One buffer = one whole packet whose body decodes as its id says. */
static void check_wellformed(const uint8_t *p, size_t len)
{
    FZ_CHECK(len >= PROTO_HEADER_SIZE && get16(p) == len && p[4] == 0,
             "a sent buffer is not exactly one packet (len %zu)", len);
    const uint8_t *b = p + PROTO_HEADER_SIZE;
    size_t n = len - PROTO_HEADER_SIZE;
    uint16_t u16, u16b;
    int64_t i64;
    uint64_t u64;
    proto_user_t user, list[PROTO_USER_LIST_MAX];
    proto_chat_notify_t nt;
    int ok;
    switch (get16(p + 2)) {
    case PROTO_DEV_ECHO:
        return;
    case PROTO_LOGIN_RES:
    case PROTO_ROOM_ENTER_RES:
    case PROTO_ROOM_LEAVE_RES:
    case PROTO_ROOM_CHAT_RES:
        ok = proto_decode_result(b, n, &u16);
        break;
    case PROTO_ROOM_NEW_USER_NTF:
        ok = proto_decode_room_new_user_ntf(b, n, &user);
        break;
    case PROTO_ROOM_USER_LIST_NTF:
        ok = proto_decode_room_user_list_ntf(b, n, list, PROTO_USER_LIST_MAX) >= 1 ? 0 : -1;
        break;
    case PROTO_ROOM_LEAVE_USER_NTF:
        ok = proto_decode_room_leave_user_ntf(b, n, &i64);
        break;
    case PROTO_ROOM_CHAT_NOTIFY:
        ok = proto_decode_room_chat_notify(b, n, &nt);
        break;
    case PROTO_PING_RES:
        ok = proto_decode_ping_res(b, n, &u64);
        break;
    case PROTO_ERROR_NTF:
        ok = proto_decode_error_ntf(b, n, &u16, &u16b);
        break;
    default:
        fz_fail("the server sent packet id %u", get16(p + 2));
    }
    FZ_CHECK(ok == 0, "malformed %s body (%zu bytes)", proto_packet_name(get16(p + 2)), n);
}

/* FUZZ_SESSION_TRACE=1: one line per event on stderr, to read a reproducer. */
void fz_net_trace(size_t i)
{
    static const char *const kinds[] = {"?",      "send",   "close",    "peer-close", "data",
                                        "closed", "timers", "shutdown", "eof"};
    const fz_event_t *e = &fz_net.ev[i];
    fprintf(stderr, "ev %zu @%u ms: %s conn %u", i, e->ms, kinds[e->kind], e->conn);
    if (e->kind == FZ_EV_SEND) {
        const fz_sent_buf_t *sb = &fz_net.bufs[e->buf];
        uint16_t id = get16(sb->copy + 2);
        fprintf(stderr, " rc %d buf %u %s", e->rc, e->buf, proto_packet_name(id));
        if (sb->len >= PROTO_HEADER_SIZE + 2 && id != PROTO_DEV_ECHO)
            fprintf(stderr, " %u", get16(sb->copy + PROTO_HEADER_SIZE));
    } else if (e->kind == FZ_EV_DATA) {
        fprintf(stderr, " upto %u", e->upto);
    } else if (e->kind == FZ_EV_CLOSE) {
        fprintf(stderr, " rc %d", e->rc);
    }
    fputc('\n', stderr);
}

/* ---- the log ---------------------------------------------------------------- */

static void log_event(fz_ev_kind_t kind, unsigned conn, int rc, uint32_t buf, uint32_t upto)
{
    fz_net_t *n = &fz_net;
    n->ev = fz_grow(n->ev, &n->ev_cap, n->nev + 1, sizeof(*n->ev));
    n->ev[n->nev++] = (fz_event_t){.kind = (uint8_t)kind,
                                   .conn = (uint8_t)conn,
                                   .rc = (int16_t)rc,
                                   .buf = buf,
                                   .upto = upto,
                                   .ms = n->clock_ms};
}

static size_t map_slot(const net_buf_t *b, size_t cap)
{
    uintptr_t h = (uintptr_t)b;
    h ^= h >> 17;
    h *= 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 20) & (cap - 1);
}

static void map_put(net_buf_t *b, uint32_t idx)
{
    fz_net_t *n = &fz_net;
    size_t i = map_slot(b, n->map_cap);
    while (n->map[i] != 0)
        i = (i + 1) & (n->map_cap - 1);
    n->map[i] = idx + 1;
}

static void map_grow(void)
{
    fz_net_t *n = &fz_net;
    if (n->map_cap != 0 && (n->nbufs + 1) * 2 <= n->map_cap)
        return;
    free(n->map);
    n->map_cap = n->map_cap ? n->map_cap * 2 : 256;
    n->map = calloc(n->map_cap, sizeof(*n->map));
    FZ_CHECK(n->map != NULL, "out of memory");
    for (size_t i = 0; i < n->nbufs; i++)
        map_put(n->bufs[i].b, (uint32_t)i);
}

/* The table index of b, adding it (with a reference and a copy) if new. A
 * buffer seen before must still hold the bytes it had: once shared, a
 * buffer is immutable (net.h). */
static uint32_t buf_index(net_buf_t *b)
{
    fz_net_t *n = &fz_net;
    if (n->map_cap != 0) {
        for (size_t i = map_slot(b, n->map_cap); n->map[i] != 0; i = (i + 1) & (n->map_cap - 1)) {
            fz_sent_buf_t *s = &n->bufs[n->map[i] - 1];
            if (s->b != b)
                continue;
            FZ_CHECK(s->len == net_buf_len(b) && memcmp(s->copy, net_buf_data(b), s->len) == 0,
                     "a buffer changed after it was sent");
            return n->map[i] - 1;
        }
    }
    map_grow();
    n->bufs = fz_grow(n->bufs, &n->bufs_cap, n->nbufs + 1, sizeof(*n->bufs));
    fz_sent_buf_t *s = &n->bufs[n->nbufs];
    s->b = net_buf_ref(b);
    s->len = net_buf_len(b);
    s->copy = malloc(s->len ? s->len : 1);
    FZ_CHECK(s->copy != NULL, "out of memory");
    memcpy(s->copy, net_buf_data(b), s->len);
    check_wellformed(s->copy, s->len);
    map_put(b, (uint32_t)n->nbufs);
    return (uint32_t)n->nbufs++;
}

/* ---- net.h: connections -------------------------------------------------- */

static unsigned conn_of(net_conn_t c)
{
    fz_net_t *n = &fz_net;
    unsigned i = (unsigned)(c.id & 0xffffffffu) - 1;
    FZ_CHECK(c.port == FZ_PORT && (c.id >> 32) == n->nonce && i < n->nconns,
             "a chat actor used a connection handle that was never issued");
    return i;
}

static void queue_close(unsigned i, net_close_reason_t reason)
{
    fz_conn_t *c = &fz_net.conns[i];
    c->state = FZ_CLOSING;
    c->reason = reason;
    if (!c->close_queued) {
        c->close_queued = true;
        fz_net.closes[fz_net.nclose++] = (uint8_t)i;
    }
}

int net_conn_send(net_conn_t h, net_buf_t *b)
{
    if (b == NULL)
        return -EINVAL;
    unsigned i = conn_of(h);
    fz_conn_t *c = &fz_net.conns[i];
    uint32_t idx = buf_index(b);
    int rc = 0;
    if (c->state == FZ_DEAD) {
        rc = -ESTALE;
    } else if (c->state == FZ_CLOSING) {
        rc = -EPIPE;
    } else if (fz_net.outbox_limit != 0 && c->unread + net_buf_len(b) > fz_net.outbox_limit) {
        rc = -ENOBUFS;
        queue_close(i, NET_CLOSE_SLOW_CONSUMER);
    } else {
        c->unread += net_buf_len(b);
    }
    log_event(FZ_EV_SEND, i, rc, idx, 0);
    return rc;
}

/* With flush_first, a close waits until the client has read what is queued
 * (A_READ); a later call without it, or a reset, ends the wait. */
int net_conn_close(net_conn_t h, bool flush_first)
{
    unsigned i = conn_of(h);
    fz_conn_t *c = &fz_net.conns[i];
    int rc = 0;
    if (c->state == FZ_DEAD) {
        rc = -ESTALE;
    } else if (c->state == FZ_OPEN && flush_first && c->unread > 0) {
        c->state = FZ_CLOSING;
        c->reason = NET_CLOSE_LOCAL;
        c->draining = true;
    } else if (c->state == FZ_OPEN || (c->draining && !flush_first)) {
        c->draining = false;
        queue_close(i, NET_CLOSE_LOCAL);
    } else {
        rc = -EPIPE;
    }
    log_event(FZ_EV_CLOSE, i, rc, flush_first, 0);
    return rc;
}

/* ---- the harness's side -------------------------------------------------- */

void fz_net_reset(uint32_t nonce, size_t outbox_limit)
{
    fz_net_release();
    fz_net.nonce = nonce;
    fz_net.outbox_limit = outbox_limit;
}

/* Each connection slot's byte buffers outlive the input: a flood makes them
 * a megabyte, and allocating that afresh for every input (ASan maps and
 * unmaps it) cost a quarter of the fuzzer's time in page faults. */
static fz_bytes_t kept_in[FZ_MAX_CONNS], kept_pend[FZ_MAX_CONNS];

unsigned fz_net_open(void)
{
    fz_net_t *n = &fz_net;
    FZ_CHECK(n->nconns < FZ_MAX_CONNS, "harness: too many connections");
    unsigned i = n->nconns++;
    memset(&n->conns[i], 0, sizeof(n->conns[i]));
    n->conns[i].in = kept_in[i];
    n->conns[i].pend = kept_pend[i];
    n->conns[i].in.len = n->conns[i].pend.len = 0;
    n->conns[i].id = ((uint64_t)n->nonce << 32) | (i + 1);
    return i;
}

net_conn_t fz_net_handle(unsigned conn)
{
    return (net_conn_t){FZ_PORT, fz_net.conns[conn].id};
}

void fz_net_log(fz_ev_kind_t kind)
{
    log_event(kind, 0, 0, 0, 0);
}

void fz_net_peer_close(unsigned conn)
{
    fz_conn_t *c = &fz_net.conns[conn];
    if (c->state != FZ_OPEN && !c->draining)
        return;
    c->draining = false;
    queue_close(conn, NET_CLOSE_PEER);
    log_event(FZ_EV_PEER_CLOSE, conn, 0, 0, 0);
}

void fz_net_read(unsigned conn)
{
    fz_conn_t *c = &fz_net.conns[conn];
    c->unread = 0;
    if (c->draining) {
        c->draining = false;
        queue_close(conn, c->reason);
    }
}

void fz_net_eof(unsigned conn)
{
    fz_conn_t *c = &fz_net.conns[conn];
    if (c->state != FZ_OPEN || c->refused || c->eof)
        return;
    c->eof = true;
    log_event(FZ_EV_EOF, conn, 0, 0, 0);
    msg_t *m = msg_alloc(SESSION_MSG_EOF);
    FZ_CHECK(m != NULL, "out of memory");
    (void)actor_send(c->session, m);
}

void fz_net_deliver(unsigned conn, size_t chunk)
{
    fz_conn_t *c = &fz_net.conns[conn];
    size_t len = c->pend.len;
    if (chunk < len / FZ_MAX_CHUNKS + 1)
        chunk = len / FZ_MAX_CHUNKS + 1; /* a megabyte is not sent a byte at a time */
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        if (c->state != FZ_OPEN || c->refused || c->eof)
            break; /* reading stops at a close or EOF: the rest is lost */
        msg_t *m = session_data_msg(c->pend.p + off, n);
        FZ_CHECK(m != NULL, "out of memory");
        fz_bytes_add(&c->in, c->pend.p + off, n);
        log_event(FZ_EV_DATA, conn, 0, 0, (uint32_t)c->in.len);
        (void)actor_send(c->session, m); /* a stale session released m */
    }
    c->pend.len = 0;
}

/* SESSION_MSG_CLOSED messages in flight, to log the moment each is handled:
 * its drop hook runs when the session frees it after on_closed (or when a
 * send to an exited session releases it). */
static struct {
    msg_t *m;
    unsigned conn;
} fz_closed_msgs[FZ_MAX_CONNS];

static void closed_handled(msg_t *m)
{
    for (unsigned i = 0; i < FZ_MAX_CONNS; i++) {
        if (fz_closed_msgs[i].m != m)
            continue;
        fz_closed_msgs[i].m = NULL;
        log_event(FZ_EV_CLOSED, fz_closed_msgs[i].conn, 0, 0, 0);
        return;
    }
    fz_fail("a SESSION_MSG_CLOSED the harness did not send");
}

unsigned fz_net_deliver_closes(void)
{
    fz_net_t *n = &fz_net;
    unsigned done = n->nclose;
    for (unsigned k = 0; k < done; k++) {
        fz_conn_t *c = &n->conns[n->closes[k]];
        c->state = FZ_DEAD;
        c->close_queued = false;
        if (c->refused)
            continue;
        msg_t *m = session_closed_msg(c->reason);
        FZ_CHECK(m != NULL, "out of memory");
        m->drop = closed_handled;
        fz_closed_msgs[n->closes[k]].m = m;
        fz_closed_msgs[n->closes[k]].conn = n->closes[k];
        (void)actor_send(c->session, m);
    }
    n->nclose = 0;
    return done;
}

void fz_net_release(void)
{
    fz_net_t *n = &fz_net;
    for (size_t i = 0; i < n->nbufs; i++) {
        net_buf_unref(n->bufs[i].b);
        free(n->bufs[i].copy);
    }
    for (unsigned i = 0; i < n->nconns; i++) {
        kept_in[i] = n->conns[i].in;
        kept_pend[i] = n->conns[i].pend;
    }
    free(n->bufs);
    free(n->ev);
    free(n->map);
    int64_t live = n->live_bufs;
    memset(n, 0, sizeof(*n));
    n->live_bufs = live;
}
