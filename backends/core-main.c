/* core-main.c - main(): the options, the listening socket, the backend's
 * run, the summary line; and --help and --describe, which say what this
 * binary's backend is (its struct backend). */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "core.h"
#include "core-internal.h"

#define MAX_BUFSIZE      (16 * 1024 * 1024)
#define MAX_WORKERS      4096

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
	       "I/O model: %s: %s\n(the binary is the choice; see backends/%s.c).\n"
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
	       "  --describe        the facts of this model, key=value a line (for\n"
	       "                    the harness, the tests and the docs)\n"
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
	       backend.name, backend.name, backend.model, backend.name, DEFAULT_HOST,
	       DEFAULT_PORT, DEFAULT_BACKLOG, MAX_CONNS_WAIT_MS, MAX_BUFSIZE, DEFAULT_BUFSIZE,
	       backend.workers ? workers_help : "",
	       backend.udp ? "  --udp             also echo UDP datagrams on the same port\n" : "",
	       backend.name);
}

/* --describe: the facts of this binary's model, one key=value a line,
 * from its struct backend: what the harness, the tests, the soak and the
 * docs read instead of keeping tables of their own (docs/architecture.md). */
static void describe(void)
{
	static const char *const families[] = { "blocking", "readiness", "completion" };
	static const char *const serves[] = { "all", "one", "workers" };
	static const char *const per_client[] = { "buffer", "nothing", "thread", "process" };

	printf("name=%s\nmodel=%s\nfamily=%s\norder=%d\n", backend.name,
	       backend.model ? backend.model : "", families[backend.family], backend.order);
	printf("beside=%s\nidea=%s\nvariant_of=%s\n", backend.beside ? backend.beside : "",
	       backend.idea ? backend.idea : "", backend.variant_of ? backend.variant_of : "");
	if (backend.workers == WORKERS_PER_CPU)
		printf("workers=per-cpu\n");
	else
		printf("workers=%d\n", backend.workers);
	printf("serves=%s\nper_client=%s\n", serves[backend.serves],
	       per_client[backend.per_client]);
	printf("busy=%s\nudp=%s\nreuseport=%s\nthreads=%s\n", backend.busy ? "yes" : "no",
	       backend.udp ? "yes" : "no", backend.reuseport ? "yes" : "no",
	       backend.threads ? "yes" : "no");
	printf("fd_limit=%d\n", backend.fd_limit);
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
		{ "describe", no_argument, NULL, 'D' },
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
		case 'D': describe(); exit(0);
		case ':': usage_error("%s needs a value (see --help)", argv[optind - 1]);
		default: bad_option(argv[optind - 1], longopts);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s' (see --help)", argv[optind]);
	if (opt.unix_path && (inet_given || opt.port_file))
		usage_error("--unix cannot be combined with --host, --port or --port-file");
	if (workers && !backend.workers)
		usage_error("--workers: echo-%s has no workers to count (its "
			    "--describe says workers=0)", backend.name);
	opt.workers = workers ? (int)workers : default_workers();
	if (opt.udp && !backend.udp)
		usage_error("--udp: echo-%s serves TCP only (the readiness loops "
			    "on the core's loop serve UDP too)", backend.name);
	if (opt.udp && opt.unix_path)
		usage_error("--udp cannot be combined with --unix");
	if (opt.unix_path && (!*opt.unix_path ||
	    strlen(opt.unix_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)))
		usage_error("--unix: path must be 1 to %zu bytes long",
			    sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
}

/* ---- main ---- */

int main(int argc, char **argv)
{
	parse_options(argc, argv);
	clients_init();
	fd_capacity_init();
	sessions_init();
	signals_init();
	backend.run(listen_socket());
	close_listener();
	if (udp_fd >= 0)
		close(udp_fd);
	clients_summary();
	return 0;
}
