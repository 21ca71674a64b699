/* per_request.c - --connect-per-request: every message on a fresh connection
 * (connect, send, receive, close), the UNP ch. 30 way of measuring what a
 * server's connection setup costs.  Each of the --conns slots runs one
 * transaction at a time.  Two latencies: connect (connect() until the
 * socket is writable, i.e. the handshake is done) and the whole
 * transaction (connect() until the last echoed byte). */
#include "loadgen.h"
#include "pattern.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

static void cpr_connected(struct worker *w, struct conn *c, uint64_t now)
{
	if (c->connect_start_ns >= w->sched->warm_end)
		hist_record(&w->results.connect, now - c->connect_start_ns);
	w->results.connects++;
	conn_issue(w, c, c->connect_start_ns, now);
	conn_flush(w, c);
}

/* The transaction is lost: in the latency and in the connect histogram,
 * as having taken at least the time it waited for the handshake. */
static void cpr_connect_failed(struct worker *w, struct conn *c, int err)
{
	uint64_t now = now_ns();
	if (c->connect_start_ns >= w->sched->warm_end) {
		record_lost(w, c->connect_start_ns, c->connect_start_ns, now);
		hist_record(&w->results.connect, now - c->connect_start_ns);
	}
	char text[ERROR_BYTES];
	connect_error_text(text, sizeof(text), w->opt, err, (unsigned)w->results.connects);
	conn_fail(w, c, "%s", text);
}

/* Start the slot's next transaction, if the schedule allows one. */
void cpr_start(struct worker *w, struct conn *c, uint64_t now)
{
	if (!claim_message(w, now))
		return;
	/* A fresh stream offset per connection, so that a server answering
	 * with another connection's bytes is caught. */
	c->base = pattern_base(c->id, ++c->transactions);
	c->queued = c->sent = c->received = c->completed = 0;
	c->ring_head = c->ring_count = 0;
	c->connect_start_ns = now;
	int r = conn_connect(w, c);
	if (r == CONNECT_DONE) {
		cpr_connected(w, c, now_ns());
	} else if (r == CONNECT_PENDING) {
		w->connecting++;
	} else if (r == CONNECT_RETRY) {
		c->state = CONN_RETRY;  /* Unix backlog full: again in 1 ms */
		w->retrying++;
		w->issued_measured -= now >= w->sched->warm_end;
	} else {
		cpr_connect_failed(w, c, -r);
	}
}

/* EPOLLOUT on a connecting socket: the handshake finished, or failed. */
void cpr_on_writable(struct worker *w, struct conn *c)
{
	uint64_t now = now_ns();
	int err = conn_connect_result(w, c);
	if (err) {
		cpr_connect_failed(w, c, err);  /* also drops the connecting count */
		return;
	}
	w->connecting--;
	cpr_connected(w, c, now);
}

void cpr_retry_pending(struct worker *w, uint64_t now)
{
	for (unsigned i = 0; i < w->nactive && w->retrying > 0; i++) {
		struct conn *c = &w->conns[i];
		if (c->state != CONN_RETRY)
			continue;
		c->state = CONN_CLOSED;
		w->retrying--;
		cpr_start(w, c, now);
	}
}

void cpr_check_timeout(struct worker *w, struct conn *c, uint64_t now)
{
	if (now - c->connect_start_ns > (uint64_t)(w->opt->connect_timeout_s * NS_PER_S))
		cpr_connect_failed(w, c, ETIMEDOUT);
}
