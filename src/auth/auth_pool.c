/* auth_pool.c: the hash pool (see auth_pool.h): N blocking threads taking
 * jobs from one FIFO queue.
 * Called by auth.c (memory backend) and auth_redis.c (verification of a
 * fetched hash). Argon2id takes milliseconds to a second per job, so this
 * pool is far off the message path: a mutex + condition variable queue is the
 * plain, obviously correct choice here, and the mutex is only ever held for a
 * few pointer moves. Workers sleep on the condvar when idle: no busy-waiting.
 * Invariant: a job is on the queue or owned by exactly one worker, never both;
 * workers exit only when stopping and the queue is empty. */
#include "auth_pool.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

struct auth_pool {
    pthread_mutex_t lock; /* guards everything below */
    pthread_cond_t wake;  /* signalled on submit and on stop */
    auth_pool_job_t *head, *tail;
    bool stopping;
    unsigned alive;    /* workers that have not exited yet */
    unsigned nthreads; /* workers started (joined by destroy) */
    pthread_t threads[];
};

/* Pops the oldest job, or NULL when the queue is empty. Lock held. */
static auth_pool_job_t *pool_pop_locked(auth_pool_t *p)
{
    auth_pool_job_t *job = p->head;
    if (job) {
        p->head = job->next;
        if (!p->head)
            p->tail = NULL;
        job->next = NULL;
    }
    return job;
}

static void *pool_main(void *arg)
{
    auth_pool_t *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        auth_pool_job_t *job = pool_pop_locked(p);
        if (!job) {
            if (p->stopping)
                break;
            pthread_cond_wait(&p->wake, &p->lock);
            continue;
        }
        bool cancelled = p->stopping;
        pthread_mutex_unlock(&p->lock);
        job->run(job, cancelled); /* the slow part, never under the lock */
        pthread_mutex_lock(&p->lock);
    }
    p->alive--;
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* Starts one worker with every signal blocked, so that process signals go to
 * the main thread and SIGPIPE from a socket write stays pending harmlessly. */
static int pool_start_thread(auth_pool_t *p, pthread_t *t)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(t, NULL, pool_main, p);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

auth_pool_t *auth_pool_create(unsigned nthreads)
{
    if (nthreads == 0)
        return NULL;
    auth_pool_t *p = calloc(1, sizeof(*p) + nthreads * sizeof(pthread_t));
    if (!p)
        return NULL;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    for (unsigned i = 0; i < nthreads; i++) {
        if (pool_start_thread(p, &p->threads[i]) != 0)
            break;
        char name[16];
        snprintf(name, sizeof(name), "auth-hash%u", i % 100u);
        pthread_setname_np(p->threads[i], name);
        pthread_mutex_lock(&p->lock);
        p->alive++;
        p->nthreads++;
        pthread_mutex_unlock(&p->lock);
    }
    if (p->nthreads == 0) {
        auth_pool_destroy(p);
        return NULL;
    }
    return p;
}

void auth_pool_submit(auth_pool_t *p, auth_pool_job_t *job)
{
    job->next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->alive == 0) {
        /* Every worker has exited (only possible during destroy): nobody
         * would ever run the job, so cancel it here to keep exactly-once. */
        pthread_mutex_unlock(&p->lock);
        job->run(job, true);
        return;
    }
    if (p->tail)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

void auth_pool_stop(auth_pool_t *p)
{
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

void auth_pool_destroy(auth_pool_t *p)
{
    if (!p)
        return;
    auth_pool_stop(p);
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
