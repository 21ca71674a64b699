/* saved.c - the --save file, written and read back in one place so the two
 * cannot drift.  Text, one record a line, in a fixed order; the reader
 * accepts exactly what the writer writes and refuses anything else:
 *
 *     loadgen-save 2
 *     layout SUB_BITS MAX_BITS BUCKETS      the histogram's (hist.h)
 *     window_ns START END                   CLOCK_REALTIME; 0 0: none (--replay)
 *     target TEXT
 *     run MODE TRANSPORT CONNS PIPELINE SIZE THREADS IDLE RATE WARMUP_S TIMEOUT_S
 *     counts MESSAGES CONNECTIONS ERRORS LOST
 *     measured_s SECONDS
 *     error TEXT                            empty without errors
 *     connect_phase DONE DURATION_S HELD SERVED WAITING PROBE_WAIT_S
 *                                           DONE 0 (--replay): all 0
 *     loadgen_cpu USER_S SYS_S PEAK_RSS_KIB RUNQ_WAIT_S
 *     server_cpu HAVE USER_S SYS_S PEAK_RSS_KIB PEAK_PSS_KIB RUNQ_WAIT_S TASKS_RAN CPUS
 *     host STEAL_PCT
 *     warnings COUNT
 *     warning TEXT                          COUNT lines
 *     json BYTES                            then the --json object, BYTES long
 *     hist NAME COUNT MIN_NS MAX_NS SUM_NS SUM_SQ_NS ABOVE_RANGE NONEMPTY
 *     INDEX COUNT                           NONEMPTY lines, indexes rising
 *     ... (hist latency, uncorrected, connect: all three, empty or not)
 *     end
 *
 * Doubles are written with %a (hexadecimal), which strtod reads back to
 * the same bits: a merge of saves is the merge of the runs, nothing lost.
 * A figure that is unknown is -1 (peak RSS, PSS, run-queue waits, steal,
 * tasks, CPUs).
 * Version 1 had no connect_phase, waits, host or warnings; version 2 no
 * TASKS_RAN and CPUS (a count, or -1: unknown).
 *
 * "Exactly" covers the values too: every field in its range (no sign on a
 * count, no nan or inf, no zero conns) and the fields as consistent as a
 * run makes them (see read_body()), so that a damaged file is refused with
 * its line number instead of being summed in as figures nobody measured. */
#include "saved.h"
#include "options.h"
#include "report.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LINE_BYTES 1024

static const char *const hist_names[] = { "latency", "uncorrected", "connect" };

static void write_hist(FILE *f, const char *name, const struct hist *h)
{
	unsigned nonempty = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		nonempty += h->buckets[i] != 0;
	fprintf(f, "hist %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %a %a %" PRIu64 " %u\n", name,
		h->count, h->min_ns, h->max_ns, h->sum_ns, h->sum_sq_ns, h->above_range, nonempty);
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		if (h->buckets[i])
			fprintf(f, "%u %" PRIu64 "\n", i, h->buckets[i]);
}

/* The --json object, as a string, so that its length can go first. */
static char *json_text(const struct results *r, size_t *len)
{
	char *text = NULL;
	FILE *mem = open_memstream(&text, len);
	if (!mem)
		return NULL;
	report_json(mem, r);
	if (fclose(mem) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

int saved_write(const char *path, const struct results *r)
{
	const struct options *o = r->opt;
	size_t json_len;
	char *json = json_text(r, &json_len);
	FILE *f = json ? fopen(path, "w") : NULL;
	if (!f) {
		fprintf(stderr, "loadgen: --save %s: %s\n", path, strerror(json ? errno : ENOMEM));
		free(json);
		return -1;
	}
	fprintf(f, "loadgen-save %d\nlayout %d %d %d\n", SAVED_VERSION, HIST_SUB_BITS,
		HIST_MAX_BITS, HIST_BUCKETS);
	fprintf(f, "window_ns %" PRIu64 " %" PRIu64 "\ntarget %s\n", r->window_start_ns,
		r->window_end_ns, o->target.text);
	fprintf(f, "run %s %s %u %u %u %u %u %a %a %a\n", options_mode_name(o->mode),
		o->udp ? "udp" : "tcp", o->conns, o->pipeline, o->size, o->threads, o->idle,
		o->rate, o->warmup_s, o->reply_timeout_s);
	fprintf(f, "counts %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\nmeasured_s %a\n",
		r->messages, r->connects, r->errors, r->lost, r->measured_s);
	fprintf(f, "error %s\n", r->errors ? r->first_error : "");
	const struct connect_phase *p = &r->connect_phase;
	fprintf(f, "connect_phase %d %a %" PRIu64 " %" PRIu64 " %" PRIu64 " %a\n", p->done,
		p->duration_s, p->held, p->served, p->waiting, p->probe_wait_s);
	fprintf(f, "loadgen_cpu %a %a %ld %a\n", r->self_cpu.user_s, r->self_cpu.sys_s,
		r->self_peak_rss_kib, r->self_runq_wait_s);
	fprintf(f, "server_cpu %d %a %a %ld %ld %a %d %d\n", r->have_server,
		r->server_cpu.user_s, r->server_cpu.sys_s, r->server_peak_rss_kib,
		r->server_peak_pss_kib, r->server_runq_wait_s, r->server_tasks_ran,
		r->server_cpus);
	fprintf(f, "host %a\nwarnings %u\n", r->steal_pct, r->warnings.count);
	for (unsigned i = 0; i < r->warnings.count; i++)
		fprintf(f, "warning %s\n", r->warnings.text[i]);
	fprintf(f, "json %zu\n%s", json_len, json);
	free(json);
	write_hist(f, hist_names[0], &r->latency);
	write_hist(f, hist_names[1], &r->uncorrected);
	write_hist(f, hist_names[2], &r->connect);
	fputs("end\n", f);
	return report_close(f, "--save", path);
}

/* ---------------------------------------------------------------- reading */

#define MAX_FIELDS  16
#define MAX_FIGURE  1e15        /* CPU seconds, msg/s: more is damage, and sums
				 * of a few such figures stay finite */

struct reader {
	FILE *f;
	unsigned lineno;
	char line[LINE_BYTES];
	char *field[MAX_FIELDS];        /* the current line's words after its key */
	char why[256];                  /* what is wrong with line lineno */
};

static bool bad(struct reader *rd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Says what is wrong with the current line; false, for the caller to return. */
static bool bad(struct reader *rd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rd->why, sizeof(rd->why), fmt, ap);
	va_end(ap);
	return false;
}

/* The next line, without its newline. */
static bool next_line(struct reader *rd)
{
	rd->lineno++;
	if (!fgets(rd->line, sizeof(rd->line), rd->f))
		return bad(rd, "the file ends too early");
	size_t len = strlen(rd->line);
	if (len == 0 || rd->line[len - 1] != '\n')
		return bad(rd, "not a line of text of at most %d bytes", LINE_BYTES - 2);
	rd->line[len - 1] = '\0';
	return true;
}

/* The words from p on, one space between each: exactly n of them. */
static bool split(struct reader *rd, char *p, int n, const char *what)
{
	int got = 0;
	for (;;) {
		if (got < MAX_FIELDS)
			rd->field[got] = p;
		got++;
		p += strcspn(p, " ");
		if (*p == '\0')
			break;
		*p++ = '\0';
	}
	return got == n || bad(rd, "%s: %d fields where %d belong", what, got, n);
}

/* The next line is KEY and n words. */
static bool record(struct reader *rd, const char *key, int n)
{
	if (!next_line(rd))
		return false;
	size_t klen = strlen(key);
	if (strncmp(rd->line, key, klen) != 0 || rd->line[klen] != ' ')
		return bad(rd, "expected the '%s' line", key);
	return split(rd, rd->line + klen + 1, n, key);
}

/* "KEY TEXT": the rest of the line into out, up to size - 1 bytes. */
static bool text_line(struct reader *rd, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);
	if (!next_line(rd))
		return false;
	if (strncmp(rd->line, key, klen) != 0 || rd->line[klen] != ' ')
		return bad(rd, "expected the '%s' line", key);
	if (strlen(rd->line + klen + 1) >= size)
		return bad(rd, "%s: longer than %zu bytes", key, size - 1);
	strcpy(out, rd->line + klen + 1);
	return true;
}

/* Word i: decimal digits only (no sign, no blank), a number in min..max. */
static bool whole(struct reader *rd, int i, const char *name, uint64_t min, uint64_t max,
		  uint64_t *out)
{
	const char *s = rd->field[i];
	bool digits = s[0] != '\0' && strspn(s, "0123456789") == strlen(s);
	errno = 0;
	unsigned long long v = digits ? strtoull(s, NULL, 10) : 0;
	if (!digits || errno == ERANGE)
		return bad(rd, "%s '%s' is not a whole number below 2^64", name, s);
	if (v < min || v > max)
		return bad(rd, "%s %s is not in %llu..%llu", name, s, (unsigned long long)min,
			   (unsigned long long)max);
	*out = v;
	return true;
}

static bool whole_u(struct reader *rd, int i, const char *name, unsigned min, unsigned max,
		    unsigned *out)
{
	uint64_t v;
	if (!whole(rd, i, name, min, max, &v))
		return false;
	*out = (unsigned)v;
	return true;
}

/* A whole number up to max, or -1: unknown. */
static bool whole_or_unknown(struct reader *rd, int i, const char *name, long max, long *out)
{
	uint64_t v;
	if (strcmp(rd->field[i], "-1") == 0) {
		*out = -1;
		return true;
	}
	if (!whole(rd, i, name, 0, (uint64_t)max, &v))
		return false;
	*out = (long)v;
	return true;
}

/* A memory figure in KiB, or -1: unknown. */
static bool kib(struct reader *rd, int i, const char *name, long *out)
{
	return whole_or_unknown(rd, i, name, LONG_MAX, out);
}

/* A count of tasks or CPUs, or -1: unknown. */
static bool count_of(struct reader *rd, int i, const char *name, int *out)
{
	long v;
	if (!whole_or_unknown(rd, i, name, INT_MAX, &v))
		return false;
	*out = (int)v;
	return true;
}

/* Word i: a finite number in min..max, as strtod reads it whole (the
 * writer's %a; nan and inf are not finite). */
static bool number(struct reader *rd, int i, const char *name, double min, double max,
		   double *out)
{
	const char *s = rd->field[i];
	char *end = (char *)s;
	double v = 0;
	if (s[0] != '\0' && !isspace((unsigned char)s[0]))
		v = strtod(s, &end);
	if (end == s || *end != '\0' || !isfinite(v))
		return bad(rd, "%s '%s' is not a finite number", name, s);
	if (v < min || v > max)
		return bad(rd, "%s %s is not in %g..%g", name, s, min, max);
	*out = v;
	return true;
}

static bool parse_mode(const char *name, enum mode *mode)
{
	for (enum mode m = MODE_CLOSED; m <= MODE_CPR; m++)
		if (strcmp(name, options_mode_name(m)) == 0) {
			*mode = m;
			return true;
		}
	return false;
}

/* The "run" line: what options_parse() would have let through, summed
 * over the runs of a merge (conns, threads, idle, rate). */
static bool read_options(struct reader *rd, struct options *o)
{
	if (!text_line(rd, "target", o->target.text, sizeof(o->target.text)))
		return false;
	if (o->target.text[0] == '\0')
		return bad(rd, "target: empty");
	if (!record(rd, "run", 10))
		return false;
	if (!parse_mode(rd->field[0], &o->mode))
		return bad(rd, "mode '%s' is none of closed, open, connect-per-request",
			   rd->field[0]);
	o->udp = strcmp(rd->field[1], "udp") == 0;
	if (!o->udp && strcmp(rd->field[1], "tcp") != 0)
		return bad(rd, "transport '%s' is neither tcp nor udp", rd->field[1]);
	if (o->udp && o->mode == MODE_CPR)
		return bad(rd, "udp in connect-per-request mode");
	if (!whole_u(rd, 2, "conns", 1, UINT_MAX, &o->conns) ||
	    !whole_u(rd, 3, "pipeline", 1, o->mode == MODE_CPR ? 1 : MAX_PIPELINE, &o->pipeline) ||
	    !whole_u(rd, 4, "size", o->udp ? MIN_UDP_SIZE : 1,
		     o->udp ? MAX_UDP_SIZE : MAX_SIZE_BYTES, &o->size) ||
	    !whole_u(rd, 5, "threads", 1, o->conns, &o->threads) ||
	    !whole_u(rd, 6, "idle", 0, o->udp ? 0 : UINT_MAX, &o->idle) ||
	    !number(rd, 7, "rate", 0, MAX_FIGURE, &o->rate) ||
	    !number(rd, 8, "warmup", 0, MAX_OPTION_S, &o->warmup_s) ||
	    !number(rd, 9, "timeout", 0, MAX_OPTION_S, &o->reply_timeout_s))
		return false;
	if ((o->rate > 0) != (o->mode == MODE_OPEN))
		return bad(rd, "rate %g in mode %s: above 0 in open loop only", o->rate,
			   options_mode_name(o->mode));
	return o->reply_timeout_s > 0 || bad(rd, "timeout 0");
}

/* "error TEXT": TEXT is there exactly when there were errors.  An editor
 * may have taken the blank after an empty one. */
static bool read_error(struct reader *rd, struct saved_run *run)
{
	if (!next_line(rd))
		return false;
	if (strcmp(rd->line, "error") == 0 || strcmp(rd->line, "error ") == 0)
		run->r.first_error[0] = '\0';
	else if (strncmp(rd->line, "error ", 6) == 0 && strlen(rd->line + 6) < ERROR_BYTES)
		strcpy(run->r.first_error, rd->line + 6);
	else
		return bad(rd, "expected the 'error' line, of at most %d bytes", ERROR_BYTES - 1);
	if ((run->r.errors > 0) != (run->r.first_error[0] != '\0'))
		return bad(rd, run->r.errors ? "%llu errors but no error text"
			   : "an error text but %llu errors", (unsigned long long)run->r.errors);
	return true;
}

/* Word i: a figure in 0..max, or -1: unknown. */
static bool known(struct reader *rd, int i, const char *name, double max, double *out)
{
	if (!number(rd, i, name, -1, max, out))
		return false;
	return *out >= 0 || *out == -1 || bad(rd, "%s %s is neither -1 nor 0..%g", name,
					      rd->field[i], max);
}

/* The connect phase: nothing at all (--replay) or the probes' counts. */
static bool read_connect_phase(struct reader *rd, struct connect_phase *p)
{
	uint64_t done;
	if (!record(rd, "connect_phase", 6) || !whole(rd, 0, "done", 0, 1, &done) ||
	    !number(rd, 1, "duration", 0, MAX_FIGURE, &p->duration_s) ||
	    !whole(rd, 2, "held", 0, UINT64_MAX, &p->held) ||
	    !whole(rd, 3, "served", 0, p->held, &p->served) ||
	    !whole(rd, 4, "waiting", 0, p->held - p->served, &p->waiting) ||
	    !number(rd, 5, "probe wait", 0, MAX_OPTION_S, &p->probe_wait_s))
		return false;
	p->done = done;
	return p->done || (p->duration_s == 0 && p->held == 0 && p->probe_wait_s == 0) ||
	       bad(rd, "figures of a connect phase that was not done");
}

/* The warnings, kept for a merge to list under the file's name. */
static bool read_warnings(struct reader *rd, struct results *r)
{
	uint64_t count;
	if (!record(rd, "warnings", 1) || !whole(rd, 0, "warnings", 0, UINT16_MAX, &count))
		return false;
	for (uint64_t i = 0; i < count; i++) {
		if (!next_line(rd))
			return false;
		const char *text = rd->line + strlen("warning ");
		if (strncmp(rd->line, "warning ", strlen("warning ")) != 0 || text[0] == '\0' ||
		    strlen(text) >= WARNING_BYTES)
			return bad(rd, "expected 'warning TEXT', %llu of them, TEXT of 1 to %d bytes",
				   (unsigned long long)count, WARNING_BYTES - 1);
		results_warn(r, "%s", text);
	}
	return true;
}

/* The figures of a run: counts, its interval, CPU and memory. */
static bool read_figures(struct reader *rd, struct saved_run *run)
{
	struct results *r = &run->r;
	uint64_t have_server, sum;
	if (!record(rd, "counts", 4) || !whole(rd, 0, "messages", 0, UINT64_MAX, &r->messages) ||
	    !whole(rd, 1, "connections", 0, UINT64_MAX, &r->connects) ||
	    !whole(rd, 2, "errors", 0, UINT64_MAX, &r->errors) ||
	    !whole(rd, 3, "lost", 0, UINT64_MAX, &r->lost))
		return false;
	if (__builtin_add_overflow(r->messages, r->lost, &sum))
		return bad(rd, "messages + lost is 2^64 or more");
	if (!record(rd, "measured_s", 1) || !number(rd, 0, "measured_s", 0, MAX_FIGURE,
						      &r->measured_s))
		return false;
	/* Made from the window in both main.c and merge.c: equal to the bit. */
	if (r->measured_s != (double)(r->window_end_ns - r->window_start_ns) / 1e9)
		return bad(rd, "measured_s %g is not the window's %g s", r->measured_s,
			   (double)(r->window_end_ns - r->window_start_ns) / 1e9);
	if (!read_error(rd, run) || !read_connect_phase(rd, &r->connect_phase))
		return false;
	if (!record(rd, "loadgen_cpu", 4) ||
	    !number(rd, 0, "user", 0, MAX_FIGURE, &r->self_cpu.user_s) ||
	    !number(rd, 1, "sys", 0, MAX_FIGURE, &r->self_cpu.sys_s) ||
	    !kib(rd, 2, "peak RSS", &r->self_peak_rss_kib) ||
	    !known(rd, 3, "run-queue wait", MAX_FIGURE, &r->self_runq_wait_s))
		return false;
	if (!record(rd, "server_cpu", 8) || !whole(rd, 0, "have", 0, 1, &have_server) ||
	    !number(rd, 1, "user", 0, MAX_FIGURE, &r->server_cpu.user_s) ||
	    !number(rd, 2, "sys", 0, MAX_FIGURE, &r->server_cpu.sys_s) ||
	    !kib(rd, 3, "peak RSS", &r->server_peak_rss_kib) ||
	    !kib(rd, 4, "peak PSS", &r->server_peak_pss_kib) ||
	    !known(rd, 5, "run-queue wait", MAX_FIGURE, &r->server_runq_wait_s) ||
	    !count_of(rd, 6, "tasks that ran", &r->server_tasks_ran) ||
	    !count_of(rd, 7, "CPUs", &r->server_cpus))
		return false;
	r->have_server = have_server;
	if (!r->have_server && (r->server_cpu.user_s || r->server_cpu.sys_s ||
				r->server_peak_rss_kib || r->server_peak_pss_kib ||
				r->server_runq_wait_s != -1 || r->server_tasks_ran != -1 ||
				r->server_cpus != -1))
		return bad(rd, "figures of a server that was not measured");
	return record(rd, "host", 1) && known(rd, 0, "steal", 100, &r->steal_pct) &&
	       read_warnings(rd, r);
}

/* The --json object: skipped, it is made again from the fields. */
static bool skip_json(struct reader *rd)
{
	uint64_t len;
	if (!record(rd, "json", 1) || !whole(rd, 0, "json bytes", 2, SIZE_MAX, &len))
		return false;
	int ch = getc(rd->f);
	if (ch != '{')
		return bad(rd, "not followed by a JSON object");
	for (uint64_t i = 1; i < len; i++) {
		if ((ch = getc(rd->f)) == EOF)
			return bad(rd, "the file ends inside the JSON object");
		if (ch == '\n')
			rd->lineno++;   /* so that an error names the right line */
	}
	return ch == '\n' || bad(rd, "the JSON object does not end its line");
}

/* A histogram whose count is count_max (exact) or at most count_max. */
static bool read_hist(struct reader *rd, const char *name, struct hist *h,
		      uint64_t count_max, bool exact)
{
	uint64_t nonempty;
	hist_init(h);
	if (!record(rd, "hist", 8))
		return false;
	unsigned header = rd->lineno;
	if (strcmp(rd->field[0], name) != 0)
		return bad(rd, "expected hist %s, not %s", name, rd->field[0]);
	if (!whole(rd, 1, "count", exact ? count_max : 0, count_max, &h->count) ||
	    !whole(rd, 2, "min", 0, UINT64_MAX, &h->min_ns) ||
	    !whole(rd, 3, "max", 0, UINT64_MAX, &h->max_ns) ||
	    !number(rd, 4, "sum", 0, DBL_MAX, &h->sum_ns) ||
	    !number(rd, 5, "sum of squares", 0, DBL_MAX, &h->sum_sq_ns) ||
	    !whole(rd, 6, "above_range", 0, UINT64_MAX, &h->above_range) ||
	    !whole(rd, 7, "buckets", 0, HIST_BUCKETS, &nonempty))
		return false;
	uint64_t next_idx = 0;
	for (uint64_t i = 0; i < nonempty; i++) {
		uint64_t idx;
		if (!next_line(rd) || !split(rd, rd->line, 2, "bucket") ||
		    !whole(rd, 0, "bucket", next_idx, HIST_BUCKETS - 1, &idx) ||
		    !whole(rd, 1, "bucket count", 1, UINT64_MAX, &h->buckets[idx]))
			return false;
		next_idx = idx + 1;
	}
	const char *why = hist_check(h);
	if (why) {
		rd->lineno = header;    /* the figures that disagree are there */
		return bad(rd, "hist %s: %s", name, why);
	}
	return true;
}

/* Everything after the layout line. */
static bool read_body(struct reader *rd, struct saved_run *run)
{
	struct results *r = &run->r;
	if (!record(rd, "window_ns", 2) ||
	    !whole(rd, 0, "start", 0, UINT64_MAX, &r->window_start_ns) ||
	    !whole(rd, 1, "end", r->window_start_ns, r->window_start_ns ? UINT64_MAX : 0,
		   &r->window_end_ns))
		return false;
	if (!read_options(rd, &run->opt) || !read_figures(rd, run) || !skip_json(rd))
		return false;
	/* Every measured message is a latency sample, replied or lost; the
	 * uncorrected (open loop) and connect (connect per request) ones are
	 * some of those. */
	bool open = run->opt.mode == MODE_OPEN;
	uint64_t samples = r->messages + r->lost;
	if (!read_hist(rd, hist_names[0], &r->latency, samples, true) ||
	    !read_hist(rd, hist_names[1], &r->uncorrected, open ? samples : 0, !open) ||
	    !read_hist(rd, hist_names[2], &r->connect,
		       run->opt.mode == MODE_CPR ? samples : 0, run->opt.mode != MODE_CPR))
		return false;
	if (!next_line(rd))
		return false;
	if (strcmp(rd->line, "end") != 0)
		return bad(rd, "expected 'end'");
	rd->lineno++;
	return getc(rd->f) == EOF || bad(rd, "something follows 'end'");
}

static bool read_layout(struct reader *rd)
{
	uint64_t sub_bits, max_bits, buckets;
	return record(rd, "layout", 3) &&
	       whole(rd, 0, "sub-bucket bits", HIST_SUB_BITS, HIST_SUB_BITS, &sub_bits) &&
	       whole(rd, 1, "range bits", HIST_MAX_BITS, HIST_MAX_BITS, &max_bits) &&
	       whole(rd, 2, "buckets", HIST_BUCKETS, HIST_BUCKETS, &buckets);
}

int saved_read(const char *path, struct saved_run *run)
{
	struct reader rd = { 0 };
	rd.f = fopen(path, "r");
	if (!rd.f) {
		fprintf(stderr, "loadgen: --merge %s: %s\n", path, strerror(errno));
		return 1;
	}
	memset(run, 0, sizeof(*run));
	run->r.opt = &run->opt;
	uint64_t version = 0;
	int status = 2;
	bool is_save = record(&rd, "loadgen-save", 1) &&
		       whole(&rd, 0, "version", 1, UINT64_MAX, &version);
	bool this_version = is_save && version == SAVED_VERSION;
	bool same_layout = this_version && read_layout(&rd);
	bool complete = same_layout && read_body(&rd, run);
	if (ferror(rd.f)) {             /* e.g. a directory: EISDIR */
		fprintf(stderr, "loadgen: --merge %s: %s\n", path, strerror(errno));
		status = 1;
	} else if (!is_save)
		fprintf(stderr, "loadgen: --merge %s: not a file of loadgen --save "
			"(version %d)\n", path, SAVED_VERSION);
	else if (!this_version)
		fprintf(stderr, "loadgen: --merge %s: saved by loadgen --save version %llu; this "
			"loadgen reads version %d: run it again with this one\n", path,
			(unsigned long long)version, SAVED_VERSION);
	else if (!same_layout)
		fprintf(stderr, "loadgen: --merge %s: saved with another histogram layout "
			"(this loadgen has 'layout %d %d %d')\n", path, HIST_SUB_BITS,
			HIST_MAX_BITS, HIST_BUCKETS);
	else if (!complete)
		fprintf(stderr, "loadgen: --merge %s line %u: %s\n", path, rd.lineno, rd.why);
	else
		status = 0;
	fclose(rd.f);
	if (status != 0)
		results_free(&run->r);
	return status;
}
