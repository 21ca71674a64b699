/* core-loop.c - the event-driven server, minus how it finds ready fds.
 *
 * An event backend (spin, select, poll, epoll, ...) waits its own way and
 * hands every fd it finds ready to loop_on_ready().  This file does the
 * rest: it accepts, reads, writes back, and tells the backend (through its
 * struct mux, see core.h) what each fd waits for next.  Read it beside
 * backends/epoll.c: the two are the whole event-driven echo server.
 *
 * Every socket is non-blocking.  A connection waits for one thing at a
 * time: input, or room to write the echo it could not finish.  While an
 * echo is pending it reads nothing more from that client: that is the
 * backpressure that keeps the server's memory bounded. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "core-internal.h"

#define ACCEPT_BATCH     64        /* accepts per call: others get a turn */
#define DATAGRAM_BYTES   65536     /* the largest UDP payload, and then some */

/* One connection, indexed by its fd. */
struct conn {
	bool open;
	enum want want;
	char *buf;      /* allocated at the first read: a client never reported
			 * readable costs none (in spin, every client is read) */
	size_t off;     /* first byte of the echo not yet written */
	size_t len;     /* bytes of the echo not yet written */
};

/* --udp: the one UDP socket, also waiting for one thing at a time. */
struct datagram {
	enum want want;
	char *buf;                      /* DATAGRAM_BYTES */
	size_t len;                     /* the datagram waiting to go back */
	struct sockaddr_storage peer;   /* its sender */
	socklen_t peer_len;
};

/* What a handler tells loop_on_ready() to do next. */
enum next {
	AGAIN,    /* it made progress: there may be more to do right now */
	WAIT,     /* it would block (EAGAIN): wait for the next report */
	SWITCH,   /* wait for the other thing (input <-> room to write) */
	CLOSE,
};

/* Per thread: reactors runs one loop in each of its threads. */
static _Thread_local struct {
	int lfd;
	int sigfd;             /* readable while a stop signal is pending */
	int udp_fd;            /* --udp, else -1 */
	const struct mux *mux;
	struct conn *conns;    /* fd_capacity entries */
	int nopen;             /* connections open in this loop */
	struct datagram dgram;
	bool accept_paused;    /* out of fds: lfd unwatched until a close */
} loop;

/* The server's own fds must fit the backend's limit (select: FD_SETSIZE,
 * exceeded when the server inherits many fds), or nothing could be served. */
static void watch_own(int fd, const char *what)
{
	const struct mux *m = loop.mux;

	if (m->fd_limit && fd >= m->fd_limit)
		die("the %s is fd %d: %s (%d)", what, fd, m->fd_limit_why, m->fd_limit);
	if (m->watch(fd, WANT_READ) < 0)
		die("cannot watch the %s: %s", what, strerror(errno));
}

void loop_init(int lfd, const struct mux *m)
{
	loop.lfd = lfd;
	loop.mux = m;
	loop.conns = xcalloc(fd_capacity, sizeof *loop.conns);
	loop.sigfd = stop_signal_fd();
	fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
	watch_own(lfd, "listening socket");
	watch_own(loop.sigfd, "stop signals' fd");
	loop.udp_fd = udp_fd;
	if (loop.udp_fd >= 0) {
		loop.dgram = (struct datagram){ .buf = xcalloc(1, DATAGRAM_BYTES) };
		watch_own(loop.udp_fd, "UDP socket");
	}
	server_ready();
}

/* ---- A connection ---- */

/* Write what is pending; -1 if the client is gone, else bytes still left. */
static ssize_t conn_send_pending(int fd, struct conn *c)
{
	ssize_t done = write(fd, c->buf + c->off, c->len);

	if (done < 0)
		return errno == EAGAIN || errno == EINTR ? (ssize_t)c->len : -1;
	count_echoed(done);
	c->off += done;
	c->len -= done;
	return c->len;
}

/* LAB: readable */
/* One read and, at once, one write: a small message costs two syscalls.
 * Only what the socket could not take waits for room to write. */
static enum next conn_on_readable(int fd, struct conn *c)
{
	ssize_t n, left;

	if (!c->buf && !(c->buf = calloc(1, opt.bufsize))) {
		conn_refuse("no memory for its %zu-byte buffer", opt.bufsize);
		return CLOSE;
	}
	n = read(fd, c->buf, opt.bufsize);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? WAIT : CLOSE;
	if (n == 0)  /* client done sending, and nothing of ours is pending */
		return CLOSE;
	c->off = 0;
	c->len = n;
	left = conn_send_pending(fd, c);
	return left < 0 ? CLOSE : left > 0 ? SWITCH : AGAIN;
}
/* LAB: end */

static enum next conn_on_writable(int fd, struct conn *c)
{
	ssize_t left = conn_send_pending(fd, c);

	return left < 0 ? CLOSE : left > 0 ? WAIT : SWITCH;
}

static void loop_close(int fd)
{
	struct conn *c = &loop.conns[fd];

	loop.mux->unwatch(fd);
	free(c->buf);
	*c = (struct conn){ 0 };
	loop.nopen--;
	session_end(fd);
	if (loop.accept_paused) {  /* an fd is free again: accept again */
		loop.accept_paused = false;
		watch_own(loop.lfd, "listening socket");
	}
}

/* ---- The stop signal ---- */

/* A report on sigfd: is a stop signal pending?  (spin asks every round,
 * ready or not.)  The signal is left pending, never read: every loop of
 * reactors watches it, and each must see it. */
static void loop_on_stop_signal(void)
{
	sigset_t pending;

	sigpending(&pending);
	if (sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM))
		stop_requested = 1;
}

/* ---- The listening socket ---- */

/* accept() ran out of fds.  lfd stays readable, so watching it now would
 * spin at 100% CPU.  With clients open in this loop, stop watching it until
 * one of them closes (the waiting clients stay in the backlog); with none,
 * nothing of ours will free an fd and there is nobody to serve meanwhile,
 * so sleep before the next try, as the blocking models do.  True if the
 * caller should simply try again. */
static bool loop_accept_starved(void)
{
	struct timespec pause = { 0, ACCEPT_RETRY_MS * 1000000L };

	if (loop.nopen == 0) {
		nanosleep(&pause, NULL);  /* a stop signal waits in sigfd meanwhile */
		loop_on_stop_signal();    /* ... so look there before a retry */
		return !stop_requested;
	}
	loop.mux->unwatch(loop.lfd);
	loop.accept_paused = true;
	return false;
}

/* Up to ACCEPT_BATCH clients; true if there may be more waiting. */
static bool loop_accept(void)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(loop.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && accept_starved(errno))
			return loop_accept_starved();
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED &&
			    !stop_requested)
				note("accept: %s", strerror(errno));
			return errno == ECONNABORTED;
		}
		if (!conn_admit(fd, loop.mux->fd_limit, loop.mux->fd_limit_why))
			continue;
		if (loop.mux->watch(fd, WANT_READ) < 0) {  /* epoll: ENOMEM, ENOSPC */
			conn_refuse("cannot watch fd %d: %s", fd, strerror(errno));
			session_end(fd);
			continue;
		}
		loop.conns[fd] = (struct conn){ .open = true, .want = WANT_READ };
		loop.nopen++;
	}
	return true;
}

/* ---- UDP ---- */

/* One datagram per call: receive it and send it back to its sender.  If
 * the socket buffer is full, keep it and wait for room, receiving nothing
 * meanwhile.  A datagram that cannot be sent at all is dropped: UDP
 * promises nothing, and the sender counts it lost. */
static bool loop_on_datagram(void)
{
	struct datagram *d = &loop.dgram;
	ssize_t n;

	if (d->want == WANT_READ) {
		d->peer_len = sizeof d->peer;
		n = recvfrom(loop.udp_fd, d->buf, DATAGRAM_BYTES, 0,
			     (struct sockaddr *)&d->peer, &d->peer_len);
		if (n < 0)
			return false;  /* EAGAIN, or an error about an earlier send */
		d->len = n;
	}
	n = sendto(loop.udp_fd, d->buf, d->len, 0, (struct sockaddr *)&d->peer,
		   d->peer_len);
	if (n < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
		if (d->want == WANT_READ)
			loop.mux->rewatch(loop.udp_fd, d->want = WANT_WRITE);
		return false;
	}
	if (n >= 0)
		count_datagram(n);
	if (d->want == WANT_WRITE)
		loop.mux->rewatch(loop.udp_fd, d->want = WANT_READ);
	return true;
}

/* ---- Dispatch ---- */

/* LAB: dispatch */
/* A connection waits for one thing at a time, so any report on it (data,
 * room, hang-up or error) means: try that thing; the call tells the rest. */
bool loop_on_ready(int fd)
{
	struct conn *c = &loop.conns[fd];
	enum next next;

	if (fd == loop.lfd)
		return loop_accept();
	if (fd == loop.sigfd) {
		loop_on_stop_signal();
		return false;
	}
	if (fd == loop.udp_fd)
		return loop_on_datagram();
	if (!c->open)
		return false;
	next = c->want == WANT_READ ? conn_on_readable(fd, c)
				    : conn_on_writable(fd, c);
	switch (next) {
	case AGAIN:
		return true;
	case WAIT:
		return false;
	case SWITCH:
		c->want = c->want == WANT_READ ? WANT_WRITE : WANT_READ;
		loop.mux->rewatch(fd, c->want);
		return c->want == WANT_READ;  /* echo done: read on */
	case CLOSE:
		loop_close(fd);
		return false;
	}
	return false;
}
/* LAB: end */

void loop_close_all(void)
{
	for (int fd = 0; fd < fd_capacity; fd++)
		if (loop.conns[fd].open)
			loop_close(fd);
	free(loop.conns);
	free(loop.dgram.buf);
	close(loop.sigfd);
}
