/* clock.h - the load generator's clocks, in nanoseconds: CLOCK_MONOTONIC
 * for every time of a run (its schedule, send and reply times, timeouts),
 * which no clock adjustment moves, and CLOCK_REALTIME only where runs on
 * several hosts must be lined up (--save, --monitor).  Below every file
 * that tells the time, so that none asks another for it. */
#ifndef LOADGEN_CLOCK_H
#define LOADGEN_CLOCK_H

#include <stdint.h>
#include <time.h>

#define NS_PER_S 1000000000ull

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static inline uint64_t realtime_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static inline uint64_t earliest(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

#endif
