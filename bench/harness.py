#!/usr/bin/env python3
"""harness.py - `make bench`: run the benchmark suites into a new results
directory, then draw the charts and write summary.md (bench/report).

Settings come from the environment (the Makefile passes its variables):
  BACKENDS  comma- or space-separated backends (default: every one the
            Makefile builds, `make print-backends`)
  SUITES    suites to run (default: concurrency msgsize idle connect cpu syscalls)
  DURATION  measured seconds per run (quick 0.25, full 5)
  REPEAT    runs per point, at least 3 (quick 3, full 5)
  SERVER_CPUS, LOADGEN_CPUS
            the CPUs of the server and of the load generator, as taskset
            lists (default: one each, 0 and 1)
  FULL=1    the long version: more points, longer runs (make bench-full)
  RESULTS   where results go (default: results/)
  DISTURBED_PCT
            a run whose server or loadgen waited for a CPU, or whose host
            lost to steal, this % of its window or more is run again (up to
            3 tries) and, disturbed every time, left out of the medians
            (default 10; 100 judges none disturbed)

On several hosts (docs/multihost.md; all three or none):
  SERVER_HOST  where the servers run, started as `$RUNNER SERVER_HOST cmd...`
  SERVER_ADDR  the address they bind (--host) and the load generators target
  LOAD_HOSTS   the load hosts, space- or comma-separated: each runs one
               bin/loadgen with its share of --conns (and of --rate), all at
               once, each --save to a file under build/ (the same paths on
               every host: a shared checkout), merged with loadgen --merge
  RUNNER       how to run a command on a host (default ssh; "ip netns exec"
               makes the hosts network namespaces of this machine)
  SERVER_CPUS and LOADGEN_CPUS are then CPUs of those hosts.  The server's
  CPU and memory are measured on its own host: by `bin/loadgen --monitor`
  started there beside it, its samples lined up with the load generators'
  windows on CLOCK_REALTIME (env.txt gives the clocks' offsets); where one
  pid namespace is shared (RUNNER "ip netns exec") the first loadgen reads
  them itself.  What cannot run across hosts is said at the start and in
  env.txt (multihost_notes()): the syscalls suite, tracepoints on a pid here,
  is skipped.
"""

import datetime
import glob
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import muxbench  # noqa: E402

ALL_SUITES = ["concurrency", "msgsize", "idle", "connect", "cpu", "syscalls"]


def words(text):
    return [w for w in re.split(r"[,\s]+", text or "") if w]


def settings():
    full = os.environ.get("FULL") == "1"
    s = {
        "full": full,
        "backends": words(os.environ.get("BACKENDS")) or muxbench.BACKENDS,
        "suites": words(os.environ.get("SUITES")) or ALL_SUITES,
        "duration": float(os.environ.get("DURATION") or (5 if full else 0.25)),
        "warmup": 1.0 if full else 0.1,
        "repeat": int(os.environ.get("REPEAT") or (5 if full else 3)),
        "results": os.environ.get("RESULTS") or os.path.join(muxbench.ROOT, "results"),
    }
    for b in s["backends"]:
        if b not in muxbench.BACKENDS:
            sys.exit("bench: unknown backend '%s' (one of: %s)" % (b, " ".join(muxbench.BACKENDS)))
    for suite in s["suites"]:
        if suite not in ALL_SUITES:
            sys.exit("bench: unknown suite '%s' (one of: %s)" % (suite, " ".join(ALL_SUITES)))
    if s["repeat"] < 1 or s["duration"] <= 0:
        sys.exit("bench: REPEAT must be >= 1 and DURATION > 0")
    if s["repeat"] < 3:
        print("bench: REPEAT=%d: fewer than 3 repeats give no median worth the name "
              "(fine for a smoke test)" % s["repeat"], file=sys.stderr)
    return s


def command_output(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, shell=True).stdout.strip()
    except OSError:
        return "?"


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def cpu_jiffies():
    """(steal, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is in user)
    return fields[7] if len(fields) > 7 else 0, sum(fields[:8])


def machine_state(when, since=None):
    """What can change under a run and skew it: the CPU frequency governor,
    the load average, and the time the hypervisor gave other guests
    (steal).  since: the cpu_jiffies() of the start, for the steal during
    the run."""
    governors = sorted({open(p).read().strip() for p in
                        glob.glob("/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor")})
    steal, total = cpu_jiffies()
    if since:
        steal_text = "%.2f%% of all CPU time during the run" % (
            100.0 * (steal - since[0]) / max(1, total - since[1]))
    else:
        steal_text = "%.2f%% of all CPU time since boot" % (100.0 * steal / max(1, total))
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return [
        ("cpu governor at " + when, ", ".join(governors) or "none (no cpufreq: fixed "
         "frequency, or a VM that does not show it)"),
        ("load average at " + when, load),
        ("steal at " + when, steal_text),
    ]


def multihost_notes(plan):
    """What a run on several hosts cannot do as it does here, one line each."""
    return [
        ("syscalls", "syscalls: skipped on several hosts (loadgen counts the server's calls "
         "with tracepoints on its own host; loadgen runs on the load hosts)"),
        ("connect", "connect: its hyperfine part is skipped on several hosts (it times "
         "one loadgen on this machine); connect.csv is measured across the hosts"),
        ("cpu", "cpu: idle CPU read from the server host's /proc%s" % (
            "" if muxbench.pids_shared(plan["runner"]) else " through RUNNER")),
    ]


def hosts_env(plan):
    """env.txt lines for a run on several hosts: every host, what ran there."""
    runner = " ".join(plan["runner"])

    def uname(host):
        out = subprocess.run(muxbench.on_host(plan, host, ["uname", "-nr"]),
                             capture_output=True, text=True)
        return out.stdout.strip() or "? (%s)" % (out.stderr.strip() or "no answer")
    if muxbench.pids_shared(plan["runner"]):
        server_cpu = "measured by the first load host's loadgen (--server-pid: one pid namespace)"
    else:
        server_cpu = ("measured on %s by bin/loadgen --monitor beside each server (CPU every "
                      "20 ms, memory every 100 ms), lined up with the load generators' "
                      "windows on CLOCK_REALTIME" % plan["server_host"])
    offsets = muxbench.clock_offsets(plan)
    clocks = ", ".join("%s %s" % (h, "%+.2f ms (+-%.2f)" % (o[0] / 1e6, o[1] / 1e6) if o
                                  else "unknown") for h, o in offsets.items())
    return [
        ("runner", runner),
        ("server host", "%s (%s), bound to %s: every echo server" % (
            plan["server_host"], uname(plan["server_host"]), plan["server_addr"])),
    ] + [("load host %d" % (i + 1), "%s (%s): one bin/loadgen per run, its share of "
          "--conns and --rate, --save, merged with loadgen --merge" % (h, uname(h)))
         for i, h in enumerate(plan["load_hosts"])] + [
        ("server cpu", server_cpu),
        ("clock offset", "CLOCK_REALTIME of each host minus this one's, from date through "
         "RUNNER between two readings here: " + clocks),
    ] + [("multi-host note", n) for _, n in multihost_notes(plan)]


def write_env(path, s, started):
    server_cpu, loadgen_cpu = muxbench.pin_plan()
    plan = muxbench.hosts_plan()
    cc = command_output("make -s -C %s print-cc" % muxbench.ROOT)
    env = [
        ("date", started.strftime("%Y-%m-%d %H:%M UTC")),
        ("host", socket.gethostname()),
        ("kernel", platform.release()),
        ("cpu model", cpu_model()),
        ("cpus", str(os.cpu_count())),
        ("cpus usable", " ".join(map(str, muxbench.cpus()))),
        ("memory", command_output("free -h | awk '/Mem:/ {print $2}'")),
        ("compiler", command_output("%s --version | head -1" % (cc.split()[0] if cc else "cc"))),
        ("build", cc),
        ("git revision", command_output("git -C %s describe --always --dirty" % muxbench.ROOT)),
        ("ulimit -n", command_output("ulimit -n")),
        ("somaxconn", command_output("cat /proc/sys/net/core/somaxconn")),
        ("ephemeral ports", command_output("cat /proc/sys/net/ipv4/ip_local_port_range")),
        ("pinning", "server on CPU %s, loadgen on CPU %s (taskset; SERVER_CPUS, "
         "LOADGEN_CPUS)" % (server_cpu, loadgen_cpu)),
        ("settings", "backends=%s suites=%s duration=%gs warmup=%gs repeat=%d full=%s" % (
            ",".join(s["backends"]), ",".join(s["suites"]), s["duration"], s["warmup"],
            s["repeat"], s["full"])),
        ("gnuplot", command_output("gnuplot --version")),
        ("hyperfine", command_output("hyperfine --version")),
    ] + (hosts_env(plan) if plan else []) + machine_state("start")
    with open(path, "w") as f:
        for key, value in env:
            f.write("%s: %s\n" % (key, value))


stopped_by = None
suite_proc = None


def on_stop(signum, frame):
    """SIGINT or SIGTERM: pass it on to the suite that runs (it stops what
    it started, on every host), then stop after it, without a report."""
    global stopped_by
    stopped_by = signum
    if suite_proc and suite_proc.poll() is None:
        suite_proc.send_signal(signum)


def run_suite(cmd):
    global suite_proc
    suite_proc = subprocess.Popen(cmd)
    while True:
        try:
            return suite_proc.wait()
        except InterruptedError:
            continue


def new_results_dir(root, started, host):
    """root/<UTC date and time>-<host>, made; -2, -3, ... after it when a
    run of the same minute has it already (two short runs in one minute
    must not write into one directory)."""
    base = os.path.join(root, "%s-%s" % (started.strftime("%Y-%m-%dT%H%MZ"), host))
    os.makedirs(root, exist_ok=True)
    for n in range(1, 1000):
        out = base if n == 1 else "%s-%d" % (base, n)
        try:
            os.mkdir(out)
            return out
        except FileExistsError:
            continue
    sys.exit("bench: %s-2 to -999 exist already" % base)


def main():
    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGTERM, on_stop)
    s = settings()
    if len(muxbench.cpus()) < 2:
        print("bench: WARNING: only one CPU: the server and the load generator share it, "
              "so every figure measures both of them together", file=sys.stderr)
    started = datetime.datetime.now(datetime.timezone.utc)
    out = new_results_dir(s["results"], started, socket.gethostname())
    write_env(os.path.join(out, "env.txt"), s, started)
    print("bench: %s, %d repeats of %g s, backends %s -> %s" % (
        "full" if s["full"] else "quick", s["repeat"], s["duration"],
        " ".join(s["backends"]), os.path.relpath(out)))

    here = os.path.dirname(os.path.abspath(__file__))
    jiffies = cpu_jiffies()
    took = []
    plan = muxbench.hosts_plan()
    if plan:
        print("bench: on several hosts: server on %s (%s), load from %s, via %s" % (
            plan["server_host"], plan["server_addr"], " ".join(plan["load_hosts"]),
            " ".join(plan["runner"])))
        for suite, note in multihost_notes(plan):
            if suite in s["suites"]:
                print("bench: " + note)
    for suite in s["suites"]:
        if plan and suite == "syscalls":
            continue
        if stopped_by:
            break
        t0 = time.monotonic()
        print("bench: suite %s" % suite, flush=True)
        cmd = [os.path.join(here, "suite-" + suite), "--out", out,
               "--duration", str(s["duration"]), "--warmup", str(s["warmup"]),
               "--repeat", str(s["repeat"])]
        backends = s["backends"]
        if suite == "idle":
            backends = muxbench.idle_backends(backends, s["full"]) or backends
        cmd += ["--backends", ",".join(backends)] + (["--full"] if s["full"] else [])
        code = run_suite(cmd)
        if stopped_by:
            sys.exit("bench: stopped by %s during suite %s; every server and load "
                     "generator it started has been stopped" % (
                         signal.Signals(stopped_by).name, suite))
        if code != 0:
            sys.exit("bench: suite %s failed (exit %d)" % (suite, code))
        took.append("%s %.0f s" % (suite, time.monotonic() - t0))
        print("bench: suite %s took %s" % (suite, took[-1].split()[1] + " s"), flush=True)
    with open(os.path.join(out, "env.txt"), "a") as f:
        for key, value in machine_state("end", since=jiffies) + [("suite times", ", ".join(took))]:
            f.write("%s: %s\n" % (key, value))

    latest = os.path.join(s["results"], "latest")
    if os.path.islink(latest) or not os.path.exists(latest):
        if os.path.islink(latest):
            os.unlink(latest)
        os.symlink(os.path.basename(out), latest)
    subprocess.run([os.path.join(here, "report"), out], check=True)


if __name__ == "__main__":
    main()
