/* epoll.c - level-triggered epoll: the kernel keeps the interest list.
 *
 * Cost per wait: O(ready fds).  The interest list lives in the kernel and
 * changes only through epoll_ctl(), so an idle connection costs nothing per
 * wait; a connection costs an epoll_ctl() only when what it waits for changes.
 * Limit: RLIMIT_NOFILE.  Used by: Redis, libevent, libuv (Node.js).
 * Quirk: the kernel registers the open file, not the fd number; a dup()ed or
 * fork()-inherited copy keeps a closed fd reporting (epoll(7), Q6).
 *
 * Beside poll.c (the caller's list becomes the kernel's list): `watch`,
 * `rewatch` and `unwatch` stop editing an array and become `epoll_ctl()`
 * ADD, MOD and DEL: the interest list lives in the kernel and changes only
 * when a connection's wants change. `epoll_wait()` returns only the ready
 * fds, so the loop no longer scans the idle ones: a wait costs O(ready
 * fds), not O(watched fds). The idle suite of `make bench` shows the
 * difference.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#include "core.h"

#define MAX_EVENTS 256  /* ready fds taken per wait; the rest wait a round */

static struct {
	int epfd;                              /* the kernel's interest list */
	struct epoll_event ready[MAX_EVENTS];  /* the wait's answer */
} state;

static uint32_t events_for(enum want want)
{
	return want == WANT_READ ? EPOLLIN : EPOLLOUT;
}

/* The kernel allocates for each fd it watches: this can fail (ENOMEM, or
 * ENOSPC past fs.epoll.max_user_watches), and the core then refuses fd. */
static int watch(int fd, enum want want)
{
	struct epoll_event ev = { .events = events_for(want), .data.fd = fd };

	return epoll_ctl(state.epfd, EPOLL_CTL_ADD, fd, &ev);
}

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
/* The one blocking call: sleep until the kernel has ready fds to report. */
static int wait_ready(void)
{
	int nready = epoll_wait(state.epfd, state.ready, MAX_EVENTS, -1);

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
}

/* LAB: run */
static void backend_run(int lfd)
{
	state_init();
	loop_init(lfd, &mux);
	while (!stop_requested) {
		int nready = wait_ready();

		/* The answer lists only the ready fds. */
		for (int i = 0; i < nready; i++)
			loop_on_ready(state.ready[i].data.fd);
	}
	loop_close_all();
}
/* LAB: end */

/* LAB: facts */
const struct backend backend = {
	.name = BACKEND_NAME,
	.run = backend_run,
	.model = "level-triggered epoll(7): the kernel keeps the interest list",
	.family = READINESS,
	.order = 5,
	.beside = "poll",
	.idea = "the caller's list becomes the kernel's list",
	.udp = true,
	.per_client = PER_CLIENT_NOTHING,
};
/* LAB: end */
