/* fork.c - one process per connection (UNP's serv01).
 *
 * Each client gets a child process that runs the same echo_session() as
 * the iterative server.  Cost: a fork() per client (page tables copied,
 * pages shared copy-on-write) and a process per client; the parent must
 * reap every child (SIGCHLD, waitpid) or it stays a zombie.  Each child has
 * its own fd table, so the parent never runs out of fds.
 * Limit: RLIMIT_NPROC and memory.  Used by: inetd, OpenSSH, PostgreSQL.
 *
 * Beside threads.c (a thread becomes a process): `pthread_create()`
 * becomes `fork()`. The child runs the session and exits; the parent
 * closes its copy of the client's fd (or the client would stay open) and
 * must reap every child, woken by SIGCHLD (`reap_children()`), or they
 * stay zombies. A stop sends each child SIGTERM. Nothing is shared, so no
 * lock: each child has its own memory and fd table, at the price of a
 * `fork()` per client. Start at the bottom: `backend_run()`, `serve()`
 * and `worker()`.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.h"

#define FIRST_CHILDREN 64  /* room in the lists at start; they grow */

static struct {
	pid_t *children;  /* live children: to reap, and to stop */
	int *slots;       /* where child i counts its client */
	int n, cap;
} state;

static void state_init(void)
{
	state.cap = FIRST_CHILDREN;
	state.children = xcalloc(state.cap, sizeof *state.children);
	state.slots = xcalloc(state.cap, sizeof *state.slots);
}

/* The child: the iterative server's session for its one client, then
 * exit.  It gives its place back before its socket closes: a client that
 * has seen the close and connects again must find it free (--max-conns);
 * the parent reaps it later. */
static void __attribute__((noreturn)) worker(int fd, int slot, pid_t parent)
{
	close_listener();
	slot_enter(slot);
	if (child_of(parent))
		echo_session(fd);
	client_close(fd);
	_exit(0);
}

/* Only there so that SIGCHLD interrupts accept() and we reap promptly. */
static void on_sigchld(int sig)
{
	(void)sig;
}

static void start_reaping(void)
{
	struct sigaction sa = { .sa_handler = on_sigchld };  /* no SA_RESTART */

	sigemptyset(&sa.sa_mask);
	sigaction(SIGCHLD, &sa, NULL);
}

/* Room for one more child in the lists, made before the fork. */
static bool make_room(void)
{
	int cap = 2 * state.cap;
	pid_t *children;
	int *slots;

	if (state.n < state.cap)
		return true;
	if (!(children = reallocarray(state.children, cap, sizeof *children)))
		return false;
	state.children = children;
	if (!(slots = reallocarray(state.slots, cap, sizeof *slots)))
		return false;
	state.slots = slots;
	state.cap = cap;
	return true;
}

/* A new process for the client, with a slot of its own to count it in. */
static void serve(int fd)
{
	pid_t parent = getpid();
	int slot = make_room() ? slot_new() : -1;
	pid_t pid;

	if (slot < 0) {
		client_refuse("no room to keep track of one more process");
		client_close(fd);
		return;
	}
	slot_take_client(slot);  /* from now on the child's, even unborn */
	pid = fork();
	if (pid < 0) {
		client_refuse("fork: %s", strerror(errno));
		slot_free(slot);
		close(fd);
		return;
	}
	if (pid == 0)
		worker(fd, slot, parent);
	close(fd);  /* the child's now: our copy would keep it open */
	state.children[state.n] = pid;
	state.slots[state.n++] = slot;
}

/* A child has ended, however: its client is gone with it. */
static void forget(pid_t pid)
{
	for (int i = 0; i < state.n; i++) {
		if (state.children[i] == pid) {
			slot_free(state.slots[i]);
			state.n--;
			state.children[i] = state.children[state.n];
			state.slots[i] = state.slots[state.n];
			return;
		}
	}
}

/* A child that exits after this and before accept() blocks stays a zombie
 * until the next client comes (no longer counted live: it released its
 * place): SIGCHLD can land just before accept() blocks, and no accept()
 * takes a signal mask as ppoll() does. */
static void reap_children(void)
{
	pid_t pid;

	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
		forget(pid);
}

static void stop_all(void)
{
	stop_children(state.children, state.n);
	free(state.children);
	free(state.slots);
}

/* LAB: run */
static void backend_run(int lfd)
{
	state_init();
	start_reaping();
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
/* LAB: end */

const struct backend backend = {
	.name = BACKEND_NAME,
	.run = backend_run,
	.model = "a process per connection",
	.family = BLOCKING,
	.order = 12,
	.beside = "threads",
	.idea = "a thread becomes a process",
	.per_client = PER_CLIENT_PROCESS,
};
