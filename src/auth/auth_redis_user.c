/* auth_redis_user.c: `ringchat user add`: writes one user into Redis as
 * HSET ringchat:user:ID pw <argon2id string>, synchronously.
 * Called by the command-line tool (and tests), never by a worker thread: it
 * blocks on the network (2 s timeouts) and on hashing. It must never send or
 * keep the plain password: only the hash leaves this function. */
#include "auth_internal.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

static int user_fail(int rc, char *err, size_t errlen, const char *fmt, const char *detail)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, detail ? detail : "");
    return rc;
}

/* Sends the HSET and checks the reply (an integer: 1 new field, 0 updated). */
static int user_hset(redisContext *c, const char *id, size_t id_len, const char *hash, char *err,
                     size_t errlen)
{
    char key[sizeof("ringchat:user:") + AUTH_ID_MAX];
    memcpy(key, "ringchat:user:", 14);
    memcpy(key + 14, id, id_len);
    const char *argv[4] = {"HSET", key, "pw", hash};
    size_t lens[4] = {4, 14 + id_len, 2, strlen(hash)};
    redisReply *rep = redisCommandArgv(c, 4, argv, lens);
    if (!rep)
        return user_fail(-EIO, err, errlen, "redis: %s", c->errstr);
    int rc = 0;
    if (rep->type == REDIS_REPLY_ERROR)
        rc = user_fail(-EIO, err, errlen, "redis: %s", rep->str);
    else if (rep->type != REDIS_REPLY_INTEGER)
        rc = user_fail(-EIO, err, errlen, "redis: unexpected reply to HSET%s", NULL);
    freeReplyObject(rep);
    return rc;
}

int auth_redis_user_add(const char *host, uint16_t port, const char *id, const char *pw,
                        pwhash_cost_t cost, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!host || !id || !pw)
        return user_fail(-EINVAL, err, errlen, "missing host, id or password%s", NULL);
    size_t id_len = strlen(id), pw_len = strlen(pw);
    if (id_len == 0 || id_len > AUTH_ID_MAX || pw_len > AUTH_PW_MAX)
        return user_fail(-EINVAL, err, errlen, "id must be 1..255 bytes, password 0..255%s", NULL);
    if (pwhash_init() != 0)
        return user_fail(-ENOMEM, err, errlen, "libsodium failed to initialise%s", NULL);

    /* Connect first: no point hashing for a Redis that is not there. */
    struct timeval tv = {.tv_sec = 2, .tv_usec = 0};
    redisContext *c = redisConnectWithTimeout(host, port, tv);
    if (!c)
        return user_fail(-ENOMEM, err, errlen, "out of memory%s", NULL);
    if (c->err) {
        int rc = user_fail(-ECONNREFUSED, err, errlen, "cannot connect to redis: %s", c->errstr);
        redisFree(c);
        return rc;
    }
    redisSetTimeout(c, tv);

    char hash[PWHASH_STR_MAX];
    int rc = pwhash_hash(pw, pw_len, cost, hash);
    if (rc != 0)
        rc = user_fail(-ENOMEM, err, errlen, "cannot hash the password (out of memory)%s", NULL);
    else
        rc = user_hset(c, id, id_len, hash, err, errlen);
    sodium_memzero(hash, sizeof(hash));
    redisFree(c);
    return rc;
}
