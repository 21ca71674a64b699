/* prefork.c - a fixed set of processes made at start, each accepting on the
 * one listening socket it inherited (UNP ch. 30, serv02).
 *
 * Every child runs the iterative server: accept, echo until the client
 * leaves, accept the next.  The kernel hands each new connection to one of
 * the children blocked in accept() (Linux wakes one; old kernels woke them
 * all, the "thundering herd": bench/tools/herd.c measures it for accept()
 * and for epoll).  Cost: no fork() per client; a process per worker.
 * Limit: --workers clients at a time; the rest wait in the listen backlog.
 * The parent only starts the children, replaces one that dies, and stops
 * them all.  Used by: Apache's prefork MPM, PHP-FPM, Gunicorn's sync
 * workers, PostgreSQL's connection poolers' backends.
 *
 * Beside fork.c (a process per client becomes a fixed set): The children
 * are forked at start, and each runs the iterative server's accept loop on
 * the listening socket it inherited: the kernel hands each new connection
 * to one child blocked in `accept()`. The parent no longer accepts at all:
 * it waits for children, replaces one that dies (releasing its client's
 * slot if it died mid-session), and stops them all. No `fork()` per
 * client; `--workers` clients at a time. Most of the file differs: read
 * prefork's `worker()`, `start_workers()` and `backend_run()` against
 * fork's `worker()`, `serve()` and `backend_run()`.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.h"

#define DEFAULT_WORKERS 8

static struct {
	pid_t *children;      /* one per worker; 0: none running */
	int *slots;           /* where worker i counts its client */
} state;

static void state_init(void)
{
	state.children = xcalloc(opt.workers, sizeof *state.children);
	state.slots = xcalloc(opt.workers, sizeof *state.slots);
	for (int i = 0; i < opt.workers; i++)
		if ((state.slots[i] = slot_new()) < 0)
			die("no slot to count worker %d's clients in", i + 1);
}

/* A worker: the iterative server (blocking.c), on the listening socket it
 * inherited, counting its client in its slot. */
static void __attribute__((noreturn)) worker(int lfd, int slot, pid_t parent)
{
	detach_listener();
	slot_enter(slot);
	if (!child_of(parent))
		_exit(0);
	while (!stop_requested) {
		int fd = accept_client(lfd);

		if (fd < 0)
			continue;  /* a signal, a refused client, out of fds, a stop */
		echo_session(fd);
		client_close(fd);
	}
	_exit(0);
}

/* Worker i's process; 0 if fork() failed (errno says why). */
static pid_t start_worker(int lfd, int i)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid == 0)
		worker(lfd, state.slots[i], parent);
	return pid < 0 ? 0 : pid;
}

/* Every worker, then the ready line: a server with none is no server. */
static void start_workers(int lfd)
{
	int started = 0, err = 0;

	for (int i = 0; i < opt.workers; i++) {
		if ((state.children[i] = start_worker(lfd, i)) > 0)
			started++;
		else
			err = errno;
	}
	if (started == 0)
		die("no worker could start: fork: %s", strerror(err));
	if (started < opt.workers)
		note("only %d of %d workers started: fork: %s", started, opt.workers,
		     strerror(err));
	server_ready();
}

/* A worker that ended while the server runs (a crash, a kill) is
 * replaced.  Its client, if it had one, is gone with it: its slot is
 * cleared, whatever it was doing when it died. */
static void replace(pid_t pid, int status, int lfd)
{
	for (int i = 0; i < opt.workers; i++) {
		if (state.children[i] != pid)
			continue;
		slot_free(state.slots[i]);
		state.slots[i] = slot_new();  /* the one just freed */
		if (!stop_requested)
			note("worker %d ended (%s %d); starting another", (int)pid,
			     WIFSIGNALED(status) ? "signal" : "exit status",
			     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		state.children[i] = stop_requested ? 0 : start_worker(lfd, i);
		if (!stop_requested && !state.children[i])
			note("fork: %s; one worker fewer", strerror(errno));
		return;
	}
}

static void stop_all(void)
{
	stop_children(state.children, opt.workers);
	free(state.children);
	free(state.slots);
}

/* LAB: run */
/* The parent waits for workers to end.  A stop signal interrupts wait()
 * (no SA_RESTART), and its handler shuts the shared listening socket down,
 * so every worker's accept() fails and it exits: even a stop that lands
 * just before wait() blocks ends the wait. */
static void backend_run(int lfd)
{
	state_init();
	start_workers(lfd);
	while (!stop_requested) {
		int status;
		pid_t pid = wait(&status);

		if (pid > 0)
			replace(pid, status, lfd);
		else if (errno == ECHILD)
			die("no worker left: each one ended and none could be replaced");
	}
	stop_all();
}
/* LAB: end */

const struct backend backend = {
	.name = BACKEND_NAME,
	.run = backend_run,
	.model = "a fixed set of processes accepting on one socket",
	.family = BLOCKING,
	.order = 13,
	.beside = "fork",
	.idea = "a process per client becomes a fixed set",
	.variant_of = "fork",
	.workers = DEFAULT_WORKERS,
	.serves = SERVES_WORKERS,
	.per_client = PER_CLIENT_PROCESS,
};
