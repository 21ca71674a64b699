/* worker.c - one event-loop thread: its connections, one epoll set, and
 * the loop that keeps the load going in closed-loop, open-loop or
 * connect-per-request mode until the schedule says stop and every reply
 * is in (or has timed out). */
#include "loadgen.h"
#include "pattern.h"

#include <errno.h>
#include <stdarg.h>
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
#define PROBE_RESEND_NS      (200 * 1000000ull)     /* --udp: an unanswered probe again */

/* May a message timed at t (its send time, or its scheduled time in open
 * loop) still go?  Messages before the end of warmup always may; they are
 * just not measured.  Claiming it counts it against --requests. */
bool claim_message(struct worker *w, uint64_t t)
{
	if (t >= w->sched->end)
		return false;
	if (atomic_load_explicit(&stop_requested, memory_order_relaxed))
		return false;
	if (t < w->sched->warm_end)
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

/* What a finished reply frees up, by mode. */
void worker_reply_done(struct worker *w, struct conn *c, uint64_t now)
{
	switch (w->opt->mode) {
	case MODE_CLOSED:
		if (claim_message(w, now))
			conn_issue(w, c, now, now);     /* flushed by the caller */
		break;
	case MODE_OPEN:
		push_free_slot(w, c);
		break;
	case MODE_CPR:
		conn_close(w, c);
		cpr_start(w, c, now);
		break;
	}
}

/* Open loop: message j of this thread is due at a fixed time, whatever
 * happened to earlier ones.  Threads interleave on one global schedule of
 * --rate messages/s. */
static uint64_t intended_ns(const struct worker *w, uint64_t j)
{
	double slot = (double)j * w->opt->threads + w->index;
	return w->sched->t0 + (uint64_t)(slot * 1e9 / w->opt->rate);
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
		uint64_t due = intended_ns(w, w->next_msg);
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
		conn_issue(w, c, due, now);
		w->next_msg++;
		conn_flush(w, c);
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
	while (intended_ns(w, j) < w->sched->warm_end)
		j++;                    /* warmup: never measured */
	uint64_t end = w->sched->end;
	uint64_t until = end != UINT64_MAX ? end : intended_ns(w, j + left - 1);
	if (until < now)
		until = now;
	for (; left > 0 && intended_ns(w, j) < end; j++, left--)
		record_lost(w, intended_ns(w, j), 0, until);
}

static void on_timer(struct worker *w)
{
	uint64_t expirations;
	if (read(w->timerfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		results_error(&w->results, "timerfd read: %s", strerror(errno));
	w->timer_armed_ns = 0;
}

/* A connection that waits longer than --timeout for a reply byte is
 * failed, so that a stalled or one-client-at-a-time server ends the run
 * with an error instead of hanging it.  A UDP socket only loses the
 * datagrams that waited that long. */
static void scan_timeouts(struct worker *w, uint64_t now)
{
	uint64_t limit = (uint64_t)(w->opt->reply_timeout_s * NS_PER_S);
	for (unsigned i = 0; i < w->nactive; i++) {
		struct conn *c = &w->conns[i];
		if (c->state == CONN_CONNECTING)
			cpr_check_timeout(w, c, now);
		else if (c->state == CONN_OPEN && c->ring_count > 0 && w->opt->udp)
			dgram_check_timeouts(w, c, now);
		else if (c->state == CONN_OPEN && c->ring_count > 0 &&
			 now - c->last_progress_ns > limit)
			conn_fail(w, c, "no reply on connection %u for %g s (%llu bytes outstanding): "
				  "the server stalled or does not serve this connection; see --timeout",
				  c->id, w->opt->reply_timeout_s,
				  (unsigned long long)(c->sent - c->received));
	}
}

/* The progress line reads a copy, so the hot histogram needs no lock. */
static void publish_progress(struct worker *w)
{
	atomic_store_explicit(&w->done_msgs, w->results.messages, memory_order_relaxed);
	if (!w->snapshot)
		return;
	pthread_mutex_lock(&w->snapshot_lock);
	memcpy(w->snapshot, &w->results.latency, sizeof(w->results.latency));
	pthread_mutex_unlock(&w->snapshot_lock);
}

static void handle_event(struct worker *w, const struct epoll_event *ev)
{
	struct conn *c = ev->data.ptr;
	if (c == NULL) {
		on_timer(w);
		return;
	}
	if (c->state == CONN_CONNECTING) {
		cpr_on_writable(w, c);
		return;
	}
	if (c->state == CONN_OPEN && (ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		conn_on_readable(w, c);
	if (c->state == CONN_OPEN && (ev->events & EPOLLOUT))
		conn_flush(w, c);
}

/* Everything that is due by the clock rather than by a socket. */
static void housekeeping(struct worker *w, uint64_t now)
{
	if (now >= w->next_scan_ns) {
		scan_timeouts(w, now);
		w->next_scan_ns = now + SCAN_INTERVAL_NS;
	}
	/* A relaxed store is a plain move on x86: cheap enough every loop. */
	atomic_store_explicit(&w->done_msgs, w->results.messages, memory_order_relaxed);
	if (now >= w->next_publish_ns) {
		publish_progress(w);
		w->next_publish_ns = now + PUBLISH_INTERVAL_NS;
	}
	if (w->opt->mode == MODE_OPEN)
		open_dispatch(w, now);
	else if (w->opt->mode == MODE_CPR && w->retrying > 0)
		cpr_retry_pending(w, now);
}

/* Done when nothing is in flight and nothing more may start.  In closed
 * loop and connect-per-request a connection left idle is one whose next
 * message was refused (end of schedule, --requests reached, Ctrl-C), and
 * that refusal is final. */
static bool worker_done(const struct worker *w)
{
	if (w->inflight > 0 || w->connecting > 0 || w->retrying > 0)
		return false;
	if (w->live == 0 || w->opt->mode != MODE_OPEN)
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
			else if (w->opt->mode == MODE_CPR)
				cpr_start(w, c, now);
			else if (c->state == CONN_OPEN && claim_message(w, now))
				conn_issue(w, c, now, now);
		}
	}
	for (unsigned i = 0; w->opt->mode == MODE_CLOSED && i < w->nactive; i++)
		if (w->conns[i].state == CONN_OPEN)
			conn_flush(w, &w->conns[i]);
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
		int nready = epoll_wait(w->epfd, events, MAX_EVENTS, wait_ms(w, now_ns()));
		if (nready < 0) {
			if (errno == EINTR)
				continue;
			results_error(&w->results, "epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < nready; i++)
			handle_event(w, &events[i]);
		housekeeping(w, now_ns());
	}
	/* LAB: end */
	if (w->opt->mode == MODE_OPEN && w->live == 0 && !w->schedule_done &&
	    !atomic_load(&stop_requested))
		lose_unsent(w, now_ns());
	publish_progress(w);
}

/* The second half of the connect phase: every held connection (all but
 * the slots of --connect-per-request, which connect per message) sends its
 * probe, one echo round trip (conn_probe()).  A connection the kernel has
 * completed may still wait in the server's accept queue, or for a worker
 * of a server that serves a few clients at a time; only an echo says the
 * server took it.  So the window does not start while the server is still
 * accepting: the phase waits until every probe is answered or --probe-wait
 * is over, and the report says how many were served.  A probe answered
 * later is answered in the run like any reply, and a connection that fails
 * meanwhile is an error, as it would be in the run. */
static void probe_phase(struct worker *w, unsigned first, unsigned count)
{
	struct epoll_event events[MAX_EVENTS];
	uint64_t now = now_ns(), resend = now + PROBE_RESEND_NS;
	uint64_t deadline = now + (uint64_t)(w->opt->probe_wait_s * NS_PER_S);
	w->results.connect_phase.held = count;
	for (unsigned i = first; i < first + count; i++)
		conn_probe(w, &w->conns[i]);
	while (w->probing > 0 && now < deadline && !atomic_load(&stop_requested)) {
		/* Ctrl-C sets stop_requested in another thread: look again soon. */
		uint64_t wake = earliest(deadline, now + SCAN_INTERVAL_NS);
		if (w->opt->udp)
			wake = earliest(wake, resend);
		int nready = epoll_wait(w->epfd, events, MAX_EVENTS, ms_until(wake, now));
		if (nready < 0 && errno != EINTR) {
			results_error(&w->results, "epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < nready; i++)
			handle_event(w, &events[i]);
		now = now_ns();
		for (unsigned i = first; w->opt->udp && now >= resend && i < first + count; i++)
			if (w->conns[i].probe_waiting)
				dgram_probe(w, &w->conns[i]);
		if (now >= resend)
			resend = now + PROBE_RESEND_NS;
	}
	w->results.connect_phase.done = true;
	w->results.connect_phase.served = w->answered;
	w->results.connect_phase.waiting = w->probing;
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
	w->rbuf = malloc(RECV_BYTES);
	w->free_cap = w->nactive * depth;
	w->free_slots = calloc(w->free_cap, sizeof(*w->free_slots));
	if (!w->conns || !w->rings || !w->rbuf || !w->free_slots)
		return setup_fail(w, "allocating connection state");
	for (unsigned i = 0; i < total; i++) {
		struct conn *c = &w->conns[i];
		c->fd = -1;
		c->id = w->first_id + i;
		c->idle = i >= w->nactive;
		c->base = pattern_base(c->id, 0);
		c->ring = c->idle ? NULL : &w->rings[(size_t)i * depth];
	}
	w->live = w->nactive;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (w->epfd < 0)
		return setup_fail(w, "epoll_create1");
	if (w->opt->mode != MODE_OPEN)
		return 0;
	/* Timer slack would let the kernel fire our schedule up to 50 us late. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	w->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->timerfd < 0)
		return setup_fail(w, "timerfd_create");
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->timerfd, &ev) < 0)
		return setup_fail(w, "epoll_ctl timerfd");
	return 0;
}

static void worker_cleanup(struct worker *w)
{
	for (unsigned i = 0; w->conns && i < w->nactive + w->nidle; i++)
		conn_close(w, &w->conns[i]);
	if (w->timerfd >= 0)
		close(w->timerfd);
	if (w->epfd >= 0)
		close(w->epfd);
	free(w->conns);
	free(w->rings);
	free(w->rbuf);
	free(w->free_slots);
	w->conns = NULL;
}

/* Connect and probe first, then wait for every thread at the barriers:
 * main checks that all connected before it fixes the schedule, so warmup
 * does not start while 10,000 connections are still being opened, or
 * accepted. */
void *worker_main(void *arg)
{
	struct worker *w = arg;
	/* Connect-per-request opens its active connections per message. */
	unsigned first = w->opt->mode == MODE_CPR ? w->nactive : 0;
	unsigned count = w->nactive + w->nidle - first;
	if (worker_setup(w) == 0 && connect_phase(w, first, count) == 0)
		probe_phase(w, first, count);
	pthread_barrier_wait(&barrier_connected);
	pthread_barrier_wait(&barrier_started);
	if (!run_aborted)
		run(w);
	/* Main samples CPU now, before teardown work is counted. */
	worker_finished();
	pthread_barrier_wait(&barrier_finished);
	worker_cleanup(w);
	return NULL;
}
