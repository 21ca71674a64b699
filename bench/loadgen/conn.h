/* conn.h - one connection of the load generator and its messages in
 * flight, whatever carries them; what the connections of one worker thread
 * share (struct conn_set); and struct transport, how worker.c drives a
 * connection.
 *
 * The layers, from the top: worker.c decides when a message goes (closed
 * loop, open loop's schedule, a connection per request) and drives each
 * connection through its struct transport, which stream.c (TCP and Unix
 * streams, held for the run or opened per message) and datagram.c (--udp)
 * implement; connect.c opens connections; conn.c, below them all, has what
 * every transport does with a message: book it, turn its reply into a
 * latency sample or its loss into a lower bound, fail its connection.  A
 * transport never calls its worker: it counts into the conn_set it is
 * given and tells the worker through the set's place_free(). */
#ifndef LOADGEN_CONN_H
#define LOADGEN_CONN_H

#include <stdbool.h>
#include <stdint.h>

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
	const struct transport *transport;      /* what carries its messages */
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

/* What the connections of one worker thread share: set up by the worker,
 * then counted into by the transports and conn.c as messages come and go. */
struct conn_set {
	const struct options *opt;
	const struct schedule *sched;
	int epfd;                       /* the worker's epoll set */
	unsigned char *rbuf;            /* RECV_BYTES, for one recv() at a time */
	uint64_t inflight;              /* messages waiting for their reply */
	unsigned live;                  /* active connections still usable */
	unsigned probing;               /* probes not answered yet, connection open */
	unsigned answered;              /* probes answered so far */
	unsigned connecting;            /* --connect-per-request: connects under way */
	struct results results;         /* this thread's part: its counts, latencies,
					 * probes and first error (read by main) */
	uint64_t last_done_ns;          /* last measured reply, or loss */
	/* The worker's answer, when a message's place on c is free again (its
	 * reply is in, or its datagram was given up): send the next one,
	 * offer the place to the schedule, or, per request, close c and
	 * start over.  Called through the set, because the transports are
	 * below the worker and do not know it. */
	void (*place_free)(struct conn_set *set, struct conn *c, uint64_t now);
};

/* How worker.c drives a connection, whatever carries its messages: a
 * stream held for the run (stream_transport) or opened per message
 * (stream_per_request), both in stream.c, or a connected UDP socket
 * (dgram_transport, datagram.c). */
struct transport {
	/* Book a message that the worker has claimed, for flush() to send;
	 * per request, connect first (it goes once connected).  false: it
	 * could not start now (a Unix socket's backlog is full): claim it
	 * again later. */
	bool (*issue)(struct conn_set *set, struct conn *c, uint64_t intended_ns, uint64_t now);
	/* Send what is booked and not sent yet, as far as the socket takes it. */
	void (*flush)(struct conn_set *set, struct conn *c);
	/* The connect phase's probe on a held connection (c->probe_waiting
	 * is set): one echo round trip.  NULL: none (per request). */
	void (*probe)(struct conn_set *set, struct conn *c);
	/* Send it again this often while it is unanswered; 0: never (a
	 * stream does not lose it, a datagram may). */
	uint64_t probe_resend_ns;
	/* epoll reported c readable (or in error): take in its replies. */
	void (*on_readable)(struct conn_set *set, struct conn *c);
	/* epoll reported c's connect over (writable, or in error): per request
	 * its message goes now.  NULL: its connections are all opened before
	 * the run (connect.c). */
	void (*on_connected)(struct conn_set *set, struct conn *c);
	/* Every so often: give up what waited longer than --timeout (or a
	 * connect longer than --connect-timeout). */
	void (*check_timeouts)(struct conn_set *set, struct conn *c, uint64_t now);
};

/* conn.c: what every transport does with a connection and its messages. */

/* Watch c in the set's epoll set (op: EPOLL_CTL_ADD or _MOD); -1 after
 * counting the error. */
int conn_watch(struct conn_set *set, struct conn *c, uint32_t events, int op);
/* Ask for EPOLLOUT (on) while the socket buffer is full, or stop asking. */
void conn_want_write(struct conn_set *set, struct conn *c, bool on);
void conn_close(struct conn_set *set, struct conn *c);
/* Message m of c starts its life: meant for intended_ns, sent at now. */
void conn_book(struct conn_set *set, struct conn *c, struct inflight *m,
	       uint64_t intended_ns, uint64_t now);
/* Message m has its reply: a latency sample; then place_free(). */
void conn_reply_done(struct conn_set *set, struct conn *c, struct inflight *m, uint64_t now);
/* A measured message that will never get its reply, given up at now:
 * recorded as a lower bound.  sent_ns 0: it was never sent. */
void conn_lost(struct conn_set *set, uint64_t intended_ns, uint64_t sent_ns, uint64_t now);
/* Give up c's messages still waiting that were sent before `before`: lost.
 * Returns how many. */
unsigned conn_give_up(struct conn_set *set, struct conn *c, uint64_t before, uint64_t now);
/* c is unusable: count the error, its messages in flight as lost, close it. */
void conn_fail(struct conn_set *set, struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* c's probe has its echo (in the connect phase, or later in the run). */
void conn_probe_answered(struct conn_set *set, struct conn *c);

#endif
