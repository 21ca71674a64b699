/* core-listen.c - the listening socket (TCP on an address or a Unix
 * socket, and the UDP socket beside it with --udp), more of them for a
 * backend with several loops, and the ready line that says the server
 * listens. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "core.h"
#include "core-internal.h"

#define ADDR_TEXT_BYTES  (INET6_ADDRSTRLEN + 16 + sizeof(((struct sockaddr_un *)0)->sun_path))

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
 * datagram came to, which its echo goes back from (core-readiness.c). */
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

/* The ready line, printed when the backend is about to wait for its first
 * client (its first accept_client(), or the end of loop_init()): a backend
 * that fails its own setup never says it is ready. */
static char listen_addr[ADDR_TEXT_BYTES];
static pid_t ready_pid;              /* the process that says it */
static atomic_int ready_calls = 1;   /* server_ready() calls still to come */

int listen_socket(void)
{
	int fd = opt.unix_path ? listen_unix(listen_addr, sizeof listen_addr)
			       : listen_inet(listen_addr, sizeof listen_addr);

	if (listen(fd, opt.backlog) < 0)
		die("listen: %s", strerror(errno));
	ready_pid = getpid();
	listen_fd = fd;
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

void close_listener(void)
{
	int lfd = listen_fd;

	listen_fd = -1;  /* first: the handler must not shut down a reused number */
	close(lfd);
}

void detach_listener(void)
{
	listen_fd = -1;
}
