/* report.h - the ways to print a finished run's results (results.h): a
 * summary for people, JSON and CSV for the harness, a percentile file for
 * gnuplot; and the warnings that its figures call for. */
#ifndef LOADGEN_REPORT_H
#define LOADGEN_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "options.h"
#include "results.h"

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

#endif
