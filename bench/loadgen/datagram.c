/* datagram.c - the transport of --udp: each message is one datagram on a
 * connected UDP socket, and UDP may lose, duplicate or reorder it.  So a
 * reply is matched by what it says, not by where it comes in a stream: its
 * first 8 bytes are a per-socket sequence number, the rest is the pattern
 * (pattern.h) at the offset that datagram would have had in a TCP stream,
 * and every byte is checked.  A datagram without a reply within --timeout
 * is lost: counted and put in the tail like a lost TCP message, but its
 * socket goes on.  The connect phase's probe is datagram PROBE_SEQ, outside
 * the ring; the messages follow it from PROBE_SEQ + 1.  The same calls in
 * the same order as stream.c. */
#include "datagram.h"
#include "clock.h"
#include "pattern.h"

#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define SEQ_BYTES        MIN_UDP_SIZE            /* big-endian, at the start */
#define PROBE_RESEND_NS  (200 * 1000000ull)      /* an unanswered probe again */

/* Where the pattern of datagram seq starts, after its sequence number. */
static uint64_t payload_offset(const struct conn_set *set, const struct conn *c,
			       uint64_t seq)
{
	return c->base + seq * set->opt->size + SEQ_BYTES;
}

/* The slot of sequence number seq is ring[seq % pipeline], so that a reply
 * finds its message at once, in whatever order replies come.  Numbers
 * rise; one whose slot still waits for an earlier datagram (late, or lost
 * and not yet given up) is skipped and never sent.  The caller has room,
 * so some slot is free. */
static bool issue(struct conn_set *set, struct conn *c, uint64_t intended_ns, uint64_t now)
{
	unsigned depth = set->opt->pipeline;
	while (c->ring[c->queued % depth].waiting)
		c->queued++;
	struct inflight *m = &c->ring[c->queued % depth];
	m->seq = c->queued++;
	conn_book(set, c, m, intended_ns, now);
	return true;
}

/* Nothing listening sends an ICMP port unreachable, which the connected
 * socket reports as ECONNREFUSED on its next send or recv. */
static void socket_error(struct conn_set *set, struct conn *c, const char *call)
{
	if (errno == ECONNREFUSED)
		conn_fail(set, c, "%s on UDP socket %u: connection refused: nothing listens on "
			  "UDP %s (does the server serve --udp?)", call, c->id,
			  set->opt->target.text);
	else
		conn_fail(set, c, "%s on UDP socket %u: %s", call, c->id, strerror(errno));
}

/* One datagram, the sequence number and the pattern gathered by sendmsg
 * without a copy. */
static ssize_t send_datagram(struct conn_set *set, struct conn *c, uint64_t seq)
{
	uint64_t seq_be = htobe64(seq);
	struct iovec iov[2] = {
		{ .iov_base = &seq_be, .iov_len = SEQ_BYTES },
		{ .iov_base = (void *)pattern_at(payload_offset(set, c, seq)),
		  .iov_len = set->opt->size - SEQ_BYTES },
	};
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	return sendmsg(c->fd, &msg, 0);
}

/* Send every datagram issued and not sent yet, in order.  Over loopback
 * the send buffer hardly ever fills (a datagram leaves it when it is handed
 * to the loopback device); if it does, wait for EPOLLOUT as over TCP.
 * ENOBUFS is the kernel dropping it on the way out: it goes unanswered and
 * is lost like any other. */
static void flush(struct conn_set *set, struct conn *c)
{
	while (c->sent < c->queued) {
		uint64_t seq = c->sent;
		const struct inflight *m = &c->ring[seq % set->opt->pipeline];
		bool issued = m->waiting && m->seq == seq;     /* not skipped or given up */
		if (issued && send_datagram(set, c, seq) < 0 && errno != ENOBUFS) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				conn_want_write(set, c, true);
				return;
			}
			socket_error(set, c, "send");
			return;
		}
		c->sent++;
	}
	conn_want_write(set, c, false);
}

/* The probe, sent again while it is unanswered (every PROBE_RESEND_NS):
 * a datagram may be lost, and one lost probe must not hold the connect
 * phase until --probe-wait is over.  So it may be answered more than
 * once; match_reply() takes the first answer and lets the others be.  A
 * send that fails for want of buffer space is a probe lost like any. */
static void probe(struct conn_set *set, struct conn *c)
{
	c->queued = c->sent = PROBE_SEQ + 1;
	if (send_datagram(set, c, PROBE_SEQ) < 0 && errno != EAGAIN && errno != ENOBUFS &&
	    errno != EINTR)
		socket_error(set, c, "send");
}

/* Datagram seq's pattern checked; false after the error if a byte is wrong. */
static bool check_payload(struct conn_set *set, struct conn *c, uint64_t seq)
{
	unsigned size = set->opt->size;
	uint64_t offset = payload_offset(set, c, seq);
	size_t bad = pattern_check(set->rbuf + SEQ_BYTES, size - SEQ_BYTES, offset);
	if (bad == size - SEQ_BYTES)
		return true;
	results_error(&set->results, "wrong byte in the reply to datagram %llu on UDP socket "
		      "%u at byte %zu: expected 0x%02x, got 0x%02x: data corrupted",
		      (unsigned long long)seq, c->id, SEQ_BYTES + bad, *pattern_at(offset + bad),
		      set->rbuf[SEQ_BYTES + bad]);
	return false;
}

/* The message that a reply of n bytes in set->rbuf answers, or NULL if it
 * is not the correct answer to a datagram in flight: an error, which
 * changes nothing else, so the datagram it should have answered still
 * waits for its reply and is lost if none comes.  NULL also for an
 * answer to the probe, which is no message: its first answer is noted. */
static struct inflight *match_reply(struct conn_set *set, struct conn *c, size_t n)
{
	unsigned size = set->opt->size;
	if (n != size) {
		results_error(&set->results, "reply of %zu bytes on UDP socket %u, expected %u: "
			      "data corrupted or truncated", n, c->id, size);
		return NULL;
	}
	uint64_t seq_be;
	memcpy(&seq_be, set->rbuf, SEQ_BYTES);
	uint64_t seq = be64toh(seq_be);
	if (seq == PROBE_SEQ && c->probed) {
		if (check_payload(set, c, seq) && c->probe_waiting)
			conn_probe_answered(set, c);
		return NULL;
	}
	struct inflight *m = &c->ring[seq % set->opt->pipeline];
	if (!m->waiting || m->seq != seq) {
		results_error(&set->results, "reply to datagram %llu on UDP socket %u, which is "
			      "not in flight: duplicated, later than --timeout, or its sequence "
			      "number corrupted", (unsigned long long)seq, c->id);
		return NULL;
	}
	return check_payload(set, c, seq) ? m : NULL;
}

/* One datagram per wakeup, like one recv per wakeup over TCP: what is
 * left in the socket makes epoll_wait report it again. */
static void on_readable(struct conn_set *set, struct conn *c)
{
	ssize_t n = recv(c->fd, set->rbuf, RECV_BYTES, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		socket_error(set, c, "recv");
		return;
	}
	uint64_t now = now_ns();        /* the reply's arrival, as close as we can */
	struct inflight *m = match_reply(set, c, (size_t)n);
	if (m)
		conn_reply_done(set, c, m, now);
	if (c->state == CONN_OPEN && c->sent < c->queued)
		flush(set, c);
}

/* A datagram without a reply for --timeout after it was sent is lost.  UDP
 * loses datagrams by design, so that is not the socket's end: its slot goes
 * to the next message as a reply's would. */
static void check_timeouts(struct conn_set *set, struct conn *c, uint64_t now)
{
	uint64_t limit = (uint64_t)(set->opt->reply_timeout_s * NS_PER_S);
	if (c->state != CONN_OPEN || c->ring_count == 0 || now < limit)
		return;
	for (unsigned lost = conn_give_up(set, c, now - limit, now); lost > 0; lost--)
		set->place_free(set, c, now);
	if (c->sent < c->queued)
		flush(set, c);
}

const struct transport dgram_transport = {
	.issue = issue,
	.flush = flush,
	.probe = probe,
	.probe_resend_ns = PROBE_RESEND_NS,
	.on_readable = on_readable,
	.on_connected = NULL,           /* connected before the run */
	.check_timeouts = check_timeouts,
};
