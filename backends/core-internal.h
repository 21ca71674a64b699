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

/* A new client may stay (true: counted accepted and live), or is closed
 * at once and counted as refused: beyond fd_capacity, at or above fd_limit
 * (a backend's own limit, 0 for none), or beyond --max-conns. */
bool conn_admit(int fd, int fd_limit, const char *fd_limit_why);
/* Count one datagram of n bytes echoed. */
void count_datagram(size_t n);
/* SIGINT and SIGTERM. */
void stop_signals(sigset_t *set);
/* The table of sockets being served by echo_session(), once fd_capacity
 * is known. */
void sessions_init(void);

#endif
