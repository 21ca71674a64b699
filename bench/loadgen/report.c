/* report.c - printing results: a summary for people, JSON and CSV for the
 * benchmark harness, and a percentile file for gnuplot.  Every latency is
 * a full round trip (first byte sent to last byte back), in microseconds. */
#include "report.h"
#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double percentiles[] = { 50, 90, 99, 99.9, 99.99 };
static const char *const percentile_keys[] = { "p50", "p90", "p99", "p999", "p9999" };
#define NPERCENTILES (sizeof(percentiles) / sizeof(percentiles[0]))
#define KEPT_UP_SHARE 0.95      /* open loop achieving less did not keep up */
#define DISTURBED_SHARE 0.10    /* more of the window waiting for a CPU, or stolen */
#define DISTURBED_MIN_S 0.1     /* a shorter window is too short to judge: a few
				 * wake-ups or one tick of steal are a large share */

static const char *transport(const struct options *o)
{
	return o->udp ? "udp" : "tcp";
}

static double us(double ns)
{
	return ns / 1000.0;
}

static double per_msg_us(const struct cpu_times *t, uint64_t messages)
{
	return messages ? (t->user_s + t->sys_s) * 1e6 / (double)messages : 0;
}

/* CPU as a share of the measured wall time; above 100 with several
 * threads.  Near 100 per loadgen thread, loadgen is the bottleneck. */
static double cpu_pct(const struct cpu_times *t, const struct results *r)
{
	return r->measured_s > 0 ? (t->user_s + t->sys_s) * 100 / r->measured_s : 0;
}

/* Achieved: messages over the time to the last reply (see measured_s). */
static double msgs_per_s(const struct results *r)
{
	return r->measured_s > 0 ? (double)r->messages / r->measured_s : 0;
}

/* Open loop: 1 if the achieved rate was at least KEPT_UP_SHARE of --rate,
 * else 0; -1 in the modes that ask for no rate. */
static int kept_up(const struct results *r)
{
	if (r->opt->mode != MODE_OPEN)
		return -1;
	return msgs_per_s(r) >= KEPT_UP_SHARE * r->opt->rate;
}

/* Stats in the order of the table header: min mean stdev p50..p99.99 max. */
static void stats_us(const struct hist *h, double out[NPERCENTILES + 4])
{
	out[0] = us(h->count ? (double)h->min_ns : 0);
	out[1] = us(hist_mean(h));
	out[2] = us(hist_stdev(h));
	for (unsigned i = 0; i < NPERCENTILES; i++)
		out[3 + i] = us(hist_percentile(h, percentiles[i]));
	out[3 + NPERCENTILES] = us((double)h->max_ns);
}

static void human_row(FILE *out, const char *name, const struct hist *h)
{
	double v[NPERCENTILES + 4];
	stats_us(h, v);
	fprintf(out, "  %-12s", name);
	for (unsigned i = 0; i < NPERCENTILES + 4; i++)
		fprintf(out, " %9.1f", v[i]);
	fprintf(out, "\n");
	if (h->above_range)
		fprintf(out, "  %-12s %llu above %.1f s, the histogram's range: percentiles among "
			"them are lower bounds (max is exact)\n", name,
			(unsigned long long)h->above_range, (double)HIST_MAX_NS / 1e9);
}

/* A memory figure; -1 is unknown. */
static void human_mib(FILE *out, const char *label, long kib)
{
	if (kib >= 0)
		fprintf(out, ", %s %.1f MiB", label, (double)kib / 1024);
	else
		fprintf(out, ", %s unknown", label);
}

/* Without the newline: the server's line goes on with its PSS. */
static void human_cpu(FILE *out, const char *who, const struct cpu_times *t,
		      const struct results *r, long rss_kib)
{
	fprintf(out, "  %-8s %7.2f s user + %7.2f s sys = %7.2f CPU-us/msg, %5.1f%% CPU",
		who, t->user_s, t->sys_s, per_msg_us(t, r->messages), cpu_pct(t, r));
	human_mib(out, "peak RSS", rss_kib);
}

/* "0.012 s (0.2%)" of the window, or "unknown" (-1). */
static const char *wait_text(char *buf, size_t len, double wait_s, const struct results *r)
{
	if (wait_s < 0)
		snprintf(buf, len, "unknown");
	else
		snprintf(buf, len, "%.3f s (%.1f%%)", wait_s,
			 r->measured_s > 0 ? wait_s * 100 / r->measured_s : 0);
	return buf;
}

static const char *steal_text(char *buf, size_t len, double pct)
{
	if (pct < 0)
		snprintf(buf, len, "unknown");
	else
		snprintf(buf, len, "%.1f%%", pct);
	return buf;
}

/* A server that ran more tasks than it has CPUs (threads, fork and the
 * rest under load) waits for its own tasks: that is its model's cost, and
 * no sign of a neighbour.  Its wait is still reported. */
static bool waits_for_itself(const struct results *r)
{
	return r->server_tasks_ran >= 0 && r->server_cpus > 0 &&
	       r->server_tasks_ran > r->server_cpus;
}

/* One line: how long each side was runnable but had no CPU in the window,
 * and what the host's hypervisor took. */
static void human_waits(FILE *out, const struct results *r)
{
	char self[48], server[48], steal[16];
	if (r->self_runq_wait_s < 0 && r->server_runq_wait_s < 0 && r->steal_pct < 0)
		return;                 /* --replay: nothing ran */
	fprintf(out, "  run queue loadgen %s", wait_text(self, sizeof(self), r->self_runq_wait_s, r));
	if (r->have_server)
		fprintf(out, ", server %s%s", wait_text(server, sizeof(server),
						       r->server_runq_wait_s, r),
			waits_for_itself(r) ? " (more tasks than CPUs: its own)" : "");
	fprintf(out, " waiting for a CPU; host steal %s\n",
		steal_text(steal, sizeof(steal), r->steal_pct));
}

static void human_connect_phase(FILE *out, const struct connect_phase *p)
{
	if (!p->done)
		return;
	fprintf(out, "connect phase %.2f s: %llu of %llu held connections served before warmup",
		p->duration_s, (unsigned long long)p->served, (unsigned long long)p->held);
	if (p->waiting)
		fprintf(out, ", %llu still waiting after --probe-wait %g s",
			(unsigned long long)p->waiting, p->probe_wait_s);
	if (p->held > p->served + p->waiting)
		fprintf(out, ", %llu failed", (unsigned long long)(p->held - p->served - p->waiting));
	fprintf(out, "\n");
}

/* With lost messages in them the percentiles are lower bounds: a lost
 * message is recorded with the time it had waited when it was given up.
 * So are those that fall among samples beyond the histogram's range. */
static bool latency_lower_bound(const struct results *r)
{
	return r->lost > 0 || r->latency.above_range > 0 || r->uncorrected.above_range > 0 ||
	       r->connect.above_range > 0;
}

/* The calls that are not among the named ones. */
static uint64_t other_calls(const struct syscall_counts *s)
{
	uint64_t named = 0;
	for (unsigned i = 0; i < s->n; i++)
		named += s->calls[i];
	return s->total > named ? s->total - named : 0;
}

/* --server-syscalls: one line, per message, the named calls made. */
static void human_syscalls(FILE *out, const struct results *r)
{
	const struct syscall_counts *s = &r->syscalls;
	double n = s->messages ? (double)s->messages : 1;
	if (!s->have)
		return;
	fprintf(out, "  syscalls server %.2f per message:", (double)s->total / n);
	for (unsigned i = 0; i < s->n; i++)
		if (s->calls[i])
			fprintf(out, " %s %.2f", s->name[i], (double)s->calls[i] / n);
	fprintf(out, ", other %.2f\n", (double)other_calls(s) / n);
}

void report_human(FILE *out, const struct results *r)
{
	const struct options *o = r->opt;
	fprintf(out, "%s on %s%s: %u conns x pipeline %u, %u B messages, %u thread%s, %u idle",
		options_mode_name(o->mode), o->udp ? "UDP " : "", o->target.text, o->conns,
		o->pipeline, o->size, o->threads, o->threads == 1 ? "" : "s", o->idle);
	if (o->mode == MODE_OPEN)
		fprintf(out, ", rate %g msg/s", o->rate);
	fprintf(out, "\nmeasured %.2f s after %.2f s warmup: %llu messages, %.1f msg/s",
		r->measured_s, o->warmup_s, (unsigned long long)r->messages, msgs_per_s(r));
	if (o->mode == MODE_OPEN)
		fprintf(out, " (requested %g)", o->rate);
	fprintf(out, ", %llu errors, %llu lost\n", (unsigned long long)r->errors,
		(unsigned long long)r->lost);
	human_connect_phase(out, &r->connect_phase);
	if (o->mode == MODE_CPR)
		fprintf(out, "connections: %llu opened, %.1f conn/s measured\n",
			(unsigned long long)r->connects, msgs_per_s(r));
	if (r->lost)
		fprintf(out, "latencies are lower bounds: the %llu lost messages count with the "
			"time they had waited when they were given up\n", (unsigned long long)r->lost);
	fprintf(out, "latency (us)         min      mean     stdev       p50       p90"
		"       p99     p99.9    p99.99       max\n");
	human_row(out, o->mode == MODE_OPEN ? "corrected" : "round trip", &r->latency);
	if (o->mode == MODE_OPEN)
		human_row(out, "uncorrected", &r->uncorrected);
	if (o->mode == MODE_CPR)
		human_row(out, "connect", &r->connect);
	fprintf(out, "cpu\n");
	human_cpu(out, "loadgen", &r->self_cpu, r, r->self_peak_rss_kib);
	fprintf(out, "\n");
	if (r->have_server) {
		human_cpu(out, "server", &r->server_cpu, r, r->server_peak_rss_kib);
		human_mib(out, "PSS", r->server_peak_pss_kib);
		fprintf(out, "\n");
	}
	human_waits(out, r);
	human_syscalls(out, r);
	if (r->errors)
		fprintf(out, "error: %s\n", r->first_error);
}

/* Either side runnable without a CPU, or the host's CPU stolen, for more
 * than DISTURBED_SHARE of the window: the figures measured the neighbours
 * as much as the server. */
static void warn_disturbed(struct results *r)
{
	char self[48], server[64] = "", steal[48] = "";
	double limit = DISTURBED_SHARE * r->measured_s;
	if (r->measured_s < DISTURBED_MIN_S || (r->self_runq_wait_s <= limit &&
						(r->server_runq_wait_s <= limit ||
						 waits_for_itself(r)) &&
						r->steal_pct <= DISTURBED_SHARE * 100))
		return;
	if (r->server_runq_wait_s >= 0) {
		char wait[48];
		snprintf(server, sizeof(server), ", the server %s",
			 wait_text(wait, sizeof(wait), r->server_runq_wait_s, r));
	}
	if (r->steal_pct >= 0)
		snprintf(steal, sizeof(steal), ", and the host's steal was %.1f%%", r->steal_pct);
	results_warn(r, "disturbed: in the %.2f s window loadgen waited %s for a "
		     "CPU%s%s (over %.0f%% is disturbed): rerun on a quieter machine",
		     r->measured_s, wait_text(self, sizeof(self), r->self_runq_wait_s, r), server,
		     steal, DISTURBED_SHARE * 100);
}

void report_add_warnings(struct results *r, bool merged)
{
	const struct connect_phase *p = &r->connect_phase;
	if (kept_up(r) == 0 && !r->errors && !r->lost)  /* else the error line says why */
		results_warn(r, "achieved %.1f msg/s, below %.0f%% of the requested %g msg/s: the "
			    "server (or loadgen) did not keep up", msgs_per_s(r),
			    KEPT_UP_SHARE * 100, r->opt->rate);
	if (merged)
		return;
	if (p->waiting)
		results_warn(r, "the server served only %llu of %llu held connections in the connect "
			    "phase (--probe-wait %g s): the window began with %llu of them waiting "
			    "for it", (unsigned long long)p->served, (unsigned long long)p->held,
			    p->probe_wait_s, (unsigned long long)p->waiting);
	warn_disturbed(r);
}

static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(out, "\\u%04x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

/* A number, to `decimals` places (%g if negative), or null if it is not
 * finite: JSON has no nan or inf, and a reader must not meet them. */
static void json_number(FILE *out, double v, int decimals)
{
	if (!isfinite(v))
		fputs("null", out);
	else if (decimals < 0)
		fprintf(out, "%g", v);
	else
		fprintf(out, "%.*f", decimals, v);
}

/* ", "KEY": V": a member after the first of an object. */
static void json_member(FILE *out, const char *key, double v, int decimals)
{
	fprintf(out, ", \"%s\": ", key);
	json_number(out, v, decimals);
}

static void json_hist(FILE *out, const char *key, const struct hist *h)
{
	double v[NPERCENTILES + 4];
	stats_us(h, v);
	fprintf(out, ",\n  \"%s\": {\"count\": %llu", key, (unsigned long long)h->count);
	json_member(out, "min", v[0], 3);
	json_member(out, "mean", v[1], 3);
	json_member(out, "stdev", v[2], 3);
	for (unsigned i = 0; i < NPERCENTILES; i++)
		json_member(out, percentile_keys[i], v[3 + i], 3);
	json_member(out, "max", v[3 + NPERCENTILES], 3);
	fprintf(out, ", \"above_range\": %llu}", (unsigned long long)h->above_range);
}

/* A memory figure; -1 (unknown) is null. */
static void json_kib(FILE *out, const char *key, long kib)
{
	if (kib >= 0)
		fprintf(out, ", \"%s\": %ld", key, kib);
	else
		fprintf(out, ", \"%s\": null", key);
}

/* A member that may be unknown (-1): null then. */
static void json_known(FILE *out, const char *key, double v, int decimals)
{
	json_member(out, key, v < 0 ? NAN : v, decimals);
}

/* Leaves the object open: the server's goes on with its PSS. */
static void json_cpu(FILE *out, const char *key, const struct cpu_times *t,
		     const struct results *r, long rss_kib, double runq_wait_s)
{
	fprintf(out, ",\n  \"%s\": {\"user_s\": ", key);
	json_number(out, t->user_s, 3);
	json_member(out, "sys_s", t->sys_s, 3);
	json_member(out, "us_per_msg", per_msg_us(t, r->messages), 3);
	json_member(out, "cpu_pct", cpu_pct(t, r), 3);
	json_kib(out, "peak_rss_kib", rss_kib);
	json_known(out, "runq_wait_s", runq_wait_s, 6);
}

/* {"total", "per_msg", "calls": {NAME: count, ...}, "other"}: the named
 * calls made at least once; null without --server-syscalls. */
static void json_syscalls(FILE *out, const struct results *r)
{
	const struct syscall_counts *s = &r->syscalls;
	fprintf(out, ",\n  \"server_syscalls\": ");
	if (!s->have) {
		fputs("null", out);
		return;
	}
	fprintf(out, "{\"total\": %llu, \"messages\": %llu", (unsigned long long)s->total,
		(unsigned long long)s->messages);
	json_member(out, "per_msg", s->messages ? (double)s->total / (double)s->messages : NAN, 3);
	fputs(", \"calls\": {", out);
	const char *sep = "";
	for (unsigned i = 0; i < s->n; i++) {
		if (!s->calls[i])
			continue;
		fprintf(out, "%s\"%s\": %llu", sep, s->name[i], (unsigned long long)s->calls[i]);
		sep = ", ";
	}
	fprintf(out, "}, \"other\": %llu}", (unsigned long long)other_calls(s));
}

static void json_connect_phase(FILE *out, const struct connect_phase *p)
{
	fprintf(out, ",\n  \"connect_phase\": ");
	if (!p->done) {
		fputs("null", out);
		return;
	}
	fprintf(out, "{\"duration_s\": ");
	json_number(out, p->duration_s, 6);
	fprintf(out, ", \"held\": %llu, \"served\": %llu, \"waiting\": %llu",
		(unsigned long long)p->held, (unsigned long long)p->served,
		(unsigned long long)p->waiting);
	json_member(out, "probe_wait_s", p->probe_wait_s, -1);
	fputs("}", out);
}

static void json_warnings(FILE *out, const struct warnings *w)
{
	fprintf(out, ",\n  \"warnings\": [");
	for (unsigned i = 0; i < w->count; i++) {
		fputs(i ? ",\n    " : "\n    ", out);
		json_string(out, w->text[i]);
	}
	fputs(w->count ? "\n  ]" : "]", out);
}

void report_json(FILE *out, const struct results *r)
{
	const struct options *o = r->opt;
	fprintf(out, "{\n  \"target\": ");
	json_string(out, o->target.text);
	fprintf(out, ",\n  \"transport\": \"%s\"", transport(o));
	fprintf(out, ",\n  \"mode\": \"%s\", \"conns\": %u, \"pipeline\": %u, \"size\": %u, "
		"\"threads\": %u, \"idle\": %u", options_mode_name(o->mode), o->conns, o->pipeline,
		o->size, o->threads, o->idle);
	json_member(out, "rate", o->rate, -1);
	json_member(out, "warmup_s", o->warmup_s, -1);
	fprintf(out, ",\n  \"measured_s\": ");
	json_number(out, r->measured_s, 6);
	fprintf(out, ", \"messages\": %llu", (unsigned long long)r->messages);
	json_member(out, "msgs_per_s", msgs_per_s(r), 3);
	fprintf(out, ", \"connections\": %llu, \"errors\": %llu, \"error\": ",
		(unsigned long long)r->connects, (unsigned long long)r->errors);
	if (r->errors)
		json_string(out, r->first_error);
	else
		fputs("null", out);
	static const char *const tristate[] = { "null", "false", "true" };
	fprintf(out, ",\n  \"requested_rate\": ");
	json_number(out, o->mode == MODE_OPEN ? o->rate : NAN, -1);
	fprintf(out, ", \"kept_up\": %s, \"lost\": %llu, \"latency_lower_bound\": %s",
		tristate[kept_up(r) + 1], (unsigned long long)r->lost,
		latency_lower_bound(r) ? "true" : "false");
	fprintf(out, ",\n  \"latency_unit\": \"us, round trip\"");
	json_hist(out, "latency_us", &r->latency);
	if (o->mode == MODE_OPEN)
		json_hist(out, "uncorrected_latency_us", &r->uncorrected);
	if (o->mode == MODE_CPR)
		json_hist(out, "connect_latency_us", &r->connect);
	json_cpu(out, "loadgen_cpu", &r->self_cpu, r, r->self_peak_rss_kib, r->self_runq_wait_s);
	fputs("}", out);
	if (r->have_server) {
		json_cpu(out, "server_cpu", &r->server_cpu, r, r->server_peak_rss_kib,
			 r->server_runq_wait_s);
		json_kib(out, "peak_pss_kib", r->server_peak_pss_kib);
		json_known(out, "tasks_ran", r->server_tasks_ran, 0);
		json_known(out, "cpus", r->server_cpus, 0);
		fputs("}", out);
	} else
		fprintf(out, ",\n  \"server_cpu\": null");
	fprintf(out, ",\n  \"host\": {\"steal_pct\": ");
	json_number(out, r->steal_pct < 0 ? NAN : r->steal_pct, 3);
	fputs("}", out);
	json_connect_phase(out, &r->connect_phase);
	json_syscalls(out, r);
	json_warnings(out, &r->warnings);
	fprintf(out, "\n}\n");
}

/* One flat row; columns that do not apply to the mode are left empty. */
static const char csv_header[] =
	"mode,target,conns,pipeline,size,threads,idle,rate,measured_s,messages,msgs_per_s,"
	"errors,lat_min_us,lat_mean_us,lat_stdev_us,lat_p50_us,lat_p90_us,lat_p99_us,"
	"lat_p999_us,lat_p9999_us,lat_max_us,uncorrected_p50_us,uncorrected_p99_us,"
	"connect_p50_us,connect_p99_us,loadgen_cpu_us_per_msg,server_cpu_us_per_msg,"
	"server_peak_rss_kib,requested_rate,kept_up,lost,loadgen_cpu_pct,server_peak_pss_kib,"
	"transport,loadgen_runq_wait_s,server_runq_wait_s,steal_pct,connect_phase_s,held_conns,"
	"served_conns,waiting_conns,warnings\n";

void report_csv_header(FILE *out)
{
	fputs(csv_header, out);
}

/* A figure that may be unknown (-1): an empty column then. */
static void csv_known(FILE *out, double v, int decimals)
{
	if (v >= 0 && isfinite(v))
		fprintf(out, ",%.*f", decimals, v);
	else
		fputc(',', out);
}

void report_csv(FILE *out, const struct results *r)
{
	const struct options *o = r->opt;
	double v[NPERCENTILES + 4];
	stats_us(&r->latency, v);
	/* A target may contain a comma (unix:/a,b); quote it. */
	fprintf(out, "%s,\"%s\",%u,%u,%u,%u,%u,%g,%.6f,%llu,%.3f,%llu", options_mode_name(o->mode),
		o->target.text, o->conns, o->pipeline, o->size, o->threads, o->idle, o->rate,
		r->measured_s, (unsigned long long)r->messages, msgs_per_s(r),
		(unsigned long long)r->errors);
	for (unsigned i = 0; i < NPERCENTILES + 4; i++)
		fprintf(out, ",%.3f", v[i]);
	if (o->mode == MODE_OPEN)
		fprintf(out, ",%.3f,%.3f", us(hist_percentile(&r->uncorrected, 50)),
			us(hist_percentile(&r->uncorrected, 99)));
	else
		fprintf(out, ",,");
	if (o->mode == MODE_CPR)
		fprintf(out, ",%.3f,%.3f", us(hist_percentile(&r->connect, 50)),
			us(hist_percentile(&r->connect, 99)));
	else
		fprintf(out, ",,");
	fprintf(out, ",%.3f", per_msg_us(&r->self_cpu, r->messages));
	if (r->have_server)
		fprintf(out, ",%.3f,%ld", per_msg_us(&r->server_cpu, r->messages),
			r->server_peak_rss_kib);
	else
		fprintf(out, ",,");
	/* Columns added later go at the end, so old positions stay. */
	if (o->mode == MODE_OPEN)
		fprintf(out, ",%g,%d", o->rate, kept_up(r));
	else
		fprintf(out, ",,");
	fprintf(out, ",%llu,%.3f,", (unsigned long long)r->lost, cpu_pct(&r->self_cpu, r));
	if (r->have_server && r->server_peak_pss_kib >= 0)
		fprintf(out, "%ld", r->server_peak_pss_kib);
	fprintf(out, ",%s", transport(o));
	csv_known(out, r->self_runq_wait_s, 6);
	csv_known(out, r->server_runq_wait_s, 6);
	csv_known(out, r->steal_pct, 3);
	const struct connect_phase *p = &r->connect_phase;
	if (p->done)
		fprintf(out, ",%.6f,%llu,%llu,%llu", p->duration_s, (unsigned long long)p->held,
			(unsigned long long)p->served, (unsigned long long)p->waiting);
	else
		fprintf(out, ",,,,");
	fprintf(out, ",%u\n", r->warnings.count);
}

/* HdrHistogram's percentile layout: plot column 4 on a log x axis against
 * column 1 to see the tail.  The last row's 1/(1-p) would be infinite; it
 * is capped at the sample count, the finest resolution the data has. */
static void histogram_block(FILE *f, const char *name, const struct hist *h)
{
	fprintf(f, "# %s latency, round trip, %llu samples\n", name,
		(unsigned long long)h->count);
	fprintf(f, "# %12s %14s %12s %16s\n", "Value(us)", "Percentile", "TotalCount",
		"1/(1-Percentile)");
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS && seen < h->count; i++) {
		if (h->buckets[i] == 0)
			continue;
		seen += h->buckets[i];
		double p = (double)seen / (double)h->count;
		double inv = seen < h->count ? 1 / (1 - p) : (double)h->count;
		fprintf(f, "%14.3f %14.10f %12llu %16.2f\n", us(hist_bucket_value(h, i)), p,
			(unsigned long long)seen, inv);
	}
}

int report_histogram_file(const char *path, const struct results *r)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		fprintf(stderr, "loadgen: --histogram %s: %s\n", path, strerror(errno));
		return -1;
	}
	histogram_block(f, r->opt->mode == MODE_OPEN ? "corrected" : "round-trip", &r->latency);
	/* Two blank lines: gnuplot's "index 1" selects the next block. */
	if (r->opt->mode == MODE_OPEN) {
		fprintf(f, "\n\n");
		histogram_block(f, "uncorrected", &r->uncorrected);
	}
	if (r->opt->mode == MODE_CPR) {
		fprintf(f, "\n\n");
		histogram_block(f, "connect", &r->connect);
	}
	return report_close(f, "--histogram", path);
}

int report_close(FILE *f, const char *option, const char *path)
{
	errno = 0;
	int err = fflush(f) != 0 || ferror(f) ? (errno ? errno : EIO) : 0;
	if (fclose(f) != 0 && err == 0)
		err = errno;
	if (err == 0)
		return 0;
	fprintf(stderr, "loadgen: %s %s: %s\n", option, path, strerror(err));
	return -1;
}
