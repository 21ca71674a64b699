/* saved.c - the --save file, written and read back in one place so the two
 * cannot drift.  Text, one record a line, in a fixed order; the reader
 * accepts exactly what the writer writes and refuses anything else:
 *
 *     loadgen-save 1
 *     layout SUB_BITS MAX_BITS BUCKETS      the histogram's (hist.h)
 *     window_ns START END                   CLOCK_REALTIME; 0 0: none (--replay)
 *     target TEXT
 *     run MODE TRANSPORT CONNS PIPELINE SIZE THREADS IDLE RATE WARMUP_S TIMEOUT_S
 *     counts MESSAGES CONNECTIONS ERRORS LOST
 *     measured_s SECONDS
 *     error TEXT                            empty without errors
 *     loadgen_cpu USER_S SYS_S PEAK_RSS_KIB
 *     server_cpu HAVE USER_S SYS_S PEAK_RSS_KIB PEAK_PSS_KIB
 *     json BYTES                            then the --json object, BYTES long
 *     hist NAME COUNT MIN_NS MAX_NS SUM_NS SUM_SQ_NS ABOVE_RANGE NONEMPTY
 *     INDEX COUNT                           NONEMPTY lines, indexes rising
 *     ... (hist latency, uncorrected, connect: all three, empty or not)
 *     end
 *
 * Doubles are written with %a (hexadecimal), which strtod reads back to
 * the same bits: a merge of saves is the merge of the runs, nothing lost. */
#include "saved.h"
#include "options.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
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
	fprintf(f, "run %s %s %u %u %u %u %u %a %a %a\n", mode_name(o->mode),
		o->udp ? "udp" : "tcp", o->conns, o->pipeline, o->size, o->threads, o->idle,
		o->rate, o->warmup_s, o->reply_timeout_s);
	fprintf(f, "counts %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\nmeasured_s %a\n",
		r->messages, r->connects, r->errors, r->lost, r->measured_s);
	fprintf(f, "error %s\n", r->errors ? r->first_error : "");
	fprintf(f, "loadgen_cpu %a %a %ld\n", r->self_cpu.user_s, r->self_cpu.sys_s,
		r->self_peak_rss_kib);
	fprintf(f, "server_cpu %d %a %a %ld %ld\n", r->have_server, r->server_cpu.user_s,
		r->server_cpu.sys_s, r->server_peak_rss_kib, r->server_peak_pss_kib);
	fprintf(f, "json %zu\n%s", json_len, json);
	free(json);
	write_hist(f, hist_names[0], &r->latency);
	write_hist(f, hist_names[1], &r->uncorrected);
	write_hist(f, hist_names[2], &r->connect);
	fputs("end\n", f);
	bool failed = ferror(f) != 0;
	if (fclose(f) != 0 || failed) {
		fprintf(stderr, "loadgen: --save %s: write failed\n", path);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- reading */

struct reader {
	FILE *f;
	const char *path;
	unsigned lineno;
	char line[LINE_BYTES];
	int end;                /* %n: where the fields ended; must be the line's end */
};

/* The next line, without its newline; false at the end, or if too long. */
static bool next_line(struct reader *rd)
{
	if (!fgets(rd->line, sizeof(rd->line), rd->f))
		return false;
	rd->lineno++;
	size_t len = strlen(rd->line);
	if (len == 0 || rd->line[len - 1] != '\n')
		return false;
	rd->line[len - 1] = '\0';
	return true;
}

/* The next line is exactly nfields fields of fmt, which ends in %n for
 * rd->end: nothing may follow them. */
static bool line_is(struct reader *rd, int nfields, const char *fmt, ...)
	__attribute__((format(scanf, 3, 4)));

static bool line_is(struct reader *rd, int nfields, const char *fmt, ...)
{
	if (!next_line(rd))
		return false;
	va_list ap;
	va_start(ap, fmt);
	rd->end = -1;
	int got = vsscanf(rd->line, fmt, ap);
	va_end(ap);
	return got == nfields && rd->end >= 0 && rd->line[rd->end] == '\0';
}

/* "KEY TEXT": the rest of the line into out. */
static bool text_line(struct reader *rd, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);
	if (!next_line(rd) || strncmp(rd->line, key, klen) != 0 || rd->line[klen] != ' ' ||
	    strlen(rd->line + klen + 1) >= size)
		return false;
	strcpy(out, rd->line + klen + 1);
	return true;
}

static bool parse_mode(const char *name, enum mode *mode)
{
	for (enum mode m = MODE_CLOSED; m <= MODE_CPR; m++)
		if (strcmp(name, mode_name(m)) == 0) {
			*mode = m;
			return true;
		}
	return false;
}

static bool read_options(struct reader *rd, struct options *o)
{
	char mode[32], transport[8];
	if (!text_line(rd, "target", o->target.text, sizeof(o->target.text)))
		return false;
	if (!line_is(rd, 10, "run %31s %7s %u %u %u %u %u %lf %lf %lf%n", mode, transport,
		     &o->conns, &o->pipeline, &o->size, &o->threads, &o->idle, &o->rate,
		     &o->warmup_s, &o->reply_timeout_s, &rd->end))
		return false;
	o->udp = strcmp(transport, "udp") == 0;
	return parse_mode(mode, &o->mode) && (o->udp || strcmp(transport, "tcp") == 0);
}

/* The --json object: skipped, it is made again from the fields. */
static bool skip_json(struct reader *rd)
{
	size_t len;
	if (!line_is(rd, 1, "json %zu%n", &len, &rd->end) || len < 2)
		return false;
	int ch = getc(rd->f);
	if (ch != '{')
		return false;
	for (size_t i = 1; i < len; i++) {
		if ((ch = getc(rd->f)) == EOF)
			return false;
		if (ch == '\n')
			rd->lineno++;   /* so that an error names the right line */
	}
	return ch == '\n';
}

static bool read_hist(struct reader *rd, const char *name, struct hist *h)
{
	char got_name[16];
	unsigned nonempty;
	hist_init(h);
	if (!line_is(rd, 8, "hist %15s %" SCNu64 " %" SCNu64 " %" SCNu64 " %lf %lf %" SCNu64
		     " %u%n", got_name, &h->count, &h->min_ns, &h->max_ns, &h->sum_ns,
		     &h->sum_sq_ns, &h->above_range, &nonempty, &rd->end) ||
	    strcmp(got_name, name) != 0 || h->above_range > h->count)
		return false;
	uint64_t total = 0;
	int next_idx = 0;
	for (unsigned i = 0; i < nonempty; i++) {
		unsigned idx;
		uint64_t n;
		if (!line_is(rd, 2, "%u %" SCNu64 "%n", &idx, &n, &rd->end) ||
		    (int)idx < next_idx || idx >= HIST_BUCKETS || n == 0)
			return false;
		h->buckets[idx] = n;
		total += n;
		next_idx = (int)idx + 1;
	}
	return total == h->count;
}

/* Everything after the layout line. */
static bool read_body(struct reader *rd, struct saved_run *run)
{
	struct results *r = &run->r;
	int have_server;
	if (!line_is(rd, 2, "window_ns %" SCNu64 " %" SCNu64 "%n", &r->window_start_ns,
		     &r->window_end_ns, &rd->end) || r->window_end_ns < r->window_start_ns)
		return false;
	if (!read_options(rd, &run->opt))
		return false;
	if (!line_is(rd, 4, "counts %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 "%n",
		     &r->messages, &r->connects, &r->errors, &r->lost, &rd->end) ||
	    !line_is(rd, 1, "measured_s %lf%n", &r->measured_s, &rd->end))
		return false;
	/* "error" alone: fgets keeps no trailing blank, so accept both. */
	if (!next_line(rd))
		return false;
	if (strcmp(rd->line, "error") == 0 || strcmp(rd->line, "error ") == 0)
		run->error[0] = '\0';
	else if (strncmp(rd->line, "error ", 6) == 0 && strlen(rd->line + 6) < ERROR_BYTES)
		strcpy(run->error, rd->line + 6);
	else
		return false;
	if (!line_is(rd, 3, "loadgen_cpu %lf %lf %ld%n", &r->self_cpu.user_s,
		     &r->self_cpu.sys_s, &r->self_peak_rss_kib, &rd->end) ||
	    !line_is(rd, 5, "server_cpu %d %lf %lf %ld %ld%n", &have_server,
		     &r->server_cpu.user_s, &r->server_cpu.sys_s, &r->server_peak_rss_kib,
		     &r->server_peak_pss_kib, &rd->end) || have_server < 0 || have_server > 1)
		return false;
	r->have_server = have_server;
	if (!skip_json(rd) || !read_hist(rd, hist_names[0], &r->latency) ||
	    !read_hist(rd, hist_names[1], &r->uncorrected) ||
	    !read_hist(rd, hist_names[2], &r->connect))
		return false;
	return next_line(rd) && strcmp(rd->line, "end") == 0 && getc(rd->f) == EOF;
}

int saved_read(const char *path, struct saved_run *run)
{
	struct reader rd = { .path = path };
	rd.f = fopen(path, "r");
	if (!rd.f) {
		fprintf(stderr, "loadgen: --merge %s: %s\n", path, strerror(errno));
		return 1;
	}
	memset(run, 0, sizeof(*run));
	run->r.opt = &run->opt;
	run->r.first_error = run->error;
	int version, sub_bits, max_bits, buckets, status = 2;
	bool is_save = line_is(&rd, 1, "loadgen-save %d%n", &version, &rd.end) &&
		       version == SAVED_VERSION;
	bool same_layout = is_save &&
		line_is(&rd, 3, "layout %d %d %d%n", &sub_bits, &max_bits, &buckets, &rd.end) &&
		sub_bits == HIST_SUB_BITS && max_bits == HIST_MAX_BITS && buckets == HIST_BUCKETS;
	bool whole = same_layout && read_body(&rd, run);
	if (ferror(rd.f)) {             /* e.g. a directory: EISDIR */
		fprintf(stderr, "loadgen: --merge %s: %s\n", path, strerror(errno));
		status = 1;
	} else if (!is_save)
		fprintf(stderr, "loadgen: --merge %s: not a file of loadgen --save "
			"(version %d)\n", path, SAVED_VERSION);
	else if (!same_layout)
		fprintf(stderr, "loadgen: --merge %s: saved with another histogram layout "
			"(this loadgen has 'layout %d %d %d')\n", path, HIST_SUB_BITS,
			HIST_MAX_BITS, HIST_BUCKETS);
	else if (!whole)
		fprintf(stderr, "loadgen: --merge %s: line %u is not what loadgen --save "
			"writes there\n", path, rd.lineno);
	else
		status = 0;
	fclose(rd.f);
	return status;
}
