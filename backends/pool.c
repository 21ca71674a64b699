/* pool.c - a fixed pool of threads, fed by one acceptor (UNP ch. 30, serv08).
 *
 * The workers are made at start; the main thread accepts and puts each
 * client in a bounded queue, and a free worker takes it and runs the same
 * echo_session() as the iterative server.  Cost: no thread creation per
 * client, and a lock and a wake-up per client handed over.
 * Limit: --workers clients at a time.  A client beyond waits in the queue
 * (at most --workers of them); once that is full the acceptor stops
 * accepting, and the rest wait in the listen backlog.
 * Used by: Apache's worker MPM, Java's thread-pool servers, PgBouncer-style
 * proxies in front of a fixed set of backends.
 *
 * Beside threads.c (a thread per client becomes a fixed pool): The threads
 * are made once, at start. The main thread accepts and puts each client in
 * a bounded queue (`not_empty`, `not_full`); a free worker takes the
 * oldest with `take()`. Memory stays bounded: at most `--workers` clients
 * are served and as many wait in the queue; once it is full the acceptor
 * stops accepting and the rest wait in the listen backlog. The cost is a
 * lock and a wake-up per client handed over. Start at the bottom:
 * `backend_run()`, then `serve()`, `take()` and `worker()`.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core.h"

#define DEFAULT_WORKERS 8
#define FULL_RECHECK_MS 100  /* queue full: how often the acceptor sees a stop */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t not_empty;  /* a client is waiting for a worker */
	pthread_cond_t not_full;   /* the queue has room */
	int *queue;                /* accepted clients, oldest at head */
	int head, count, cap;
	pthread_t *workers;
} state = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.not_empty = PTHREAD_COND_INITIALIZER,
	.not_full = PTHREAD_COND_INITIALIZER,
};

static void state_init(void)
{
	state.cap = opt.workers;
	state.queue = xcalloc(state.cap, sizeof *state.queue);
	state.workers = xcalloc(opt.workers, sizeof *state.workers);
}

/* Called with the lock held: the next client, or -1 at a stop. */
static int take(void)
{
	int fd;

	while (state.count == 0 && !stop_requested)
		pthread_cond_wait(&state.not_empty, &state.lock);
	if (state.count == 0)
		return -1;
	fd = state.queue[state.head];
	state.head = (state.head + 1) % state.cap;
	state.count--;
	pthread_cond_signal(&state.not_full);
	return fd;
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&state.lock);
	for (;;) {
		int fd = take();

		if (fd < 0)
			break;
		pthread_mutex_unlock(&state.lock);
		echo_session(fd);
		client_close(fd);
		pthread_mutex_lock(&state.lock);
	}
	pthread_mutex_unlock(&state.lock);
	return NULL;
}

/* The fixed set of workers, made once.  They inherit this thread's mask:
 * stop signals go to the main thread, whose accept() they interrupt. */
static void start_workers(void)
{
	sigset_t before;
	int err;

	block_stop_signals(&before);
	for (int i = 0; i < opt.workers; i++)
		if ((err = pthread_create(&state.workers[i], NULL, worker, NULL)) != 0)
			die("pthread_create (worker %d of %d): %s", i + 1,
			    opt.workers, strerror(err));
	pthread_sigmask(SIG_SETMASK, &before, NULL);
}

/* Wait for room in the queue; false at a stop.  A stop signal cannot wake
 * a condition variable, so while the queue stays full the acceptor looks
 * at the flag every FULL_RECHECK_MS. */
static bool wait_for_room(void)
{
	struct timespec until;

	pthread_mutex_lock(&state.lock);
	while (state.count == state.cap && !stop_requested) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += FULL_RECHECK_MS * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&state.not_full, &state.lock, &until);
	}
	pthread_mutex_unlock(&state.lock);
	return !stop_requested;
}

/* The client goes into the queue; a free worker takes it. */
static void serve(int fd)
{
	pthread_mutex_lock(&state.lock);
	state.queue[(state.head + state.count) % state.cap] = fd;
	state.count++;
	pthread_cond_signal(&state.not_empty);
	pthread_mutex_unlock(&state.lock);
}

/* End the clients still queued, wake every worker, shut down the clients
 * being served (their read() returns), and wait for the workers. */
static void stop_all(void)
{
	pthread_mutex_lock(&state.lock);
	while (state.count > 0) {
		client_close(state.queue[state.head]);
		state.head = (state.head + 1) % state.cap;
		state.count--;
	}
	pthread_cond_broadcast(&state.not_empty);
	pthread_mutex_unlock(&state.lock);
	stop_sessions();
	for (int i = 0; i < opt.workers; i++)
		pthread_join(state.workers[i], NULL);
	free(state.queue);
	free(state.workers);
}

/* LAB: run */
static void backend_run(int lfd)
{
	state_init();
	start_workers();
	while (wait_for_room()) {
		int fd = accept_client(lfd);

		if (fd < 0)
			continue;  /* a signal, a refused client, or out of fds */
		serve(fd);
	}
	stop_all();
}
/* LAB: end */

const struct backend backend = {
	.name = BACKEND_NAME,
	.run = backend_run,
	.model = "a fixed pool of threads fed by one acceptor",
	.family = BLOCKING,
	.order = 11,
	.beside = "threads",
	.idea = "a thread per client becomes a fixed pool",
	.variant_of = "threads",
	.workers = DEFAULT_WORKERS,
	.serves = SERVES_WORKERS,
	.per_client = PER_CLIENT_THREAD,
	.threads = true,
};
