/* hog.c - a bursty neighbour: busy BUSY_MS of every PERIOD_MS on each of
 * the CPUs given, for SECONDS, then it stops by itself.  For checking that
 * the harness's figures hold when another tenant takes the CPUs now and
 * then (docs/results.md, "Figures under a noisy neighbour"):
 *
 *     bin/hog --busy-ms 300 --period-ms 1500 --seconds 200 &
 *     make bench SUITES=idle BACKENDS=poll,epoll
 *
 * One thread per CPU of its affinity (or of --cpus), each pinned to its
 * CPU, spinning on the clock while busy and sleeping otherwise. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
	long busy_ms, period_ms;
	double seconds;
} opt = { 300, 1500, 60 };

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { (time_t)(t / 1000000000u), (long)(t % 1000000000u) };
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void *burn(void *arg)
{
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET((int)(intptr_t)arg, &one);
	pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
	uint64_t start = now_ns(), end = start + (uint64_t)(opt.seconds * 1e9);
	for (uint64_t period = start; period < end; period += (uint64_t)opt.period_ms * 1000000u) {
		uint64_t busy_until = period + (uint64_t)opt.busy_ms * 1000000u;
		while (now_ns() < busy_until && now_ns() < end)
			;               /* the burst: a CPU's worth of work */
		sleep_until(period + (uint64_t)opt.period_ms * 1000000u);
	}
	return NULL;
}

static long number(const char *name, const char *text, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || *end || end == text || v < min || v > max) {
		fprintf(stderr, "hog: %s: '%s' is not a number from %ld to %ld\n", name, text,
			min, max);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "busy-ms", required_argument, NULL, 'b' },
		{ "period-ms", required_argument, NULL, 'p' },
		{ "seconds", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 }
	};
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'b': opt.busy_ms = number("--busy-ms", optarg, 0, 3600000); break;
		case 'p': opt.period_ms = number("--period-ms", optarg, 1, 3600000); break;
		case 's': opt.seconds = (double)number("--seconds", optarg, 1, 86400); break;
		case 'h':
			printf("usage: hog [--busy-ms MS] [--period-ms MS] [--seconds S]\n"
			       "Busy MS of every period on each CPU it may run on (default 300\n"
			       "of 1500), for S seconds (default 60), then it ends.\n");
			return 0;
		default:
			fprintf(stderr, "hog: unknown option '%s' (see --help)\n", argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc || opt.busy_ms > opt.period_ms) {
		fprintf(stderr, "hog: %s\n", optind < argc ? "takes no arguments (see --help)"
			: "--busy-ms must not be above --period-ms");
		return 2;
	}
	cpu_set_t cpus;
	sched_getaffinity(0, sizeof(cpus), &cpus);
	pthread_t threads[CPU_SETSIZE];
	int n = 0;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &cpus) && pthread_create(&threads[n], NULL, burn,
							     (void *)(intptr_t)cpu) == 0)
			n++;
	for (int i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	return 0;
}
