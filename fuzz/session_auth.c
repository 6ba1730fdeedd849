/* session_auth.c: a deterministic fake of auth.h's auth_check for
 * fuzz_session, so that logins can succeed, fail (33), be unavailable (34),
 * be refused (-EAGAIN) and complete late, all decided by the input and
 * never by a thread's timing. Rules of the memory backend: the first
 * password seen for an id registers it; later ones must match. Used only by
 * the fuzz_session target; it must keep auth.h's contract: every call that
 * returns 0 leads to exactly one done callback (inline, or from
 * fz_auth_complete), and nothing is left pending at the end of an input. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "session_fuzz.h"

#define FZ_AUTH_USERS   16
#define FZ_AUTH_PENDING 64

typedef struct fz_user {
    char id[AUTH_ID_MAX + 1];
    char pw[AUTH_PW_MAX + 1];
} fz_user_t;

typedef struct fz_pending {
    auth_done_fn done;
    void *ctx;
    char id[AUTH_ID_MAX + 1];
    char pw[AUTH_PW_MAX + 1];
} fz_pending_t;

static struct {
    fz_user_t users[FZ_AUTH_USERS];
    unsigned nusers;
    fz_pending_t pending[FZ_AUTH_PENDING];
    unsigned npending;
    bool deferred;
} fz_auth;

/* The handle the login shards pass back to auth_check. */
static char fz_auth_token;

auth_t *fz_auth_handle(void)
{
    return (auth_t *)(void *)&fz_auth_token;
}

void fz_auth_reset(void)
{
    FZ_CHECK(fz_auth.npending == 0, "harness: auth requests left pending");
    memset(&fz_auth, 0, sizeof(fz_auth));
}

void fz_auth_set_deferred(bool deferred)
{
    fz_auth.deferred = deferred;
}

unsigned fz_auth_pending(void)
{
    return fz_auth.npending;
}

static auth_result_t decide(const char *id, const char *pw)
{
    if (strcmp(id, FZ_ID_DOWN) == 0)
        return AUTH_UNAVAILABLE;
    for (unsigned i = 0; i < fz_auth.nusers; i++)
        if (strcmp(fz_auth.users[i].id, id) == 0)
            return strcmp(fz_auth.users[i].pw, pw) == 0 ? AUTH_OK : AUTH_DENIED;
    if (fz_auth.nusers == FZ_AUTH_USERS)
        return AUTH_UNAVAILABLE;
    fz_user_t *u = &fz_auth.users[fz_auth.nusers++];
    strcpy(u->id, id);
    strcpy(u->pw, pw);
    return AUTH_OK;
}

int auth_check(auth_t *a, const char *id, size_t id_len, const char *pw, size_t pw_len,
               auth_done_fn done, void *ctx)
{
    FZ_CHECK(a == fz_auth_handle(), "auth_check: not the fake backend's handle");
    if (id == NULL || done == NULL || (pw == NULL && pw_len) || id_len == 0 ||
        id_len > AUTH_ID_MAX || pw_len > AUTH_PW_MAX)
        return -EINVAL;
    FZ_CHECK(strlen(id) >= id_len, "auth_check: id shorter than id_len");
    char sid[AUTH_ID_MAX + 1], spw[AUTH_PW_MAX + 1] = "";
    memcpy(sid, id, id_len);
    sid[id_len] = '\0';
    if (pw_len > 0)
        memcpy(spw, pw, pw_len);
    spw[pw_len] = '\0';
    if (strcmp(sid, FZ_ID_BUSY) == 0 || fz_auth.npending == FZ_AUTH_PENDING)
        return -EAGAIN;
    if (!fz_auth.deferred) {
        done(ctx, decide(sid, spw)); /* inline, like AUTH_NONE */
        return 0;
    }
    fz_pending_t *p = &fz_auth.pending[fz_auth.npending++];
    p->done = done;
    p->ctx = ctx;
    strcpy(p->id, sid);
    strcpy(p->pw, spw);
    return 0;
}

bool fz_auth_complete(unsigned i)
{
    if (fz_auth.npending == 0)
        return false;
    i %= fz_auth.npending;
    fz_pending_t p = fz_auth.pending[i];
    memmove(&fz_auth.pending[i], &fz_auth.pending[i + 1], (fz_auth.npending - i - 1) * sizeof(p));
    fz_auth.npending--;
    p.done(p.ctx, decide(p.id, p.pw));
    return true;
}
