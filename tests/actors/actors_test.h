/* actors_test.h: helpers shared by the tests in tests/actors (not a library API).
 * Used only by test code. Never used in src/. Waiting helpers are always bounded.
 * Counts scale down under ThreadSanitizer (10x slower) so `make test` stays short; the
 * normal build always runs the full sizes. */
#ifndef RINGCHAT_TESTS_ACTORS_TEST_H
#define RINGCHAT_TESTS_ACTORS_TEST_H

#include <errno.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#if defined(__SANITIZE_THREAD__)
#define ACT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ACT_TSAN 1
#endif
#endif
#ifndef ACT_TSAN
#define ACT_TSAN 0
#endif

/* n in a normal build, n / 10 under TSan. */
#define ACT_SCALE(n) (ACT_TSAN ? (n) / 10 : (n))

static inline uint64_t act_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* sem_wait with a deadline: true if posted, false on timeout. */
static inline bool act_sem_wait_ms(sem_t *s, unsigned ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    for (;;) {
        if (sem_clockwait(s, CLOCK_MONOTONIC, &ts) == 0)
            return true;
        if (errno != EINTR)
            return false;
    }
}

/* Bounded wait for a condition that has no event to wait on (test-only polling). */
static inline bool act_wait_until(bool (*pred)(void *), void *arg, unsigned ms)
{
    uint64_t deadline = act_now_ms() + ms;
    struct timespec pause = {0, 1000000L};

    while (!pred(arg)) {
        if (act_now_ms() > deadline)
            return pred(arg);
        nanosleep(&pause, NULL);
    }
    return true;
}

#endif /* RINGCHAT_TESTS_ACTORS_TEST_H */
