/* connect.c - opening connections without ever hanging: non-blocking
 * connect with a deadline, and one-line errors that name the limit that was
 * hit (open files, ephemeral ports, listen backlog) and what to change. */
#include "loadgen.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <unistd.h>

/* More connects at once would only overflow the server's accept queue,
 * and a dropped SYN costs a 1 s retransmit. */
#define CONNECTS_IN_FLIGHT  512
#define FD_HEADROOM         64      /* stdio, epoll, timerfd, /proc files */
#define RETRY_WAIT_MS       1


/* A socket ready for the event loop.  TCP_NODELAY because a round trip of
 * one small message is exactly what Nagle's algorithm would delay.  A UDP
 * socket is connected too: send() needs no address, and recv() takes
 * datagrams from the server only. */
int socket_for(const struct target *t)
{
	int fd = socket(t->family, t->socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (t->socktype == SOCK_STREAM && t->family != AF_UNIX) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	return fd;
}

static void port_range(char *buf, size_t len)
{
	unsigned lo = 0, hi = 0;
	FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
	if (f && fscanf(f, "%u %u", &lo, &hi) == 2)
		snprintf(buf, len, "%u-%u, %u ports", lo, hi, hi - lo + 1);
	else
		snprintf(buf, len, "unknown");
	if (f)
		fclose(f);
}

void connect_error_text(char *buf, size_t len, const struct options *opt,
			int err, unsigned opened)
{
	const char *where = opt->target.text;
	struct rlimit rl;
	char range[64];
	switch (err) {
	case ECONNREFUSED:
		snprintf(buf, len, "connect %s: connection refused: no server listens there "
			 "(start it, or check the address)", where);
		break;
	case ENOENT:
		snprintf(buf, len, "connect %s: no such socket file: is the server running?", where);
		break;
	case EADDRNOTAVAIL:
		port_range(range, sizeof(range));
		snprintf(buf, len, "connect %s: no free local port after %u connections: the "
			 "ephemeral port range net.ipv4.ip_local_port_range is %s; widen it or "
			 "use fewer --conns/--idle", where, opened, range);
		break;
	case EMFILE:
		getrlimit(RLIMIT_NOFILE, &rl);
		snprintf(buf, len, "open-files limit reached after %u connections (ulimit -n is "
			 "%llu); raise it or use fewer --conns/--idle", opened,
			 (unsigned long long)rl.rlim_cur);
		break;
	case ENFILE:
		snprintf(buf, len, "system-wide open-files limit (fs.file-max) reached after %u "
			 "connections; raise it or use fewer --conns/--idle", opened);
		break;
	case ETIMEDOUT:
		snprintf(buf, len, "connect %s: not established within --connect-timeout %g s "
			 "after %u connections (server not accepting, or its listen backlog is "
			 "full); raise --connect-timeout or the server's backlog", where,
			 opt->connect_timeout_s, opened);
		break;
	default:
		snprintf(buf, len, "connect %s: %s", where, strerror(err));
	}
}

void conn_close(struct worker *w, struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);           /* also removes it from the epoll set */
	if (c->probe_waiting) {
		c->probe_waiting = false;       /* no answer can come now */
		w->probing--;
	}
	c->fd = -1;
	c->state = CONN_CLOSED;
	c->want_write = false;
}

/* Start one connect: CONNECT_DONE, CONNECT_PENDING (wait for EPOLLOUT),
 * CONNECT_RETRY (a Unix socket's backlog is full: try again shortly), or
 * -errno. */
int conn_connect(struct worker *w, struct conn *c)
{
	const struct target *t = &w->opt->target;
	int fd = socket_for(t);
	if (fd < 0)
		return fd;
	c->fd = fd;
	if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) == 0) {
		c->state = CONN_OPEN;
		watch(w, c, EPOLLIN, EPOLL_CTL_ADD);
		return CONNECT_DONE;
	}
	int err = errno;
	if (err == EINPROGRESS) {
		c->state = CONN_CONNECTING;
		watch(w, c, EPOLLOUT, EPOLL_CTL_ADD);
		return CONNECT_PENDING;
	}
	conn_close(w, c);
	/* A full Unix-socket backlog says EAGAIN instead of queueing a SYN. */
	return err == EAGAIN ? CONNECT_RETRY : -err;
}

/* The pending connect finished (EPOLLOUT): 0 or the errno it failed with. */
int conn_connect_result(struct worker *w, struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0) {
		c->state = CONN_OPEN;
		watch(w, c, EPOLLIN, EPOLL_CTL_MOD);
	}
	return err;
}

static int connect_fail(struct worker *w, int err, unsigned opened)
{
	connect_error_text(w->setup_error, sizeof(w->setup_error), w->opt, err, opened);
	return -1;
}

/* Start connects until CONNECTS_IN_FLIGHT are pending.  Returns 1 when a
 * Unix socket said "backlog full" and we should wait a little, -1 on
 * failure, 0 otherwise. */
static int start_some(struct worker *w, unsigned total, unsigned *next,
		      unsigned *pending, unsigned *done)
{
	while (*next < total && *pending < CONNECTS_IN_FLIGHT) {
		int r = conn_connect(w, &w->conns[*next]);
		if (r < 0)
			return connect_fail(w, -r, *done);
		if (r == CONNECT_RETRY)
			return 1;
		(*next)++;
		if (r == CONNECT_DONE)
			(*done)++;
		else
			(*pending)++;
	}
	return 0;
}

/* Open connections [first, first + count) of this worker before the run
 * starts, within --connect-timeout.  On failure w->setup_error says why. */
int connect_phase(struct worker *w, unsigned first, unsigned count)
{
	unsigned total = first + count, next = first, pending = 0, done = 0;
	uint64_t deadline = now_ns() + (uint64_t)(w->opt->connect_timeout_s * NS_PER_S);
	struct epoll_event events[256];

	while (done < count) {
		int retry = start_some(w, total, &next, &pending, &done);
		if (retry < 0)
			return -1;
		if (done == count)
			break;
		uint64_t now = now_ns();
		if (now >= deadline)
			return connect_fail(w, ETIMEDOUT, done);
		int timeout_ms = retry ? RETRY_WAIT_MS : (int)((deadline - now) / 1000000 + 1);
		int nready = epoll_wait(w->epfd, events, 256, timeout_ms);
		if (nready < 0 && errno != EINTR)
			return connect_fail(w, errno, done);
		for (int i = 0; i < nready; i++) {
			struct conn *c = events[i].data.ptr;
			if (c->state != CONN_CONNECTING)
				continue;       /* already open, e.g. data arrived */
			int err = conn_connect_result(w, c);
			if (err)
				return connect_fail(w, err, done);
			pending--;
			done++;
		}
	}
	w->results.connects += done;
	return 0;
}

/* Every connection is a file descriptor: make sure the limit allows them
 * all before opening any, raising the soft limit up to the hard one. */
int check_fd_limit(const struct options *opt)
{
	uint64_t needed = (uint64_t)opt->conns + opt->idle + FD_HEADROOM;
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 0;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < needed) {
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < needed) {
			fprintf(stderr, "loadgen: %llu connections need about %llu file descriptors "
				"but the open-files limit (ulimit -n) is %llu; raise it or use "
				"fewer --conns/--idle\n",
				(unsigned long long)opt->conns + opt->idle,
				(unsigned long long)needed, (unsigned long long)rl.rlim_max);
			return -1;
		}
		rl.rlim_cur = needed;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	return 0;
}
