/* chat_limits.c: limit accounting (see chat_limits.h). The gate and the
 * unauthenticated count are touched only when a limit is hit or a
 * connection comes and logs in, never per chat message.
 *
 * Invariant of the unauthenticated count: it equals the number of sessions
 * holding a place; acquire never lets it pass cfg.max_unauth (the increment
 * is a CAS from a value that was below the cap). */
#include "chat_limits.h"

#include <stdarg.h>
#include <stdio.h>

#include "chat.h"
#include "ckpr.h"
#include "timer.h"

static const char *const limit_names[CHAT_LIMITS] = {
    [CHAT_LIMIT_MAX_CLIENTS] = "max-clients",       [CHAT_LIMIT_MAX_UNAUTH] = "max-unauth",
    [CHAT_LIMIT_UNAUTH_TIMEOUT] = "unauth-timeout", [CHAT_LIMIT_LOGIN_ATTEMPTS] = "login-attempts",
    [CHAT_LIMIT_IDLE_TIMEOUT] = "idle-timeout",     [CHAT_LIMIT_ROOM_CAPACITY] = "room-capacity",
    [CHAT_LIMIT_CHAT_RATE] = "chat-rate",           [CHAT_LIMIT_MAX_PACKET] = "max-packet",
    [CHAT_LIMIT_PARKED_INPUT] = "parked-input",     [CHAT_LIMIT_OUTBOX] = "outbox-limit",
};

const char *chat_limit_name(chat_limit_t limit)
{
    return (unsigned)limit < CHAT_LIMITS ? limit_names[limit] : "?";
}

/* true if a line may pass now; *held gets the lines held back before it. */
static bool gate_pass(chat_warn_gate_t *g, uint64_t *held)
{
    uint64_t now = timer_now_ms();
    /* Both words are only advisory (which line gets printed), so the loads
     * need no ordering; the CAS makes exactly one racer the printer. */
    uint64_t last = ck_pr_load_64(&g->last_ms);
    if ((last != 0 && now - last < 1000) || !ck_pr_cas_64(&g->last_ms, last, now)) {
        ck_pr_inc_64(&g->held);
        return false;
    }
    *held = ck_pr_fas_64(&g->held, 0);
    return true;
}

void chat_limit_hit(const chat_ctx_t *ctx, chat_limit_t limit, const char *fmt, ...)
{
    if ((unsigned)limit >= CHAT_LIMITS)
        return;
    CHAT_COUNT(ctx, limit_hits[limit], 1);
    uint64_t held;
    /* The gates live in the shared context, which actors see as const:
     * like users_online, they are atomics written through a cast. */
    if (ctx->warn == NULL || !gate_pass((chat_warn_gate_t *)&ctx->warn_gates[limit], &held))
        return;
    char what[160], line[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (held != 0)
        snprintf(line, sizeof(line), "limit %s: %s (and %llu more since the last such line)",
                 limit_names[limit], what, (unsigned long long)held);
    else
        snprintf(line, sizeof(line), "limit %s: %s", limit_names[limit], what);
    ctx->warn(line);
}

bool chat_unauth_acquire(const chat_ctx_t *ctx)
{
    uint64_t *n = (uint64_t *)&ctx->unauth_conns;
    uint64_t cur = ck_pr_load_64(n);
    /* Fully ordered CAS (ck_pr default): the count never passes the cap
     * even when every worker accepts at once. */
    while (cur < ctx->cfg.max_unauth) {
        if (ck_pr_cas_64_value(n, cur, cur + 1, &cur))
            return true;
    }
    return false;
}

void chat_unauth_release(const chat_ctx_t *ctx)
{
    ck_pr_dec_64((uint64_t *)&ctx->unauth_conns);
}

uint64_t chat_unauth_count(const chat_ctx_t *ctx)
{
    return ck_pr_load_64((uint64_t *)&ctx->unauth_conns);
}
