/* core-completion.c - the io_uring plumbing the completion backends share.
 *
 * uring and uring-multishot queue their clients' receives and sends
 * themselves and handle the results; this file does the rest, as
 * core-readiness.c does for the event loops.  It maps the two rings the server
 * shares with the kernel (the mmap arithmetic lives here, out of the
 * lessons' way), queues an entry, submits, hands each completion to the
 * backend, and owns the requests that are no client's:
 *   multishot accept    one request accepts every client (Linux 5.19);
 *                       cancelled while a client waits for a place
 *                       (--max-conns), armed again after
 *   a timeout           ticks while a client waits: look for a place again
 *   poll on a signalfd  a stop signal is one more completion
 *   cancel-any          at the stop, every request in flight ends
 * Raw system calls, as in the backends: libc only, no liburing. */
#include <errno.h>
#include <linux/io_uring.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core.h"
#include "core-internal.h"

#define SQ_ENTRIES 1024     /* requests queued before an enter must submit */
#define CQ_ENTRIES 65536    /* completions the kernel can post before we reap */
#define KIND_MASK  ((1u << URING_KIND_BITS) - 1)
#define WAITING_MAX 64      /* clients waiting for a place: the accepts the
			     * multishot request posts before its cancel lands */
#define WAIT_TICK_MS 10     /* a waiting client looks for a place this often */

/* The core's own kinds of request; a backend's start at URING_BACKEND_KIND. */
enum kind { ACCEPT, STOP, TIMER, CANCEL };
_Static_assert(CANCEL < URING_BACKEND_KIND, "the core's kinds come first");

static struct {
	int fd;                          /* the ring */
	unsigned *sq_head, *sq_tail, *sq_mask, *sq_array;
	struct io_uring_sqe *sqes;
	unsigned sq_entries, queued;     /* queued: not yet submitted */
	unsigned *cq_head, *cq_tail, *cq_mask;
	struct io_uring_cqe *cqes;
	unsigned inflight;               /* queued, last completion not in */
	const struct completions *backend;
	int lfd, sigfd;
	bool accepting;                  /* the multishot accept is armed */
	bool accept_cancelled;           /* ... and its cancel is on its way */
	bool accept_paused;              /* out of fds: re-armed when one closes */
	bool timer_armed;
	struct __kernel_timespec timer;  /* out of fds, nobody to serve; or ticks */
	int waiting[WAITING_MAX];        /* --max-conns: clients waiting for a place */
	long long waiting_since[WAITING_MAX];
	int nwaiting;
} ring;

/* ---- Submitting ---- */

int ring_enter(unsigned min_complete)
{
	int n = (int)syscall(__NR_io_uring_enter, ring.fd, ring.queued, min_complete,
			     min_complete ? IORING_ENTER_GETEVENTS : 0, NULL, 0);

	if (n > 0)
		ring.queued -= (unsigned)n;
	return n;
}

struct io_uring_sqe *ring_queue(int fd, unsigned kind, int opcode)
{
	unsigned tail = *ring.sq_tail, index;
	struct io_uring_sqe *sqe;

	while (tail - __atomic_load_n(ring.sq_head, __ATOMIC_ACQUIRE) == ring.sq_entries)
		if (ring_enter(0) < 0 && errno != EINTR)
			die("io_uring_enter: %s", strerror(errno));
	index = tail & *ring.sq_mask;
	sqe = &ring.sqes[index];
	memset(sqe, 0, sizeof *sqe);
	sqe->opcode = (__u8)opcode;
	sqe->fd = fd;
	sqe->user_data = ring_user_data(fd, kind);
	ring.sq_array[index] = index;
	__atomic_store_n(ring.sq_tail, tail + 1, __ATOMIC_RELEASE);
	ring.queued++;
	ring.inflight++;
	return sqe;
}

unsigned long long ring_user_data(int fd, unsigned kind)
{
	return (__u64)fd << URING_KIND_BITS | kind;
}

int ring_register(unsigned opcode, void *arg, unsigned nr_args)
{
	return (int)syscall(__NR_io_uring_register, ring.fd, opcode, arg, nr_args);
}

/* ---- The core's requests ---- */

static void queue_accept(void)
{
	struct io_uring_sqe *sqe = ring_queue(ring.lfd, ACCEPT, IORING_OP_ACCEPT);

	sqe->ioprio = IORING_ACCEPT_MULTISHOT;
	sqe->accept_flags = SOCK_CLOEXEC;
	ring.accepting = true;
}

/* The multishot accept ends: its last completion comes -ECANCELED. */
static void queue_accept_cancel(void)
{
	ring_queue(-1, CANCEL, IORING_OP_ASYNC_CANCEL)->addr = ring_user_data(ring.lfd, ACCEPT);
}

/* Completes when the signalfd turns readable: a stop signal is pending. */
static void queue_stop_poll(void)
{
	ring_queue(ring.sigfd, STOP, IORING_OP_POLL_ADD)->poll32_events = POLLIN;
}

/* One completion after ms: out of fds with nobody to serve, accept again
 * then; with a client waiting for a place, look for one then. */
static void queue_timer(long ms)
{
	struct io_uring_sqe *sqe = ring_queue(-1, TIMER, IORING_OP_TIMEOUT);

	ring.timer = (struct __kernel_timespec){ .tv_nsec = ms * 1000000L };
	sqe->addr = (__u64)(uintptr_t)&ring.timer;
	sqe->len = 1;
	ring.timer_armed = true;
}

/* Every request still in flight completes, -ECANCELED or with its result. */
static void queue_cancel_all(void)
{
	ring_queue(-1, CANCEL, IORING_OP_ASYNC_CANCEL)->cancel_flags =
		IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_ANY;
}

/* ---- Clients waiting for a place (--max-conns) ---- */

/* Keep the accept armed while new clients can be taken: not out of fds,
 * and nobody waiting for a place (the rest wait in the listen backlog). */
static void ring_listen(void)
{
	bool want = !ring.accept_paused && ring.nwaiting == 0 && !stop_requested;

	if (want && !ring.accepting && !ring.timer_armed)
		queue_accept();
	else if (!want && ring.accepting && !ring.accept_cancelled) {
		queue_accept_cancel();
		ring.accept_cancelled = true;
	}
}

static void wait_for_place(int fd)
{
	if (ring.nwaiting == WAITING_MAX) {  /* cannot happen but in a flood */
		client_admit_waiting(fd, now_ms() - MAX_CONNS_WAIT_MS);
		return;
	}
	ring.waiting[ring.nwaiting] = fd;
	ring.waiting_since[ring.nwaiting++] = now_ms();
	if (!ring.timer_armed)
		queue_timer(WAIT_TICK_MS);
	ring_listen();
}

/* The waiting clients, oldest first: served while places are free,
 * refused once they have waited MAX_CONNS_WAIT_MS. */
static void look_for_places(void)
{
	int kept = 0;

	for (int i = 0; i < ring.nwaiting; i++) {
		int fd = ring.waiting[i];
		enum admit admit = client_admit_waiting(fd, ring.waiting_since[i]);

		if (admit == ADMITTED)
			ring.backend->on_client(fd);
		if (admit == FULL) {
			ring.waiting[kept] = fd;
			ring.waiting_since[kept++] = ring.waiting_since[i];
		}
	}
	ring.nwaiting = kept;
	ring_listen();
}

/* ---- Completions ---- */

/* res: a new client's fd, or -errno.  more: the request is still armed. */
static void ring_on_accept(int res, bool more)
{
	if (!more)
		ring.accepting = ring.accept_cancelled = false;
	if (res >= 0 && stop_requested)
		close(res);  /* a client that came after the stop */
	else if (res >= 0) {
		switch (client_admit(res)) {
		case ADMITTED: ring.backend->on_client(res); break;
		case REFUSED:  break;
		case FULL:     wait_for_place(res); break;
		}
	} else if (res == -EINVAL && !stop_requested)
		die("io_uring is unavailable here: multishot accept refused "
		    "(Linux 5.19 or later needed)");
	else if (res < 0 && accept_starved(-res) && !stop_requested) {
		if (clients_live() == 0)
			queue_timer(ACCEPT_RETRY_MS);  /* then accept again */
		else
			ring.accept_paused = true;
	} else if (res < 0 && res != -ECANCELED && res != -ECONNABORTED && !stop_requested)
		note("accept: %s", strerror(-res));
	if (!more)
		ring_listen();
}

static void ring_on_timer(void)
{
	ring.timer_armed = false;
	if (stop_requested)
		return;
	look_for_places();
	if (ring.nwaiting > 0)
		queue_timer(WAIT_TICK_MS);
	else
		ring_listen();
}

static void ring_on_completion(const struct io_uring_cqe *cqe)
{
	int fd = (int)(cqe->user_data >> URING_KIND_BITS);
	bool more = cqe->flags & IORING_CQE_F_MORE;

	if (!more)
		ring.inflight--;
	switch (cqe->user_data & KIND_MASK) {
	case ACCEPT: ring_on_accept(cqe->res, more); break;
	case STOP:   stop_requested = 1; break;
	case TIMER:  ring_on_timer(); break;
	case CANCEL: break;
	default:     ring.backend->on_completion(fd, cqe->user_data & KIND_MASK, cqe);
	}
}

void ring_reap(void)
{
	unsigned head = *ring.cq_head;

	while (head != __atomic_load_n(ring.cq_tail, __ATOMIC_ACQUIRE)) {
		ring_on_completion(&ring.cqes[head & *ring.cq_mask]);
		__atomic_store_n(ring.cq_head, ++head, __ATOMIC_RELEASE);
	}
}

void ring_client_close(int fd)
{
	client_close(fd);
	ring.accept_paused = false;  /* an fd is free again */
	if (ring.nwaiting > 0 && !stop_requested)
		look_for_places();   /* and a place, perhaps */
	else
		ring_listen();
}

void ring_stop(void)
{
	for (int i = 0; i < ring.nwaiting; i++)
		close(ring.waiting[i]);  /* never admitted: nothing to count */
	ring.nwaiting = 0;
	queue_cancel_all();
	while (ring.inflight > 0) {
		if (ring_enter(1) < 0 && errno != EINTR)
			die("io_uring_enter: %s", strerror(errno));
		ring_reap();
	}
	close(ring.sigfd);
	close(ring.fd);
}

/* ---- The rings: mapping them ---- */

static void *map_ring(size_t size, off_t offset)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		       ring.fd, offset);

	if (p == MAP_FAILED)
		die("mmap of the io_uring rings: %s", strerror(errno));
	return p;
}

/* The kernel says where in each mapping each field is (p's offsets): the
 * submission ring's head, tail, mask and index array, its entries in a
 * mapping of their own, and the completion ring's head, tail, mask and
 * entries, in the same mapping as the submission ring on any kernel with
 * IORING_FEAT_SINGLE_MMAP. */
static void map_rings(const struct io_uring_params *p)
{
	size_t sq_size = p->sq_off.array + p->sq_entries * sizeof(unsigned);
	size_t cq_size = p->cq_off.cqes + p->cq_entries * sizeof(struct io_uring_cqe);
	char *sq = map_ring(sq_size > cq_size ? sq_size : cq_size, IORING_OFF_SQ_RING);
	char *cq = sq;

	ring.sq_head = (unsigned *)(sq + p->sq_off.head);
	ring.sq_tail = (unsigned *)(sq + p->sq_off.tail);
	ring.sq_mask = (unsigned *)(sq + p->sq_off.ring_mask);
	ring.sq_array = (unsigned *)(sq + p->sq_off.array);
	ring.sq_entries = p->sq_entries;
	ring.sqes = map_ring(p->sq_entries * sizeof(struct io_uring_sqe), IORING_OFF_SQES);
	ring.cq_head = (unsigned *)(cq + p->cq_off.head);
	ring.cq_tail = (unsigned *)(cq + p->cq_off.tail);
	ring.cq_mask = (unsigned *)(cq + p->cq_off.ring_mask);
	ring.cqes = (struct io_uring_cqe *)(cq + p->cq_off.cqes);
}

void ring_init(int lfd, unsigned setup_flags, const struct completions *c)
{
	struct io_uring_params p = {
		.flags = IORING_SETUP_CQSIZE | setup_flags,
		.cq_entries = CQ_ENTRIES,
	};

	ring.fd = (int)syscall(__NR_io_uring_setup, SQ_ENTRIES, &p);
	if (ring.fd < 0)
		die("io_uring is unavailable here: io_uring_setup: %s (see "
		    "/proc/sys/kernel/io_uring_disabled, a seccomp filter, or the "
		    "kernel's version)", strerror(errno));
	if (!(p.features & IORING_FEAT_SINGLE_MMAP) || !(p.features & IORING_FEAT_NODROP))
		die("io_uring is unavailable here: too old (Linux 5.19 or later needed)");
	map_rings(&p);
	ring.backend = c;
	ring.lfd = lfd;
	ring.sigfd = stop_signal_fd();
	queue_accept();
	queue_stop_poll();
}
