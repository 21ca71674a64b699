/* accounting.c - CPU and memory accounting from getrusage() and /proc: what
 * the load generator and the server's whole process tree spent.
 *
 * Memory: the tree's resident set, two ways.  RSS (/proc/PID/statm) counts
 * every page a process maps, so the copy-on-write pages that a fork
 * server's children share with it are counted once per child: 100 children
 * of a 1 MiB server look like 100 MiB.  PSS ("Pss:" in
 * /proc/PID/smaps_rollup, or summed over /proc/PID/smaps before Linux
 * 4.14) divides each page among the processes that share it, so the sum
 * over the tree is what the tree really occupies.  PSS needs the right to
 * read the process's memory maps; without it the figure is unknown, never
 * a guess.  The load generator's own peak is VmHWM of /proc/self/status,
 * not getrusage's ru_maxrss: that survives exec, so loadgen started by a
 * Python harness would report the interpreter's peak.
 *
 * CPU: the server's CPU time is the sum over its process tree, because a
 * fork-per-connection server does its work in children:
 *
 *   live processes   the server and every descendant found through
 *                    /proc/PID/task/TID/children: each one's process CPU
 *                    clock (clock_getcpuclockid), in nanoseconds, over all
 *                    its threads, those that have exited included;
 *   reaped children  what each live process has waited for: cutime +
 *                    cstime from /proc/PID/stat.  The kernel keeps these in
 *                    nanoseconds but shows them only in clock ticks (10 ms
 *                    at USER_HZ 100), so each sum loses less than a tick.
 *
 * Not utime + stime of each process: those are shown in ticks too and
 * rounded down per process, so 100 children that ran 5 ms each add up to
 * 0.  Not the run time in /proc/PID/task/TID/schedstat either: it is per
 * live thread, and a thread-per-connection server's threads exit and take
 * their time with them; the process clock keeps it.
 *
 * A child reaped between two samples moves, with all its time, from the
 * live processes to its parent's cutime + cstime: nothing is lost or
 * counted twice, but for that tick of rounding.  Within one sample we list
 * the tree before reading any process, so a child reaped meanwhile was
 * either listed or is already in its parent's cutime; if a listed process
 * is gone from a second listing, it may be in neither or in both, and we
 * sample again.
 *
 * User and system time are known only in ticks.  The kernel splits each
 * process's exact run time in the proportion of the ticks it charged to
 * user and to system mode; we do the same with the tree's sums (see
 * acct_tree_cpu()).  The total is exact; the split is as rough as the
 * ticks are few.
 *
 * Disturbance: how much of the window a side spent waiting for a CPU while
 * it had work, and how much CPU the host's hypervisor took.  On a shared
 * machine these say whether a run measured the server or its neighbours.
 *
 *   run-queue wait   the 2nd field of /proc/PID/task/TID/schedstat, ns
 *                    that the task was runnable but not running, summed
 *                    over loadgen's threads or the server tree's threads
 *                    (acct_runq_wait_s()), each task's end minus its
 *                    start.  A task that began during the window counts
 *                    whole; a task that ended during it takes its wait
 *                    with it, as the schedstat file goes away and nothing
 *                    like cutime keeps it: the server's figure is a lower
 *                    bound when threads or processes come and go in the
 *                    window (a thread or process per connection, with
 *                    --connect-per-request).  A TID reused within the
 *                    window compares the new task with the old one's
 *                    start: counted from 0 if that looks negative.
 *   steal            the 8th figure of /proc/stat's "cpu" line, over all
 *                    its figures but guest (already in user), between
 *                    the window's edges: the share of every CPU's time
 *                    that the host gave to another guest. */
#include "accounting.h"

#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define MAX_TREE_DEPTH  8       /* server -> worker -> helper is plenty */
#define SAMPLE_ATTEMPTS 5       /* then accept a sample some exit overlapped */
#define MIN_SPLIT_TICKS 10      /* fewer ticks are no user/system proportion */

struct pid_list {
	pid_t *pids;
	size_t n, cap;
};

/* The server's tree at one moment. */
struct tree_sample {
	unsigned long long run_ns;      /* exact, but for the reaped ticks */
	unsigned long long user_ticks, sys_ticks;
};

void acct_self_cpu(struct cpu_times *t)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	t->user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	t->sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

long acct_self_peak_rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (kib < 0 && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) != 1)
			kib = -1;
	fclose(f);
	return kib;
}

/* items (n of them, room for *cap) with room for one more, moved if it
 * had to grow; NULL, items left as they were, if out of memory. */
static void *room_for_one(void *items, size_t n, size_t *cap, size_t size)
{
	if (n < *cap)
		return items;
	size_t more = *cap ? 2 * *cap : 64;
	void *grown = realloc(items, more * size);
	if (grown)
		*cap = more;
	return grown;
}

static bool push(struct pid_list *list, pid_t pid)
{
	pid_t *pids = room_for_one(list->pids, list->n, &list->cap, sizeof(*pids));
	if (!pids)
		return false;
	list->pids = pids;
	list->pids[list->n++] = pid;
	return true;
}

/* Calls reader() with /proc/PID/task/TID/NAME open, for each thread of
 * pid, until one returns false (out of memory).  A process or thread that
 * exited meanwhile is skipped: there is nothing of it to read. */
static bool each_thread(pid_t pid, const char *name,
			bool (*reader)(FILE *f, pid_t tid, void *arg), void *arg)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *tasks = opendir(path);
	if (!tasks)
		return true;
	bool ok = true;
	struct dirent *de;
	while (ok && (de = readdir(tasks)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char tpath[300];
		snprintf(tpath, sizeof(tpath), "/proc/%d/task/%s/%s", (int)pid, de->d_name, name);
		FILE *f = fopen(tpath, "r");
		if (!f)
			continue;
		ok = reader(f, (pid_t)atoi(de->d_name), arg);
		fclose(f);
	}
	closedir(tasks);
	return ok;
}

/* A thread's "children" file: its direct children, appended to the list. */
static bool read_children(FILE *f, pid_t tid, void *list)
{
	(void)tid;
	int child;
	bool ok = true;
	while (ok && fscanf(f, "%d", &child) == 1)
		ok = push(list, (pid_t)child);
	return ok;
}

/* root and its descendants, a generation at a time; false if out of memory. */
static bool list_tree(pid_t root, struct pid_list *list)
{
	list->n = 0;
	if (!push(list, root))
		return false;
	size_t first = 0;               /* the generation whose children we list */
	for (int depth = 0; depth < MAX_TREE_DEPTH && first < list->n; depth++) {
		size_t end = list->n;
		for (size_t i = first; i < end; i++)
			if (!each_thread(list->pids[i], "children", read_children, list))
				return false;
		first = end;
	}
	return true;
}

static bool add_tid(FILE *f, pid_t tid, void *list)
{
	(void)f;
	return push(list, tid);
}

bool acct_tree_tasks(pid_t pid, pid_t **tids, size_t *n)
{
	struct pid_list procs = { 0 }, tasks = { 0 };
	bool ok = list_tree(pid, &procs);
	for (size_t i = 0; ok && i < procs.n; i++)
		ok = each_thread(procs.pids[i], "stat", add_tid, &tasks);
	free(procs.pids);
	if (!ok) {
		free(tasks.pids);
		return false;
	}
	*tids = tasks.pids;
	*n = tasks.n;
	return true;
}

/* utime, stime, cutime, cstime of one process, in clock ticks.  The fields
 * are counted after the ')' that ends the command name, which may itself
 * contain spaces and parentheses. */
static bool proc_ticks(pid_t pid, unsigned long long ticks[4])
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	if (!p)
		return false;
	/* After ')': state ppid pgrp session tty tpgid flags minflt cminflt
	 * majflt cmajflt utime stime cutime cstime (fields 3..17). */
	return sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %llu %llu",
		      &ticks[0], &ticks[1], &ticks[2], &ticks[3]) == 4;
}

/* CPU time of all threads of a live (or zombie) process, in nanoseconds. */
static bool proc_run_ns(pid_t pid, unsigned long long *ns)
{
	clockid_t clock;
	struct timespec ts;
	if (clock_getcpuclockid(pid, &clock) != 0 || clock_gettime(clock, &ts) != 0)
		return false;
	*ns = (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
	return true;
}

static bool add_process(pid_t pid, struct tree_sample *s)
{
	unsigned long long ticks[4], run_ns;
	if (!proc_ticks(pid, ticks) || !proc_run_ns(pid, &run_ns))
		return false;
	unsigned long long tick_ns = 1000000000ull / (unsigned long long)sysconf(_SC_CLK_TCK);
	s->run_ns += run_ns + (ticks[2] + ticks[3]) * tick_ns;
	s->user_ticks += ticks[0] + ticks[2];
	s->sys_ticks += ticks[1] + ticks[3];
	return true;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
	return (x > y) - (x < y);
}

/* Is every process of before still in after?  Sorts both. */
static bool none_gone(struct pid_list *before, struct pid_list *after)
{
	qsort(before->pids, before->n, sizeof(pid_t), cmp_pid);
	qsort(after->pids, after->n, sizeof(pid_t), cmp_pid);
	size_t j = 0;
	for (size_t i = 0; i < before->n; i++) {
		while (j < after->n && after->pids[j] < before->pids[i])
			j++;
		if (j == after->n || after->pids[j] != before->pids[i])
			return false;
	}
	return true;
}

/* Reads every listed process; false if the server itself is gone. */
static bool read_tree(const struct pid_list *tree, struct tree_sample *s)
{
	*s = (struct tree_sample){ 0 };
	if (!add_process(tree->pids[0], s))
		return false;
	for (size_t i = 1; i < tree->n; i++)
		add_process(tree->pids[i], s);  /* gone: the relisting tells */
	return true;
}

/* false if the server is gone (or memory ran out). */
static bool sample_tree(pid_t root, struct tree_sample *s)
{
	struct pid_list listed = { 0 }, relisted = { 0 };
	bool ok;
	for (int attempt = 1;; attempt++) {
		ok = list_tree(root, &listed) && read_tree(&listed, s);
		if (!ok || attempt == SAMPLE_ATTEMPTS || !list_tree(root, &relisted) ||
		    none_gone(&listed, &relisted))
			break;
	}
	free(listed.pids);
	free(relisted.pids);
	return ok;
}

static unsigned long long since(unsigned long long now, unsigned long long then)
{
	return now > then ? now - then : 0;     /* a reaped child's rounding can dip */
}

/* The user part of the time between two samples: the proportion of the
 * ticks counted between them, or of all the ticks so far if those are too
 * few to be a proportion, else half.  A guess, either way, for processes
 * that ran less than a tick or two each: the kernel itself calls a
 * process's time all user until a tick has caught it in the kernel. */
static double user_share(const struct tree_sample *then, const struct tree_sample *now)
{
	unsigned long long user = since(now->user_ticks, then->user_ticks);
	unsigned long long sys = since(now->sys_ticks, then->sys_ticks);
	if (user + sys < MIN_SPLIT_TICKS) {
		user = now->user_ticks;
		sys = now->sys_ticks;
	}
	return user + sys >= MIN_SPLIT_TICKS ? (double)user / (double)(user + sys) : 0.5;
}

/* Running totals of the server's user and system time: each call adds the
 * run time since the previous call, split by user_share().  So the
 * difference of two calls is the exact time between them, split by that
 * interval's own ticks.  Splitting each call's whole total instead would
 * let an interval's user time come out negative when the proportion
 * changes. */
static struct {
	pid_t pid;
	struct tree_sample last;
	struct cpu_times total;
} server;

bool acct_tree_cpu(pid_t pid, struct cpu_times *t)
{
	struct tree_sample now;
	if (!sample_tree(pid, &now))
		return false;
	if (server.pid != pid) {
		server.pid = pid;
		server.last = (struct tree_sample){ 0 };
		server.total = (struct cpu_times){ 0, 0 };
	}
	double run_s = (double)since(now.run_ns, server.last.run_ns) / 1e9;
	double user = user_share(&server.last, &now);
	server.total.user_s += run_s * user;
	server.total.sys_s += run_s * (1 - user);
	server.last = now;
	*t = server.total;
	return true;
}

/* Resident KiB of one process; 0 if it has exited meanwhile. */
static long proc_rss_kib(pid_t pid)
{
	char path[64];
	long size, resident, kib = 0;
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%ld %ld", &size, &resident) == 2)
		kib = resident * (sysconf(_SC_PAGESIZE) / 1024);
	fclose(f);
	return kib;
}

/* PSS KiB of one process: the sum of its "Pss:" lines, one in
 * smaps_rollup, one per mapping in smaps.  0 if it has exited meanwhile
 * (or is a zombie, which maps nothing); -1 if we may not read it. */
static long proc_pss_kib(pid_t pid)
{
	static const char *const files[] = { "smaps_rollup", "smaps" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[64], line[256];
		snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, files[i]);
		FILE *f = fopen(path, "r");
		if (!f && errno == ENOENT)
			continue;       /* an old kernel without smaps_rollup, or gone */
		if (!f)
			return -1;      /* EACCES: another user's process */
		long kib = 0, pss;
		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "Pss: %ld kB", &pss) == 1)
				kib += pss;
		fclose(f);
		return kib;
	}
	return 0;
}

void acct_tree_memory(pid_t pid, struct tree_memory *m)
{
	struct pid_list tree = { 0 };
	*m = (struct tree_memory){ .rss_kib = -1, .pss_kib = -1 };
	if (list_tree(pid, &tree)) {
		m->rss_kib = m->pss_kib = 0;
		for (size_t i = 0; i < tree.n; i++) {
			long pss = proc_pss_kib(tree.pids[i]);
			m->rss_kib += proc_rss_kib(tree.pids[i]);
			m->pss_kib = pss < 0 || m->pss_kib < 0 ? -1 : m->pss_kib + pss;
		}
	}
	free(tree.pids);
}

/* ---------------------------------------------------------------- waits */

struct task_wait {
	pid_t tid;
	unsigned long long run_ns, wait_ns;
};

/* A thread's "schedstat": run time, run-queue wait, timeslices. */
static bool read_wait(FILE *f, pid_t tid, void *sample)
{
	struct runq_sample *s = sample;
	unsigned long long run_ns, wait_ns;
	if (fscanf(f, "%llu %llu", &run_ns, &wait_ns) != 2)
		return true;            /* exited meanwhile: an empty file */
	struct task_wait *tasks = room_for_one(s->tasks, s->n, &s->cap, sizeof(*tasks));
	if (!tasks)
		return false;
	s->tasks = tasks;
	s->tasks[s->n++] = (struct task_wait){ tid, run_ns, wait_ns };
	return true;
}

static int cmp_tid(const void *a, const void *b)
{
	pid_t x = ((const struct task_wait *)a)->tid, y = ((const struct task_wait *)b)->tid;
	return (x > y) - (x < y);
}

bool acct_runq_sample(pid_t pid, bool tree, struct runq_sample *s)
{
	struct pid_list procs = { 0 };
	bool ok = tree ? list_tree(pid, &procs) : push(&procs, pid);
	s->n = 0;
	for (size_t i = 0; ok && i < procs.n; i++)
		ok = each_thread(procs.pids[i], "schedstat", read_wait, s);
	free(procs.pids);
	qsort(s->tasks, s->n, sizeof(*s->tasks), cmp_tid);
	return ok && s->n > 0;
}

/* Task t of now as it was then; NULL if it began in between.  *j walks
 * then's tasks, both sorted by TID. */
static const struct task_wait *task_then(const struct runq_sample *then, size_t *j,
					 const struct task_wait *t)
{
	while (*j < then->n && then->tasks[*j].tid < t->tid)
		(*j)++;
	return *j < then->n && then->tasks[*j].tid == t->tid ? &then->tasks[*j] : NULL;
}

double acct_runq_wait_s(const struct runq_sample *then, const struct runq_sample *now,
			pid_t own)
{
	unsigned long long waited = 0, own_ran = 0;
	size_t j = 0;
	for (size_t i = 0; i < now->n; i++) {
		const struct task_wait *t = &now->tasks[i], *was = task_then(then, &j, t);
		if (t->tid == own)
			own_ran = since(t->run_ns, was ? was->run_ns : 0);
		else
			waited += since(t->wait_ns, was ? was->wait_ns : 0);
	}
	return waited > own_ran ? (double)(waited - own_ran) / 1e9 : 0.0;
}

unsigned acct_runq_tasks_ran(const struct runq_sample *then, const struct runq_sample *now)
{
	unsigned ran = 0;
	size_t j = 0;
	for (size_t i = 0; i < now->n; i++) {
		const struct task_wait *was = task_then(then, &j, &now->tasks[i]);
		ran += since(now->tasks[i].run_ns, was ? was->run_ns : 0) > 0;
	}
	return ran;
}

int acct_cpus_allowed(pid_t pid)
{
	cpu_set_t set;
	return sched_getaffinity(pid, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : -1;
}

void acct_runq_sample_free(struct runq_sample *s)
{
	free(s->tasks);
	*s = (struct runq_sample){ 0 };
}

bool acct_host_ticks(struct host_ticks *t)
{
	/* user nice system idle iowait irq softirq steal (guest: in user) */
	unsigned long long v[8];
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return false;
	int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
			 &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (got != 8)
		return false;
	t->steal = v[7];
	t->total = 0;
	for (int i = 0; i < 8; i++)
		t->total += v[i];
	return true;
}

double acct_steal_pct(const struct host_ticks *then, const struct host_ticks *now)
{
	unsigned long long total = since(now->total, then->total);
	return total ? 100.0 * (double)since(now->steal, then->steal) / (double)total : -1;
}
