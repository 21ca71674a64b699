/* connect.c - opening connections without ever hanging: non-blocking
 * connect with a deadline, and one-line errors that name the limit that was
 * hit (open files, ephemeral ports, listen backlog) and what to change. */
#include "connect.h"
#include "clock.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>

/* More connects at once would only overflow the server's accept queue,
 * and a dropped SYN costs a 1 s retransmit. */
#define CONNECTS_IN_FLIGHT  512
#define FD_HEADROOM         64      /* stdio, epoll, timerfd, /proc files */
#define RETRY_WAIT_MS       1

/* A socket ready for the event loop.  TCP_NODELAY because a round trip of
 * one small message is exactly what Nagle's algorithm would delay.  A UDP
 * socket is connected too: send() needs no address, and recv() takes
 * datagrams from the server only. */
static int open_socket(const struct target *t)
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

int connect_start(struct conn_set *set, struct conn *c)
{
	const struct target *t = &set->opt->target;
	int fd = open_socket(t);
	if (fd < 0)
		return fd;
	c->fd = fd;
	if (connect(fd, (const struct sockaddr *)&t->addr, t->addrlen) == 0) {
		c->state = CONN_OPEN;
		conn_watch(set, c, EPOLLIN, EPOLL_CTL_ADD);
		return CONNECT_DONE;
	}
	int err = errno;
	if (err == EINPROGRESS) {
		c->state = CONN_CONNECTING;
		conn_watch(set, c, EPOLLOUT, EPOLL_CTL_ADD);
		return CONNECT_PENDING;
	}
	conn_close(set, c);
	/* A full Unix-socket backlog says EAGAIN instead of queueing a SYN. */
	return err == EAGAIN ? CONNECT_RETRY : -err;
}

int connect_result(struct conn_set *set, struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0) {
		c->state = CONN_OPEN;
		conn_watch(set, c, EPOLLIN, EPOLL_CTL_MOD);
	}
	return err;
}

/* Why the phase failed, into why[len]; -1. */
static int phase_fail(const struct conn_set *set, int err, unsigned opened,
		      char *why, size_t len)
{
	connect_error_text(why, len, set->opt, err, opened);
	return -1;
}

/* Start connects until CONNECTS_IN_FLIGHT are pending.  Returns 1 when a
 * Unix socket said "backlog full" and we should wait a little, -errno on
 * failure, 0 otherwise. */
static int start_some(struct conn_set *set, struct conn *conns, unsigned count,
		      unsigned *next, unsigned *pending, unsigned *done)
{
	while (*next < count && *pending < CONNECTS_IN_FLIGHT) {
		int r = connect_start(set, &conns[*next]);
		if (r < 0)
			return r;
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

int connect_all(struct conn_set *set, struct conn *conns, unsigned count,
		char *why, size_t len)
{
	unsigned next = 0, pending = 0, done = 0;
	uint64_t deadline = now_ns() + (uint64_t)(set->opt->connect_timeout_s * NS_PER_S);
	struct epoll_event events[256];

	while (done < count) {
		int retry = start_some(set, conns, count, &next, &pending, &done);
		if (retry < 0)
			return phase_fail(set, -retry, done, why, len);
		if (done == count)
			break;
		uint64_t now = now_ns();
		if (now >= deadline)
			return phase_fail(set, ETIMEDOUT, done, why, len);
		int timeout_ms = retry ? RETRY_WAIT_MS : (int)((deadline - now) / 1000000 + 1);
		int nready = epoll_wait(set->epfd, events, 256, timeout_ms);
		if (nready < 0 && errno != EINTR)
			return phase_fail(set, errno, done, why, len);
		for (int i = 0; i < nready; i++) {
			struct conn *c = events[i].data.ptr;
			if (c->state != CONN_CONNECTING)
				continue;       /* already open, e.g. data arrived */
			int err = connect_result(set, c);
			if (err)
				return phase_fail(set, err, done, why, len);
			pending--;
			done++;
		}
	}
	set->results.connects += done;
	return 0;
}

int connect_check_fd_limit(const struct options *opt)
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
