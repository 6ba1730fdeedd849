/* tsan_criterion/criterion/criterion.h: a small stand-in for the part of
 * Criterion that our tests use, compiled only into ThreadSanitizer builds.
 *
 * Why: Criterion 2.4.1 (Debian 12) aborts at start-up under TSan ("Could not
 * initialize inheritable arena", Criterion issue #274: its BoxFort arena maps
 * memory at fixed addresses that TSan reserves), so no Criterion test binary
 * could run under TSan at all. Who uses it: ringchat_test() in
 * tests/CMakeLists.txt puts this folder first on the include path of every
 * test when CMAKE_C_FLAGS has -fsanitize=thread; the test files are unchanged.
 * What it must never do: report a pass for a test that failed, crashed,
 * timed out or made TSan report (TSan exits with 66 at the end of the test
 * process). Each test runs in its own forked process (as Criterion does, so
 * process-wide counters start fresh), alarm() is its timeout, and tests run
 * one after another. Normal and ASan builds use the real Criterion. */
#ifndef RINGCHAT_TSAN_CRITERION_H
#define RINGCHAT_TSAN_CRITERION_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* The options a Test or TestSuite may set. */
struct cr_compat_opts {
    double timeout;
    void (*init)(void);
    void (*fini)(void);
};

struct cr_compat_test {
    const char *suite, *name;
    void (*fn)(void);
    struct cr_compat_opts opts;
};

struct cr_compat_suite {
    const char *name;
    struct cr_compat_opts opts;
};

void cr_compat_register(const struct cr_compat_test *t);
void cr_compat_register_suite(const struct cr_compat_suite *s);
_Noreturn void cr_compat_fail(const char *file, int line, const char *expr, const char *fmt, ...);
_Noreturn void cr_compat_skip(const char *fmt, ...);
void cr_compat_log(const char *fmt, ...);

#define Test(s_, n_, ...)                                                                          \
    static void s_##_##n_##_fn(void);                                                              \
    __attribute__((constructor)) static void s_##_##n_##_reg(void)                                 \
    {                                                                                              \
        struct cr_compat_test t = {                                                                \
            .suite = #s_, .name = #n_, .fn = s_##_##n_##_fn, .opts = {__VA_ARGS__}};               \
        cr_compat_register(&t);                                                                    \
    }                                                                                              \
    static void s_##_##n_##_fn(void)

#define TestSuite(s_, ...)                                                                         \
    __attribute__((constructor)) static void s_##_suite_reg(void)                                  \
    {                                                                                              \
        struct cr_compat_suite s = {.name = #s_, .opts = {__VA_ARGS__}};                           \
        cr_compat_register_suite(&s);                                                              \
    }

/* The optional message is a format string literal: "" fmt concatenates. */
#define cr_assert(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond))                                                                               \
            cr_compat_fail(__FILE__, __LINE__, #cond, "" __VA_ARGS__);                             \
    } while (0)
#define cr_assert_not(cond, ...)       cr_assert(!(cond), __VA_ARGS__)
#define cr_assert_eq(a, b, ...)        cr_assert((a) == (b), __VA_ARGS__)
#define cr_assert_neq(a, b, ...)       cr_assert((a) != (b), __VA_ARGS__)
#define cr_assert_lt(a, b, ...)        cr_assert((a) < (b), __VA_ARGS__)
#define cr_assert_leq(a, b, ...)       cr_assert((a) <= (b), __VA_ARGS__)
#define cr_assert_gt(a, b, ...)        cr_assert((a) > (b), __VA_ARGS__)
#define cr_assert_geq(a, b, ...)       cr_assert((a) >= (b), __VA_ARGS__)
#define cr_assert_not_null(p, ...)     cr_assert((p) != NULL, __VA_ARGS__)
#define cr_assert_null(p, ...)         cr_assert((p) == NULL, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...)    cr_assert(strcmp((a), (b)) == 0, __VA_ARGS__)
#define cr_assert_str_neq(a, b, ...)   cr_assert(strcmp((a), (b)) != 0, __VA_ARGS__)
#define cr_assert_arr_eq(a, b, n, ...) cr_assert(memcmp((a), (b), (n)) == 0, __VA_ARGS__)
#define cr_assert_fail(...)            cr_compat_fail(__FILE__, __LINE__, "fail", "" __VA_ARGS__)
#define cr_skip_test(...)              cr_compat_skip("" __VA_ARGS__)
#define cr_skip(...)                   cr_compat_skip("" __VA_ARGS__)
#define cr_log_error(...)              cr_compat_log("" __VA_ARGS__)
#define cr_log_warn(...)               cr_compat_log("" __VA_ARGS__)
#define cr_log_info(...)               cr_compat_log("" __VA_ARGS__)

#endif /* RINGCHAT_TSAN_CRITERION_H */
