/* connect.h - opening connections without ever hanging (connect.c). */
#ifndef LOADGEN_CONNECT_H
#define LOADGEN_CONNECT_H

#include <stddef.h>

#include "conn.h"
#include "options.h"

enum { CONNECT_DONE, CONNECT_PENDING, CONNECT_RETRY };

/* Start c's connect to the target, non-blocking, and watch it: CONNECT_DONE,
 * CONNECT_PENDING (wait for EPOLLOUT, then connect_result()), CONNECT_RETRY
 * (a Unix socket's backlog is full: try again shortly), or -errno. */
int connect_start(struct conn_set *set, struct conn *c);
/* The pending connect finished (EPOLLOUT): 0 or the errno it failed with. */
int connect_result(struct conn_set *set, struct conn *c);
/* Open conns[0, count) before the run starts, at most CONNECTS_IN_FLIGHT
 * at a time, within --connect-timeout: 0, or -1 and why[len] says why. */
int connect_all(struct conn_set *set, struct conn *conns, unsigned count,
		char *why, size_t len);
/* One line on why connecting failed with err after `opened` connections:
 * the limit that was hit (open files, ephemeral ports, listen backlog)
 * and what to change. */
void connect_error_text(char *buf, size_t len, const struct options *opt,
			int err, unsigned opened);
/* Every connection is a file descriptor: make sure the limit allows them
 * all before opening any, raising the soft limit up to the hard one; -1
 * after one line on stderr if it cannot. */
int connect_check_fd_limit(const struct options *opt);

#endif
