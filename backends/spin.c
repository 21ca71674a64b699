/* spin.c - non-blocking sockets and a busy loop: no waiting call at all.
 *
 * Every round tries read() (or write()) on every connection and accept() on
 * the listener; most calls fail with EAGAIN.  Correct, and it answers fast,
 * but it burns a whole CPU even with no client at all: the cost that
 * select, poll and epoll exist to remove (bench: the idle-CPU suite).
 * Cost per round: O(connections) syscalls.  Limit: one core, always busy.
 * Used by: nothing that shares a machine; DPDK-style pollers on owned cores. */
#include "core.h"

static struct {
	int *fds;   /* every fd we serve: all of them are tried every round */
	int *slot;  /* fd -> its index in fds, for O(1) removal */
	int n;
} state;

static int watch(int fd, enum want want)
{
	(void)want;  /* we try whatever the core wants, ready or not */
	state.slot[fd] = state.n;
	state.fds[state.n++] = fd;
	return 0;
}

static void rewatch(int fd, enum want want)
{
	(void)fd;
	(void)want;
}

/* Fill the hole with the last entry, so the array stays dense. */
static void unwatch(int fd)
{
	int i = state.slot[fd];

	state.fds[i] = state.fds[--state.n];
	state.slot[state.fds[i]] = i;
}

/* LAB: wait */
/* Nothing to wait for: every fd counts as ready, and the handler's
 * EAGAIN tells it otherwise. */
static int wait_ready(void)
{
	return state.n;
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

		/* Backwards, because unwatch() moves the last entry into the
		 * freed slot, and that entry has then been tried already. */
		for (int i = nready - 1; i >= 0; i--)
			loop_on_ready(state.fds[i]);
	}
	loop_close_all();
}
/* LAB: end */

const struct backend backend = {
	.name = BACKEND_NAME,
	.run = backend_run,
	.model = "non-blocking sockets in a busy loop, no waiting call",
	.family = READINESS,
	.order = 2,
	.udp = true,
	.busy = true,
	.per_client = PER_CLIENT_NOTHING,
};
