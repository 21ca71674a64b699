/* report.h - the numbers of a finished run, and the ways to print them. */
#ifndef LOADGEN_REPORT_H
#define LOADGEN_REPORT_H

#include <stdio.h>

#include "loadgen.h"
#include "accounting.h"

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
};

void report_human(FILE *out, const struct results *r);
/* What a reader must not miss in any format: open loop below --rate. */
void report_warnings(FILE *out, const struct results *r);
void report_json(FILE *out, const struct results *r);
void report_csv_header(FILE *out);
void report_csv(FILE *out, const struct results *r);
int report_histogram_file(const char *path, const struct results *r);
/* Closes a file that an option (--histogram, --save) wrote: 0, or -1
 * after one line naming the file and why.  Checks the flush, not only the
 * open: a full disk (/dev/full) fails only when the buffer is written. */
int report_close(FILE *f, const char *option, const char *path);
/* All that the options ask for, stdout, stderr's lines, the files; the
 * exit status (1: an error, a lost message, or a file not written). */
int report_results(const struct options *opt, const struct results *r);

#endif
