/* hist.c - log-linear latency histogram; see hist.h for the bucket layout. */
#include "hist.h"

#include <math.h>
#include <string.h>

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min_ns = UINT64_MAX;
}

/* Bucket index: values < 128 map to themselves; a value with its top bit
 * at position b >= 7 keeps its top 8 bits, i.e. it is rounded down to a
 * multiple of 2^(b-7), and lands in octave (b-7)+1. */
static unsigned bucket_of(uint64_t ns)
{
	if (ns < HIST_SUB_COUNT)
		return (unsigned)ns;
	unsigned top_bit = 63 - (unsigned)__builtin_clzll(ns);
	unsigned shift = top_bit - HIST_SUB_BITS;
	return (shift + 1) * HIST_SUB_COUNT + (unsigned)((ns >> shift) - HIST_SUB_COUNT);
}

static uint64_t bucket_low(unsigned idx)
{
	if (idx < HIST_SUB_COUNT)
		return idx;
	unsigned shift = idx / HIST_SUB_COUNT - 1;
	uint64_t sub = idx % HIST_SUB_COUNT + HIST_SUB_COUNT;
	return sub << shift;
}

static uint64_t bucket_width(unsigned idx)
{
	return idx < HIST_SUB_COUNT ? 1 : UINT64_C(1) << (idx / HIST_SUB_COUNT - 1);
}

void hist_record(struct hist *h, uint64_t ns)
{
	if (ns < h->min_ns)
		h->min_ns = ns;
	if (ns > h->max_ns)
		h->max_ns = ns;
	h->count++;
	h->sum_ns += (double)ns;
	h->sum_sq_ns += (double)ns * (double)ns;
	/* Beyond 68.7 s the last bucket absorbs it; max_ns still tells the
	 * truth, and above_range says how many percentiles cannot. */
	if (ns > HIST_MAX_NS) {
		h->above_range++;
		ns = HIST_MAX_NS;
	}
	h->buckets[bucket_of(ns)]++;
}

void hist_merge(struct hist *into, const struct hist *from)
{
	if (from->count == 0)
		return;
	if (from->min_ns < into->min_ns)
		into->min_ns = from->min_ns;
	if (from->max_ns > into->max_ns)
		into->max_ns = from->max_ns;
	into->count += from->count;
	into->sum_ns += from->sum_ns;
	into->sum_sq_ns += from->sum_sq_ns;
	into->above_range += from->above_range;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		into->buckets[i] += from->buckets[i];
}

double hist_mean(const struct hist *h)
{
	return h->count ? h->sum_ns / (double)h->count : 0;
}

double hist_stdev(const struct hist *h)
{
	if (h->count < 2)
		return 0;
	double mean = hist_mean(h);
	double var = h->sum_sq_ns / (double)h->count - mean * mean;
	return var > 0 ? sqrt(var) : 0;     /* rounding can make it -epsilon */
}

/* The middle of the bucket, kept inside the exact [min, max] so that p0
 * and p100 are never outside what was really seen. */
double hist_bucket_value(const struct hist *h, unsigned idx)
{
	double mid = (double)bucket_low(idx) + (double)(bucket_width(idx) - 1) / 2;
	if (mid < (double)h->min_ns)
		mid = (double)h->min_ns;
	if (mid > (double)h->max_ns)
		mid = (double)h->max_ns;
	return mid;
}

const char *hist_check(const struct hist *h)
{
	if (!isfinite(h->sum_ns) || !isfinite(h->sum_sq_ns) || h->sum_ns < 0 || h->sum_sq_ns < 0)
		return "its sums are not finite non-negative numbers";
	if (h->count == 0)
		return h->min_ns == UINT64_MAX && h->max_ns == 0 && h->sum_ns == 0 &&
		       h->sum_sq_ns == 0 && h->above_range == 0 ? NULL
			: "an empty histogram has other figures than an empty one's";
	if (h->min_ns > h->max_ns)
		return "its min is above its max";
	if ((h->above_range > 0) != (h->max_ns > HIST_MAX_NS) || h->above_range > h->count)
		return "its above_range does not agree with its max and count";
	uint64_t total = 0;
	unsigned first = HIST_BUCKETS, last = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		if (h->buckets[i] == 0)
			continue;
		if (__builtin_add_overflow(total, h->buckets[i], &total))
			return "its bucket counts add up to more than 2^64";
		if (first == HIST_BUCKETS)
			first = i;
		last = i;
	}
	if (total != h->count)
		return "its bucket counts do not add up to its count";
	uint64_t top = h->max_ns > HIST_MAX_NS ? HIST_MAX_NS : h->max_ns;
	uint64_t bottom = h->min_ns > HIST_MAX_NS ? HIST_MAX_NS : h->min_ns;
	if (first != bucket_of(bottom) || last != bucket_of(top))
		return "its min and max are not in its first and last buckets";
	if (h->above_range > h->buckets[last])
		return "its above_range is more than its last bucket holds";
	return NULL;
}

double hist_percentile(const struct hist *h, double pct)
{
	if (h->count == 0)
		return 0;
	/* Nearest rank: the smallest sample with at least pct% at or below it.
	 * Round first so that 99% of 1000 is rank 990, not 991 by float noise. */
	double exact_rank = pct / 100.0 * (double)h->count;
	double whole = round(exact_rank);
	uint64_t rank = (uint64_t)(fabs(exact_rank - whole) < 1e-6 ? whole : ceil(exact_rank));
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank)
			return hist_bucket_value(h, i);
	}
	return (double)h->max_ns;
}
