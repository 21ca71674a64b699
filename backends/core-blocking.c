/* core-blocking.c - the blocking half of the core: wait for a client, echo
 * to it with plain blocking calls until it leaves.  blocking, threads,
 * fork, prefork and pool differ only in who runs a session: the one thread,
 * a thread per client, a process per client, a process or a thread from a
 * fixed set. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "core-internal.h"

#define POLL_MS 10   /* a wait with no wake-up to wait for looks this often */

/* fd -> an echo_session() is serving it (fd_capacity entries), so that a
 * stop can shut every served socket down. */
static atomic_bool *in_session;

void sessions_init(void)
{
	in_session = xcalloc(fd_capacity, sizeof *in_session);
}

/* --max-conns reached: wait for a place (or the refusal), looking every
 * POLL_MS; a client that leaves frees its place in whatever thread
 * or process served it. */
static enum admit wait_for_place(int fd)
{
	struct timespec pause = { 0, POLL_MS * 1000000L };
	long long since = now_ms();
	enum admit admit;

	do {
		nanosleep(&pause, NULL);  /* a stop signal cuts it short */
		admit = client_admit_waiting(fd, since);
	} while (admit == FULL);
	return admit;
}

/* LAB: accept */
int accept_client(int lfd)
{
	struct timespec pause = { 0, ACCEPT_RETRY_MS * 1000000L };
	enum admit admit;
	int fd;

	server_ready();
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (accept_starved(errno))
			nanosleep(&pause, NULL);  /* a stop signal cuts it short */
		else if (errno == EINVAL)  /* lfd was shut down: a stop, perhaps */
			stop_requested = 1;    /* in another process (prefork) */
		else if (errno != EINTR && errno != ECONNABORTED && !stop_requested)
			note("accept: %s", strerror(errno));
		return -1;
	}
	admit = client_admit(fd);
	if (admit == FULL)
		admit = wait_for_place(fd);
	return admit == ADMITTED ? fd : -1;
}
/* LAB: end */

/* Write all n bytes, however many calls it takes. */
static int write_all(int fd, const char *buf, size_t n)
{
	while (n > 0) {
		ssize_t done = write(fd, buf, n);
		if (done < 0 && errno == EINTR && !stop_requested)
			continue;
		if (done < 0)
			return -1;
		count_echoed(done);
		buf += done;
		n -= done;
	}
	return 0;
}

/* LAB: session */
void echo_session(int fd)
{
	char *buf = calloc(1, opt.bufsize);

	if (!buf) {
		client_refuse("no memory for its %zu-byte buffer", opt.bufsize);
		return;
	}
	session_fd = fd;  /* from here on a stop signal shuts fd down ... */
	atomic_store(&in_session[fd], true);  /* ... and so does stop_sessions() */
	while (!stop_requested) {  /* ... and before, this sees it */
		ssize_t n = read(fd, buf, opt.bufsize);
		if (n < 0 && errno == EINTR && !stop_requested)
			continue;
		if (n <= 0)  /* 0: the client is done sending; <0: it is gone */
			break;
		if (write_all(fd, buf, n) < 0)
			break;
	}
	atomic_store(&in_session[fd], false);  /* before the caller's close() */
	session_fd = -1;
	free(buf);
}
/* LAB: end */

void stop_sessions(void)
{
	for (int fd = 0; fd < fd_capacity; fd++)
		if (atomic_load(&in_session[fd]))
			shutdown(fd, SHUT_RDWR);
}

void stop_children(const pid_t *pids, int n)
{
	struct timespec pause = { 0, POLL_MS * 1000000L };
	long long deadline = now_ms() + STOP_GRACE_MS;
	pid_t pid;

	for (int i = 0; i < n; i++) {
		if (pids[i] > 0) {
			kill(pids[i], SIGTERM);
			kill(pids[i], SIGCONT);
		}
	}
	while ((pid = waitpid(-1, NULL, WNOHANG)) >= 0 && now_ms() < deadline)
		if (pid == 0)
			nanosleep(&pause, NULL);
	for (int i = 0; i < n && pid >= 0; i++) {
		if (pids[i] > 0 && waitpid(pids[i], NULL, WNOHANG) == 0) {
			note("child %d did not end within %d ms of SIGTERM: SIGKILL",
			     (int)pids[i], STOP_GRACE_MS);
			kill(pids[i], SIGKILL);
		}
	}
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		;
}

bool child_of(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	return getppid() == parent;
}
