/* core-readiness.c - the event-driven server, minus how it finds ready fds.
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
 * backpressure that keeps the server's memory bounded.  Every read lands
 * in one buffer per loop, and is written back at once; only what the
 * socket could not take is kept, in memory of the client's own, until it
 * can.  So a client costs memory only while its reader is slower than
 * its writer, idle or not: readiness lets the server read when there is
 * something to read, into whatever buffer it likes. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "core-internal.h"

#define ACCEPT_BATCH     64        /* accepts per call: others get a turn */
#define DATAGRAM_BYTES   65536     /* the largest UDP payload, and then some */
#define WAIT_TICK_MS     10        /* a client waiting for a place looks this often */

/* One connection, indexed by its fd. */
struct conn {
	bool open;
	enum want want;
	char *pending;  /* the part of an echo the socket could not take: kept
			 * until it can (WANT_WRITE); NULL otherwise */
	size_t off;     /* first byte of it not yet written */
	size_t len;     /* bytes of it not yet written */
};

/* --udp: the one UDP socket, also waiting for one thing at a time. */
struct datagram {
	enum want want;
	char *buf;                      /* DATAGRAM_BYTES */
	size_t len;                     /* the datagram waiting to go back */
	struct sockaddr_storage peer;   /* its sender */
	socklen_t peer_len;
	/* The address it came to (IP_PKTINFO / IPV6_PKTINFO), which the echo
	 * goes back from: on a wildcard address the kernel would pick one by
	 * its routes, and a connected client drops a reply from another. */
	union {  /* CMSG_SPACE(in6_pktinfo), aligned as a cmsghdr */
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		size_t align;
	} to;
	size_t to_len;
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
	char *rbuf;            /* --bufsize: every read lands here */
	struct conn *conns;    /* indexed by fd, nconns entries */
	int nconns;
	int nopen;             /* connections open in this loop */
	struct datagram dgram;
	bool accepting;        /* lfd is watched */
	bool accept_paused;    /* out of fds: lfd unwatched until a close */
	int waiting;           /* at --max-conns: a client waiting for a place, or -1 */
	long long waiting_since;
	int timerfd;           /* ticks while a client waits: look again */
} loop;

/* The server's own fds must fit the backend's limit (select: FD_SETSIZE,
 * exceeded when the server inherits many fds), or nothing could be served. */
static void watch_own(int fd, const char *what)
{
	if (backend.fd_limit && fd >= backend.fd_limit)
		die("the %s is fd %d: %s (%d)", what, fd, backend.fd_limit_why, backend.fd_limit);
	if (loop.mux->watch(fd, WANT_READ) < 0)
		die("cannot watch the %s: %s", what, strerror(errno));
}

void loop_init(int lfd, const struct mux *m)
{
	loop.lfd = lfd;
	loop.mux = m;
	loop.rbuf = xcalloc(1, opt.bufsize);
	loop.sigfd = stop_signal_fd();
	loop.waiting = -1;
	loop.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (loop.timerfd < 0)
		die("timerfd_create: %s", strerror(errno));
	if (backend.fd_limit && loop.timerfd >= backend.fd_limit)
		die("the timer is fd %d: %s (%d)", loop.timerfd, backend.fd_limit_why,
		    backend.fd_limit);
	fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
	watch_own(lfd, "listening socket");
	loop.accepting = true;
	watch_own(loop.sigfd, "stop signals' fd");
	loop.udp_fd = udp_fd;
	if (loop.udp_fd >= 0) {
		loop.dgram = (struct datagram){ .buf = xcalloc(1, DATAGRAM_BYTES) };
		watch_own(loop.udp_fd, "UDP socket");
	}
	server_ready();
}

/* ---- A connection ---- */

/* Write n bytes of buf; -1 if the client is gone, else how many went
 * (0 when the socket has no room). */
static ssize_t conn_write(int fd, const char *buf, size_t n)
{
	ssize_t done = write(fd, buf, n);

	if (done < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	count_echoed(done);
	return done;
}

/* Keep the rest of an echo the socket could not take, until it can. */
static enum next conn_keep_pending(struct conn *c, const char *rest, size_t n)
{
	if (!(c->pending = malloc(n))) {
		note("closed a client: no memory for the %zu bytes of its echo "
		     "waiting for room", n);
		return CLOSE;
	}
	memcpy(c->pending, rest, n);
	c->off = 0;
	c->len = n;
	return SWITCH;
}

/* LAB: readable */
/* One read and, at once, one write: a small message costs two syscalls.
 * Only what the socket could not take waits for room to write. */
static enum next conn_on_readable(int fd, struct conn *c)
{
	ssize_t n = read(fd, loop.rbuf, opt.bufsize), done;

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? WAIT : CLOSE;
	if (n == 0)  /* client done sending, and nothing of ours is pending */
		return CLOSE;
	done = conn_write(fd, loop.rbuf, n);
	if (done < 0)
		return CLOSE;
	if (done < n)
		return conn_keep_pending(c, loop.rbuf + done, n - done);
	return AGAIN;
}
/* LAB: end */

static enum next conn_on_writable(int fd, struct conn *c)
{
	ssize_t done = conn_write(fd, c->pending + c->off, c->len);

	if (done < 0)
		return CLOSE;
	c->off += done;
	c->len -= done;
	if (c->len > 0)
		return WAIT;
	free(c->pending);
	c->pending = NULL;
	return SWITCH;  /* echo done: read again */
}

static void loop_listen(void);
static void loop_wait_for_place(void);

static void loop_close(int fd)
{
	struct conn *c = &loop.conns[fd];

	loop.mux->unwatch(fd);
	free(c->pending);
	*c = (struct conn){ 0 };
	loop.nopen--;
	client_close(fd);
	loop.accept_paused = false;  /* an fd is free again */
	if (loop.waiting >= 0)       /* and a place, perhaps */
		loop_wait_for_place();
	loop_listen();
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

/* Watch lfd while new clients can be taken: not out of fds, and no
 * client waiting for a place. */
static void loop_listen(void)
{
	bool want = !loop.accept_paused && loop.waiting < 0;

	if (want && !loop.accepting)
		watch_own(loop.lfd, "listening socket");
	else if (!want && loop.accepting)
		loop.mux->unwatch(loop.lfd);
	loop.accepting = want;
}

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
	loop.accept_paused = true;
	loop_listen();
	return false;
}

/* The table grows with the highest fd this loop serves, not to
 * fd_capacity at once: reactors may run thousands of loops, each with a
 * few clients, and a table each. */
static bool conns_room_for(int fd)
{
	int cap = loop.nconns ? loop.nconns : 64;
	struct conn *grown;

	if (fd < loop.nconns)
		return true;
	while (cap <= fd)
		cap *= 2;
	if (!(grown = reallocarray(loop.conns, cap, sizeof *grown)))
		return false;
	memset(grown + loop.nconns, 0, (cap - loop.nconns) * sizeof *grown);
	loop.conns = grown;
	loop.nconns = cap;
	return true;
}

static void loop_serve(int fd)
{
	if (!conns_room_for(fd)) {
		client_refuse("no memory for a table of %d connections", fd + 1);
		client_close(fd);
		return;
	}
	if (loop.mux->watch(fd, WANT_READ) < 0) {  /* epoll: ENOMEM, ENOSPC */
		client_refuse("cannot watch fd %d: %s", fd, strerror(errno));
		client_close(fd);
		return;
	}
	loop.conns[fd] = (struct conn){ .open = true, .want = WANT_READ };
	loop.nopen++;
}

/* Tick every ms milliseconds from now on (0: stop ticking). */
static void timer_every(long ms)
{
	struct timespec every = { ms / 1000, ms % 1000 * 1000000L };
	struct itimerspec timer = { .it_interval = every, .it_value = every };

	timerfd_settime(loop.timerfd, 0, &timer, NULL);
}

/* --max-conns reached: fd waits for a place, the others in the backlog.
 * The timer looks again every WAIT_TICK_MS: a place freed in another loop,
 * thread or process says nothing to this one. */
static void loop_wait(int fd)
{
	loop.waiting = fd;
	loop.waiting_since = now_ms();
	timer_every(WAIT_TICK_MS);
	watch_own(loop.timerfd, "timer");
	loop_listen();
}

/* The waiting client has a place now, or has waited long enough: serve or
 * refuse it, and take new clients again. */
static void loop_wait_for_place(void)
{
	enum admit admit = client_admit_waiting(loop.waiting, loop.waiting_since);

	if (admit == FULL)
		return;
	if (admit == ADMITTED)
		loop_serve(loop.waiting);
	loop.waiting = -1;
	loop.mux->unwatch(loop.timerfd);
	timer_every(0);
	loop_listen();
}

static void loop_on_timer(void)
{
	uint64_t ticks;

	if (read(loop.timerfd, &ticks, sizeof ticks) > 0 && loop.waiting >= 0)
		loop_wait_for_place();
}

/* Up to ACCEPT_BATCH clients; true if there may be more waiting. */
static bool loop_accept(void)
{
	for (int i = 0; i < ACCEPT_BATCH && loop.waiting < 0; i++) {
		int fd = accept4(loop.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && accept_starved(errno))
			return loop_accept_starved();
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED &&
			    !stop_requested)
				note("accept: %s", strerror(errno));
			return errno == ECONNABORTED;
		}
		switch (client_admit(fd)) {
		case ADMITTED: loop_serve(fd); break;
		case REFUSED:  break;
		case FULL:     loop_wait(fd); return false;
		}
	}
	return loop.waiting < 0;
}

/* ---- UDP ---- */

/* Is addr one of this host's own addresses?  A bind() to it tells: it
 * fails with EADDRNOTAVAIL for any other (a socket made only to ask). */
static bool is_own_address(const struct sockaddr_storage *addr, socklen_t len)
{
	struct sockaddr_storage probe = *addr;
	int fd = socket(addr->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool own;

	if (fd < 0)
		return true;  /* cannot tell: take no chance of a loop */
	if (probe.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&probe)->sin6_port = 0;
	else
		((struct sockaddr_in *)&probe)->sin_port = 0;
	own = bind(fd, (struct sockaddr *)&probe, len) == 0 || errno != EADDRNOTAVAIL;
	close(fd);
	return own;
}

/* An echo to this sender would come straight back: our own port on one of
 * our own addresses (a forged source, and every echo would be a new
 * datagram to ourselves, forever: the classic echo-service loop), or port
 * 0, which no reply can reach. */
static bool would_loop(const struct datagram *d)
{
	in_port_t port = d->peer.ss_family == AF_INET6 ?
		((const struct sockaddr_in6 *)&d->peer)->sin6_port :
		((const struct sockaddr_in *)&d->peer)->sin_port;

	if (port == 0)
		return true;
	return ntohs(port) == opt.port && is_own_address(&d->peer, d->peer_len);
}

/* The echo leaves from the address the datagram came to: for IPv4 that is
 * ipi_spec_dst, which the kernel leaves empty on receipt. */
static void reply_from_arrival(struct datagram *d, struct msghdr *msg)
{
	struct cmsghdr *cm = CMSG_FIRSTHDR(msg);

	d->to_len = msg->msg_controllen;  /* pktinfo, the one we asked for */
	if (cm && cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
		struct in_pktinfo *pi = (struct in_pktinfo *)CMSG_DATA(cm);

		pi->ipi_spec_dst = pi->ipi_addr;
		pi->ipi_ifindex = 0;  /* the routes pick the way out */
	}
}

/* One datagram per call: receive it and send it back to its sender.  If
 * the socket buffer is full, keep it and wait for room, receiving nothing
 * meanwhile.  A datagram that cannot be sent at all is dropped: UDP
 * promises nothing, and the sender counts it lost. */
static bool loop_on_datagram(void)
{
	struct datagram *d = &loop.dgram;
	struct iovec iov = { .iov_base = d->buf, .iov_len = DATAGRAM_BYTES };
	struct msghdr msg = { .msg_name = &d->peer, .msg_namelen = sizeof d->peer,
			      .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = d->to.buf, .msg_controllen = sizeof d->to.buf };
	ssize_t n;

	if (d->want == WANT_READ) {
		n = recvmsg(loop.udp_fd, &msg, 0);
		if (n < 0)
			return false;  /* EAGAIN, or an error about an earlier send */
		d->len = n;
		d->peer_len = msg.msg_namelen;
		reply_from_arrival(d, &msg);
		if (would_loop(d)) {
			count_dropped();
			return true;
		}
	}
	iov.iov_len = d->len;
	msg.msg_namelen = d->peer_len;
	msg.msg_control = d->to_len ? d->to.buf : NULL;
	msg.msg_controllen = d->to_len;
	n = sendmsg(loop.udp_fd, &msg, 0);
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
	struct conn *c = fd < loop.nconns ? &loop.conns[fd] : NULL;
	enum next next;

	if (fd == loop.lfd)
		return loop_accept();
	if (fd == loop.sigfd) {
		loop_on_stop_signal();
		return false;
	}
	if (fd == loop.timerfd) {
		loop_on_timer();
		return false;
	}
	if (fd == loop.udp_fd)
		return loop_on_datagram();
	if (!c || !c->open)
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
	if (loop.waiting >= 0)
		close(loop.waiting);
	loop.waiting = -1;
	for (int fd = 0; fd < loop.nconns; fd++)
		if (loop.conns[fd].open)
			loop_close(fd);
	free(loop.conns);
	free(loop.rbuf);
	free(loop.dgram.buf);
	close(loop.sigfd);
	close(loop.timerfd);
}
