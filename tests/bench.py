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
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ["blocking", "epoll"]
SUITE_COLUMNS = {
    "concurrency": ["suite", "backend", "repeat", "conns", "msgs_per_s", "p50_us", "p99_us",
                    "server_cpu_us_per_msg", "errors", "error", "command"],
    "msgsize": ["backend", "size", "msgs_per_s", "mb_per_s", "command"],
    "idle": ["backend", "idle", "msgs_per_s", "server_cpu_us_per_msg", "command"],
    "connect": ["backend", "conns_per_s", "connect_p50_us", "server_cpu_us_per_conn", "command"],
    "cpu": ["backend", "load", "server_cpu_us_per_msg", "idle_cpu_percent", "command"],
    "syscalls": ["backend", "conns", "syscall", "calls", "per_msg", "command"],
}
CHARTS = ["concurrency-throughput", "concurrency-latency", "msgsize-throughput",
          "idle-throughput", "idle-cpu", "connect-rate", "cpu-per-message", "cpu-idle"]
ENV_KEYS = ["date", "kernel", "cpu model", "cpus", "compiler", "build", "git revision",
            "ulimit -n", "pinning", "settings"]


class Failed(Exception):
    pass


def check(condition, why):
    if not condition:
        raise Failed(why)


def read_rows(path):
    with open(path) as f:
        reader = csv.DictReader(f)
        return reader.fieldnames or [], list(reader)


def smoke(tmp):
    results = os.path.join(tmp, "results")
    env = dict(os.environ, BACKENDS=",".join(BACKENDS), DURATION="0.2", REPEAT="1",
               RESULTS=results)
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
        expected = ["epoll"] if suite == "idle" else BACKENDS
        for b in expected:
            check(any(r["backend"] == b for r in rows), "%s.csv has no row for %s" % (suite, b))

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

    for name in CHARTS:
        for ext, magic in (("png", b"\x89PNG"), ("svg", b"<svg")):
            path = os.path.join(out, "%s.%s" % (name, ext))
            check(os.path.exists(path) and os.path.getsize(path) > 0, "%s.%s missing or empty" % (name, ext))
            with open(path, "rb") as f:
                check(magic in f.read(4096), "%s.%s is not a %s" % (name, ext, ext))

    summary = open(os.path.join(out, "summary.md")).read()
    check(summary.count("bin/loadgen") >= 5, "summary.md lacks the loadgen commands")
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


CASES = {"missing-gnuplot": missing_gnuplot, "smoke": smoke}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", choices=sorted(CASES))
    args = ap.parse_args()
    failed = 0
    for name in args.case or list(CASES):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                CASES[name](tmp)
                print("bench/%s: ok" % name, flush=True)
            except (Failed, subprocess.TimeoutExpired, OSError) as e:
                failed += 1
                print("bench/%s: FAILED (%s)" % (name, e), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
