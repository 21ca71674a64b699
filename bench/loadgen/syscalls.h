/* syscalls.h - the server's system calls in the measured window, from
 * the kernel's tracepoints (--server-syscalls). */
#ifndef LOADGEN_SYSCALLS_H
#define LOADGEN_SYSCALLS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SYSCALL_NAMES_MAX 24

/* The counts of one window: every call, and those of each name known to
 * this kernel's tracepoints; "other" is total minus the named ones. */
struct syscall_counts {
	bool have;
	uint64_t messages;                      /* done while they counted */
	uint64_t total;
	unsigned n;                             /* names with a counter */
	const char *name[SYSCALL_NAMES_MAX];
	uint64_t calls[SYSCALL_NAMES_MAX];
};

/* The counters: one per task of the server's tree and per event. */
struct syscall_counters {
	unsigned nevents;                       /* 1 (every call) + the names */
	unsigned long long event_id;            /* raw_syscalls:sys_enter */
	const char *event_name[SYSCALL_NAMES_MAX + 1];
	char filter[SYSCALL_NAMES_MAX + 1][24]; /* "id == N"; [0] unused */
	int *fds;                               /* ntasks x nevents */
	size_t ntasks;
};

/* Can this process count the tracepoints at all (root or CAP_PERFMON, and
 * tracefs)?  NULL if so, else why not, in one line. */
const char *syscalls_counting_unavailable(pid_t pid);
/* Counters on every task of pid's tree, disabled; false (why in buf) if
 * they cannot be made.  Tasks made later are not counted. */
bool syscalls_counters_open(struct syscall_counters *c, pid_t pid, char *why, size_t len);
void syscalls_counters_enable(struct syscall_counters *c, bool on);
/* Read, sum over the tasks, close.  A task that ended took its counts with
 * it (its counter reads what it had). */
void syscalls_counters_close(struct syscall_counters *c, struct syscall_counts *out);

#endif
