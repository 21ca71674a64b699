/* options.h - loadgen's command line: what a run is asked to do (struct
 * options, with its target and limits), and the parser that fills it in
 * (options.c).  Below every other file: each reads the options, none
 * parses them. */
#ifndef LOADGEN_OPTIONS_H
#define LOADGEN_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define MAX_SIZE_BYTES   (1u << 20)     /* --size limit: 1 MiB per message */
#define MAX_PIPELINE     4096
#define MAX_THREADS      64
#define MAX_CONNS        1000000
#define MAX_OPTION_S     86400           /* --duration, --warmup and the timeouts */
#define MIN_UDP_SIZE     8               /* --udp: the sequence number, then the pattern */
#define MAX_UDP_SIZE     65507           /* --udp: 65535 - 20 (IPv4) - 8 (UDP header) */

enum mode { MODE_CLOSED, MODE_OPEN, MODE_CPR };

struct target {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int family;                     /* AF_INET, AF_INET6 or AF_UNIX */
	int socktype;                   /* SOCK_STREAM, or SOCK_DGRAM with --udp */
	char text[128];                 /* as the user wrote it, for messages */
};

struct options {
	struct target target;
	bool have_target;
	enum mode mode;
	unsigned conns, pipeline, threads, idle;
	unsigned size;                  /* bytes per message (per datagram with --udp) */
	bool udp;                       /* --udp: each message one datagram */
	double rate;                    /* messages/s in total (open loop) */
	double duration_s, warmup_s;
	bool duration_given;
	uint64_t requests;              /* 0: stop by --duration only */
	double connect_timeout_s, reply_timeout_s;
	double probe_wait_s;            /* --probe-wait: the connect phase's bound */
	uint64_t spin_ns;               /* open loop: busy-poll this long before a send */
	pid_t server_pid;               /* 0: none */
	bool server_syscalls;           /* count its calls (syscalls.c) */
	pid_t monitor_pid;              /* --monitor: sample it, no load (monitor.c) */
	bool json, csv, csv_header;
	const char *histogram_path;
	const char *replay_path;
	const char *save_path;          /* --save: the result, mergeable (saved.c) */
	char **merge_paths;             /* --merge: the saved runs to combine */
	unsigned merge_count;           /* 0: not --merge */
};

/* Fills opt from argv; on any mistake prints one line and exits 2. */
void options_parse(struct options *opt, int argc, char **argv);
/* "closed", "open" or "connect-per-request": in every output, and --save. */
const char *options_mode_name(enum mode mode);

#endif
