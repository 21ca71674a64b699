/* merge.c - --merge FILE...: several saved runs, typically one per host
 * against one server started together, reported as one run.
 *
 * Counts (messages, errors, lost, connections) and loadgen's CPU are
 * summed; histograms are merged bucket by bucket, so percentiles are those
 * of all the samples together (never an average of percentiles) and min
 * and max are exact.  The measured interval is the union of the runs'
 * intervals on CLOCK_REALTIME, from the earliest start to the latest end,
 * and msg/s is all messages over it: for runs started within a few ms of
 * each other that is their summed rate to within those ms, and runs that
 * did not overlap are not made to look concurrent.  Server CPU and memory
 * are those of one run, the one that measured the most server CPU: several
 * loadgens watching one server each measure its whole CPU over their own
 * interval, so a sum would count it once per loadgen; the server's
 * run-queue wait comes from that run too.  Loadgen's own waits are summed,
 * the host's steal is the most any run saw, the connect phases' counts are
 * summed.  The merge's warnings are each run's, under its file's name,
 * then the merge's own.  The counts, histograms, connect phases and first
 * error are added by results_add(), as main.c adds a run's threads; main.c
 * reports the merged run as it reports any. */
#include "merge.h"
#include "options.h"
#include "report.h"
#include "results.h"
#include "saved.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MIN_OVERLAP_SHARE 0.9   /* less in common: warn that msg/s is diluted */

struct window {
	uint64_t first_start, last_start, first_end, last_end;
	unsigned runs;          /* runs that have one (--replay saves have none) */
};

static int refuse(const char *path, const char *first, const char *what,
		  const char *a, const char *b)
{
	fprintf(stderr, "loadgen: --merge: %s has %s %s but %s has %s: not one load, "
		"cannot be merged\n", path, what, b, first, a);
	return 2;
}

static int check_compatible(const struct options *a, const char *first,
			    const struct options *b, const char *path)
{
	char na[16], nb[16];
	if (a->mode != b->mode)
		return refuse(path, first, "mode", options_mode_name(a->mode),
			      options_mode_name(b->mode));
	if (a->udp != b->udp)
		return refuse(path, first, "transport", a->udp ? "udp" : "tcp",
			      b->udp ? "udp" : "tcp");
	snprintf(na, sizeof(na), "%u", a->size);
	snprintf(nb, sizeof(nb), "%u", b->size);
	if (a->size != b->size)
		return refuse(path, first, "--size", na, nb);
	snprintf(na, sizeof(na), "%u", a->pipeline);
	snprintf(nb, sizeof(nb), "%u", b->pipeline);
	if (a->pipeline != b->pipeline)
		return refuse(path, first, "--pipeline", na, nb);
	return 0;
}

/* One file named twice (a and ./a, or a hard link) would count its run
 * twice, doubling msg/s: refused, by device and inode.  A file that cannot
 * be read is left to saved_read() to report. */
static int check_distinct(const struct options *cli)
{
	struct file_id {
		bool known;             /* stat() worked */
		dev_t dev;
		ino_t ino;
	} *ids = calloc(cli->merge_count, sizeof(*ids));
	if (!ids) {
		fprintf(stderr, "loadgen: --merge: out of memory\n");
		return 1;
	}
	int status = 0;
	for (unsigned i = 0; i < cli->merge_count && status == 0; i++) {
		struct stat st;
		if (stat(cli->merge_paths[i], &st) != 0)
			continue;
		ids[i] = (struct file_id){ true, st.st_dev, st.st_ino };
		for (unsigned j = 0; j < i && status == 0; j++)
			if (ids[j].known && ids[j].dev == st.st_dev && ids[j].ino == st.st_ino) {
				fprintf(stderr, "loadgen: --merge: %s and %s are the same file: "
					"its run would count twice\n", cli->merge_paths[j],
					cli->merge_paths[i]);
				status = 2;
			}
	}
	free(ids);
	return status;
}

static void window_add(struct window *w, const struct results *r)
{
	if (r->window_start_ns == 0)
		return;
	if (w->runs++ == 0) {
		w->first_start = w->last_start = r->window_start_ns;
		w->first_end = w->last_end = r->window_end_ns;
		return;
	}
	if (r->window_start_ns < w->first_start)
		w->first_start = r->window_start_ns;
	if (r->window_start_ns > w->last_start)
		w->last_start = r->window_start_ns;
	if (r->window_end_ns < w->first_end)
		w->first_end = r->window_end_ns;
	if (r->window_end_ns > w->last_end)
		w->last_end = r->window_end_ns;
}

static double total_s(const struct cpu_times *t)
{
	return t->user_s + t->sys_s;
}

/* Adds run's waits and steal to sum's.  Each loadgen's threads waited on
 * their own: summed (unknown if one is).  Steal is the host's: the most
 * any run saw. */
static void combine_disturbance(struct results *s, const struct results *r)
{
	s->self_runq_wait_s = s->self_runq_wait_s < 0 || r->self_runq_wait_s < 0 ? -1
			      : s->self_runq_wait_s + r->self_runq_wait_s;
	if (r->steal_pct > s->steal_pct)
		s->steal_pct = r->steal_pct;
}

/* Adds run to sum: the options that describe the load, then the results
 * (counts, histograms, connect phase and first error by results_add());
 * false if a sum would wrap (only absurd saves get there), and then sum
 * is half made: the merge stops. */
static bool combine(struct saved_run *sum, const struct saved_run *run)
{
	struct options *o = &sum->opt;
	struct results *s = &sum->r;
	const struct results *r = &run->r;
	bool wrapped = __builtin_add_overflow(o->conns, run->opt.conns, &o->conns) ||
		       __builtin_add_overflow(o->threads, run->opt.threads, &o->threads) ||
		       __builtin_add_overflow(o->idle, run->opt.idle, &o->idle) ||
		       !results_add(s, r);
	if (wrapped)
		return false;
	o->rate += run->opt.rate;               /* open loop: the total asked for */
	if (run->opt.warmup_s > o->warmup_s)
		o->warmup_s = run->opt.warmup_s;
	if (run->opt.reply_timeout_s > o->reply_timeout_s)
		o->reply_timeout_s = run->opt.reply_timeout_s;
	if (strcmp(o->target.text, run->opt.target.text) != 0)
		strcpy(o->target.text, "several targets");
	s->self_cpu.user_s += r->self_cpu.user_s;
	s->self_cpu.sys_s += r->self_cpu.sys_s;
	if (r->self_peak_rss_kib > s->self_peak_rss_kib)
		s->self_peak_rss_kib = r->self_peak_rss_kib;
	if (r->have_server && (!s->have_server || total_s(&r->server_cpu) > total_s(&s->server_cpu))) {
		s->have_server = true;
		s->server_cpu = r->server_cpu;
		s->server_peak_rss_kib = r->server_peak_rss_kib;
		s->server_peak_pss_kib = r->server_peak_pss_kib;
		s->server_runq_wait_s = r->server_runq_wait_s;
		s->server_tasks_ran = r->server_tasks_ran;
		s->server_cpus = r->server_cpus;
	}
	combine_disturbance(s, r);
	return true;
}

/* A run's warnings go into the merge's, each under its file's name. */
static void take_warnings(struct results *into, const char *path, struct results *run)
{
	for (unsigned i = 0; i < run->warnings.count; i++)
		results_warn(into, "%s: %s", path, run->warnings.text[i]);
	results_free(run);
}

static void set_window(struct results *r, const struct window *w)
{
	r->window_start_ns = w->runs ? w->first_start : 0;
	r->window_end_ns = w->runs ? w->last_end : 0;
	r->measured_s = (double)(r->window_end_ns - r->window_start_ns) / 1e9;
	if (w->runs < 2)
		return;
	double common_s = w->first_end > w->last_start ?
		(double)(w->first_end - w->last_start) / 1e9 : 0;
	if (common_s < MIN_OVERLAP_SHARE * r->measured_s)
		results_warn(r, "the runs have %.3f s in common of the %.3f s from the "
			     "first start to the last end: msg/s is over all of it, and server "
			     "CPU-us/msg divides one run's server CPU by every run's messages: "
			     "both read low", common_s, r->measured_s);
}

int merge_saved(const struct options *cli, struct saved_run *sum)
{
	struct saved_run *run = calloc(1, sizeof(*run));    /* each file as read */
	struct window w = { 0 };
	int status = 1;
	if (!run) {
		fprintf(stderr, "loadgen: --merge: out of memory\n");
		return 1;
	}
	const char *first = cli->merge_paths[0];
	if ((status = check_distinct(cli)) != 0 || (status = saved_read(first, run)) != 0)
		goto out;
	*sum = *run;                    /* the merge starts from the first run */
	sum->r.opt = &sum->opt;
	sum->r.warnings = (struct warnings){ NULL, 0 };
	take_warnings(&sum->r, first, &run->r);
	window_add(&w, &sum->r);
	for (unsigned i = 1; i < cli->merge_count; i++) {
		const char *path = cli->merge_paths[i];
		if ((status = saved_read(path, run)) != 0 ||
		    (status = check_compatible(&sum->opt, first, &run->opt, path)) != 0)
			goto out;
		if (!combine(sum, run)) {
			fprintf(stderr, "loadgen: --merge: with %s the runs' counts add up to more "
				"than loadgen can count\n", path);
			status = 2;
			goto out;
		}
		window_add(&w, &run->r);
		take_warnings(&sum->r, path, &run->r);
	}
	set_window(&sum->r, &w);
	sum->opt.json = cli->json;
	sum->opt.csv = cli->csv;
	sum->opt.csv_header = cli->csv_header;
	sum->opt.histogram_path = cli->histogram_path;
	sum->opt.save_path = cli->save_path;
	report_add_warnings(&sum->r, true);
out:
	results_free(&run->r);
	free(run);
	return status;
}
