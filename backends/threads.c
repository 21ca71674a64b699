/* threads.c - one thread per connection, each making blocking calls.
 *
 * Each client gets a thread that runs the same echo_session() as the
 * iterative server; a blocked read() stops only its own thread.
 * Cost: a thread (stack, kernel task) per client, and a context switch
 * per message.  Limit: memory and scheduler load at thousands of threads.
 * Used by: classic Java servers, Apache's worker MPM (with a pool).
 *
 * Beside blocking.c (one client at a time becomes a thread per client):
 * The same `accept_client()` loop and the same `echo_session()`; only
 * `serve()` changes: it starts a detached thread for the session and
 * returns to accept at once, so a blocked `read()` stops only its own
 * thread. What comes with threads: a count of live workers under a lock,
 * the stop signals blocked in the workers so they reach the main thread,
 * and a stop that shuts every session down and waits for the last one
 * (`stop_all()`).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

static struct {
	pthread_mutex_t lock;
	pthread_cond_t none_left;  /* signalled when the last worker ends */
	int nworkers;
	pthread_attr_t detached;   /* nobody joins a worker */
} state = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.none_left = PTHREAD_COND_INITIALIZER,
};

static void state_init(void)
{
	pthread_attr_init(&state.detached);
	pthread_attr_setdetachstate(&state.detached, PTHREAD_CREATE_DETACHED);
}

static void *worker(void *arg)
{
	int fd = (int)(intptr_t)arg;

	echo_session(fd);
	client_close(fd);
	pthread_mutex_lock(&state.lock);
	if (--state.nworkers == 0)
		pthread_cond_signal(&state.none_left);
	pthread_mutex_unlock(&state.lock);
	return NULL;
}

static void serve(int fd)
{
	pthread_t tid;
	sigset_t before;
	int err;

	pthread_mutex_lock(&state.lock);
	state.nworkers++;
	pthread_mutex_unlock(&state.lock);
	/* The worker inherits this mask: stop signals go to the main thread,
	 * whose accept() they interrupt. */
	block_stop_signals(&before);
	err = pthread_create(&tid, &state.detached, worker, (void *)(intptr_t)fd);
	pthread_sigmask(SIG_SETMASK, &before, NULL);
	if (err) {
		client_refuse("pthread_create: %s", strerror(err));
		client_close(fd);
		pthread_mutex_lock(&state.lock);
		state.nworkers--;
		pthread_mutex_unlock(&state.lock);
	}
}

/* Shut down every client's socket: its worker's read() returns 0 (or its
 * write() fails), the worker ends, and the last one wakes us.  A worker
 * that has not begun its session yet sees the stop flag when it does. */
static void stop_all(void)
{
	stop_sessions();
	pthread_mutex_lock(&state.lock);
	while (state.nworkers > 0)
		pthread_cond_wait(&state.none_left, &state.lock);
	pthread_mutex_unlock(&state.lock);
}

/* LAB: run */
static void backend_run(int lfd)
{
	state_init();
	while (!stop_requested) {
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
	.model = "a thread per connection",
	.family = BLOCKING,
	.order = 10,
	.beside = "blocking",
	.idea = "one client at a time becomes a thread per client",
	.per_client = PER_CLIENT_THREAD,
	.threads = true,
};
