/* login.h: login shard actors (user id hash mod L). A shard owns the
 * registry of its logged-in ids (one login per id: 31), reserves a slot of
 * the server's user limit (32), asks the auth backend without blocking, and
 * answers every request exactly once within the login timeout (34).
 * Sessions send LOGIN_MSG_REQUEST / LOGIN_MSG_LOGOUT; auth threads send
 * LOGIN_MSG_AUTH_DONE; the shard's timers send LOGIN_MSG_TIMEOUT. */
#ifndef RINGCHAT_LOGIN_H
#define RINGCHAT_LOGIN_H

#include "chat.h"
#include "timer.h"

struct login_req {
    struct login_req *next; /* the shard's pending list */
    uint64_t seq;           /* set by the shard */
    actor_ref_t session;
    actor_ref_t shard;
    const chat_ctx_t *ctx;
    timer_id_t timer;
    bool answered; /* the session has its answer (auth may still be running) */
    uint8_t id_len;
    uint8_t pw_len;
    char id[PROTO_ID_MAX_LEN + 1];
    char pw[PROTO_PW_FIELD + 1];
};

/* A request for the session's decoded LOGIN_REQ. NULL when out of memory. */
login_req_t *login_req_new(actor_ref_t session, const proto_login_req_t *r);
/* Wipes the password and frees. NULL is ignored. */
void login_req_free(login_req_t *r);

int login_spawn(const chat_ctx_t *ctx, actor_ref_t *out);

/* The shard responsible for a user id. */
actor_ref_t login_for(const chat_ctx_t *ctx, const char *id, size_t id_len);

#endif
