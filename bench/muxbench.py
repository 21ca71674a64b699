"""muxbench.py - what every benchmark script in bench/ shares: starting a
server pinned to one CPU, running bin/loadgen pinned to another, and reading
its JSON.  Python 3 standard library only.

Method (docs/results.md): the server and the load generator run on
different CPUs; runs that are compared are made side by side, seconds apart,
and a comparison is the median of per-round ratios.
"""

import json
import os
import resource
import select
import signal
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "bin")
BACKENDS = ["blocking", "spin", "select", "poll", "epoll", "threads", "fork"]
FIXED_PORT = 7007  # the port shown in commands meant for copying
READY_TIMEOUT_S = 5
STOP_TIMEOUT_S = 5


def cpus():
    """The CPUs this process may use, as a sorted list."""
    return sorted(os.sched_getaffinity(0))


def pin_plan():
    """(server cpu, loadgen cpu): different CPUs when there are two."""
    mine = cpus()
    if len(mine) < 2:
        return mine[0], mine[0]
    return mine[0], mine[1]


def server_path(name):
    """bin/echo-<backend>, or a reference server such as ref/echo-libuv."""
    if "/" in name:
        return os.path.join(BIN, name)
    return os.path.join(BIN, "echo-" + name)


class Server:
    """One echo server on 127.0.0.1, pinned to a CPU, stopped with SIGTERM."""

    def __init__(self, name, cpu=None, args=(), nofile=None, path=None):
        self.name = name
        cmd = [path or server_path(name), "--port", "0"]
        if "/" not in name:
            cmd.append("--quiet")
        cmd += [str(a) for a in args]
        self.command = " ".join([os.path.relpath(cmd[0], ROOT)] + cmd[1:])
        if cpu is not None:
            self.command = "taskset -c %d %s" % (cpu, self.command)
        if nofile:
            nofile = min(nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
            self.command = "ulimit -n %d; %s" % (nofile, self.command)

        def setup():
            if cpu is not None:
                os.sched_setaffinity(0, {cpu})
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        # stderr to a file: a pipe nobody reads could fill and stall the server
        self.stderr = tempfile.TemporaryFile("w+")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True,
                                     preexec_fn=setup)
        line = self._ready_line()
        self.port = int(line.rsplit(":", 1)[1])
        self.pid = self.proc.pid
        self.summary = None

    def _ready_line(self):
        ready, _, _ = select.select([self.proc.stdout], [], [], READY_TIMEOUT_S)
        line = self.proc.stdout.readline() if ready else ""
        if "listening on" not in line:
            self.proc.kill()
            self.proc.wait()
            self.stderr.seek(0)
            err = self.stderr.read()
            raise RuntimeError("%s did not start: %s" % (self.name, err.strip()))
        return line.strip()

    def stop(self):
        """SIGTERM, wait; returns the summary line."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            out, _ = self.proc.communicate(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        lines = out.strip().splitlines()
        self.summary = lines[-1] if lines else ""
        return self.summary

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def loadgen_command(port, args, cpu=None, server_pid=None):
    """The bin/loadgen command line for one run, as a list."""
    cmd = []
    if cpu is not None:
        cmd += ["taskset", "-c", str(cpu)]
    cmd += [os.path.join(BIN, "loadgen"), "127.0.0.1:%d" % port, "--json"]
    if server_pid:
        cmd += ["--server-pid", str(server_pid)]
    return cmd + [str(a) for a in args]


def run_loadgen(port, args, cpu=None, server_pid=None, timeout=None):
    """Run bin/loadgen once; returns (result dict, command string).

    A run whose loadgen exits non-zero comes back with "error" set and the
    figures it could still report (or none)."""
    cmd = loadgen_command(port, args, cpu, server_pid)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        result = {}
    if proc.returncode != 0:
        result["error"] = (proc.stderr.strip().splitlines() or ["exit %d" % proc.returncode])[-1]
    shown = [os.path.relpath(c, ROOT) if c.startswith(ROOT) else c
             for c in cmd if c != "--json"]
    return result, " ".join(shown)


def median_ratio(pairs):
    """Median of a/b over paired runs, with (min, max): the comparison we
    report, because runs drift over minutes but not over seconds."""
    ratios = [a / b for a, b in pairs if b]
    return statistics.median(ratios), min(ratios), max(ratios)


# ---- What the suite scripts share ----

LOADGEN_COLUMNS = ["msgs_per_s", "mb_per_s", "p50_us", "p99_us",
                   "server_cpu_us_per_msg", "loadgen_cpu_us_per_msg",
                   "server_rss_kib", "errors", "error"]


def suite_arguments(description, default_backends=None):
    """The options every bench/suite-* script takes (bench/harness.py passes
    them; each script also runs alone)."""
    import argparse
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--out", default=".", help="results directory (CSV goes here)")
    ap.add_argument("--backends", default=",".join(default_backends or BACKENDS))
    ap.add_argument("--duration", type=float, default=1.0, help="measured seconds per run")
    ap.add_argument("--warmup", type=float, default=0.25, help="unmeasured seconds first")
    ap.add_argument("--repeat", type=int, default=3, help="runs per point (>= 3)")
    ap.add_argument("--full", action="store_true", help="the long version: more points")
    args = ap.parse_args()
    args.backends = [b for b in args.backends.split(",") if b]
    return args


def reply_timeout(backend):
    """loadgen --timeout: a connection with no reply for this long is an
    error.  Generous (a fork server starting 1000 children on one CPU is slow
    to answer the last ones), but short for blocking, which by design never
    answers its second client: each of its runs would last that long."""
    return 1 if backend == "blocking" else 5


def rotations(backends, repeat):
    """(repeat index, backend) in the order to run them: the order rotates
    between repeats so that drift does not always favour the same backend."""
    for r in range(repeat):
        k = r % len(backends)
        for b in backends[k:] + backends[:k]:
            yield r, b


class Csv:
    """A CSV file with a header, one row per run, flushed as it goes."""

    def __init__(self, path, columns):
        import csv
        self.columns = columns
        self.file = open(path, "w", newline="")
        self.writer = csv.DictWriter(self.file, columns, extrasaction="ignore")
        self.writer.writeheader()

    def add(self, row):
        self.writer.writerow(row)
        self.file.flush()

    def close(self):
        self.file.close()


def flatten(result, size):
    """The figures of one loadgen JSON result, under LOADGEN_COLUMNS."""
    lat = result.get("latency_us") or {}
    server = result.get("server_cpu") or {}
    lg = result.get("loadgen_cpu") or {}
    rate = result.get("msgs_per_s")  # none if loadgen printed no result
    return {
        "msgs_per_s": "" if rate is None else "%.1f" % rate,
        "mb_per_s": "" if rate is None else "%.3f" % (rate * size / 1e6),
        "p50_us": lat.get("p50", ""),
        "p99_us": lat.get("p99", ""),
        "server_cpu_us_per_msg": server.get("us_per_msg", ""),
        "loadgen_cpu_us_per_msg": lg.get("us_per_msg", ""),
        "server_rss_kib": server.get("peak_rss_kib", ""),
        "errors": result.get("errors", ""),
        "error": result.get("error") or "",
    }


def reproducible(srv, loadgen_cmd):
    """The server and loadgen commands of a run, with a fixed port, ready to
    paste into a shell."""
    return "%s & sleep 0.2; %s; kill $!" % (
        srv.command.replace("--port 0", "--port %d" % FIXED_PORT),
        loadgen_cmd.replace(":%d" % srv.port, ":%d" % FIXED_PORT)
        .replace("--server-pid %d" % srv.pid, "--server-pid $!"))


def measure(backend, loadgen_args, size=64, server_args=(), nofile=None,
            timeout=None, with_result=False):
    """One pinned run: start the server, run loadgen, stop the server.
    Returns the row (LOADGEN_COLUMNS plus "command"), and loadgen's whole
    result too if with_result."""
    server_cpu, loadgen_cpu = pin_plan()
    with Server(backend, cpu=server_cpu, args=server_args, nofile=nofile) as srv:
        result, cmd = run_loadgen(srv.port, list(loadgen_args) + ["--size", size],
                                  cpu=loadgen_cpu, server_pid=srv.pid, timeout=timeout)
    row = flatten(result, size)
    row["command"] = reproducible(srv, cmd)
    return (row, result) if with_result else row


def progress(suite, text):
    """One line per run on stderr, so a long suite shows it is alive."""
    import sys
    print("  %-12s %s" % (suite, text), file=sys.stderr, flush=True)


def cpu_seconds(pid):
    """CPU time (user + sys) of a process, its threads and reaped children."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")
