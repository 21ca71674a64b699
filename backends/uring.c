/* uring.c - io_uring: hand the kernel the I/O itself, collect the results.
 *
 * The other event backends ask which fds are *ready*, then read and write.
 * Here the server queues the accepts, receives and sends themselves as
 * submission queue entries, and later reads their results as completion
 * queue entries, in two rings it shares with the kernel.  One
 * io_uring_enter() submits everything queued and waits for a completion,
 * so with many clients one syscall carries many messages.
 * What it uses, through the raw system calls (no liburing):
 *   multishot accept    one request accepts every client (Linux 5.19)
 *   recv, then send     one request in flight per client: receive, send the
 *                       echo (again while partial), receive again; that is
 *                       the backpressure
 *   poll on a signalfd  a stop signal is one more completion
 *   batching            all requests queued in a round go in one enter
 * Not used: provided buffers (a receive must name its buffer, so each
 * client owns --bufsize bytes from accept on, idle or not, where the
 * readiness loops allocate at the first read), multishot receive (needs
 * provided buffers), registered files, SQPOLL (a kernel thread polling the
 * ring: a CPU for fewer syscalls).
 * Cost per enter: O(requests submitted and completed).  Limit: RLIMIT_NOFILE;
 * Linux 5.19, and io_uring allowed (kernel.io_uring_disabled, seccomp).
 * Used by: Seastar/ScyllaDB, TigerBeetle, tokio-uring, QEMU's block layer. */
#include <errno.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core.h"

#define SQ_ENTRIES 1024     /* requests queued before an enter must submit */
#define CQ_ENTRIES 65536    /* completions the kernel can post before we reap */

/* What a completion is about: its user_data is fd << 3 | kind. */
enum kind { ACCEPT, RECV, SEND, STOP, RETRY, CANCEL };

struct client {
	bool open;
	char *buf;      /* --bufsize bytes, from accept on */
	size_t off;     /* first byte of the echo not yet sent */
	size_t len;     /* bytes of the echo not yet sent */
};

static struct {
	int fd;                          /* the ring */
	unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
	struct io_uring_sqe *sqes;
	unsigned sq_entries, queued;     /* queued: not yet submitted */
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
	unsigned inflight;               /* submitted, final completion not in */
	struct client *clients;          /* fd_capacity entries */
	int lfd, sigfd;
	bool accept_paused;              /* out of fds: re-armed when one closes */
	struct __kernel_timespec retry;  /* out of fds, nobody to serve: wait */
} ring;

/* ---- The rings ---- */

static void *map_ring(size_t size, off_t offset)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		       ring.fd, offset);

	if (p == MAP_FAILED)
		die("mmap of the io_uring rings: %s", strerror(errno));
	return p;
}

static void ring_init(void)
{
	struct io_uring_params p = { .flags = IORING_SETUP_CQSIZE, .cq_entries = CQ_ENTRIES };
	char *sq, *cq;

	ring.fd = (int)syscall(__NR_io_uring_setup, SQ_ENTRIES, &p);
	if (ring.fd < 0)
		die("io_uring is unavailable here: io_uring_setup: %s (see "
		    "/proc/sys/kernel/io_uring_disabled, or a seccomp filter)", strerror(errno));
	if (!(p.features & IORING_FEAT_SINGLE_MMAP) || !(p.features & IORING_FEAT_NODROP))
		die("io_uring is unavailable here: too old (Linux 5.19 or later needed)");
	sq = map_ring(p.sq_off.array + p.sq_entries * sizeof(unsigned), IORING_OFF_SQ_RING);
	cq = sq;  /* IORING_FEAT_SINGLE_MMAP: one mapping holds both rings */
	ring.sq_head = (unsigned *)(sq + p.sq_off.head);
	ring.sq_tail = (unsigned *)(sq + p.sq_off.tail);
	ring.sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
	ring.sq_array = (unsigned *)(sq + p.sq_off.array);
	ring.sq_entries = p.sq_entries;
	ring.sqes = map_ring(p.sq_entries * sizeof(struct io_uring_sqe), IORING_OFF_SQES);
	if (p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe) >
	    p.sq_off.array + p.sq_entries * sizeof(unsigned))
		cq = map_ring(p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe),
			      IORING_OFF_CQ_RING);
	ring.cq_head = (unsigned *)(cq + p.cq_off.head);
	ring.cq_tail = (unsigned *)(cq + p.cq_off.tail);
	ring.cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
	ring.cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
}

/* The one blocking call: submit what is queued, wait for a completion. */
static void submit_and_wait(unsigned min_complete)
{
	int n = (int)syscall(__NR_io_uring_enter, ring.fd, ring.queued, min_complete,
			     min_complete ? IORING_ENTER_GETEVENTS : 0, NULL, 0);

	if (n < 0 && errno != EINTR)
		die("io_uring_enter: %s", strerror(errno));
	if (n > 0)
		ring.queued -= (unsigned)n;
}

/* A zeroed entry at the tail of the submission ring, submitting first if
 * the ring is full.  The kernel sees it at the next enter. */
static struct io_uring_sqe *queue(int fd, enum kind kind, int opcode)
{
	unsigned tail = *ring.sq_tail, index;
	struct io_uring_sqe *sqe;

	if (tail - __atomic_load_n(ring.sq_head, __ATOMIC_ACQUIRE) == ring.sq_entries)
		submit_and_wait(0);
	index = tail & *ring.sq_mask;
	sqe = &ring.sqes[index];
	memset(sqe, 0, sizeof *sqe);
	sqe->opcode = (__u8)opcode;
	sqe->fd = fd;
	sqe->user_data = (__u64)fd << 3 | kind;
	ring.sq_array[index] = index;
	__atomic_store_n(ring.sq_tail, tail + 1, __ATOMIC_RELEASE);
	ring.queued++;
	ring.inflight++;
	return sqe;
}

/* ---- Requests ---- */

static void queue_accept(void)
{
	struct io_uring_sqe *sqe = queue(ring.lfd, ACCEPT, IORING_OP_ACCEPT);

	sqe->ioprio = IORING_ACCEPT_MULTISHOT;
	sqe->accept_flags = SOCK_CLOEXEC;
}

static void queue_recv(int fd)
{
	struct io_uring_sqe *sqe = queue(fd, RECV, IORING_OP_RECV);

	sqe->addr = (__u64)(uintptr_t)ring.clients[fd].buf;
	sqe->len = (__u32)opt.bufsize;
}

static void queue_send(int fd)
{
	struct client *c = &ring.clients[fd];
	struct io_uring_sqe *sqe = queue(fd, SEND, IORING_OP_SEND);

	sqe->addr = (__u64)(uintptr_t)(c->buf + c->off);
	sqe->len = (__u32)c->len;
	sqe->msg_flags = MSG_NOSIGNAL;
}

/* Completes when the signalfd turns readable: a stop signal is pending. */
static void queue_stop_poll(void)
{
	queue(ring.sigfd, STOP, IORING_OP_POLL_ADD)->poll32_events = POLLIN;
}

static void queue_retry_timer(void)
{
	struct io_uring_sqe *sqe = queue(-1, RETRY, IORING_OP_TIMEOUT);

	ring.retry = (struct __kernel_timespec){ .tv_nsec = ACCEPT_RETRY_MS * 1000000L };
	sqe->addr = (__u64)(uintptr_t)&ring.retry;
	sqe->len = 1;
}

/* Every request still in flight completes, -ECANCELED or with its result. */
static void queue_cancel_all(void)
{
	queue(-1, CANCEL, IORING_OP_ASYNC_CANCEL)->cancel_flags =
		IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_ANY;
}

/* ---- Completions ---- */

static void client_close(int fd)
{
	struct client *c = &ring.clients[fd];

	free(c->buf);
	*c = (struct client){ 0 };
	session_end(fd);
	if (ring.accept_paused && !stop_requested) {  /* an fd is free again */
		ring.accept_paused = false;
		queue_accept();
	}
}

static void on_client(int fd)
{
	struct client *c = &ring.clients[fd];

	if (stop_requested) {  /* a client that came after the stop */
		close(fd);
		return;
	}
	if (!client_admit(fd))
		return;
	*c = (struct client){ .open = true, .buf = calloc(1, opt.bufsize) };
	if (!c->buf) {
		conn_refuse("no memory for its %zu-byte buffer", opt.bufsize);
		*c = (struct client){ 0 };
		session_end(fd);
		return;
	}
	queue_recv(fd);
}

/* res: a new client's fd, or -errno.  more: the request is still armed. */
static void on_accept(int res, bool more)
{
	if (res >= 0)
		on_client(res);
	else if (res == -EINVAL && !stop_requested)
		die("io_uring is unavailable here: multishot accept refused "
		    "(Linux 5.19 or later needed)");
	else if (accept_starved(-res) && !stop_requested) {
		if (clients_live() == 0)
			queue_retry_timer();  /* then accept again */
		else
			ring.accept_paused = true;
		return;
	} else if (res != -ECANCELED && res != -ECONNABORTED && !stop_requested)
		note("accept: %s", strerror(-res));
	if (!more && !stop_requested)
		queue_accept();
}

static void on_recv(int fd, int res)
{
	struct client *c = &ring.clients[fd];

	if (res <= 0 || stop_requested) {  /* 0: the client is done sending */
		client_close(fd);
		return;
	}
	c->off = 0;
	c->len = (size_t)res;
	queue_send(fd);
}

static void on_send(int fd, int res)
{
	struct client *c = &ring.clients[fd];

	if (res < 0) {  /* EPIPE, ECONNRESET, ECANCELED */
		client_close(fd);
		return;
	}
	count_echoed((size_t)res);
	c->off += (size_t)res;
	c->len -= (size_t)res;
	if (stop_requested)
		client_close(fd);
	else if (c->len > 0)
		queue_send(fd);
	else
		queue_recv(fd);
}

static void on_completion(const struct io_uring_cqe *cqe)
{
	int fd = (int)(cqe->user_data >> 3);
	bool more = cqe->flags & IORING_CQE_F_MORE;

	if (!more)
		ring.inflight--;
	switch ((enum kind)(cqe->user_data & 7)) {
	case ACCEPT: on_accept(cqe->res, more); break;
	case RECV:   on_recv(fd, cqe->res); break;
	case SEND:   on_send(fd, cqe->res); break;
	case STOP:   stop_requested = 1; break;
	case RETRY:  if (!stop_requested) queue_accept(); break;
	case CANCEL: break;
	}
}

/* Every completion posted so far, oldest first. */
static void reap(void)
{
	unsigned head = *ring.cq_head;

	while (head != __atomic_load_n(ring.cq_tail, __ATOMIC_ACQUIRE)) {
		on_completion(&ring.cqes[head & *ring.cq_mask]);
		__atomic_store_n(ring.cq_head, ++head, __ATOMIC_RELEASE);
	}
}

static void state_init(int lfd)
{
	ring_init();
	ring.clients = xcalloc(fd_capacity, sizeof *ring.clients);
	ring.lfd = lfd;
	ring.sigfd = stop_signal_fd();
	queue_accept();
	queue_stop_poll();
}

/* Cancel whatever is in flight and collect it all: then every client has
 * been closed, and no request can still touch a buffer. */
static void stop_all(void)
{
	queue_cancel_all();
	while (ring.inflight > 0) {
		submit_and_wait(1);
		reap();
	}
	free(ring.clients);
	close(ring.sigfd);
	close(ring.fd);
}

static void backend_run(int lfd)
{
	state_init(lfd);
	server_ready();
	while (!stop_requested) {
		submit_and_wait(1);
		reap();
	}
	stop_all();
}

const struct backend backend = { .name = BACKEND_NAME, .run = backend_run };
