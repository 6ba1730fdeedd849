/* itest.h: Criterion-side helpers shared by the integration tests: start the
 * real binary on a given io backend (skipping, not failing, when io_uring is
 * refused by the kernel) and stop it expecting a clean exit. */
#ifndef RINGCHAT_ITEST_H
#define RINGCHAT_ITEST_H

#include <criterion/criterion.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "server_proc.h"

#define ITEST_T 5000 /* ms per expected packet: generous for sanitizer builds */

/* Starts ringchat with --io-backend backend --threads 2, then extra (NULL-
 * terminated, may be NULL). */
static inline void itest_start(server_proc_t *s, const char *backend, const char *const *extra)
{
    const char *args[48] = {"--io-backend", backend, "--threads", "2"};
    int n = 4;
    for (; extra != NULL && extra[n - 4] != NULL && n < 47; n++)
        args[n] = extra[n - 4];
    args[n] = NULL;
    if (server_start(s, args) != 0) {
        char log[4096];
        server_read_log(s, log, sizeof(log));
        if (strcmp(backend, "uring") == 0 && strstr(log, "io_uring") != NULL)
            cr_skip("io_uring refused here: %s", log);
        cr_assert_fail("server did not start: %s", log);
    }
    const char *want = strcmp(backend, "uring") == 0 ? "backend=io_uring" : "backend=epoll";
    cr_assert(strstr(s->banner, want) != NULL, "%s", s->banner);
}

/* true when the server under test is a sanitizer build: this test binary
 * was built with ASan (so was the server next to it), or make test points
 * RINGCHAT_TEST_SERVER at a ThreadSanitizer build. Their allocators keep
 * freed memory (quarantine, shadow, history), so RSS bounds do not apply;
 * their own checks (leaks, races) stand in for them. */
static inline bool itest_server_sanitized(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return true;
#endif
#endif
    const char *env = getenv("RINGCHAT_TEST_SERVER");
    return env != NULL && env[0] != '\0';
}

static inline void itest_stop(server_proc_t *s)
{
    int st = server_stop(s, SIGTERM, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "server exit status %d", st);
}

#endif
