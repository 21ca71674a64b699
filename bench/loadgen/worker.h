/* worker.h - the load generator's worker threads (worker.c): each is one
 * epoll loop over its share of the connections, and what main shares with
 * them while a run goes on (struct team). */
#ifndef LOADGEN_WORKER_H
#define LOADGEN_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "conn.h"
#include "hist.h"
#include "options.h"

/* Main and its worker threads.  Main writes the schedule and `aborted`
 * before it releases the workers through the barrier `started`, so they
 * read them without locks.  Each worker counts itself done when its part
 * of the run is over and wakes main, so that main notices the end at once
 * instead of at its next poll (worker_wait_all()). */
struct team {
	struct schedule sched;
	atomic_bool stop_requested;     /* SIGINT, SIGTERM: stop sending, collect replies */
	bool aborted;                   /* a connect phase failed: no run */
	pthread_barrier_t connected, started, finished;
	unsigned nthreads;
	pthread_mutex_t done_lock;
	pthread_cond_t done_cond;       /* on CLOCK_MONOTONIC, the schedule's clock */
	unsigned done;                  /* workers whose part is over */
};

struct worker {
	/* First, so that the set's address is the worker's: the transports
	 * get the set, and the worker finds itself from it (worker_of()). */
	struct conn_set set;

	/* Set by main before the thread starts (worker_create_all()). */
	unsigned index;
	const struct options *opt;
	struct team *team;
	uint32_t first_id;
	unsigned nactive, nidle;
	uint64_t quota;                 /* measured messages to send; UINT64_MAX: no limit */
	pthread_t thread;

	/* Owned by the thread while it runs. */
	int timerfd;
	uint64_t timer_armed_ns;
	struct conn *conns;             /* nactive active, then nidle idle */
	struct inflight *rings;
	struct conn **free_slots;       /* open loop: connections with room */
	unsigned free_head, free_count, free_cap;
	uint64_t next_msg;              /* open loop: index into the schedule */
	uint64_t issued_measured;
	unsigned retrying;              /* --connect-per-request slots to start again */
	bool schedule_done;             /* open loop: no more messages due */
	bool spinning;                  /* open loop: polling until the next is due */
	uint64_t next_scan_ns, next_publish_ns;

	/* Read by main after pthread_join, with set.results and set.last_done_ns. */
	char setup_error[ERROR_BYTES];  /* why its connect phase failed: exit status 1 */

	/* Shared with main while running (progress line). */
	pthread_mutex_t snapshot_lock;
	struct hist *snapshot;          /* NULL unless progress is shown */
	atomic_uint_fast64_t done_msgs;
};

/* The barriers for nthreads workers and main, and the count of those done. */
void worker_team_init(struct team *team, unsigned nthreads);
/* Main: sleep until every worker is done (true) or until the deadline
 * (false); UINT64_MAX: no deadline. */
bool worker_wait_all(struct team *team, uint64_t deadline);
/* opt->threads workers, the connections, --requests and --rate shared out
 * evenly; a progress snapshot each if progress.  NULL if out of memory. */
struct worker *worker_create_all(const struct options *opt, struct team *team, bool progress);
void worker_free_all(struct worker *workers, unsigned n);
/* The thread: connect and probe, wait at the team's barriers, run, and
 * count itself done. */
void *worker_main(void *arg);

#endif
