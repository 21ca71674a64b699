/* core.c - what every part of the server stands on: the options it was
 * given, messages (die, note), the stop flag and the stop signals, and
 * the fd capacity.  The rest of the core is in files of their own, each
 * using this one: core-listen.c (the listening socket and the ready
 * line), core-clients.c (counting clients), one file per family of I/O
 * model (core-blocking.c, core-readiness.c, core-completion.c), and
 * core-main.c, main() and the options, on top of them all.  core.h says
 * how a backend plugs in. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core.h"
#include "core-internal.h"

struct options opt = {
	.host = DEFAULT_HOST,
	.port = DEFAULT_PORT,
	.backlog = DEFAULT_BACKLOG,
	.bufsize = DEFAULT_BUFSIZE,
};
atomic_int stop_requested;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the stop flag must be lock-free to be set in a handler");
int fd_capacity;
volatile sig_atomic_t listen_fd = -1;
_Thread_local volatile sig_atomic_t session_fd = -1;
int udp_fd = -1;

/* ---- Messages ---- */

static void vsay(const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof line, fmt, ap);
	fprintf(stderr, "echo-%s: %s\n", backend.name, line);
}

/* One reason, from the first thread that dies: several loops that fail
 * their setup at once (reactors out of fds) would each say it. */
void die(const char *fmt, ...)
{
	static atomic_bool dying;
	va_list ap;

	if (atomic_exchange(&dying, true))
		for (;;)
			pause();  /* the first one's exit() ends this thread too */
	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	exit(1);
}

void usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	exit(2);
}

void note(const char *fmt, ...)
{
	va_list ap;

	if (opt.quiet)
		return;
	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

void *xcalloc(size_t count, size_t size)
{
	void *p = calloc(count, size);

	if (!p)
		die("out of memory (%zu x %zu bytes)", count, size);
	return p;
}

/* ---- Signals ---- */

/* A flag alone leaves a race: a signal that lands just after the loop
 * checked stop_requested and just before it blocks in accept() or read()
 * is seen only when the next client comes or sends.  shutdown() (async-
 * signal-safe) makes those calls return at once, now or later: accept()
 * fails, read() returns 0 and write() fails with EPIPE. */
static void on_stop_signal(int sig)
{
	int saved_errno = errno;

	(void)sig;
	stop_requested = 1;
	if (listen_fd >= 0)
		shutdown(listen_fd, SHUT_RDWR);
	if (session_fd >= 0)
		shutdown(session_fd, SHUT_RDWR);
	errno = saved_errno;
}

void signals_init(void)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };  /* no SA_RESTART */

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A client that vanished makes write() fail with EPIPE; without this
	 * the default action of SIGPIPE would kill the whole server. */
	if (!opt.default_sigpipe)
		signal(SIGPIPE, SIG_IGN);
}

void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
}

void block_stop_signals(sigset_t *before)
{
	sigset_t stop;

	stop_signals(&stop);
	pthread_sigmask(SIG_BLOCK, &stop, before);
}

/* A stop signal, turned into an fd to wait for.  The signals stay blocked,
 * so the handler never runs: a signal waits as pending, and the waiting
 * call reports this fd ready like any client, busy or idle.  (A signal
 * opened only inside pselect/ppoll/epoll_pwait is delivered only when the
 * call would sleep; a loop that always finds work never sleeps.) */
int stop_signal_fd(void)
{
	sigset_t stop;
	int fd;

	stop_signals(&stop);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	fd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		die("signalfd: %s", strerror(errno));
	return fd;
}

void fd_capacity_init(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > 1 << 20)
		rl.rlim_cur = 1 << 20;
	fd_capacity = (int)rl.rlim_cur;
}


long long now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec * 1000LL + now.tv_nsec / 1000000;
}
