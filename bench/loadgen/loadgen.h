/* loadgen.h - what the parts of the load generator share: the options, the
 * per-thread worker (its connections, histograms and counters), the run's
 * schedule, and the merged results that the report prints. */
#ifndef LOADGEN_LOADGEN_H
#define LOADGEN_LOADGEN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "clock.h"
#include "hist.h"
#include "options.h"
#include "results.h"

#define RECV_BYTES       (64 * 1024)     /* one recv() at most: any UDP payload fits */
#define PROBE_BYTES      1               /* the connect phase's probe, over TCP */
#define PROBE_SEQ        0               /* --udp: the probe's sequence number */

/* Times are CLOCK_MONOTONIC nanoseconds.  Main writes the schedule before
 * releasing the workers through a barrier, so they read it without locks. */
struct schedule {
	uint64_t t0;                    /* start of warmup */
	uint64_t warm_end;              /* start of the measured interval */
	uint64_t end;                   /* no new message after this; UINT64_MAX: none */
};

/* One message on its way: when it should have gone (open loop), when it
 * went, and whether it falls in the measured interval.  Over TCP the
 * entries of a connection's ring are used in order; with --udp the entry is
 * a slot, the one its datagram's sequence number picks (datagram.c). */
struct inflight {
	uint64_t intended_ns;
	uint64_t sent_ns;
	uint64_t seq;                   /* --udp: the sequence number it carries */
	bool measured;
	bool waiting;                   /* for its reply: the entry is in use */
};

enum conn_state { CONN_CLOSED, CONN_CONNECTING, CONN_OPEN, CONN_RETRY };

struct conn {
	int fd;
	enum conn_state state;
	bool idle;                      /* --idle: held open, used only by the probe */
	bool want_write;                /* EPOLLOUT is on: the socket buffer was full */
	bool probed;                    /* its stream starts with the probe (TCP: its
					 * first PROBE_BYTES; UDP: datagram PROBE_SEQ) */
	bool probe_waiting;             /* for the probe's echo */
	uint32_t id;                    /* global index, picks its pattern start */
	uint64_t base;                  /* pattern offset of stream byte 0 */
	uint64_t queued, sent, received;/* stream offsets in bytes; --udp: queued is
					 * the next sequence number, sent the first
					 * one not sent yet, received unused */
	uint64_t completed;             /* whole replies received */
	struct inflight *ring;          /* --pipeline entries */
	unsigned ring_head, ring_count;
	uint64_t last_progress_ns;      /* for the reply timeout */
	uint64_t connect_start_ns;      /* --connect-per-request */
	uint64_t transactions;          /* --connect-per-request: connections used */
};

struct worker {
	/* Set by main before the thread starts. */
	unsigned index;
	const struct options *opt;
	const struct schedule *sched;
	uint32_t first_id;
	unsigned nactive, nidle;
	uint64_t quota;                 /* measured messages to send; UINT64_MAX: no limit */
	pthread_t thread;

	/* Owned by the thread while it runs. */
	int epfd, timerfd;
	uint64_t timer_armed_ns;
	struct conn *conns;             /* nactive active, then nidle idle */
	struct inflight *rings;
	unsigned char *rbuf;
	struct conn **free_slots;       /* open loop: connections with room */
	unsigned free_head, free_count, free_cap;
	uint64_t next_msg;              /* open loop: index into the schedule */
	uint64_t inflight, issued_measured;
	unsigned live;                  /* active connections still usable */
	unsigned probing;               /* probes not answered yet, connection open */
	unsigned answered;              /* probes answered so far */
	unsigned connecting, retrying;  /* --connect-per-request slots */
	bool schedule_done;             /* open loop: no more messages due */
	bool spinning;                  /* open loop: polling until the next is due */
	uint64_t next_scan_ns, next_publish_ns;

	/* Results: read by main after pthread_join. */
	struct results results;         /* this thread's part: its counts, latencies,
					 * probes and first error */
	uint64_t last_done_ns;          /* last measured reply, or loss */
	char setup_error[ERROR_BYTES];  /* why its connect phase failed: exit status 1 */

	/* Shared with main while running (progress line). */
	pthread_mutex_t snapshot_lock;
	struct hist *snapshot;          /* NULL unless progress is shown */
	atomic_uint_fast64_t done_msgs;
};

/* Run-wide flags shared by all threads. */
extern atomic_bool stop_requested;      /* SIGINT */
extern pthread_barrier_t barrier_connected, barrier_started, barrier_finished;
extern bool run_aborted;                /* written before barrier_started */

/* main.c: a worker calls this once, when its part of the run is over. */
void worker_finished(void);

/* worker.c */
void *worker_main(void *arg);
bool claim_message(struct worker *w, uint64_t t);
void worker_reply_done(struct worker *w, struct conn *c, uint64_t now);

/* connect.c */
enum { CONNECT_DONE, CONNECT_PENDING, CONNECT_RETRY };
int socket_for(const struct target *t);
int conn_connect(struct worker *w, struct conn *c);
int conn_connect_result(struct worker *w, struct conn *c);
int connect_phase(struct worker *w, unsigned first, unsigned count);
void connect_error_text(char *buf, size_t len, const struct options *opt,
			int err, unsigned opened);
int check_fd_limit(const struct options *opt);
void conn_close(struct worker *w, struct conn *c);

/* per_request.c: --connect-per-request */
void cpr_start(struct worker *w, struct conn *c, uint64_t now);
void cpr_on_writable(struct worker *w, struct conn *c);
void cpr_retry_pending(struct worker *w, uint64_t now);
void cpr_check_timeout(struct worker *w, struct conn *c, uint64_t now);

/* stream.c: sending the pattern and checking what comes back */
void conn_probe(struct worker *w, struct conn *c);
void probe_answered(struct worker *w, struct conn *c);
int conn_flush(struct worker *w, struct conn *c);
void conn_on_readable(struct worker *w, struct conn *c);
void conn_issue(struct worker *w, struct conn *c, uint64_t intended_ns, uint64_t now);
void conn_fail(struct worker *w, struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void record_lost(struct worker *w, uint64_t intended_ns, uint64_t sent_ns, uint64_t now);
unsigned give_up_sent_before(struct worker *w, struct conn *c, uint64_t before, uint64_t now);
void reply_done(struct worker *w, struct conn *c, struct inflight *m, uint64_t now);
int watch(struct worker *w, struct conn *c, uint32_t events, int op);
void want_write(struct worker *w, struct conn *c, bool on);

/* datagram.c: --udp, one datagram per message */
struct inflight *dgram_slot(struct worker *w, struct conn *c);
void dgram_probe(struct worker *w, struct conn *c);
int dgram_flush(struct worker *w, struct conn *c);
void dgram_on_readable(struct worker *w, struct conn *c);
void dgram_check_timeouts(struct worker *w, struct conn *c, uint64_t now);

#endif
