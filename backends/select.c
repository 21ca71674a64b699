/* select.c - select(2): one bitmap of fds per direction.
 *
 * Cost per wait: O(watched fds), as for poll: the kernel polls each fd
 * whose bit is set.  select() overwrites its sets with the answer, so they
 * are rebuilt (copied) before every call, and the kernel and then the
 * caller walk the bits up to the highest fd, however few are ready; that
 * walk skips 64 clear bits at a time and costs little (lab 03 measures it).
 * Limit: fds below FD_SETSIZE (1024).  An fd_set is a fixed-size bitmap:
 * FD_SET() on a larger fd writes past its end, so such clients are refused.
 * Used by: early BSD servers, Redis and libevent as a fallback, scripts.
 *
 * Beside spin.c (a waiting call): spin never waits: every round it tries
 * every fd, ready or not, and most calls fail with EAGAIN. select adds the
 * one thing spin lacks, a call that sleeps until some fd is ready. Look at
 * the state (a list of fds becomes two bitmaps and the highest fd),
 * `wait_ready()` (which now copies the watch sets and sleeps in
 * `select()`), the loop (it tries only the fds whose bit is set), and the
 * `fd_limit` in its struct backend: the price, fds below FD_SETSIZE.
 */
#include <errno.h>
#include <string.h>
#include <sys/select.h>

#include "core.h"

static struct {
	fd_set rwatch, wwatch;  /* what we wait for, kept across calls */
	fd_set rready, wready;  /* select's answer, overwritten each call */
	int maxfd;              /* highest watched fd: the scan's end */
} state;

static fd_set *set_for(enum want want)
{
	return want == WANT_READ ? &state.rwatch : &state.wwatch;
}

static int watch(int fd, enum want want)
{
	FD_SET(fd, set_for(want));
	if (fd > state.maxfd)
		state.maxfd = fd;
	return 0;
}

static void rewatch(int fd, enum want want)
{
	FD_CLR(fd, set_for(want == WANT_READ ? WANT_WRITE : WANT_READ));
	FD_SET(fd, set_for(want));
}

static void unwatch(int fd)
{
	FD_CLR(fd, &state.rwatch);
	FD_CLR(fd, &state.wwatch);
	while (state.maxfd >= 0 && !FD_ISSET(state.maxfd, &state.rwatch) &&
	       !FD_ISSET(state.maxfd, &state.wwatch))
		state.maxfd--;
}

/* LAB: wait */
/* The one blocking call: sleep until some fd up to maxfd is ready. */
static int wait_ready(void)
{
	int nready;

	state.rready = state.rwatch;  /* select() overwrites what it is given */
	state.wready = state.wwatch;
	nready = select(state.maxfd + 1, &state.rready, &state.wready, NULL, NULL);
	if (nready < 0 && errno != EINTR)
		die("select: %s", strerror(errno));
	return nready;  /* -1 with EINTR: a signal; the loop checks the flag */
}
/* LAB: end */

static const struct mux mux = { .watch = watch, .rewatch = rewatch, .unwatch = unwatch };

static void state_init(void)
{
	state.maxfd = -1;
}

/* LAB: run */
static void backend_run(int lfd)
{
	state_init();
	loop_init(lfd, &mux);
	while (!stop_requested) {
		int nready = wait_ready();

		/* The answer is two bitmaps: test every bit up to maxfd. */
		for (int fd = 0; fd <= state.maxfd && nready > 0; fd++) {
			if (FD_ISSET(fd, &state.rready) || FD_ISSET(fd, &state.wready)) {
				nready--;
				loop_on_ready(fd);
			}
		}
	}
	loop_close_all();
}
/* LAB: end */

const struct backend backend = {
	.name = BACKEND_NAME,
	.run = backend_run,
	.model = "select(2) bitmaps, fds below FD_SETSIZE",
	.family = READINESS,
	.order = 3,
	.beside = "spin",
	.idea = "a waiting call",
	.udp = true,
	.fd_limit = FD_SETSIZE,
	.fd_limit_why = "select() cannot watch fds >= FD_SETSIZE",
	.per_client = PER_CLIENT_NOTHING,
};
