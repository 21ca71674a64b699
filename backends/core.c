/* core.c - the echo server minus its I/O model: options, messages, the
 * listening socket, signals, and counting clients.  The blocking half of
 * the echo logic is core-session.c, the event-driven half core-loop.c;
 * core.h says how a backend plugs in. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "core.h"
#include "core-internal.h"

#define DEFAULT_HOST     "127.0.0.1"
#define DEFAULT_PORT     7007
#define DEFAULT_BACKLOG  1024
#define DEFAULT_BUFSIZE  16384
#define MAX_BUFSIZE      (16 * 1024 * 1024)
#define MAX_WORKERS      4096
#define ADDR_TEXT_BYTES  (INET6_ADDRSTRLEN + 16 + sizeof(((struct sockaddr_un *)0)->sun_path))

struct options opt = {
	.host = DEFAULT_HOST,
	.port = DEFAULT_PORT,
	.backlog = DEFAULT_BACKLOG,
	.bufsize = DEFAULT_BUFSIZE,
};
atomic_int stop_requested;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the stop flag must be lock-free to be set in a handler");
int fd_capacity;
volatile sig_atomic_t listen_fd = -1;
_Thread_local volatile sig_atomic_t session_fd = -1;
int udp_fd = -1;

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

/* ---- Messages ---- */

static void vsay(const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof line, fmt, ap);
	fprintf(stderr, "echo-%s: %s\n", backend.name, line);
}

/* One reason, from the first thread that dies: several loops that fail
 * their setup at once (reactors out of fds) would each say it. */
void die(const char *fmt, ...)
{
	static atomic_bool dying;
	va_list ap;

	if (atomic_exchange(&dying, true))
		for (;;)
			pause();  /* the first one's exit() ends this thread too */
	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	exit(1);
}

static void __attribute__((format(printf, 1, 2), noreturn))
usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	exit(2);
}

void note(const char *fmt, ...)
{
	va_list ap;

	if (opt.quiet)
		return;
	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

void *xcalloc(size_t count, size_t size)
{
	void *p = calloc(count, size);

	if (!p)
		die("out of memory (%zu x %zu bytes)", count, size);
	return p;
}

/* ---- Options ---- */

/* The backend's own default: a number, or one per CPU it may run on. */
static int default_workers(void)
{
	cpu_set_t cpus;

	if (backend.workers != WORKERS_PER_CPU)
		return backend.workers;
	if (sched_getaffinity(0, sizeof cpus, &cpus) < 0)
		return 1;
	return CPU_COUNT(&cpus);
}

static void usage(void)
{
	char workers_help[320];

	if (backend.workers == WORKERS_PER_CPU)
		snprintf(workers_help, sizeof workers_help,
			 "  --workers N       event loops to serve with, 1-%d (default %d:\n"
			 "                    one per CPU)\n", MAX_WORKERS, default_workers());
	else
		snprintf(workers_help, sizeof workers_help,
			 "  --workers N       workers to serve with, 1-%d (default %d); each\n"
			 "                    serves one client at a time, so N clients are\n"
			 "                    served at once and the rest wait their turn\n",
			 MAX_WORKERS, default_workers());

	printf("usage: echo-%s [options]\n"
	       "An echo server: every byte a client sends comes back, in order.\n"
	       "I/O model: %s (the binary is the choice; see backends/%s.c).\n"
	       "\n"
	       "  --host HOST       address to listen on, IPv4 or IPv6, or a host name\n"
	       "                    (resolved once, at start; default %s)\n"
	       "  --port N          TCP port, 0 picks a free one (default %d)\n"
	       "  --unix PATH       listen on a Unix stream socket at PATH instead\n"
	       "  --backlog N       listen() queue length, 1-65535 (default %d)\n"
	       "  --max-conns N     serve at most N clients at once; one more waits\n"
	       "                    up to %d ms for one to leave, then is closed and\n"
	       "                    counted as refused; 0 = no limit (default 0)\n"
	       "  --bufsize BYTES   bytes read per call and per connection (for\n"
	       "                    uring-multishot: per buffer of its shared ring),\n"
	       "                    1-%d (default %d)\n"
	       "  --port-file FILE  write the port number to FILE when ready\n"
	       "%s"
	       "%s"
	       "  --quiet           no notices on stderr\n"
	       "  --help            this text\n"
	       "\n"
	       "Switches for the exercises in lab/, which show what the defaults avoid:\n"
	       "  --no-nodelay      leave Nagle's algorithm on (no TCP_NODELAY)\n"
	       "  --no-reuseaddr    bind without SO_REUSEADDR\n"
	       "  --default-sigpipe leave SIGPIPE's default action: a write to a\n"
	       "                    client that is gone kills the server (not the\n"
	       "                    uring backends, whose sends say MSG_NOSIGNAL)\n"
	       "\n"
	       "When ready it prints one line: 'echo-%s listening on ADDR:PORT'.\n"
	       "SIGINT or SIGTERM stops it; it then prints one summary line\n"
	       "(connections accepted and refused, bytes echoed; with --udp also\n"
	       "datagrams echoed, and dropped because an echo would come straight\n"
	       "back: from its own port on its own address, or from port 0) and\n"
	       "exits 0.\n"
	       "Exit status: 0 stopped by signal, 1 runtime error, 2 bad usage.\n",
	       backend.name, backend.name, backend.name, DEFAULT_HOST,
	       DEFAULT_PORT, DEFAULT_BACKLOG, MAX_CONNS_WAIT_MS, MAX_BUFSIZE, DEFAULT_BUFSIZE,
	       backend.workers ? workers_help : "",
	       backend.udp ? "  --udp             also echo UDP datagrams on the same port\n" : "",
	       backend.name);
}

static long parse_number(const char *name, const char *text, long min, long max)
{
	char *end;
	long value;

	errno = 0;
	value = strtol(text, &end, 10);  /* it would skip leading blanks: */
	if (!isdigit((unsigned char)text[0]) ||
	    errno || *end || value < min || value > max)
		usage_error("--%s: '%s' is not a number from %ld to %ld",
			    name, text, min, max);
	return value;
}

/* getopt_long() returned '?'; arg is argv[optind - 1].  optopt is 0 for
 * an unknown long option (then arg is it), and the option's letter both
 * for an unknown short one ("-x", perhaps inside "-xy", when arg is the
 * argument before) and for a long one given a value it does not take
 * ("--quiet=1", which is arg). */
static void __attribute__((noreturn))
bad_option(const char *arg, const struct option *longopts)
{
	const char *equals = strchr(arg, '=');

	if (!optopt)
		usage_error("unknown option '%s' (see --help)", arg);
	for (const struct option *o = longopts; o->name && equals; o++)
		if (o->val == optopt && strncmp(arg, "--", 2) == 0 &&
		    strncmp(o->name, arg + 2, equals - arg - 2) == 0)
			usage_error("option '--%s' takes no value (see --help)", o->name);
	usage_error("unknown option '-%c' (see --help)", optopt);
}

static void parse_options(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'h' },
		{ "port", required_argument, NULL, 'p' },
		{ "unix", required_argument, NULL, 'u' },
		{ "backlog", required_argument, NULL, 'b' },
		{ "max-conns", required_argument, NULL, 'm' },
		{ "bufsize", required_argument, NULL, 's' },
		{ "port-file", required_argument, NULL, 'f' },
		{ "workers", required_argument, NULL, 'w' },
		{ "udp", no_argument, NULL, 'd' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "no-nodelay", no_argument, NULL, 'N' },
		{ "no-reuseaddr", no_argument, NULL, 'R' },
		{ "default-sigpipe", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'H' },
		{ 0 }
	};
	bool inet_given = false;
	long workers = 0;
	int c;

	opterr = 0;  /* we print our own one-line errors */
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': opt.host = optarg; inet_given = true; break;
		case 'p': opt.port = parse_number("port", optarg, 0, 65535);
			  inet_given = true; break;
		case 'u': opt.unix_path = optarg; break;
		case 'b': opt.backlog = parse_number("backlog", optarg, 1, 65535); break;
		case 'm': opt.max_conns = parse_number("max-conns", optarg, 0, 10000000); break;
		case 's': opt.bufsize = parse_number("bufsize", optarg, 1, MAX_BUFSIZE); break;
		case 'f': opt.port_file = optarg; break;
		case 'w': workers = parse_number("workers", optarg, 1, MAX_WORKERS); break;
		case 'd': opt.udp = true; break;
		case 'q': opt.quiet = true; break;
		case 'N': opt.no_nodelay = true; break;
		case 'R': opt.no_reuseaddr = true; break;
		case 'P': opt.default_sigpipe = true; break;
		case 'H': usage(); exit(0);
		case ':': usage_error("%s needs a value (see --help)", argv[optind - 1]);
		default: bad_option(argv[optind - 1], longopts);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s' (see --help)", argv[optind]);
	if (opt.unix_path && (inet_given || opt.port_file))
		usage_error("--unix cannot be combined with --host, --port or --port-file");
	if (workers && !backend.workers)
		usage_error("--workers: echo-%s has no workers to count (prefork, "
			    "pool and reactors have)", backend.name);
	opt.workers = workers ? (int)workers : default_workers();
	if (opt.udp && !backend.udp)
		usage_error("--udp: echo-%s serves TCP only (the event loops also "
			    "serve UDP: spin, select, poll, epoll, epoll-et)", backend.name);
	if (opt.udp && opt.unix_path)
		usage_error("--udp cannot be combined with --unix");
	if (opt.unix_path && (!*opt.unix_path ||
	    strlen(opt.unix_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)))
		usage_error("--unix: path must be 1 to %zu bytes long",
			    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
}

/* ---- Signals ---- */

/* A flag alone leaves a race: a signal that lands just after the loop
 * checked stop_requested and just before it blocks in accept() or read()
 * is seen only when the next client comes or sends.  shutdown() (async-
 * signal-safe) makes those calls return at once, now or later: accept()
 * fails, read() returns 0 and write() fails with EPIPE. */
static void on_stop_signal(int sig)
{
	int saved_errno = errno;

	(void)sig;
	stop_requested = 1;
	if (listen_fd >= 0)
		shutdown(listen_fd, SHUT_RDWR);
	if (session_fd >= 0)
		shutdown(session_fd, SHUT_RDWR);
	errno = saved_errno;
}

static void signals_init(void)
{
	struct sigaction sa = { .sa_handler = on_stop_signal };  /* no SA_RESTART */

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A client that vanished makes write() fail with EPIPE; without this
	 * the default action of SIGPIPE would kill the whole server. */
	if (!opt.default_sigpipe)
		signal(SIGPIPE, SIG_IGN);
}

void stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
}

void block_stop_signals(sigset_t *before)
{
	sigset_t stop;

	stop_signals(&stop);
	pthread_sigmask(SIG_BLOCK, &stop, before);
}

/* A stop signal, turned into an fd to wait for.  The signals stay blocked,
 * so the handler never runs: a signal waits as pending, and the waiting
 * call reports this fd ready like any client, busy or idle.  (A signal
 * opened only inside pselect/ppoll/epoll_pwait is delivered only when the
 * call would sleep; a loop that always finds work never sleeps.) */
int stop_signal_fd(void)
{
	sigset_t stop;
	int fd;

	stop_signals(&stop);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	fd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		die("signalfd: %s", strerror(errno));
	return fd;
}

/* The counters, and the fd capacity that sizes the fd-indexed tables. */
static void stats_init(void)
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

static void fd_capacity_init(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur > 1 << 20)
		rl.rlim_cur = 1 << 20;
	fd_capacity = (int)rl.rlim_cur;
}

/* ---- The listening socket ---- */

static void format_address(const struct sockaddr_storage *ss, char *out, size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
		snprintf(out, size, "[%s]:%d", host, ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
		snprintf(out, size, "%s:%d", host, ntohs(a->sin_port));
	}
}

/* The socket file this process made with bind(), to remove at exit: only
 * that file.  Whatever replaced it at the same path meanwhile (a file,
 * another server's socket) belongs to someone else. */
static struct {
	bool bound;
	pid_t owner;       /* fork's children inherit the atexit handler */
	dev_t dev;
	ino_t ino;
} unix_socket;

static void unix_socket_remove(void)
{
	struct stat st;

	if (!unix_socket.bound || getpid() != unix_socket.owner)
		return;
	if (lstat(opt.unix_path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == unix_socket.dev && st.st_ino == unix_socket.ino)
		unlink(opt.unix_path);
	else
		note("unix:%s is no longer the socket this server made: left as it is",
		     opt.unix_path);
}

/* bind() said EADDRINUSE: say what is at the path.  A socket file stays
 * when its server dies without removing it; only a connect() tells a live
 * one from such a stale one. */
static void __attribute__((noreturn)) unix_path_in_use(const struct sockaddr_un *sun)
{
	struct stat st;
	int fd;

	if (lstat(sun->sun_path, &st) == 0 && !S_ISSOCK(st.st_mode))
		die("bind unix:%s: the path exists and is not a socket", sun->sun_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (const struct sockaddr *)sun, sizeof *sun) == 0)
		die("bind unix:%s: another server is listening on it", sun->sun_path);
	if (fd >= 0 && errno == ECONNREFUSED)
		die("bind unix:%s: a stale socket that nothing is listening on; "
		    "remove it to use the path", sun->sun_path);
	die("bind unix:%s: %s", sun->sun_path, strerror(EADDRINUSE));
}

static int listen_unix(char *addr_text, size_t size)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct stat st;

	if (fd < 0)
		die("socket: %s", strerror(errno));
	strcpy(sun.sun_path, opt.unix_path);  /* length checked in parse_options */
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		if (errno == EADDRINUSE)
			unix_path_in_use(&sun);
		die("bind unix:%s: %s", sun.sun_path, strerror(errno));
	}
	if (stat(sun.sun_path, &st) < 0)
		die("stat unix:%s: %s", sun.sun_path, strerror(errno));
	unix_socket.bound = true;
	unix_socket.owner = getpid();
	unix_socket.dev = st.st_dev;
	unix_socket.ino = st.st_ino;
	atexit(unix_socket_remove);
	snprintf(addr_text, size, "unix:%s", sun.sun_path);
	return fd;
}

/* Where the TCP listener is bound: listen_another() and the UDP socket
 * bind there too. */
static struct sockaddr_storage bound;
static socklen_t bound_len;

static int bound_socket(int type)
{
	int fd = socket(bound.ss_family, type | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		die("socket: %s", strerror(errno));
	/* Lets a restarted server bind while old connections sit in TIME_WAIT. */
	if (!opt.no_reuseaddr)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (backend.reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&bound, bound_len) < 0)
		die("bind %s port %d%s: %s", opt.host, opt.port,
		    type == SOCK_DGRAM ? " (UDP)" : "", strerror(errno));
	return fd;
}

/* --udp: the UDP socket on the TCP port, told to report the address each
 * datagram came to, which its echo goes back from (core-loop.c). */
static int udp_socket(void)
{
	int fd = bound_socket(SOCK_DGRAM | SOCK_NONBLOCK), one = 1;

	if (bound.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
	else
		setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
	return fd;
}

static int listen_inet(char *addr_text, size_t size)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
	};
	struct addrinfo *ai;
	char port[16];
	int fd, err;

	snprintf(port, sizeof port, "%d", opt.port);
	err = getaddrinfo(opt.host, port, &hints, &ai);
	if (err)
		usage_error("--host %s: %s", opt.host, gai_strerror(err));
	memcpy(&bound, ai->ai_addr, ai->ai_addrlen);
	bound_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	fd = bound_socket(SOCK_STREAM);
	getsockname(fd, (struct sockaddr *)&bound, &bound_len);  /* --port 0 */
	format_address(&bound, addr_text, size);
	opt.port = ntohs(bound.ss_family == AF_INET6 ?
			 ((struct sockaddr_in6 *)&bound)->sin6_port :
			 ((struct sockaddr_in *)&bound)->sin_port);
	if (opt.udp)
		udp_fd = udp_socket();
	return fd;
}

static int listen_socket(char *addr_text, size_t size)
{
	int fd = opt.unix_path ? listen_unix(addr_text, size)
			       : listen_inet(addr_text, size);

	if (listen(fd, opt.backlog) < 0)
		die("listen: %s", strerror(errno));
	return fd;
}

/* SO_REUSEPORT is for TCP and UDP: on a Unix socket, each caller gets a
 * copy of the one listener instead, and they share its queue. */
int listen_another(void)
{
	int fd;

	if (opt.unix_path) {
		fd = fcntl(listen_fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			die("dup of the listening socket: %s", strerror(errno));
		return fd;
	}
	fd = bound_socket(SOCK_STREAM);
	if (listen(fd, opt.backlog) < 0)
		die("listen: %s", strerror(errno));
	return fd;
}

/* The ready line, printed when the backend is about to wait for its first
 * client (its first accept_client(), or the end of loop_init()): a backend
 * that fails its own setup never says it is ready. */
static char listen_addr[ADDR_TEXT_BYTES];
static pid_t ready_pid;              /* the process that says it */
static atomic_int ready_calls = 1;   /* server_ready() calls still to come */

void server_ready_after(int calls)
{
	atomic_store(&ready_calls, calls);
}

void server_ready(void)
{
	if (getpid() != ready_pid || atomic_fetch_sub(&ready_calls, 1) != 1)
		return;
	if (opt.port_file) {
		FILE *f = fopen(opt.port_file, "w");
		if (!f || fprintf(f, "%d\n", opt.port) < 0 || fclose(f) != 0)
			die("--port-file %s: %s", opt.port_file, strerror(errno));
	}
	printf("echo-%s listening on %s\n", backend.name, listen_addr);
	fflush(stdout);
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

enum admit conn_admit(int fd, int fd_limit, const char *fd_limit_why)
{
	fds_short = false;
	if (fd >= fd_capacity) {  /* beyond our fd-indexed tables */
		note("refused fd %d: beyond RLIMIT_NOFILE at start (%d)", fd, fd_capacity);
		return refuse(fd);
	}
	if (fd_limit && fd >= fd_limit) {
		note("refused fd %d: %s (%d)", fd, fd_limit_why, fd_limit);
		return refuse(fd);
	}
	if (!take_place())
		return FULL;
	admitted(fd);
	return ADMITTED;
}

long long now_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec * 1000LL + now.tv_nsec / 1000000;
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
enum admit conn_admit_waiting(int fd, long long since_ms)
{
	if (take_place()) {
		admitted(fd);
		return ADMITTED;
	}
	if (now_ms() - since_ms < MAX_CONNS_WAIT_MS && !stop_requested)
		return FULL;
	return refuse_full(fd);
}

void conn_release(void)
{
	atomic_fetch_sub(&stats->live[my_slot], 1);
}

void conn_refuse(const char *fmt, ...)
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

void session_end(int fd)
{
	conn_release();
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

/* ---- main ---- */

int main(int argc, char **argv)
{
	int lfd;

	parse_options(argc, argv);
	ready_pid = getpid();
	stats_init();
	fd_capacity_init();
	sessions_init();
	signals_init();
	lfd = listen_socket(listen_addr, sizeof listen_addr);
	listen_fd = lfd;
	backend.run(lfd);
	close_listener();
	if (udp_fd >= 0)
		close(udp_fd);
	printf("echo-%s: %ld accepted, %ld refused, %llu bytes echoed",
	       backend.name, atomic_load(&stats->accepted),
	       atomic_load(&stats->refused), atomic_load(&stats->echoed));
	if (opt.udp)
		printf(", %llu datagrams, %llu dropped", atomic_load(&stats->datagrams),
		       atomic_load(&stats->dropped));
	printf("\n");
	return 0;
}
