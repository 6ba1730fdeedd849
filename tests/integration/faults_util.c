/* faults_util.c: see faults_util.h. Test code only; no cr_assert here, so
 * the storm thread may use it too. */
#include "faults_util.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

long fu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

void fu_rst_close(int fd)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd);
}

/* Fields 3 (state), 14 (utime) and 15 (stime) of /proc/pid/stat; the
 * command name in field 2 may hold spaces, so parse after its ')'. */
static int read_stat(pid_t pid, char *state, long *ticks)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    if (p == NULL ||
        sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", state, &ut, &st) != 3)
        return -1;
    *ticks = (long)(ut + st);
    return 0;
}

long fu_cpu_ms(pid_t pid)
{
    char state;
    long ticks;
    if (read_stat(pid, &state, &ticks) != 0)
        return -1;
    return ticks * 1000 / sysconf(_SC_CLK_TCK);
}

bool fu_wait_state(pid_t pid, char want, int timeout_ms)
{
    long deadline = fu_now_ms() + timeout_ms;
    do {
        char state = 0;
        long ticks;
        if (read_stat(pid, &state, &ticks) == 0 && state == want)
            return true;
        usleep(5000);
    } while (fu_now_ms() < deadline);
    return false;
}

int fu_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}
