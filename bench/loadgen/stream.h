/* stream.h - the transports over a byte stream, TCP or Unix (stream.c). */
#ifndef LOADGEN_STREAM_H
#define LOADGEN_STREAM_H

#include "conn.h"

extern const struct transport stream_transport;         /* held for the run */
extern const struct transport stream_per_request;       /* --connect-per-request */

#endif
