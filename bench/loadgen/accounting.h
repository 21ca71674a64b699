/* accounting.h - CPU time and memory of the load generator and of the server,
 * so a reader can tell which side was the bottleneck. */
#ifndef LOADGEN_ACCOUNTING_H
#define LOADGEN_ACCOUNTING_H

#include <stdbool.h>
#include <sys/types.h>

struct cpu_times {
	double user_s, sys_s;
};

/* This process, all threads. */
void self_cpu(struct cpu_times *t);
/* This process's peak resident memory since exec, in KiB; -1 if unknown. */
long self_peak_rss_kib(void);
/* The server process, its threads, its live descendants and the children
 * it has reaped; false if it is gone.  Exact in total (to a tick per
 * process that reaps), split into user and system by the tick counts.
 * Successive calls for one server report running totals, so subtract two
 * of them; call from one thread. */
bool tree_cpu(pid_t pid, struct cpu_times *t);
/* Resident memory of the server and its live descendants, in KiB: RSS
 * counts a page shared by several processes once for each, PSS shares it
 * out among them.  pss_kib is -1 when it could not be read for all, both
 * are -1 if the tree could not be listed (out of memory). */
struct tree_memory {
	long rss_kib, pss_kib;
};
void tree_memory(pid_t pid, struct tree_memory *m);

#endif
