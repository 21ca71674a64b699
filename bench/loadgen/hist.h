/* hist.h - latency histogram with log-linear buckets (HdrHistogram-like).
 *
 * Values are nanoseconds.  Below 128 ns every value has its own bucket;
 * above, each power of two is cut into 128 equal buckets, so a bucket is
 * never wider than 1/128 of the values in it.  Reporting the middle of a
 * bucket is therefore within 0.4% of any sample in it, which meets the
 * 1% bound from 1 us to 60 s in a fixed 30 KB per histogram.  Values
 * above 2^36 ns (68.7 s) go into the last bucket and are counted in
 * above_range, so that a report can say its top percentiles are only lower
 * bounds.  Histograms of several threads merge by adding their buckets. */
#ifndef LOADGEN_HIST_H
#define LOADGEN_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS   7                       /* 2^7 = 128 buckets per octave */
#define HIST_SUB_COUNT  (1u << HIST_SUB_BITS)
#define HIST_MAX_BITS   36                      /* 2^36 ns = 68.7 s > 60 s */
#define HIST_BUCKETS    ((HIST_MAX_BITS - HIST_SUB_BITS + 1) * HIST_SUB_COUNT)
#define HIST_MAX_NS     ((UINT64_C(1) << HIST_MAX_BITS) - 1)

struct hist {
	uint64_t count;
	uint64_t min_ns, max_ns;        /* exact, not bucketed */
	double sum_ns, sum_sq_ns;       /* exact mean and stdev */
	uint64_t above_range;           /* values > HIST_MAX_NS, in the last bucket */
	uint64_t buckets[HIST_BUCKETS];
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t ns);
void hist_merge(struct hist *into, const struct hist *from);
double hist_mean(const struct hist *h);
double hist_stdev(const struct hist *h);
/* Nearest-rank percentile (pct in 0..100), in ns; 0 when empty. */
double hist_percentile(const struct hist *h, double pct);

/* For walking the distribution (the --histogram file). */
double hist_bucket_value(const struct hist *h, unsigned idx);

/* NULL if h could have been made by hist_record() and hist_merge(): its
 * buckets add up to its count without wrapping, min and max are in the
 * first and last non-empty bucket, above_range agrees with max, its sums
 * are finite.  Else what is wrong, for a message (reading a --save file). */
const char *hist_check(const struct hist *h);

#endif
