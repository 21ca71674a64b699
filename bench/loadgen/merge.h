/* merge.h - --merge FILE...: several saved runs combined into one
 * (merge.c), which main.c reports like any run. */
#ifndef LOADGEN_MERGE_H
#define LOADGEN_MERGE_H

#include "options.h"
#include "saved.h"

/* Reads the --merge files of cli and combines them into merged, whose
 * options take cli's output options (--json, --save, ...): 0, or the exit
 * status after one line on stderr.  Either way merged's warnings are
 * allocated: results_free() them when done. */
int merge_saved(const struct options *cli, struct saved_run *merged);

#endif
