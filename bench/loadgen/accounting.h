/* accounting.h - CPU time and memory of the load generator and of the server,
 * so a reader can tell which side was the bottleneck. */
#ifndef LOADGEN_ACCOUNTING_H
#define LOADGEN_ACCOUNTING_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct cpu_times {
	double user_s, sys_s;
};

/* This process, all threads. */
void acct_self_cpu(struct cpu_times *t);
/* This process's peak resident memory since exec, in KiB; -1 if unknown. */
long acct_self_peak_rss_kib(void);
/* The server process, its threads, its live descendants and the children
 * it has reaped; false if it is gone.  Exact in total (to a tick per
 * process that reaps), split into user and system by the tick counts.
 * Successive calls for one server report running totals, so subtract two
 * of them; call from one thread. */
bool acct_tree_cpu(pid_t pid, struct cpu_times *t);
/* Resident memory of the server and its live descendants, in KiB: RSS
 * counts a page shared by several processes once for each, PSS shares it
 * out among them.  pss_kib is -1 when it could not be read for all, both
 * are -1 if the tree could not be listed (out of memory). */
struct tree_memory {
	long rss_kib, pss_kib;
};
void acct_tree_memory(pid_t pid, struct tree_memory *m);

/* Every thread of pid's tree, by TID (*tids is malloc'd); false if out
 * of memory. */
bool acct_tree_tasks(pid_t pid, pid_t **tids, size_t *n);

/* Run-queue wait: how long tasks were runnable but waited for a CPU, the
 * 2nd field of /proc/PID/task/TID/schedstat.  A sample holds each task's
 * running total; two samples compare task by task. */
struct runq_sample {
	struct task_wait *tasks;        /* sorted by TID */
	size_t n, cap;
};
/* The threads of this process (tree false) or of the server's whole tree;
 * false if none could be read. */
bool acct_runq_sample(pid_t pid, bool tree, struct runq_sample *s);
/* Seconds waited from then to now by the tasks alive now (see accounting.c
 * for those that began or ended in between), but `own` (0: none), and less
 * the time `own` ran meanwhile: loadgen's workers, less what they can have
 * waited behind its sampling thread (its own cost, not a neighbour's); 0 at
 * least. */
double acct_runq_wait_s(const struct runq_sample *then, const struct runq_sample *now,
			pid_t own);
/* How many of the tasks alive now ran on a CPU since then. */
unsigned acct_runq_tasks_ran(const struct runq_sample *then, const struct runq_sample *now);
/* The CPUs pid may run on (its affinity); -1 if unknown. */
int acct_cpus_allowed(pid_t pid);
void acct_runq_sample_free(struct runq_sample *s);

/* The host's CPU time in ticks (/proc/stat), and the part of it stolen. */
struct host_ticks {
	unsigned long long steal, total;
};
bool acct_host_ticks(struct host_ticks *t);
/* Steal as a percentage of the CPU time between two readings; -1 if no
 * tick passed, or the kernel counts no steal. */
double acct_steal_pct(const struct host_ticks *then, const struct host_ticks *now);

#endif
