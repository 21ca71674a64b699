/* core-clients.c - counting clients: which new client may stay
 * (--max-conns, the fd limits), how many are live in every process, and
 * the totals of the summary line. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core.h"
#include "core-internal.h"

/* Counters live in a shared mapping so that the children of fork and
 * prefork add to the parent's totals; atomics because threads add to them
 * concurrently.
 *
 * Live clients are counted per process, in a slot of its own: slot 0 for
 * the process that started the server, one for each child of fork and
 * worker of prefork.  A process can be killed anywhere, even between
 * taking a client and marking it taken; its clients are then gone (the
 * kernel closes their sockets), and its parent clears its slot, so the
 * total stays exact however processes die.  --max-conns counts the slots
 * and takes a place in one step, under a lock that is robust: a process
 * killed holding it does not hold up the rest, and the counts it guards
 * are each one word, always whole. */
#define MAX_SLOTS 65536

static struct stats {
	atomic_long accepted;
	atomic_long refused;
	atomic_ullong echoed;
	atomic_ullong datagrams;
	atomic_ullong dropped;          /* datagrams that would loop (--udp) */
	pthread_mutex_t places;         /* --max-conns: count and take as one */
	atomic_int nslots;              /* slots in use are below this */
	atomic_long live[MAX_SLOTS];    /* live clients of each process */
} *stats;
static int my_slot;                     /* where this process counts */

void clients_init(void)
{
	pthread_mutexattr_t attr;

	stats = mmap(NULL, sizeof *stats, PROT_READ | PROT_WRITE,
		     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (stats == MAP_FAILED)
		die("mmap: %s", strerror(errno));
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&stats->places, &attr);
	pthread_mutexattr_destroy(&attr);
	stats->nslots = 1;  /* slot 0: this process */
}

/* ---- Counting clients ---- */

/* Out of fds, accept() fails on every try until some fd is closed: say so
 * once per episode (it ends when an accept() succeeds), not on every retry. */
static _Thread_local bool fds_short;

static void places_lock(void)
{
	int err = pthread_mutex_lock(&stats->places);

	if (err == EOWNERDEAD)  /* its holder was killed: the counts are whole */
		pthread_mutex_consistent(&stats->places);
	else if (err)
		die("pthread_mutex_lock: %s", strerror(err));
}

long clients_live(void)
{
	long live = 0;

	for (int slot = 0; slot < atomic_load(&stats->nslots); slot++)
		live += atomic_load(&stats->live[slot]);
	return live;
}

/* One more live client for this process, if --max-conns leaves a place. */
static bool take_place(void)
{
	bool free;

	if (!opt.max_conns) {
		atomic_fetch_add(&stats->live[my_slot], 1);
		return true;
	}
	places_lock();
	free = clients_live() < opt.max_conns;
	if (free)
		atomic_fetch_add(&stats->live[my_slot], 1);
	pthread_mutex_unlock(&stats->places);
	return free;
}

static void admitted(int fd)
{
	int one = 1;

	atomic_fetch_add(&stats->accepted, 1);
	/* Echo each small message at once instead of waiting (Nagle) for the
	 * ACK of the previous one. */
	if (!opt.unix_path && !opt.no_nodelay)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static enum admit refuse(int fd)
{
	close(fd);
	atomic_fetch_add(&stats->refused, 1);
	return REFUSED;
}

enum admit client_admit(int fd)
{
	fds_short = false;
	if (fd >= fd_capacity) {  /* beyond our fd-indexed tables */
		note("refused fd %d: beyond RLIMIT_NOFILE at start (%d)", fd, fd_capacity);
		return refuse(fd);
	}
	if (backend.fd_limit && fd >= backend.fd_limit) {
		note("refused fd %d: %s (%d)", fd, backend.fd_limit_why, backend.fd_limit);
		return refuse(fd);
	}
	if (!take_place())
		return FULL;
	admitted(fd);
	return ADMITTED;
}

static enum admit refuse_full(int fd)
{
	note("refused a connection: --max-conns %ld reached for %d ms",
	     opt.max_conns, MAX_CONNS_WAIT_MS);
	return refuse(fd);
}

/* A client that has just left may not be counted out yet (its FIN is
 * still on its way to whoever served it): a newcomer at the limit waits
 * MAX_CONNS_WAIT_MS for a place before it is refused. */
enum admit client_admit_waiting(int fd, long long since_ms)
{
	if (take_place()) {
		admitted(fd);
		return ADMITTED;
	}
	if (now_ms() - since_ms < MAX_CONNS_WAIT_MS && !stop_requested)
		return FULL;
	return refuse_full(fd);
}

void client_release(void)
{
	atomic_fetch_sub(&stats->live[my_slot], 1);
}

void client_refuse(const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	note("refused a connection: %s", why);
	atomic_fetch_sub(&stats->accepted, 1);
	atomic_fetch_add(&stats->refused, 1);
}

void client_close(int fd)
{
	client_release();
	close(fd);
}

void count_echoed(size_t n)
{
	atomic_fetch_add_explicit(&stats->echoed, n, memory_order_relaxed);
}

void count_datagram(size_t n)
{
	atomic_fetch_add_explicit(&stats->datagrams, 1, memory_order_relaxed);
	count_echoed(n);
}

void count_dropped(void)
{
	atomic_fetch_add_explicit(&stats->dropped, 1, memory_order_relaxed);
}

bool accept_starved(int err)
{
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
		return false;
	if (!fds_short)
		note("accept: %s; waiting for an fd to free up", strerror(err));
	fds_short = true;
	return true;
}

/* ---- Slots of the processes that serve clients (fork, prefork) ---- */

/* The parent's list of slots given back, to give out again. */
static struct {
	int *free;
	int n;
} spare_slots;

int slot_new(void)
{
	int slot;

	if (spare_slots.n > 0)
		return spare_slots.free[--spare_slots.n];
	slot = atomic_load(&stats->nslots);
	if (slot == MAX_SLOTS)
		return -1;
	atomic_store(&stats->nslots, slot + 1);
	return slot;
}

void slot_enter(int slot)
{
	my_slot = slot;
}

void slot_take_client(int slot)
{
	atomic_fetch_add(&stats->live[slot], 1);
	atomic_fetch_sub(&stats->live[my_slot], 1);
}

void slot_free(int slot)
{
	atomic_store(&stats->live[slot], 0);
	if (!spare_slots.free)
		spare_slots.free = xcalloc(MAX_SLOTS, sizeof *spare_slots.free);
	spare_slots.free[spare_slots.n++] = slot;
}

/* ---- The summary line ---- */

void clients_summary(void)
{
	printf("echo-%s: %ld accepted, %ld refused, %llu bytes echoed",
	       backend.name, atomic_load(&stats->accepted),
	       atomic_load(&stats->refused), atomic_load(&stats->echoed));
	if (opt.udp)
		printf(", %llu datagrams, %llu dropped", atomic_load(&stats->datagrams),
		       atomic_load(&stats->dropped));
	printf("\n");
}
