/* core-internal.h - what the core's own files (core*.c) share, and the
 * backends do not see. */
#ifndef MUXLAB_CORE_INTERNAL_H
#define MUXLAB_CORE_INTERNAL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#define DEFAULT_HOST     "127.0.0.1"
#define DEFAULT_PORT     7007
#define DEFAULT_BACKLOG  1024
#define DEFAULT_BUFSIZE  16384

/* ---- core.c ---- */

/* A message and exit 2: bad usage. */
void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* SIGINT and SIGTERM: their handler, and SIGPIPE ignored (not with
 * --default-sigpipe). */
void signals_init(void);
/* SIGINT and SIGTERM. */
void stop_signals(sigset_t *set);
/* A non-blocking fd that turns readable when a stop signal is pending
 * (a signalfd; the signals are blocked in the calling thread from now on). */
int stop_signal_fd(void);
/* fd_capacity from RLIMIT_NOFILE. */
void fd_capacity_init(void);
/* CLOCK_MONOTONIC in milliseconds. */
long long now_ms(void);

/* What the stop handler shuts down, so that no blocking call can miss the
 * stop: the listening socket, and the client this thread is serving in
 * echo_session() (each thread its own). */
extern volatile sig_atomic_t listen_fd;
extern _Thread_local volatile sig_atomic_t session_fd;

/* --udp: the UDP socket on the listener's port, else -1. */
extern int udp_fd;

/* ---- core-listen.c ---- */

/* The listening socket, bound and listening, and the UDP one beside it
 * (udp_fd) with --udp; listen_fd is set. */
int listen_socket(void);

/* ---- core-clients.c ---- */

/* The counters in memory shared with every child, before any. */
void clients_init(void);
/* The summary line on stdout. */
void clients_summary(void);

/* What becomes of a new client. */
enum admit {
	ADMITTED,  /* counted accepted and live: serve it */
	REFUSED,   /* closed and counted as refused */
	FULL,      /* --max-conns clients are live: it waits for a place, open
		    * and not counted; ask again with client_admit_waiting() */
};
/* A new client is refused beyond fd_capacity and at or above the backend's
 * fd_limit; at --max-conns it is FULL. */
enum admit client_admit(int fd);
/* A FULL client, waiting since since_ms (now_ms()): ADMITTED if a place
 * is free now, REFUSED once MAX_CONNS_WAIT_MS have passed or a stop was
 * asked for, else FULL still. */
enum admit client_admit_waiting(int fd, long long since_ms);
/* accept() failed with err: true if it is the fds running out (said once
 * per episode; the caller waits for a close or ACCEPT_RETRY_MS). */
bool accept_starved(int err);
/* Live clients now, in every process (to decide how to wait when out of
 * fds). */
long clients_live(void);
/* Count one datagram of n bytes echoed; one dropped (it would loop). */
void count_datagram(size_t n);
void count_dropped(void);

/* ---- core-blocking.c ---- */

/* The table of sockets being served by echo_session(), once fd_capacity
 * is known. */
void sessions_init(void);

#endif
