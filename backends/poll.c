/* poll.c - poll(2): an array of (fd, events) passed in full on every call.
 *
 * Cost per wait: O(watched fds).  The whole array is copied into the kernel
 * and every fd's driver is asked, however few fds are ready; the caller then
 * scans the array until it has found the nready that are (at worst all of
 * it): ten thousand idle clients slow every round.
 * Limit: RLIMIT_NOFILE (no FD_SETSIZE).  Used by: libevent and libcurl as a
 * fallback, most small servers, anything that must be portable.
 *
 * Beside select.c (bitmaps become an array): select passes two fixed-size
 * bitmaps, which it overwrites with its answer, so they are copied before
 * every call, and it walks every bit up to the highest fd. poll passes an
 * array of (fd, events) and writes its answer beside them (`revents`):
 * nothing is rebuilt, any fd number fits, and the `fd_limit` line goes.
 * What stays: the whole array goes to the kernel on every call, and the
 * loop scans it until it has found every fd the call said was ready.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "core.h"

static struct {
	struct pollfd *fds;  /* what we wait for; the kernel fills in revents */
	int *slot;           /* fd -> its index in fds, for O(1) changes */
	int n;
} state;

static short events_for(enum want want)
{
	return want == WANT_READ ? POLLIN : POLLOUT;
}

static int watch(int fd, enum want want)
{
	state.slot[fd] = state.n;
	state.fds[state.n++] = (struct pollfd){ .fd = fd, .events = events_for(want) };
	return 0;
}

static void rewatch(int fd, enum want want)
{
	state.fds[state.slot[fd]].events = events_for(want);
}

/* Fill the hole with the last entry, so the array stays dense. */
static void unwatch(int fd)
{
	int i = state.slot[fd];

	state.fds[i] = state.fds[--state.n];
	state.slot[state.fds[i].fd] = i;
}

/* LAB: wait */
/* The one blocking call: sleep until some fd in the array is ready. */
static int wait_ready(void)
{
	int nready = poll(state.fds, state.n, -1);

	if (nready < 0 && errno != EINTR)
		die("poll: %s", strerror(errno));
	return nready;  /* -1 with EINTR: a signal; the loop checks the flag */
}
/* LAB: end */

static const struct mux mux = { .watch = watch, .rewatch = rewatch, .unwatch = unwatch };

static void state_init(void)
{
	state.fds = xcalloc(fd_capacity, sizeof *state.fds);
	state.slot = xcalloc(fd_capacity, sizeof *state.slot);
}

/* LAB: run */
static void backend_run(int lfd)
{
	state_init();
	loop_init(lfd, &mux);
	while (!stop_requested) {
		int nready = wait_ready();

		/* The answer is in the array: scan it for revents until all
		 * nready are found.  Backwards, because unwatch() moves the last
		 * entry into the freed slot, and that entry has then been seen
		 * already. */
		for (int i = state.n - 1; i >= 0 && nready > 0; i--) {
			if (state.fds[i].revents) {
				nready--;
				loop_on_ready(state.fds[i].fd);
			}
		}
	}
	loop_close_all();
}
/* LAB: end */

const struct backend backend = {
	.name = BACKEND_NAME,
	.run = backend_run,
	.model = "poll(2): an array of fds passed on every call",
	.family = READINESS,
	.order = 4,
	.beside = "select",
	.idea = "bitmaps become an array",
	.udp = true,
	.per_client = PER_CLIENT_NOTHING,
};
