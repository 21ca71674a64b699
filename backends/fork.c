/* fork.c - one process per connection (UNP's serv01).
 *
 * Each client gets a child process that runs the same echo_session() as
 * the iterative server.  Cost: a fork() per client (page tables copied,
 * pages shared copy-on-write) and a process per client; the parent must
 * reap every child (SIGCHLD, waitpid) or it stays a zombie.  Each child has
 * its own fd table, so the parent never runs out of fds.
 * Limit: RLIMIT_NPROC and memory.  Used by: inetd, OpenSSH, PostgreSQL. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.h"

static struct {
	pid_t *children;  /* live children: to reap, and to stop */
	int n, cap;
} state;

/* Only there so that SIGCHLD interrupts accept() and we reap promptly. */
static void on_sigchld(int sig)
{
	(void)sig;
}

static void state_init(void)
{
	struct sigaction sa = { .sa_handler = on_sigchld };  /* no SA_RESTART */

	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
}

static void remember(pid_t pid)
{
	if (state.n == state.cap) {
		state.cap = state.cap ? 2 * state.cap : 64;
		state.children = xrealloc(state.children, state.cap, sizeof(pid_t));
	}
	state.children[state.n++] = pid;
}

static void forget(pid_t pid)
{
	for (int i = 0; i < state.n; i++) {
		if (state.children[i] == pid) {
			state.children[i] = state.children[--state.n];
			conn_release();
			return;
		}
	}
}

static void serve(int fd)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid < 0) {
		note("fork: %s; closing the client", strerror(errno));
		session_end(fd);
		return;
	}
	if (pid == 0) {
		close_listener();
		/* The parent stops a child with SIGTERM, whose handler (the
		 * core's) ends echo_session() after the bytes it has counted;
		 * and if the parent dies first, the child gets SIGTERM too. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(0);
		echo_session(fd);
		_exit(0);
	}
	close(fd);  /* the child's now: our copy would keep it open */
	remember(pid);
}

/* A child that exits after this and before accept() blocks stays a zombie
 * (and counted live) until the next client comes: there is no accept()
 * that unblocks SIGCHLD atomically, as ppoll() does for the event loops. */
static void reap_children(void)
{
	pid_t pid;

	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
		forget(pid);
}

static void stop_all(void)
{
	for (int i = 0; i < state.n; i++)
		kill(state.children[i], SIGTERM);
	while (state.n > 0) {
		pid_t pid = waitpid(-1, NULL, 0);
		if (pid < 0 && errno != EINTR)
			break;
		forget(pid);
	}
	free(state.children);
}

void backend_run(int lfd)
{
	state_init();
	while (!stop_requested) {
		int fd;

		reap_children();
		fd = accept_client(lfd);
		if (fd < 0)
			continue;  /* a signal (SIGCHLD?), a refused client, or out of fds */
		serve(fd);
	}
	stop_all();
}

const char *backend_name = "fork";
