/* reactors.c - one level-triggered epoll loop per CPU, each in its own
 * thread with its own listening socket on the same port (SO_REUSEPORT).
 *
 * The loop is epoll.c's, line for line, with its state per thread: the
 * core's loop state is per thread too, so the loops share nothing but the
 * counters.  The kernel spreads new connections over the listening sockets
 * (by a hash of the client's address and port), and each connection stays
 * with the loop that accepted it: no locks, no hand-over.
 * Cost per wait: O(ready fds), per loop.  Limit: RLIMIT_NOFILE in all; one
 * busy client cannot move to an idle loop.  Used by: nginx (one worker per
 * CPU with reuseport), Envoy, Seastar, Netty's event-loop groups.
 *
 * Beside epoll.c (one loop becomes one loop per CPU): The loop is the
 * same, line for line. Its state becomes `_Thread_local`, `backend_run()`
 * becomes `reactor()`, run in `--workers` threads, and each thread gets
 * its own listening socket on the same port from `listen_another()`
 * (`.reuseport = true`: SO_REUSEPORT). The kernel spreads new connections
 * over the sockets; a connection stays with the loop that accepted it: no
 * locks, no hand-over.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>

#include "core.h"

#define MAX_EVENTS 256  /* ready fds taken per wait; the rest wait a round */

static _Thread_local struct {
	int epfd;                              /* this loop's interest list */
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

/* No loop accepts until every loop has made its fds: a client accepted
 * early would take the fd that a slower loop's epoll or signalfd needs,
 * and out of fds that loop could not start at all. */
static pthread_barrier_t loops_ready;

static void state_init(void)
{
	state.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (state.epfd < 0)
		die("epoll_create1: %s", strerror(errno));
}

/* One loop: epoll.c's backend_run(), on this thread's own listener. */
static void *reactor(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	state_init();
	loop_init(lfd, &mux);
	pthread_barrier_wait(&loops_ready);
	while (!stop_requested) {
		int nready = wait_ready();

		/* The answer lists only the ready fds. */
		for (int i = 0; i < nready; i++)
			loop_on_ready(state.ready[i].data.fd);
	}
	loop_close_all();
	return NULL;
}

/* LAB: run */
/* The main thread runs loop 0 on the core's listener; loops 1 .. N-1 get
 * listeners of their own.  The stop signals are blocked in every thread
 * (they inherit the mask): a stop is then pending for the whole process,
 * every loop's signalfd reports it, and each loop ends on its own. */
static void backend_run(int lfd)
{
	pthread_t *threads = xcalloc(opt.workers, sizeof *threads);
	int *lfds = xcalloc(opt.workers, sizeof *lfds);
	int err;

	block_stop_signals(NULL);
	server_ready_after(opt.workers);  /* ready when every loop is set up */
	pthread_barrier_init(&loops_ready, NULL, (unsigned)opt.workers);
	for (int i = 1; i < opt.workers; i++) {
		lfds[i] = listen_another();
		err = pthread_create(&threads[i], NULL, reactor, (void *)(intptr_t)lfds[i]);
		if (err)
			die("pthread_create (loop %d of %d): %s", i + 1, opt.workers,
			    strerror(err));
	}
	reactor((void *)(intptr_t)lfd);
	for (int i = 1; i < opt.workers; i++) {
		pthread_join(threads[i], NULL);
		close(lfds[i]);
	}
	pthread_barrier_destroy(&loops_ready);
	free(lfds);
	free(threads);
}
/* LAB: end */

const struct backend backend = {
	.name = BACKEND_NAME,
	.run = backend_run,
	.model = "one epoll loop per CPU, SO_REUSEPORT listeners",
	.family = READINESS,
	.order = 7,
	.beside = "epoll",
	.idea = "one loop becomes one loop per CPU",
	.variant_of = "epoll",
	.workers = WORKERS_PER_CPU,
	.reuseport = true,
	.threads = true,
	.per_client = PER_CLIENT_NOTHING,
};
