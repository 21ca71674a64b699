"""muxbench.py - what every benchmark script in bench/ shares: starting a
server pinned to one CPU, running bin/loadgen pinned to another, and reading
its JSON.  Python 3 standard library only.

Method (docs/results.md): the server and the load generator run on
different CPUs; runs that are compared are made side by side, seconds apart,
and a comparison is the median of per-round ratios.  With SERVER_HOST,
SERVER_ADDR, LOAD_HOSTS and RUNNER set, the server runs on one host and a
load generator on each load host, merged into one run (docs/multihost.md).
"""

import json
import os
import resource
import re
import select
import shlex
import signal
import shutil
import statistics
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "bin")
FIXED_PORT = 7007  # the port shown in commands meant for copying
READY_TIMEOUT_S = 5
STOP_TIMEOUT_S = 5
DESCRIBE_TIMEOUT_S = 2


def server_path(name):
    """bin/echo-<backend>, or a reference server such as ref/echo-libuv."""
    if "/" in name:
        return os.path.join(BIN, name)
    return os.path.join(BIN, "echo-" + name)


def describe(backend, bindir=BIN, cache={}):
    """The facts of a backend's model, from `bin/echo-NAME --describe`
    (its struct backend): {"family": "readiness", "order": "5", ...}; {}
    for a server that does not describe itself (a reference server, an
    unbuilt one).  What the harness, the tests and the docs know of a
    backend comes from here, not from tables of their own."""
    key = (backend, bindir)
    if key not in cache:
        path = server_path(backend) if bindir == BIN else os.path.join(bindir, "echo-" + backend)
        try:
            out = subprocess.run([path, "--describe"], capture_output=True, text=True,
                                 timeout=DESCRIBE_TIMEOUT_S).stdout
        except (OSError, subprocess.TimeoutExpired):  # none, or no such option
            out = ""
        cache[key] = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return cache[key]


def teaching_order(backend):
    """Where a backend comes in the order a reader meets the models: its
    --describe order; one without (a new file) last, by name."""
    order = describe(backend).get("order", "0")
    return (int(order) if order.isdigit() and int(order) > 0 else 10 ** 6, backend)


def makefile_backends():
    """Every backend, as `make print-backends` lists them (every
    backends/*.c but the core's), in the teaching order."""
    out = subprocess.run(["make", "-s", "--no-print-directory", "-C", ROOT, "print-backends"],
                         capture_output=True, text=True, check=True).stdout.split()
    return sorted(out, key=teaching_order)


def serves(backend):
    """"all", "one" (blocking) or "workers" (pool, prefork): how many
    clients it serves at once."""
    return describe(backend).get("serves", "all")


BACKENDS = makefile_backends()


def epoll_and_completion():
    """epoll and every completion backend (--describe family=completion):
    the servers that kernel-split and idle-memory compare by default."""
    return ["epoll"] + [b for b in BACKENDS if describe(b).get("family") == "completion"]


def idle_backends(backends, full):
    """The C10K comparison is between ways of waiting on many fds: the
    quick run takes the classic readiness APIs (select, poll, epoll: family
    readiness, waiting, no variant), the full one every event loop
    (readiness and completion).  10,000 threads or processes would measure
    the machine, not the I/O model."""
    def wanted(b):
        d = describe(b)
        if full:
            return d.get("family") in ("readiness", "completion")
        return (d.get("family") == "readiness" and d.get("busy") == "no" and
                not d.get("variant_of"))
    return [b for b in backends if wanted(b)]

# A run whose load generator used this much of its CPU measured the client
# as much as the server: on loopback each side pays the TCP path of one
# direction, so a client cannot be much cheaper than an efficient server.
CLIENT_BOUND_PCT = 90


# ---- Several hosts (docs/multihost.md) ----
# SERVER_HOST, SERVER_ADDR, LOAD_HOSTS and RUNNER in the environment run the
# server on one host and a load generator on each load host; without them
# everything runs here, on loopback, as before.

def hosts_plan():
    """{"server_host", "server_addr", "load_hosts", "runner"} from the
    environment, or None for a run on this machine alone."""
    server_host = os.environ.get("SERVER_HOST") or ""
    load_hosts = [h for h in re.split(r"[,\s]+", os.environ.get("LOAD_HOSTS") or "") if h]
    addr = os.environ.get("SERVER_ADDR") or ""
    if not (server_host or load_hosts or addr):
        return None
    if not (server_host and load_hosts and addr):
        raise SystemExit("bench: SERVER_HOST, SERVER_ADDR and LOAD_HOSTS go together "
                         "(the server's host, the address it binds, the load hosts)")
    runner = shlex.split(os.environ.get("RUNNER") or "ssh")
    return {"server_host": server_host, "server_addr": addr, "load_hosts": load_hosts,
            "runner": runner}


def runner_is_shell(runner):
    """ssh hands its arguments to a shell on the other host as one string,
    so the command goes quoted; an exec-style runner (`ip netns exec NS`,
    nsenter) takes the command as arguments."""
    return os.path.basename(runner[0]) == "ssh"


def pids_shared(runner):
    """Whether a pid on the server host means the same process here:
    network namespaces share this pid namespace, other machines do not.
    Only then can a loadgen elsewhere measure the server (--server-pid)."""
    return runner[:3] == ["ip", "netns", "exec"]


def on_host(plan, host, argv):
    """The command that runs argv on host through the plan's RUNNER."""
    argv = [str(a) for a in argv]
    if runner_is_shell(plan["runner"]):
        return plan["runner"] + [host, shlex.join(argv)]
    return plan["runner"] + [host] + argv


# Through ssh a remote command does not end when the ssh that started it
# does: with no terminal, nothing signals it, so a Ctrl-C here would leave
# a server running on its host, holding its port, or a load generator
# loading it.  So the harness runs each long-lived command through ssh
# tethered: a shell on the host starts it in the background, prints its
# pid, and stops it with SIGTERM as soon as its own stdin, the ssh
# channel, closes: when the harness closes it to stop the command, or when
# the ssh here dies (Ctrl-C, a kill, a lost connection).  The command's
# exit status comes back as ssh's.  Exec-style runners (ip netns exec) run
# the command here, a child like any other: it just prints its pid.
# (A background job of a shell without job control reads /dev/null, not
# the shell's stdin: the watcher gets the channel as fd 3, explicitly.  The
# command's own shell says its pid before it becomes the command, so that
# the pid line comes first.)
TETHER = ('exec 3<&0; sh -c \'echo "pid $$"; exec "$@"\' sh "$@" </dev/null 3<&- & '
          'pid=$!; (cat <&3 >/dev/null; kill -TERM $pid) >/dev/null 2>&1 & watch=$!; '
          'exec 3<&-; wait $pid; status=$?; kill $watch 2>/dev/null; exit $status')
UNTETHERED = 'echo "pid $$"; exec "$@"'


def start_on_host(plan, host, argv, **popen):
    """Popen of argv on host, tethered where RUNNER is ssh (stop it with
    stop_on_host()); its stdout's first line is "pid N", N its pid there."""
    shell = runner_is_shell(plan["runner"])
    wrapped = ["sh", "-c", TETHER if shell else UNTETHERED, "sh"] + [str(a) for a in argv]
    return subprocess.Popen(on_host(plan, host, wrapped),
                            stdin=subprocess.PIPE if shell else subprocess.DEVNULL, **popen)


def stop_on_host(plan, proc):
    """SIGTERM to a command from start_on_host(): through ssh, by closing
    its tether; here, to the process itself."""
    if runner_is_shell(plan["runner"]):
        if proc.stdin:
            proc.stdin.close()
            proc.stdin = None  # closed: communicate() must not flush it
    elif proc.poll() is None:
        proc.send_signal(signal.SIGTERM)


def address(host, port):
    """HOST:PORT, with brackets for an IPv6 address."""
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


def cpus():
    """The CPUs this process may use, as a sorted list."""
    return sorted(os.sched_getaffinity(0))


def cpu_set(text):
    """{0, 1, 2, 3, 5} from taskset's list syntax, "0-3,5"."""
    out = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        out.update(range(int(first), int(last or first) + 1))
    return out


def pin_plan():
    """(server CPUs, loadgen CPUs) as taskset lists: SERVER_CPUS and
    LOADGEN_CPUS from the environment (make bench SERVER_CPUS=0-5
    LOADGEN_CPUS=6-7 on a bigger machine, so that reactors, pool and the
    rest can use more than one CPU), else one CPU each, different ones
    when there are two."""
    mine = cpus()
    server = os.environ.get("SERVER_CPUS") or str(mine[0])
    loadgen = os.environ.get("LOADGEN_CPUS") or str(mine[1] if len(mine) > 1 else mine[0])
    for name, text in (("SERVER_CPUS", server), ("LOADGEN_CPUS", loadgen)):
        try:
            wanted = cpu_set(text)
        except ValueError:
            raise SystemExit("bench: %s=%s: not a CPU list such as 0 or 0-3,6" % (name, text))
        # on several hosts the CPUs are the other hosts': taskset says there
        if not wanted <= set(mine) and not hosts_plan():
            raise SystemExit("bench: %s=%s: this process may use CPUs %s only"
                             % (name, text, ",".join(map(str, mine))))
    return server, loadgen


class Server:
    """One echo server on 127.0.0.1, pinned to a CPU, stopped with SIGTERM.
    In a run on several hosts (hosts_plan()) it runs on SERVER_HOST through
    RUNNER instead, bound to SERVER_ADDR, pinned there with taskset; its
    pid is then the one on that host.  The one launcher of the project's
    servers: the harness, the labs and the test suites all start theirs
    here (the echo suite with quiet=False, its own limits, environment and
    stderr file, and a wrapper that hands the server inherited fds)."""

    def __init__(self, name, cpu=None, args=(), nofile=None, path=None, plan="env",
                 quiet=True, env=None, preexec=None, wrap=(), stderr=None,
                 ready_timeout=None):
        self.name = name
        self.ready_timeout = ready_timeout or READY_TIMEOUT_S
        self.plan = hosts_plan() if plan == "env" else plan
        self.env, self.preexec, self.wrap = env, preexec, list(wrap)
        cmd = [path or server_path(name)]
        if "--port" not in args and "--unix" not in args:
            cmd += ["--port", "0"]
        if quiet and "/" not in name:
            cmd.append("--quiet")
        cmd += [str(a) for a in args]
        if self.plan:
            cmd += ["--host", self.plan["server_addr"]]
        self.command = " ".join([os.path.relpath(cmd[0], ROOT)] + cmd[1:])
        if cpu is not None:
            self.command = "taskset -c %s %s" % (cpu, self.command)
        if nofile:
            nofile = min(nofile, resource.getrlimit(resource.RLIMIT_NOFILE)[1])
            self.command = "ulimit -n %d; %s" % (nofile, self.command)
        # stderr to a file: a pipe nobody reads could fill and stall the server
        self.stderr = stderr or tempfile.TemporaryFile("w+")
        self.out = b""  # stdout read but not yet taken as a line
        if self.plan:
            self._start_remote(cmd, cpu, nofile)
        else:
            self._start_here(cmd, cpu, nofile)
        self.ready_line = self._ready_line().strip()
        tail = self.ready_line.rsplit(":", 1)[1]
        self.port = int(tail) if tail.isdigit() else None  # None: a Unix socket
        self.summary_line = None
        self.problem = None

    def _start_here(self, cmd, cpu, nofile):
        def setup():
            if cpu is not None:
                os.sched_setaffinity(0, cpu_set(str(cpu)))
            if nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
            if self.preexec:
                self.preexec()
        self.proc = subprocess.Popen(self.wrap + cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self.stderr,
                                     preexec_fn=setup, env=self.env)
        self.pid = self.proc.pid

    def _start_remote(self, cmd, cpu, nofile):
        """The server on SERVER_HOST, started with start_on_host(): its pid
        there is on the first line, and stop() ends it through its tether."""
        if nofile:
            cmd = ["prlimit", "--nofile=%d:%d" % (nofile, nofile)] + cmd
        if cpu is not None:
            cmd = ["taskset", "-c", str(cpu)] + cmd
        host = self.plan["server_host"]
        self.command = " ".join(self.plan["runner"] + [host] + [
            os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd])
        self.proc = start_on_host(self.plan, host, cmd, stdout=subprocess.PIPE,
                                  stderr=self.stderr)
        line = self._line()
        self.pid = int(line.split()[1]) if line.startswith("pid ") else None
        if self.pid is None:
            self._failed_to_start(line)

    def _line(self):
        """The next line of stdout ("" at its end, None if none came within
        READY_TIMEOUT_S).  Read from the fd into a buffer of our own: a
        buffered readline() may take two lines at once (the pid and the
        ready line come together through ssh at times), and select() would
        then wait for a second line that is already read."""
        deadline = time.monotonic() + self.ready_timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.out:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 4096)
            if not chunk:
                line, self.out = self.out, b""
                return line.decode(errors="replace")
            self.out += chunk
        line, self.out = self.out.split(b"\n", 1)
        return line.decode(errors="replace") + "\n"

    def _ready_line(self):
        line = self._line()
        if not line or "listening on" not in line:
            self._failed_to_start(line)
        return line.strip()

    def _failed_to_start(self, line):
        """Say why, with everything there is to say: what it printed, its
        stderr (through ssh, the server's and ssh's own), how it ended."""
        if self.plan:
            stop_on_host(self.plan, self.proc)
        try:
            self.proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        said = " / ".join(self.stderr_said()[-3:])
        how = ("no ready line within %d s" % self.ready_timeout if line is None else
               "it printed %r instead of its ready line" % line.strip() if line else
               "it ended before its ready line")
        how_ended = "%s ended with %s" % (
            os.path.basename(self.plan["runner"][0]) if self.plan else "it",
            exit_text(self.proc.returncode))
        raise RuntimeError("%s did not start%s: %s; %s; stderr: %s" % (
            self.name, " on %s" % self.plan["server_host"] if self.plan else "", how,
            how_ended, said or "(empty)"))

    def stderr_said(self):
        """What the server has written to stderr, as lines."""
        self.stderr.flush()
        self.stderr.seek(0)
        text = self.stderr.read()
        if isinstance(text, bytes):
            text = text.decode(errors="replace")
        return text.strip().splitlines()

    def _terminate(self):
        """SIGTERM to the server: through its tether where it runs on
        another host (a pid there means nothing here)."""
        if self.plan:
            stop_on_host(self.plan, self.proc)
        else:
            self.proc.send_signal(signal.SIGTERM)

    def stop(self):
        """SIGTERM, wait; returns the summary line.  Afterwards self.problem
        says what went wrong, if anything: the server exited before it was
        asked to, did not exit 0 on SIGTERM (a crash, a sanitizer report),
        or did not stop at all."""
        if self.summary_line is not None:
            return self.summary_line
        early = self.proc.poll()
        if early is None:
            self._terminate()
        try:
            out, _ = self.proc.communicate(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
            self.problem = "did not stop within %d s of SIGTERM" % STOP_TIMEOUT_S
        out = (self.out + out).decode(errors="replace")
        if early is not None:
            self.problem = "exited during the run (%s)" % exit_text(early)
        elif self.proc.returncode < 0 and -self.proc.returncode != signal.SIGTERM:
            # a crash a moment before the stop is seen only now: the
            # client may see its sockets close before it can be reaped
            self.problem = "died of %s" % exit_text(self.proc.returncode)
        elif self.proc.returncode != 0 and not self.problem:
            self.problem = "ended with %s on SIGTERM" % exit_text(self.proc.returncode)
        if self.problem:
            said = self.stderr_said()
            self.problem = "server %s %s" % (self.name, self.problem) + (
                ": " + said[-1] if said else "")
        lines = out.strip().splitlines()
        self.summary_line = lines[-1] if lines else ""
        return self.summary_line

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def exit_text(status):
    """A Popen returncode in words."""
    if status < 0:
        try:
            return "signal %s" % signal.Signals(-status).name
        except ValueError:
            return "signal %d" % -status
    return "exit status %d" % status


def conns_of(loadgen_args):
    """The --conns of a loadgen argument list (loadgen's default: 1)."""
    args = [str(a) for a in loadgen_args]
    return int(args[args.index("--conns") + 1]) if "--conns" in args else 1


def loadgen_command(port, args, cpu=None, server_pid=None, host="127.0.0.1"):
    """The bin/loadgen command line for one run, as a list."""
    cmd = []
    if cpu is not None:
        cmd += ["taskset", "-c", str(cpu)]
    cmd += [os.path.join(BIN, "loadgen"), address(host, port), "--json"]
    if server_pid:
        cmd += ["--server-pid", str(server_pid)]
    args = [str(a) for a in args]
    # one loadgen thread per CPU it was given, as far as the connections go
    threads = min(len(cpu_set(str(cpu))) if cpu is not None else 1, conns_of(args))
    if threads > 1 and "--threads" not in args:
        args += ["--threads", str(threads)]
    return cmd + args


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
    if proc.returncode != 0 and not result.get("error"):
        said = [line for line in proc.stderr.strip().splitlines()
                if not line.startswith("loadgen: warning:")]
        result["error"] = said[-1] if said else "loadgen: exit %d" % proc.returncode
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
                   "server_rss_kib", "errors", "error", "lost", "requested_rate",
                   "kept_up", "loadgen_cpu_pct", "client_bound", "server_pss_kib",
                   "connect_s", "conns_served", "server_wait_pct", "loadgen_wait_pct",
                   "steal_pct", "disturbed", "tries", "warnings", "server_measured"]
# A run whose server or load generator waited this long for a CPU (run
# queue), or whose host lost this much to steal, over its measured window
# (% of it), was disturbed by something else on the machine: its figures
# are left out of the medians, and it is run again, up to TRIES times.
# DISTURBED_PCT=100 in the environment judges nothing disturbed (a smoke
# test of the pipeline on a busy machine).
DISTURBED_PCT = float(os.environ.get("DISTURBED_PCT") or 10)
DISTURBED_MIN_S = 0.1  # a shorter window is a few wake-ups: not judged
TRIES = 3
# What blocking's runs at more than one connection must end in, by design:
# the clients it never accepts time out (loadgen's reply-timeout error).
# Any other error of blocking is a real failure.
ONE_AT_A_TIME_ERROR = "no reply on connection"


def expected_error(backend, error):
    """True for the one error a backend makes by design (see above)."""
    if error.startswith("loadgen: "):
        error = error[len("loadgen: "):]
    return serves(backend) == "one" and error.startswith(ONE_AT_A_TIME_ERROR)


def stop_on_signals():
    """SIGINT (Ctrl-C) or SIGTERM ends a script through its cleanups: the
    `with Server` blocks and load_from_hosts() stop every server and load
    generator it started, on every host.  A second signal meanwhile (a
    Ctrl-C reaches the harness and its suite both, and the harness passes
    it on) is ignored, so that it cannot cut those cleanups short."""
    def handler(signum, frame):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def suite_arguments(description, default_backends=None):
    """The options every bench/suite-* script takes (bench/harness.py passes
    them; each script also runs alone)."""
    import argparse
    stop_on_signals()
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


def reply_timeout(backend, duration=1.0):
    """loadgen --timeout: a connection with no reply for this long is an
    error.  Generous (a fork server starting 1000 children on one CPU is slow
    to answer the last ones), but short for blocking, which by design never
    answers its second client: each of its runs lasts that long."""
    return max(0.5, duration) if serves(backend) == "one" else 5


# prefork and pool serve each client with one worker for as long as it
# stays, from a fixed set (UNP ch. 30's pre-forked and pre-threaded
# servers).  The harness gives them as many workers as the run has
# connections, as UNP does: with fewer, the clients beyond them are not
# served at all, and the run measures nothing but that.
def workers_for(backend, loadgen_args):
    """The server arguments that give a backend that serves --workers
    clients at a time a worker per connection of this run (loadgen's
    --conns)."""
    if serves(backend) != "workers":
        return []
    return ["--workers", conns_of(loadgen_args)]


def rotated(items, k):
    k %= max(1, len(items))
    return list(items[k:]) + list(items[:k])


def rotations(backends, repeat):
    """(repeat index, backend) in the order to run them: the order rotates
    between repeats so that drift does not always favour the same backend."""
    for r in range(repeat):
        for b in rotated(backends, r):
            yield r, b


def schedule(points, backends, repeat):
    """(repeat index, point, backend) in the order to run them: every
    repeat runs every point of every backend, the points in an order that
    rotates between repeats and the backends in one that rotates between
    points.  A slow minute on the machine then hits a different point and
    backend in each repeat, a run among the others, rather than one point
    of the curve for every backend."""
    for r in range(repeat):
        for i, point in enumerate(rotated(points, r)):
            for b in rotated(backends, r + i):
                yield r, point, b


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


def loadgen_cpu_pct(result):
    """loadgen's CPU time over the measured wall time, x100."""
    lg = result.get("loadgen_cpu") or {}
    if lg.get("cpu_pct") is not None:
        return lg["cpu_pct"]
    seconds = result.get("measured_s")
    if not seconds or lg.get("user_s") is None:
        return None
    return 100.0 * (lg["user_s"] + lg["sys_s"]) / seconds


def window_noise(result):
    """{server_wait_pct, loadgen_wait_pct, steal_pct}: how long, as a share
    of the measured window, the server and the load generator waited for a
    CPU while runnable, and how much of the host's CPU time the hypervisor
    gave to others (steal).  Stolen time may be charged to whatever task was
    running, so it inflates CPU per message too.  None where not measured."""
    seconds = result.get("measured_s")

    def pct(wait_s):
        return None if wait_s is None or not seconds else 100.0 * wait_s / seconds
    return {
        "server_wait_pct": pct((result.get("server_cpu") or {}).get("runq_wait_s")),
        "loadgen_wait_pct": pct((result.get("loadgen_cpu") or {}).get("runq_wait_s")),
        "steal_pct": (result.get("host") or {}).get("steal_pct"),
    }


def waits_for_itself(result):
    """The server ran more tasks than it has CPUs (threads, fork and the
    rest with many clients): its wait is its own tasks queueing for its
    CPUs, the model's cost, and no sign of a neighbour (loadgen's rule)."""
    server = result.get("server_cpu") or {}
    ran, cpus = server.get("tasks_ran"), server.get("cpus")
    return ran is not None and cpus and ran > cpus


def disturbed(noise, result):
    """True if any of window_noise()'s shares is DISTURBED_PCT or more (the
    server's only where it does not wait for itself), over a window long
    enough to judge."""
    if (result.get("measured_s") or 0) < DISTURBED_MIN_S:
        return False
    judged = dict(noise, server_wait_pct=None) if waits_for_itself(result) else noise
    return any(v is not None and v >= DISTURBED_PCT for v in judged.values())


def flatten(result, size):
    """The figures of one loadgen JSON result, under LOADGEN_COLUMNS."""
    lat = result.get("latency_us") or {}
    server = result.get("server_cpu") or {}
    lg = result.get("loadgen_cpu") or {}
    rate = result.get("msgs_per_s")  # none if loadgen printed no result
    pct = loadgen_cpu_pct(result)
    kept_up = result.get("kept_up")
    noise = window_noise(result)
    phase = result.get("connect_phase") or {}

    def blank(v):
        return "" if v is None else v

    def pct_text(v):
        return "" if v is None else "%.1f" % v
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
        "lost": blank(result.get("lost")),
        "requested_rate": blank(result.get("requested_rate")),
        "kept_up": "" if kept_up is None else int(kept_up),
        "loadgen_cpu_pct": "" if pct is None else "%.1f" % pct,
        "client_bound": "" if pct is None else int(pct >= CLIENT_BOUND_PCT),
        "server_pss_kib": blank(server.get("peak_pss_kib")),
        "connect_s": blank(phase.get("duration_s")),
        "conns_served": "" if phase.get("served") is None else "%d/%d" % (
            phase["served"], phase["held"]),
        "server_wait_pct": pct_text(noise["server_wait_pct"]),
        "loadgen_wait_pct": pct_text(noise["loadgen_wait_pct"]),
        "steal_pct": pct_text(noise["steal_pct"]),
        "disturbed": int(disturbed(noise, result)),
        "tries": 1,
        "warnings": " / ".join(result.get("warnings") or []),
        "server_measured": "by loadgen (--server-pid)" if server else "not measured",
    }


def reproducible(srv, loadgen_cmd):
    """The server and loadgen commands of a run, with a fixed port, ready to
    paste into a shell."""
    return "%s & sleep 0.2; %s; kill $!" % (
        srv.command.replace("--port 0", "--port %d" % FIXED_PORT),
        loadgen_cmd.replace(":%d" % srv.port, ":%d" % FIXED_PORT)
        .replace("--server-pid %d" % srv.pid, "--server-pid $!"))


def option_of(loadgen_args, name, default=0):
    """The value of a loadgen option in an argument list, as a number."""
    args = [str(a) for a in loadgen_args]
    return float(args[args.index(name) + 1]) if name in args else default


def backlog_for(backend, loadgen_args):
    """--backlog for a run: room for every connection it opens at once
    (active and idle), so that none is dropped by a full listen queue
    while the server accepts (the kernel caps it at net.core.somaxconn)."""
    if "/" in backend:
        return []  # a reference server has its own options
    want = conns_of(loadgen_args) + int(option_of(loadgen_args, "--idle"))
    return ["--backlog", min(65535, max(DEFAULT_BACKLOG, want))]


DEFAULT_BACKLOG = 1024


def measure(backend, loadgen_args, size=64, server_args=(), nofile=None,
            timeout=None, with_result=False):
    """One pinned run: start the server, run loadgen, stop the server.
    A run that was disturbed (disturbed()) is run again, up to TRIES times
    in all; the row says how many it took, and stays marked if every try
    was disturbed.  Returns the row (LOADGEN_COLUMNS plus "command"), and
    loadgen's whole result too if with_result."""
    server_args = list(server_args) + workers_for(backend, loadgen_args) + \
        backlog_for(backend, loadgen_args)
    for tries in range(1, TRIES + 1):
        row, result = measure_once(backend, loadgen_args, size, server_args, nofile, timeout)
        row["tries"] = tries
        if not row["disturbed"] or row["error"]:
            break
    return (row, result) if with_result else row


def measure_once(backend, loadgen_args, size, server_args, nofile, timeout):
    """measure(), one try: (row, loadgen's result)."""
    server_cpu, loadgen_cpu = pin_plan()
    plan = hosts_plan()
    if plan:
        return measure_hosts(plan, backend, loadgen_args, size, server_args, nofile, timeout)
    with Server(backend, cpu=server_cpu, args=server_args, nofile=nofile, plan=None) as srv:
        result, cmd = run_loadgen(srv.port, list(loadgen_args) + ["--size", size],
                                  cpu=loadgen_cpu, server_pid=srv.pid, timeout=timeout)
    row = flatten(result, size)
    if srv.problem:  # a crashed server fails the run, whatever loadgen saw
        row["error"] = srv.problem + ("; " + row["error"] if row["error"] else "")
    row["command"] = reproducible(srv, cmd)
    return row, result


# What each load host does its share of; the rest of loadgen's options
# (duration, warmup, timeout, size) are the same on every host.
SPLIT_COUNTS = ("--conns", "--idle", "--requests")


def shares(loadgen_args, hosts):
    """[(host, its loadgen arguments)]: --conns (and --idle, --requests)
    split as evenly as whole numbers go, --rate in proportion to each
    host's connections; a host that would get no connection sits out."""
    args = [str(a) for a in loadgen_args]
    conns = conns_of(args)
    hosts = hosts[:max(1, min(len(hosts), conns))]
    out = []
    for i, host in enumerate(hosts):
        mine = list(args)
        for opt in SPLIT_COUNTS:
            if opt in mine:
                k = mine.index(opt) + 1
                total = int(mine[k])
                mine[k] = str(total // len(hosts) + (1 if i < total % len(hosts) else 0))
        if "--rate" in mine:
            k = mine.index("--rate") + 1
            mine[k] = "%g" % (float(mine[k]) * conns_of(mine) / conns)
        out.append((host, mine))
    return out


def measure_hosts(plan, backend, loadgen_args, size, server_args, nofile, timeout):
    """measure() across hosts: the server on SERVER_HOST, one loadgen per
    load host with its share of the load, all started at once, each saving
    its run; `loadgen --merge` of the saves is the run.  The saves go to a
    directory under build/, so that hosts sharing the checkout (or its
    paths) can write them and this one read them."""
    server_cpu, _ = pin_plan()
    savedir = tempfile.mkdtemp(prefix="multihost-", dir=os.path.join(ROOT, "build"))
    monitor = None
    try:
        with Server(backend, cpu=server_cpu, args=server_args, nofile=nofile,
                    plan=plan) as srv:
            if not pids_shared(plan["runner"]):
                monitor = Monitor(plan, srv.pid)
            try:
                runs, said = load_from_hosts(plan, srv, loadgen_args, size, savedir, timeout)
            finally:
                if monitor:
                    monitor.stop()
        saves = [save for _, _, save in runs if os.path.exists(save)]
        result = merged(saves)
        if said and not result.get("error"):
            result["error"] = "; ".join(said)
        if monitor and not result.get("error"):
            monitor.measure(result, [(host, save) for host, _, save in runs if save in saves])
    finally:
        shutil.rmtree(savedir, ignore_errors=True)
    row = flatten(result, size)
    row["server_measured"] = monitor.how if monitor else (
        "by the first load host's loadgen (--server-pid: one pid namespace)")
    # client-bound is a property of each load generator on its own CPUs:
    # the largest share any one of them used, not their sum
    pcts = [loadgen_cpu_pct(r) for r in result.get("runs", [])]
    pcts = [p for p in pcts if p is not None]
    if pcts:
        row["loadgen_cpu_pct"] = "%.1f" % max(pcts)
        row["client_bound"] = int(max(pcts) >= CLIENT_BOUND_PCT)
    if srv.problem:
        row["error"] = srv.problem + ("; " + row["error"] if row["error"] else "")
    row["command"] = reproducible_hosts(plan, srv, [(h, c) for h, c, _ in runs])
    return row, result


def load_from_hosts(plan, srv, loadgen_args, size, savedir, timeout):
    """One loadgen per load host against srv, all at once, each saving into
    savedir: ([(host, command, save path)], [what failed, per host]).  Every
    one has ended when this returns, however it returns (a Ctrl-C stops them
    through their tethers)."""
    _, loadgen_cpu = pin_plan()
    # the server's CPU from one loadgen only, where a pid here is the
    # server's; on other machines it is left out, not guessed
    pid = srv.pid if pids_shared(plan["runner"]) else None
    runs, procs, said = [], [], []
    try:
        for i, (host, args) in enumerate(shares(loadgen_args, plan["load_hosts"])):
            save = os.path.join(savedir, "%d.save" % i)
            cmd = loadgen_command(srv.port, args + ["--size", size, "--save", save],
                                  cpu=loadgen_cpu, server_pid=pid if i == 0 else None,
                                  host=plan["server_addr"])
            err = tempfile.TemporaryFile("w+")
            procs.append((start_on_host(plan, host, cmd, stdout=subprocess.DEVNULL,
                                        stderr=err), err))
            runs.append((host, cmd, save))
        for (host, _, save), (proc, err) in zip(runs, procs):
            # not communicate(): it would close stdin, the tether
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                stop_on_host(plan, proc)
                proc.wait()
            err.seek(0)
            lines = [x for x in err.read().strip().splitlines()
                     if not x.startswith("loadgen: warning:")]
            if not os.path.exists(save):
                said.append("%s: %s" % (host, lines[-1] if lines else
                                        "loadgen: %s" % exit_text(proc.returncode)))
    finally:
        for proc, _ in procs:
            if proc.poll() is None:
                stop_on_host(plan, proc)
                proc.wait()
    return runs, said


# ---- The server's CPU on its own host (across machines) ----

CLOCK_SAMPLES = 5


def clock_offsets(plan, cache={}):
    """{host: (offset_ns, uncertainty_ns)}: how far each host's
    CLOCK_REALTIME is ahead of this one's, from `date +%s%N` run there
    through RUNNER between two readings here (the best of CLOCK_SAMPLES,
    the one with the shortest round trip; uncertainty: half of it, which
    through ssh is milliseconds at best).  A check that the hosts' clocks
    agree, as --merge and the monitor assume (chrony or NTP keep them
    within much less than that); measured once per process and plan."""
    key = (tuple(plan["runner"]), plan["server_host"], tuple(plan["load_hosts"]))
    if key not in cache:
        offsets = {}
        for host in [plan["server_host"]] + plan["load_hosts"]:
            subprocess.run(on_host(plan, host, ["true"]), capture_output=True)  # connect
            best = None
            for _ in range(CLOCK_SAMPLES):
                t0 = time.time_ns()
                out = subprocess.run(on_host(plan, host, ["date", "+%s%N"]),
                                     capture_output=True, text=True).stdout.strip()
                t1 = time.time_ns()
                if out.isdigit() and (best is None or t1 - t0 < 2 * best[1]):
                    best = (int(out) - (t0 + t1) // 2, (t1 - t0) // 2)
            offsets[host] = best
        cache[key] = offsets
    return cache[key]


def saved_window(path):
    """(start_ns, end_ns) of a --save file's measured window, on its host's
    CLOCK_REALTIME."""
    with open(path) as f:
        for line in f:
            if line.startswith("window_ns "):
                start, end = line.split()[1:3]
                return int(start), int(end)
    return None


def interpolated(samples, t):
    """The value at time t of [(t, value)] sorted, by a straight line
    between the samples on either side; None outside them."""
    for (t0, v0), (t1, v1) in zip(samples, samples[1:]):
        if t0 <= t <= t1:
            return v0 if t1 == t0 else v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return None


class Monitor:
    """`loadgen --monitor PID` on the server's host, beside the server,
    tethered like it: its samples of the server's CPU and memory, each on
    that host's CLOCK_REALTIME, are lined up afterwards with the load
    generators' windows (their saves), moved onto the server host's clock
    by the offsets clock_offsets() measured.  So a run across machines
    gets the server's CPU per message and PSS measured on its own host, as
    netperf's netserver measures its side for -C."""

    def __init__(self, plan, pid):
        self.plan = plan
        self.out = tempfile.TemporaryFile("w+")
        self.proc = start_on_host(plan, plan["server_host"],
                                  [os.path.join(BIN, "loadgen"), "--monitor", pid],
                                  stdout=self.out, stderr=subprocess.DEVNULL)
        self.how = "not measured: the monitor on %s gave no samples" % plan["server_host"]
        # the load starts once it samples: an ssh takes a while to start
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self.samples()[0] and time.monotonic() < deadline and \
                self.proc.poll() is None:
            time.sleep(0.01)

    def stop(self):
        """After two more samples: the last reply may have come a moment
        ago, and the samples must reach past it."""
        taken, deadline = len(self.samples()[0]), time.monotonic() + 1
        while len(self.samples()[0]) < taken + 2 and time.monotonic() < deadline and \
                self.proc.poll() is None:
            time.sleep(0.01)
        stop_on_host(self.plan, self.proc)
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def samples(self):
        cpu, mem = [], []
        self.out.seek(0)
        for line in self.out:
            words = line.split()
            if words[:1] == ["cpu"] and len(words) == 3:
                cpu.append((int(words[1]), int(words[2])))
            elif words[:1] == ["mem"] and len(words) == 4:
                mem.append((int(words[1]), int(words[2]), int(words[3])))
        return cpu, mem

    def measure(self, result, saves):
        """Put the server's CPU and memory over the merged window into
        result["server_cpu"]; self.how says how it was lined up.  The
        windows are the load hosts' CLOCK_REALTIME, taken as the server
        host's as --merge takes them as each other's (clock_offsets() is
        the check, in env.txt and here)."""
        offsets = clock_offsets(self.plan)
        windows = [saved_window(path) for _, path in saves]
        if not all(windows):
            self.how = "not measured: a save has no window"
            return
        starts, ends = [w[0] for w in windows], [w[1] for w in windows]
        srv = offsets.get(self.plan["server_host"])
        skews = ["%s %s" % (host, "%+.1f ms (+-%.1f)" % ((lg[0] - srv[0]) / 1e6,
                                                        (lg[1] + srv[1]) / 1e6)
                            if lg and srv else "?")
                 for host, lg in ((h, offsets.get(h)) for h, _ in saves)]
        cpu, mem = self.samples()
        start, end = min(starts), max(ends)
        at_start, at_end = interpolated(cpu, start), interpolated(cpu, end)
        if at_start is None or at_end is None or not result.get("messages"):
            self.how = "not measured: the monitor's samples do not cover the window"
            return
        inside = [m for m in mem if start <= m[0] <= end] or \
            sorted(mem, key=lambda m: abs(m[0] - (start + end) / 2))[:1]
        seconds = (end - start) / 1e9
        cpu_s = (at_end - at_start) / 1e9
        result["server_cpu"] = {
            "us_per_msg": round(1e6 * cpu_s / result["messages"], 3),
            "cpu_pct": round(100 * cpu_s / seconds, 3) if seconds > 0 else None,
            "peak_rss_kib": max((m[1] for m in inside), default=None),
            "peak_pss_kib": None if not inside or min(m[2] for m in inside) < 0
            else max(m[2] for m in inside),
        }
        self.how = ("loadgen --monitor on %s, every 20 ms, over the load hosts' window "
                    "on CLOCK_REALTIME; their clocks against the server host's, as "
                    "measured through RUNNER: %s" % (self.plan["server_host"],
                                                     ", ".join(skews)))


def merged(saves):
    """`loadgen --merge SAVES --json` as a dict, with each run's own JSON
    (the save's `json` line) under "runs"; "error" set if it failed."""
    if not saves:
        return {"error": "no load host saved a run"}
    proc = subprocess.run([os.path.join(BIN, "loadgen"), "--merge"] + saves + ["--json"],
                          capture_output=True, text=True)
    try:
        result = json.loads(proc.stdout)
    except ValueError:
        said = proc.stderr.strip().splitlines()
        return {"error": said[-1] if said else "loadgen --merge: exit %d" % proc.returncode}
    result["runs"] = [saved_json(path) for path in saves]
    return result


def saved_json(path):
    """The --json object that a --save file carries on its `json BYTES` line."""
    with open(path, "rb") as f:
        for line in f:
            if line.startswith(b"json "):
                return json.loads(f.read(int(line.split()[1])))
    return {}


def reproducible_hosts(plan, srv, loadgens):
    """The commands of a run across hosts, ready to paste into a shell on
    this one: the server, every loadgen at once, then the merge."""
    shown = []
    for i, (host, cmd) in enumerate(loadgens):
        words = [os.path.relpath(c, ROOT) if c.startswith(ROOT) else c
                 for c in cmd if c != "--json"]
        text = "%s %s %s" % (" ".join(plan["runner"]), host, " ".join(words))
        text = re.sub(r"--save \S+", "--save lg%d.save" % (i + 1), text)
        shown.append(text.replace(":%d" % srv.port, ":%d" % FIXED_PORT)
                     .replace("--server-pid %s" % srv.pid, "--server-pid $srv"))
    return "%s & srv=$!; sleep 0.5; (%s & wait); bin/loadgen --merge %s; kill $srv" % (
            srv.command.replace("--port 0", "--port %d" % FIXED_PORT),
            " & ".join(shown), " ".join("lg%d.save" % (i + 1) for i in range(len(loadgens))))


def progress(suite, text):
    """One line per run on stderr, so a long suite shows it is alive."""
    import sys
    print("  %-12s %s" % (suite, text), file=sys.stderr, flush=True)


def cpu_seconds(pid):
    """CPU time (user + sys) of a process, its threads and reaped children.
    In a run on several hosts pid is a server's, read on the server host
    (through RUNNER, unless that host shares this pid namespace)."""
    plan = hosts_plan()
    if plan and not pids_shared(plan["runner"]):
        text = subprocess.run(on_host(plan, plan["server_host"], ["cat", "/proc/%d/stat" % pid]),
                              capture_output=True, text=True, check=True).stdout
    else:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    fields = text.rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")
