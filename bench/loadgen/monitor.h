/* monitor.h - loadgen --monitor PID (monitor.c). */
#ifndef LOADGEN_MONITOR_H
#define LOADGEN_MONITOR_H

#include <sys/types.h>

/* Samples pid's CPU and memory on stdout until it ends or SIGTERM. */
int monitor_server(pid_t pid);

#endif
