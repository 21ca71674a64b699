/* options.h - command line of loadgen. */
#ifndef LOADGEN_OPTIONS_H
#define LOADGEN_OPTIONS_H

#include "loadgen.h"

/* Fills opt from argv; on any mistake prints one line and exits 2. */
void options_parse(struct options *opt, int argc, char **argv);
const char *mode_name(enum mode mode);

#endif
