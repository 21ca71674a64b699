/* monitor.c - loadgen --monitor PID: the server's CPU and memory, sampled
 * on its own host, for a run whose load generators are on other hosts.
 *
 * On one machine loadgen reads the server's /proc itself (--server-pid).
 * Across machines the server's pid is another host's, so the harness
 * starts this beside the server (through ssh, tethered to its channel)
 * and lines its samples up with the load generators' measured window
 * afterwards: each sample carries CLOCK_REALTIME, as their saved windows
 * do (bench/muxbench.py interpolates the CPU at the window's edges and
 * takes the largest memory inside it).  netperf's netserver does the same
 * for its -C.  It prints, then one line per sample until SIGTERM or the
 * server's end:
 *
 *     monitor PID CPUS                 the server, the CPUs it may run on
 *     cpu REALTIME_NS CPU_NS           its tree's CPU time, every CPU_EVERY_MS
 *     mem REALTIME_NS RSS_KIB PSS_KIB  its tree's memory, every MEM_EVERY_MS
 *
 * (-1: unknown).  Memory less often: PSS reads every process's smaps,
 * which for a fork server with a thousand children is itself work. */
#include "monitor.h"
#include "accounting.h"
#include "clock.h"

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#define CPU_EVERY_MS 20
#define MEM_EVERY_MS 100

/* The process has ended: gone, or a zombie its parent has not reaped. */
static bool ended(pid_t pid)
{
	char path[64], state = 'Z';
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
			state = 'Z';
		fclose(f);
	}
	return state == 'Z' || state == 'X';
}

int monitor_server(pid_t pid)
{
	struct timespec every = { 0, CPU_EVERY_MS * 1000000L };
	unsigned mem_every = MEM_EVERY_MS / CPU_EVERY_MS;
	printf("monitor %d %d\n", (int)pid, acct_cpus_allowed(pid));
	for (unsigned i = 0; !ended(pid); i++) {
		struct cpu_times cpu;
		uint64_t t = realtime_ns();
		if (acct_tree_cpu(pid, &cpu))
			printf("cpu %llu %.0f\n", (unsigned long long)t,
			       (cpu.user_s + cpu.sys_s) * 1e9);
		if (i % mem_every == 0) {
			struct tree_memory m;
			acct_tree_memory(pid, &m);
			printf("mem %llu %ld %ld\n", (unsigned long long)t, m.rss_kib, m.pss_kib);
		}
		if (fflush(stdout) != 0)
			return 1;       /* nobody reads any more */
		nanosleep(&every, NULL);
	}
	return 0;
}
