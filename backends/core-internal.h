/* core-internal.h - what the core's own files (core*.c) share, and the
 * backends do not see. */
#ifndef MUXLAB_CORE_INTERNAL_H
#define MUXLAB_CORE_INTERNAL_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

/* What the stop handler shuts down, so that no blocking call can miss the
 * stop: the listening socket, and the client this thread is serving in
 * echo_session() (each thread its own). */
extern volatile sig_atomic_t listen_fd;
extern _Thread_local volatile sig_atomic_t session_fd;

/* --udp: the UDP socket on the listener's port, else -1. */
extern int udp_fd;

/* What becomes of a new client. */
enum admit {
	ADMITTED,  /* counted accepted and live: serve it */
	REFUSED,   /* closed and counted as refused */
	FULL,      /* --max-conns clients are live: it waits for a place, open
		    * and not counted; ask again with conn_admit_waiting() */
};
/* A new client is refused beyond fd_capacity and at or above fd_limit (a
 * backend's own limit, 0 for none); at --max-conns it is FULL. */
enum admit conn_admit(int fd, int fd_limit, const char *fd_limit_why);
/* A FULL client, waiting since since_ms (now_ms()): ADMITTED if a place
 * is free now, REFUSED once MAX_CONNS_WAIT_MS have passed or a stop was
 * asked for, else FULL still. */
enum admit conn_admit_waiting(int fd, long long since_ms);
/* CLOCK_MONOTONIC in milliseconds. */
long long now_ms(void);
/* accept() failed with err: true if it is the fds running out (said once
 * per episode; the caller waits for a close or ACCEPT_RETRY_MS). */
bool accept_starved(int err);
/* Live clients now, in every process (to decide how to wait when out of
 * fds). */
long clients_live(void);
/* A non-blocking fd that turns readable when a stop signal is pending
 * (a signalfd; the signals are blocked in the calling thread from now on). */
int stop_signal_fd(void);
/* Count one datagram of n bytes echoed; one dropped (it would loop). */
void count_datagram(size_t n);
void count_dropped(void);
/* SIGINT and SIGTERM. */
void stop_signals(sigset_t *set);
/* The table of sockets being served by echo_session(), once fd_capacity
 * is known. */
void sessions_init(void);

#endif
