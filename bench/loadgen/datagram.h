/* datagram.h - the transport of --udp, one datagram per message (datagram.c). */
#ifndef LOADGEN_DATAGRAM_H
#define LOADGEN_DATAGRAM_H

#include "conn.h"

extern const struct transport dgram_transport;

#endif
