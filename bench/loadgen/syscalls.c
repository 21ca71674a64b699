/* syscalls.c - how many system calls the server made in the measured
 * window, and which: --server-syscalls.
 *
 * Counted by the kernel's tracepoints through perf_event_open(), not by
 * strace.  strace stops the traced process at every call (ptrace), which
 * slows it and changes what it does: an edge-triggered loop that drains
 * each socket to EAGAIN shows 2-3 calls per message under strace, where
 * the tracepoints count its 4 (wait, read, write, and the read that says
 * EAGAIN), and a busy loop's count depends on how slowly it is made to run.
 * A counter costs the counted task a few nanoseconds per call.
 *
 * One counter per task of the server's tree and per name: each counts
 * raw_syscalls:sys_enter, the first every call, each other one only the
 * calls whose number is that name's (a filter, "id == N"); "other" is
 * every call minus the named ones.  One tracepoint for all of them: when
 * a process closes its last counter of a tracepoint the kernel waits out
 * an RCU grace period, one tracepoint after another (about 44 ms each on
 * this project's machine: with a tracepoint per name, syscalls:sys_enter_
 * NAME, a run spent a second closing them).  A task's counters are one
 * group, led by its count of every call,
 * so that they start and stop together: counters turned on one by one
 * would miss calls in between (a loaded machine can pause loadgen for
 * milliseconds there).  The counters are made, disabled, once the connect phase is over
 * (the server then holds every connection: its tasks exist), turned on at
 * the start of the window and read at its end.  A task made during the
 * window is not counted; one that ends keeps what it had counted.
 *
 * Needs root (or CAP_PERFMON) and tracefs (/sys/kernel/tracing, or under
 * /sys/kernel/debug), for the tracepoints' ids. */
#include "syscalls.h"
#include "accounting.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* What echo servers call; any other call is "other".  (A name this
 * architecture has no number for is left out.) */
#define NAMED(call) { #call, SYS_##call }
static const struct named_call {
	const char *name;
	long nr;
} names[] = {
	NAMED(read), NAMED(write), NAMED(readv), NAMED(writev), NAMED(recvfrom),
	NAMED(sendto), NAMED(recvmsg), NAMED(sendmsg),
#ifdef SYS_epoll_wait
	NAMED(epoll_wait),
#endif
	NAMED(epoll_pwait), NAMED(epoll_pwait2), NAMED(epoll_ctl),
#ifdef SYS_poll
	NAMED(poll),
#endif
	NAMED(ppoll),
#ifdef SYS_select
	NAMED(select),
#endif
	NAMED(pselect6),
#ifdef SYS_accept
	NAMED(accept),
#endif
	NAMED(accept4), NAMED(close), NAMED(io_uring_enter), NAMED(futex), NAMED(nanosleep),
	NAMED(clock_nanosleep), NAMED(timerfd_settime),
};
_Static_assert(sizeof(names) / sizeof(names[0]) <= SYSCALL_NAMES_MAX, "too many names");

static const char *const tracefs[] = { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" };

/* A tracepoint's id, from tracefs; 0 if this kernel has no such event. */
static unsigned long long tracepoint_id(const char *event)
{
	unsigned long long id = 0;
	for (size_t i = 0; i < sizeof(tracefs) / sizeof(tracefs[0]) && !id; i++) {
		char path[256];
		snprintf(path, sizeof(path), "%s/events/%s/id", tracefs[i], event);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%llu", &id) != 1)
			id = 0;
		fclose(f);
	}
	return id;
}

/* A counter of tracepoint id for task tid: the leader of its group
 * (leader -1, made disabled) or a member that counts when its leader does;
 * with filter, only the events that match it. */
static int counter(unsigned long long id, pid_t tid, int leader, const char *filter)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_TRACEPOINT,
		.size = sizeof(attr),
		.config = id,
		.disabled = leader < 0,
	};
	int fd = (int)syscall(SYS_perf_event_open, &attr, tid, -1, leader, PERF_FLAG_FD_CLOEXEC);
	if (fd >= 0 && filter && ioctl(fd, PERF_EVENT_IOC_SET_FILTER, filter) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

const char *syscalls_counting_unavailable(pid_t pid)
{
	static char why[160];
	unsigned long long id = tracepoint_id("raw_syscalls/sys_enter");
	if (!id)
		return "--server-syscalls: no tracepoint raw_syscalls/sys_enter under "
		       "/sys/kernel/tracing (tracefs not mounted, or not readable: run as root)";
	int fd = counter(id, pid, -1, NULL);
	if (fd < 0) {
		snprintf(why, sizeof(why), "--server-syscalls: perf_event_open: %s (needs root "
			 "or CAP_PERFMON)", strerror(errno));
		return why;
	}
	close(fd);
	return NULL;
}

bool syscalls_counters_open(struct syscall_counters *c, pid_t pid, char *why, size_t len)
{
	pid_t *tids = NULL;
	*c = (struct syscall_counters){ 0 };
	c->event_id = tracepoint_id("raw_syscalls/sys_enter");
	c->event_name[0] = "all";
	c->nevents = 1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(c->filter[c->nevents], sizeof(c->filter[0]), "id == %ld", names[i].nr);
		c->event_name[c->nevents++] = names[i].name;
	}
	if (!acct_tree_tasks(pid, &tids, &c->ntasks) ||
	    !(c->fds = malloc(c->ntasks * c->nevents * sizeof(*c->fds)))) {
		snprintf(why, len, "--server-syscalls: out of memory");
		free(tids);
		return false;
	}
	for (size_t t = 0; t < c->ntasks; t++) {
		for (unsigned e = 0; e < c->nevents; e++) {
			int leader = e ? c->fds[t * c->nevents] : -1;
			int fd = leader < 0 && e ? -1 : counter(c->event_id, tids[t], leader,
								 e ? c->filter[e] : NULL);
			if (fd < 0 && errno == ESRCH)           /* ended meanwhile */
				fd = -1;
			else if (fd < 0) {
				snprintf(why, len, "--server-syscalls: %zu tasks x %u counters: "
					 "perf_event_open: %s", c->ntasks, c->nevents, strerror(errno));
				c->ntasks = t + 1;
				c->fds[t * c->nevents + e] = -1;
				for (unsigned rest = e + 1; rest < c->nevents; rest++)
					c->fds[t * c->nevents + rest] = -1;
				free(tids);
				return false;
			}
			c->fds[t * c->nevents + e] = fd;
		}
	}
	free(tids);
	return true;
}

/* One call per task: its group's leader, with the whole group. */
void syscalls_counters_enable(struct syscall_counters *c, bool on)
{
	for (size_t t = 0; t < c->ntasks; t++)
		if (c->fds[t * c->nevents] >= 0)
			ioctl(c->fds[t * c->nevents], on ? PERF_EVENT_IOC_ENABLE :
			      PERF_EVENT_IOC_DISABLE, PERF_IOC_FLAG_GROUP);
}

void syscalls_counters_close(struct syscall_counters *c, struct syscall_counts *out)
{
	uint64_t sum[SYSCALL_NAMES_MAX + 1] = { 0 };
	for (size_t t = 0; t < c->ntasks; t++) {
		for (unsigned e = 0; e < c->nevents; e++) {
			int fd = c->fds[t * c->nevents + e];
			uint64_t n;
			if (fd >= 0 && read(fd, &n, sizeof(n)) == sizeof(n))
				sum[e] += n;
			if (fd >= 0)
				close(fd);
		}
	}
	free(c->fds);
	*out = (struct syscall_counts){ .have = true, .total = sum[0], .n = c->nevents - 1 };
	for (unsigned e = 1; e < c->nevents; e++) {
		out->name[e - 1] = c->event_name[e];
		out->calls[e - 1] = sum[e];
	}
	*c = (struct syscall_counters){ 0 };
}
