/* results.h - what a run measured, as the report prints it and --save
 * keeps it, and the one place where results are added up: a worker
 * thread's part into its run's (main.c), and saved runs into one
 * (--merge, merge.c). */
#ifndef LOADGEN_RESULTS_H
#define LOADGEN_RESULTS_H

#include <stdbool.h>
#include <stdint.h>

#include "accounting.h"
#include "hist.h"
#include "options.h"
#include "syscalls.h"

#define ERROR_BYTES   512       /* one error's text */
#define WARNING_BYTES 768       /* one warning, with the files a merge prefixes */

/* What loadgen warns about: each printed on stderr as "loadgen: warning:
 * TEXT" and listed in JSON's "warnings", so a harness reads them too. */
struct warnings {
	char **text;
	unsigned count;
};

/* The connect phase: the held connections opened, then one echo round
 * trip on each (its probe, worker.c), before warmup. */
struct connect_phase {
	bool done;                      /* false: none (--replay) */
	double duration_s;              /* from the threads' start to warmup */
	double probe_wait_s;            /* the limit on waiting for the probes */
	uint64_t held;                  /* connections probed: idle ones too, but
					 * not connect-per-request's */
	uint64_t served;                /* probes answered before warmup */
	uint64_t waiting;               /* probes unanswered at warmup, on connections
					 * still open (held - served - waiting failed) */
};

struct results {
	const struct options *opt;
	struct hist latency;            /* round trip; corrected in open loop */
	struct hist uncorrected;        /* open loop: from the actual send */
	struct hist connect;            /* connect-per-request: handshake */
	uint64_t messages, connects, errors;
	uint64_t lost;                  /* measured, no reply: in the histograms as lower bounds */
	double measured_s;
	char first_error[ERROR_BYTES];  /* the text of the first error */
	struct cpu_times self_cpu;
	long self_peak_rss_kib;
	bool have_server;
	struct cpu_times server_cpu;
	long server_peak_rss_kib;
	long server_peak_pss_kib;       /* -1: unknown (no right to read smaps) */
	/* The measured interval on CLOCK_REALTIME, so that runs on several
	 * hosts can be lined up (--save, --merge); 0, 0: none (--replay). */
	uint64_t window_start_ns, window_end_ns;
	struct connect_phase connect_phase;
	/* How disturbed the window was (accounting.c): the seconds loadgen's
	 * and the server's threads spent runnable but waiting for a CPU, and
	 * the share of the host's CPU time its hypervisor stole.  -1: unknown
	 * (no --server-pid, no /proc figures, --replay). */
	double self_runq_wait_s, server_runq_wait_s, steal_pct;
	/* The server's tasks that ran in the window, and the CPUs it may run
	 * on (-1: unknown).  More tasks than CPUs wait for each other: that
	 * wait is the model's own cost (threads, fork), no disturbance. */
	int server_tasks_ran, server_cpus;
	/* --server-syscalls: its calls in the window (not kept by --save and
	 * --merge: a merge's runs are other hosts', whose tasks are not
	 * counted here). */
	struct syscall_counts syscalls;
	struct warnings warnings;
};

/* Empty results of a run with these options: no figure known yet. */
void results_init(struct results *r, const struct options *opt);
/* Adds part's counts, latencies, connect phase and first error to r's: a
 * worker thread's part of a run, or a saved run to a merge.  CPU, memory
 * and the window are a whole run's, not added (merge.c chooses among its
 * runs').  false if a count would wrap; r is then half made. */
bool results_add(struct results *r, const struct results *part);
/* Counts an error; the first one's text is the one the report shows. */
void results_error(struct results *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Adds a warning (one line, cut at WARNING_BYTES - 1). */
void results_warn(struct results *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Frees what r holds (its warnings). */
void results_free(struct results *r);

#endif
