/* uring-multishot.c - io_uring as it is run for networking: one receive per
 * client that keeps completing, into buffers the kernel picks.
 *
 * uring.c queues a receive for every message, into the client's own
 * buffer.  This is the same server with what the people who serve networks
 * with io_uring do instead (liburing's "io_uring and networking in 2023"):
 *   multishot receive   one receive per client, armed at accept, completes
 *                       for every message and stays armed
 *                       (IORING_CQE_F_MORE)
 *   provided buffers    each completion names a buffer the kernel took from
 *                       a ring of them the server registered (a buffer
 *                       group); it goes back to the ring once its echo is
 *                       sent, so memory follows the data in flight, not
 *                       the clients: --bufsize bytes a buffer, as many
 *                       buffers as fit in BUFS_BYTES, shared by all
 *   SINGLE_ISSUER |     the kernel completes requests when the server
 *   DEFER_TASKRUN       asks (io_uring_enter with GETEVENTS), not by
 *                       interrupting it whenever one is ready
 * What a shared ring makes hard, done here:
 *   backpressure        a receive that completes while the client's echo
 *                       is still pending is cancelled, and armed again
 *                       once the echo is out: a client that does not read
 *                       holds what its receive took before the cancel
 *                       landed (here up to 99 buffers), not the ring
 *   ENOBUFS             the ring is empty: that receive ends, the bytes
 *                       wait in the socket, and it is armed again when
 *                       buffers come back
 *   closing             a client's receive and send may both be in
 *                       flight; it is closed when neither is
 * Not used: receive bundles (one completion over several buffers: a
 * message of up to --bufsize fills one), registered files, SQPOLL.
 * Cost per enter: O(requests submitted and completed), and no request per
 * message but the send.  Limit: RLIMIT_NOFILE; clients that do not read
 * can hold every buffer between them, and then the others wait.
 * Linux 6.1 (DEFER_TASKRUN), io_uring allowed.
 * Used by: liburing's examples/proxy.c, and servers modelled on it.
 *
 * Beside uring.c (a receive per message becomes one per client): uring
 * queues a receive for every message, into the client's own buffer. Here
 * `queue_recv()` arms a multishot receive once, at accept: it completes
 * for every message and stays armed while `IORING_CQE_F_MORE` says so, and
 * each completion names a buffer the kernel took from a ring the server
 * registered at start (`bufs_init()`); `buf_return()` puts it back once
 * its echo is sent. A client owns no buffer, so its echo becomes a list of
 * ring buffers (`echo_push()`, `echo_pop()`), and what was one request at
 * a time gets states: a receive that completes while an echo is pending is
 * cancelled (`queue_stop_recv()`), one that ends for want of buffers
 * (ENOBUFS) waits for `buf_return()`, and `conn_next()` closes a client
 * only once nothing of it is in flight. `state_init()` adds two setup
 * flags, SINGLE_ISSUER and DEFER_TASKRUN: the kernel completes requests
 * when the server waits for them, not whenever they are ready.
 */
#include <errno.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "core.h"

#define BUFS_BYTES (8 << 20)  /* the shared buffers, whatever the clients */
#define BUFS_MIN   8          /* buffers, whatever --bufsize */
#define BUFS_MAX   32768      /* the most a buffer ring may have */
#define BUF_GROUP  0          /* the ring's id, which receives name */

/* What a completion is about, beside the core's own requests. */
enum kind { RECV = URING_BACKEND_KIND, SEND, STOP_RECV };

/* One connection, indexed by its fd.  Its receive, a cancel of it and its
 * send may be in flight at once, or nothing (waiting for a buffer). */
struct conn {
	bool open;
	bool receiving;  /* its receive is armed: more completions may come */
	bool stopping;   /* a cancel of its receive is in flight */
	bool sending;
	bool starved;    /* its receive ended for want of a buffer */
	bool done;       /* no more input (EOF, error): close once idle */
	int first, last; /* buffers received, not yet echoed (-1: none) */
	unsigned off;    /* bytes of the first already sent */
};

static struct {
	struct conn *conns;            /* fd_capacity entries */
	struct io_uring_buf_ring *ring; /* the free buffers, for the kernel */
	char *bufs;                    /* nbufs buffers of --bufsize bytes */
	unsigned nbufs;
	int *next;                     /* per buffer: the next of its client's */
	unsigned *len;                 /* per buffer: bytes received into it */
	int *starved, nstarved;        /* clients waiting for a buffer */
} state;

static void conn_next(int fd, struct conn *c);

/* ---- The shared buffers ---- */

static char *buf_at(int bid)
{
	return state.bufs + (size_t)bid * opt.bufsize;
}

/* Put buffer bid back in the ring, where the kernel may take it; then the
 * clients whose receive ended for want of one receive again. */
static void buf_return(int bid)
{
	__u16 tail = state.ring->tail;
	struct io_uring_buf *b = &state.ring->bufs[tail & (state.nbufs - 1)];

	b->addr = (__u64)(uintptr_t)buf_at(bid);
	b->len = (__u32)opt.bufsize;
	b->bid = (__u16)bid;
	__atomic_store_n(&state.ring->tail, tail + 1, __ATOMIC_RELEASE);
	while (state.nstarved > 0 && !stop_requested) {
		int fd = state.starved[--state.nstarved];

		state.conns[fd].starved = false;
		conn_next(fd, &state.conns[fd]);
	}
}

/* A client's echo is a list of buffers, in the order they came. */
static void echo_push(struct conn *c, int bid, unsigned len)
{
	state.next[bid] = -1;
	state.len[bid] = len;
	if (c->first < 0)
		c->first = bid;
	else
		state.next[c->last] = bid;
	c->last = bid;
}

static void echo_pop(struct conn *c)
{
	int bid = c->first;

	c->first = state.next[bid];
	c->off = 0;
	buf_return(bid);
}

/* ---- Requests ---- */

/* One receive for every message to come: no buffer named, the kernel
 * takes one from BUF_GROUP for each completion. */
static void queue_recv(int fd, struct conn *c)
{
	struct io_uring_sqe *sqe = ring_queue(fd, RECV, IORING_OP_RECV);

	sqe->ioprio = IORING_RECV_MULTISHOT;
	sqe->flags = IOSQE_BUFFER_SELECT;
	sqe->buf_group = BUF_GROUP;
	c->receiving = true;
}

/* Send what is pending of the first buffer; its completion says how much
 * went. */
static void conn_send_pending(int fd, struct conn *c)
{
	struct io_uring_sqe *sqe = ring_queue(fd, SEND, IORING_OP_SEND);

	sqe->addr = (__u64)(uintptr_t)(buf_at(c->first) + c->off);
	sqe->len = state.len[c->first] - c->off;
	sqe->msg_flags = MSG_NOSIGNAL;
	c->sending = true;
}

/* The receive ends with a completion of its own (-ECANCELED), after
 * those it had posted. */
static void queue_stop_recv(int fd, struct conn *c)
{
	ring_queue(fd, STOP_RECV, IORING_OP_ASYNC_CANCEL)->addr = ring_user_data(fd, RECV);
	c->stopping = true;
}

/* ---- A connection ---- */

static void conn_close(int fd, struct conn *c)
{
	while (c->first >= 0)
		echo_pop(c);
	*c = (struct conn){ 0 };
	ring_client_close(fd);
}

static void conn_open(int fd)
{
	struct conn *c = &state.conns[fd];

	*c = (struct conn){ .open = true, .first = -1, .last = -1 };
	queue_recv(fd, c);
}

/* After each completion of fd: once nothing of it is in flight, a client
 * that is done is closed, and one whose echo is out receives again. */
static void conn_next(int fd, struct conn *c)
{
	bool idle = !c->receiving && !c->stopping && !c->sending;

	if (c->done || stop_requested) {
		if (idle)
			conn_close(fd, c);
		else if (c->receiving && !c->stopping && !stop_requested)
			queue_stop_recv(fd, c);
	} else if (idle && c->first < 0 && !c->starved)
		queue_recv(fd, c);
}

/* LAB: received */
/* A receive completed into a buffer the kernel picked, and stays armed
 * while IORING_CQE_F_MORE says so.  If an echo was already pending, stop
 * it: a client that does not read must not take every buffer. */
static void conn_on_recv(int fd, struct conn *c, const struct io_uring_cqe *cqe)
{
	int bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
	bool pending = c->first >= 0;

	if (!(cqe->flags & IORING_CQE_F_MORE))
		c->receiving = false;
	if (cqe->res > 0 && !c->done) {
		echo_push(c, bid, (unsigned)cqe->res);
		if (pending && c->receiving && !c->stopping)
			queue_stop_recv(fd, c);
		else if (!pending && !stop_requested)
			conn_send_pending(fd, c);
	} else if (cqe->flags & IORING_CQE_F_BUFFER) {
		buf_return(bid);  /* nothing in it, or nobody to echo it to */
	}
	if (cqe->res == -ENOBUFS && !pending) {
		c->starved = true;  /* until a buffer comes back */
		state.starved[state.nstarved++] = fd;
	} else if (cqe->res <= 0 && cqe->res != -ENOBUFS && cqe->res != -ECANCELED)
		c->done = true;     /* 0: the client is done sending */
	conn_next(fd, c);
}
/* LAB: end */

static void conn_on_send(int fd, struct conn *c, int res)
{
	c->sending = false;
	if (res < 0) {  /* EPIPE, ECONNRESET, ECANCELED */
		while (c->first >= 0)
			echo_pop(c);
		c->done = true;
	} else {
		count_echoed((size_t)res);
		c->off += (unsigned)res;
		if (c->off == state.len[c->first])
			echo_pop(c);
		if (c->first >= 0 && !stop_requested)
			conn_send_pending(fd, c);
	}
	conn_next(fd, c);
}

/* LAB: wait */
/* The one blocking call: submit every request queued this round, then
 * sleep until the kernel has completed one.  With DEFER_TASKRUN this is
 * also where the kernel does the work of the receives that data woke. */
static void wait_ready(void)
{
	if (ring_enter(1) < 0 && errno != EINTR)
		die("io_uring_enter: %s", strerror(errno));
}
/* LAB: end */

static void on_completion(int fd, unsigned kind, const struct io_uring_cqe *cqe)
{
	struct conn *c = &state.conns[fd];

	if (kind == RECV)
		conn_on_recv(fd, c, cqe);
	else if (kind == SEND)
		conn_on_send(fd, c, cqe->res);
	else {
		c->stopping = false;  /* the cancel is done */
		conn_next(fd, c);
	}
}

static const struct completions completions = {
	.on_client = conn_open, .on_completion = on_completion,
};

/* nbufs buffers of --bufsize bytes, as many as fit in BUFS_BYTES (a power
 * of two, as the kernel wants), all in the ring, which the kernel learns
 * of as buffer group BUF_GROUP.  Pages are touched only as data comes. */
static void bufs_init(void)
{
	size_t n = BUFS_BYTES / opt.bufsize;
	struct io_uring_buf_reg reg = { .bgid = BUF_GROUP };

	n = n < BUFS_MIN ? BUFS_MIN : n > BUFS_MAX ? BUFS_MAX : n;
	while (n & (n - 1))
		n &= n - 1;
	state.nbufs = (unsigned)n;
	state.ring = mmap(NULL, n * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	state.bufs = mmap(NULL, n * opt.bufsize, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (state.ring == MAP_FAILED || state.bufs == MAP_FAILED)
		die("mmap of %zu buffers of %zu bytes: %s", n, opt.bufsize, strerror(errno));
	state.next = xcalloc(n, sizeof *state.next);
	state.len = xcalloc(n, sizeof *state.len);
	reg.ring_addr = (__u64)(uintptr_t)state.ring;
	reg.ring_entries = (__u32)n;
	if (ring_register(IORING_REGISTER_PBUF_RING, &reg, 1) < 0)
		die("io_uring is unavailable here: IORING_REGISTER_PBUF_RING: %s "
		    "(Linux 5.19 or later needed)", strerror(errno));
	for (int bid = 0; bid < (int)n; bid++)
		buf_return(bid);
}

static void state_init(int lfd)
{
	ring_init(lfd, IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, &completions);
	state.conns = xcalloc(fd_capacity, sizeof *state.conns);
	state.starved = xcalloc(fd_capacity, sizeof *state.starved);
	bufs_init();
}

/* The core cancels whatever is in flight and collects it all, which closes
 * every client that had a request in flight; then those waiting for a
 * buffer.  No request can still touch a buffer. */
static void stop_all(void)
{
	ring_stop();
	for (int fd = 0; fd < fd_capacity; fd++)
		if (state.conns[fd].open)
			conn_close(fd, &state.conns[fd]);
	free(state.conns);
	free(state.starved);
	free(state.next);
	free(state.len);
	munmap(state.bufs, state.nbufs * opt.bufsize);
	munmap(state.ring, state.nbufs * sizeof(struct io_uring_buf));
}

/* LAB: run */
static void backend_run(int lfd)
{
	state_init(lfd);
	server_ready();
	while (!stop_requested) {
		wait_ready();

		/* The answer is the requests done, each with its result. */
		ring_reap();
	}
	stop_all();
}
/* LAB: end */

const struct backend backend = {
	.name = BACKEND_NAME,
	.run = backend_run,
	.model = "io_uring as its networking users run it: multishot receive into a shared buffer ring",
	.family = COMPLETION,
	.order = 9,
	.beside = "uring",
	.idea = "a receive per message becomes one per client",
	.variant_of = "uring",
	.per_client = PER_CLIENT_NOTHING,
};
