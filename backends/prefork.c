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
 * workers, PostgreSQL's connection poolers' backends. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.h"

#define DEFAULT_WORKERS 8

static struct {
	pid_t *children;      /* one slot per worker; 0: none running */
	atomic_bool *busy;    /* shared: worker i is serving a client */
} state;

/* The iterative server (blocking.c), in worker i. */
static void child_run(int lfd, int i)
{
	detach_listener();
	while (!stop_requested) {
		int fd = accept_client(lfd);

		if (fd < 0)
			continue;  /* a signal, a refused client, out of fds, a stop */
		state.busy[i] = true;
		echo_session(fd);
		session_end(fd);
		state.busy[i] = false;
	}
	_exit(0);
}

static pid_t start_child(int lfd, int i)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid < 0) {
		note("fork: %s; one worker fewer", strerror(errno));
		return 0;
	}
	if (pid == 0) {
		/* The parent stops a child with SIGTERM, whose handler (the
		 * core's) ends its session; if the parent dies first, the
		 * child gets SIGTERM too. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(0);
		child_run(lfd, i);
	}
	return pid;
}

static void state_init(int lfd)
{
	state.children = xcalloc(opt.workers, sizeof *state.children);
	state.busy = mmap(NULL, opt.workers * sizeof *state.busy, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (state.busy == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	server_ready();  /* before the fork: each child would say it again */
	for (int i = 0; i < opt.workers; i++)
		state.children[i] = start_child(lfd, i);
}

/* A worker that ended while the server runs (a crash, a kill) is
 * replaced.  One that died in the middle of a session could not release
 * its client's slot: the parent does. */
static void replace(pid_t pid, int status, int lfd)
{
	for (int i = 0; i < opt.workers; i++) {
		if (state.children[i] != pid)
			continue;
		if (state.busy[i]) {
			state.busy[i] = false;
			conn_release();
		}
		if (!stop_requested)
			note("worker %d ended (%s %d); starting another", (int)pid,
			     WIFSIGNALED(status) ? "signal" : "exit status",
			     WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		state.children[i] = stop_requested ? 0 : start_child(lfd, i);
		return;
	}
}

static void stop_all(void)
{
	int status;
	pid_t pid;

	for (int i = 0; i < opt.workers; i++)
		if (state.children[i] > 0)
			kill(state.children[i], SIGTERM);
	while ((pid = wait(&status)) > 0 || errno == EINTR)
		;
	free(state.children);
	munmap(state.busy, opt.workers * sizeof *state.busy);
}

/* LAB: run */
/* The parent waits for children to end.  A stop signal interrupts wait()
 * (no SA_RESTART), and its handler shuts the shared listening socket down,
 * so every child's accept() fails and it exits: even a stop that lands
 * just before wait() blocks ends the wait. */
static void backend_run(int lfd)
{
	state_init(lfd);
	while (!stop_requested) {
		int status;
		pid_t pid = wait(&status);

		if (pid > 0)
			replace(pid, status, lfd);
		else if (errno == ECHILD)
			break;  /* no worker could be started */
	}
	stop_all();
}
/* LAB: end */

const struct backend backend = { .name = BACKEND_NAME, .run = backend_run,
				 .workers = DEFAULT_WORKERS };
