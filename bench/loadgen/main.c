/* main.c - loadgen: the run's timeline.  Parse options, start the worker
 * threads (worker.c), wait until every connection is open and served (the
 * connect phase), fix the schedule (warmup, measured interval), sample
 * CPU, memory and waits for a CPU at its edges, show progress, then add up
 * the threads' results and print all that the options ask for.  --replay
 * and --merge (merge.c) are reported the same way, without a network;
 * --monitor (monitor.c) only samples a server. */
#include "accounting.h"
#include "clock.h"
#include "connect.h"
#include "merge.h"
#include "monitor.h"
#include "options.h"
#include "pattern.h"
#include "report.h"
#include "results.h"
#include "saved.h"
#include "syscalls.h"
#include "worker.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RSS_SAMPLE_NS     (250 * 1000000ull)
#define RSS_SAMPLE_COST   50    /* or sample memory 1/50 of the time at most */
#define PROGRESS_NS       NS_PER_S

/* Shared with the workers, and with on_sigint(). */
static struct team team;

/* What main samples while the workers run: CPU, waits and the host's
 * ticks at the start of the measured interval, the server's peak memory
 * within it, and the progress line. */
struct sampler {
	const struct options *opt;
	struct worker *workers;
	bool progress;                  /* stderr is a terminal */
	struct cpu_times self_start, server_start;
	struct runq_sample self_waits, server_waits;    /* at the start */
	bool have_self_waits, have_server_waits;
	struct host_ticks host_start;
	bool have_host;
	bool have_server;
	long server_peak_rss_kib, server_peak_pss_kib;  /* pss -1: unknown */
	struct syscall_counters syscalls;               /* --server-syscalls */
	uint64_t counted_from;          /* messages done when they were turned on */
	struct hist *merged;            /* scratch for the progress p99 */
};

static void on_sigint(int sig)
{
	(void)sig;
	atomic_store(&team.stop_requested, true);
}

/* One line, rewritten in place: elapsed, msgs/s since warmup, p99. */
/* Measured messages the workers have done so far. */
static uint64_t messages_done(const struct sampler *m)
{
	uint64_t done = 0;
	for (unsigned i = 0; i < m->opt->threads; i++)
		done += atomic_load_explicit(&m->workers[i].done_msgs, memory_order_relaxed);
	return done;
}

static void show_progress(struct sampler *m, const struct schedule *s, uint64_t now)
{
	uint64_t done = messages_done(m);
	hist_init(m->merged);
	for (unsigned i = 0; i < m->opt->threads; i++) {
		struct worker *w = &m->workers[i];
		pthread_mutex_lock(&w->snapshot_lock);
		hist_merge(m->merged, w->snapshot);
		pthread_mutex_unlock(&w->snapshot_lock);
	}
	if (now < s->warm_end + PROGRESS_NS / 10) {
		fprintf(stderr, "\r\033[K%6.1f s  warming up", (double)(now - s->t0) / 1e9);
		return;
	}
	double secs = (double)(now - s->warm_end) / 1e9;
	fprintf(stderr, "\r\033[K%6.1f s  %10.0f msg/s  p99 %9.1f us",
		(double)(now - s->t0) / 1e9, secs > 0 ? (double)done / secs : 0,
		hist_percentile(m->merged, 99) / 1000);
}

/* A peak PSS missing a sample might miss the peak: unknown, then.  A
 * failed RSS sample (-1) just does not raise the peak. */
static void sample_memory(struct sampler *m)
{
	struct tree_memory now;
	acct_tree_memory(m->opt->server_pid, &now);
	if (now.rss_kib > m->server_peak_rss_kib)
		m->server_peak_rss_kib = now.rss_kib;
	if (now.pss_kib < 0 || m->server_peak_pss_kib < 0)
		m->server_peak_pss_kib = -1;
	else if (now.pss_kib > m->server_peak_pss_kib)
		m->server_peak_pss_kib = now.pss_kib;
}

/* CPU, RSS and the waits at the start of the measured interval. */
static void measure_start(struct sampler *m)
{
	acct_self_cpu(&m->self_start);
	if (m->opt->server_pid) {
		m->have_server = acct_tree_cpu(m->opt->server_pid, &m->server_start);
		sample_memory(m);
	}
	/* the calls are counted from here, a few ms into the window: they are
	 * divided by the messages done from here on, not by all of it */
	syscalls_counters_enable(&m->syscalls, true);
	m->counted_from = messages_done(m);
	m->have_self_waits = acct_runq_sample(getpid(), false, &m->self_waits);
	m->have_server_waits = m->have_server &&
			       acct_runq_sample(m->opt->server_pid, true, &m->server_waits);
	m->have_host = acct_host_ticks(&m->host_start);
}

/* Main's job while the workers run: mark the start of the measured
 * interval, sample the server's memory, and draw the progress line.  It
 * sleeps until the next of these is due or the last worker is done. */
static void sample_run(struct sampler *m, const struct schedule *s)
{
	bool started = s->warm_end == s->t0;        /* warmup 0: done before release */
	uint64_t next_rss = s->warm_end, next_progress = s->t0 + PROGRESS_NS;
	uint64_t wake;
	do {
		uint64_t now = now_ns();
		if (!started && now >= s->warm_end) {
			measure_start(m);
			started = true;
		}
		if (m->have_server && now >= next_rss) {
			sample_memory(m);
			/* PSS reads every process's smaps: of a thousand
			 * processes that is tens of ms of loadgen's CPU */
			uint64_t took = now_ns() - now;
			next_rss = now + (took * RSS_SAMPLE_COST > RSS_SAMPLE_NS ?
					  took * RSS_SAMPLE_COST : RSS_SAMPLE_NS);
		}
		if (m->progress && now >= next_progress) {
			show_progress(m, s, now);
			next_progress += PROGRESS_NS;
		}
		wake = started ? UINT64_MAX : s->warm_end;
		if (m->have_server)
			wake = earliest(wake, next_rss);
		if (m->progress)
			wake = earliest(wake, next_progress);
	} while (!worker_wait_all(&team, wake));
	if (!started)
		measure_start(m);       /* everything ended during warmup */
	if (m->progress)
		fprintf(stderr, "\r\033[K");
}

static void cpu_delta(struct cpu_times *out, const struct cpu_times *start)
{
	out->user_s -= start->user_s;
	out->sys_s -= start->sys_s;
}

/* Seconds waited for a CPU since the start's sample, by every task but
 * `own` and less the time it ran (0: every task); -1 if either sample
 * failed.  *ran (if given): how many tasks ran meanwhile, -1 if unknown.
 * Frees the start's. */
static double waited(struct runq_sample *start, bool have_start, pid_t pid, bool tree,
		     pid_t own, int *ran)
{
	struct runq_sample end = { 0 };
	bool have = have_start && acct_runq_sample(pid, tree, &end);
	double s = have ? acct_runq_wait_s(start, &end, own) : -1;
	if (ran)
		*ran = have ? (int)acct_runq_tasks_ran(start, &end) : -1;
	acct_runq_sample_free(&end);
	acct_runq_sample_free(start);
	return s;
}

/* CPU, RSS and the waits at the end of the measured interval: after the
 * last reply, before any connection is closed, so teardown is not counted. */
static void measure_end(struct sampler *m, struct results *r)
{
	syscalls_counters_enable(&m->syscalls, false);
	acct_self_cpu(&r->self_cpu);
	cpu_delta(&r->self_cpu, &m->self_start);
	r->self_peak_rss_kib = acct_self_peak_rss_kib();
	if (m->have_server && acct_tree_cpu(m->opt->server_pid, &r->server_cpu)) {
		cpu_delta(&r->server_cpu, &m->server_start);
		sample_memory(m);
		r->have_server = true;
		r->server_peak_rss_kib = m->server_peak_rss_kib;
		r->server_peak_pss_kib = m->server_peak_pss_kib;
	}
	/* the workers' wait: this thread's is not the load's, and the
	 * workers' behind it is loadgen's own cost (its memory samples of a
	 * big server tree) */
	r->self_runq_wait_s = waited(&m->self_waits, m->have_self_waits, getpid(), false,
				     getpid(), NULL);
	r->server_runq_wait_s = waited(&m->server_waits, m->have_server_waits && r->have_server,
				       m->opt->server_pid, true, 0, &r->server_tasks_ran);
	r->server_cpus = r->have_server ? acct_cpus_allowed(m->opt->server_pid) : -1;
	struct host_ticks host_end;
	if (m->have_host && acct_host_ticks(&host_end))
		r->steal_pct = acct_steal_pct(&m->host_start, &host_end);
}

/* The measured interval: from its start to the last reply (or lost
 * message, see conn_lost()), whatever ended it (--duration, --requests,
 * Ctrl-C), so that msg/s is the rate really achieved.  Not the configured
 * duration: in open loop that would make msg/s the requested rate by
 * construction, however slow the server.  Also on CLOCK_REALTIME, for
 * --save: the schedule's monotonic times shifted by the clocks' present
 * difference, so that runs on several hosts can be lined up. */
static void measured_interval(struct results *r, const struct worker *workers,
			      unsigned nthreads, const struct schedule *s)
{
	uint64_t last = s->warm_end;
	for (unsigned i = 0; i < nthreads; i++)
		if (workers[i].set.last_done_ns > last)
			last = workers[i].set.last_done_ns;
	r->measured_s = (double)(last - s->warm_end) / 1e9;
	uint64_t realtime_minus_mono = realtime_ns() - now_ns();
	r->window_start_ns = s->warm_end + realtime_minus_mono;
	r->window_end_ns = last + realtime_minus_mono;
}

/* Why no message was measured, when nothing failed: the cause only where
 * it is known, never a guess at an option that was not in play. */
static const char *nothing_measured(const struct options *opt)
{
	if (opt->replay_path)
		return "no latency to replay in the file";
	if (atomic_load(&team.stop_requested))
		return "interrupted before a reply completed in the measured interval";
	if (opt->requests && !opt->duration_given)
		return "no reply completed in the measured interval";
	return "no reply completed in the measured interval (is --duration long enough?)";
}

/* The connect phase's length, once every worker is past it; its probes
 * are counted in each worker's part of the results. */
static void connect_phase_done(struct connect_phase *p, const struct options *opt,
			       uint64_t start)
{
	p->done = true;
	p->duration_s = (double)(now_ns() - start) / 1e9;
	p->probe_wait_s = opt->probe_wait_s;
}

/* Nothing measured and nothing to say why: an error all the same.  (Lost
 * messages say why themselves: N of N lost.) */
static void check_measured(struct results *r)
{
	if (r->errors == 0 && r->messages == 0 && r->lost == 0)
		results_error(r, "%s", nothing_measured(r->opt));
}

/* Each thread counted its own part: the parts cannot wrap when added. */
static void gather(struct results *r, const struct worker *workers, unsigned nthreads)
{
	for (unsigned i = 0; i < nthreads; i++)
		results_add(r, &workers[i].set.results);
	check_measured(r);
}

static const char *first_setup_error(const struct worker *workers, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (workers[i].setup_error[0])
			return workers[i].setup_error;
	return NULL;
}

static void fix_schedule(struct schedule *s, const struct options *opt)
{
	s->t0 = now_ns();
	s->warm_end = s->t0 + (uint64_t)(opt->warmup_s * NS_PER_S);
	/* --requests alone runs until N are done; --duration caps it if given. */
	if (opt->requests && !opt->duration_given)
		s->end = UINT64_MAX;
	else
		s->end = s->warm_end + (uint64_t)(opt->duration_s * NS_PER_S);
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigint;      /* stop sending, collect replies, report */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);       /* send() uses MSG_NOSIGNAL; this is belt and braces */
}

static void start_threads(struct worker *workers, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		int err = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
		if (err) {
			/* The others wait at a barrier for this one: exit outright. */
			fprintf(stderr, "loadgen: creating thread %u: %s\n", i, strerror(err));
			exit(1);
		}
	}
}

/* All that the options ask for, of a run, a replay or a merge: the report
 * on stdout, the warnings and then the error on stderr, the --histogram
 * and --save files; the exit status (1: an error, a lost message, or a
 * file not written). */
static int print_all(const struct options *opt, const struct results *r)
{
	if (opt->json)
		report_json(stdout, r);
	else if (opt->csv) {
		if (opt->csv_header)
			report_csv_header(stdout);
		report_csv(stdout, r);
	} else
		report_human(stdout, r);
	fflush(stdout);
	for (unsigned i = 0; i < r->warnings.count; i++)
		fprintf(stderr, "loadgen: warning: %s\n", r->warnings.text[i]);
	int status = 0;
	if (opt->histogram_path && report_histogram_file(opt->histogram_path, r) < 0)
		status = 1;
	if (opt->save_path && saved_write(opt->save_path, r) < 0)
		status = 1;
	if (r->errors) {
		if (r->errors > 1)
			fprintf(stderr, "loadgen: %s (%llu errors in total)\n", r->first_error,
				(unsigned long long)r->errors);
		else
			fprintf(stderr, "loadgen: %s\n", r->first_error);
		status = 1;
	} else if (r->lost) {
		/* Only UDP loses messages without an error: a datagram is lost
		 * by design, but it is a reply missing all the same. */
		fprintf(stderr, "loadgen: %llu of %llu measured datagrams lost: no reply within "
			"--timeout %g s\n", (unsigned long long)r->lost,
			(unsigned long long)(r->messages + r->lost), opt->reply_timeout_s);
		status = 1;
	}
	return status;
}

static int run_load(const struct options *opt)
{
	static struct results results;
	static struct hist progress_scratch;
	struct sampler m = { .opt = opt, .progress = isatty(STDERR_FILENO),
			     .merged = &progress_scratch };

	pattern_init();
	install_signals();
	if (connect_check_fd_limit(opt) < 0)
		return 1;
	const char *no_counting = opt->server_syscalls ?
				  syscalls_counting_unavailable(opt->server_pid) : NULL;
	if (no_counting) {
		fprintf(stderr, "loadgen: %s\n", no_counting);
		return 1;
	}
	m.workers = worker_create_all(opt, &team, m.progress);
	if (!m.workers) {
		fprintf(stderr, "loadgen: out of memory for %u threads\n", opt->threads);
		return 1;
	}
	worker_team_init(&team, opt->threads);
	results_init(&results, opt);
	uint64_t connect_start = now_ns();
	start_threads(m.workers, opt->threads);

	pthread_barrier_wait(&team.connected);
	connect_phase_done(&results.connect_phase, opt, connect_start);
	const char *setup_error = first_setup_error(m.workers, opt->threads);
	char counting_error[160];
	if (!setup_error && opt->server_syscalls &&
	    !syscalls_counters_open(&m.syscalls, opt->server_pid, counting_error,
				    sizeof(counting_error)))
		setup_error = counting_error;
	team.aborted = setup_error != NULL;
	if (!team.aborted) {
		fix_schedule(&team.sched, opt);
		if (team.sched.warm_end == team.sched.t0)
			measure_start(&m);
	}
	pthread_barrier_wait(&team.started);
	if (!team.aborted) {
		sample_run(&m, &team.sched);
		measure_end(&m, &results);
	}
	pthread_barrier_wait(&team.finished);
	for (unsigned i = 0; i < opt->threads; i++)
		pthread_join(m.workers[i].thread, NULL);
	if (opt->server_syscalls)
		syscalls_counters_close(&m.syscalls, &results.syscalls);
	int status = 1;
	if (team.aborted) {
		fprintf(stderr, "loadgen: %s\n", setup_error);
	} else {
		gather(&results, m.workers, opt->threads);
		/* on until after the last reply: every message from then on */
		results.syscalls.messages = results.messages > m.counted_from ?
					    results.messages - m.counted_from : 0;
		measured_interval(&results, m.workers, opt->threads, &team.sched);
		report_add_warnings(&results, false);
		status = print_all(opt, &results);
	}
	worker_free_all(m.workers, opt->threads);
	results_free(&results);
	return status;
}

/* --replay: the report of a known list of latencies, so that the tests can
 * compare the histogram's percentiles with exact ones. */
static int replay(const struct options *opt)
{
	static struct results results;
	FILE *f = strcmp(opt->replay_path, "-") == 0 ? stdin : fopen(opt->replay_path, "r");
	if (!f) {
		fprintf(stderr, "loadgen: --replay %s: %s\n", opt->replay_path, strerror(errno));
		return 1;
	}
	results_init(&results, opt);
	double value_us;
	int n;
	while ((n = fscanf(f, "%lf", &value_us)) == 1) {
		if (value_us < 0 || !isfinite(value_us))
			break;
		hist_record(&results.latency, (uint64_t)llround(value_us * 1000));
		results.messages++;
	}
	if (f != stdin)
		fclose(f);
	int status = 1;
	if (n != EOF) {
		fprintf(stderr, "loadgen: --replay %s: expected one latency in us per line\n",
			opt->replay_path);
	} else {
		check_measured(&results);
		report_add_warnings(&results, false);
		status = print_all(opt, &results);
	}
	results_free(&results);
	return status;
}

/* --merge: saved runs, reported as one. */
static int merge(const struct options *cli)
{
	static struct saved_run merged;
	int status = merge_saved(cli, &merged);
	if (status == 0)
		status = print_all(&merged.opt, &merged.r);
	results_free(&merged.r);
	return status;
}

int main(int argc, char **argv)
{
	static struct options opt;
	options_parse(&opt, argc, argv);
	if (opt.merge_count)
		return merge(&opt);
	if (opt.monitor_pid)
		return monitor_server(opt.monitor_pid);
	if (opt.replay_path) {
		strcpy(opt.target.text, "replay");
		opt.threads = 1;
		return replay(&opt);
	}
	if (!opt.have_target) {         /* only --csv-header */
		report_csv_header(stdout);
		return 0;
	}
	return run_load(&opt);
}
