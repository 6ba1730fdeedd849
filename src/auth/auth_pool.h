/* auth_pool.h: the hash pool, a few blocking threads that run the slow
 * argon2id work (pwhash_hash, pwhash_verify) for the auth backends.
 * Used only inside src/auth. Jobs are intrusive: the caller owns the memory
 * and gets it back in run(). Invariant: every submitted job's run() is called
 * exactly once, with cancelled=true if the pool was stopping before a thread
 * took it. */
#ifndef RINGCHAT_AUTH_POOL_H
#define RINGCHAT_AUTH_POOL_H

#include <stdbool.h>

typedef struct auth_pool_job auth_pool_job_t;
struct auth_pool_job {
    auth_pool_job_t *next; /* queue link, owned by the pool while queued */
    void (*run)(auth_pool_job_t *job, bool cancelled);
};

typedef struct auth_pool auth_pool_t;

/* Starts nthreads (>= 1) worker threads. NULL on failure. */
auth_pool_t *auth_pool_create(unsigned nthreads);

/* Queues job (FIFO). Any thread, including a pool thread; takes a short
 * mutex but never waits for a job. */
void auth_pool_submit(auth_pool_t *p, auth_pool_job_t *job);

/* Starts stopping: from now on every job that a worker takes (queued or
 * submitted later) runs with cancelled=true; jobs already running finish
 * normally. Workers exit once the queue is empty. Any thread; idempotent. */
void auth_pool_stop(auth_pool_t *p);

/* auth_pool_stop, then joins the workers and frees the pool. Not from a pool
 * thread. */
void auth_pool_destroy(auth_pool_t *p);

#endif
