/* epoll-et.c - edge-triggered epoll: told when an fd becomes ready, not
 * while it stays ready.
 *
 * Cost per wait: O(ready fds), and fewer reports than level-triggered: an
 * fd with input left over is not reported again.  So a report means
 * "something changed", and each fd must be served until it would block
 * (EAGAIN), or what is left waits for an edge that never comes.  Served to
 * EAGAIN in one go, a client that sends as fast as it reads would hold the
 * loop while the others starve: each fd gets DRAIN_CALLS at most per round,
 * and one that still has work waits its turn on the busy list, served next
 * round (that round's wait does not sleep).
 * Limit: RLIMIT_NOFILE.  Used by: nginx, Go's netpoller, Rust's mio (Tokio).
 * Quirk: the kernel registers the open file, not the fd number; a dup()ed or
 * fork()-inherited copy keeps a closed fd reporting (epoll(7), Q6).
 *
 * Beside epoll.c (level-triggered becomes edge-triggered): One flag,
 * `EPOLLET` in `events_for()`, and what it forces: an fd is reported once
 * per change, not while it stays ready, so the loop must call
 * `loop_on_ready()` again until it returns false, or the rest of a message
 * waits for an edge that never comes. To keep one flooding client from
 * holding the loop, each fd gets `DRAIN_CALLS` calls per round, and one
 * with work left goes on a busy list, served next round (whose wait then
 * has a timeout of 0).
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#include "core.h"

#define MAX_EVENTS 256  /* ready fds taken per wait; the rest wait a round */
#define DRAIN_CALLS 16  /* loop_on_ready() calls per fd per round, at most */

static struct {
	int epfd;                              /* the kernel's interest list */
	struct epoll_event ready[MAX_EVENTS];  /* the wait's answer */
	int *busy;                             /* fds with work left, in turn */
	bool *is_busy;                         /* fd -> on that list */
	int nbusy;
} state;

static uint32_t events_for(enum want want)
{
	return (want == WANT_READ ? EPOLLIN : EPOLLOUT) | EPOLLET;
}

/* The kernel allocates for each fd it watches: this can fail (ENOMEM, or
 * ENOSPC past fs.epoll.max_user_watches), and the core then refuses fd. */
static int watch(int fd, enum want want)
{
	struct epoll_event ev = { .events = events_for(want), .data.fd = fd };

	return epoll_ctl(state.epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* MOD re-arms the fd: if it is ready for the new want now, that is an edge. */
static void rewatch(int fd, enum want want)
{
	struct epoll_event ev = { .events = events_for(want), .data.fd = fd };

	if (epoll_ctl(state.epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		die("epoll_ctl MOD fd %d: %s", fd, strerror(errno));
}

static void unwatch(int fd)
{
	if (epoll_ctl(state.epfd, EPOLL_CTL_DEL, fd, NULL) < 0)
		die("epoll_ctl DEL fd %d: %s", fd, strerror(errno));
}

/* LAB: wait */
/* The one blocking call: sleep until the kernel has edges to report, or
 * (timeout 0) only collect them, while busy fds wait for their turn. */
static int wait_ready(int timeout_ms)
{
	int nready = epoll_wait(state.epfd, state.ready, MAX_EVENTS, timeout_ms);

	if (nready < 0 && errno != EINTR)
		die("epoll_wait: %s", strerror(errno));
	return nready;  /* -1 with EINTR: a signal; the loop checks the flag */
}
/* LAB: end */

static const struct mux mux = { .watch = watch, .rewatch = rewatch, .unwatch = unwatch };

static void state_init(void)
{
	state.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (state.epfd < 0)
		die("epoll_create1: %s", strerror(errno));
	state.busy = xcalloc(fd_capacity, sizeof *state.busy);
	state.is_busy = xcalloc(fd_capacity, sizeof *state.is_busy);
}

static void mark_busy(int fd)
{
	if (!state.is_busy[fd]) {
		state.is_busy[fd] = true;
		state.busy[state.nbusy++] = fd;
	}
}

/* Give every busy fd one turn of DRAIN_CALLS; an fd that would block
 * leaves the list, one that still has work goes back on its end.  (The
 * list is rewritten in place: it never gets ahead of the reading.) */
static void serve_busy(void)
{
	int n = state.nbusy;

	state.nbusy = 0;
	for (int i = 0; i < n; i++) {
		int fd = state.busy[i], calls = 0;
		bool more = true;

		state.is_busy[fd] = false;
		while (more && calls++ < DRAIN_CALLS)
			more = loop_on_ready(fd);
		if (more)
			mark_busy(fd);
	}
}

/* LAB: run */
static void backend_run(int lfd)
{
	state_init();
	loop_init(lfd, &mux);
	while (!stop_requested) {
		int nready = wait_ready(state.nbusy ? 0 : -1);

		/* The answer lists the fds that changed: each is busy until it
		 * would block. */
		for (int i = 0; i < nready; i++)
			mark_busy(state.ready[i].data.fd);
		serve_busy();
	}
	loop_close_all();
}
/* LAB: end */

const struct backend backend = {
	.name = BACKEND_NAME,
	.run = backend_run,
	.model = "edge-triggered epoll, draining each fd with a per-client budget",
	.family = READINESS,
	.order = 6,
	.beside = "epoll",
	.idea = "level-triggered becomes edge-triggered",
	.variant_of = "epoll",
	.udp = true,
	.per_client = PER_CLIENT_NOTHING,
};
