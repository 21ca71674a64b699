/* blocking.c - the iterative server: one client at a time, blocking calls.
 *
 * Accept a client, echo until it leaves, then accept the next (UNP's
 * serv00).  Cost: nothing beyond the read() and write() themselves.
 * Limit: one client at a time.  Everyone else waits in the listen backlog,
 * so one idle or slow client stops the whole service.
 * Used by: inetd "wait" services, tiny daemons, first exercises. */
#include "core.h"

static void serve(int fd)
{
	echo_session(fd);  /* nobody else is served meanwhile */
	client_close(fd);
}

/* LAB: run */
static void backend_run(int lfd)
{
	while (!stop_requested) {
		int fd = accept_client(lfd);

		if (fd < 0)
			continue;  /* a signal, a refused client, or out of fds */
		serve(fd);
	}
}
/* LAB: end */

const struct backend backend = {
	.name = BACKEND_NAME,
	.run = backend_run,
	.model = "iterative: one client at a time, blocking calls",
	.family = BLOCKING,
	.order = 1,
	.serves = SERVES_ONE,
};
