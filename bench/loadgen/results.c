/* results.c - results added up, counted and annotated; see results.h.
 * main.c adds each worker thread's part into its run's and merge.c each
 * saved run into the merge's, both with results_add(), so that a count
 * or a histogram is combined the same way wherever it comes from. */
#include "results.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void results_init(struct results *r, const struct options *opt)
{
	memset(r, 0, sizeof(*r));
	r->opt = opt;
	hist_init(&r->latency);
	hist_init(&r->uncorrected);
	hist_init(&r->connect);
	r->self_runq_wait_s = r->server_runq_wait_s = r->steal_pct = -1;
	r->server_tasks_ran = r->server_cpus = -1;
}

/* Each part held and probed its own connections: their counts add up;
 * the phase took as long as the longest. */
static void add_connect_phase(struct connect_phase *p, const struct connect_phase *q)
{
	if (!q->done)
		return;
	p->done = true;
	p->held += q->held;
	p->served += q->served;
	p->waiting += q->waiting;
	if (q->duration_s > p->duration_s)
		p->duration_s = q->duration_s;
	if (q->probe_wait_s > p->probe_wait_s)
		p->probe_wait_s = q->probe_wait_s;
}

bool results_add(struct results *r, const struct results *part)
{
	bool first_error = part->errors && !r->errors;
	uint64_t sum;
	/* Histograms add bucket by bucket: percentiles of all the samples,
	 * never an average of percentiles. */
	if (__builtin_add_overflow(r->messages, part->messages, &r->messages) ||
	    __builtin_add_overflow(r->connects, part->connects, &r->connects) ||
	    __builtin_add_overflow(r->lost, part->lost, &r->lost) ||
	    __builtin_add_overflow(r->errors, part->errors, &r->errors) ||
	    __builtin_add_overflow(r->messages, r->lost, &sum) ||
	    __builtin_add_overflow(r->connect_phase.held, part->connect_phase.held, &sum))
		return false;
	if (first_error)
		strcpy(r->first_error, part->first_error);
	hist_merge(&r->latency, &part->latency);
	hist_merge(&r->uncorrected, &part->uncorrected);
	hist_merge(&r->connect, &part->connect);
	add_connect_phase(&r->connect_phase, &part->connect_phase);
	return true;
}

void results_error(struct results *r, const char *fmt, ...)
{
	if (r->errors++ > 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->first_error, sizeof(r->first_error), fmt, ap);
	va_end(ap);
}

void results_warn(struct results *r, const char *fmt, ...)
{
	struct warnings *w = &r->warnings;
	char text[WARNING_BYTES];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	char **more = realloc(w->text, (w->count + 1) * sizeof(*w->text));
	char *copy = more ? strdup(text) : NULL;
	if (more)
		w->text = more;
	if (!copy) {
		/* Out of memory: said at once, if not listed in JSON. */
		fprintf(stderr, "loadgen: warning: %s\n", text);
		return;
	}
	w->text[w->count++] = copy;
}

void results_free(struct results *r)
{
	struct warnings *w = &r->warnings;
	for (unsigned i = 0; i < w->count; i++)
		free(w->text[i]);
	free(w->text);
	*w = (struct warnings){ NULL, 0 };
}
