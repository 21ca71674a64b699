/* stream.c - one connection's byte stream: queue messages, send the
 * pattern, check every byte that comes back, and turn whole replies into
 * latency samples.  Used by all three modes.  What a message's life has in
 * common over TCP and UDP (issue, reply, loss) is here too; datagram.c has
 * the rest of --udp. */
#include "loadgen.h"
#include "pattern.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

int watch(struct worker *w, struct conn *c, uint32_t events, int op)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };
	if (epoll_ctl(w->epfd, op, c->fd, &ev) == 0)
		return 0;
	/* ENOSPC here is fs.epoll.max_user_watches. */
	results_error(&w->results, "epoll_ctl on connection %u: %s", c->id, strerror(errno));
	return -1;
}

/* A full socket buffer is normal under pipelining: ask epoll for EPOLLOUT
 * and carry on; turn it off again once drained, or every loop would wake
 * up for a writable socket. */
void want_write(struct worker *w, struct conn *c, bool on)
{
	if (c->want_write != on && watch(w, c, on ? EPOLLIN | EPOLLOUT : EPOLLIN,
					 EPOLL_CTL_MOD) == 0)
		c->want_write = on;
}

/* A measured message whose reply will never come.  Its latency is at
 * least the time it has waited so far: record that, a lower bound, so
 * that the tail shows the message instead of losing it.  sent_ns 0: it
 * was never sent, so it has no latency from the actual send.  Giving it up
 * is its end, as a reply would be: the measured interval runs until then,
 * or a run that lost its last messages would look short and fast. */
void record_lost(struct worker *w, uint64_t intended_ns, uint64_t sent_ns, uint64_t now)
{
	w->results.lost++;
	if (now > w->last_done_ns)
		w->last_done_ns = now;
	hist_record(&w->results.latency, now > intended_ns ? now - intended_ns : 0);
	if (w->opt->mode == MODE_OPEN && sent_ns)
		hist_record(&w->results.uncorrected, now - sent_ns);
}

/* Give up the messages of c still waiting for a reply that were sent
 * before `before`: they are lost; returns how many.  A message sent during
 * warmup but lost after it is lost in the measured interval all the same:
 * a client the server never serves sends its only message at the start,
 * and that loss is the run's worst latency, not something to leave out. */
unsigned give_up_sent_before(struct worker *w, struct conn *c, uint64_t before, uint64_t now)
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
		if (m->measured || now >= w->sched->warm_end)
			record_lost(w, m->intended_ns, m->sent_ns, now);
	}
	c->ring_count -= lost;
	w->inflight -= lost;
	return lost;
}

/* The connection is unusable: record why, count what it had in flight as
 * lost, and close it. */
void conn_fail(struct worker *w, struct conn *c, const char *fmt, ...)
{
	char reason[ERROR_BYTES];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	results_error(&w->results, "%s", reason);
	give_up_sent_before(w, c, UINT64_MAX, now_ns());
	if (c->state == CONN_CONNECTING)
		w->connecting--;
	if (!c->idle && w->live > 0)
		w->live--;
	conn_close(w, c);
}

/* The connect phase's probe (worker.c): one echo round trip on every held
 * connection before warmup, so that loadgen knows the server has accepted
 * the connection and serves it.  Over TCP it is the first PROBE_BYTES of
 * the stream, pattern bytes like any others, and the messages follow it;
 * with --udp it is datagram PROBE_SEQ (datagram.c). */
void conn_probe(struct worker *w, struct conn *c)
{
	c->probed = c->probe_waiting = true;
	w->probing++;
	if (w->opt->udp) {
		dgram_probe(w, c);
		return;
	}
	c->queued = PROBE_BYTES;
	conn_flush(w, c);
}

/* Its echo is back: in the connect phase, or later in the run (a server
 * that took the connection late). */
void probe_answered(struct worker *w, struct conn *c)
{
	c->probe_waiting = false;
	w->probing--;
	w->answered++;
}

/* Stream offset of c's first message: after the probe, if it had one. */
static uint64_t first_message(const struct conn *c)
{
	return c->probed ? PROBE_BYTES : 0;
}

/* Queue one message; conn_flush() sends it.  The caller has checked that
 * the connection has room for it. */
void conn_issue(struct worker *w, struct conn *c, uint64_t intended_ns, uint64_t now)
{
	struct inflight *m;
	if (w->opt->udp) {
		m = dgram_slot(w, c);
	} else {
		m = &c->ring[(c->ring_head + c->ring_count) % w->opt->pipeline];
		c->queued += w->opt->size;
	}
	m->intended_ns = intended_ns;
	m->sent_ns = now;
	m->measured = intended_ns >= w->sched->warm_end;
	m->waiting = true;
	if (c->ring_count++ == 0)
		c->last_progress_ns = now;      /* the reply timeout starts now */
	w->inflight++;
}

/* Send what is queued, as far as the socket buffer takes it. */
int conn_flush(struct worker *w, struct conn *c)
{
	if (w->opt->udp)
		return dgram_flush(w, c);
	while (c->sent < c->queued) {
		uint64_t len = c->queued - c->sent;
		if (len > PATTERN_PERIOD)
			len = PATTERN_PERIOD;
		ssize_t n = send(c->fd, pattern_at(c->base + c->sent), len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				want_write(w, c, true);
				return 0;
			}
			conn_fail(w, c, "send on connection %u: %s (server closed or reset it)",
				  c->id, strerror(errno));
			return -1;
		}
		c->sent += (uint64_t)n;
	}
	want_write(w, c, false);
	return 0;
}

/* End of stream from the server. */
static void conn_eof(struct worker *w, struct conn *c)
{
	if (c->idle)
		conn_fail(w, c, "server closed idle connection %u", c->id);
	else if (c->sent > c->received)
		conn_fail(w, c, "short reply: server closed connection %u with %llu of %llu "
			  "echoed bytes missing", c->id,
			  (unsigned long long)(c->sent - c->received),
			  (unsigned long long)c->sent);
	else
		conn_fail(w, c, "server closed connection %u", c->id);
}

/* Every received byte must be the next byte we sent; returns false (and
 * fails the connection) if not. */
static bool check_reply(struct worker *w, struct conn *c, size_t n)
{
	uint64_t expect = c->sent - c->received;
	size_t checked = n < expect ? n : (size_t)expect;
	size_t bad = pattern_check(w->rbuf, checked, c->base + c->received);
	if (bad < checked) {
		uint64_t offset = c->received + bad, head = first_message(c);
		char where[64] = "the probe";
		if (offset >= head)
			snprintf(where, sizeof(where), "message %llu, byte %llu",
				 (unsigned long long)((offset - head) / w->opt->size),
				 (unsigned long long)((offset - head) % w->opt->size));
		conn_fail(w, c, "wrong byte on connection %u at stream offset %llu (%s): expected "
			  "0x%02x, got 0x%02x: data corrupted, lost, duplicated or reordered",
			  c->id, (unsigned long long)offset, where,
			  *pattern_at(c->base + offset), w->rbuf[bad]);
		return false;
	}
	if (n > expect) {
		conn_fail(w, c, c->idle ? "server sent %zu bytes on idle connection %u"
			  : "server sent %zu bytes more than it was sent on connection %u "
			  "(duplicated data)", (size_t)(n - expect), c->id);
		return false;
	}
	return true;
}

/* LAB: complete */
/* Over TCP replies complete in order: the oldest message is done once the
 * last byte of its reply is in (the messages follow the probe, if any, in
 * the stream).  Each one becomes a latency sample. */
static void complete_replies(struct worker *w, struct conn *c, uint64_t now)
{
	uint64_t head = first_message(c);
	while (c->ring_count > 0 && c->received >= head + (c->completed + 1) * w->opt->size) {
		struct inflight *m = &c->ring[c->ring_head];
		c->ring_head = (c->ring_head + 1) % w->opt->pipeline;
		reply_done(w, c, m, now);
		if (c->state != CONN_OPEN)
			return;         /* connect-per-request closed it */
	}
}

/* Message m has its reply.  It becomes a latency sample: corrected from
 * the intended send time, uncorrected from the actual one; then its place
 * goes to the next message, if any. */
void reply_done(struct worker *w, struct conn *c, struct inflight *m, uint64_t now)
{
	m->waiting = false;
	c->ring_count--;
	c->completed++;
	w->inflight--;
	if (m->measured) {
		hist_record(&w->results.latency, now - m->intended_ns);
		if (w->opt->mode == MODE_OPEN)
			hist_record(&w->results.uncorrected, now - m->sent_ns);
		w->results.messages++;
		w->last_done_ns = now;
	}
	worker_reply_done(w, c, now);
}
/* LAB: end */

/* Level-triggered epoll: one recv per wakeup is enough; anything left in
 * the socket makes the next epoll_wait report it again, and we save the
 * extra recv that would only return EAGAIN. */
void conn_on_readable(struct worker *w, struct conn *c)
{
	if (w->opt->udp) {
		dgram_on_readable(w, c);
		return;
	}
	ssize_t n = recv(c->fd, w->rbuf, RECV_BYTES, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		conn_fail(w, c, "recv on connection %u: %s", c->id, strerror(errno));
		return;
	}
	uint64_t now = now_ns();        /* the reply's arrival, as close as we can */
	if (n == 0) {
		conn_eof(w, c);
		return;
	}
	if (!check_reply(w, c, (size_t)n))
		return;
	c->received += (uint64_t)n;
	c->last_progress_ns = now;
	if (c->probe_waiting && c->received >= PROBE_BYTES)
		probe_answered(w, c);
	complete_replies(w, c, now);
	if (c->state == CONN_OPEN && c->sent < c->queued)
		conn_flush(w, c);
}
