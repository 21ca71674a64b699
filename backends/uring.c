/* uring.c - io_uring: hand the kernel the I/O itself, collect the results.
 *
 * The readiness backends ask which fds are *ready*, then read and write.
 * Here the server queues the receives and sends themselves as submission
 * queue entries, and later reads their results as completion queue
 * entries, in two rings it shares with the kernel.  One io_uring_enter()
 * submits everything queued and waits for a completion, so with many
 * clients one syscall carries many messages.  core-completion.c maps the rings,
 * accepts (one multishot accept for every client) and stops; this file is
 * what happens to one client's bytes:
 *   recv, then send     one request in flight per client: receive, send the
 *                       echo (again while partial), receive again; that is
 *                       the backpressure
 *   batching            all requests queued in a round go in one enter
 * This is the plain version.  uring-multishot.c is the way io_uring is run
 * for networking: a multishot receive into buffers the kernel picks from a
 * shared ring, and completions taken only when the server asks.  Here each
 * receive names its buffer, so each client owns --bufsize bytes from
 * accept on, idle or not (the readiness loops read every client into one
 * buffer, when it has data).
 * Cost per enter: O(requests submitted and completed).  Limit: RLIMIT_NOFILE;
 * Linux 5.19, and io_uring allowed (kernel.io_uring_disabled, seccomp).
 * Used by: Seastar/ScyllaDB, TigerBeetle, tokio-uring, QEMU's block layer.
 *
 * Beside epoll.c (readiness becomes completion): The longest diff here,
 * because the idea is the biggest change: epoll asks which fds are ready
 * and lets the core read and write; uring queues the accepts, receives and
 * sends themselves on a submission ring shared with the kernel and
 * collects their results from a completion ring, one `io_uring_enter()`
 * for everything queued (`wait_ready()`). It does its own I/O, so
 * `watch()` and its kin become `queue_recv()` and `conn_send_pending()`,
 * and the loop hands each completion to `conn_on_recv()` or
 * `conn_on_send()` through `ring_reap()` instead of each ready fd to
 * `loop_on_ready()`. The rings' mapping, the accept and the stop are in
 * `core-completion.c`, as accepting is in `core-readiness.c` for epoll.
 */
#include <errno.h>
#include <linux/io_uring.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core.h"

/* What a completion is about, beside the core's own requests. */
enum kind { RECV = URING_BACKEND_KIND, SEND };

/* One connection, indexed by its fd.  A request of it is always in flight. */
struct conn {
	bool open;
	char *buf;      /* --bufsize bytes, from accept on */
	size_t off;     /* first byte of the echo not yet sent */
	size_t len;     /* bytes of the echo not yet sent */
};

static struct {
	struct conn *conns;    /* fd_capacity entries */
} state;

/* ---- Requests ---- */

/* A receive names its buffer: the client's own. */
static void queue_recv(int fd, struct conn *c)
{
	struct io_uring_sqe *sqe = ring_queue(fd, RECV, IORING_OP_RECV);

	sqe->addr = (__u64)(uintptr_t)c->buf;
	sqe->len = (__u32)opt.bufsize;
}

/* Send what is pending; its completion says how much went. */
static void conn_send_pending(int fd, struct conn *c)
{
	struct io_uring_sqe *sqe = ring_queue(fd, SEND, IORING_OP_SEND);

	sqe->addr = (__u64)(uintptr_t)(c->buf + c->off);
	sqe->len = (__u32)c->len;
	sqe->msg_flags = MSG_NOSIGNAL;
}

/* ---- A connection ---- */

static void conn_close(int fd, struct conn *c)
{
	free(c->buf);
	*c = (struct conn){ 0 };
	ring_client_close(fd);
}

static void conn_open(int fd)
{
	struct conn *c = &state.conns[fd];

	*c = (struct conn){ .open = true, .buf = calloc(1, opt.bufsize) };
	if (!c->buf) {
		client_refuse("no memory for its %zu-byte buffer", opt.bufsize);
		conn_close(fd, c);
		return;
	}
	queue_recv(fd, c);
}

/* LAB: received */
/* A receive is done: send what it got.  Nothing more is received from
 * this client until the echo is out. */
static void conn_on_recv(int fd, struct conn *c, const struct io_uring_cqe *cqe)
{
	if (cqe->res <= 0 || stop_requested) {  /* 0: the client is done sending */
		conn_close(fd, c);
		return;
	}
	c->off = 0;
	c->len = (size_t)cqe->res;
	conn_send_pending(fd, c);
}
/* LAB: end */

static void conn_on_send(int fd, struct conn *c, int res)
{
	if (res < 0) {  /* EPIPE, ECONNRESET, ECANCELED */
		conn_close(fd, c);
		return;
	}
	count_echoed((size_t)res);
	c->off += (size_t)res;
	c->len -= (size_t)res;
	if (stop_requested)
		conn_close(fd, c);
	else if (c->len > 0)
		conn_send_pending(fd, c);
	else
		queue_recv(fd, c);
}

/* LAB: wait */
/* The one blocking call: submit every request queued this round, then
 * sleep until the kernel has completed one. */
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
	else
		conn_on_send(fd, c, cqe->res);
}

static const struct completions completions = {
	.on_client = conn_open, .on_completion = on_completion,
};

static void state_init(int lfd)
{
	ring_init(lfd, 0, &completions);
	state.conns = xcalloc(fd_capacity, sizeof *state.conns);
}

/* The core cancels whatever is in flight and collects it all, which closes
 * every client here: then no request can still touch a buffer. */
static void stop_all(void)
{
	ring_stop();
	free(state.conns);
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
	.model = "io_uring: a receive, then a send, per message, each client's own buffer",
	.family = COMPLETION,
	.order = 8,
	.beside = "epoll",
	.idea = "readiness becomes completion",
};
