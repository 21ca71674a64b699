/* conn.c - what every transport does with a connection and its messages,
 * whether a stream or a datagram socket carries them: watch it in epoll,
 * book a message, turn a reply into a latency sample, record a message
 * that will never get one as a lower bound, fail and close the
 * connection.  See conn.h for where it sits. */
#include "conn.h"
#include "clock.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

int conn_watch(struct conn_set *set, struct conn *c, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };
	if (epoll_ctl(set->epfd, op, c->fd, &ev) == 0)
		return 0;
	/* ENOSPC here is fs.epoll.max_user_watches. */
	results_error(&set->results, "epoll_ctl on connection %u: %s", c->id, strerror(errno));
	return -1;
}

/* A full socket buffer is normal under pipelining: ask epoll for EPOLLOUT
 * and carry on; turn it off again once drained, or every loop would wake
 * up for a writable socket. */
void conn_want_write(struct conn_set *set, struct conn *c, bool on)
{
	if (c->want_write != on && conn_watch(set, c, on ? EPOLLIN | EPOLLOUT : EPOLLIN,
					      EPOLL_CTL_MOD) == 0)
		c->want_write = on;
}

void conn_close(struct conn_set *set, struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);           /* also removes it from the epoll set */
	if (c->probe_waiting) {
		c->probe_waiting = false;       /* no answer can come now */
		set->probing--;
	}
	c->fd = -1;
	c->state = CONN_CLOSED;
	c->want_write = false;
}

/* The caller has checked that the connection has room for it, and picked
 * its entry: the next of the ring over a stream, its sequence number's
 * slot with --udp. */
void conn_book(struct conn_set *set, struct conn *c, struct inflight *m,
	       uint64_t intended_ns, uint64_t now)
{
	m->intended_ns = intended_ns;
	m->sent_ns = now;
	m->measured = intended_ns >= set->sched->warm_end;
	m->waiting = true;
	if (c->ring_count++ == 0)
		c->last_progress_ns = now;      /* the reply timeout starts now */
	set->inflight++;
}

/* LAB: reply */
/* Message m has its reply.  It becomes a latency sample: corrected from
 * the intended send time, uncorrected from the actual one; then its place
 * goes to the next message, if any, as the worker decides. */
void conn_reply_done(struct conn_set *set, struct conn *c, struct inflight *m, uint64_t now)
{
	struct results *r = &set->results;
	m->waiting = false;
	c->ring_count--;
	c->completed++;
	set->inflight--;
	if (m->measured) {
		hist_record(&r->latency, now - m->intended_ns);
		if (set->opt->mode == MODE_OPEN)
			hist_record(&r->uncorrected, now - m->sent_ns);
		r->messages++;
		set->last_done_ns = now;
	}
	set->place_free(set, c, now);
}
/* LAB: end */

/* Its latency is at least the time it has waited so far: record that, a
 * lower bound, so that the tail shows the message instead of losing it.
 * Giving it up is its end, as a reply would be: the measured interval runs
 * until then, or a run that lost its last messages would look short and
 * fast. */
void conn_lost(struct conn_set *set, uint64_t intended_ns, uint64_t sent_ns, uint64_t now)
{
	struct results *r = &set->results;
	r->lost++;
	if (now > set->last_done_ns)
		set->last_done_ns = now;
	hist_record(&r->latency, now > intended_ns ? now - intended_ns : 0);
	if (set->opt->mode == MODE_OPEN && sent_ns)
		hist_record(&r->uncorrected, now - sent_ns);
}

/* A message sent during warmup but lost after it is lost in the measured
 * interval all the same: a client the server never serves sends its only
 * message at the start, and that loss is the run's worst latency, not
 * something to leave out. */
unsigned conn_give_up(struct conn_set *set, struct conn *c, uint64_t before, uint64_t now)
{
	unsigned left = c->ring_count, lost = 0;
	for (unsigned i = 0; left > 0; i++) {
		struct inflight *m = &c->ring[i];
		if (!m->waiting)
			continue;
		left--;
		if (m->sent_ns >= before)
			continue;
		m->waiting = false;
		lost++;
		if (m->measured || now >= set->sched->warm_end)
			conn_lost(set, m->intended_ns, m->sent_ns, now);
	}
	c->ring_count -= lost;
	set->inflight -= lost;
	return lost;
}

void conn_fail(struct conn_set *set, struct conn *c, const char *fmt, ...)
{
	char reason[ERROR_BYTES];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	results_error(&set->results, "%s", reason);
	conn_give_up(set, c, UINT64_MAX, now_ns());
	if (c->state == CONN_CONNECTING)
		set->connecting--;
	if (!c->idle && set->live > 0)
		set->live--;
	conn_close(set, c);
}

void conn_probe_answered(struct conn_set *set, struct conn *c)
{
	c->probe_waiting = false;
	set->probing--;
	set->answered++;
}
