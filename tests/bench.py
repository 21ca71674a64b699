#!/usr/bin/env python3
"""bench.py - smoke test of the benchmark harness (`make bench`): a tiny run
(two backends, short durations, one repeat) into a temporary results
directory, then checks of what it must leave behind: env.txt, a CSV per
suite with its columns and one row per run, every chart as non-empty PNG and
SVG, summary.md with reproducible commands, results/latest.  Also: a missing
gnuplot stops bench/run with the install command, not a traceback.

    python3 tests/bench.py [--case NAME]...

Prints `bench/<case>: ok|FAILED (why)`; exit status 1 if anything failed.
Never checks a speed: only that the figures exist and the errors are the
expected ones.
"""

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ["blocking", "epoll"]
LOADGEN_COLUMNS = ["msgs_per_s", "p50_us", "p99_us", "server_cpu_us_per_msg", "errors",
                   "error", "lost", "loadgen_cpu_pct", "client_bound", "server_rss_kib",
                   "server_pss_kib"]
SUITE_COLUMNS = {
    "concurrency": ["suite", "backend", "repeat", "conns", "command"] + LOADGEN_COLUMNS,
    "msgsize": ["backend", "size", "mb_per_s", "command"] + LOADGEN_COLUMNS,
    "idle": ["backend", "idle", "load", "command"] + LOADGEN_COLUMNS,
    "noise": ["backend", "repeat", "run", "command"] + LOADGEN_COLUMNS,
    "connect": ["backend", "conns_per_s", "connect_p50_us", "server_cpu_us_per_conn",
                "command"] + LOADGEN_COLUMNS,
    "cpu": ["backend", "load", "idle_cpu_percent", "requested_rate", "kept_up",
            "command"] + LOADGEN_COLUMNS,
    "syscalls": ["backend", "conns", "syscall", "calls", "per_msg", "command"],
}
CHARTS = ["concurrency-throughput", "concurrency-cpu", "concurrency-p50", "concurrency-p99",
          "concurrency-memory", "msgsize-throughput", "idle-throughput", "idle-cpu",
          "connect-cpu", "cpu-per-message", "cpu-idle"]
ENV_KEYS = ["date", "kernel", "cpu model", "cpus", "compiler", "build", "git revision",
            "ulimit -n", "pinning", "settings", "cpu governor at start", "load average at start",
            "steal at start", "cpu governor at end", "load average at end", "steal at end",
            "suite times"]


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402
from suite import check  # noqa: E402


def read_rows(path):
    with open(path) as f:
        reader = csv.DictReader(f)
        return reader.fieldnames or [], list(reader)


def smoke(tmp):
    results = os.path.join(tmp, "results")
    # the pipeline, whatever the neighbours do: no run is judged disturbed
    env = dict(os.environ, BACKENDS=",".join(BACKENDS), DURATION="0.2", REPEAT="1",
               RESULTS=results, DISTURBED_PCT="100")
    run = subprocess.run([os.path.join(ROOT, "bench", "run")], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    check(run.returncode == 0, "bench/run exit %d: %s" % (
        run.returncode, (run.stderr.strip().splitlines() or ["?"])[-1]))
    latest = os.path.join(results, "latest")
    check(os.path.islink(latest), "results/latest is not a symlink")
    out = os.path.realpath(latest)
    check("summary.md" in run.stdout and "chart:" in run.stdout,
          "the terminal output does not end with the summary and chart paths")

    keys = [line.split(":", 1)[0] for line in open(os.path.join(out, "env.txt"))]
    for key in ENV_KEYS:
        check(key in keys, "env.txt has no '%s'" % key)

    for suite, columns in SUITE_COLUMNS.items():
        path = os.path.join(out, suite + ".csv")
        check(os.path.exists(path), "%s.csv missing" % suite)
        header, rows = read_rows(path)
        for col in columns:
            check(col in header, "%s.csv has no column %s" % (suite, col))
        expected = ["epoll"] if suite in ("idle", "noise") else BACKENDS
        for b in expected:
            check(any(r["backend"] == b for r in rows), "%s.csv has no row for %s" % (suite, b))
    _, rows = read_rows(os.path.join(out, "idle.csv"))
    check({r["load"] for r in rows} == {"closed", "100"}, "idle.csv's loads are %s, not a "
          "closed loop and a fixed rate" % sorted({r["load"] for r in rows}))
    _, rows = read_rows(os.path.join(out, "noise.csv"))
    check(sorted(r["run"] for r in rows) == ["a", "b"], "noise.csv: runs %s, want a and b"
          % [r["run"] for r in rows])

    _, rows = read_rows(os.path.join(out, "concurrency.csv"))
    for r in rows:
        served = float(r["msgs_per_s"] or 0)
        if r["backend"] == "epoll":
            check(not r["error"] and served > 0, "epoll at %s conns: %r" % (r["conns"], r["error"]))
        elif r["conns"] == "1":
            check(not r["error"] and served > 0, "blocking at 1 conn: %r" % r["error"])
        else:  # one client served, the others reported, not a hang
            check("no reply" in r["error"] and served > 0,
                  "blocking at %s conns should serve one client and report the rest, got %r"
                  % (r["conns"], r["error"]))
            # the unserved clients' messages are lost, and in the tail: at
            # least the reply timeout (0.5 s), not the served one's latency
            check(int(r["lost"] or 0) > 0 and float(r["p99_us"] or 0) >= 400000,
                  "blocking at %s conns: lost %r, p99 %r us: the lost messages are "
                  "missing from the tail" % (r["conns"], r["lost"], r["p99_us"]))

    for name in CHARTS:
        for ext, magic in (("png", b"\x89PNG"), ("svg", b"<svg")):
            path = os.path.join(out, "%s.%s" % (name, ext))
            check(os.path.exists(path) and os.path.getsize(path) > 0, "%s.%s missing or empty" % (name, ext))
            with open(path, "rb") as f:
                check(magic in f.read(4096), "%s.%s is not a %s" % (name, ext, ext))

    summary = open(os.path.join(out, "summary.md")).read()
    check(summary.count("bin/loadgen") >= 5, "summary.md lacks the loadgen commands")
    check("Noise floor" in summary and "Disturbed runs:" in summary,
          "summary.md lacks the noise floor or the count of disturbed runs")
    with open(os.path.join(out, "connect-hyperfine.json")) as f:
        check(len(json.load(f)["results"]) == len(BACKENDS), "connect-hyperfine.json: wrong result count")
    check(os.path.getsize(os.path.join(out, "connect-hyperfine.md")) > 0, "connect-hyperfine.md empty")


def missing_gnuplot(tmp):
    """A PATH with every tool the harness needs except gnuplot."""
    bindir = os.path.join(tmp, "path")
    os.makedirs(bindir)
    for tool in ("bash", "env", "dirname", "id", "python3", "hyperfine", "strace", "taskset"):
        found = shutil.which(tool)
        if found:
            os.symlink(found, os.path.join(bindir, tool))
    env = dict(os.environ, PATH=bindir, BENCH_NO_INSTALL="1", RESULTS=os.path.join(tmp, "r"))
    run = subprocess.run([os.path.join(ROOT, "bench", "run")], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    check(run.returncode == 1, "exit %d, expected 1" % run.returncode)
    check("gnuplot-nox" in run.stderr and "apt-get install" in run.stderr,
          "stderr does not name the package and the command: %r" % run.stderr)
    check("Traceback" not in run.stderr, "a traceback instead of a message")
    check(not os.path.exists(os.path.join(tmp, "r")), "results were written anyway")


# A server that prints the ready line, echoes, and then misbehaves as told.
FAKE_SERVER = r"""#!/usr/bin/env python3
import os, signal, socket, sys, threading
how = sys.argv[-1]  # after the harness's --port 0 --quiet
lsock = socket.socket()
lsock.bind(("127.0.0.1", 0))
lsock.listen(16)
# the handler first: a stop may come as soon as the ready line is out
signal.signal(signal.SIGTERM, lambda *a: os._exit(3 if how == "exit-on-term" else 0))
print("echo-fake listening on 127.0.0.1:%d" % lsock.getsockname()[1], flush=True)
def serve(c):
    while True:
        data = c.recv(65536)
        if not data:
            return
        c.sendall(data)
        if how == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
while True:
    c, _ = lsock.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


def muxbench_module():
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import muxbench
    return muxbench


def server_problem(tmp):
    """A server that crashes during a run, or does not exit 0 on SIGTERM,
    fails that run: Server.problem says so, and measure() puts it in the
    row's error even when loadgen saw nothing wrong."""
    muxbench = muxbench_module()
    script = os.path.join(tmp, "fake.py")
    with open(script, "w") as f:
        f.write(FAKE_SERVER)
    os.chmod(script, 0o755)
    for how, words in (("exit-on-term", "exit status 3 on SIGTERM"),
                       ("crash", "signal SIGSEGV")):
        srv = muxbench.Server("fake", path=script, args=[how])
        result, _ = muxbench.run_loadgen(srv.port, ["--conns", 1, "--requests", 50,
                                                    "--timeout", 1])
        srv.stop()
        check(srv.problem and words in srv.problem,
              "%s: problem %r, want it to say %r" % (how, srv.problem, words))
    srv = muxbench.Server("fake", path=script, args=["fine"])
    srv.stop()
    check(srv.problem is None, "a server that exits 0 on SIGTERM: %r" % srv.problem)


# A server that closes every connection at once: every loadgen run fails.
SLAMMING_SERVER = r"""#!/usr/bin/env python3
import os, signal, socket
signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
lsock = socket.socket()
lsock.bind(("127.0.0.1", 0))
lsock.listen(64)
print("echo-slam listening on 127.0.0.1:%d" % lsock.getsockname()[1], flush=True)
while True:
    lsock.accept()[0].close()
"""


def hyperfine_failure(tmp):
    """A backend whose hyperfine run fails gets a row that says why in
    connect-hyperfine.md and an entry under "failed" in the JSON, and the
    suite goes on with the next backend."""
    script = os.path.join(tmp, "echo-slam")
    with open(script, "w") as f:
        f.write(SLAMMING_SERVER)
    os.chmod(script, 0o755)
    out = os.path.join(tmp, "out")
    os.makedirs(out)
    run = subprocess.run([os.path.join(ROOT, "bench", "suite-connect"), "--out", out,
                          "--backends", script + ",epoll", "--repeat", "1",
                          "--duration", "0.1", "--warmup", "0.05"],
                         capture_output=True, text=True, timeout=120)
    check(run.returncode == 0, "suite-connect exit %d: %s" % (
        run.returncode, (run.stderr.strip().splitlines() or ["?"])[-1]))
    table = open(os.path.join(out, "connect-hyperfine.md")).read()
    # the server closes each connection at once: the client sees either
    # the close or, if its message had arrived first, a reset
    check("| %s | failed: " % script in table and
          ("server closed" in table or "reset by peer" in table),
          "no failure row that says why for the failing backend: %r" % table)
    check("| epoll | " in table and "| epoll | failed" not in table,
          "the next backend was not timed: %r" % table)
    with open(os.path.join(out, "connect-hyperfine.json")) as f:
        data = json.load(f)
    check([r["command"] for r in data["failed"]] == [script] and len(data["results"]) == 1,
          "connect-hyperfine.json: failed %r, %d results" % (data["failed"], len(data["results"])))


def report_module():
    import importlib.machinery
    import importlib.util
    path = os.path.join(ROOT, "bench", "report")
    loader = importlib.machinery.SourceFileLoader("report", path)
    spec = importlib.util.spec_from_loader("report", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def report_cells(tmp):
    """What a table cell says: a median over fewer runs than asked shows
    n=k/N; blocking's designed timeout counts, any other error of blocking
    does not; a client-bound figure is marked."""
    report = report_module()
    timeout = "no reply on connection 1 for 1 s (64 bytes outstanding): ..."

    def row(backend, value, error="", pct=50):
        return {"backend": backend, "conns": "10", "msgs_per_s": str(value), "error": error,
                "loadgen_cpu_pct": str(pct)}
    rows = [row("epoll", 100), row("epoll", 200), row("epoll", 300, "server crashed"),
            row("blocking", 10, timeout), row("blocking", 20, "short reply: ..."),
            row("blocking", 30, timeout), row("poll", 5, pct=95), row("poll", 7, pct=99),
            row("poll", 6, pct=20), row("select", 1, "refused")]
    cells = report.Cells(rows, "conns", "msgs_per_s", keep_expected=True)
    got = {b: cells.cell((b, 10.0), "%.0f") for b in ("epoll", "blocking", "poll", "select")}
    want = {"epoll": "150 (100-200) n=2/3", "blocking": "20 (10-30) n=2/3",
            "poll": "6 (5-7) \\*", "select": "failed (n=0/1)"}
    check(got == want, "cells %r, want %r" % (got, want))
    strict = report.Cells(rows, "conns", "msgs_per_s")
    check(strict.cell(("blocking", 10.0), "%.0f") == "failed (n=0/3)",
          "without keep_expected blocking's timeouts must not count: %r"
          % strict.cell(("blocking", 10.0), "%.0f"))
    # a run disturbed in every try is left out, and said to be
    shaken = [dict(row("epoll", v), disturbed=d) for v, d in ((100, "0"), (900, "1"),
                                                               (200, "0"))]
    shaken += [dict(row("poll", 5), disturbed="1")]
    cells = report.Cells(shaken, "conns", "msgs_per_s")
    got = (cells.cell(("epoll", 10.0), "%.0f"), cells.cell(("poll", 10.0), "%.0f"))
    check(got == ("150 (100-200) n=2/3", "disturbed (n=0/1)"),
          "disturbed runs: cells %r" % (got,))
    # backends closer than the noise floor are not ranked apart
    ranked = report.ranking(cells, 10.0, ["epoll", "poll"], 5, "%.0f", True)
    check(ranked == "epoll 150", "ranking of one undisturbed backend: %r" % ranked)
    close = report.Cells([row("a", 100), row("b", 103), row("c", 150)], "conns", "msgs_per_s")
    ranked = report.ranking(close, 10.0, ["a", "b", "c"], 5, "%.0f", True)
    check(ranked == "c 150 > b 103 ≈ a 100", "ranking with a 5%% noise floor: %r" % ranked)


def disturbed_rule(tmp):
    """muxbench.disturbed(): loadgen's wait or the steal at 10% of the
    window is disturbed; the server's wait too, unless it ran more tasks
    than CPUs (then it waits for itself); a window under 0.1 s is not
    judged."""
    muxbench = muxbench_module()

    def judged(lg=0.0, srv=0.0, steal=0.0, ran=1, cpus=1, window=1.0):
        result = {"measured_s": window, "loadgen_cpu": {"runq_wait_s": lg * window},
                  "server_cpu": {"runq_wait_s": srv * window, "tasks_ran": ran, "cpus": cpus},
                  "host": {"steal_pct": 100 * steal}}
        return muxbench.disturbed(muxbench.window_noise(result), result)
    cases = [({}, False), ({"lg": 0.15}, True), ({"srv": 0.15}, True),
             ({"steal": 0.12}, True), ({"srv": 3.0, "ran": 8, "cpus": 1}, False),
             ({"srv": 3.0, "ran": 8, "cpus": 1, "lg": 0.2}, True),
             ({"lg": 0.5, "window": 0.05}, False)]
    for settings, want in cases:
        check(judged(**settings) == want, "%r: disturbed %s, want %s" % (
            settings, not want, want))


def results_dirs(tmp):
    """Two runs started in one minute get a directory each (the second
    used to write into the first's)."""
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import datetime
    import harness
    started = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    made = [harness.new_results_dir(tmp, started, "h") for _ in range(3)]
    check([os.path.basename(d) for d in made] ==
          ["2026-01-02T0304Z-h", "2026-01-02T0304Z-h-2", "2026-01-02T0304Z-h-3"]
          and all(os.path.isdir(d) for d in made), "directories made: %s" % made)


def kernel_split(tmp):
    """bench/kernel-split on one short round: a row per layer and a total,
    the layers of one round adding up to its total, the TCP path found in
    every server's samples, the command that reproduces it."""
    if not shutil.which("perf"):
        raise suite.Skipped("no perf (apt-get install linux-perf)")
    servers = ["epoll", "uring-multishot"]
    done = subprocess.run([os.path.join(ROOT, "bench", "kernel-split"), "--servers",
                           ",".join(servers), "--rounds", "1", "--duration", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    if "io_uring is unavailable" in done.stderr:
        raise suite.Skipped(done.stderr.strip().splitlines()[-1])
    check(done.returncode == 0, "exit %d: %s" % (done.returncode, done.stderr.strip()[-300:]))
    rows = {}
    for line in done.stdout.splitlines():
        if line.startswith("#") or line.startswith("layer"):
            continue
        name, *cells = re.split(r"\s{2,}", line.strip())
        rows[name] = [float(c.split()[0]) for c in cells]
    check("total" in rows and "tcp/ip" in rows, "no total or tcp/ip row in:\n" + done.stdout)
    for i, server in enumerate(servers):
        parts = sum(v[i] for name, v in rows.items() if name != "total")
        check(abs(parts - rows["total"][i]) <= 0.01 * len(rows) + 0.005 * rows["total"][i],
              "%s: layers add up to %.2f, total %.2f" % (server, parts, rows["total"][i]))
        check(rows["tcp/ip"][i] > 0, "%s: no sample in the TCP path" % server)
    check(rows["epoll"][0] > 0 and rows["io_uring"][1] > 0 and rows["epoll"][1] == 0,
          "each server's mechanism in its own row: %s" % rows)
    check("# command: bench/kernel-split --servers epoll,uring-multishot" in done.stdout,
          "no command line in:\n" + done.stdout)


def ablation(tmp):
    """make ablation: each io_uring backend with the other's setup flags,
    its source one line away from the backend's, built and named for it."""
    done = subprocess.run(["make", "-s", "--no-print-directory", "ablation"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    check(done.returncode == 0, "make ablation: %s" % done.stderr.strip()[-300:])
    for name, backend in (("uring-flags", "uring"), ("ms-noflags", "uring-multishot")):
        ours = open(os.path.join(ROOT, "backends", backend + ".c")).read().splitlines()
        theirs = open(os.path.join(ROOT, "build", "abl", name + ".c")).read().splitlines()
        changed = [(a, b) for a, b in zip(ours, theirs) if a != b]
        check(len(ours) == len(theirs) and len(changed) == 1 and "ring_init" in changed[0][0],
              "build/abl/%s.c is not backends/%s.c with its ring_init line changed: %s"
              % (name, backend, changed))
        said = subprocess.run([os.path.join(ROOT, "bin", "abl", "echo-" + name), "--describe"],
                              capture_output=True, text=True, timeout=10).stdout
        check("name=%s\n" % name in said, "bin/abl/echo-%s --describe: %r" % (name, said[:80]))


CASES = {"missing-gnuplot": missing_gnuplot, "server-problem": server_problem,
         "hyperfine-failure": hyperfine_failure,
         "report-cells": report_cells, "disturbed-rule": disturbed_rule, "kernel-split": kernel_split,
         "results-dirs": results_dirs,
         "ablation": ablation, "smoke": smoke}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", choices=sorted(CASES))
    args = ap.parse_args()
    return 1 if suite.run(CASES, "bench", args.case, tmpdir=True) else 0


if __name__ == "__main__":
    sys.exit(main())
