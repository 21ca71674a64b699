/* worker.c - one event-loop thread: its connections, one epoll set, and
 * the loop that keeps the load going in closed-loop, open-loop or
 * connect-per-request mode until the schedule says stop and every reply
 * is in (or has timed out).  It decides when a message goes; what carries
 * it is each connection's struct transport (conn.h), which it drives
 * without knowing which one it is. */
#include "worker.h"
#include "clock.h"
#include "connect.h"
#include "datagram.h"
#include "pattern.h"
#include "stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS           512
#define SCAN_INTERVAL_NS     (100 * 1000000ull)     /* reply-timeout check */
#define PUBLISH_INTERVAL_NS  NS_PER_S               /* progress snapshot */

/* The set is the worker's first member (worker.h). */
static struct worker *worker_of(struct conn_set *set)
{
	return (struct worker *)set;
}

/* Ctrl-C or SIGTERM: main's handler set the team's flag. */
static bool stopping(const struct worker *w)
{
	return atomic_load_explicit(&w->team->stop_requested, memory_order_relaxed);
}

/* May a message timed at t (its send time, or its scheduled time in open
 * loop) still go?  Messages before the end of warmup always may; they are
 * just not measured.  Claiming it counts it against --requests. */
static bool claim_message(struct worker *w, uint64_t t)
{
	if (t >= w->team->sched.end)
		return false;
	if (stopping(w))
		return false;
	if (t < w->team->sched.warm_end)
		return true;
	if (w->issued_measured >= w->quota)
		return false;
	w->issued_measured++;
	return true;
}

/* Open loop: connections with room for one more message wait in a FIFO,
 * so messages spread over connections round-robin. */
static void push_free_slot(struct worker *w, struct conn *c)
{
	w->free_slots[(w->free_head + w->free_count) % w->free_cap] = c;
	w->free_count++;
}

static struct conn *pop_free_slot(struct worker *w)
{
	while (w->free_count > 0) {
		struct conn *c = w->free_slots[w->free_head];
		w->free_head = (w->free_head + 1) % w->free_cap;
		w->free_count--;
		if (c->state == CONN_OPEN)
			return c;       /* a failed connection's slots are dropped */
	}
	return NULL;
}

/* Closed loop and connect-per-request: c's next message, now, if the
 * schedule allows one.  Closed loop sends it when the caller flushes; per
 * request it goes once its connection is open. */
static void next_message(struct worker *w, struct conn *c, uint64_t now)
{
	if (!claim_message(w, now))
		return;
	if (c->transport->issue(&w->set, c, now, now))
		return;
	/* A Unix socket's backlog was full: the claim goes back, and the slot
	 * starts again in a millisecond (retry_pending()). */
	c->state = CONN_RETRY;
	w->retrying++;
	w->issued_measured -= now >= w->team->sched.warm_end;
}

/* A message's place on c is free again, its reply in or its datagram
 * given up (the transports call this through the set): what that frees up
 * depends on the mode. */
static void place_free(struct conn_set *set, struct conn *c, uint64_t now)
{
	struct worker *w = worker_of(set);
	switch (w->opt->mode) {
	case MODE_CLOSED:
		next_message(w, c, now);        /* flushed by the caller */
		break;
	case MODE_OPEN:
		push_free_slot(w, c);
		break;
	case MODE_CPR:
		conn_close(set, c);
		next_message(w, c, now);
		break;
	}
}

/* Connect per request: the slots whose connect found a Unix socket's
 * backlog full, started again. */
static void retry_pending(struct worker *w, uint64_t now)
{
	for (unsigned i = 0; i < w->nactive && w->retrying > 0; i++) {
		struct conn *c = &w->conns[i];
		if (c->state != CONN_RETRY)
			continue;
		c->state = CONN_CLOSED;
		w->retrying--;
		next_message(w, c, now);
	}
}

/* Open loop: message j of this thread is due at a fixed time, whatever
 * happened to earlier ones.  Threads interleave on one global schedule of
 * --rate messages/s. */
static uint64_t due_time(const struct worker *w, uint64_t j)
{
	double slot = (double)j * w->opt->threads + w->index;
	return w->team->sched.t0 + (uint64_t)(slot * 1e9 / w->opt->rate);
}

/* timerfd, not the epoll_wait timeout: the timeout is whole milliseconds,
 * and a message sent up to 1 ms late would show up in the corrected
 * latency as if the server had been slow. */
static void arm_timer(struct worker *w, uint64_t due)
{
	if (w->timer_armed_ns == due)
		return;
	struct itimerspec its = {
		.it_value = { .tv_sec = (time_t)(due / NS_PER_S),
			      .tv_nsec = (long)(due % NS_PER_S) },
	};
	if (timerfd_settime(w->timerfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		w->timer_armed_ns = due;
}

/* Send every message that is due on a connection with room.  When all are
 * busy, due messages wait; their wait is part of their corrected latency,
 * which is the point of coordinated-omission correction. */
static void open_dispatch(struct worker *w, uint64_t now)
{
	while (!w->schedule_done) {
		uint64_t due = due_time(w, w->next_msg);
		if (due > now) {
			/* With --spin-us, sleep until shortly before the due time
			 * and poll from there, because waking from a sleep takes
			 * tens of microseconds, which would count as latency. */
			uint64_t spin = w->opt->spin_ns;
			w->spinning = due - now <= spin;
			if (!w->spinning)
				arm_timer(w, due - spin);
			return;
		}
		w->spinning = false;
		struct conn *c = pop_free_slot(w);
		if (!c)
			return;
		if (!claim_message(w, due)) {
			push_free_slot(w, c);
			w->schedule_done = true;
			return;
		}
		c->transport->issue(&w->set, c, due, now);
		w->next_msg++;
		c->transport->flush(&w->set, c);
	}
}

/* Open loop, and every connection has failed: the measured messages still
 * on the schedule can never be sent.  They are lost too, each recorded as
 * having waited from its due time until the worker gave up or, if that is
 * later, until the end of the schedule (--duration, or the due time of the
 * last message --requests allows): a lower bound, like the others. */
static void lose_unsent(struct worker *w, uint64_t now)
{
	uint64_t j = w->next_msg, left = w->quota - w->issued_measured;
	if (left == 0)
		return;
	while (due_time(w, j) < w->team->sched.warm_end)
		j++;                    /* warmup: never measured */
	uint64_t end = w->team->sched.end;
	uint64_t until = end != UINT64_MAX ? end : due_time(w, j + left - 1);
	if (until < now)
		until = now;
	for (; left > 0 && due_time(w, j) < end; j++, left--)
		conn_lost(&w->set, due_time(w, j), 0, until);
}

static void on_timer(struct worker *w)
{
	uint64_t expirations;
	if (read(w->timerfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		results_error(&w->set.results, "timerfd read: %s", strerror(errno));
	w->timer_armed_ns = 0;
}

/* A connection that waits too long for a reply byte is failed, so that a
 * stalled or one-client-at-a-time server ends the run with an error
 * instead of hanging it; a UDP socket only loses the datagrams that waited
 * that long.  Each transport knows which. */
static void scan_timeouts(struct worker *w, uint64_t now)
{
	for (unsigned i = 0; i < w->nactive; i++) {
		struct conn *c = &w->conns[i];
		c->transport->check_timeouts(&w->set, c, now);
	}
}

/* The progress line reads a copy, so the hot histogram needs no lock. */
static void publish_progress(struct worker *w)
{
	atomic_store_explicit(&w->done_msgs, w->set.results.messages, memory_order_relaxed);
	if (!w->snapshot)
		return;
	pthread_mutex_lock(&w->snapshot_lock);
	memcpy(w->snapshot, &w->set.results.latency, sizeof(w->set.results.latency));
	pthread_mutex_unlock(&w->snapshot_lock);
}

/* A ready connection goes to its transport: a connect under way (per
 * request) is over, or replies came in, or the socket buffer has room for
 * more of what is queued. */
static void handle_event(struct worker *w, const struct epoll_event *ev)
{
	struct conn *c = ev->data.ptr;
	if (c == NULL) {
		on_timer(w);
		return;
	}
	const struct transport *t = c->transport;
	if (c->state == CONN_CONNECTING) {
		t->on_connected(&w->set, c);
		return;
	}
	if (c->state == CONN_OPEN && (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		t->on_readable(&w->set, c);
	if (c->state == CONN_OPEN && (ev->events & EPOLLOUT))
		t->flush(&w->set, c);
}

/* Everything that is due by the clock rather than by a socket. */
static void housekeeping(struct worker *w, uint64_t now)
{
	if (now >= w->next_scan_ns) {
		scan_timeouts(w, now);
		w->next_scan_ns = now + SCAN_INTERVAL_NS;
	}
	/* A relaxed store is a plain move on x86: cheap enough every loop. */
	atomic_store_explicit(&w->done_msgs, w->set.results.messages, memory_order_relaxed);
	if (now >= w->next_publish_ns) {
		publish_progress(w);
		w->next_publish_ns = now + PUBLISH_INTERVAL_NS;
	}
	if (w->opt->mode == MODE_OPEN)
		open_dispatch(w, now);
	else if (w->retrying > 0)
		retry_pending(w, now);
}

/* Done when nothing is in flight and nothing more may start.  In closed
 * loop and connect-per-request a connection left idle is one whose next
 * message was refused (end of schedule, --requests reached, Ctrl-C), and
 * that refusal is final. */
static bool worker_done(const struct worker *w)
{
	if (w->set.inflight > 0 || w->set.connecting > 0 || w->retrying > 0)
		return false;
	if (w->set.live == 0 || w->opt->mode != MODE_OPEN)
		return true;
	return w->schedule_done;
}

static int ms_until(uint64_t t, uint64_t now)
{
	return t <= now ? 0 : (int)((t - now + 999999) / 1000000);
}

static int wait_ms(const struct worker *w, uint64_t now)
{
	uint64_t next = w->next_scan_ns < w->next_publish_ns ? w->next_scan_ns
							      : w->next_publish_ns;
	if (w->spinning)
		return 0;
	if (w->retrying > 0)
		return 1;
	return ms_until(next, now);
}

/* First messages: closed loop fills every pipeline; open loop offers every
 * free slot to the schedule; connect-per-request starts every slot. */
static void start_load(struct worker *w, uint64_t now)
{
	for (unsigned d = 0; d < w->opt->pipeline; d++) {
		for (unsigned i = 0; i < w->nactive; i++) {
			struct conn *c = &w->conns[i];
			if (w->opt->mode == MODE_OPEN)
				push_free_slot(w, c);
			else if (w->opt->mode == MODE_CPR || c->state == CONN_OPEN)
				next_message(w, c, now);
		}
	}
	for (unsigned i = 0; w->opt->mode == MODE_CLOSED && i < w->nactive; i++) {
		struct conn *c = &w->conns[i];
		if (c->state == CONN_OPEN)
			c->transport->flush(&w->set, c);
	}
	if (w->opt->mode == MODE_OPEN)
		open_dispatch(w, now);
}

static void run(struct worker *w)
{
	struct epoll_event events[MAX_EVENTS];
	uint64_t now = now_ns();
	w->next_scan_ns = now + SCAN_INTERVAL_NS;
	w->next_publish_ns = now + PUBLISH_INTERVAL_NS;
	start_load(w, now);
	/* LAB: loop */
	while (!worker_done(w)) {
		int nready = epoll_wait(w->set.epfd, events, MAX_EVENTS, wait_ms(w, now_ns()));
		if (nready < 0) {
			if (errno == EINTR)
				continue;
			results_error(&w->set.results, "epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < nready; i++)
			handle_event(w, &events[i]);
		housekeeping(w, now_ns());
	}
	/* LAB: end */
	if (w->opt->mode == MODE_OPEN && w->set.live == 0 && !w->schedule_done &&
	    !stopping(w))
		lose_unsent(w, now_ns());
	publish_progress(w);
}

/* What carries a connection's messages: the mode's transport for the
 * active ones; a stream for the idle ones, held and silent (--udp has
 * none).  So a held connection's (idle=true) is every probed one's. */
static const struct transport *transport_for(const struct options *opt, bool idle)
{
	if (opt->udp)
		return &dgram_transport;
	if (opt->mode == MODE_CPR && !idle)
		return &stream_per_request;
	return &stream_transport;
}

/* The second half of the connect phase: every held connection (all but
 * the slots of --connect-per-request, which connect per message) sends its
 * probe, one echo round trip.  A connection the kernel has completed may
 * still wait in the server's accept queue, or for a worker of a server
 * that serves a few clients at a time; only an echo says the server took
 * it.  So the window does not start while the server is still accepting:
 * the phase waits until every probe is answered or --probe-wait is over,
 * and the report says how many were served.  A probe answered later is
 * answered in the run like any reply, and a connection that fails
 * meanwhile is an error, as it would be in the run. */
static void probe_phase(struct worker *w, struct conn *held, unsigned count)
{
	struct epoll_event events[MAX_EVENTS];
	const struct transport *t = transport_for(w->opt, true);
	uint64_t now = now_ns(), every = t->probe_resend_ns;
	uint64_t resend = every ? now + every : UINT64_MAX;
	uint64_t deadline = now + (uint64_t)(w->opt->probe_wait_s * NS_PER_S);
	for (unsigned i = 0; i < count; i++) {
		held[i].probed = held[i].probe_waiting = true;
		w->set.probing++;
		t->probe(&w->set, &held[i]);
	}
	while (w->set.probing > 0 && now < deadline && !stopping(w)) {
		/* Ctrl-C sets stop_requested in another thread: look again soon. */
		uint64_t wake = earliest(earliest(deadline, now + SCAN_INTERVAL_NS), resend);
		int nready = epoll_wait(w->set.epfd, events, MAX_EVENTS, ms_until(wake, now));
		if (nready < 0 && errno != EINTR) {
			results_error(&w->set.results, "epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < nready; i++)
			handle_event(w, &events[i]);
		now = now_ns();
		if (now < resend)
			continue;
		for (unsigned i = 0; i < count; i++)
			if (held[i].probe_waiting)
				t->probe(&w->set, &held[i]);
		resend = now + every;
	}
	struct connect_phase *p = &w->set.results.connect_phase;
	p->done = true;
	p->held = count;
	p->served = w->set.answered;
	p->waiting = w->set.probing;
}

static int setup_fail(struct worker *w, const char *what)
{
	snprintf(w->setup_error, sizeof(w->setup_error), "%s: %s", what, strerror(errno));
	return -1;
}

/* Memory and descriptors for this worker's share of the connections. */
static int worker_setup(struct worker *w)
{
	unsigned total = w->nactive + w->nidle, depth = w->opt->pipeline;
	w->conns = calloc(total, sizeof(*w->conns));
	w->rings = calloc((size_t)w->nactive * depth, sizeof(*w->rings));
	w->set.rbuf = malloc(RECV_BYTES);
	w->free_cap = w->nactive * depth;
	w->free_slots = calloc(w->free_cap, sizeof(*w->free_slots));
	if (!w->conns || !w->rings || !w->set.rbuf || !w->free_slots)
		return setup_fail(w, "allocating connection state");
	for (unsigned i = 0; i < total; i++) {
		struct conn *c = &w->conns[i];
		c->fd = -1;
		c->id = w->first_id + i;
		c->idle = i >= w->nactive;
		c->transport = transport_for(w->opt, c->idle);
		c->base = pattern_base(c->id, 0);
		c->ring = c->idle ? NULL : &w->rings[(size_t)i * depth];
	}
	w->set.live = w->nactive;
	w->set.epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->set.epfd < 0)
		return setup_fail(w, "epoll_create1");
	if (w->opt->mode != MODE_OPEN)
		return 0;
	/* Timer slack would let the kernel fire our schedule up to 50 us late. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	w->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->timerfd < 0)
		return setup_fail(w, "timerfd_create");
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(w->set.epfd, EPOLL_CTL_ADD, w->timerfd, &ev) < 0)
		return setup_fail(w, "epoll_ctl timerfd");
	return 0;
}

static void worker_cleanup(struct worker *w)
{
	for (unsigned i = 0; w->conns && i < w->nactive + w->nidle; i++)
		conn_close(&w->set, &w->conns[i]);
	if (w->timerfd >= 0)
		close(w->timerfd);
	if (w->set.epfd >= 0)
		close(w->set.epfd);
	free(w->conns);
	free(w->rings);
	free(w->set.rbuf);
	free(w->free_slots);
	w->conns = NULL;
}

/* Main sleeps in worker_wait_all() until the last one is done. */
static void count_done(struct team *team)
{
	pthread_mutex_lock(&team->done_lock);
	team->done++;
	pthread_cond_signal(&team->done_cond);
	pthread_mutex_unlock(&team->done_lock);
}

/* Connect and probe first, then wait for every thread at the barriers:
 * main checks that all connected before it fixes the schedule, so warmup
 * does not start while 10,000 connections are still being opened, or
 * accepted. */
void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct team *team = w->team;
	/* Connect-per-request opens its active connections per message. */
	unsigned first = w->opt->mode == MODE_CPR ? w->nactive : 0;
	unsigned count = w->nactive + w->nidle - first;
	if (worker_setup(w) == 0 &&
	    connect_all(&w->set, &w->conns[first], count, w->setup_error,
			sizeof(w->setup_error)) == 0)
		probe_phase(w, &w->conns[first], count);
	pthread_barrier_wait(&team->connected);
	pthread_barrier_wait(&team->started);
	if (!team->aborted)
		run(w);
	/* Main samples CPU now, before teardown work is counted. */
	count_done(team);
	pthread_barrier_wait(&team->finished);
	worker_cleanup(w);
	return NULL;
}

void worker_team_init(struct team *team, unsigned nthreads)
{
	team->nthreads = nthreads;
	pthread_barrier_init(&team->connected, NULL, nthreads + 1);
	pthread_barrier_init(&team->started, NULL, nthreads + 1);
	pthread_barrier_init(&team->finished, NULL, nthreads + 1);
	pthread_mutex_init(&team->done_lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&team->done_cond, &attr);
	pthread_condattr_destroy(&attr);
}

bool worker_wait_all(struct team *team, uint64_t deadline)
{
	struct timespec ts = { .tv_sec = (time_t)(deadline / NS_PER_S),
			       .tv_nsec = (long)(deadline % NS_PER_S) };
	pthread_mutex_lock(&team->done_lock);
	int err = 0;            /* 0 also after a spurious wake-up: wait again */
	while (team->done < team->nthreads && err == 0)
		err = deadline == UINT64_MAX ? pthread_cond_wait(&team->done_cond, &team->done_lock)
			: pthread_cond_timedwait(&team->done_cond, &team->done_lock, &ts);
	bool all_done = team->done == team->nthreads;
	pthread_mutex_unlock(&team->done_lock);
	return all_done;
}

/* Share n as evenly as possible: the first n % parts get one more. */
static uint64_t share(uint64_t n, unsigned parts, unsigned i)
{
	return n / parts + (i < n % parts);
}

struct worker *worker_create_all(const struct options *opt, struct team *team, bool progress)
{
	struct worker *workers = calloc(opt->threads, sizeof(*workers));
	if (!workers)
		return NULL;
	uint32_t next_id = 0;
	for (unsigned i = 0; i < opt->threads; i++) {
		struct worker *w = &workers[i];
		w->index = i;
		w->opt = opt;
		w->team = team;
		w->nactive = (unsigned)share(opt->conns, opt->threads, i);
		w->nidle = (unsigned)share(opt->idle, opt->threads, i);
		w->first_id = next_id;
		next_id += w->nactive + w->nidle;
		w->quota = opt->requests ? share(opt->requests, opt->threads, i) : UINT64_MAX;
		w->set.opt = opt;
		w->set.sched = &team->sched;
		w->set.place_free = place_free;
		w->set.epfd = w->timerfd = -1;
		results_init(&w->set.results, opt);
		pthread_mutex_init(&w->snapshot_lock, NULL);
		if (progress && (w->snapshot = malloc(sizeof(*w->snapshot))) != NULL)
			hist_init(w->snapshot);
	}
	return workers;
}

void worker_free_all(struct worker *workers, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		pthread_mutex_destroy(&workers[i].snapshot_lock);
		free(workers[i].snapshot);
	}
	free(workers);
}
