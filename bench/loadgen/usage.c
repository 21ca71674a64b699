/* usage.c - CPU and memory accounting from getrusage() and /proc.
 *
 * A server's /proc/PID/stat counts all its threads (utime, stime) and the
 * children it has already waited for (cutime, cstime).  A fork-per-
 * connection server's children are still alive while the load runs, so we
 * also walk its live descendants through /proc/PID/task/TID/children and
 * add theirs.  Resolution is one clock tick (10 ms at USER_HZ 100): fine
 * over seconds of load, useless for a single message. */
#include "usage.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define MAX_TREE_DEPTH 8        /* server -> worker -> helper is plenty */

void self_cpu(struct cpu_times *t)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	t->user_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	t->sys_s = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
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

/* Calls visit(child) for every direct child of every thread of pid. */
static void for_each_child(pid_t pid, void (*visit)(pid_t, int, void *), int depth, void *arg)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *tasks = opendir(path);
	if (!tasks)
		return;
	struct dirent *de;
	while ((de = readdir(tasks)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char cpath[300];
		snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/children", (int)pid, de->d_name);
		FILE *f = fopen(cpath, "r");
		if (!f)
			continue;
		int child;
		while (fscanf(f, "%d", &child) == 1)
			visit((pid_t)child, depth, arg);
		fclose(f);
	}
	closedir(tasks);
}

static void add_cpu(pid_t pid, int depth, void *arg)
{
	unsigned long long *sum = arg, ticks[4];
	if (!proc_ticks(pid, ticks))
		return;                 /* exited meanwhile: its parent's cutime has it */
	*sum += ticks[0] + ticks[1] + ticks[2] + ticks[3];
	sum[1] += ticks[0] + ticks[2];  /* user part */
	if (depth < MAX_TREE_DEPTH)
		for_each_child(pid, add_cpu, depth + 1, arg);
}

bool tree_cpu(pid_t pid, struct cpu_times *t)
{
	unsigned long long sum[2] = { 0, 0 }, ticks[4];
	if (!proc_ticks(pid, ticks))
		return false;
	add_cpu(pid, 0, sum);
	double hz = (double)sysconf(_SC_CLK_TCK);
	t->user_s = (double)sum[1] / hz;
	t->sys_s = (double)(sum[0] - sum[1]) / hz;
	return true;
}

static void add_rss(pid_t pid, int depth, void *arg)
{
	long *kib = arg;
	char path[64];
	long size, resident;
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return;
	if (fscanf(f, "%ld %ld", &size, &resident) == 2)
		*kib += resident * (sysconf(_SC_PAGESIZE) / 1024);
	fclose(f);
	if (depth < MAX_TREE_DEPTH)
		for_each_child(pid, add_rss, depth + 1, arg);
}

long tree_rss_kib(pid_t pid)
{
	long kib = 0;
	add_rss(pid, 0, &kib);
	return kib;
}
