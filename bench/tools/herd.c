/* herd.c - the thundering herd, counted: how many processes wake up for
 * each new connection when N of them wait to accept on one port.
 *
 *   herd [--workers N] [--conns C] [MODE...]
 *   MODE: accept     each worker blocks in accept() on the shared socket
 *         epoll      each worker has its own epoll watching the shared
 *                    socket (level-triggered), then accept4(), non-blocking
 *         exclusive  the same with EPOLLEXCLUSIVE (Linux 4.5)
 *         reuseport  each worker its own SO_REUSEPORT socket on the port,
 *                    and its own epoll
 *   (default: all four, 4 workers, 2000 connections)
 *
 * The workers are processes, as in prefork.  Two counts per connection:
 *   wakeups   returns from the waiting call (accept() or epoll_wait()) that
 *             the program sees; one that finds nothing to accept (EAGAIN)
 *             is wasted
 *   switches  the workers' voluntary context switches (/proc/PID/status):
 *             every time the kernel woke one and it went back to sleep,
 *             whether or not the call returned.  epoll_wait() re-checks a
 *             level-triggered fd after a wake-up and sleeps again if another
 *             worker took the connection first, so a herd shows here even
 *             when the program never sees it.
 * The parent connects C times to 127.0.0.1, one at a time: it waits until
 * the connection has been accepted before the next, so every worker is
 * idle, waiting, when each one arrives: the worst case for a herd.  Output:
 * one line per mode,
 *   herd mode=epoll workers=4 conns=2000 wakeups_per_conn=1.10 wasted_per_conn=0.10 switches_per_conn=3.9
 * Counts only; a timing is never shown. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 256
#define SETTLE_NS   (20 * 1000000L)   /* let late wake-ups land before counting */

enum mode { ACCEPT, EPOLL, EXCLUSIVE, REUSEPORT, NMODES };
static const char *mode_names[NMODES] = { "accept", "epoll", "exclusive", "reuseport" };

struct counts {
	atomic_long wakeups, wasted, accepted;
};

static void die(const char *what)
{
	fprintf(stderr, "herd: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void usage_error(const char *what)
{
	fprintf(stderr, "herd: %s (usage: herd [--workers N] [--conns C] "
		"[accept|epoll|exclusive|reuseport]...)\n", what);
	exit(2);
}

static int listener(int port, bool reuseport, bool nonblocking)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | (nonblocking ? SOCK_NONBLOCK : 0), 0), one = 1;

	if (fd < 0)
		die("socket");
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
		die("bind 127.0.0.1");
	if (listen(fd, 1024) < 0)
		die("listen");
	return fd;
}

static int bound_port(int fd)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof sin;

	getsockname(fd, (struct sockaddr *)&sin, &len);
	return ntohs(sin.sin_port);
}

/* One worker: wait, count the wake-up, accept (or find nothing), close. */
static void wake_and_accept(enum mode mode, int lfd, struct counts *c)
{
	struct epoll_event ev = { .events = EPOLLIN }, ready;
	int epfd = -1;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (mode != ACCEPT) {
		if ((epfd = epoll_create1(0)) < 0)
			die("epoll_create1");
		if (mode == EXCLUSIVE)
			ev.events |= EPOLLEXCLUSIVE;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) < 0)
			die("epoll_ctl");
	}
	for (;;) {
		int fd;

		if (mode != ACCEPT && epoll_wait(epfd, &ready, 1, -1) < 0)
			continue;  /* EINTR */
		fd = accept4(lfd, NULL, NULL, mode == ACCEPT ? 0 : SOCK_NONBLOCK);
		atomic_fetch_add(&c->wakeups, 1);
		if (fd < 0) {
			atomic_fetch_add(&c->wasted, 1);
			continue;
		}
		close(fd);
		atomic_fetch_add(&c->accepted, 1);
	}
}

/* Voluntary context switches of pid so far. */
static long switches(pid_t pid)
{
	char path[64], line[256];
	long n = 0;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (!(f = fopen(path, "r")))
		die(path);
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
			break;
	fclose(f);
	return n;
}

static long all_switches(const pid_t *pids, int n)
{
	long total = 0;

	for (int i = 0; i < n; i++)
		total += switches(pids[i]);
	return total;
}

static void sleep_ns(long ns)
{
	struct timespec ts = { ns / 1000000000L, ns % 1000000000L };

	nanosleep(&ts, NULL);
}

/* Connect and close, conns times, each after the last was accepted. */
static void clients(int port, long conns, struct counts *c)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	for (long i = 0; i < conns; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0), spins = 0;
		struct linger rst = { 1, 0 };  /* close with RST: no TIME_WAIT pile */

		if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
			die("connect");
		while (atomic_load(&c->accepted) <= i)
			if (++spins > 100)
				sleep_ns(10000);
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &rst, sizeof rst);
		close(fd);
	}
	sleep_ns(SETTLE_NS);
}

static void run(enum mode mode, int nworkers, long conns)
{
	struct counts *c = mmap(NULL, sizeof *c, PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t pids[MAX_WORKERS];
	int lfd = listener(0, mode == REUSEPORT, mode != ACCEPT);
	int port = bound_port(lfd);

	if (c == MAP_FAILED)
		die("mmap");
	for (int i = 0; i < nworkers; i++) {
		int fd = (mode == REUSEPORT && i > 0) ? listener(port, true, true) : lfd;

		if ((pids[i] = fork()) < 0)
			die("fork");
		if (pids[i] == 0)
			wake_and_accept(mode, fd, c);
		if (fd != lfd)
			close(fd);
	}
	long before;

	sleep_ns(SETTLE_NS);  /* every worker waiting */
	before = all_switches(pids, nworkers);
	clients(port, conns, c);
	before = all_switches(pids, nworkers) - before;
	for (int i = 0; i < nworkers; i++)
		kill(pids[i], SIGKILL);
	while (wait(NULL) > 0)
		;
	printf("herd mode=%s workers=%d conns=%ld wakeups_per_conn=%.2f "
	       "wasted_per_conn=%.2f switches_per_conn=%.2f\n", mode_names[mode],
	       nworkers, conns, (double)atomic_load(&c->wakeups) / conns,
	       (double)atomic_load(&c->wasted) / conns, (double)before / conns);
	fflush(stdout);
	close(lfd);
	munmap(c, sizeof *c);
}

static long number(const char *text, long min, long max, const char *what)
{
	char *end;
	long n = strtol(text, &end, 10);

	if (end == text || *end || n < min || n > max)
		usage_error(what);
	return n;
}

int main(int argc, char **argv)
{
	bool chosen[NMODES] = { 0 }, any = false;
	int nworkers = 4;
	long conns = 2000;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--workers") == 0 && i + 1 < argc) {
			nworkers = (int)number(argv[++i], 1, MAX_WORKERS,
					       "--workers takes 1 to 256");
		} else if (strcmp(argv[i], "--conns") == 0 && i + 1 < argc) {
			conns = number(argv[++i], 1, 1000000, "--conns takes 1 to 1000000");
		} else {
			int m = 0;

			while (m < NMODES && strcmp(argv[i], mode_names[m]) != 0)
				m++;
			if (m == NMODES)
				usage_error("unknown argument");
			chosen[m] = any = true;
		}
	}
	for (int m = 0; m < NMODES; m++)
		if (chosen[m] || !any)
			run((enum mode)m, nworkers, conns);
	return 0;
}
