/* core.h - what every backend gets from the core, and what it owes it.
 *
 * A backend is one file, backends/<model>.c, that ends with its struct
 * backend (below): the function that runs it, and the facts of its model
 * (family, place in the teaching order, what it is read beside, how many
 * clients it serves at once, ...), which `bin/echo-<model> --describe`
 * prints for the harness, the tests and the docs.  BACKEND_NAME is the
 * file's name, "<model>", from the Makefile.  The Makefile links it with
 * the core (backends/core*.c) into bin/echo-<model>: every .c file in
 * backends/ whose name does not start with "core" is a backend, so adding
 * a model is adding a file.  The core parses the options, opens the
 * listening socket, handles signals, counts clients, and owns the echo
 * logic; the backend is only the I/O model.  It comes in through the door
 * of its family:
 *
 *   BLOCKING     accept_client() + echo_session() (core-blocking.c):
 *                plain blocking calls, one client per thread or process.
 *   READINESS    loop_init() + loop_on_ready() (core-readiness.c): the
 *                backend finds ready fds its own way and hands them to the
 *                core, which accepts, reads and writes and tells the
 *                backend, through its struct mux, what to wait for next.
 *   COMPLETION   ring_init() + ring_queue() + ring_reap()
 *                (core-completion.c): the backend queues its clients'
 *                receives and sends on io_uring and handles their results;
 *                the core maps the rings, accepts, and stops.
 */
#ifndef MUXLAB_CORE_H
#define MUXLAB_CORE_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* The three families of I/O model: how the server learns that a client
 * has something for it. */
enum family {
	BLOCKING,    /* a blocking call returns: a thread or process per client
		      * being served (core-blocking.c) */
	READINESS,   /* one loop asks the kernel which fds are ready, then
		      * reads and writes (core-readiness.c) */
	COMPLETION,  /* one loop hands the kernel the reads and writes
		      * themselves and collects their results (core-completion.c) */
};

/* How many clients it serves at once. */
enum serves {
	SERVES_ALL,      /* every client it has accepted */
	SERVES_ONE,      /* one; the rest wait in the listen backlog */
	SERVES_WORKERS,  /* --workers, each serving one; the rest wait */
};

/* What each client costs it beside its socket. */
enum per_client {
	PER_CLIENT_BUFFER,   /* a buffer of its own: for its session, or from
			      * accept on (a receive must name its buffer) */
	PER_CLIENT_NOTHING,  /* reads land in a buffer, or a ring of them, that
			      * all share; a client holds memory only for an
			      * echo waiting for room */
	PER_CLIENT_THREAD,   /* a thread, and a buffer */
	PER_CLIENT_PROCESS,  /* a process, and a buffer */
};

/* What each backend file defines: the model, as facts.  They are written
 * here once: `bin/echo-NAME --describe` prints them, and the harness, the
 * tests, the docs and the soak read them from there. */
struct backend {
	const char *name;            /* BACKEND_NAME: the file's name */
	const char *model;           /* the model in one line */
	enum family family;
	int order;                   /* its place in the teaching order, from 1 */
	/* The backend to read it beside, the one idea that changes from it,
	 * and the classic design it is a variant of (NULL: none). */
	const char *beside;
	const char *idea;
	const char *variant_of;
	/* Serve clients until stop_requested, close every connection, return. */
	void (*run)(int lfd);
	/* --workers N: 0 means the backend takes no such option; otherwise
	 * its default, or WORKERS_PER_CPU for one per CPU it may run on. */
	int workers;
	enum serves serves;
	enum per_client per_client;
	/* It never waits: a busy loop that burns a CPU with no client. */
	bool busy;
	/* --udp: also echo UDP datagrams on the same port (the core's
	 * readiness loop does it for any backend that uses loop_init()). */
	bool udp;
	/* The listening socket gets SO_REUSEPORT, so that the backend can open
	 * more on the same port (listen_another()). */
	bool reuseport;
	/* It starts threads (ThreadSanitizer tests it). */
	bool threads;
	/* fds at or above fd_limit cannot be served (select: FD_SETSIZE),
	 * and why; 0: no limit but RLIMIT_NOFILE. */
	int fd_limit;
	const char *fd_limit_why;
};
#define WORKERS_PER_CPU (-1)
extern const struct backend backend;

struct options {
	const char *host;       /* --host, default 127.0.0.1 */
	int port;               /* --port, default 7007; 0 picks a free one */
	const char *unix_path;  /* --unix: listen on a Unix stream socket */
	int backlog;            /* --backlog: listen() queue length */
	long max_conns;         /* --max-conns: 0 means no limit */
	size_t bufsize;         /* --bufsize: bytes read per call, per connection
				 * (uring-multishot: per buffer of a shared ring) */
	const char *port_file;  /* --port-file: where to write the port */
	bool quiet;             /* --quiet: no notices on stderr */
	int workers;            /* --workers, or the backend's default */
	bool udp;               /* --udp */
	/* For lab/: each turns off something the defaults do for a reason. */
	bool no_nodelay;        /* --no-nodelay: Nagle on */
	bool no_reuseaddr;      /* --no-reuseaddr */
	bool default_sigpipe;   /* --default-sigpipe: SIGPIPE kills */
};
extern struct options opt;

/* Set by SIGINT and SIGTERM.  Blocking models: the handler sets it; it is
 * installed without SA_RESTART, so a blocking call that the signal
 * interrupts fails with EINTR, and the caller sees the flag.  Event loops:
 * the signals stay blocked and the core sets it when its signalfd, watched
 * like any client, becomes readable.  An atomic, not the classic volatile
 * sig_atomic_t, because threads read it too; a lock-free atomic is as safe
 * to set from a signal handler. */
extern atomic_int stop_requested;

/* The highest fd number this process may hold, plus one (RLIMIT_NOFILE). */
extern int fd_capacity;

void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* calloc() or die: for setup only.  Memory for one client is asked for
 * with plain calloc(), and a failure refuses that client (client_refuse). */
void *xcalloc(size_t count, size_t size);

/* Block SIGINT and SIGTERM in the calling thread; *before* gets the mask
 * it had.  Threads inherit the mask of their creator: a backend blocks
 * them around pthread_create() so that they reach the main thread. */
void block_stop_signals(sigset_t *before);

/* Print the ready line (and write --port-file), once, in the process that
 * started the server: a backend says it is ready only when all of its
 * setup has worked.  accept_client() and loop_init() call it; a backend
 * that waits for clients some other way calls it itself (prefork, after
 * forking its workers).  A backend with several loops says how many
 * calls to wait for (server_ready_after(loops), before any): the line
 * comes with the last, when every loop is set up. */
void server_ready(void);
void server_ready_after(int calls);

/* Another listening socket on the same address (SO_REUSEPORT; the backend
 * sets .reuseport): the kernel spreads new connections over them. */
int listen_another(void);

/* ---- Counting clients (every family; core-clients.c) ----
 *
 * A client is admitted (accepted and live), refused, or, at --max-conns,
 * waits for a place: at most N clients are served at once, and one that
 * comes while N are being served waits up to MAX_CONNS_WAIT_MS for one of
 * them to leave (a client that has closed may not be counted out yet),
 * then is closed and counted as refused.  The families admit their
 * clients in the core; a backend sees them once admitted. */
#define MAX_CONNS_WAIT_MS 250

/* Count an admitted client out (client_close() does it too). */
void client_release(void);
/* An admitted client got no memory, thread or process after all: count it
 * as refused, not accepted, with one notice saying why (printf-style).  The
 * caller still closes it (client_close). */
void client_refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Count fd's client out, then close it: a client that has seen the close
 * and connects again must find its place free (--max-conns). */
void client_close(int fd);
/* Count n bytes echoed. */
void count_echoed(size_t n);

/* Each process that serves clients counts them in a slot of its own, so
 * that the count stays exact when one is killed (its parent frees its
 * slot, and its clients, gone with it, are counted out with it): fork's
 * children and prefork's workers. */
/* A free slot for a child about to be made, or -1 if none is left. */
int slot_new(void);
/* In the child: count this process's clients in slot from now on. */
void slot_enter(int slot);
/* In the parent: the client it admitted last is now the child's in slot. */
void slot_take_client(int slot);
/* In the parent, once the process in slot has ended (reaped): forget its
 * clients, and give the slot out again. */
void slot_free(int slot);

/* ---- The listening socket (core-listen.c) ---- */

/* Close the listening socket (fork's children, which do not accept). */
void close_listener(void);
/* In a worker process that goes on accepting on the listening socket it
 * inherited (prefork): from now on a stop signal to this process does not
 * shut that socket down, which would stop every worker.  (A stop that
 * lands just before accept() blocks is then seen at the next client, or
 * when the parent shuts the socket down to stop them all.) */
void detach_listener(void);

/* ---- The blocking family: blocking, threads, pool, fork, prefork
 * (core-blocking.c) ---- */

/* Wait for a client and return its fd (blocking, close-on-exec), or -1 when
 * interrupted by a signal (EINTR: check stop_requested), when the client
 * was refused, or when the listening socket was shut down at a stop.  Out
 * of fds, it sleeps ACCEPT_RETRY_MS before returning -1, so the caller's
 * retry loop does not spin. */
int accept_client(int lfd);
/* Echo everything fd sends until it closes, fails, or a stop is requested
 * (the stop handler shuts fd down, so even a blocked write() returns); the
 * caller ends the session.  No memory for its buffer: the client is
 * refused (client_refuse) and it returns at once. */
void echo_session(int fd);
/* At a stop: shut down every socket an echo_session() of this process is
 * serving, so that each returns (the threads of threads and pool; call it
 * after stop_requested is set). */
void stop_sessions(void);
/* Stop child processes (fork, prefork): SIGTERM and SIGCONT to each (a
 * stopped process keeps SIGTERM pending until it runs), then wait up to
 * STOP_GRACE_MS for all to end; any still there is killed with SIGKILL,
 * with a notice.  Reaps every child.  pids[i] <= 0 are skipped. */
void stop_children(const pid_t *pids, int n);
#define STOP_GRACE_MS 1000
/* In a child just forked to serve (fork) or to accept (prefork): true if
 * its parent is still there.  From now on it gets SIGTERM when the parent
 * dies (prctl PR_SET_PDEATHSIG), whose handler (the core's) ends its
 * session; a parent that died before that line is caught by the check. */
bool child_of(pid_t parent);

/* ---- The readiness family: spin, select, poll, epoll, epoll-et, reactors
 * (core-readiness.c) ----
 *
 * The contract between the core and a readiness backend (compare libev's
 * backend_modify):
 *
 * - The core calls the backend's watch, rewatch and unwatch through its
 *   struct mux, from inside loop_init() and loop_on_ready() only, and not
 *   only for the fd being handled: accepting watches new clients, closing
 *   one may watch the listener again (after running out of fds), and
 *   loop_init() watches the listener, the stop signal's fd and the UDP
 *   socket.  unwatch(fd) always comes before close(fd), so the fd number
 *   may be reused by the next watch.
 * - A connection waits for one thing at a time: WANT_READ (input) or
 *   WANT_WRITE (room for an echo it could not finish).  The backend
 *   reports fd whenever that is possible; hang-up and error reports (POLLHUP,
 *   POLLERR, EPOLLERR) are not passed on as such: the backend just reports
 *   the fd, and the core's next call on it finds out.
 * - loop_on_ready() makes one attempt per call: one accept batch, one read
 *   (and the write of what it read), or one write.  A level-triggered
 *   backend relies on being told again while more is there.  An
 *   edge-triggered one must call again while loop_on_ready() returns true
 *   (it did not hit EAGAIN): the kernel will not report that fd again.
 */

enum want { WANT_READ, WANT_WRITE };

/* How the core asks a readiness backend to change what it waits for. */
struct mux {
	int (*watch)(int fd, enum want want);     /* start watching fd; -1: cannot */
	void (*rewatch)(int fd, enum want want);  /* wait for something else */
	void (*unwatch)(int fd);                  /* stop, before close(fd) */
};

/* Make lfd non-blocking and watch it, the stop signal's fd and (--udp) the
 * UDP socket through m.  Per thread: each thread may run a loop of its own. */
void loop_init(int lfd, const struct mux *m);
/* fd was reported ready (or in error): accept, read or write once, then
 * rewatch, unwatch and close as the outcome requires.  True if fd may
 * still have work now (the call did not hit EAGAIN and fd is open). */
bool loop_on_ready(int fd);
/* Close every connection of this thread's loop (at stop). */
void loop_close_all(void);

/* ---- The completion family: uring, uring-multishot
 * (core-completion.c) ----
 *
 * The backend hands the kernel the I/O itself, as requests queued on a
 * submission ring, and later reads their results from a completion ring
 * (io_uring).  core-completion.c owns the rings, as core-readiness.c owns the event
 * loops' accepting: it maps them, submits, hands each completion to the
 * backend, and queues the requests that are no client's own: a multishot
 * accept on the listening socket (out of fds: paused until a client
 * closes, or retried every ACCEPT_RETRY_MS), a poll that turns a stop
 * signal into one more completion, and at the stop a cancel of everything.
 * The contract:
 *
 * - Every request is about one fd and is of one kind; the backend's kinds
 *   start at URING_BACKEND_KIND (the core's come before), and its requests
 *   must fit URING_KIND_BITS.  A request is in flight from ring_queue()
 *   until its last completion, the first one without IORING_CQE_F_MORE.
 * - on_client(fd) gets every client the core accepted and admitted
 *   (--max-conns, fd_capacity); the backend owns it from then on, and
 *   gives it back with ring_client_close(fd), only when none of its
 *   requests is in flight: a completion names its fd, and a new client
 *   may get the same number.
 * - After stop_requested is set the backend queues nothing more: the
 *   core's cancel has gone, and a later request would never end.
 */

struct io_uring_sqe;
struct io_uring_cqe;

#define URING_KIND_BITS 3       /* user_data is fd << URING_KIND_BITS | kind */
#define URING_BACKEND_KIND 4    /* the first kind a backend may use */

/* How the core hands a completion backend its clients and its results. */
struct completions {
	void (*on_client)(int fd);
	void (*on_completion)(int fd, unsigned kind, const struct io_uring_cqe *cqe);
};

/* Set up the rings (setup_flags: IORING_SETUP_*), and queue the accept on
 * lfd and the poll on the stop signal.  Where it cannot, the server stops
 * with "io_uring is unavailable here: ..." (exit 1). */
void ring_init(int lfd, unsigned setup_flags, const struct completions *c);
/* io_uring_register(2) on the ring. */
int ring_register(unsigned opcode, void *arg, unsigned nr_args);
/* A zeroed entry at the tail of the submission ring, for a request of this
 * kind on fd (it submits what is queued first if the ring is full).  The
 * kernel sees it at the next ring_enter(). */
struct io_uring_sqe *ring_queue(int fd, unsigned kind, int opcode);
/* The user_data of a request (to cancel it). */
unsigned long long ring_user_data(int fd, unsigned kind);
/* io_uring_enter(2): submit everything queued and, with min_complete,
 * wait until that many completions are posted.  -1 with errno. */
int ring_enter(unsigned min_complete);
/* Every completion posted so far, oldest first: the core's own, and the
 * backend's through its on_completion. */
void ring_reap(void);
/* The backend is done with fd (nothing of it in flight): release its slot,
 * close it, and accept again if out of fds paused accepting. */
void ring_client_close(int fd);
/* At a stop: cancel every request in flight, collect every completion
 * (the backend sees its own), and close the ring. */
void ring_stop(void);

#define ACCEPT_RETRY_MS 100     /* out of fds, no client open: wait this long */

#endif
