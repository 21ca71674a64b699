/* report.h - the numbers of a finished run, and the ways to print them. */
#ifndef LOADGEN_REPORT_H
#define LOADGEN_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "loadgen.h"
#include "accounting.h"
#include "syscalls.h"

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
	const char *first_error;
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

/* Adds a warning (one line, cut at WARNING_BYTES - 1). */
void warnings_add(struct warnings *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void warnings_free(struct warnings *w);
/* Adds the warnings r's figures call for: open loop below --rate; for a
 * run (merged false), a connect phase that left connections waiting and a
 * disturbed window too (a merge has its runs' own warnings instead). */
void report_add_warnings(struct results *r, bool merged);

void report_human(FILE *out, const struct results *r);
void report_json(FILE *out, const struct results *r);
void report_csv_header(FILE *out);
void report_csv(FILE *out, const struct results *r);
int report_histogram_file(const char *path, const struct results *r);
/* Closes a file that an option (--histogram, --save) wrote: 0, or -1
 * after one line naming the file and why.  Checks the flush, not only the
 * open: a full disk (/dev/full) fails only when the buffer is written. */
int report_close(FILE *f, const char *option, const char *path);
/* All that the options ask for, stdout, stderr's lines (r's warnings,
 * then an error), the files; the exit status (1: an error, a lost message,
 * or a file not written). */
int report_results(const struct options *opt, const struct results *r);

#endif
