/* login.c: a login shard (see login.h). Its registry and pending list are
 * owned by the shard actor alone (no lock). The only shared state it
 * touches is ctx->users_online, an atomic counter of reserved user slots.
 *
 * One request's life, numbered:
 *   L1. REQUEST: refuse 31 if the id is registered, 32 if no user slot can be
 *       reserved; else register the id, arm the timeout, call auth_check.
 *   L2. AUTH_DONE (exactly once per accepted auth_check): if not yet
 *       answered, answer 0 / 33 / 34; free the request in every case.
 *   L3. TIMEOUT: if not yet answered, answer 34 and undo L1; the request
 *       stays pending until its AUTH_DONE (L2) so nothing is freed early.
 *   L4. Undo of L1 (any failure, a timeout, or LOGOUT): unregister the id and
 *       give the user slot back.
 * Never blocks: auth_check only queues the work. */
#include "login.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "auth.h"
#include "ckpr.h"
#include "hmap.h"

typedef struct reg_entry {
    hmap_entry_t link;
    uint8_t id_len;
    char id[PROTO_ID_MAX_LEN + 1];
} reg_entry_t;

typedef struct login_shard {
    const chat_ctx_t *ctx;
    actor_ref_t self;
    hmap_t registry; /* logged-in (or logging-in) ids of this shard */
    login_req_t *pending;
    uint64_t next_seq;
} login_shard_t;

typedef struct id_key {
    const char *id;
    size_t len;
} id_key_t;

static bool same_id(const hmap_entry_t *e, const void *key)
{
    const reg_entry_t *r = (const reg_entry_t *)e;
    const id_key_t *k = key;
    return r->id_len == k->len && memcmp(r->id, k->id, k->len) == 0;
}

static reg_entry_t *reg_find(login_shard_t *s, const char *id, size_t len)
{
    id_key_t k = {id, len};
    return (reg_entry_t *)hmap_find(&s->registry, hmap_hash_bytes(id, len), &k, same_id);
}

static bool reg_add(login_shard_t *s, const char *id, size_t len)
{
    reg_entry_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return false;
    r->id_len = (uint8_t)len;
    memcpy(r->id, id, len);
    r->link.hash = hmap_hash_bytes(id, len);
    hmap_insert(&s->registry, &r->link);
    return true;
}

/* L4. */
static void release(login_shard_t *s, const char *id, size_t len)
{
    reg_entry_t *r = reg_find(s, id, len);
    if (r == NULL)
        return;
    hmap_remove(&s->registry, &r->link);
    free(r);
    ck_pr_dec_64((uint64_t *)&s->ctx->users_online);
}

/* Reserves one of max_users slots; false when the server is full. */
static bool reserve_slot(const chat_ctx_t *ctx)
{
    uint64_t *n = (uint64_t *)&ctx->users_online;
    if (ck_pr_faa_64(n, 1) < ctx->cfg.max_users)
        return true;
    ck_pr_dec_64(n);
    return false;
}

static void answer(login_req_t *r, uint16_t result, int64_t uid)
{
    session_login_done_t done = {.result = result, .uid = uid};
    r->answered = true;
    (void)chat_send(r->session, SESSION_MSG_LOGIN_DONE, &done, sizeof(done));
}

/* Runs on an auth thread (or inline in auth_check): only sends a message. */
static void auth_done(void *ctx, auth_result_t result)
{
    login_req_t *r = ctx;
    login_auth_done_t d = {.seq = r->seq, .result = result};
    (void)chat_send(r->shard, LOGIN_MSG_AUTH_DONE, &d, sizeof(d));
}

/* L1. Takes ownership of r. */
static void on_request(login_shard_t *s, login_req_t *r)
{
    if (reg_find(s, r->id, r->id_len) != NULL) {
        answer(r, PROTO_LOGIN_USER_ALREADY, 0);
        login_req_free(r);
        return;
    }
    if (!reserve_slot(s->ctx)) {
        chat_limit_hit(s->ctx, CHAT_LIMIT_MAX_CLIENTS,
                       "server full: %u users are logged in; refusing logins with LOGIN_RES 32",
                       s->ctx->cfg.max_users);
        answer(r, PROTO_LOGIN_USER_USED_ALL_OBJ, 0);
        login_req_free(r);
        return;
    }
    if (!reg_add(s, r->id, r->id_len)) {
        ck_pr_dec_64((uint64_t *)&s->ctx->users_online);
        answer(r, PROTO_LOGIN_BACKEND_UNAVAILABLE, 0);
        login_req_free(r);
        return;
    }
    r->seq = ++s->next_seq;
    r->shard = s->self;
    (void)timer_start(s->self, LOGIN_MSG_TIMEOUT, r->seq, s->ctx->cfg.login_timeout_ms, 0,
                      &r->timer);
    r->next = s->pending;
    s->pending = r;
    if (auth_check(s->ctx->auth, r->id, r->id_len, r->pw, r->pw_len, auth_done, r) != 0) {
        /* Not accepted: no AUTH_DONE will come. Answer and forget it now. */
        s->pending = r->next;
        (void)timer_cancel(r->timer);
        release(s, r->id, r->id_len);
        answer(r, PROTO_LOGIN_BACKEND_UNAVAILABLE, 0);
        login_req_free(r);
    }
}

static login_req_t *unlink_pending(login_shard_t *s, uint64_t seq, bool unlink)
{
    for (login_req_t **p = &s->pending; *p != NULL; p = &(*p)->next) {
        login_req_t *r = *p;
        if (r->seq == seq) {
            if (unlink)
                *p = r->next;
            return r;
        }
    }
    return NULL;
}

/* L2. */
static void on_auth_done(login_shard_t *s, const login_auth_done_t *d)
{
    login_req_t *r = unlink_pending(s, d->seq, true);
    if (r == NULL)
        return;
    if (!r->answered) {
        (void)timer_cancel(r->timer);
        if (d->result == AUTH_OK) {
            int64_t uid = (int64_t)ck_pr_faa_64((uint64_t *)&s->ctx->next_uid, 1) + 1;
            answer(r, PROTO_OK, uid);
        } else {
            release(s, r->id, r->id_len);
            answer(r,
                   d->result == AUTH_DENIED ? PROTO_LOGIN_USER_INVALID_PW
                                            : PROTO_LOGIN_BACKEND_UNAVAILABLE,
                   0);
        }
    }
    login_req_free(r);
}

/* L3. */
static void on_timeout(login_shard_t *s, const msg_t *m)
{
    login_req_t *r = unlink_pending(s, m->p.u64[TIMER_MSG_ARG], false);
    if (r == NULL || r->answered || !timer_msg_is(m, r->timer))
        return;
    release(s, r->id, r->id_len);
    answer(r, PROTO_LOGIN_BACKEND_UNAVAILABLE, 0);
}

static void login_behaviour(actor_t *self, msg_t *m)
{
    login_shard_t *s = actor_state(self);
    switch (m->type) {
    case LOGIN_MSG_REQUEST: {
        login_request_t req;
        CHAT_GET(m, req);
        m->drop = NULL; /* the request is ours now */
        on_request(s, req.req);
        break;
    }
    case LOGIN_MSG_AUTH_DONE: {
        login_auth_done_t d;
        CHAT_GET(m, d);
        on_auth_done(s, &d);
        break;
    }
    case LOGIN_MSG_TIMEOUT:
        on_timeout(s, m);
        break;
    case LOGIN_MSG_LOGOUT: {
        login_logout_t l;
        CHAT_GET(m, l);
        release(s, l.id, l.id_len);
        break;
    }
    }
    msg_free(m);
}

static void free_reg_entry(hmap_entry_t *e)
{
    free(e);
}

static void login_on_exit(actor_t *self, void *state)
{
    (void)self;
    login_shard_t *s = state;
    /* Requests still waiting for auth are completed by auth_destroy, whose
     * AUTH_DONE messages then go to a stale handle: free them here. */
    while (s->pending != NULL) {
        login_req_t *r = s->pending;
        s->pending = r->next;
        login_req_free(r);
    }
    hmap_destroy(&s->registry, free_reg_entry);
    free(s);
}

static const actor_type_t login_type = {
    .name = "login",
    .behaviour = login_behaviour,
    .on_exit = login_on_exit,
};

int login_spawn(const chat_ctx_t *ctx, actor_ref_t *out)
{
    login_shard_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->ctx = ctx;
    int rc = hmap_init(&s->registry, 256);
    if (rc == 0)
        rc = actor_spawn(ctx->sched, &login_type, s, out);
    if (rc != 0) {
        hmap_destroy(&s->registry, NULL);
        free(s);
        return rc;
    }
    s->self = *out;
    return 0;
}

actor_ref_t login_for(const chat_ctx_t *ctx, const char *id, size_t id_len)
{
    return ctx->logins[hmap_hash_bytes(id, id_len) % ctx->nlogins];
}

login_req_t *login_req_new(actor_ref_t session, const proto_login_req_t *in)
{
    login_req_t *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    r->session = session;
    r->id_len = (uint8_t)in->user_id_len;
    memcpy(r->id, in->user_id, in->user_id_len);
    r->pw_len = (uint8_t)in->password_len;
    memcpy(r->pw, in->password, in->password_len);
    return r;
}

void login_req_free(login_req_t *r)
{
    if (r == NULL)
        return;
    /* volatile so the wipe of the password is not optimised away */
    volatile char *p = r->pw;
    for (size_t i = 0; i < sizeof(r->pw); i++)
        p[i] = 0;
    free(r);
}
