"""labkit.py - what every lab/NN-topic/run shares: start a server, run the
load generator or a client step, read what strace, ss and /proc say, print
short tables, draw a small chart on the terminal, say how noisy the machine
was, and end with the lab's evidence.

A run script reads like the exercise it is:

    import labkit
    lab = labkit.Lab(__doc__, tries={"many": "100 connections, not 10"})

    @lab.step                               # a client, runnable alone:
    def hello(port: int, count: int):       #   run --step hello --port P --count 3
        ...

    with lab.server("epoll") as srv:        # bin/echo-epoll on a free port
        r = lab.loadgen(srv, "--conns", 10, "--duration", lab.pick(2, 0.5))
        hello(port=srv.port, count=3)
    lab.table(["backend", "msgs/s"], [["epoll", "%.0f" % r["msgs_per_s"]]])
    lab.expect(r["errors"] == 0, "epoll served every message")
    lab.predicted("epoll's messages a second", "%.0f" % r["msgs_per_s"])
    lab.done()                              # predictions, noise, EVIDENCE

What a run prints by default is short (at most MAX_LINES lines): its
tables, its checks, the measured value of each prediction the README asks
for, one line on how noisy the machine was, and the evidence.  --verbose
adds every command before its figures ("$ ..."), each of which can be
pasted into a shell on its own: a client step prints itself as
`lab/NN-topic/run --step NAME --OPTION VALUE ...`, which runs that step
alone.  --try NAME runs one of the lab's variants instead (run --help lists
them): the experiments its questions ask for.

lab.expect() states what the exercise promises (the effect must show, or
the lab fails).  A check whose figure the machine made meaningless (the
server spent too much of its run waiting for a CPU, or the host stole its
CPU: see Noise) is shown as not judged, and the figure as "busy", rather
than passed or failed on a misleading number.  The last line is always
one of

    EVIDENCE: ok (N checks)
    EVIDENCE: BUSY (N checks, K not judged: the machine was too busy)
    EVIDENCE: FAILED: <what did not show>

The parsers (strace, strace -c, ss, /proc) are plain functions of text, so
that tests/lab.py checks each on recorded output.  Python 3 standard
library only; servers and load on loopback only, each stopped by its PID.
"""

import argparse
import functools
import inspect
import os
import resource
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "bin")
sys.path.insert(0, os.path.join(ROOT, "bench"))
import muxbench  # noqa: E402  (the harness's server starter and CPU pinning)

MAX_LINES = 40          # the default output fits a screen of 40 rows ...
MAX_COLUMNS = 120       # ... of 120 columns (tables of figures are wide)
# A server that spent more than this share of a measurement waiting for a
# CPU (its run-queue wait over the wall time) was kept off it long enough
# that its latency, its throughput and even its CPU per message (a server
# that runs late finds more work per wake-up) say more about the
# neighbours than about the server.
BUSY_WAIT_SHARE = 0.25
BUSY_WAIT_MIN_S = 0.02   # ... and waited this long at least: less misleads nothing here
# ... or whose CPU the hypervisor gave to other guests for this share of
# the time: the server's CPU time then counts time it did not run.
BUSY_STEAL = 0.10
TRIES = 3                # measurements of one figure while the machine is busy
GLOSSARY = "docs/glossary.md"


def shown(cmd):
    """A command as a student would type it, from the repository root,
    quoted so that it can be pasted into a shell."""
    return " ".join(shlex.quote(os.path.relpath(str(c), ROOT) if str(c).startswith(ROOT)
                                else str(c)) for c in cmd)


def recv_exact(sock, n):
    """Exactly n bytes from a stream socket: a recv() may return fewer
    (lab 10 shows why)."""
    got = b""
    while len(got) < n:
        chunk = sock.recv(n - len(got))
        if not chunk:
            raise RuntimeError("the server closed the connection")
        got += chunk
    return got


# ---- parsers: strace ----

class Call:
    """One line of strace's output: a system call with its result, or an
    event (a signal delivered, a process that exited or was killed)."""

    def __init__(self, pid, name, args="", ret=None, err=None, event=None):
        self.pid, self.name, self.args = pid, name, args
        self.ret, self.err, self.event = ret, err, event

    def __repr__(self):
        return "Call(%r, %r, ret=%r, err=%r, event=%r)" % (self.pid, self.name, self.ret,
                                                           self.err, self.event)


# strace -f writes "PID NAME(...)" with the pid padded to a width of 5
# ("  912 read(", "23205 read("), or "[pid  912] NAME(" on its stderr; a
# trace of one process has no pid at all.
_PID = re.compile(r"^\s*(?:\[pid\s+(\d+)\]|(\d+))?\s*(.*)$")
# "... ) = 7", "... ) = -1 EAGAIN (Resource ...)", "... ) = 1 (in [6])"
_RESULT = re.compile(r"\)\s+=\s+(-?\d+|0x[0-9a-f]+|\?)(?:\s+(E[A-Z0-9]+)\b.*|\s+\(.*\))?$")
_CALL = re.compile(r"^([a-z_][a-z0-9_]*)\((.*)$")
_RESUMED = re.compile(r"^<\.\.\. ([a-z_][a-z0-9_]*) resumed>(.*)$")
_SIGNAL = re.compile(r"^--- (SIG[A-Z0-9]+) \{(.*)\} ---$")
_EXIT = re.compile(r"^\+\+\+ (exited with (\d+)|killed by (SIG[A-Z0-9]+).*) \+\+\+$")


def strace_calls(text):
    """Every completed call and event in strace's output, in order.  A call
    that strace split (`<unfinished ...>`, then `<... NAME resumed>`) is one
    Call, where it finished; one cut off by the detach is left out."""
    calls, pending = [], {}
    for line in text.splitlines():
        m = _PID.match(line.rstrip())
        pid = int(m.group(1) or m.group(2)) if (m.group(1) or m.group(2)) else None
        rest = m.group(3)
        sig, ended, resumed = _SIGNAL.match(rest), _EXIT.match(rest), _RESUMED.match(rest)
        if sig:
            calls.append(Call(pid, sig.group(1), sig.group(2), event="signal"))
        elif ended:
            calls.append(Call(pid, ended.group(3) or "exit", ended.group(1),
                              ret=int(ended.group(2)) if ended.group(2) else None,
                              event="killed" if ended.group(3) else "exited"))
        elif resumed:
            args = pending.pop((pid, resumed.group(1)), "") + resumed.group(2)
            calls += _completed(pid, resumed.group(1), args)
        else:
            call = _CALL.match(rest)
            if not call:
                continue
            if rest.endswith("<unfinished ...>"):
                pending[(pid, call.group(1))] = call.group(2)[:-len("<unfinished ...>")]
            else:
                calls += _completed(pid, call.group(1), call.group(2))
    return calls


def _completed(pid, name, args):
    """[Call] for a call whose result is on the line, [] if it has none
    (`<detached ...>`)."""
    m = _RESULT.search(args)
    if not m:
        return []
    ret = m.group(1)
    value = None if ret == "?" else int(ret, 16) if ret.startswith("0x") else int(ret)
    return [Call(pid, name, args[:m.start()], ret=value, err=m.group(2))]


# A row of `strace -c`: % time, seconds, usecs/call, calls, [errors], syscall
_SUMMARY_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:(\d+)\s+)?([a-z_0-9]+)\s*$")


def strace_summary(text):
    """{syscall: (calls, errors)} from the table `strace -c` writes."""
    found = {}
    for line in text.splitlines():
        m = _SUMMARY_ROW.match(line)
        if m and m.group(3) != "total":
            found[m.group(3)] = (int(m.group(1)), int(m.group(2) or 0))
    return found


# ---- parsers: ss ----

def ss_sockets(text):
    """One dict per socket in ss's output: netid and state (when ss shows
    them), recv_q, send_q, local, peer, local_port, peer_port, rest (what
    follows on the line: process, timer) and info (the indented lines under
    it that -i, -m and -e add)."""
    lines = text.splitlines()
    if not lines:
        return []
    header = lines[0].split()
    has_netid, has_state = "Netid" in header, "State" in header
    sockets = []
    for line in lines[1:]:
        if not line.strip():
            continue
        if line[0] in " \t":
            if sockets:
                sockets[-1]["info"] = (sockets[-1]["info"] + " " + line.strip()).strip()
            continue
        f = line.split()
        row = {"netid": f.pop(0) if has_netid else None,
               "state": f.pop(0) if has_state else None}
        if len(f) < 4:
            continue
        row.update(recv_q=int(f[0]), send_q=int(f[1]), local=f[2], peer=f[3],
                   rest=" ".join(f[4:]), info="")
        row["local_port"], row["peer_port"] = _port(f[2]), _port(f[3])
        sockets.append(row)
    return sockets


def _port(address):
    port = address.rsplit(":", 1)[-1]
    return int(port) if port.isdigit() else None


def ss_value(socket_row, key):
    """A key:value of a socket's info or rest (`ato:40`, `timer:(...)`)."""
    m = re.search(r"(?:^|\s)%s:(\([^)]*\)|\S+)" % re.escape(key),
                  socket_row["rest"] + " " + socket_row["info"])
    return m.group(1) if m else None


def ss_skmem(socket_row):
    """{r, rb, t, tb, f, w, o, bl, d} of `ss -m`'s skmem:(...)."""
    text = ss_value(socket_row, "skmem") or ""
    return {k: int(v) for k, v in re.findall(r"([a-z]+)(\d+)", text)}


# ---- parsers: /proc ----

def proc_net_tcp(text):
    """Rows of /proc/net/tcp (what ss reads): local and remote port, state
    (hex, as the kernel writes it: 01 ESTABLISHED, 06 TIME_WAIT, 0A LISTEN),
    send queue and receive queue in bytes."""
    rows = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 5:
            continue
        tx, rx = (int(x, 16) for x in f[4].split(":"))
        rows.append({"local_port": int(f[1].split(":")[1], 16),
                     "peer_port": int(f[2].split(":")[1], 16), "state": f[3],
                     "send_q": tx, "recv_q": rx, "raw": " ".join(f[:5])})
    return rows


def proc_status(text):
    """/proc/PID/status as {key: first word of the value}."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if value.split():
            out[key] = value.split()[0]
    return out


def io_uring_fdinfo(text):
    """/proc/PID/fdinfo/FD of an io_uring as {key: number}: among them
    SqHead, the submission queue entries the kernel has taken so far, and
    CqTail, the completion queue entries it has posted (both counters that
    only grow, modulo 2**32).  Lines that are not `Key:<tab>number` (the
    PollList's entries, NAPI) are left out."""
    out = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        value = value.strip()
        if key and not key[0].isspace() and re.fullmatch(r"-?\d+|0x[0-9a-f]+", value):
            out[key] = int(value, 16) if value.startswith("0x") else int(value)
    return out


def schedstat(text):
    """(seconds on a CPU, seconds runnable but waiting for one) from a
    /proc/PID/task/TID/schedstat line: its first two fields, in ns."""
    run, wait = text.split()[:2]
    return int(run) / 1e9, int(wait) / 1e9


def steal_jiffies(text, cpus=None):
    """(steal, total) of /proc/stat's first `cpu` line, or summed over the
    lines of `cpus` (a set of CPU numbers): the 8th value is the time a
    hypervisor gave to other guests."""
    steal = total = 0
    for line in text.splitlines():
        f = line.split()
        if not f or not f[0].startswith("cpu"):
            break
        if (cpus is None and f[0] == "cpu") or (cpus is not None and f[0][3:].isdigit()
                                                and int(f[0][3:]) in cpus):
            values = [int(x) for x in f[1:]]
            steal += values[7] if len(values) > 7 else 0
            total += sum(values[:8])
    return steal, total


def key_values(line):
    """{key: value} of a line of `key=value` words (bin/herd's output)."""
    return dict(w.split("=", 1) for w in line.split() if "=" in w)


def read(path):
    with open(path) as f:
        return f.read()


def tree_pids(pid):
    """pid and its descendants, through /proc/PID/task/TID/children."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        try:
            for tid in os.listdir("/proc/%d/task" % p):
                todo += [int(c) for c in read("/proc/%d/task/%s/children" % (p, tid)).split()]
        except OSError:
            continue            # it has just ended
    return found


def tree_fds(pid):
    """Open fds held by pid and its descendants (a process that ends while
    they are counted holds none)."""
    held = 0
    for p in tree_pids(pid):
        try:
            held += len(os.listdir("/proc/%d/fd" % p))
        except OSError:
            continue
    return held


def let_go(pid, port, fds, timeout):
    """Wait until the server pid has let go of its clients on port: no
    socket there in SYN_RECV (a handshake whose last ACK the kernel has not
    yet taken), ESTABLISHED or CLOSE_WAIT (the FIN was answered, or an RST
    came) and its processes hold `fds` fds again (it closed the socket
    after its error, or the process that held it ended); or until pid has
    ended, or timeout seconds.  An RST comes during a server's write, before
    the call that fails: a wait for ss alone ends before that call."""
    deadline = time.monotonic() + timeout
    # ss first: a socket that leaves those states has been accepted, so the
    # count that follows sees its fd (the other order misses a client that
    # is accepted and reset between the two looks)
    while time.monotonic() < deadline and os.path.exists("/proc/%d/fd" % pid) and (
            ss_sockets(subprocess.run(
                ["ss", "-tn", "state", "syn-recv", "state", "established",
                 "state", "close-wait", "sport", "=", ":%d" % port],
                capture_output=True, text=True).stdout) or tree_fds(pid) > fds):
        time.sleep(0.02)


def run_and_wait(pid, tree=True):
    """(seconds on a CPU, seconds waiting for one, threads) of pid's live
    threads, and its live descendants' with tree: what the scheduler says
    they ran and how long they sat runnable in a run queue, summed, and how
    many there are.  (0, 0, n) without schedstat."""
    run = wait = 0.0
    tasks = 0
    for p in tree_pids(pid) if tree else [pid]:
        try:
            tids = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for tid in tids:
            try:
                r, w = schedstat(read("/proc/%d/task/%s/schedstat" % (p, tid)))
            except (OSError, ValueError):
                continue        # the thread has just ended, or no schedstat
            run, wait, tasks = run + r, wait + w, tasks + 1
    return run, wait, tasks


def wakeups(pid):
    """The voluntary context switches of pid's threads so far: each one a
    sleep in a waiting call, and so a wake-up later."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            status = proc_status(read("/proc/%d/task/%s/status" % (pid, tid)))
        except OSError:
            continue            # the thread has just ended
        total += int(status.get("voluntary_ctxt_switches", 0))
    return total


# ---- noise ----

class Noise:
    """How long a process ran and waited for a CPU over some wall time,
    summed over its `tasks` threads and processes."""

    def __init__(self, run_s, wait_s, wall_s, tasks=1, steal=0.0):
        self.run_s, self.wait_s, self.wall_s = run_s, wait_s, wall_s
        self.tasks, self.steal = max(1, tasks), steal

    @property
    def share(self):
        """The share of the wall time it spent waiting for a CPU (per
        thread: a hundred threads on one CPU wait for each other too)."""
        return self.wait_s / self.wall_s / self.tasks if self.wall_s else 0.0

    @property
    def busy(self):
        return (self.share > BUSY_WAIT_SHARE and self.wait_s > BUSY_WAIT_MIN_S
                or self.steal > BUSY_STEAL)

    def __str__(self):
        return "%.0f ms of %.1f s waiting for a CPU%s" % (
            1000 * self.wait_s, self.wall_s,
            ", %.0f%% of its CPU's time stolen" % (100 * self.steal) if self.steal else "")


def snapshot(pid, cpus):
    """What noise_since() starts from: pid's tree's run and wait, its
    CPUs' steal, the time."""
    return run_and_wait(pid), steal_jiffies(read("/proc/stat"), cpus), time.monotonic()


def noise_since(pid, cpus, start):
    """Noise of pid's tree, on `cpus`, since snapshot() said `start`."""
    (run0, wait0, _), (steal0, total0), t0 = start
    run, wait, tasks = run_and_wait(pid)
    steal, total = steal_jiffies(read("/proc/stat"), cpus)
    return Noise(run - run0, wait - wait0, time.monotonic() - t0, tasks,
                 (steal - steal0) / max(1, total - total0))


class Server(muxbench.Server):
    """muxbench.Server that also measures its own noise: the run-queue
    wait of its process tree from the moment it is ready (what it waited
    while starting is no figure's) to just before it is stopped."""

    def __init__(self, *args, cpus=None, **kw):
        super().__init__(*args, **kw)
        self.cpus = cpus
        self.ready = snapshot(self.pid, cpus)
        self.life = self.window = None

    @property
    def noise(self):
        """The noise of its last loadgen run (lab.loadgen()), else of its
        whole life so far."""
        return self.window or self.life or noise_since(self.pid, self.cpus, self.ready)

    def stop(self):
        if self.life is None:
            self.life = noise_since(self.pid, self.cpus, self.ready)
        return super().stop()


class Strace:
    """strace attached to a running process, for the length of a with
    block.  It counts as attached once every thread of the process is
    traced and asleep again: strace says "attached" while the call the
    process was waiting in is being restarted, and a message sent in that
    moment can be answered before the restarted call is traced at all."""

    ATTACH_TIMEOUT_S = 5
    SPIN_S = 0.2

    def __init__(self, lab, pid, options, out=None):
        if not shutil.which("strace"):
            sys.exit("lab: strace not installed (apt-get install strace)")
        self.lab = lab
        self.pids = pid if isinstance(pid, list) else [pid]
        self.tmp = None
        if out is None:
            self.tmp = tempfile.NamedTemporaryFile("r", prefix="lab-", suffix=".strace")
            out = self.tmp.name
        self.out, self.text = out, ""
        cmd = ["strace", "-f"] + [str(o) for o in options] + ["-o", out]
        for p in self.pids:
            cmd += ["-p", str(p)]
        lab.cmd(shown(cmd) + " &")
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        said = self.proc.stderr.readline()
        if "attached" not in said or not self._settled():
            self.proc.kill()
            self.proc.wait()
            sys.exit("lab: strace could not attach to pid %s (%s): ptrace needs root, or "
                     "/proc/sys/kernel/yama/ptrace_scope at 0" % (self.pids, said.strip()))

    def _settled(self):
        """Every thread traced and asleep; or traced and still running
        after SPIN_S (a program that never sleeps: echo-spin)."""
        start = time.monotonic()
        while time.monotonic() < start + self.ATTACH_TIMEOUT_S:
            try:
                states = [proc_status(read("/proc/%d/task/%s/status" % (p, t)))
                          for p in self.pids for t in os.listdir("/proc/%d/task" % p)]
            except OSError:
                return True     # a process is gone: nothing left to wait for
            traced = all(s.get("TracerPid", "0") != "0" for s in states)
            if traced and (all(s.get("State") == "S" for s in states)
                           or time.monotonic() > start + self.SPIN_S):
                return True
            time.sleep(0.005)
        return False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        """Detach (SIGINT: strace writes what it has and leaves the process
        running); the trace, also in self.text."""
        if self.proc.stderr.closed:
            return self.text
        if self.proc.poll() is None:
            self.lab.cmd("kill -INT %d    # strace detaches" % self.proc.pid)
            self.proc.send_signal(2)
        self.proc.wait()
        self.proc.stderr.close()
        with open(self.out) as f:
            self.text = f.read()
        if self.tmp:
            self.tmp.close()
        return self.text


class CountedServer:
    """A server under strace --seccomp-bpf -c, counting one call."""

    def __init__(self, lab, backend, call, args, nofile):
        if not shutil.which("strace"):
            sys.exit("lab: strace not installed (apt-get install strace)")
        self.out = tempfile.NamedTemporaryFile("r", prefix="lab-", suffix=".strace")
        server = [os.path.join(BIN, "echo-" + backend), "--port", "0", "--quiet"] + \
            [str(a) for a in args]
        cmd = ["strace", "-f", "--seccomp-bpf", "-c", "-e", "trace=" + call, "-o",
               self.out.name, "taskset", "-c", str(lab.server_cpu)] + server

        def limit():
            if nofile:
                hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
                resource.setrlimit(resource.RLIMIT_NOFILE, (min(nofile, hard), hard))
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, preexec_fn=limit)
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            sys.exit("lab: %s under strace did not start" % backend)
        self.port = int(line.rsplit(":", 1)[1])
        cmd[cmd.index("--port") + 1] = self.port
        lab.cmd(("ulimit -n %d; " % nofile if nofile else "") + shown(cmd) + " &")
        kids = [int(c) for c in read("/proc/%d/task/%d/children" % (self.proc.pid,
                                                                  self.proc.pid)).split()]
        self.pid = kids[0] if kids else self.proc.pid
        self.cpus, self.window, self.calls = muxbench.cpu_set(str(lab.server_cpu)), None, {}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        os.kill(self.pid, 15)           # the server stops; strace writes its counts
        self.proc.wait()
        self.proc.stdout.close()
        self.calls = strace_summary(self.out.read())
        self.out.close()


# ---- the lab ----

class Lab:
    def __init__(self, doc, tries=None):
        """doc: the run script's docstring (its first line is the title).
        tries: {name: what the variant does}, the lab's --try variants."""
        self.title = doc.strip().splitlines()[0]
        self.tries = tries or {}
        epilog = ["variants (--try NAME), the experiments the README's questions ask for:"]
        epilog += ["  %-18s  %s" % (n, what) for n, what in self.tries.items()]
        epilog += ["", "--verbose prints every command before its figures; each one, a",
                   "client step (--step NAME ...) too, can be pasted into a shell alone.",
                   "Terms: " + GLOSSARY]
        ap = argparse.ArgumentParser(description=self.title, add_help=False,
                                     epilog="\n".join(epilog) if self.tries else "\n".join(epilog[2:]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
        ap.add_argument("-h", "--help", action="store_true",
                        help="this text (with --step NAME: that step's options)")
        ap.add_argument("--quick", action="store_true",
                        help="a short run (under 15 s) that still shows the effect")
        ap.add_argument("-v", "--verbose", action="store_true",
                        help="print every command before its figures")
        ap.add_argument("--try", dest="tried", metavar="NAME", choices=list(self.tries) or None,
                        help="run one variant instead (listed below)")
        ap.add_argument("--step", metavar="NAME",
                        help="run one client step alone, as --verbose prints it")
        self.args, self.step_args = ap.parse_known_args()
        if self.args.help and not self.args.step:
            ap.print_help()
            sys.exit(0)
        if self.args.help:
            self.step_args.append("--help")
        if self.step_args and not self.args.step:
            ap.error("unrecognized arguments: %s" % " ".join(self.step_args))
        self.quick, self.tried = self.args.quick, self.args.tried
        self.verbose = self.args.verbose or bool(self.args.step)
        self.failures, self.checks, self.unjudged = [], 0, []
        self.predictions, self.spreads, self.servers = [], [], []
        self.lines = 0
        self.in_step, self.wanted_step = False, None
        self.server_cpu, self.client_cpu = muxbench.pin_plan()
        self.t0 = time.monotonic()
        self.steal0 = steal_jiffies(read("/proc/stat"))
        self.self0 = run_and_wait(os.getpid(), tree=False)
        if self.args.step:
            return
        missing = [b for b in ("loadgen", "echo-epoll") if not os.access(os.path.join(BIN, b), os.X_OK)]
        if missing:
            sys.exit("lab: %s not built: run make" % ", ".join("bin/" + m for m in missing))
        self.show(self.title)
        self.show("(%s%s run; server on CPU %s, clients on CPU %s%s)" % (
            "--try %s, " % self.tried if self.tried else "", "quick" if self.quick else "full",
            self.server_cpu, self.client_cpu,
            "" if self.verbose else "; --verbose shows every command"))
        if self.tried:
            self.show("variant: " + self.tries[self.tried])
        self.show()

    def pick(self, full, quick):
        """One value for the full run, another for --quick."""
        return quick if self.quick else full

    # ---- printing ----

    def show(self, text=""):
        """A line of the default output."""
        print(text, flush=True)
        self.lines += text.count("\n") + 1

    def say(self, text=""):
        """A line of the verbose output only: what a command printed."""
        if self.verbose:
            print(text, flush=True)

    def cmd(self, text):
        """A command, before the figures it makes (verbose only)."""
        self.say("$ " + text)

    # ---- client steps ----

    def step(self, fn=None, *, background=False):
        """A decorator: fn becomes a step that --verbose prints as the
        command `lab/NN-topic/run --step NAME --ARG VALUE ...` and that such
        a command runs alone.  fn's int, float, str and bool parameters are
        its options; any other (a callback) is for the run script only.
        Steps are called with keyword arguments.  background: the printed
        command ends with `&` (it runs while the next ones do)."""
        if fn is None:
            return functools.partial(self.step, background=background)
        name = fn.__name__.replace("_", "-")
        options = {p.name: p for p in inspect.signature(fn).parameters.values()
                   if p.annotation in (int, float, str, bool)}
        if self.args.step == name:
            # run when the lab's own flow starts (_main_only()): by then the
            # helpers defined after the step exist too
            self.wanted_step = (fn, name, options)

        @functools.wraps(fn)
        def wrapper(**kw):
            words = [os.path.relpath(os.path.abspath(sys.argv[0]), ROOT), "--step", name]
            for key, value in kw.items():
                if key in options and value is not None and value is not False:
                    words.append("--" + key.replace("_", "-"))
                    if value is not True:
                        words.append("%g" % value if isinstance(value, float) else str(value))
            self.cmd(shown(words) + (" &" if background else ""))
            return fn(**kw)
        return wrapper

    def _run_step(self, fn, name, options):
        ap = argparse.ArgumentParser(prog="run --step " + name, description=fn.__doc__)
        for p in options.values():
            flag = "--" + p.name.replace("_", "-")
            if p.annotation is bool:
                ap.add_argument(flag, action="store_true")
            elif p.default is inspect.Parameter.empty:
                ap.add_argument(flag, type=p.annotation, required=True)
            else:
                ap.add_argument(flag, type=p.annotation, default=p.default)
        self.in_step = True
        fn(**vars(ap.parse_args(self.step_args)))    # what it found, it says
        sys.exit(0)

    def _main_only(self):
        """The lab's own flow has started: with --step, run that step
        alone instead (and exit); a --step that named no step is an error,
        not a full run."""
        if self.args.step and not self.in_step:
            if self.wanted_step:
                self._run_step(*self.wanted_step)
            print("run: no step %r in this lab (--verbose shows the steps it runs)"
                  % self.args.step, file=sys.stderr)
            sys.exit(2)

    # ---- servers and clients ----

    def server(self, backend, *args, pinned=True, nofile=None, port=None, quiet=True):
        """bin/echo-BACKEND on a free port, or on `port` (a context manager:
        stopped at the end of the block).  quiet=False: without --quiet, so
        that what it notes (a worker replaced) is in its stderr."""
        self._main_only()
        args = (("--port", port) if port else ()) + tuple(args)
        if not quiet and "/" not in backend:
            backend = "./echo-" + backend   # a path: muxbench adds no --quiet
        srv = Server(backend, cpu=self.server_cpu if pinned else None, args=args,
                     nofile=nofile,
                     cpus=muxbench.cpu_set(str(self.server_cpu)) if pinned else None)
        command = srv.command.replace("--port 0 --quiet --port", "--quiet --port")
        self.cmd(command.replace("--port 0", "--port %d" % srv.port) + " &")
        self.servers.append(srv)
        return srv

    def loadgen(self, srv, *args, check=True):
        """bin/loadgen against srv, pinned to the client CPU; returns its JSON
        result (with "error" set if it failed) after printing the command.
        check=False: a failing run is part of the lesson, not a lab error."""
        self._main_only()
        start = snapshot(srv.pid, srv.cpus)
        result, cmd = muxbench.run_loadgen(srv.port, list(args), cpu=self.client_cpu,
                                           server_pid=srv.pid)
        srv.window = noise_since(srv.pid, srv.cpus, start)
        self.cmd(cmd)
        if result.get("error"):
            self.say("  loadgen: " + result["error"])
        if check and result.get("error"):
            self.expect(False, "loadgen failed: %s" % result["error"])
        return result

    def run(self, cmd, timeout=60, check=True, **kw):
        """Any other command (strace, ss, a tool in bin/): prints it, returns
        its CompletedProcess with text output."""
        self._main_only()
        self.cmd(shown(cmd))
        done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                              timeout=timeout, **kw)
        if check and done.returncode != 0:
            self.expect(False, "%s exited %d: %s" % (shown(cmd[:1]), done.returncode,
                                                     done.stderr.strip()[-200:]))
        return done

    def echo_output(self, text, most=None):
        """A command's output, indented, in the verbose output."""
        lines = text.rstrip("\n").splitlines()
        for line in lines[:most]:
            self.say("  " + line)
        if most is not None and len(lines) > most:
            self.say("  ... (%d lines more)" % (len(lines) - most))

    def counted_server(self, backend, call, *args, nofile=None):
        """bin/echo-BACKEND started under `strace -f --seccomp-bpf -c -e
        trace=CALL` (a context manager; .port, .pid, and .calls, strace's
        counts, once the block ends).  seccomp-bpf stops the server only at
        CALL, so the rest of its calls run at full speed: the count of one
        call, without slowing all of them down as lab 05's strace does."""
        self._main_only()
        return CountedServer(self, backend, call, args, nofile)

    def per_call(self, backend, call, *loadgen_args, nofile=None):
        """(server CPU-us per message, messages per CALL) of one loadgen
        run against a counted_server()."""
        with self.counted_server(backend, call, nofile=nofile) as srv:
            r = self.loadgen(srv, *loadgen_args)
        n = srv.calls.get(call, (0, 0))[0]
        return ((r.get("server_cpu") or {}).get("us_per_msg", 0.0),
                (r.get("messages") or 0) / n if n else 0.0)

    def strace(self, pid, *options, out=None):
        """strace -f OPTIONS -o OUT -p PID, attached to a running server
        (a context manager); .text is the trace once the block ends.  pid
        may be a list: -f follows the processes made after it attaches, not
        those that are already there (prefork's workers)."""
        self._main_only()
        return Strace(self, pid, options, out)

    # ---- showing ----

    def table(self, headers, rows, title=None, note=None):
        """A plain text table, columns as wide as their widest cell; a title
        line above it and a note (a line, or a list of them) below."""
        self._main_only()
        if title:
            self.show(title)
        cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
        # a column of figures is right-aligned, one of words left-aligned
        figures = [i > 0 and all(_FIGURE.match(r[i]) for r in cells[1:] if r[i])
                   for i in range(len(headers))]
        for n, r in enumerate(cells):
            self.show("  " + "  ".join(c.rjust(w) if figures[i] else c.ljust(w)
                                       for i, (c, w) in enumerate(zip(r, widths))).rstrip())
            if n == 0:
                self.show("  " + "  ".join("-" * w for w in widths))
        for line in [note] if isinstance(note, str) else note or []:
            self.show("  " + line)
        self.show()

    def chart(self, title, xlabel, ylabel, series, logy=False, logx=False, height=16, note=None):
        """A small chart drawn in the terminal by gnuplot's dumb terminal.
        series: {name: [(x, y), ...]}.  The legend goes below the plot, so
        no data can hide it, and the y axis leaves room at both ends, so a
        flat line at the lowest or highest value is not drawn over the
        frame (the y axis starts at 0, and a line there is one the data
        put there).  Skipped (with a note) without gnuplot."""
        if not shutil.which("gnuplot"):
            self.show("(no gnuplot: chart skipped; apt-get install gnuplot-nox)\n")
            return
        series = {name: points for name, points in series.items() if points}
        if not series:
            self.show("(no point to draw: the chart is skipped)\n")
            return
        with tempfile.TemporaryDirectory() as tmp:
            plots = []
            for i, (name, points) in enumerate(series.items()):
                path = os.path.join(tmp, "%d.dat" % i)
                with open(path, "w") as f:
                    f.write("".join("%g %g\n" % p for p in points))
                plots.append("'%s' using 1:2 with linespoints title '%s'" % (path, name))
            script = ["set terminal dumb 78 %d" % (height + 3), 'set title "%s"' % title,
                      'set xlabel "%s"' % xlabel, 'set ylabel "%s"' % ylabel,
                      "set key below horizontal width 2",
                      "set offsets 0, 0, graph 0.12, graph 0.12"]
            script += ["set logscale y"] if logy else ["set yrange [0:*]"]
            script += ["set logscale x 2"] if logx else []
            out = subprocess.run(["gnuplot"], input="\n".join(script + ["plot " + ", ".join(plots)]),
                                 capture_output=True, text=True)
        lines = [line.rstrip() for line in out.stdout.splitlines()]
        while lines and not lines[0]:
            lines.pop(0)
        while lines and not lines[-1]:
            lines.pop()
        for line in lines:
            self.show(line)
        if note:
            self.show("  " + note)
        self.show()

    # ---- noise ----

    def busy(self, srv):
        """True when srv's run-queue wait makes its figures misleading."""
        return srv.noise is not None and srv.noise.busy

    def figure(self, fmt, value, srv):
        """value formatted, or "busy" when srv was kept off the CPU."""
        return "busy" if self.busy(srv) else fmt % value

    def repeats(self, label, values):
        """Figures of one point measured several times: the noise line
        shows the widest spread."""
        values = [v for v in values if v]
        if len(values) > 1:
            self.spreads.append((label, min(values), max(values), statistics.median(values)))

    def noise_line(self):
        """One line: load average, steal, run-queue wait (the servers' in
        all and the worst share of one measurement, the lab's own
        clients'), and the widest spread of repeated figures."""
        load = read("/proc/loadavg").split()[0]
        steal, total = steal_jiffies(read("/proc/stat"))
        steal_pct = 100.0 * (steal - self.steal0[0]) / max(1, total - self.steal0[1])
        lives = [s.life for s in self.servers if s.life]
        # the worst share among measurements long enough for one to mean much
        windows = [s.window or s.life for s in self.servers if s.window or s.life]
        windows = [n for n in windows if n.wall_s >= 0.1]
        parts = ["load %s (%d CPUs)" % (load, os.cpu_count()), "steal %.1f%%" % steal_pct]
        waits = []
        if lives:
            waits.append("servers %s%s" % (_seconds(sum(n.wait_s for n in lives)),
                                           " (worst %.0f%% of a run)"
                                           % (100 * max(n.share for n in windows))
                                           if windows else ""))
        run, wait, _ = run_and_wait(os.getpid(), tree=False)
        waits.append("clients %s" % _seconds(wait - self.self0[1]))
        parts.append("waited for a CPU: " + ", ".join(waits))
        if self.spreads:
            label, lo, hi, med = max(self.spreads, key=lambda s: (s[2] - s[1]) / s[3])
            parts.append("repeats differ by up to %.0f%% (%s: %s-%s)"
                         % (100 * (hi - lo) / med, label, _g(lo), _g(hi)))
        return "noise: " + ", ".join(parts)

    # ---- evidence ----

    def expect(self, ok, what, busy=None):
        """One promise of the exercise.  Printed either way.  busy: the
        servers whose figures it rests on; if one of them was too busy to
        trust, a failed promise is not judged instead of failed."""
        self.checks += 1
        noisy = [s for s in (busy or []) if self.busy(s)]
        if not ok and noisy:
            self.unjudged.append(what)
            self.show("  busy: %s (not judged: %s)" % (what, noisy[0].noise))
            return ok
        self.show("  %s %s" % ("ok:  " if ok else "NOT:", what))
        if not ok:
            self.failures.append(what)
        return ok

    def predicted(self, what, measured):
        """The measured value of one thing the README asks to predict."""
        self.predictions.append((what, measured))

    def done(self):
        """The predictions block, the noise line and the EVIDENCE line;
        exit 0 unless a promise failed."""
        self._main_only()
        if self.predictions:
            self.show()
            self.show("Your predictions, measured:")
            for what, measured in self.predictions:
                self.show("  %s: %s" % (what, measured))
        self.show()
        self.show(self.noise_line())
        if self.failures:
            print("EVIDENCE: FAILED: " + "; ".join(self.failures))
            sys.exit(1)
        if self.unjudged:
            print("EVIDENCE: BUSY (%d checks, %d not judged: the machine was too busy; "
                  "run again when it is quieter)" % (self.checks, len(self.unjudged)))
            sys.exit(0)
        print("EVIDENCE: ok (%d check%s)" % (self.checks, "" if self.checks == 1 else "s"))
        sys.exit(0)


_FIGURE = re.compile(r"^([-+]?[\d.,]+ ?(%|x|ms|us|s|MiB|KiB)?|-|busy|\d+/\d+|[\d.]+ \([\d.]+\))$")


def _seconds(s):
    return "%.0f ms" % (1000 * s) if s < 10 else "%.0f s" % s


def _g(x):
    return "%.3g" % x
