/* faults_util.h: small helpers for the fault tests (test_faults.c,
 * faults_room.c, faults_storm.c): a monotonic clock, resetting a socket,
 * reading a process's CPU time and run state from /proc, counting lines in
 * a log. Test code only. Safe from any thread (no cr_assert, no shared
 * state); every wait is bounded by its timeout. */
#ifndef RINGCHAT_FAULTS_UTIL_H
#define RINGCHAT_FAULTS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* CLOCK_MONOTONIC in milliseconds. */
long fu_now_ms(void);

/* Closes fd so that the kernel sends RST instead of FIN (SO_LINGER {1, 0}). */
void fu_rst_close(int fd);

/* User + system CPU time of process pid (all its threads), in ms, or -1. */
long fu_cpu_ms(pid_t pid);

/* Waits up to timeout_ms until /proc/pid/stat shows state `want` ('T'
 * stopped, 'S' sleeping...). */
bool fu_wait_state(pid_t pid, char want, int timeout_ms);

/* Occurrences of needle in hay. */
int fu_count(const char *hay, const char *needle);

#endif
