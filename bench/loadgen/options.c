/* options.c - parsing and checking loadgen's command line.  Every mistake is
 * one line on stderr and exit status 2, before any connection is made. */
#include "options.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

static const char usage_text[] =
"usage: loadgen [options] TARGET\n"
"       loadgen --merge [output options] FILE...\n"
"\n"
"Sends messages to an echo server, checks every byte that\n"
"comes back, and reports throughput and round-trip latency (send of the\n"
"first byte to receipt of the last byte of the echo: a full round trip).\n"
"\n"
"TARGET  tcp://HOST:PORT, HOST:PORT, [ADDRESS]:PORT or unix:PATH; HOST is\n"
"        an IPv4 or IPv6 address or a host name, resolved once at start\n"
"        (localhost: 127.0.0.1, where the servers listen by default).\n"
"\n"
"Load (closed loop unless --rate is given):\n"
"  -c, --conns N           connections carrying messages (default 1)\n"
"  -p, --pipeline D        messages in flight per connection (default 1)\n"
"  -s, --size B            bytes per message, 1..1048576, with --udp\n"
"                          8..65507 (default 64)\n"
"  -r, --rate R            open loop: R messages/s in total on a fixed\n"
"                          schedule; latency counts from the scheduled time\n"
"                          (coordinated-omission corrected); the latency from\n"
"                          the actual send is reported too.  At most D are in\n"
"                          flight per connection; the rest wait and that wait\n"
"                          counts.\n"
"      --connect-per-request  a new connection per message: connect, send,\n"
"                          receive, close; --conns of them run concurrently.\n"
"                          Reports connections/s and the connect latency.\n"
"      --spin-us U         open loop: stop sleeping U microseconds before\n"
"                          each scheduled send and poll instead, so that the\n"
"                          thread's wake-up delay is not counted as latency;\n"
"                          costs up to U CPU-us per message (default 0)\n"
"      --udp               each message is one UDP datagram; each of --conns\n"
"                          is a connected UDP socket.  The first 8 bytes are a\n"
"                          sequence number that replies are matched by; a\n"
"                          datagram without a reply within --timeout is lost\n"
"                          and its socket goes on; a lost one holds the run\n"
"                          until then, so give a short --timeout (e.g. 1).\n"
"                          Not with unix:PATH, --connect-per-request or --idle\n"
"      --idle K            also open K connections and hold them idle for the\n"
"                          whole run (idle-connection scaling)\n"
"  -t, --threads T         event-loop threads, connections spread evenly\n"
"                          (default 1)\n"
"\n"
"When to stop:\n"
"  -d, --duration S        measure for S seconds (default 5; decimals allowed)\n"
"  -w, --warmup S          run S seconds first without measuring (default 1,\n"
"                          0 when --requests is given)\n"
"  -n, --requests N        stop after N measured messages (N connections with\n"
"                          --connect-per-request); --duration still caps the\n"
"                          run if given\n"
"      --connect-timeout S give up if connections are not established within\n"
"                          S seconds (default 5)\n"
"      --timeout S         a connection that gets no reply byte for S seconds\n"
"                          while waiting for one is an error (default 10);\n"
"                          its messages count as lost.  With --udp: a\n"
"                          datagram without a reply for S seconds is lost\n"
"      --probe-wait S      connect phase: before warmup every held connection\n"
"                          (idle ones too; not connect-per-request's) makes\n"
"                          one echo round trip, its probe, so the window\n"
"                          starts with the server serving them all; wait at\n"
"                          most S seconds for the probes (default: --timeout),\n"
"                          then start with those served and say how many\n"
"\n"
"Measurement and output:\n"
"      --server-pid PID    also report the server's CPU time (user, sys; its\n"
"                          threads and children) and peak resident memory over\n"
"                          the measured interval, from /proc: RSS, and PSS,\n"
"                          which counts pages shared by its processes (a fork\n"
"                          server's) once in all instead of once per process\n"
"      --server-syscalls   with --server-pid: also count the server's system\n"
"                          calls in the measured interval, every one and by\n"
"                          name, from the kernel's tracepoints (no strace:\n"
"                          ptrace slows the server and changes what it does).\n"
"                          Needs root (or CAP_PERFMON) and tracefs\n"
"      --json              one JSON object on stdout instead of the summary\n"
"      --csv               one CSV row on stdout instead of the summary\n"
"      --csv-header        print the CSV header line (alone, or before the row)\n"
"      --histogram FILE    write the latency distribution (us vs percentile)\n"
"                          as columns for gnuplot\n"
"      --replay FILE       no network: read latencies in us, one per line,\n"
"                          and report them (checks the histogram)\n"
"      --save FILE         also write the result to FILE: the --json object,\n"
"                          the full histograms and the measured interval on\n"
"                          the wall clock, for --merge (also with --replay)\n"
"      --monitor PID       no network: sample PID's CPU time and memory (its\n"
"                          threads and children), with CLOCK_REALTIME, every\n"
"                          20 ms until it ends or SIGTERM: run beside a server\n"
"                          whose load comes from other hosts (the harness\n"
"                          lines the samples up with their windows)\n"
"      --merge FILE...     no network: report several --save files as one\n"
"                          run (e.g. one per host, against one server):\n"
"                          counts summed, histograms merged, msg/s = all\n"
"                          messages / (latest end - earliest start), server\n"
"                          CPU that of the run that measured the most.\n"
"                          Same mode, transport, --size and --pipeline only,\n"
"                          each file once\n"
"  -h, --help              this text\n"
"\n"
"Times in the output are microseconds (us) of round trip; CPU cost is\n"
"CPU-microseconds per message, and CPU % is user + sys over the measured\n"
"time (near 100 per loadgen thread: loadgen set the pace).  msg/s is the\n"
"rate achieved: measured messages over the time from the end of warmup to\n"
"the last reply.  With --rate the requested rate is shown beside it, and a\n"
"warning if it is below 95% of it.  A lost message (no reply: its\n"
"connection failed, or its datagram got none within --timeout) is counted\n"
"and recorded with the time it had waited, so with any lost the latencies\n"
"are lower bounds.  'run queue': seconds each side's threads waited for a\n"
"CPU in the window (/proc/PID/task/TID/schedstat), and the host's steal\n"
"(/proc/stat); above 10% of the window, a 'disturbed' warning.  Warnings\n"
"('loadgen: warning: ...' on stderr) are in JSON's \"warnings\" too.  Exit\n"
"status: 0 all replies correct and none lost, 1 an error (wrong, missing\n"
"or extra bytes or datagrams, lost connection, limit hit) or a lost\n"
"message, 2 bad usage.\n";

enum { OPT_CPR = 256, OPT_IDLE, OPT_CONNECT_TIMEOUT, OPT_TIMEOUT,
       OPT_SERVER_PID, OPT_JSON, OPT_CSV, OPT_CSV_HEADER, OPT_HISTOGRAM,
       OPT_REPLAY, OPT_SPIN, OPT_UDP, OPT_SAVE, OPT_MERGE, OPT_PROBE_WAIT,
       OPT_SERVER_SYSCALLS, OPT_MONITOR };

static const struct option long_options[] = {
	{ "conns",               required_argument, NULL, 'c' },
	{ "pipeline",            required_argument, NULL, 'p' },
	{ "size",                required_argument, NULL, 's' },
	{ "rate",                required_argument, NULL, 'r' },
	{ "duration",            required_argument, NULL, 'd' },
	{ "warmup",              required_argument, NULL, 'w' },
	{ "requests",            required_argument, NULL, 'n' },
	{ "threads",             required_argument, NULL, 't' },
	{ "connect-per-request", no_argument,       NULL, OPT_CPR },
	{ "idle",                required_argument, NULL, OPT_IDLE },
	{ "connect-timeout",     required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "timeout",             required_argument, NULL, OPT_TIMEOUT },
	{ "probe-wait",          required_argument, NULL, OPT_PROBE_WAIT },
	{ "server-pid",          required_argument, NULL, OPT_SERVER_PID },
	{ "server-syscalls",     no_argument,       NULL, OPT_SERVER_SYSCALLS },
	{ "monitor",             required_argument, NULL, OPT_MONITOR },
	{ "json",                no_argument,       NULL, OPT_JSON },
	{ "csv",                 no_argument,       NULL, OPT_CSV },
	{ "csv-header",          no_argument,       NULL, OPT_CSV_HEADER },
	{ "histogram",           required_argument, NULL, OPT_HISTOGRAM },
	{ "replay",              required_argument, NULL, OPT_REPLAY },
	{ "spin-us",             required_argument, NULL, OPT_SPIN },
	{ "udp",                 no_argument,       NULL, OPT_UDP },
	{ "save",                required_argument, NULL, OPT_SAVE },
	{ "merge",               no_argument,       NULL, OPT_MERGE },
	{ "help",                no_argument,       NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputs(" (see loadgen --help)\n", stderr);
	va_end(ap);
	exit(2);
}

const char *options_mode_name(enum mode mode)
{
	switch (mode) {
	case MODE_CLOSED: return "closed";
	case MODE_OPEN:   return "open";
	case MODE_CPR:    return "connect-per-request";
	}
	return "?";
}

static uint64_t parse_count(const char *name, const char *arg,
			    uint64_t min, uint64_t max)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(arg, &end, 10);
	if (arg[0] == '-' || end == arg || *end != '\0' || errno == ERANGE)
		usage_error("%s: expected a whole number, got '%s'", name, arg);
	if (v < min || v > max)
		usage_error("%s %s: must be between %llu and %llu", name, arg,
			    (unsigned long long)min, (unsigned long long)max);
	return v;
}

static double parse_seconds(const char *name, const char *arg, bool zero_ok)
{
	char *end;
	errno = 0;
	double v = strtod(arg, &end);
	if (end == arg || *end != '\0' || errno == ERANGE || !isfinite(v))
		usage_error("%s: expected a number of seconds, got '%s'", name, arg);
	if (v < 0 || (!zero_ok && v == 0) || v > MAX_OPTION_S)
		usage_error("%s %s: must be %s %d seconds", name, arg,
			    zero_ok ? "between 0 and" : "above 0 and at most", MAX_OPTION_S);
	return v;
}

static double parse_rate(const char *arg)
{
	char *end;
	errno = 0;
	double v = strtod(arg, &end);
	if (end == arg || *end != '\0' || errno == ERANGE || !isfinite(v) ||
	    v <= 0 || v > 1e8)
		usage_error("--rate: expected messages/s above 0 and at most 1e8, got '%s'", arg);
	return v;
}

/* unix:PATH */
static void parse_unix_target(struct target *t, const char *path)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&t->addr;
	if (path[0] == '\0' || strlen(path) >= sizeof(sun->sun_path))
		usage_error("target unix:%s: the path must have 1 to %zu characters",
			    path, sizeof(sun->sun_path) - 1);
	sun->sun_family = AF_UNIX;
	strcpy(sun->sun_path, path);
	t->addrlen = sizeof(*sun);
	t->family = AF_UNIX;
}

/* HOST:PORT or [HOST]:PORT; HOST is any address or name.  A name is
 * resolved once, here, so every connection of the run goes to the same
 * address, and a name that does not resolve is bad usage, before any load. */
static void parse_ip_target(struct target *t, const char *text, const char *spec)
{
	char host[256];
	const char *colon;
	if (spec[0] == '[') {                   /* [v6]:port */
		const char *close = strchr(spec, ']');
		if (!close || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof(host))
			usage_error("target '%s': expected [ADDRESS]:PORT", text);
		memcpy(host, spec + 1, (size_t)(close - spec - 1));
		host[close - spec - 1] = '\0';
		colon = close + 1;
	} else {
		colon = strrchr(spec, ':');
		if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(host))
			usage_error("target '%s': expected HOST:PORT, [ADDRESS]:PORT or unix:PATH", text);
		memcpy(host, spec, (size_t)(colon - spec));
		host[colon - spec] = '\0';
	}
	unsigned port = (unsigned)parse_count("target port", colon + 1, 1, 65535);
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");      /* where the servers listen by default */

	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *found;
	int err = getaddrinfo(host, NULL, &hints, &found);
	if (err)
		usage_error("target '%s': cannot resolve '%s': %s", text, host, gai_strerror(err));
	memcpy(&t->addr, found->ai_addr, found->ai_addrlen);
	t->addrlen = found->ai_addrlen;
	t->family = found->ai_family;
	freeaddrinfo(found);
	if (t->family == AF_INET)
		((struct sockaddr_in *)&t->addr)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)&t->addr)->sin6_port = htons((uint16_t)port);
}

static void parse_target(struct target *t, const char *text)
{
	if (strlen(text) >= sizeof(t->text))
		usage_error("target '%.40s...': too long", text);
	memset(t, 0, sizeof(*t));
	strcpy(t->text, text);
	if (strncmp(text, "unix:", 5) == 0)
		parse_unix_target(t, text + 5);
	else if (strncmp(text, "tcp://", 6) == 0)
		parse_ip_target(t, text, text + 6);
	else
		parse_ip_target(t, text, text);
}

static void set_defaults(struct options *opt)
{
	memset(opt, 0, sizeof(*opt));
	opt->mode = MODE_CLOSED;
	opt->conns = 1;
	opt->pipeline = 1;
	opt->threads = 1;
	opt->size = 64;
	opt->duration_s = 5;
	opt->warmup_s = -1;             /* "not given": depends on --requests */
	opt->connect_timeout_s = 5;
	opt->reply_timeout_s = 10;
	opt->probe_wait_s = -1;         /* "not given": --timeout */
}

static void apply_option(struct options *opt, int c, const char *arg)
{
	switch (c) {
	case 'c': opt->conns = (unsigned)parse_count("--conns", arg, 1, MAX_CONNS); break;
	case 'p': opt->pipeline = (unsigned)parse_count("--pipeline", arg, 1, MAX_PIPELINE); break;
	case 's': opt->size = (unsigned)parse_count("--size", arg, 1, MAX_SIZE_BYTES); break;
	case 'r': opt->rate = parse_rate(arg); break;
	case 'd': opt->duration_s = parse_seconds("--duration", arg, false);
		  opt->duration_given = true; break;
	case 'w': opt->warmup_s = parse_seconds("--warmup", arg, true); break;
	case 'n': opt->requests = parse_count("--requests", arg, 1, UINT64_MAX / 2); break;
	case 't': opt->threads = (unsigned)parse_count("--threads", arg, 1, MAX_THREADS); break;
	case OPT_CPR: opt->mode = MODE_CPR; break;
	case OPT_IDLE: opt->idle = (unsigned)parse_count("--idle", arg, 0, MAX_CONNS); break;
	case OPT_CONNECT_TIMEOUT:
		opt->connect_timeout_s = parse_seconds("--connect-timeout", arg, false); break;
	case OPT_TIMEOUT: opt->reply_timeout_s = parse_seconds("--timeout", arg, false); break;
	case OPT_PROBE_WAIT: opt->probe_wait_s = parse_seconds("--probe-wait", arg, true); break;
	case OPT_SERVER_PID:
		opt->server_pid = (pid_t)parse_count("--server-pid", arg, 1, 1u << 30); break;
	case OPT_SERVER_SYSCALLS: opt->server_syscalls = true; break;
	case OPT_MONITOR:
		opt->monitor_pid = (pid_t)parse_count("--monitor", arg, 1, 1u << 30); break;
	case OPT_JSON: opt->json = true; break;
	case OPT_CSV: opt->csv = true; break;
	case OPT_CSV_HEADER: opt->csv_header = true; break;
	case OPT_HISTOGRAM: opt->histogram_path = arg; break;
	case OPT_REPLAY: opt->replay_path = arg; break;
	case OPT_SPIN: opt->spin_ns = parse_count("--spin-us", arg, 0, 1000000) * 1000; break;
	case OPT_UDP: opt->udp = true; break;
	case OPT_SAVE: opt->save_path = arg; break;
	}
}

/* UDP has no connection to set up or to hold idle, and the servers' --udp
 * is IP only.  A datagram carries its sequence number and fits in one IPv4
 * UDP payload. */
static void check_udp(struct options *opt)
{
	opt->target.socktype = opt->udp ? SOCK_DGRAM : SOCK_STREAM;
	if (!opt->udp)
		return;
	if (opt->mode == MODE_CPR)
		usage_error("--udp and --connect-per-request cannot be combined: UDP has no "
			    "connection to set up");
	if (opt->idle)
		usage_error("--udp and --idle cannot be combined: UDP has no connection to "
			    "hold idle");
	if (opt->have_target && opt->target.family == AF_UNIX)
		usage_error("--udp needs a HOST:PORT target, not %s", opt->target.text);
	if (opt->have_target && strncmp(opt->target.text, "tcp://", 6) == 0)
		usage_error("--udp and a tcp:// target cannot be combined: write HOST:PORT");
	if (opt->size < MIN_UDP_SIZE || opt->size > MAX_UDP_SIZE)
		usage_error("--size %u: with --udp must be between %u (the sequence number) and "
			    "%u (the largest UDP payload)", opt->size, MIN_UDP_SIZE, MAX_UDP_SIZE);
}

/* Combinations that cannot mean anything. */
static void check_combinations(struct options *opt)
{
	check_udp(opt);
	if (opt->rate > 0 && opt->mode == MODE_CPR)
		usage_error("--rate and --connect-per-request cannot be combined");
	if (opt->rate > 0)
		opt->mode = MODE_OPEN;
	if (opt->mode == MODE_CPR && opt->pipeline != 1)
		usage_error("--pipeline has no meaning with --connect-per-request");
	if (opt->json && opt->csv)
		usage_error("--json and --csv cannot be combined");
	if (opt->threads > opt->conns)
		usage_error("--threads %u is more than --conns %u: every thread needs a connection",
			    opt->threads, opt->conns);
	if (opt->server_pid && kill(opt->server_pid, 0) != 0 && errno == ESRCH)
		usage_error("--server-pid %d: no such process", (int)opt->server_pid);
	if (opt->server_syscalls && !opt->server_pid)
		usage_error("--server-syscalls needs --server-pid: whose calls to count");
	if (opt->warmup_s < 0)
		opt->warmup_s = opt->requests ? 0 : 1;
	/* A probe unanswered for --timeout would fail a message's connection. */
	if (opt->probe_wait_s < 0)
		opt->probe_wait_s = opt->reply_timeout_s;
	if (!opt->have_target && !opt->replay_path && !opt->csv_header)
		usage_error("no TARGET given (e.g. 127.0.0.1:7000 or unix:/tmp/echo.sock)");
}

static const char *option_name(int c)
{
	for (const struct option *o = long_options; o->name; o++)
		if (o->val == c)
			return o->name;
	return "?";
}

/* Options that say how to report, not what load to make. */
static bool is_output_option(int c)
{
	return c == OPT_JSON || c == OPT_CSV || c == OPT_CSV_HEADER || c == OPT_HISTOGRAM ||
	       c == OPT_SAVE;
}

/* --merge: the arguments are saved runs.  One that is no file but reads
 * like a target is a mistake of usage, not a file to fail to open. */
static void check_merge(struct options *opt, char **files, unsigned nfiles)
{
	if (nfiles == 0)
		usage_error("--merge needs the files of one or more --save runs");
	if (opt->replay_path)
		usage_error("--merge and --replay cannot be combined");
	if (opt->json && opt->csv)
		usage_error("--json and --csv cannot be combined");
	for (unsigned i = 0; i < nfiles; i++)
		if (access(files[i], F_OK) != 0 && (strchr(files[i], ':') || files[i][0] == '['))
			usage_error("--merge reads --save files, not a target: '%s'", files[i]);
	opt->merge_paths = files;
	opt->merge_count = nfiles;
}

void options_parse(struct options *opt, int argc, char **argv)
{
	set_defaults(opt);
	opterr = 0;                     /* our own one-line messages */
	bool merge = false;
	int load_option = 0;            /* the first one that shapes a run */
	int c;
	while ((c = getopt_long(argc, argv, ":c:p:s:r:d:w:n:t:h", long_options, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (c == OPT_MERGE) {
			merge = true;
			continue;
		}
		if (c == '?')
			usage_error("unknown option '%s'", argv[optind - 1]);
		if (c == ':')
			usage_error("option '%s' needs a value", argv[optind - 1]);
		if (!load_option && !is_output_option(c) && c != OPT_MONITOR)
			load_option = c;
		apply_option(opt, c, optarg);
	}
	if (opt->monitor_pid) {
		if (merge || load_option || optind < argc)
			usage_error("--monitor takes nothing else: it only samples a process");
		if (kill(opt->monitor_pid, 0) != 0 && errno == ESRCH)
			usage_error("--monitor %d: no such process", (int)opt->monitor_pid);
		return;
	}
	if (merge) {
		/* The saved runs say how they were made; an option that would
		 * shape a run here means nothing, and ignoring it would mislead. */
		if (load_option)
			usage_error("--%s has no meaning with --merge, which only reports saved runs",
				    option_name(load_option));
		check_merge(opt, argv + optind, (unsigned)(argc - optind));
		return;
	}
	if (optind < argc) {
		parse_target(&opt->target, argv[optind]);
		opt->have_target = true;
		if (optind + 1 < argc)
			usage_error("unexpected argument '%s' after the target", argv[optind + 1]);
	}
	check_combinations(opt);
}
