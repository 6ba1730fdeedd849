/* criterion_compat.c: the runner behind tsan_criterion/criterion/criterion.h
 * (see there for why it exists). main() forks one child per registered test,
 * arms alarm(timeout) in it, and reads the verdict from its exit status:
 * 0 pass, 77 skipped, anything else (failed assertion, signal, TSan's exit
 * code 66, timeout) fail. Compiled only into ThreadSanitizer builds. */
#include "criterion/criterion.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define CR_COMPAT_MAX  128
#define CR_COMPAT_SKIP 77

static struct cr_compat_test cr_tests[CR_COMPAT_MAX];
static int cr_ntests;
static struct cr_compat_suite cr_suites[CR_COMPAT_MAX];
static int cr_nsuites;

void cr_compat_register_suite(const struct cr_compat_suite *s)
{
    if (cr_nsuites == CR_COMPAT_MAX) {
        fprintf(stderr, "tsan_criterion: too many suites\n");
        abort();
    }
    cr_suites[cr_nsuites++] = *s;
}

/* A test's options, with its suite's filling what the test leaves unset. */
static struct cr_compat_opts cr_opts_of(const struct cr_compat_test *t)
{
    struct cr_compat_opts o = t->opts;
    for (int i = 0; i < cr_nsuites; i++) {
        if (strcmp(cr_suites[i].name, t->suite) != 0)
            continue;
        if (o.timeout <= 0)
            o.timeout = cr_suites[i].opts.timeout;
        if (o.init == NULL)
            o.init = cr_suites[i].opts.init;
        if (o.fini == NULL)
            o.fini = cr_suites[i].opts.fini;
    }
    return o;
}

void cr_compat_register(const struct cr_compat_test *t)
{
    if (cr_ntests == CR_COMPAT_MAX) {
        fprintf(stderr, "tsan_compat: too many tests\n");
        abort();
    }
    cr_tests[cr_ntests++] = *t;
}

void cr_compat_fail(const char *file, int line, const char *expr, const char *fmt, ...)
{
    fprintf(stderr, "[----] %s:%d: Assertion failed: %s\n", file, line, expr);
    if (fmt[0]) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(stderr, "[----]   ");
        vfprintf(stderr, fmt, ap);
        fprintf(stderr, "\n");
        va_end(ap);
    }
    fflush(stderr);
    _exit(1); /* from any thread: the child's verdict is all that matters */
}

void cr_compat_skip(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[SKIP] ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    fflush(stderr);
    _exit(CR_COMPAT_SKIP);
}

void cr_compat_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static int cr_run_one(const struct cr_compat_test *t)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        struct cr_compat_opts o = cr_opts_of(t);
        alarm(o.timeout > 0 ? (unsigned)o.timeout + 1 : 600);
        if (o.init != NULL)
            o.init();
        t->fn();
        if (o.fini != NULL)
            o.fini();
        exit(0); /* exit, not _exit: TSan reports and sets 66 at exit */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    fprintf(stderr, "[----] %s::%s: killed by signal %d%s\n", t->suite, t->name, WTERMSIG(status),
            WTERMSIG(status) == SIGALRM ? " (timeout)" : "");
    return 1;
}

int main(void)
{
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < cr_ntests; i++) {
        const struct cr_compat_test *t = &cr_tests[i];
        fprintf(stderr, "[RUN ] %s::%s\n", t->suite, t->name);
        int rc = cr_run_one(t);
        const char *verdict = rc == 0 ? "PASS" : rc == CR_COMPAT_SKIP ? "SKIP" : "FAIL";
        passed += rc == 0;
        skipped += rc == CR_COMPAT_SKIP;
        failed += rc != 0 && rc != CR_COMPAT_SKIP;
        fprintf(stderr, "[%s] %s::%s (exit %d)\n", verdict, t->suite, t->name, rc);
    }
    fprintf(stderr,
            "[====] Synthesis (tsan_compat): Tested: %d | Passing: %d | Failing: %d | "
            "Skipped: %d\n",
            cr_ntests, passed, failed, skipped);
    return failed ? 1 : 0;
}
