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
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "bin")
PID = os.getpid()
SRV, LG1, LG2, CTL = ("mux%d-%s" % (PID, role) for role in ("srv", "lg1", "lg2", "ctl"))
HOSTS = (SRV, LG1, LG2, CTL)   # CTL runs the harness when the runner is ssh
BRIDGE = "mux%dbr" % PID
NET = "10.213.%d" % (PID % 250 + 1)  # any /24: it exists only in the namespaces
ADDR = {SRV: NET + ".1", LG1: NET + ".2", LG2: NET + ".3", CTL: NET + ".4"}
SSHD = "/usr/sbin/sshd"
# The ssh client settings docs/multihost.md advises: one master connection
# per host, kept a while, so that each command does not pay a handshake.
SSH_CONFIG = """Host {hosts}
    User root
    IdentityFile {key}
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    LogLevel ERROR
    BatchMode yes
    ControlMaster auto
    ControlPath {dir}/cm-%C
    ControlPersist 60
"""
SSHD_CONFIG = """ListenAddress {addr}
HostKey {dir}/host_key
PidFile {dir}/sshd-{name}.pid
AuthorizedKeysFile {dir}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
"""
READY_TIMEOUT_S = 5

started = []  # every process this test started, killed by pid at the end


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402
from suite import Fail as Failed, Skipped, check  # noqa: E402


def ip(*args):
    """Run `ip ARGS`; raises Failed with ip's own message."""
    run = subprocess.run(["ip"] + list(args), capture_output=True, text=True)
    if run.returncode != 0:
        raise Failed("ip %s: %s" % (" ".join(args), run.stderr.strip()))


def veth(ns):
    """The root side of a namespace's veth pair: short, IFNAMSIZ is 16."""
    return "mx%d%s" % (PID, {SRV: "s", CTL: "c"}.get(ns, ns[-1]))


def create():
    """The namespaces, each with lo up and one veth on the bridge."""
    ip("link", "add", BRIDGE, "type", "bridge")
    ip("link", "set", BRIDGE, "up")
    for ns in HOSTS:
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
    for ns in HOSTS:
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


class Ssh:
    """Debian's sshd in the server and load namespaces, a throwaway key, and
    a client config with the settings docs/multihost.md advises; the
    harness then runs in CTL with RUNNER="ssh -F CONFIG", over real ssh."""

    def __init__(self, tmp):
        self.dir = tmp
        self.config = os.path.join(tmp, "ssh_config")
        self.runner = "ssh -F %s" % self.config
        key = os.path.join(tmp, "id")
        for path in (key, os.path.join(tmp, "host_key")):
            run = subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", path],
                                 capture_output=True, text=True)
            check(run.returncode == 0, "ssh-keygen: %s" % run.stderr.strip())
        with open(key + ".pub") as f, open(os.path.join(tmp, "authorized_keys"), "w") as out:
            out.write(f.read())
        with open(self.config, "w") as f:
            for ns in (SRV, LG1, LG2):
                f.write(SSH_CONFIG.format(hosts=ns, key=key, dir=tmp)
                        + "    HostName %s\n" % ADDR[ns])
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation
        for ns in (SRV, LG1, LG2):
            conf = os.path.join(tmp, "sshd-%s.conf" % ns)
            with open(conf, "w") as f:
                f.write(SSHD_CONFIG.format(addr=ADDR[ns], dir=tmp, name=ns))
            start(ns, [SSHD, "-D", "-e", "-f", conf], stdout=subprocess.DEVNULL,
                  stderr=open(os.path.join(tmp, "sshd-%s.log" % ns), "w"))
        for ns in (SRV, LG1, LG2):
            self.wait_for(ns)

    def ssh(self, host, *argv, timeout=10):
        return subprocess.run(["ip", "netns", "exec", CTL, "ssh", "-F", self.config, host]
                              + list(argv), capture_output=True, text=True, timeout=timeout)

    def wait_for(self, host):
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            run = self.ssh(host, "true")
            if run.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise Failed("ssh %s: %s" % (host, run.stderr.strip() or run.returncode))
            time.sleep(0.1)

    def close(self):
        """End the master connections that ControlPersist keeps."""
        for ns in (SRV, LG1, LG2):
            try:
                self.ssh(ns, "-O", "exit", timeout=5)
            except subprocess.TimeoutExpired:
                pass


def sshd_missing():
    if not os.path.exists(SSHD):
        return "no %s (apt-get install openssh-server)" % SSHD
    if not shutil.which("ssh-keygen"):
        return "no ssh-keygen (apt-get install openssh-client)"
    return None


def leftovers():
    """Processes of this run still alive on the server and load hosts: any
    but the sshd each runs (its own sessions' sshd included)."""
    left = []
    for ns in (SRV, LG1, LG2):
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True,
                              text=True).stdout.split()
        for pid in pids:
            try:
                with open("/proc/%s/comm" % pid) as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm != "sshd":
                left.append("%s on %s (pid %s)" % (comm, ns, pid))
    return left


def no_leftovers(within=5):
    deadline = time.monotonic() + within
    while leftovers() and time.monotonic() < deadline:
        time.sleep(0.1)
    left = leftovers()
    check(not left, "left running after the run: %s" % ", ".join(left[:6]))


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


ssh_hosts = None  # the Ssh of the run, made by the first case that needs it


def over_ssh(tmp):
    """The Ssh of this run (sshd up in every host), or Skipped's reason."""
    global ssh_hosts
    if ssh_hosts is None:
        why = sshd_missing()
        if why:
            raise Skipped(why)
        ssh_hosts = Ssh(tempfile.mkdtemp(prefix="multihost-ssh-"))
    return ssh_hosts


def harness_over_ssh(tmp, server_addr=None, **settings):
    """bench/harness.py in CTL, every host reached through real ssh; in a
    session of its own, so that a Ctrl-C can be sent to its whole group."""
    ssh = over_ssh(tmp)
    env = dict(os.environ, SUITES="concurrency", BACKENDS="epoll,threads", DURATION="0.2",
               REPEAT="1", RESULTS=os.path.join(tmp, "results"), SERVER_HOST=SRV,
               SERVER_ADDR=server_addr or ADDR[SRV], LOAD_HOSTS="%s %s" % (LG1, LG2),
               RUNNER=ssh.runner)
    env.update({k.upper(): str(v) for k, v in settings.items()})
    proc = subprocess.Popen(["ip", "netns", "exec", CTL, sys.executable,
                             os.path.join(ROOT, "bench", "harness.py")], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    started.append(proc)
    return proc


def ssh_harness(tmp):
    """make bench's concurrency and connect suites over real ssh with the
    advised config, for one backend (what crosses ssh is the same for
    all): every row has no error and the server's CPU per message and PSS,
    measured on its own host; nothing is left running."""
    proc = harness_over_ssh(tmp, suites="concurrency,connect", backends="epoll")
    out, err = proc.communicate(timeout=120)
    said = [l for l in err.strip().splitlines() if not l.startswith("  ")]
    check(proc.returncode == 0, "harness exit %d: %s" % (
        proc.returncode, " / ".join(said[-3:]) or "?"))
    latest = os.path.realpath(os.path.join(tmp, "results", "latest"))
    for suite, cpu in (("concurrency", "server_cpu_us_per_msg"),
                       ("connect", "server_cpu_us_per_conn")):
        with open(os.path.join(latest, suite + ".csv")) as f:
            rows = list(csv.DictReader(f))
        check(rows, "%s.csv is empty" % suite)
        for r in rows:
            where = "%s: %s at %s conns" % (suite, r["backend"], r["conns"])
            check(not r["error"], "%s: %s" % (where, r["error"]))
            check(number(r[cpu]) and number(r[cpu]) > 0, "%s: no server CPU (%r)" % (where, r[cpu]))
            if suite == "concurrency":
                check(number(r["server_pss_kib"]) and number(r["server_pss_kib"]) > 0,
                      "%s: no server PSS" % where)
    env_txt = open(os.path.join(latest, "env.txt")).read()
    check("clock offset" in env_txt, "env.txt does not say how the window was aligned")
    no_leftovers()


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def wait_for_process(ns, prefix, timeout=30):
    deadline = time.monotonic() + timeout
    while not any(p.startswith(prefix) for p in leftovers_in(ns)):
        check(time.monotonic() < deadline, "no %s... on %s within %d s" % (prefix, ns, timeout))
        time.sleep(0.05)


def leftovers_in(ns):
    return [x.split(" on ")[0] for x in leftovers() if " on %s " % ns in x]


def ssh_interrupt(tmp):
    """A Ctrl-C (SIGINT to the harness's process group) while a server and
    load generators run on their hosts, and then a SIGTERM to the harness
    alone: the harness says it stopped, and nothing of the run is left
    running on any host (the servers and loadgens are tethered to their
    ssh channels)."""
    for sig, group in ((signal.SIGINT, True), (signal.SIGTERM, False)):
        proc = harness_over_ssh(tmp, repeat=3, duration=1)
        try:
            wait_for_process(SRV, "echo-")
            wait_for_process(LG1, "loadgen")
        except Failed:
            proc.kill()
            raise
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
        what = "%s to %s" % (signal.Signals(sig).name, "its group" if group else "the harness")
        check(proc.returncode != 0 and "stopped by %s" % signal.Signals(sig).name in err,
              "%s: exit %d, stderr %r" % (what, proc.returncode, err.strip()[-200:]))
        no_leftovers()


def ssh_failure(tmp):
    """A server that cannot start on its host (bound to an address that
    host does not have): the harness stops with the server's own reason and
    how its ssh ended, not an empty 'did not start:'; nothing is left."""
    proc = harness_over_ssh(tmp, server_addr=ADDR[LG1])
    _, err = proc.communicate(timeout=60)
    check(proc.returncode != 0, "the harness succeeded with a server that cannot bind")
    check("Cannot assign requested address" in err and "exit status 1" in err,
          "the failure does not carry the server's reason and ssh's exit: %r"
          % err.strip()[-300:])
    no_leftovers()


CASES = {"remote-target": remote_target, "save-merge": save_merge, "harness": harness,
         "ssh-harness": ssh_harness, "ssh-interrupt": ssh_interrupt,
         "ssh-failure": ssh_failure}


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
    try:
        try:
            create()
        except Failed as e:
            for name in names:
                print("multihost/%s: skipped (cannot make the namespaces: %s)" % (name, e),
                      flush=True)
            return 0
        failed = suite.run(CASES, "multihost", names, tmpdir=True)
    finally:
        if ssh_hosts:
            ssh_hosts.close()
        remove()
        if ssh_hosts:
            shutil.rmtree(ssh_hosts.dir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
