/* core-session.c - the blocking half of the core: wait for a client, echo
 * to it with plain blocking calls until it leaves.  blocking, threads,
 * fork, prefork and pool differ only in who runs a session: the one thread,
 * a thread per client, a process per client, a process or a thread from a
 * fixed set. */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "core-internal.h"

/* fd -> an echo_session() is serving it (fd_capacity entries), so that a
 * stop can shut every served socket down. */
static atomic_bool *in_session;

void sessions_init(void)
{
	in_session = xcalloc(fd_capacity, sizeof *in_session);
}

/* LAB: accept */
int accept_client(int lfd)
{
	struct timespec pause = { 0, ACCEPT_RETRY_MS * 1000000L };
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
	return conn_admit(fd, 0, NULL) ? fd : -1;
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
		conn_refuse("no memory for its %zu-byte buffer", opt.bufsize);
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

void close_listener(void)
{
	int lfd = listen_fd;

	listen_fd = -1;  /* first: the handler must not shut down a reused number */
	close(lfd);
}

void detach_listener(void)
{
	listen_fd = -1;
}
