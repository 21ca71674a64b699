/* core.h - everything in the echo server that is not the I/O model.
 *
 * Each backends/<model>.c defines backend_name and backend_run(); the
 * Makefile links it with core.o into bin/echo-<model>.  The core parses the
 * options, opens the listening socket, handles signals, counts, and owns the
 * echo logic, so a backend file holds only its I/O model:
 *
 *   blocking, threads, fork   accept_client() + echo_session(): plain
 *                             blocking calls, one session per client.
 *   spin, select, poll, epoll loop_init() + loop_on_ready(): the backend
 *                             finds ready fds its own way; the core reads,
 *                             writes, accepts, and tells the backend (through
 *                             its struct mux) what to wait for next.
 */
#ifndef MUXLAB_CORE_H
#define MUXLAB_CORE_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* Defined by each backend. */
extern const char *backend_name;
/* Serve clients until stop_requested, close every connection, return. */
void backend_run(int lfd);

struct options {
	const char *host;       /* --host, default 127.0.0.1 */
	int port;               /* --port, default 7007; 0 picks a free one */
	const char *unix_path;  /* --unix: listen on a Unix stream socket */
	int backlog;            /* --backlog: listen() queue length */
	long max_conns;         /* --max-conns: 0 means no limit */
	size_t bufsize;         /* --bufsize: bytes read per call, per connection */
	const char *port_file;  /* --port-file: where to write the port */
	bool quiet;             /* --quiet: no notices on stderr */
};
extern struct options opt;

/* Set by SIGINT and SIGTERM.  Blocking models: the handler sets it; it is
 * installed without SA_RESTART, so a blocking call that the signal
 * interrupts fails with EINTR, and the caller sees the flag.  Event loops:
 * the signals stay blocked and the core sets it when its signalfd, watched
 * like any client, becomes readable.  An atomic, not the classic volatile
 * sig_atomic_t, because the threads backend's workers read it too; a
 * lock-free atomic is as safe to set from a signal handler. */
extern atomic_int stop_requested;

/* The highest fd number this process may hold, plus one (RLIMIT_NOFILE). */
extern int fd_capacity;

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* calloc() or die: for setup only.  Memory for one client is asked for
 * with plain calloc(), and a failure refuses that client (conn_refuse). */
void *xcalloc(size_t count, size_t size);

/* Block SIGINT and SIGTERM in the calling thread; *before* gets the mask
 * it had.  Threads inherit the mask of their creator: the threads backend
 * blocks them around pthread_create() so that they reach the main thread. */
void block_stop_signals(sigset_t *before);

/* ---- Models that block per client: blocking, threads, fork ---- */

/* Wait for a client and return its fd (blocking, close-on-exec), or -1 when
 * interrupted by a signal (EINTR: check stop_requested) or when the client
 * was refused.  Out of fds, it sleeps ACCEPT_RETRY_MS before returning -1,
 * so the caller's retry loop does not spin. */
int accept_client(int lfd);
/* Echo everything fd sends until it closes, fails, or a stop is requested
 * (the stop handler shuts fd down, so even a blocked write() returns); the
 * caller closes fd. */
void echo_session(int fd);
/* Close the listening socket (fork's children, which do not accept). */
void close_listener(void);
/* Close a client's fd and forget it in the connection count. */
void session_end(int fd);
/* Forget a client in the connection count (session_end() does it too). */
void conn_release(void);
/* An admitted client got no memory, thread or process after all: count it
 * as refused, not accepted, with one notice saying why (printf-style).  The
 * caller still closes it and releases its slot. */
void conn_refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- Event-loop models: spin, select, poll, epoll ---- */

/* What a connection waits for.  A connection waits for exactly one thing:
 * input, or room to write the echo it could not finish.  While an echo is
 * pending we stop reading from that client: that is the backpressure that
 * keeps the server's memory bounded. */
enum want { WANT_READ, WANT_WRITE };

/* How the core asks an event backend to change what it waits for. */
struct mux {
	int (*watch)(int fd, enum want want);     /* start watching fd; -1: cannot */
	void (*rewatch)(int fd, enum want want);  /* wait for something else */
	void (*unwatch)(int fd);                  /* stop, before close(fd) */
	int fd_limit;            /* fds >= this cannot be watched; 0: none */
	const char *fd_limit_why;
};

/* Make lfd non-blocking and watch it through m. */
void loop_init(int lfd, const struct mux *m);
/* fd was reported ready (or in error): accept, read or write, then
 * rewatch, unwatch and close as the outcome requires. */
void loop_on_ready(int fd);
/* Close every connection (at stop). */
void loop_close_all(void);

#endif
