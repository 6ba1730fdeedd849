/* rcb_sys.c: ringchat-bench's operating-system helpers: the monotonic clock,
 * the open-files limit, CPU time and RSS of a process read from /proc (the
 * server's, for CPU per delivery and memory per connection), the kernel name.
 * Called by the controller thread (and rcb_now_ns by the loops). Never blocks
 * for long: each /proc read is one small file. */
#include "rcb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

uint64_t rcb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

long rcb_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -errno;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            return -errno;
    }
    return (long)rl.rlim_cur;
}

/* Reads /proc/PID/FILE into buf (NUL-terminated). Bytes read, or -1. */
static ssize_t read_proc(int pid, const char *file, char *buf, size_t cap)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (ssize_t)n;
}

int64_t rcb_proc_cpu_us(int pid)
{
    char buf[1024];
    if (pid <= 0 || read_proc(pid, "stat", buf, sizeof(buf)) <= 0)
        return -1;
    /* The command name may hold spaces and parentheses: fields start after
     * the last ')'. utime and stime are fields 14 and 15 (1-based). */
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    /* p + 2 is field 3 (state); utime is 11 fields further. */
    char *q = p + 2;
    for (int field = 3; field < 14; field++) {
        q = strchr(q, ' ');
        if (q == NULL)
            return -1;
        q++;
    }
    char *end;
    unsigned long long utime = strtoull(q, &end, 10);
    unsigned long long stime = strtoull(end, NULL, 10);
    long hz = sysconf(_SC_CLK_TCK);
    if (hz <= 0)
        hz = 100;
    return (int64_t)((utime + stime) * 1000000ull / (unsigned long long)hz);
}

int64_t rcb_proc_rss_kb(int pid)
{
    char buf[4096];
    if (pid <= 0 || read_proc(pid, "status", buf, sizeof(buf)) <= 0)
        return -1;
    const char *p = strstr(buf, "VmRSS:");
    if (p == NULL)
        return -1;
    return strtoll(p + 6, NULL, 10);
}

int64_t rcb_self_cpu_us(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
           ru.ru_stime.tv_usec;
}

void rcb_kernel(char *buf, size_t cap)
{
    struct utsname u;
    if (uname(&u) == 0)
        snprintf(buf, cap, "%s", u.release);
    else
        snprintf(buf, cap, "unknown");
}
