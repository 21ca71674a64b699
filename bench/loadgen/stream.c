/* stream.c - the transports over a byte stream (TCP, Unix): queue
 * messages, send the pattern, check every byte that comes back, and turn
 * whole replies into latency samples.  Two of them, the same but for when
 * a connection is opened:
 *
 *   stream_transport     the connection is held for the whole run
 *                        (closed loop, open loop, and every --idle one);
 *   stream_per_request   --connect-per-request: every message on a fresh
 *                        connection (connect, send, receive, close), the
 *                        UNP ch. 30 way of measuring what a server's
 *                        connection setup costs.  Each of the --conns slots
 *                        runs one transaction at a time, with two
 *                        latencies: connect (connect() until the socket is
 *                        writable, i.e. the handshake is done) and the
 *                        whole transaction (connect() until the last
 *                        echoed byte). */
#include "stream.h"
#include "clock.h"
#include "connect.h"
#include "pattern.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Stream offset of c's first message: after the probe, if it had one. */
static uint64_t first_message(const struct conn *c)
{
	return c->probed ? PROBE_BYTES : 0;
}

/* The ring's entries are used in order: replies come back in order. */
static bool issue(struct conn_set *set, struct conn *c, uint64_t intended_ns, uint64_t now)
{
	struct inflight *m = &c->ring[(c->ring_head + c->ring_count) % set->opt->pipeline];
	c->queued += set->opt->size;
	conn_book(set, c, m, intended_ns, now);
	return true;
}

static void flush(struct conn_set *set, struct conn *c)
{
	while (c->sent < c->queued) {
		uint64_t len = c->queued - c->sent;
		if (len > PATTERN_PERIOD)
			len = PATTERN_PERIOD;
		ssize_t n = send(c->fd, pattern_at(c->base + c->sent), len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				conn_want_write(set, c, true);
				return;
			}
			conn_fail(set, c, "send on connection %u: %s (server closed or reset it)",
				  c->id, strerror(errno));
			return;
		}
		c->sent += (uint64_t)n;
	}
	conn_want_write(set, c, false);
}

/* The connect phase's probe (worker.c) over a stream: its first
 * PROBE_BYTES, pattern bytes like any others; the messages follow it. */
static void probe(struct conn_set *set, struct conn *c)
{
	c->queued = PROBE_BYTES;
	flush(set, c);
}

/* End of stream from the server. */
static void on_eof(struct conn_set *set, struct conn *c)
{
	if (c->idle)
		conn_fail(set, c, "server closed idle connection %u", c->id);
	else if (c->sent > c->received)
		conn_fail(set, c, "short reply: server closed connection %u with %llu of %llu "
			  "echoed bytes missing", c->id,
			  (unsigned long long)(c->sent - c->received),
			  (unsigned long long)c->sent);
	else
		conn_fail(set, c, "server closed connection %u", c->id);
}

/* Every received byte must be the next byte we sent; returns false (and
 * fails the connection) if not. */
static bool check_reply(struct conn_set *set, struct conn *c, size_t n)
{
	uint64_t expect = c->sent - c->received;
	size_t checked = n < expect ? n : (size_t)expect;
	size_t bad = pattern_check(set->rbuf, checked, c->base + c->received);
	if (bad < checked) {
		uint64_t offset = c->received + bad, head = first_message(c);
		char where[64] = "the probe";
		if (offset >= head)
			snprintf(where, sizeof(where), "message %llu, byte %llu",
				 (unsigned long long)((offset - head) / set->opt->size),
				 (unsigned long long)((offset - head) % set->opt->size));
		conn_fail(set, c, "wrong byte on connection %u at stream offset %llu (%s): expected "
			  "0x%02x, got 0x%02x: data corrupted, lost, duplicated or reordered",
			  c->id, (unsigned long long)offset, where,
			  *pattern_at(c->base + offset), set->rbuf[bad]);
		return false;
	}
	if (n > expect) {
		conn_fail(set, c, c->idle ? "server sent %zu bytes on idle connection %u"
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
static void complete_replies(struct conn_set *set, struct conn *c, uint64_t now)
{
	uint64_t head = first_message(c);
	while (c->ring_count > 0 && c->received >= head + (c->completed + 1) * set->opt->size) {
		struct inflight *m = &c->ring[c->ring_head];
		c->ring_head = (c->ring_head + 1) % set->opt->pipeline;
		conn_reply_done(set, c, m, now);
		if (c->state != CONN_OPEN)
			return;         /* connect-per-request closed it */
	}
}
/* LAB: end */

/* Level-triggered epoll: one recv per wakeup is enough; anything left in
 * the socket makes the next epoll_wait report it again, and we save the
 * extra recv that would only return EAGAIN. */
static void on_readable(struct conn_set *set, struct conn *c)
{
	ssize_t n = recv(c->fd, set->rbuf, RECV_BYTES, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		conn_fail(set, c, "recv on connection %u: %s", c->id, strerror(errno));
		return;
	}
	uint64_t now = now_ns();        /* the reply's arrival, as close as we can */
	if (n == 0) {
		on_eof(set, c);
		return;
	}
	if (!check_reply(set, c, (size_t)n))
		return;
	c->received += (uint64_t)n;
	c->last_progress_ns = now;
	if (c->probe_waiting && c->received >= PROBE_BYTES)
		conn_probe_answered(set, c);
	complete_replies(set, c, now);
	if (c->state == CONN_OPEN && c->sent < c->queued)
		flush(set, c);
}

/* A connection that waits longer than --timeout for a reply byte is
 * failed, so that a stalled or one-client-at-a-time server ends the run
 * with an error instead of hanging it. */
static void check_timeouts(struct conn_set *set, struct conn *c, uint64_t now)
{
	uint64_t limit = (uint64_t)(set->opt->reply_timeout_s * NS_PER_S);
	if (c->state == CONN_OPEN && c->ring_count > 0 && now - c->last_progress_ns > limit)
		conn_fail(set, c, "no reply on connection %u for %g s (%llu bytes outstanding): "
			  "the server stalled or does not serve this connection; see --timeout",
			  c->id, set->opt->reply_timeout_s,
			  (unsigned long long)(c->sent - c->received));
}

const struct transport stream_transport = {
	.issue = issue,
	.flush = flush,
	.probe = probe,
	.on_readable = on_readable,
	.on_connected = NULL,           /* held: opened before the run */
	.check_timeouts = check_timeouts,
};

/* ---------------------------------------------- a connection per request */

/* The handshake is done: the transaction's one message goes. */
static void request_connected(struct conn_set *set, struct conn *c, uint64_t now)
{
	if (c->connect_start_ns >= set->sched->warm_end)
		hist_record(&set->results.connect, now - c->connect_start_ns);
	set->results.connects++;
	issue(set, c, c->connect_start_ns, now);
	flush(set, c);
}

/* The transaction is lost: in the latency and in the connect histogram,
 * as having taken at least the time it waited for the handshake. */
static void request_connect_failed(struct conn_set *set, struct conn *c, int err)
{
	uint64_t now = now_ns();
	if (c->connect_start_ns >= set->sched->warm_end) {
		conn_lost(set, c->connect_start_ns, c->connect_start_ns, now);
		hist_record(&set->results.connect, now - c->connect_start_ns);
	}
	char text[ERROR_BYTES];
	connect_error_text(text, sizeof(text), set->opt, err, (unsigned)set->results.connects);
	conn_fail(set, c, "%s", text);
}

/* The slot's next transaction: a fresh connection for its one message. */
static bool request_start(struct conn_set *set, struct conn *c, uint64_t intended_ns,
			  uint64_t now)
{
	/* A fresh stream offset per connection, so that a server answering
	 * with another connection's bytes is caught. */
	c->base = pattern_base(c->id, ++c->transactions);
	c->queued = c->sent = c->received = c->completed = 0;
	c->ring_head = c->ring_count = 0;
	/* Its latency counts from its connect, which starts now: the worker
	 * claims the message as it starts it (intended_ns is now). */
	(void)intended_ns;
	c->connect_start_ns = now;
	int r = connect_start(set, c);
	if (r == CONNECT_DONE)
		request_connected(set, c, now_ns());
	else if (r == CONNECT_PENDING)
		set->connecting++;
	else if (r == CONNECT_RETRY)
		return false;   /* Unix backlog full: the worker tries again shortly */
	else
		request_connect_failed(set, c, -r);
	return true;
}

/* EPOLLOUT (or an error) on a connecting socket: the handshake finished,
 * or failed.  Once open, the connection is a stream like any. */
static void request_on_connected(struct conn_set *set, struct conn *c)
{
	uint64_t now = now_ns();
	int err = connect_result(set, c);
	if (err) {
		request_connect_failed(set, c, err);    /* also drops the connecting count */
		return;
	}
	set->connecting--;
	request_connected(set, c, now);
}

static void request_check_timeouts(struct conn_set *set, struct conn *c, uint64_t now)
{
	uint64_t limit = (uint64_t)(set->opt->connect_timeout_s * NS_PER_S);
	if (c->state != CONN_CONNECTING)
		check_timeouts(set, c, now);
	else if (now - c->connect_start_ns > limit)
		request_connect_failed(set, c, ETIMEDOUT);
}

const struct transport stream_per_request = {
	.issue = request_start,
	.flush = flush,
	.probe = NULL,                  /* its connections are not held */
	.on_readable = on_readable,
	.on_connected = request_on_connected,
	.check_timeouts = request_check_timeouts,
};
