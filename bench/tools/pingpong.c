/* pingpong.c - the simplest possible latency client, the reference that
 * loadgen's 1-connection numbers are checked against: one blocking TCP or
 * Unix connection, send SIZE bytes, recv until all SIZE are back, repeat.
 * No epoll, no histogram, no verification beyond the byte count: every
 * round trip is kept, sorted, and the exact percentiles printed.
 *
 *   pingpong HOST:PORT|unix:PATH [COUNT [SIZE [WARMUP]]]
 *   (defaults 20000 round trips of 64 bytes after 2000 unmeasured)
 *
 * Output, one line: "pingpong n=20000 size=64 p50_us=.. p90_us=.. p99_us=.. mean_us=..". */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE_BYTES (1 << 20)

static void die(const char *what)
{
	fprintf(stderr, "pingpong: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Loopback only, like loadgen: 127.0.0.1:PORT, [::1]:PORT or unix:PATH. */
static int connect_to(const char *target)
{
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof(ss));
	if (strncmp(target, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
		sun->sun_family = AF_UNIX;
		snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", target + 5);
		len = sizeof(*sun);
	} else {
		const char *colon = strrchr(target, ':');
		if (!colon) {
			fprintf(stderr, "pingpong: target must be HOST:PORT or unix:PATH\n");
			exit(2);
		}
		char host[64];
		snprintf(host, sizeof(host), "%.*s", (int)(colon - target), target);
		int port = atoi(colon + 1);
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		if (host[0] == '[' && strlen(host) > 2) {
			host[strlen(host) - 1] = '\0';
			memmove(host, host + 1, strlen(host));
		}
		if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
			sin->sin_family = AF_INET;
			sin->sin_port = htons((uint16_t)port);
			len = sizeof(*sin);
		} else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
			sin6->sin6_family = AF_INET6;
			sin6->sin6_port = htons((uint16_t)port);
			len = sizeof(*sin6);
		} else {
			fprintf(stderr, "pingpong: '%s' is not a numeric address\n", host);
			exit(2);
		}
	}
	int fd = socket(ss.ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&ss, len) < 0)
		die("connect");
	int one = 1;
	if (ss.ss_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static uint64_t round_trip(int fd, const char *out, char *in, size_t size)
{
	uint64_t start = now_ns();
	if (send(fd, out, size, MSG_NOSIGNAL) != (ssize_t)size)
		die("send");
	for (size_t got = 0; got < size;) {
		ssize_t n = recv(fd, in + got, size - got, 0);
		if (n <= 0) {
			if (n == 0)
				errno = ECONNRESET;
			die("recv");
		}
		got += (size_t)n;
	}
	return now_ns() - start;
}

static int by_value(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: pingpong HOST:PORT|unix:PATH [COUNT [SIZE [WARMUP]]]\n");
		return 2;
	}
	long count = argc > 2 ? atol(argv[2]) : 20000;
	long size = argc > 3 ? atol(argv[3]) : 64;
	long warmup = argc > 4 ? atol(argv[4]) : 2000;
	if (count < 1 || size < 1 || size > MAX_SIZE_BYTES || warmup < 0) {
		fprintf(stderr, "pingpong: COUNT >= 1, 1 <= SIZE <= %d, WARMUP >= 0\n", MAX_SIZE_BYTES);
		return 2;
	}
	int fd = connect_to(argv[1]);
	char *out = malloc((size_t)size), *in = malloc((size_t)size);
	uint64_t *rtt = malloc((size_t)count * sizeof(*rtt));
	if (!out || !in || !rtt)
		die("malloc");
	memset(out, 'x', (size_t)size);
	for (long i = 0; i < warmup; i++)
		round_trip(fd, out, in, (size_t)size);
	double sum = 0;
	for (long i = 0; i < count; i++) {
		rtt[i] = round_trip(fd, out, in, (size_t)size);
		sum += (double)rtt[i];
	}
	qsort(rtt, (size_t)count, sizeof(*rtt), by_value);
	/* Nearest rank, as loadgen reports it. */
	printf("pingpong n=%ld size=%ld p50_us=%.3f p90_us=%.3f p99_us=%.3f mean_us=%.3f\n",
	       count, size, (double)rtt[(count * 50 + 99) / 100 - 1] / 1e3,
	       (double)rtt[(count * 90 + 99) / 100 - 1] / 1e3,
	       (double)rtt[(count * 99 + 99) / 100 - 1] / 1e3, sum / (double)count / 1e3);
	close(fd);
	return 0;
}
