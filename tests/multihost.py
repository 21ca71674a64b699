#!/usr/bin/env python3
"""multihost.py - the benchmark tools across hosts, on one machine: three
network namespaces on a bridge stand for a server host and two load hosts,
with addresses in a private /24 that exists only inside them (the bridge
and this namespace have no address and no route to it, so no load can
leave them).

    python3 tests/multihost.py [--case NAME]...

Cases: remote-target (loadgen on a load host against echo-epoll --host on
the server host: the exact --requests count, no error), save-merge (two
loadgens, one per load host, at once, each --save; `loadgen --merge`
sums their messages and connections and its msg/s is within 20% of the
sum of their rates), harness (a small `make bench` run with SERVER_HOST,
LOAD_HOSTS and RUNNER="ip netns exec": every CSV row is the merge of both
load hosts).

Prints `multihost/<case>: ok|FAILED (why)|skipped (why)`; exit status 1 if
anything failed.  Where namespaces cannot be made (not root, no `ip`, no
permission) every case is skipped, saying why.  Everything it creates is
named after its pid (mux<pid>-srv, mux<pid>br, ...) and removed at the
end, also on failure, SIGINT or SIGTERM.  Never checks a speed.
"""

import argparse
import csv
import json
import os
import select
import signal
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "bin")
PID = os.getpid()
SRV, LG1, LG2 = ("mux%d-%s" % (PID, role) for role in ("srv", "lg1", "lg2"))
BRIDGE = "mux%dbr" % PID
NET = "10.213.%d" % (PID % 250 + 1)  # any /24: it exists only in the namespaces
ADDR = {SRV: NET + ".1", LG1: NET + ".2", LG2: NET + ".3"}
READY_TIMEOUT_S = 5

started = []  # every process this test started, killed by pid at the end


class Failed(Exception):
    pass


def check(condition, why):
    if not condition:
        raise Failed(why)


def ip(*args):
    """Run `ip ARGS`; raises Failed with ip's own message."""
    run = subprocess.run(["ip"] + list(args), capture_output=True, text=True)
    if run.returncode != 0:
        raise Failed("ip %s: %s" % (" ".join(args), run.stderr.strip()))


def veth(ns):
    """The root side of a namespace's veth pair: short, IFNAMSIZ is 16."""
    return "mx%d%s" % (PID, ns[-1] if ns != SRV else "s")


def create():
    """The three namespaces, each with lo up and one veth on the bridge."""
    ip("link", "add", BRIDGE, "type", "bridge")
    ip("link", "set", BRIDGE, "up")
    for ns in (SRV, LG1, LG2):
        ip("netns", "add", ns)
        ip("-n", ns, "link", "set", "lo", "up")
        ip("link", "add", veth(ns), "type", "veth", "peer", "name", veth(ns) + "p")
        ip("link", "set", veth(ns) + "p", "netns", ns)
        ip("-n", ns, "link", "set", veth(ns) + "p", "name", "eth0")
        ip("-n", ns, "addr", "add", ADDR[ns] + "/24", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        ip("link", "set", veth(ns), "master", BRIDGE)
        ip("link", "set", veth(ns), "up")


def remove():
    """Kill what was started, by pid, then remove every namespace, veth and
    the bridge; whatever was never made is simply not there."""
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    for ns in (SRV, LG1, LG2):
        subprocess.run(["ip", "link", "del", veth(ns)], capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True)


def cannot_create():
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "not root: ip netns needs CAP_SYS_ADMIN"
    try:
        subprocess.run(["ip", "-V"], capture_output=True)
    except OSError:
        return "no ip command (apt-get install iproute2)"
    return None


def start(ns, cmd, **kw):
    proc = subprocess.Popen(["ip", "netns", "exec", ns] + cmd, **kw)
    started.append(proc)
    return proc


def server():
    """echo-epoll bound to the server host's address; returns (proc, port)."""
    proc = start(SRV, [os.path.join(BIN, "echo-epoll"), "--host", ADDR[SRV], "--port", "0",
                       "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ready, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT_S)
    line = proc.stdout.readline() if ready else ""
    check("listening on %s:" % ADDR[SRV] in line, "echo-epoll did not start: %r" % line)
    return proc, int(line.rsplit(":", 1)[1])


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=5)


def loadgen_json(ns, args):
    proc = start(ns, [os.path.join(BIN, "loadgen")] + [str(a) for a in args] + ["--json"],
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc


def result_of(proc, timeout=20):
    out, err = proc.communicate(timeout=timeout)
    check(proc.returncode == 0, "loadgen exit %d: %s" % (
        proc.returncode, (err.strip().splitlines() or ["?"])[-1]))
    return json.loads(out)


def remote_target(tmp):
    srv, port = server()
    try:
        target = "%s:%d" % (ADDR[SRV], port)
        got = result_of(loadgen_json(LG1, [target, "--conns", 4, "--requests", 2000]))
        check(got["messages"] == 2000, "%s messages, asked for 2000" % got["messages"])
        check(got["errors"] == 0 and not got["error"], "errors: %s %r" % (
            got["errors"], got["error"]))
        check(got["target"] == target, "target %r" % got["target"])
    finally:
        stop(srv)


def save_merge(tmp):
    srv, port = server()
    try:
        target = "%s:%d" % (ADDR[SRV], port)
        saves = [os.path.join(tmp, ns + ".save") for ns in (LG1, LG2)]
        procs = [loadgen_json(ns, [target, "--conns", conns, "--duration", 1, "--warmup", 0.2,
                                   "--save", path])
                 for ns, conns, path in ((LG1, 3, saves[0]), (LG2, 5, saves[1]))]
        runs = [result_of(p) for p in procs]
    finally:
        stop(srv)
    merge = subprocess.run([os.path.join(BIN, "loadgen"), "--merge"] + saves + ["--json"],
                           capture_output=True, text=True, timeout=10)
    check(merge.returncode == 0, "--merge exit %d: %s" % (merge.returncode, merge.stderr.strip()))
    got = json.loads(merge.stdout)
    for key in ("messages", "connections", "conns"):
        want = sum(r[key] for r in runs)
        check(got[key] == want, "merged %s %s, the runs' sum %s" % (key, got[key], want))
    rates = sum(r["msgs_per_s"] for r in runs)
    check(abs(got["msgs_per_s"] - rates) <= 0.2 * rates,
          "merged %.0f msg/s, the runs' rates sum to %.0f: more than 20%% apart"
          % (got["msgs_per_s"], rates))
    check(got["errors"] == 0, "merged errors: %s" % got["errors"])


def harness(tmp):
    """A small make bench across the namespaces: every row of
    concurrency.csv is loadgen --merge of the load hosts' runs (both of
    them where there are connections for two), without errors, and
    bench/report still reads the results."""
    results = os.path.join(tmp, "results")
    env = dict(os.environ, SUITES="concurrency", BACKENDS="epoll,threads", DURATION="0.2",
               REPEAT="1", RESULTS=results, SERVER_HOST=SRV, SERVER_ADDR=ADDR[SRV],
               LOAD_HOSTS="%s %s" % (LG1, LG2), RUNNER="ip netns exec")
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, "bench", "harness.py")],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    started.append(proc)
    out, err = proc.communicate(timeout=60)
    check(proc.returncode == 0, "harness exit %d: %s" % (
        proc.returncode, (err.strip().splitlines() or ["?"])[-1]))
    latest = os.path.realpath(os.path.join(results, "latest"))
    env_txt = open(os.path.join(latest, "env.txt")).read()
    for key in ("server host: %s" % SRV, "load host 1: %s" % LG1, "load host 2: %s" % LG2):
        check(key in env_txt, "env.txt has no '%s'" % key)
    with open(os.path.join(latest, "concurrency.csv")) as f:
        rows = list(csv.DictReader(f))
    check(len(rows) == 6, "%d rows in concurrency.csv, want 2 backends x 3 levels" % len(rows))
    for r in rows:
        where = "%s at %s conns" % (r["backend"], r["conns"])
        check(not r["error"] and float(r["msgs_per_s"] or 0) > 0,
              "%s: error %r, %r msgs/s" % (where, r["error"], r["msgs_per_s"]))
        check("--merge" in r["command"] and "--host %s" % ADDR[SRV] in r["command"],
              "%s: the command is not a merge across hosts: %r" % (where, r["command"]))
        hosts = [ns for ns in (LG1, LG2) if "exec %s " % ns in r["command"]]
        want = [LG1] if r["conns"] == "1" else [LG1, LG2]
        check(hosts == want, "%s: load from %s, want %s" % (where, hosts, want))
        check(r["server_cpu_us_per_msg"] != "", "%s: no server CPU, though the pid "
              "namespace is shared" % where)
    check(os.path.exists(os.path.join(latest, "summary.md")), "no summary.md")


CASES = {"remote-target": remote_target, "save-merge": save_merge, "harness": harness}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", choices=sorted(CASES))
    args = ap.parse_args()
    names = args.case or list(CASES)
    why = cannot_create()
    if why:
        for name in names:
            print("multihost/%s: skipped (%s)" % (name, why), flush=True)
        return 0

    def interrupted(signum, frame):
        raise SystemExit("multihost: %s: cleaning up" % signal.Signals(signum).name)
    signal.signal(signal.SIGINT, interrupted)
    signal.signal(signal.SIGTERM, interrupted)
    failed = 0
    try:
        try:
            create()
        except Failed as e:
            for name in names:
                print("multihost/%s: skipped (cannot make the namespaces: %s)" % (name, e),
                      flush=True)
            return 0
        for name in names:
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    CASES[name](tmp)
                    print("multihost/%s: ok" % name, flush=True)
                except (Failed, subprocess.TimeoutExpired, OSError, ValueError, KeyError) as e:
                    failed += 1
                    print("multihost/%s: FAILED (%s)" % (name, e), flush=True)
    finally:
        remove()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
