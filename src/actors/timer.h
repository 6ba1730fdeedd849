/* timer.h: per-worker timers (one-shot and periodic, cancellable) that deliver a message to an
 * actor on expiry: idle timeouts, login timeouts, rate-limit refills.
 * Armed on the calling worker's own timer heap (inside a behaviour, or on the loop thread);
 * expired by that worker's driver (timer_run_due); cancellable from any thread.
 * Never blocks and never takes a lock; never touches the target actor except via actor_send,
 * so a timer aimed at an actor that has exited just drops its message.
 * Invariant: a timer id names one arming; after timer_cancel returns 0 at most one message of
 * that timer (an expiry already under way) can still be delivered, and none after that. */
#ifndef RINGCHAT_ACTORS_TIMER_H
#define RINGCHAT_ACTORS_TIMER_H

#include "actor.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct timer_ent timer_ent_t;

typedef struct timer_id {
    timer_ent_t *e;
    uint32_t gen;
} timer_id_t;

#define TIMER_ID_NULL ((timer_id_t){NULL, 0})

/* Payload layout of an expiry message (m->type is the msg_type given to timer_start). */
#define TIMER_MSG_ARG   0 /* m->p.u64[0]: the arg given to timer_start */
#define TIMER_MSG_TOKEN 1 /* m->p.u64[1]: identifies the arming; see timer_msg_is */

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t timer_now_ms(void);

/* Arm a timer on the calling thread's worker: after delay_ms (and then every period_ms if
 * period_ms > 0) send `to` a message of type msg_type carrying arg. Returns 0, -EPERM if the
 * calling thread is not a worker, -EINVAL if out is NULL, or -ENOMEM. */
int timer_start(actor_ref_t to, uint32_t msg_type, uint64_t arg, uint64_t delay_ms,
                uint64_t period_ms, timer_id_t *out);

/* Any thread. 0: cancelled (see the invariant above); -ENOENT: already fired (one-shot),
 * already cancelled, or a stale id. */
int timer_cancel(timer_id_t id);

/* Did this expiry message come from this arming? (Lets an actor ignore a late expiry.) */
bool timer_msg_is(const msg_t *m, timer_id_t id);

/* Driver, on worker w's own thread: fire everything due at now_ms. Returns how many fired. */
size_t timer_run_due(sched_t *s, unsigned w, uint64_t now_ms);

/* Driver: milliseconds until w's next timer is due (0 if one is due), or -1 if none. */
int64_t timer_next_ms(sched_t *s, unsigned w, uint64_t now_ms);

/* Armed timers on w (cancelled ones not yet reaped included). Owner thread or quiescent. */
size_t timer_pending(sched_t *s, unsigned w);

#endif /* RINGCHAT_ACTORS_TIMER_H */
