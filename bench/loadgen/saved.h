/* saved.h - a run's result in a file (--save), and reading it back
 * (--merge): the --json object plus everything needed to merge exactly. */
#ifndef LOADGEN_SAVED_H
#define LOADGEN_SAVED_H

#include "options.h"
#include "results.h"

#define SAVED_VERSION 3

/* One saved run as read back: its options (the part a report shows) and
 * its results, whose opt points at opt. */
struct saved_run {
	struct options opt;
	struct results r;
};

/* 0, or -1 after one line on stderr. */
int saved_write(const char *path, const struct results *r);
/* 0; 1 (cannot read the file) or 2 (not a save of this loadgen, or of
 * another histogram layout) after one line on stderr.  The run's warnings
 * are allocated: results_free() them when done (not needed on failure). */
int saved_read(const char *path, struct saved_run *run);

#endif
