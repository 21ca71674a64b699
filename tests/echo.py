#!/usr/bin/env python3
"""echo.py - the black-box suite for every muxlab echo server.

One suite, run once per backend, like libevent's test.sh: every case runs
against bin/echo-<backend> for every backend the Makefile builds, through
nothing but the command line, the sockets and /proc.  Where a backend is
*meant* to behave differently, expected_for() below says so from the facts
the backend states about its model (`--describe`: it serves one client at
a time, it busy-polls, it cannot watch fds past FD_SETSIZE, ...), and the
case checks that the difference really is there (XFAIL), so a student can
read the rules and learn what each I/O model cannot do.

    python3 tests/echo.py                          all backends, all cases
    python3 tests/echo.py --backend epoll --case sizes
    python3 tests/echo.py --bindir bin/asan        the sanitizer build
    python3 tests/echo.py --list                   the case names, in order

Options: --backend and --case (repeatable), -j N backends at once (default
4), --seed N to repeat the random data of an earlier run, --times.

Each (backend, case) prints one line: `echo/epoll/sizes: ok`, `... XFAIL
(reason)`, `... FAILED (what went wrong)` followed by indented detail lines
(the server's stderr tail, the command that reproduces it) or `... skipped
(reason)`.  The exit status is 1 if anything FAILED.

Python 3 standard library only; loopback and Unix sockets only.
"""

import argparse
import fcntl
import os
import random
import re
import resource
import selectors
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from suite import Fail, Skipped, check, describe  # noqa: E402
import suite  # noqa: E402

BACKENDS = suite.backends()

# ---------------------------------------------------------------------------
# Expected differences between backends.
#
# XFAIL   the backend cannot do what the case asks, by design; the case checks
#         that it fails in exactly the expected way.  If it passes instead
#         (XPASS), that is reported as FAILED: the table or the server is wrong.
# DIFFERS the case passes, with the numbers given here instead of the usual
#         ones (the line still says `ok`).
# SKIP    the case cannot say anything about this backend.
# ---------------------------------------------------------------------------


class Expect:
    def __init__(self, outcome, reason, **params):
        self.outcome = outcome    # "XFAIL", "ok" or "skipped"
        self.reason = reason
        self.params = params


def XFAIL(reason, **params):
    return Expect("XFAIL", reason, **params)


def DIFFERS(reason, **params):
    return Expect("ok", reason, **params)


def SKIP(reason):
    return Expect("skipped", reason)


WORKERS = 8                # the default --workers of a backend that serves that many

# What each backend is expected to do differently follows from the facts
# of its model, which it states itself (`bin/echo-NAME --describe`, its
# struct backend): these rules turn facts into expectations, so a new
# backend file needs no entry here, only true facts.


def expected_for(facts):
    """{case: Expect} for a backend with these --describe facts."""
    e = {}
    if facts.get("udp") == "no":
        # The readiness loops on the core's loop echo UDP too; the rest
        # refuse --udp.
        e["udp"] = DIFFERS("serves TCP only: refuses --udp", udp=False)
    if facts.get("serves") == "one":
        # One accept(), then read/write on that client until it leaves: a
        # second client's connection is complete (the kernel did the
        # handshake) but waits unaccepted in the listen backlog.
        one = "serves one client at a time"
        e.update(concurrent=XFAIL(one), fairness=XFAIL(one), slow_reader=XFAIL(one),
                 signal=DIFFERS("the second client is never accepted", accepted=1))
        for case in ("many_fds", "max_conns", "kills", "emfile", "alloc_fail", "no_task"):
            e[case] = SKIP("holds one connection at a time")
    if facts.get("serves") == "workers":
        # A fixed set of workers, each serving one client at a time: like
        # the iterative server, times WORKERS.
        some = f"serves {WORKERS} clients at a time"
        e["concurrent"] = XFAIL(some, at_once=WORKERS)
        for case in ("many_fds", "emfile", "alloc_fail"):
            e[case] = SKIP(some)
    if facts.get("busy") == "yes":
        # Non-blocking calls in a loop with no waiting call: it burns a core
        # whether or not there is anything to do.  In emfile only the CPU
        # check is expected to fail; the clients must all be served.
        e.update(idle_cpu=XFAIL("busy-polls by design"), emfile=XFAIL("busy-polls by design"))
    if int(facts.get("fd_limit") or 0):
        # An fd_set is a bitmap of FD_SETSIZE (1024) bits: a client whose fd
        # is 1024 or more cannot be watched, so the server refuses it; and
        # the same wall for the listening socket: it must refuse to start.
        e["many_fds"] = XFAIL("select cannot watch fds >= FD_SETSIZE")
        e["inherited_fds"] = XFAIL("select cannot watch a listening fd >= FD_SETSIZE")
    per_client = facts.get("per_client")
    if per_client in ("thread", "process") and facts.get("serves") == "all":
        e["no_task"] = DIFFERS(f"needs a {per_client} per client", task_per_client=True)
    if per_client == "process" and facts.get("serves") == "all":
        # The parent closes its copy of each client fd right after fork(),
        # so a low RLIMIT_NOFILE never runs it out of fds; and RLIMIT_AS is
        # per process: each child has 200 MB of its own.
        e["emfile"] = DIFFERS("the parent holds no client fds", parent_runs_out=False)
        e["alloc_fail"] = DIFFERS("each child has its own address space", all_served=True)
    if per_client == "process" and facts.get("serves") == "workers":
        # Each worker process runs out, and says so, on its own.
        e["stop_starved"] = DIFFERS("each worker says it", starved_notices=WORKERS)
    if per_client == "nothing":
        # Receives take buffers from one ring allocated at start and shared
        # by all clients: a client needs no memory of its own, so however
        # little is left, every client is served.
        e["alloc_fail"] = DIFFERS("a client owns no buffer: the ring is shared",
                                  client_memory=False)
    if facts.get("workers") == "per-cpu":
        # Out of fds, a loop takes new clients again when one of its own
        # closes: the fds another loop frees do not wake it.  And every loop
        # has its listener, epoll fd and signalfd to make at start.
        e["emfile"] = DIFFERS("each loop resumes on its own clients' closes",
                              resumes_all=False)
        e["start_out_of_fds"] = DIFFERS("needs three fds per loop", start_fails=True)
    if facts.get("reuseport") == "yes":
        # Its listeners set SO_REUSEPORT, which lets a bind share the port
        # with sockets in TIME_WAIT as SO_REUSEADDR does.
        e["lab_switches"] = DIFFERS("SO_REUSEPORT binds past TIME_WAIT too",
                                    time_wait_blocks=False)
    return e


# Timeouts are generous: the machine is shared and the sanitizer builds are
# slow.  Nothing waits for a timeout when things work; cases poll.
READY_TIMEOUT_S = 15      # server start to its "listening on" line
STOP_TIMEOUT_S = 5        # SIGTERM to exit, before SIGKILL
READY_STARVED_TRIES = 5   # servers started out of fds in ready_starved
STOP_WITHIN_S = 1         # the server's promise: SIGTERM to exit, in any state
IO_TIMEOUT_S = 10         # longest stall of any one socket call
SETTLE_S = 3              # for state that must come back (fds, threads)
CASE_TIMEOUT_S = 180      # a whole case, as a last resort

SANITIZER_MARKS = ["ERROR: AddressSanitizer", "runtime error:",
                   "WARNING: ThreadSanitizer", "ERROR: LeakSanitizer"]
READY_RE = re.compile(r"^echo-([\w-]+) listening on "
                      r"(?:(?:127\.0\.0\.1|0\.0\.0\.0):(\d+)|\[::1?\]:(\d+)|unix:(.+))$")
SUMMARY_RE = re.compile(r"^echo-([\w-]+): (\d+) accepted, (\d+) refused, "
                        r"(\d+) bytes echoed(?:, (\d+) datagrams(?:, (\d+) dropped)?)?$")
OPTIONS = ["--host", "--port", "--unix", "--backlog", "--max-conns",
           "--bufsize", "--port-file", "--quiet", "--help"]
KiB, MiB = 1 << 10, 1 << 20


class CaseTimeout(BaseException):
    pass


# ---------------------------------------------------------------------------
# Reading a process from /proc
# ---------------------------------------------------------------------------

def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split()[1]
    return None


def children_of(pid):
    """All descendants of pid (zombies too), found through each process's
    parent pid: /proc/PID/task/*/children is not on every kernel."""
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            parent[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        found += kids
        todo += kids
    return found


def tree_rss(pid):
    """VmRSS in bytes of pid plus all its descendants."""
    total = 0
    for p in [pid] + children_of(pid):
        try:
            total += int(proc_status(p, "VmRSS") or 0) * KiB
        except OSError:
            pass
    return total


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def thread_count(pid):
    return int(proc_status(pid, "Threads"))


def cpu_times(pid):
    """(seconds on a CPU, seconds runnable but waiting for one), summed over
    all threads.  The wait matters for a busy loop on a loaded machine: it
    wants a whole core even when it only gets half of one.  Without
    schedstat (a kernel option), utime + stime from /proc/PID/stat, no wait."""
    if not os.path.exists(f"/proc/{pid}/schedstat"):
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])    # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK"), 0.0
    run_ns = wait_ns = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                run, wait = f.read().split()[:2]
        except OSError:
            continue            # the thread has just ended
        run_ns += int(run)
        wait_ns += int(wait)
    return run_ns / 1e9, wait_ns / 1e9


def tree_cpu_times(pid):
    """cpu_times() summed over pid and its live descendants."""
    run = wait = 0.0
    for p in [pid] + children_of(pid):
        try:
            r, w = cpu_times(p)
        except OSError:
            continue            # it has just ended
        run, wait = run + r, wait + w
    return run, wait


def cpu_use(pid, seconds):
    """(share of one core used, share wanted) over the next `seconds`."""
    run0, wait0 = cpu_times(pid)
    t0 = time.monotonic()
    time.sleep(seconds)
    run1, wait1 = cpu_times(pid)
    wall = time.monotonic() - t0
    return (run1 - run0) / wall, (run1 - run0 + wait1 - wait0) / wall


def poll_until(pred, timeout=SETTLE_S, every=0.02):
    deadline = time.monotonic() + timeout
    while True:
        if pred():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(every)


def settled(read, quiet_s=0.1, timeout=SETTLE_S):
    """read() once it has returned the same value for quiet_s."""
    value, since = read(), time.monotonic()
    deadline = since + timeout
    while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
        time.sleep(0.01)
        now = read()
        if now != value:
            value, since = now, time.monotonic()
    return value


def process_started(pid):
    """Start time of pid, to tell it from a later process with the same pid."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except OSError:
        return None


# ---------------------------------------------------------------------------
# A server under test
# ---------------------------------------------------------------------------

def limits(nofile=None, address_space=None):
    """A preexec_fn that sets the child's RLIMIT_NOFILE and RLIMIT_AS."""
    if not nofile and not address_space:
        return None

    def apply():
        if nofile:
            hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))
        if address_space:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    return apply


# Fills fds 3 .. 3+N-1 with /dev/null, then becomes the server (same pid).
WITH_FDS = ("import os, sys\n"
            "fd = os.open('/dev/null', os.O_RDONLY)\n"
            "for n in range(3, 3 + int(sys.argv[1])):\n"
            "    os.dup2(fd, n) if n != fd else os.set_inheritable(fd, True)\n"
            "os.execv(sys.argv[2], sys.argv[2:])\n")


def with_fds(argv, n):
    """argv, started with n fds open above stderr (none: argv as it is);
    with argv [], the prefix that does it."""
    return [sys.executable, "-c", WITH_FDS, str(n)] + argv if n else argv


class Server(suite.Server):
    """One running bin/echo-<backend>, started by the project's one launcher
    (bench/muxbench.py): stdout through a pipe, stderr to a file (shown when
    a case fails), not --quiet: the cases read its notices."""

    def __init__(self, case, args, nofile=None, address_space=None, env=None,
                 inherit_fds=0):
        """nofile, address_space: RLIMIT_NOFILE and RLIMIT_AS (bytes) for
        the server; env: variables to add to its environment; inherit_fds:
        start it with fds 3 to 3 + inherit_fds - 1 open."""
        self.case = case
        self.stderr_path = case.tmp(f"echo-{case.backend}.stderr")
        self.stopped = False
        self.kids = {}          # descendants seen, pid -> start time
        wrap = with_fds([], inherit_fds)
        with open(self.stderr_path, "w+b") as err:
            try:
                super().__init__(case.backend, args=[str(a) for a in args],
                                 path=case.binary, plan=None, quiet=False,
                                 env=dict(os.environ, **(env or {})),
                                 preexec=limits(nofile, address_space), wrap=wrap,
                                 stderr=err, ready_timeout=READY_TIMEOUT_S)
            except RuntimeError as e:
                said = self.stderr_text().strip()
                if "unavailable here" in said:
                    raise Skipped(said.splitlines()[-1])  # uring, say
                raise Fail(str(e).split(": ", 1)[-1])
        self.name = f"echo-{case.backend}"
        self.argv = wrap + [case.binary] + [str(a) for a in args]
        case.servers.append(self)
        m = READY_RE.match(self.ready_line)
        check(m, f"bad ready line {self.ready_line!r}")
        check(m.group(1) == case.backend,
              f"ready line names echo-{m.group(1)}, not {self.name}")
        if m.group(4):
            self.family, self.addr = socket.AF_UNIX, m.group(4)
        elif m.group(3):
            self.family, self.addr = socket.AF_INET6, ("::1", int(m.group(3)))
        else:
            self.family, self.addr = socket.AF_INET, ("127.0.0.1", int(m.group(2)))
        self.port = None if m.group(4) else self.addr[1]

    def alive(self):
        return self.proc.poll() is None

    def check_alive(self):
        if not self.alive():
            raise Fail(f"server died ({describe_status(self.proc.returncode)})")

    def connect(self, timeout=IO_TIMEOUT_S, rcvbuf=None):
        """A connected client; rcvbuf fixes its receive buffer (no
        autotuning), so a server writing to a client that does not read
        gets stuck after kilobytes rather than tens of megabytes."""
        sock = socket.socket(self.family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        try:
            sock.connect(self.addr)
        except OSError:
            sock.close()
            raise
        self.case.sockets.append(sock)
        return sock

    def note_kids(self):
        for p in children_of(self.pid):
            self.kids.setdefault(p, process_started(p))

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT_S, during=""):
        """Signal the server, wait for it (SIGKILL after timeout), collect
        stdout.  Returns the exit status; a kill is a Fail."""
        if self.stopped:
            return self.proc.returncode
        self.stopped = True
        died_early = not self.alive()
        if not died_early:
            self.note_kids()
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
            killed = False
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            killed = True
        leftover = self._end_kids()     # they hold stdout open too
        self._read_rest()
        if killed:
            raise Fail(f"did not exit within {timeout} s of "
                       f"{signal.Signals(sig).name}{during}; killed")
        if died_early:
            raise Fail(f"server died ({describe_status(self.proc.returncode)})")
        if leftover:
            raise Fail(f"child processes {leftover[:5]} still running after "
                       f"the server exited; killed")
        return self.proc.returncode

    def _read_rest(self, timeout=2):
        fd = self.proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while sel.select(timeout):
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                self.out += chunk
        self.proc.stdout.close()

    def _end_kids(self):
        """Children of a fork server that outlive it (the parent was killed,
        or forgot them): SIGKILL them, by pid, if the pid still names the
        same process.  Returns their pids."""
        def left():
            return [p for p, t in self.kids.items()
                    if t and process_started(p) == t and proc_state(p)[:1] != "Z"]
        if poll_until(lambda: not left(), timeout=2):
            return []
        pids = left()
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        return pids

    def stdout_lines(self):
        """Every stdout line, the ready line first (after stop())."""
        rest = self.out.decode(errors="replace").splitlines()
        return [self.ready_line] + rest

    def summary(self):
        """(accepted, refused, bytes echoed) from the last stdout line."""
        lines = self.stdout_lines()
        check(len(lines) == 2, f"stdout has {len(lines)} lines, not 2 "
              f"(ready line, summary): {lines[-3:]!r}")
        m = SUMMARY_RE.match(lines[-1])
        check(m and m.group(1) == self.case.backend,
              f"last stdout line is not a summary: {lines[-1]!r}")
        return int(m.group(2)), int(m.group(3)), int(m.group(4))

    def stderr_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")


def proc_state(pid):
    """R, S, Z ...; "" once the process is gone."""
    try:
        return proc_status(pid, "State") or ""
    except OSError:
        return ""


def describe_status(code):
    if code is None:
        return "still running"
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit status {code}"


# ---------------------------------------------------------------------------
# Client side
# ---------------------------------------------------------------------------

def first_difference(got, want):
    n = min(len(got), len(want))
    for i in range(0, n, 4096):
        if got[i:i + 4096] != want[i:i + 4096]:
            for j in range(i, min(i + 4096, n)):
                if got[j] != want[j]:
                    return j
    return n


def recv_exact(sock, n, what="echo"):
    """Read exactly n bytes; EOF, reset or a stall is a Fail."""
    buf = bytearray()
    while len(buf) < n:
        try:
            chunk = sock.recv(min(n - len(buf), 256 * KiB))
        except socket.timeout:
            raise Fail(f"{what}: no data for {sock.gettimeout()} s after "
                       f"{len(buf)} of {n} bytes")
        except ConnectionResetError:
            raise Fail(f"{what}: connection reset after {len(buf)} of {n} bytes")
        if not chunk:
            raise Fail(f"{what}: EOF after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def echo(sock, msg, what="echo"):
    if not sock.gettimeout():           # Clients leaves its sockets non-blocking
        sock.settimeout(IO_TIMEOUT_S)
    sock.sendall(msg)
    got = recv_exact(sock, len(msg), what)
    check(got == msg, f"{what}: {len(msg)} bytes came back different at "
          f"byte {first_difference(got, msg)}")


def read_to_end(sock, timeout=IO_TIMEOUT_S):
    """Everything until EOF or reset: (bytes, "EOF"|"reset").  A stall is a Fail."""
    sock.settimeout(timeout)
    buf = bytearray()
    while True:
        try:
            chunk = sock.recv(256 * KiB)
        except socket.timeout:
            raise Fail(f"no EOF within {timeout} s (got {len(buf)} bytes)")
        except ConnectionResetError:
            return bytes(buf), "reset"
        if not chunk:
            return bytes(buf), "EOF"
        buf += chunk


def refused(sock, msg=b"hello?", timeout=IO_TIMEOUT_S):
    """Send msg; True if the server closes without echoing anything,
    False if the echo comes back."""
    try:
        sock.sendall(msg)
    except (BrokenPipeError, ConnectionResetError):
        return True
    sock.settimeout(timeout)
    try:
        first = sock.recv(len(msg))
    except ConnectionResetError:
        return True
    except socket.timeout:
        raise Fail(f"neither echo nor EOF within {timeout} s")
    if not first:
        return True
    rest = recv_exact(sock, len(msg) - len(first)) if len(first) < len(msg) else b""
    check(first + rest == msg, "got something other than the echo")
    return False


def readable(sock, timeout):
    with selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_READ)
        return bool(sel.select(timeout))


class Writer(threading.Thread):
    """Sends chunks on a socket while the caller reads: a client that
    writes everything before reading deadlocks as soon as the echo fills
    the socket buffers."""

    def __init__(self, sock, chunks, pause=None, then_shut_wr=False):
        super().__init__(daemon=True)
        self.sock, self.chunks, self.pause = sock, chunks, pause
        self.then_shut_wr = then_shut_wr
        self.error = None
        self.start()

    def run(self):
        try:
            for chunk in self.chunks:
                self.sock.sendall(chunk)
                if self.pause:
                    self.pause()
            if self.then_shut_wr:
                self.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.error = e

    def finish(self):
        self.join(IO_TIMEOUT_S)
        check(not self.is_alive(), "writer still blocked after the echo was read")
        check(self.error is None, f"send failed: {self.error!r}")


def stream_echo(sock, data, chunks, pause=None, recv_size=lambda: 256 * KiB):
    """Send `chunks` (which join to `data`) from a writer thread; read the
    echo and compare it as it arrives."""
    writer = Writer(sock, chunks, pause)
    got = 0
    view = memoryview(data)
    while got < len(data):
        try:
            chunk = sock.recv(min(len(data) - got, recv_size()))
        except socket.timeout:
            raise Fail(f"echo stalled {sock.gettimeout()} s after {got} of "
                       f"{len(data)} bytes" + writer_note(writer))
        except ConnectionResetError:
            raise Fail(f"reset after {got} of {len(data)} bytes" + writer_note(writer))
        if not chunk:
            raise Fail(f"EOF after {got} of {len(data)} bytes" + writer_note(writer))
        if chunk != view[got:got + len(chunk)]:
            raise Fail(f"echo of {len(data)} bytes differs at byte "
                       f"{got + first_difference(chunk, view[got:got + len(chunk)])}")
        got += len(chunk)
    writer.finish()


def writer_note(writer):
    return f" (writer: {writer.error!r})" if writer.error else ""


def flood(sock, limit, stall_s=0.3):
    """Send up to `limit` bytes without reading; stop early once the socket
    has not taken a byte for stall_s (the server is blocked writing back)."""
    sock.setblocking(False)
    chunk = b"\xa5" * (64 * KiB)
    sent = 0
    with selectors.DefaultSelector() as sel:
        sel.register(sock, selectors.EVENT_WRITE)
        while sent < limit:
            try:
                sent += sock.send(chunk[:limit - sent])
            except BlockingIOError:
                if not sel.select(stall_s):
                    break
    return sent


SOCK_DIAG_BY_FAMILY = 20       # linux/sock_diag.h
NETLINK_SOCK_DIAG = 4
NLM_F_REQUEST, NLMSG_ERROR = 1, 2
INET_DIAG_NOCOOKIE = 0xFFFFFFFF


TCP_ESTABLISHED = 1             # the states of include/net/tcp_states.h


def server_end(server_port, client_port):
    """(state, bytes received but not read yet) of the server's end of an
    IPv4 loopback connection, or None if there is no such socket.  Asked
    of sock_diag for that one socket: /proc/net/tcp lists every socket on
    the machine, and with the other cases' thousands open one read of it
    took 0.1-0.2 s."""
    sockid = struct.pack(">HH", server_port, client_port) + \
        socket.inet_aton("127.0.0.1") + bytes(12) + socket.inet_aton("127.0.0.1") + \
        bytes(12) + struct.pack("=III", 0, INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE)
    req = struct.pack("=BBBBI", socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF) + sockid
    msg = struct.pack("=IHHII", 16 + len(req), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0) + req
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as nl:
        nl.send(msg)
        reply = nl.recv(8192)
    _, kind = struct.unpack_from("=IH", reply)
    if kind == NLMSG_ERROR:
        return None
    # inet_diag_msg: family, state, timer, retrans, sockid (ports first, 48
    # bytes), expires, rqueue, ...  The lookup falls back to the listener
    # when the connection is gone: its remote port is 0.
    if struct.unpack_from(">HH", reply, 16 + 4) != (server_port, client_port):
        return None
    return reply[16 + 1], struct.unpack_from("=I", reply, 16 + 4 + 48 + 4)[0]


def close_in_close_wait(sock, server_port):
    """Close so that the server's next write fails with EPIPE.

    A client that just closes with unread data sends RST, and the server
    sees ECONNRESET; SIGPIPE is raised only for EPIPE, which a write gets
    when the RST finds the socket in CLOSE_WAIT, i.e. after the client's
    FIN.  So: send until the server stops reading (it is stuck writing an
    echo we never read), with everything we sent already in its receive
    queue; shutdown(SHUT_WR); once the server's end is in CLOSE_WAIT,
    close()."""
    client_port = sock.getsockname()[1]
    sock.setblocking(False)
    deadline = time.monotonic() + IO_TIMEOUT_S

    def server():
        return server_end(server_port, client_port) or (None, None)
    stuck = 0
    while stuck < 3 and time.monotonic() < deadline:
        if not poll_until(lambda: unsent(sock) == 0, timeout=1, every=0.001):
            break               # its receive buffer is full
        queued = server()[1]
        if queued:
            time.sleep(0.02)
            if server()[1] == queued:
                stuck += 1      # it has our bytes but does not read them
                continue
        stuck = 0
        try:
            sock.send(b"\x5a" * (16 * KiB))
        except BlockingIOError:
            pass
    sock.shutdown(socket.SHUT_WR)
    # A FIN gets in only through an open receive window.  If our last bytes
    # closed the server's, take a little echo: the server writes it, reads
    # on, and the window opens; it gets stuck again behind what is left.
    if not poll_until(lambda: server()[0] != TCP_ESTABLISHED, timeout=0.3, every=0.002):
        while server()[0] == TCP_ESTABLISHED and time.monotonic() < deadline:
            try:
                sock.recv(4 * KiB)
            except BlockingIOError:
                pass
            time.sleep(0.02)
    sock.close()


SIOCOUTQNSD = 0x894B            # linux/sockios.h


def unsent(sock):
    """Bytes in sock's send queue not yet sent to the peer."""
    return struct.unpack("i", fcntl.ioctl(sock, SIOCOUTQNSD, b"\0" * 4))[0]


def rst_close(sock):
    """Close with SO_LINGER {on, 0 s}: the kernel sends RST, not FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class Clients:
    """Many clients at once, each waiting for its own echo, watched with one
    selector.  served: indexes whose echo came back whole."""

    def __init__(self, server):
        self.server = server
        self.socks, self.msgs, self.got = [], [], []
        self.served, self.closed = set(), set()
        self.sel = selectors.DefaultSelector()

    def add(self, msg):
        i = len(self.socks)
        sock = self.server.connect()
        sock.setblocking(False)
        self.socks.append(sock)
        self.msgs.append(msg)
        self.got.append(bytearray())
        sock.sendall(msg)
        self.sel.register(sock, selectors.EVENT_READ, i)
        return i

    def pending(self):
        return [i for i in range(len(self.socks))
                if i not in self.served and i not in self.closed]

    def poll(self, timeout):
        """Read what has arrived.  Returns the indexes served in this call;
        a client that sees EOF or reset before its whole echo goes into
        self.closed (the case decides whether that is allowed)."""
        newly = []
        for key, _ in self.sel.select(timeout):
            i = key.data
            try:
                chunk = self.socks[i].recv(64 * KiB)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.sel.unregister(self.socks[i])
                self.closed.add(i)
                continue
            self.got[i] += chunk
            want = self.msgs[i]
            check(want.startswith(self.got[i]), f"client {i} got bytes that "
                  f"are not its echo")
            if len(self.got[i]) == len(want):
                self.sel.unregister(self.socks[i])
                self.served.add(i)
                newly.append(i)
        return newly

    def wait(self, pred, timeout):
        """Poll until pred() holds; False on timeout."""
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.poll(min(left, 0.05))
        return True

    def settle(self, quiet_s=0.5, timeout=IO_TIMEOUT_S):
        """Poll until nothing new happens for quiet_s: no client served or
        closed (at --max-conns a server may take a while to refuse each)."""
        deadline = time.monotonic() + timeout
        last = time.monotonic()
        while time.monotonic() - last < quiet_s and time.monotonic() < deadline:
            before = len(self.pending())
            self.poll(0.05)
            if len(self.pending()) != before:
                last = time.monotonic()
            if not self.pending():
                return

    def close(self, i):
        try:
            self.sel.unregister(self.socks[i])
        except (KeyError, ValueError):
            pass
        self.socks[i].close()


def message(i, size=32):
    head = f"client {i:04d} ".encode()
    return (head * (size // len(head) + 1))[:max(size, len(head))]


# ---------------------------------------------------------------------------
# The cases.  Each takes a Case `t` and raises Fail on a wrong server.
# ---------------------------------------------------------------------------

def case_ready(t):
    """One ready line of the right form, flushed; --port-file agrees;
    --quiet leaves stdout alone and stderr empty."""
    port_file = t.tmp("port")
    s = t.server("--quiet", "--port-file", port_file)
    check(s.family == socket.AF_INET, f"default host is not 127.0.0.1: {s.ready_line!r}")
    with open(port_file) as f:
        content = f.read()
    check(content == f"{s.port}\n",
          f"--port-file holds {content!r}, ready line says port {s.port}")
    sock = s.connect()
    echo(sock, b"hello")
    sock.close()
    check(s.stop() == 0, f"SIGTERM: {describe_status(s.proc.returncode)}")
    accepted, refused_n, nbytes = s.summary()
    check((accepted, refused_n, nbytes) == (1, 0, 5),
          f"summary says {accepted} accepted, {refused_n} refused, {nbytes} "
          f"bytes; want 1, 0, 5")
    err = s.stderr_text()
    check(err == "", f"--quiet but stderr has {err.splitlines()[:1]!r}")


def case_bytes(t):
    """All 256 byte values, in one message and one at a time."""
    s = t.server()
    sock = s.connect()
    echo(sock, bytes(range(256)) * 4, "all 256 byte values")
    for b in range(256):
        echo(sock, bytes([b]), f"single byte {b:#04x}")


def case_sizes(t):
    """Messages from 1 byte to 4 MiB, one after another on one connection."""
    s = t.server()
    sock = s.connect()
    for size in (1, 63, 64, 4095, 64 * KiB, 1 * MiB, 4 * MiB):
        data = t.rng.randbytes(size)
        chunks = [data[i:i + 64 * KiB] for i in range(0, size, 64 * KiB)]
        stream_echo(sock, data, chunks)


def case_chunking(t):
    """A server buffer of 7 bytes, chunks of 1 B .. 64 KiB (sizes spread
    evenly on a log scale), occasional pauses, random read sizes."""
    s = t.server("--bufsize", "7")
    sock = s.connect()
    chunks, total = [], 0
    while total < 384 * KiB:
        chunk = t.rng.randbytes(int(2 ** t.rng.uniform(0, 16)))
        chunks.append(chunk)
        total += len(chunk)
    data = b"".join(chunks)
    pauses = random.Random(t.rng.random())
    reads = random.Random(t.rng.random())
    stream_echo(sock, data, chunks,
                pause=lambda: pauses.random() < 0.05 and time.sleep(0.001),
                recv_size=lambda: int(2 ** reads.uniform(0, 16)))


def case_concurrent(t):
    """64 clients connected at once, each gets its own echo while all stay
    connected."""
    s = t.server()
    if t.xfail:
        # Expected: `at_once` clients are served, the next one waits until
        # one of them leaves.
        at_once = t.param("at_once", 1)
        served = [s.connect() for _ in range(at_once)]
        for i, sock in enumerate(served):
            echo(sock, message(i), f"client {i} of the first {at_once}")
        extra = s.connect()
        extra.sendall(b"one more")
        check(not readable(extra, 0.5), f"XPASS: client {at_once + 1} was "
              f"served while {at_once} were still connected")
        served[0].close()
        check(recv_exact(extra, 8, f"client {at_once + 1}, after one left")
              == b"one more", "the waiting client got something other than "
              "its echo")
        return
    clients = Clients(s)
    for i in range(64):
        clients.add(message(i, 16 + 7 * i))
    clients.wait(lambda: not clients.pending(), IO_TIMEOUT_S)
    check(not clients.closed, f"{len(clients.closed)} clients saw EOF or reset "
          f"before their echo, e.g. client {min(clients.closed, default=0)}")
    check(len(clients.served) == 64, f"only {len(clients.served)} of 64 "
          f"clients got their echo within {IO_TIMEOUT_S} s")


def case_backpressure(t):
    """64 MiB through a reader that first pauses, then reads slowly: the
    server must stop reading while it cannot write, not buffer the rest."""
    bound = 32 * MiB
    total = 64 * MiB
    s = t.server()
    sock = s.connect()
    echo(sock, b"warm-up")      # the connection (and a fork child) exists
    base = tree_rss(s.pid)
    samples = [base]
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            try:
                samples.append(tree_rss(s.pid))
            except OSError:
                pass
            stop.wait(0.02)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    data = t.rng.randbytes(total)
    chunks = [memoryview(data)[i:i + 64 * KiB] for i in range(0, total, 64 * KiB)]
    try:
        writer = Writer(sock, chunks)
        got = 0
        view = memoryview(data)
        since_sleep = 0
        # Read nothing for 0.2 s (a server that buffers swallows most of
        # the 64 MiB by then), after that 256 KiB per ~1 ms.
        time.sleep(0.2)
        while got < total:
            try:
                chunk = sock.recv(min(total - got, 256 * KiB - since_sleep))
            except socket.timeout:
                raise Fail(f"echo stalled after {got} of {total} bytes"
                           + writer_note(writer))
            check(chunk, f"EOF after {got} of {total} bytes" + writer_note(writer))
            if chunk != view[got:got + len(chunk)]:
                raise Fail(f"echo differs at byte {got + first_difference(chunk, view[got:got + len(chunk)])}")
            got += len(chunk)
            since_sleep += len(chunk)
            if since_sleep >= 256 * KiB:
                since_sleep = 0
                time.sleep(0.001)
        writer.finish()
    finally:
        stop.set()
        sampler.join()
    growth = max(samples) - base
    check(growth < bound, f"server memory grew {growth // MiB} MiB during a "
          f"64 MiB transfer (bound {bound // MiB} MiB): it buffers what it "
          f"cannot write")


def case_half_close(t):
    """shutdown(SHUT_WR) after the data: the whole echo, then EOF."""
    s = t.server()
    sock = s.connect()
    data = t.rng.randbytes(200 * KiB)
    writer = Writer(sock, [data[i:i + 16 * KiB] for i in range(0, len(data), 16 * KiB)],
                    then_shut_wr=True)
    got, how = read_to_end(sock)
    writer.finish()
    check(got == data, f"sent {len(data)} bytes then SHUT_WR; got {len(got)} "
          f"back before {how}" + (f", differing at byte {first_difference(got, data)}"
                                  if len(got) == len(data) else ""))
    check(how == "EOF", "the connection was reset, not closed, after the echo")


def case_reset(t):
    """Clients that vanish while the server is writing to them (RST, EPIPE):
    the server lives on, serves the next client, and closes their fds."""
    s = t.server()
    # The baseline is taken after one client came and went, so the server's
    # loop is surely running (epoll creates its fd after the ready line).
    probe = s.connect()
    echo(probe, b"probe")
    probe.close()
    base = settled(lambda: fd_count(s.pid))
    # Each client sends until the socket takes no more: by then the server
    # is stuck writing an echo that nobody reads.
    a = s.connect()
    flood(a, 64 * MiB)
    rst_close(a)
    b = s.connect(rcvbuf=16 * KiB)
    close_in_close_wait(b, s.port)
    s.check_alive()
    c = s.connect()
    echo(c, b"still there?", "new client after the resets")
    c.close()
    s.check_alive()
    now = [fd_count(s.pid)]

    def back():
        now[0] = fd_count(s.pid)
        return now[0] <= base
    check(poll_until(back), f"fd count {now[0]}, baseline {base}")


def case_ipv6(t):
    """--host ::1."""
    probe = socket.socket(socket.AF_INET6)
    try:
        probe.bind(("::1", 0))
    except OSError:
        raise Skipped("no IPv6 loopback on this machine")
    finally:
        probe.close()
    s = t.server("--host", "::1")
    check(s.family == socket.AF_INET6, f"ready line {s.ready_line!r} is not [::1]")
    sock = s.connect()
    echo(sock, b"over ipv6")


def case_unix(t):
    """--unix PATH; after SIGTERM the path is gone."""
    path = t.tmp("echo.sock")
    s = t.server("--unix", path)
    check(s.addr == path, f"ready line {s.ready_line!r}, started with --unix {path}")
    sock = s.connect()
    echo(sock, b"over a unix socket")
    sock.close()
    check(s.stop() == 0, f"SIGTERM: {describe_status(s.proc.returncode)}")
    check(not os.path.exists(path), f"{path} still exists after SIGTERM")


def case_signal(t):
    """SIGTERM with two clients connected: exit 0, clients see EOF or reset,
    the summary counts the accepted clients and the bytes they got back.
    Then SIGINT: exit 0 too.  Then SIGTERM while the server is stuck
    writing to a client that does not read."""
    accepted_want = t.param("accepted", 2)
    s = t.server()
    clients = [s.connect(), s.connect()]
    msgs = [t.rng.randbytes(1000), t.rng.randbytes(3000)]
    for sock, msg in zip(clients, msgs):
        sock.sendall(msg)
    received = 0
    for i in range(accepted_want):
        received += len(recv_exact(clients[i], len(msgs[i]), f"client {i}"))
    code = s.stop(signal.SIGTERM, during=" (two clients)")
    check(code == 0, f"SIGTERM: {describe_status(code)}")
    for i, sock in enumerate(clients):
        extra, _ = read_to_end(sock, timeout=3)
        received += len(extra)
    accepted, refused_n, nbytes = s.summary()
    check((accepted, refused_n) == (accepted_want, 0),
          f"summary says {accepted} accepted, {refused_n} refused; want "
          f"{accepted_want}, 0")
    check(nbytes == received, f"summary says {nbytes} bytes echoed, the "
          f"clients got {received}")

    s2 = t.server()
    sock = s2.connect()
    echo(sock, b"ping")
    code = s2.stop(signal.SIGINT, during=" (one idle client)")
    check(code == 0, f"SIGINT: {describe_status(code)}")
    read_to_end(sock, timeout=3)
    check(s2.summary() == (1, 0, 4), f"summary after SIGINT {s2.stdout_lines()[-1]!r}, "
          f"want 1 accepted, 0 refused, 4 bytes")

    # A client that sends but never reads leaves the server blocked in a
    # write (or waiting to write): the signal must end that too.
    s3 = t.server()
    sock = s3.connect()
    flood(sock, 64 * MiB)
    during = " (writing to a client that does not read)"
    code = s3.stop(signal.SIGTERM, during=during)
    check(code == 0, f"SIGTERM{during}: {describe_status(code)}")
    check(s3.summary()[0] == 1, f"summary {s3.stdout_lines()[-1]!r}, want 1 accepted")


BAD_OPTIONS = [                 # (arguments, a word the error line must contain)
    (["--bogus"], "bogus"),
    (["--port", "abc"], "port"),
    (["--port", "70000"], "port"),
    (["--port", "-1"], "port"),
    (["--bufsize", "0"], "bufsize"),
    (["--bufsize", "16777217"], "bufsize"),
    (["--bufsize", "12k"], "bufsize"),
    (["--backlog", "-1"], "backlog"),
    (["--max-conns", "abc"], "max-conns"),
    (["--port"], "port"),
    (["stray"], "stray"),
    (["-x"], "-x"),                               # a short option names itself
    (["--quiet=1"], "--quiet"),                   # takes no value
    (["--help=x"], "--help"),
    (["--port", " 5"], "port"),                   # strtol() would skip the space
    (["--port", "5 "], "port"),
    (["--host", "no-such-host.invalid"], "no-such-host.invalid"),
    (["--unix", "/nonexistent/s", "--port-file", "/nonexistent/p"], "--port-file"),
]


def run_cli(t, args, timeout=READY_TIMEOUT_S, inherit_fds=0):
    """Run the server expecting it to exit on its own."""
    proc = subprocess.Popen(with_fds([t.binary] + args, inherit_fds),
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise Fail(f"{' '.join(args)}: still running after {timeout} s")
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def case_options(t):
    """Bad options: exit 2, one line on stderr naming the problem, nothing
    on stdout.  --help: usage on stdout, exit 0.  Port in use: exit 1."""
    prefix = f"echo-{t.backend}: "
    for args, word in BAD_OPTIONS:
        # --port 0 first: a server that wrongly accepts the option binds a
        # free port, not 7007 (and the case sees it still running).
        argv = ["--port", "0"] + args
        code, out, err = run_cli(t, argv)
        shown = " ".join(args)
        check(code == 2, f"{shown}: {describe_status(code)}, want exit status 2")
        check(out == "", f"{shown}: stdout not empty: {out.splitlines()[:1]!r}")
        lines = err.splitlines()
        check(len(lines) == 1, f"{shown}: {len(lines)} lines on stderr, want 1: "
              f"{lines[:3]!r}")
        check(lines[0].startswith(prefix) and word in lines[0],
              f"{shown}: stderr {lines[0]!r} does not start with {prefix!r} "
              f"and name {word!r}")
    code, out, err = run_cli(t, ["--help"])
    check(code == 0, f"--help: {describe_status(code)}")
    missing = [o for o in OPTIONS if o not in out]
    check(not missing, f"--help does not mention {', '.join(missing)}")
    check(err == "", f"--help wrote to stderr: {err.splitlines()[:1]!r}")
    # A host name is resolved once, at start, as --help says.
    named = t.server("--host", "localhost")
    echo(named.connect(), b"by name")
    check(named.stop() == 0, f"SIGTERM: {describe_status(named.proc.returncode)}")

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        code, out, err = run_cli(t, ["--port", str(port)])
    finally:
        holder.close()
    lines = err.splitlines()
    check(code == 1, f"port {port} in use: {describe_status(code)}, want exit status 1")
    check(out == "", f"port in use: stdout not empty: {out.splitlines()[:1]!r}")
    check(len(lines) == 1 and lines[0].startswith(prefix),
          f"port in use: stderr {lines[:3]!r}, want one line starting {prefix!r}")


def case_max_conns(t):
    """--max-conns 3: the 4th and 5th client are closed without echo and
    counted as refused; once one of the 3 leaves, a new client is served."""
    s = t.server("--max-conns", "3")
    held = [s.connect() for _ in range(3)]
    for i, sock in enumerate(held):
        echo(sock, message(i), f"client {i} of 3")
    for n in (4, 5):
        check(refused(s.connect()), f"client {n} got its echo with --max-conns 3")
    held[0].close()
    retries = 0
    deadline = time.monotonic() + SETTLE_S
    while True:
        if not refused(s.connect(), b"my turn"):
            break
        retries += 1
        check(time.monotonic() < deadline, f"no new client served {SETTLE_S} s "
              f"after one of the 3 left ({retries} refused)")
        time.sleep(0.05)
    for i, sock in enumerate(held[1:], 1):
        echo(sock, b"still here", f"client {i} of 3, later")
    check(s.stop() == 0, f"SIGTERM: {describe_status(s.proc.returncode)}")
    accepted, refused_n, _ = s.summary()
    check(refused_n == 2 + retries, f"summary says {refused_n} refused, want "
          f"{2 + retries}")
    check(accepted >= 4, f"summary says {accepted} accepted, want >= 4")
    notices = [l for l in s.stderr_text().splitlines() if l.startswith(f"echo-{t.backend}: ")]
    check(notices, "no notice on stderr about the refused clients")


def case_many_fds(t):
    """1100 clients at once, with RLIMIT_NOFILE 4096: every one echoes
    (select: the ones past fd 1023 are refused, and the rest still work)."""
    n = 1100
    s = t.server("--backlog", "256", nofile=4096)
    clients = Clients(s)
    for start in range(0, n, 50):
        # In batches, so the listen backlog never overflows (an overflowed
        # SYN is retried only after a second).
        batch = [clients.add(message(i)) for i in range(start, min(n, start + 50))]
        clients.wait(lambda: all(i in clients.served or i in clients.closed
                                 for i in batch), IO_TIMEOUT_S)
        slow = [i for i in batch if i not in clients.served and i not in clients.closed]
        check(not slow, f"clients {slow[:3]} of {n} neither echoed nor closed "
              f"within {IO_TIMEOUT_S} s")
    if not t.xfail:
        check(not clients.closed, f"{len(clients.closed)} of {n} clients closed "
              f"without echo, the first is number {min(clients.closed, default=0)}")
        for i in (0, n // 2, n - 1):
            echo(clients.socks[i], b"again", f"client {i}, second message")
        return
    # Expected for select: a prefix is served, everything after it refused.
    first = min(clients.closed, default=n)
    check(first < n, f"XPASS: all {n} clients served")
    check(clients.closed == set(range(first, n)), "the refused clients are not "
          "all the ones after the first refusal")
    check(1000 <= first <= 1021, f"refusals start at client {first}, not "
          f"near fd 1024")
    for i in (0, first - 1):
        echo(clients.socks[i], b"again", f"client {i}, after the refusals")
    check("FD_SETSIZE" in s.stderr_text(), "no stderr notice mentions FD_SETSIZE")
    for sock in clients.socks:
        sock.close()
    check(s.stop() == 0, f"SIGTERM: {describe_status(s.proc.returncode)}")
    _, refused_n, _ = s.summary()
    check(refused_n == n - first, f"summary says {refused_n} refused, "
          f"{n - first} clients were")


def case_emfile(t):
    """RLIMIT_NOFILE 32 and 50 clients: the server serves what fits, lets
    the rest wait without spinning, and takes them as fds free up."""
    n = 50
    runs_out = t.param("parent_runs_out", True)
    s = t.server("--backlog", "128", nofile=32)
    clients = Clients(s)
    for i in range(n):
        clients.add(message(i))
    clients.settle()
    check(not clients.closed, f"{len(clients.closed)} clients closed without "
          f"echo (client {min(clients.closed, default=0)} first)")
    served = len(clients.served)
    if runs_out:
        check(served < n, f"all {n} clients served with RLIMIT_NOFILE 32")
        check(served >= 10, f"only {served} clients served with RLIMIT_NOFILE 32")
    else:
        check(served == n, f"{served} of {n} served; want all of them")
    used, wanted = cpu_use(s.pid, 1.0)
    if t.xfail:
        check(wanted > 0.5, f"XPASS: {wanted:.0%} of a core while clients wait")
    else:
        check(used < 0.20, f"server uses {used:.0%} of a core while clients "
              f"wait: it spins on EMFILE")
    s.check_alive()
    if runs_out:
        waiting = n - served
        before = set(clients.served)
        for i in sorted(before)[:10]:
            clients.close(i)
        want = min(10, waiting) if t.param("resumes_all", True) else 1
        ok = clients.wait(lambda: len(clients.served) - served >= want, IO_TIMEOUT_S)
        check(not clients.closed, f"a waiting client was closed without echo")
        check(ok, f"{len(clients.served) - served} waiting clients served after "
              f"10 served ones closed, want {want}")
    # Close every served client as it is served: all must get through.
    gone = set()
    deadline = time.monotonic() + IO_TIMEOUT_S
    while len(clients.served) < n and time.monotonic() < deadline:
        for i in sorted(clients.served):
            if i not in gone:
                clients.close(i)
                gone.add(i)
        clients.poll(0.05)
    check(not clients.closed, "a waiting client was closed without echo")
    check(len(clients.served) == n, f"only {len(clients.served)} of {n} served "
          f"after the others closed")
    s.check_alive()
    # The clients served in the last round are still open, and may hold
    # every fd the server has: close them all, so that the new client
    # finds one (a loop out of fds resumes on a close, not on its own).
    for i in range(n):
        clients.close(i)
    echo(s.connect(), b"still there?", "new client at the end")


def case_idle_cpu(t):
    """One idle connection: the server should sleep in its waiting call."""
    s = t.server()
    sock = s.connect()
    echo(sock, b"now idle")
    used, wanted = cpu_use(s.pid, 1.0)
    if t.xfail:
        check(wanted > 0.5, f"XPASS: only {wanted:.0%} of a core while idle")
    else:
        check(used < 0.10, f"server uses {used:.0%} of a core with one idle client")


def case_cleanup(t):
    """After 20 clients come and go: no threads and no child processes
    left over beyond those there after the first client (fork must reap
    its children; prefork's and pool's workers stay, the same ones)."""
    s = t.server()
    # The baseline is taken after the first client has left:
    # ThreadSanitizer starts a thread of its own at the first
    # pthread_create, and it stays.
    base_threads = base_kids = None
    for i in range(20):
        sock = s.connect()
        echo(sock, message(i), f"client {i}")
        sock.close()
        if i == 0:
            base_threads = settled(lambda: thread_count(s.pid), quiet_s=0.2)
            base_kids = settled(lambda: sorted(children_of(s.pid)), quiet_s=0.2)
    state = {}

    def clean():
        state["threads"] = thread_count(s.pid)
        state["kids"] = sorted(children_of(s.pid))
        return state["threads"] <= base_threads and state["kids"] == base_kids
    check(poll_until(clean), f"{state['threads']} threads (after the first "
          f"client: {base_threads}), children {state['kids'][:5]} (after the "
          f"first client: {base_kids[:5]})")


# ---- Faults: stopping in every state, running out of memory, tasks and
# ---- fds, the Unix socket path ----

def start_loadgen(t, server, *args):
    """bin/loadgen of the same build against server, its output discarded;
    killed at the end of the case if it is still running.  Its load starts
    at once (--probe-wait 0): loadgen's connect phase would otherwise wait
    --timeout for the connections that blocking, pool and prefork do not
    serve, and these cases want load on the server, not a measurement."""
    binary = os.path.join(t.bindir, "loadgen")
    if not os.access(binary, os.X_OK):
        raise Fail(f"no {binary}: run {make_command(t.bindir)}")
    proc = subprocess.Popen([binary, "--probe-wait", "0"] + [str(a) for a in args]
                            + [f"127.0.0.1:{server.port}"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    t.procs.append(proc)
    return proc


# The promise is for the plain build.  The sanitizer builds run several
# times slower (ending 100 threads under ASan, then its leak check at exit,
# takes 0.3 s on an idle machine here), and ThreadSanitizer also sleeps
# 1 s before exit (its atexit_sleep_ms, to catch races at exit).
SANITIZER_SLOWDOWN = 3
TSAN_ATEXIT_SLEEP_S = 1


def stop_within(s, limit, during):
    """SIGTERM; the server must exit 0 within `limit` s (plain build) and
    print its summary."""
    if s.case.sanitizer:
        limit *= SANITIZER_SLOWDOWN
    if s.case.sanitizer == "tsan":
        limit += TSAN_ATEXIT_SLEEP_S
    code = s.stop(signal.SIGTERM, timeout=limit, during=during)
    check(code == 0, f"SIGTERM{during}: {describe_status(code)}")
    return s.summary()


def notices(s, word):
    """The server's stderr lines that contain word."""
    return [l for l in s.stderr_text().splitlines()
            if l.startswith(f"echo-{s.case.backend}: ") and word in l]


def case_stop_busy(t):
    """SIGTERM while the server never runs out of work (loadgen: 100
    connections with 16 messages of 16 KiB in flight on each): it exits 0
    with its summary within STOP_WITHIN_S.  A loop that opens the stop
    signals only inside its waiting call never gets them here: a wait
    that finds fds ready returns without delivering a pending signal."""
    s = t.server()
    lg = start_loadgen(t, s, "--conns", 100, "--pipeline", 16, "--size", 16384,
                       "--duration", 30, "--warmup", 0, "--timeout", 30)
    start = tree_cpu_times(s.pid)[0]
    check(poll_until(lambda: tree_cpu_times(s.pid)[0] - start > 0.3,
                     timeout=IO_TIMEOUT_S), f"the server used no CPU to speak "
          f"of in {IO_TIMEOUT_S} s: the load did not reach it")
    check(lg.poll() is None, f"loadgen exited early ({describe_status(lg.returncode)})")
    stop_within(s, STOP_WITHIN_S, " under load")


def case_stop_starved(t):
    """Out of fds with no client open (RLIMIT_NOFILE = the fds an idle
    server holds) and a client waiting in the backlog: the server says so
    once, not on every retry, and SIGTERM stops it within STOP_WITHIN_S."""
    probe = t.server()
    sock = probe.connect()
    echo(sock, b"probe")            # epoll's fd exists by now
    sock.close()
    held = settled(lambda: fd_count(probe.pid))
    check(probe.stop() == 0, f"SIGTERM: {describe_status(probe.proc.returncode)}")
    s = t.server(nofile=held)
    waiting = s.connect()           # the kernel completes it; accept() cannot
    waiting.sendall(b"anyone?")
    time.sleep(1.0)                 # ten retries, at 100 ms each
    s.check_alive()
    check(not readable(waiting, 0), "the waiting client got an answer with "
          "no fd free for it")
    stop_within(s, STOP_WITHIN_S, " while out of fds")
    said = notices(s, "accept")
    want = t.param("starved_notices", 1)
    check(len(said) == want, f"{len(said)} notices about accept() in 1 s out "
          f"of fds, want {want}: {said[:3]!r}")


TW_WAIT_S = 70            # TIME_WAIT lasts 60 s: room in its table comes by then
TCP_TIME_WAIT = "06"      # the state column of /proc/net/tcp


def time_wait_sockets(local_port=None):
    """Sockets in TIME_WAIT (with this local port, if given), from
    /proc/net/tcp and tcp6."""
    n = 0
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                for line in f.readlines()[1:]:
                    fields = line.split()
                    if fields[3] == TCP_TIME_WAIT and (
                            local_port is None or int(fields[1].rsplit(":", 1)[1], 16) == local_port):
                        n += 1
        except OSError:
            pass
    return n


def time_wait_room():
    """Room left in the kernel's TIME_WAIT table (net.ipv4.tcp_max_tw_buckets):
    past it, a closed socket skips TIME_WAIT."""
    with open("/proc/sys/net/ipv4/tcp_max_tw_buckets") as f:
        return int(f.read()) - time_wait_sockets()


def wait_for_time_wait_room(needed):
    """The machine's other connection churn (this suite's, a benchmark's)
    can fill the kernel's TIME_WAIT table.  Wait until there is room."""
    deadline = time.monotonic() + TW_WAIT_S
    while time_wait_room() < needed and time.monotonic() < deadline:
        time.sleep(1)


def case_lab_switches(t):
    """The switches lab/ uses to show what the defaults avoid: each is
    accepted and the server still echoes.  --no-reuseaddr is checked for
    its effect: stopped while a client is connected, the server closes
    first, its port sits in TIME_WAIT, and a new server cannot bind it
    (exit 1, "Address already in use") without SO_REUSEADDR, but can by
    default."""
    for switch in ("--no-nodelay", "--default-sigpipe", "--no-reuseaddr"):
        s = t.server(switch)
        echo(s.connect(), b"switched")
        check(s.stop() == 0, f"{switch}: SIGTERM: {describe_status(s.proc.returncode)}")
    wait_for_time_wait_room(100)
    first = t.server()
    sock = first.connect()
    echo(sock, b"then the server goes first")
    port = first.port
    check(first.stop() == 0, f"SIGTERM: {describe_status(first.proc.returncode)}")
    read_to_end(sock, timeout=3)
    sock.close()                    # the server's side is in TIME_WAIT now
    if time_wait_sockets(port) == 0:
        if time_wait_room() <= 100:
            raise Skipped("the server's side skipped TIME_WAIT: the kernel's table "
                          "(net.ipv4.tcp_max_tw_buckets) was full")
        check(False, "no TIME_WAIT on the server's port after it was stopped with a "
              "client connected: it did not close first")
    if t.param("time_wait_blocks", True):
        code, _, err = run_cli(t, ["--port", str(port), "--no-reuseaddr"])
        check(code == 1 and "Address already in use" in err,
              f"--no-reuseaddr on a port in TIME_WAIT: {describe_status(code)}, "
              f"stderr {err.strip()[:120]!r}; want exit 1 and EADDRINUSE")
    else:
        s = t.server("--port", str(port), "--no-reuseaddr")
        check(s.stop() == 0, f"--no-reuseaddr past TIME_WAIT: "
              f"{describe_status(s.proc.returncode)}")
    again = t.server("--port", str(port))
    echo(again.connect(), b"rebound")
    check(again.stop() == 0, f"rebind: SIGTERM: {describe_status(again.proc.returncode)}")


def takes_workers(t):
    """The backend takes --workers (its --describe: workers is not 0)."""
    return describe(t.bindir, t.backend).get("workers", "0") != "0"


def takes_udp(t):
    """The backend echoes UDP too (its --describe: udp=yes)."""
    return describe(t.bindir, t.backend).get("udp") == "yes"


def case_ready_starved(t):
    """Out of fds from the start (RLIMIT_NOFILE = the fds an idle server
    holds), a client that connects the moment the ready line appears must
    not take an fd the server's own setup still needs: it waits, and the
    server lives and stops on SIGTERM.  Many workers widen the window
    (reactors once accepted in one loop while another was still making its
    signalfd, and died of EMFILE)."""
    args = ("--workers", "32") if takes_workers(t) else ()
    probe = t.server(*args)
    sock = probe.connect()
    echo(sock, b"probe")
    sock.close()
    held = settled(lambda: fd_count(probe.pid))
    check(probe.stop() == 0, f"SIGTERM: {describe_status(probe.proc.returncode)}")
    for _ in range(READY_STARVED_TRIES):
        s = t.server(*args, nofile=held)
        s.connect()
        time.sleep(0.1)
        s.check_alive()
        stop_within(s, STOP_WITHIN_S, " while out of fds")


def expect_start_error(t, args, word, inherit_fds=0):
    """The server must refuse to start: exit 1, one stderr line naming word."""
    code, out, err = run_cli(t, args, inherit_fds=inherit_fds)
    lines = err.splitlines()
    shown = " ".join(args)
    check(code == 1, f"{shown}: {describe_status(code)}, want exit status 1")
    check(out == "", f"{shown}: stdout not empty: {out.splitlines()[:1]!r}")
    check(len(lines) == 1 and lines[0].startswith(f"echo-{t.backend}: ")
          and word in lines[0], f"{shown}: stderr {lines[:3]!r}, want one "
          f"line that says {word!r}")


def is_socket(path):
    try:
        return stat.S_ISSOCK(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def case_unix_owner(t):
    """--unix PATH removes at exit only the socket it bound: a file, or
    another server's socket, put at PATH meanwhile survives it.  At start,
    a PATH that is a file, a live socket or a stale one is named as such
    (exit 1) and left as it is."""
    path = t.tmp("echo.sock")
    s = t.server("--unix", path)
    os.unlink(path)
    with open(path, "w") as f:
        f.write("not a socket\n")
    check(s.stop() == 0, f"SIGTERM: {describe_status(s.proc.returncode)}")
    check(os.path.isfile(path), "a file put at PATH after the server bound it "
          "was deleted at the server's exit")
    expect_start_error(t, ["--unix", path], "not a socket")
    with open(path) as f:
        check(f.read() == "not a socket\n", "the file at PATH was changed")
    os.unlink(path)

    first = t.server("--unix", path)
    os.unlink(path)
    second = t.server("--unix", path)
    check(first.stop() == 0, f"SIGTERM: {describe_status(first.proc.returncode)}")
    check(is_socket(path), "the first server deleted the second one's socket "
          "at its exit")
    sock = second.connect()
    echo(sock, b"to the second server")
    sock.close()                    # blocking serves one client at a time
    expect_start_error(t, ["--unix", path], "listening")
    echo(second.connect(), b"still the second server")
    check(second.stop() == 0, f"SIGTERM: {describe_status(second.proc.returncode)}")
    check(not os.path.exists(path), "the server's own socket is left after SIGTERM")

    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)                # a socket file nobody listens on
    stale.close()
    expect_start_error(t, ["--unix", path], "stale")
    check(is_socket(path), "the stale socket was removed")


def sanitizer_options(t, extra):
    """{ASAN_OPTIONS or TSAN_OPTIONS: what the environment has, plus extra}."""
    var = "TSAN_OPTIONS" if t.sanitizer == "tsan" else "ASAN_OPTIONS"
    have = os.environ.get(var, "")
    return {var: f"{have}:{extra}" if have else extra}


def serve_after_leaving(s, clients):
    """The served clients leave; then a new client must be served (retried
    while the server still refuses: what it freed may take a moment).
    Returns how many tries it refused."""
    for i in sorted(clients.served):
        clients.close(i)
    refusals = 0
    deadline = time.monotonic() + SETTLE_S
    while refused(s.connect(), b"my turn"):
        refusals += 1
        check(time.monotonic() < deadline, f"no new client served {SETTLE_S} s "
              f"after the others left ({refusals} refused)")
        time.sleep(0.05)
    return refusals


def check_refusals(s, served, refused_n, retries):
    """The summary counts the served clients as accepted, the others as
    refused, and stderr has one notice per refusal."""
    check(s.stop() == 0, f"SIGTERM: {describe_status(s.proc.returncode)}")
    accepted, refused_said, _ = s.summary()
    check((accepted, refused_said) == (served, refused_n + retries),
          f"summary says {accepted} accepted, {refused_said} refused; "
          f"{served} clients were served, {refused_n + retries} refused")
    said = notices(s, "refused")
    check(len(said) == refused_said, f"{len(said)} notices for "
          f"{refused_said} refused clients: {said[:2]!r}")


def case_alloc_fail(t):
    """Memory runs out for some clients (RLIMIT_AS 200 MB, --bufsize 1 MiB,
    300 clients at once): those are refused, closed without an echo,
    counted as refused with a notice each, and the rest are served; once
    they leave a new client is served.  The sanitizer runtimes reserve
    terabytes of address space at start, so there the allocator is
    limited instead (no block over 1 MiB, --bufsize 2 MiB, 20 clients):
    every client is refused and the server goes on.  A server whose
    clients own no memory (the readiness loops read into one buffer per
    loop, uring-multishot into a shared ring) serves them all, in either
    build (with the sanitizers' limit, at --bufsize 1 MiB: its one buffer
    must fit)."""
    all_served = t.param("all_served", False)
    client_memory = t.param("client_memory", True)
    if t.sanitizer:
        n = 20
        bufsize = 2 * MiB if client_memory else MiB
        s = t.server("--bufsize", str(bufsize), env=sanitizer_options(
            t, "allocator_may_return_null=1:max_allocation_size_mb=1"))
    else:
        n = 300
        s = t.server("--bufsize", str(MiB), address_space=200 * 1000 * 1000)
    clients = Clients(s)
    for start in range(0, n, 50):
        batch = [clients.add(message(i)) for i in range(start, min(n, start + 50))]
        clients.wait(lambda: all(i in clients.served or i in clients.closed
                                 for i in batch), IO_TIMEOUT_S)
    slow = clients.pending()
    check(not slow, f"{len(slow)} of {n} clients neither echoed nor closed "
          f"within {IO_TIMEOUT_S} s")
    served, refused_n = len(clients.served), len(clients.closed)
    s.check_alive()
    if not client_memory:
        check(served == n, f"{served} of {n} served; want all of them: a "
              f"client needs no memory of its own here")
    elif t.sanitizer:
        check(served == 0, f"{served} of {n} served with no buffer to be had")
    elif all_served:
        check(served == n, f"{served} of {n} served; want all of them")
    else:
        check(0 < served < n, f"{served} of {n} served in 200 MB with 1 MiB "
              f"each; want some but not all")
    retries = 0
    if not t.sanitizer:
        retries = serve_after_leaving(s, clients)
        served += 1
    check_refusals(s, served, refused_n, retries)


def pids_cgroup(t, pid=None):
    """A new pids cgroup (removed after the case), with pid moved into it
    if given; returns its directory.  Skipped where none can be made."""
    if os.geteuid() != 0:
        raise Skipped("a pids cgroup needs root")
    if os.path.exists("/sys/fs/cgroup/pids/cgroup.procs"):
        parent = "/sys/fs/cgroup/pids"                      # cgroup v1
    else:
        parent = "/sys/fs/cgroup"                           # cgroup v2
        try:
            with open(os.path.join(parent, "cgroup.subtree_control")) as f:
                if "pids" not in f.read().split():
                    raise Skipped("the pids controller is not enabled for "
                                  "child cgroups")
        except OSError as e:
            raise Skipped(f"no cgroup file system: {e}")
    group = os.path.join(parent, f"muxlab-echo-{os.getpid()}-{t.backend}")
    try:
        os.mkdir(group)
    except OSError as e:
        raise Skipped(f"cannot make a cgroup: {e}")

    def remove():
        # Its tasks leave when the server and its children have exited.
        deadline = time.monotonic() + SETTLE_S
        while True:
            try:
                os.rmdir(group)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    t.cleanups.append(remove)
    if pid is not None:
        with open(os.path.join(group, "cgroup.procs"), "w") as f:
            f.write(str(pid))
    return group


def case_no_task(t):
    """Only 3 more threads or processes allowed (a pids cgroup): threads
    and fork refuse the clients beyond them, closed without an echo,
    counted as refused with a notice each, and serve the rest; once those
    leave a new client is served.  The other models need no task per
    client: all 8 are served."""
    n, room = 8, 3
    per_client = t.param("task_per_client", False)
    s = t.server()
    probe = s.connect()
    echo(probe, b"probe")           # ThreadSanitizer starts its own thread
    probe.close()
    group = pids_cgroup(t, s.pid)

    def tasks():
        with open(os.path.join(group, "pids.current")) as f:
            return int(f.read())
    with open(os.path.join(group, "pids.max"), "w") as f:
        f.write(str(settled(tasks, quiet_s=0.2) + room))
    clients = Clients(s)
    for i in range(n):
        clients.add(message(i))
    clients.settle()
    slow = clients.pending()
    check(not slow, f"{len(slow)} of {n} clients neither echoed nor closed")
    served, refused_n = len(clients.served), len(clients.closed)
    want = room if per_client else n
    check(served == want, f"{served} of {n} served with room for {room} more "
          f"tasks; want {want}")
    retries = serve_after_leaving(s, clients)
    check_refusals(s, 1 + served + 1, refused_n, retries)   # the probe too


def case_inherited_fds(t):
    """Started with 1,100 inherited fds, so its own fds are all above 1100:
    it serves as usual.  select cannot put such a listening socket in an
    fd_set: it must exit 1 at start, saying so in one line (not index past
    its bitmap and spin)."""
    if t.xfail:
        expect_start_error(t, ["--port", "0"], "FD_SETSIZE", inherit_fds=1100)
        return
    s = t.server(inherit_fds=1100)
    check(fd_count(s.pid) > 1100, f"the server holds {fd_count(s.pid)} fds, "
          f"not the 1,100 it was given")
    echo(s.connect(), b"from above fd 1100")

FAIR_RTT_S = 0.5          # a round trip beside a flooding client, at most


def case_fairness(t):
    """A client beside one that sends faster than the server can echo
    (bin/loadgen: 256 messages of 16 KiB in flight, and --bufsize 7 makes
    every echo slow): each of its 20 round trips must come back within
    FAIR_RTT_S (times 3 for the sanitizer builds).  An edge-triggered loop
    that drains one client to EAGAIN without bound keeps the others
    waiting for most of a second here."""
    limit = FAIR_RTT_S * (SANITIZER_SLOWDOWN if t.sanitizer else 1)
    s = t.server("--bufsize", "7")
    start_loadgen(t, s, "--conns", 1, "--pipeline", 256, "--size", 16384,
                  "--duration", 30, "--warmup", 0, "--timeout", 30)
    time.sleep(0.5)
    sock = s.connect()
    if t.xfail:
        sock.sendall(b"me too")
        check(not readable(sock, limit), "XPASS: served beside the flooding client")
        return
    worst = 0.0
    for i in range(20):
        t0 = time.monotonic()
        echo(sock, message(i, 100), f"round trip {i} beside the flooder")
        worst = max(worst, time.monotonic() - t0)
        check(worst <= limit, f"round trip {i} took {worst:.2f} s beside a "
              f"flooding client (limit {limit} s): that client holds the loop")


BURST_CLIENTS = 16
BURST_BYTES = 2 * MiB


def case_bursts(t):
    """16 clients send 2 MiB each at once, with --bufsize 1 MiB, and read
    their echo as it comes: every byte comes back, in order, to its own
    client.  uring-multishot's shared ring is then 8 buffers, fewer than
    the clients with data waiting: receives end with ENOBUFS, and each must
    be armed again when buffers come back, without losing or reordering a
    byte."""
    s = t.server("--bufsize", str(MiB))
    socks = [s.connect() for _ in range(BURST_CLIENTS)]
    datas = [t.rng.randbytes(BURST_BYTES) for _ in socks]
    errors = [None] * len(socks)

    def client(i):
        chunks = [datas[i][k:k + 64 * KiB] for k in range(0, BURST_BYTES, 64 * KiB)]
        try:
            stream_echo(socks[i], datas[i], chunks)
        except (Fail, OSError) as e:
            errors[i] = e
        socks[i].close()        # the models that serve a few at a time go on
    threads = [threading.Thread(target=client, args=(i,), daemon=True)
               for i in range(len(socks))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(CASE_TIMEOUT_S)
    failed = [(i, e) for i, e in enumerate(errors) if e is not None]
    check(not failed, f"{len(failed)} of {len(socks)} clients failed, client "
          f"{failed[0][0] if failed else 0}: {failed[0][1] if failed else ''}")
    s.check_alive()


SLOW_FAST_CLIENTS = 4


def case_slow_reader(t):
    """A client that sends all it can and reads nothing, then 4 others
    that make 20 round trips each: they must be served (the slow reader's
    echo must not take what the others need), and afterwards the slow
    reader gets all its bytes back.  uring-multishot shares one ring of
    buffers: without backpressure, the slow reader's receive would fill
    them all with an echo that cannot be sent, and the others would wait
    for ever."""
    s = t.server()
    slow = socket.socket(s.family, socket.SOCK_STREAM)
    t.sockets.append(slow)
    # A small receive window, so that its echo stalls soon; and a long
    # stall before flood() gives up, so that the server has taken all it
    # will take.
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * KiB)
    slow.settimeout(IO_TIMEOUT_S)
    slow.connect(s.addr)
    sent = flood(slow, 64 * MiB, stall_s=1.0)
    check(sent > 0, "the server took nothing from the slow reader")
    if t.xfail:
        sock = s.connect()
        sock.sendall(b"me too")
        check(not readable(sock, 1.0), "XPASS: served beside the slow reader")
        return
    fast = [s.connect() for _ in range(SLOW_FAST_CLIENTS)]
    for i in range(20):
        for k, sock in enumerate(fast):
            echo(sock, message(i, 100), f"round trip {i} of client {k} beside "
                 f"a slow reader holding {sent // MiB} MiB")
    got = read_to_end_count(slow, sent)
    check(got == sent, f"the slow reader got {got} of its {sent} bytes back")


def read_to_end_count(sock, want, timeout=IO_TIMEOUT_S):
    """Read want bytes of flood()'s filler; returns how many came, and
    fails on any other byte."""
    sock.setblocking(True)
    sock.settimeout(timeout)
    got = 0
    while got < want:
        try:
            chunk = sock.recv(min(want - got, 256 * KiB))
        except socket.timeout:
            break
        if not chunk:
            break
        check(chunk.count(0xa5) == len(chunk), f"the slow reader's echo differs "
              f"after byte {got}")
        got += len(chunk)
    return got


UDP_SIZES = [1, 100, 1472, 8192, 65507]   # 65507: the largest UDP payload on IPv4


def case_udp(t):
    """--udp: each datagram comes back whole to its sender, on the TCP
    port's number, from several sockets at once, sizes 1 B to 64 KiB; a
    burst the server cannot all answer costs datagrams, never the server;
    TCP goes on as before.  Backends that serve TCP only refuse --udp:
    exit 2, one line that says so."""
    if not t.param("udp", True):
        code, out, err = run_cli(t, ["--port", "0", "--udp"])
        lines = err.splitlines()
        check(code == 2 and len(lines) == 1 and "--udp" in lines[0],
              f"--udp: {describe_status(code)}, stderr {lines[:2]!r}; want exit "
              f"status 2 and one line about --udp")
        return
    s = t.server("--udp")
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(3)]
    sent = 0
    try:
        for sock in socks:
            sock.settimeout(IO_TIMEOUT_S)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        for size in UDP_SIZES:
            datagrams = [t.rng.randbytes(size) for _ in socks]
            for sock, d in zip(socks, datagrams):
                sock.sendto(d, s.addr)
            for i, (sock, d) in enumerate(zip(socks, datagrams)):
                try:
                    got, peer = sock.recvfrom(65536)
                except socket.timeout:
                    raise Fail(f"no reply to a {size}-byte datagram from socket {i}")
                check(got == d, f"a {size}-byte datagram came back as {len(got)} "
                      f"bytes{' that differ' if len(got) == size else ''}")
                check(peer[1] == s.port, f"the reply came from port {peer[1]}, "
                      f"not {s.port}")
            sent += len(socks)
        burst = socks[0]
        for i in range(2000):               # more than the buffers hold
            burst.sendto(message(i, 1000), s.addr)
        burst.settimeout(0.5)
        answered = 0
        try:
            while True:
                burst.recvfrom(65536)
                answered += 1
        except socket.timeout:
            pass
        check(answered > 0, "no reply at all to a burst of 2000 datagrams")
        s.check_alive()
        socks[1].sendto(b"after the burst", s.addr)
        check(socks[1].recvfrom(65536)[0] == b"after the burst",
              "a datagram after the burst came back different")
        echo(s.connect(), b"and over TCP")
    finally:
        for sock in socks:
            sock.close()
    check(s.stop() == 0, f"SIGTERM: {describe_status(s.proc.returncode)}")
    m = SUMMARY_RE.match(s.stdout_lines()[-1])
    check(m and m.group(5) is not None, f"summary {s.stdout_lines()[-1]!r} "
          f"does not count datagrams")
    want = sent + answered + 1
    check(int(m.group(5)) >= want, f"summary says {m.group(5)} datagrams, the "
          f"clients got {want} back")


def case_max_conns_seq(t):
    """--max-conns 1 and 40 strictly sequential clients, each gone (the
    server's EOF seen) before the next connects: none may be refused, so
    the server's count of live clients must be exact by then."""
    n = 40
    s = t.server("--max-conns", "1")
    for i in range(n):
        sock = s.connect()
        check(not refused(sock, message(i)), f"client {i} of {n} refused, "
              f"though the one before it had gone")
        sock.shutdown(socket.SHUT_WR)
        read_to_end(sock)
        sock.close()
    check(s.stop() == 0, f"SIGTERM: {describe_status(s.proc.returncode)}")
    accepted, refused_n, _ = s.summary()
    check((accepted, refused_n) == (n, 0), f"summary says {accepted} accepted, "
          f"{refused_n} refused; want {n}, 0")


# ---------------------------------------------------------------------------
# Child processes at a stop, and the live count when they die
# ---------------------------------------------------------------------------

STOP_GRACE_S = 1          # the server's grace for its children, then SIGKILL


def served_children(s):
    """The server's live child processes (none for most servers; fork's
    child exists by the time its client has an echo, prefork's workers
    from the start).  Read from /proc/PID/task/*/children where the kernel
    has it (fast enough to pick a victim many times a second)."""
    try:
        kids = set()
        for tid in os.listdir(f"/proc/{s.pid}/task"):
            with open(f"/proc/{s.pid}/task/{tid}/children") as f:
                kids.update(int(p) for p in f.read().split())
    except FileNotFoundError:
        kids = children_of(s.pid)
    return [p for p in kids if proc_state(p)[:1] not in "Z"]


def case_stop_stopped(t):
    """SIGTERM while a child process of the server is stopped (SIGSTOP):
    the server must still exit 0 within STOP_WITHIN_S, because it sends
    SIGCONT after SIGTERM, as init systems do; a stopped process keeps a
    SIGTERM pending until it runs again.  (A server without child
    processes just stops.)"""
    s = t.server()
    sock = s.connect()
    echo(sock, b"hello")
    kids = served_children(s)
    if kids:
        os.kill(kids[0], signal.SIGSTOP)
        check(poll_until(lambda: proc_state(kids[0])[:1] == "T"),
              f"child {kids[0]} did not stop on SIGSTOP")
    stop_within(s, STOP_WITHIN_S, " with a stopped child process" if kids else "")


# A tracer that holds a process in a ptrace stop: SIGTERM and SIGCONT are
# then only reported to the tracer, and the process runs no more until
# SIGKILL (which a ptrace stop cannot hold back).  It prints "held", and
# exits when the process has died.
PTRACE_HOLD = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
PTRACE_SEIZE, PTRACE_INTERRUPT, WALL = 0x4206, 0x4207, 0x40000000
pid = int(sys.argv[1])
if libc.ptrace(PTRACE_SEIZE, pid, None, None) != 0 or \
   libc.ptrace(PTRACE_INTERRUPT, pid, None, None) != 0:
    print("ptrace:", os.strerror(ctypes.get_errno()), flush=True)
    sys.exit(1)
print("held", flush=True)
while True:
    _, status = os.waitpid(pid, WALL)
    if os.WIFEXITED(status) or os.WIFSIGNALED(status):
        break
"""


def case_stop_stuck(t):
    """SIGTERM while a child process cannot run at all (held in a ptrace
    stop, where SIGCONT does not reach it either): the server waits
    STOP_GRACE_S for it, then kills it with SIGKILL, says so on stderr,
    and exits 0; nothing of it is left running.  (A server without child
    processes just stops.)"""
    s = t.server()
    sock = s.connect()
    echo(sock, b"hello")
    kids = served_children(s)
    if not kids:
        stop_within(s, STOP_WITHIN_S, "")
        return
    tracer = subprocess.Popen([sys.executable, "-c", PTRACE_HOLD, str(kids[0])],
                              stdout=subprocess.PIPE, text=True)
    t.procs.append(tracer)
    said = tracer.stdout.readline().strip()
    if said != "held":
        raise Skipped(f"cannot hold a process in a ptrace stop here ({said or 'no answer'})")
    stop_within(s, STOP_WITHIN_S + STOP_GRACE_S, " with a child held in a ptrace stop")
    killed = notices(s, "SIGKILL")
    check(len(killed) == 1 and str(kids[0]) in killed[0], f"stderr says "
          f"{killed!r}; want one line naming child {kids[0]} and SIGKILL")


KILLS_WORKERS = 4         # --workers where the server takes it
KILLS_MAX = 2             # --max-conns
KILLS_CHURN = 12        # clients connecting, echoing and leaving meanwhile
KILLS_S = 6               # how long child processes are killed at random
KILLS_EVERY_S = 0.005


def case_kills(t):
    """--max-conns 2, clients coming and going, and the server's child
    processes (fork's, prefork's workers) SIGKILLed at random for KILLS_S:
    a kill may land anywhere, between taking a client's place and
    serving it, or between ending its session and giving the place back.
    Afterwards exactly 2 of 4 clients that stay are served: the count of
    live clients is exact however the processes died.  (Servers without
    child processes are checked the same way, without the kills.)"""
    args = ["--max-conns", KILLS_MAX]
    if takes_workers(t):
        args += ["--workers", KILLS_WORKERS]
    s = t.server(*args)
    probe = s.connect()
    echo(probe, b"probe")
    probe.close()
    killing = bool(served_children(s))
    stop = threading.Event()
    errors = []

    def churn(i):
        while not stop.is_set():
            try:
                with socket.create_connection(s.addr, timeout=2) as sock:
                    sock.sendall(message(i))
                    sock.recv(64)
            except OSError:
                pass
            except Exception as e:          # a bug here: say so
                errors.append(e)
                return
    threads = [threading.Thread(target=churn, args=(i,), daemon=True)
               for i in range(KILLS_CHURN)]
    for th in threads:
        th.start()
    rng, kills = t.rng, 0
    deadline = time.monotonic() + (KILLS_S if killing else KILLS_S / 10)
    while time.monotonic() < deadline:
        kids = served_children(s) if killing else []
        if kids:
            try:
                os.kill(rng.choice(kids), signal.SIGKILL)
                kills += 1
            except OSError:
                pass
        time.sleep(KILLS_EVERY_S * rng.random() * 2)
    stop.set()
    for th in threads:
        th.join(timeout=IO_TIMEOUT_S)
    check(not errors, f"suite error in a client: {errors[:1]!r}")
    s.check_alive()
    time.sleep(0.5)                         # the replacements start
    clients = Clients(s)
    for i in range(4):
        clients.add(message(i))
    clients.settle()
    slow = clients.pending()
    check(not slow, f"{len(slow)} of 4 clients neither echoed nor closed")
    served = len(clients.served)
    check(served == KILLS_MAX, f"{served} of 4 clients served after {kills} "
          f"SIGKILLs, with --max-conns {KILLS_MAX}: the live count drifted")


def case_start_no_task(t):
    """In a pids cgroup that allows the server no task beyond itself:
    servers that need workers at start (prefork, pool; reactors with
    --workers 2) exit 1 with one line saying why, print no ready line and
    write no port file.  The rest start as usual (a thread or process per
    client then fails: case no_task)."""
    group = pids_cgroup(t)
    with open(os.path.join(group, "pids.max"), "w") as f:
        f.write("1")
    args = ["--workers", "2"] if takes_workers(t) else []
    port_file = t.tmp("port")
    argv = [t.binary, "--port", "0", "--port-file", port_file] + args

    def enter():
        with open(os.path.join(group, "cgroup.procs"), "w") as f:
            f.write("0")
    # LeakSanitizer's check at exit needs a task of its own
    env = dict(os.environ, **sanitizer_options(t, "detect_leaks=0")) if t.sanitizer else None
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=enter, env=env)
    t.procs.append(proc)
    ready = readable_pipe(proc.stdout, READY_TIMEOUT_S)
    if not takes_workers(t) and t.sanitizer != "tsan":
        check(ready and proc.poll() is None, "did not start with no task to spare")
        line = proc.stdout.readline().decode()
        check("listening on" in line, f"stdout {line!r}, want the ready line")
        proc.send_signal(signal.SIGTERM)
        proc.wait(STOP_TIMEOUT_S)
        return
    if not takes_workers(t):
        return                  # ThreadSanitizer needs a thread of its own
    code = proc.wait(READY_TIMEOUT_S)
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    lines = err.splitlines()
    check(code == 1, f"exit {describe_status(code)} with no worker startable; want 1")
    check(out == "", f"stdout {out.splitlines()[:1]!r}; want no ready line")
    check(not os.path.exists(port_file), "the port file was written")
    check(len(lines) == 1 and lines[0].startswith(f"echo-{t.backend}: "),
          f"stderr {lines[:3]!r}; want one line saying why")


def readable_pipe(f, timeout):
    with selectors.DefaultSelector() as sel:
        sel.register(f, selectors.EVENT_READ)
        return bool(sel.select(timeout))


START_FDS = 16            # RLIMIT_NOFILE for start_out_of_fds
START_WORKERS = 8


def case_start_out_of_fds(t):
    """RLIMIT_NOFILE 16 and --workers 8 where the server takes it: a server
    whose setup needs more fds than that (reactors: three per loop) must
    exit 1 with one line before its ready line, and leave no port file; it
    must not say it is ready and then die.  The rest start and serve."""
    args = ["--workers", START_WORKERS] if takes_workers(t) else []
    port_file = t.tmp("port")
    argv = [t.binary, "--port", "0", "--port-file", port_file] + [str(a) for a in args]
    # LeakSanitizer's check at exit needs fds of its own
    env = dict(os.environ, **sanitizer_options(t, "detect_leaks=0")) if t.sanitizer else None
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, preexec_fn=limits(START_FDS), env=env)
    t.procs.append(proc)
    if not t.param("start_fails", False):
        check(readable_pipe(proc.stdout, READY_TIMEOUT_S), "no ready line")
        line = proc.stdout.readline().decode()
        check("listening on" in line, f"stdout {line!r}, want the ready line")
        port = int(open(port_file).read())
        with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S) as sock:
            echo(sock, b"with 16 fds")
        proc.send_signal(signal.SIGTERM)
        check(proc.wait(STOP_TIMEOUT_S) == 0, "SIGTERM: not exit 0")
        return
    code = proc.wait(READY_TIMEOUT_S)
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    check(code == 1, f"exit {describe_status(code)} out of fds at setup; want 1")
    check(out == "", f"stdout {out.splitlines()[:1]!r}: it said it was ready, then died")
    check(not os.path.exists(port_file), "the port file was written, then the server died")
    lines = err.splitlines()
    check(len(lines) == 1, f"stderr {lines[:3]!r}; want one line saying why")


def case_udp_wildcard(t):
    """--udp on 0.0.0.0 (and on ::, dual stack): a datagram sent to
    127.0.0.2 is answered from 127.0.0.2, so a connected UDP client (which
    drops datagrams from any other address) gets its reply; the same
    through the IPv6 socket, for IPv4 and for ::1."""
    if not takes_udp(t):
        return
    for host, dest, family in (("0.0.0.0", "127.0.0.2", socket.AF_INET),
                               ("::", "127.0.0.2", socket.AF_INET),
                               ("::", "::1", socket.AF_INET6)):
        s = t.server("--udp", "--host", host)
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.settimeout(2)
        try:
            sock.connect((dest, s.port))
            sock.send(b"to " + dest.encode())
            try:
                got = sock.recv(100)
            except (socket.timeout, ConnectionRefusedError):
                raise Fail(f"--host {host}: no reply from {dest} (answered from "
                           f"another address?)")
            check(got == b"to " + dest.encode(), f"--host {host}: reply {got!r}")
        finally:
            sock.close()
        check(s.stop() == 0, f"SIGTERM: {describe_status(s.proc.returncode)}")


def udp_datagram(src, dst, payload):
    """An IPv4 packet carrying one UDP datagram, src and dst (host, port)."""
    udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0) + payload
    total = 20 + len(udp)
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0, 64, socket.IPPROTO_UDP,
                         0, socket.inet_aton(src[0]), socket.inet_aton(dst[0]))
    return header + udp


def summary_datagrams(s):
    """(datagrams echoed, dropped) from the summary line, after stop()."""
    m = SUMMARY_RE.match(s.stdout_lines()[-1])
    check(m and m.group(5) is not None and m.group(6) is not None,
          f"summary {s.stdout_lines()[-1]!r} does not count datagrams and drops")
    return int(m.group(5)), int(m.group(6))


def case_udp_loop(t):
    """--udp and forged datagrams (a raw socket: root only) that would make
    an echo server talk to itself forever: one from the server's own
    address and port, one from another of its own addresses with its port
    (it listens on 0.0.0.0), one from port 0.  Each is dropped and counted;
    the server echoes nothing more, and serves a real client after."""
    if not takes_udp(t):
        return
    try:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    except PermissionError:
        raise Skipped("forging a datagram needs a raw socket (root)")
    s = t.server("--udp", "--host", "0.0.0.0")
    try:
        for src, dst in ((("127.0.0.1", s.port), ("127.0.0.1", s.port)),
                         (("127.0.0.2", s.port), ("127.0.0.1", s.port)),
                         (("127.0.0.1", 0), ("127.0.0.1", s.port))):
            raw.sendto(udp_datagram(src, dst, b"loop?"), (dst[0], 0))
    finally:
        raw.close()
    time.sleep(0.5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(IO_TIMEOUT_S)
        sock.sendto(b"a real one", ("127.0.0.1", s.port))
        check(sock.recvfrom(100)[0] == b"a real one", "the real client's reply differs")
    check(s.stop() == 0, f"SIGTERM: {describe_status(s.proc.returncode)}")
    echoed, dropped = summary_datagrams(s)
    check(dropped == 3, f"{dropped} datagrams dropped, want the 3 forged ones")
    check(echoed == 1, f"{echoed} datagrams echoed, want 1 (the real client's): "
          f"the server talked to itself")


CHURN_CLIENTS = 200


def case_max_conns_churn(t):
    """--max-conns 1 and 200 clients one after another, each sending,
    reading its echo and closing at once, as real clients do (the server
    may not have seen the close when the next connects): none may be
    refused.  A client that has left must not cost the next its place."""
    s = t.server("--max-conns", "1")
    for i in range(CHURN_CLIENTS):
        sock = s.connect()
        check(not refused(sock, message(i)), f"client {i} of {CHURN_CLIENTS} "
              f"refused, though the one before it had closed")
        sock.close()
    check(s.stop() == 0, f"SIGTERM: {describe_status(s.proc.returncode)}")
    accepted, refused_n, _ = s.summary()
    check((accepted, refused_n) == (CHURN_CLIENTS, 0), f"summary says {accepted} "
          f"accepted, {refused_n} refused; want {CHURN_CLIENTS}, 0")


CASES = [("ready", case_ready), ("bytes", case_bytes), ("sizes", case_sizes),
         ("chunking", case_chunking), ("concurrent", case_concurrent),
         ("backpressure", case_backpressure), ("half_close", case_half_close),
         ("reset", case_reset), ("ipv6", case_ipv6), ("unix", case_unix),
         ("signal", case_signal), ("options", case_options),
         ("max_conns", case_max_conns), ("many_fds", case_many_fds),
         ("emfile", case_emfile), ("idle_cpu", case_idle_cpu),
         ("cleanup", case_cleanup), ("stop_busy", case_stop_busy),
         ("stop_starved", case_stop_starved), ("ready_starved", case_ready_starved),
         ("unix_owner", case_unix_owner),
         ("alloc_fail", case_alloc_fail), ("no_task", case_no_task),
         ("inherited_fds", case_inherited_fds),
         ("max_conns_seq", case_max_conns_seq), ("fairness", case_fairness),
         ("bursts", case_bursts), ("slow_reader", case_slow_reader),
         ("udp", case_udp), ("lab_switches", case_lab_switches),
         ("stop_stopped", case_stop_stopped), ("stop_stuck", case_stop_stuck),
         ("kills", case_kills), ("start_no_task", case_start_no_task),
         ("start_out_of_fds", case_start_out_of_fds),
         ("udp_wildcard", case_udp_wildcard), ("udp_loop", case_udp_loop),
         ("max_conns_churn", case_max_conns_churn)]


# ---------------------------------------------------------------------------
# Running one case
# ---------------------------------------------------------------------------

class Case:
    def __init__(self, bindir, backend, name, seed):
        self.bindir, self.backend, self.name = bindir, backend, name
        self.binary = os.path.join(bindir, f"echo-{backend}")
        self.expect = expected_for(describe(bindir, backend)).get(name)
        self.consulted = False
        self.rng = random.Random(f"{seed}/{backend}/{name}")
        self.servers, self.sockets = [], []
        self.procs = []         # other processes the case started (loadgen)
        self.cleanups = []      # run after the servers have stopped
        self.tmpdir = tempfile.mkdtemp(prefix=f"echo-{backend}-{name}-")

    @property
    def xfail(self):
        """True where expected_for() says this backend fails this case by design."""
        self.consulted = True
        return self.expect is not None and self.expect.outcome == "XFAIL"

    @property
    def sanitizer(self):
        """"asan" or "tsan" for the sanitizer builds, else None."""
        leaf = os.path.basename(os.path.normpath(self.bindir))
        return leaf if leaf in ("asan", "tsan") else None

    def param(self, key, default):
        self.consulted = True
        return self.expect.params.get(key, default) if self.expect else default

    def tmp(self, name):
        path = os.path.join(self.tmpdir, name)
        base, n = path, 1
        while os.path.exists(path):
            n += 1
            path = f"{base}.{n}"
        return path

    def server(self, *args, **limits):
        return Server(self, args, **limits)

    def run(self, func):
        """Returns (outcome, detail lines)."""
        if self.expect and self.expect.outcome == "skipped":
            return f"skipped ({self.expect.reason})", []
        if not os.access(self.binary, os.X_OK):
            return f"FAILED (no {self.binary}: run {make_command(self.bindir)})", []
        error = None
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(CASE_TIMEOUT_S)
        try:
            func(self)
        except Skipped as e:
            return f"skipped ({e})", []
        except Fail as e:
            error = str(e)
        except CaseTimeout:
            error = f"case took longer than {CASE_TIMEOUT_S} s"
        except OSError as e:
            error = f"{type(e).__name__}: {e}"
        except Exception as e:     # a bug in this suite: say where
            where = traceback.extract_tb(e.__traceback__)[-1]
            error = f"suite error {type(e).__name__}: {e} (echo.py line {where.lineno})"
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
            error = self.finish(error)
        if error is None and self.expect and not self.consulted:
            error = "the suite does not check the expected difference"
        if error is not None:
            return f"FAILED ({error})", self.details()
        if self.expect and self.expect.outcome == "XFAIL":
            return f"XFAIL ({self.expect.reason})", []
        return "ok", []

    def finish(self, error):
        """Stop the case's other processes, close the clients, stop every
        server; a server that died, did not exit cleanly or reported a
        sanitizer error fails the case.  Then the case's own cleanups."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for sock in self.sockets:
            sock.close()
        for s in self.servers:
            if not s.stopped and not s.alive():
                died = f"server died ({describe_status(s.proc.returncode)})"
                error = died if error in (None, died) else f"{died}; {error}"
            try:
                code = s.stop()
                if error is None and code != 0:
                    error = f"exit after SIGTERM: {describe_status(code)}"
            except Fail as e:
                error = error or str(e)
            err = s.stderr_text()
            marks = [m for m in SANITIZER_MARKS if m in err]
            if marks:
                report = f"sanitizer report: {marks[0]}"
                error = report if error is None else f"{report}; {error}"
        for cleanup in self.cleanups:
            try:
                cleanup()
            except OSError as e:
                error = error or f"cleanup: {e}"
        return error

    def details(self):
        """Each server's command line and the end of its stderr (or, for a
        sanitizer report, its start: the error and the first stack)."""
        lines = []
        for s in self.servers:
            err = s.stderr_text().splitlines()
            start = [i for i, l in enumerate(err)
                     if any(m in l for m in SANITIZER_MARKS)]
            tail = err[start[0]:start[0] + 25] if start else err[-12:]
            lines.append(f"$ {' '.join(s.argv)}")
            lines += [f"  stderr: {l}" for l in tail] or ["  (stderr empty)"]
        return lines

    def cleanup(self):
        shutil.rmtree(self.tmpdir, ignore_errors=True)


def make_command(bindir):
    """The make command that builds what bindir should hold."""
    leaf = os.path.basename(os.path.normpath(bindir))
    return f"make SAN={leaf}" if leaf in ("asan", "tsan") else "make"


def _alarm(signum, frame):
    raise CaseTimeout()


def run_backend(args, backend):
    """Run the cases for one backend in this process; print its lines."""
    label = suite_label(args.bindir)
    for name, func in CASES:
        if args.case and name not in args.case:
            continue
        case = Case(args.bindir, backend, name, args.seed)
        t0 = time.monotonic()
        outcome, details = case.run(func)
        case.cleanup()
        took = f" [{time.monotonic() - t0:.2f} s]" if args.times else ""
        print(f"{label}/{backend}/{name}: {outcome}{took}", flush=True)
        if outcome.startswith("FAILED"):
            for line in details:
                print(f"    {line}")
            print(f"    reproduce: python3 tests/echo.py --bindir {args.bindir} "
                  f"--backend {backend} --case {name} --seed {args.seed}", flush=True)


def suite_label(bindir):
    """echo for bin/, echo[asan] for bin/asan/ and so on."""
    leaf = os.path.basename(os.path.normpath(bindir))
    return "echo" if leaf == "bin" else f"echo[{leaf}]"


def run_all(args):
    """One worker process per backend, -j at a time; each backend's lines
    printed together, in the fixed backend order."""
    def worker(backend):
        argv = [sys.executable, os.path.abspath(__file__), "--worker",
                "--bindir", args.bindir, "--backend", backend,
                "--seed", str(args.seed)]
        for name in args.case:
            argv += ["--case", name]
        if args.times:
            argv.append("--times")
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        return proc.returncode, proc.stdout.decode(errors="replace")
    failed = False
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = [(b, pool.submit(worker, b)) for b in args.backend]
        for backend, future in futures:
            code, out = future.result()
            sys.stdout.write(out)
            sys.stdout.flush()
            if code != 0:
                print(f"{suite_label(args.bindir)}/{backend}/*: FAILED "
                      f"(suite worker exit status {code})", flush=True)
                failed = True
            failed = failed or ": FAILED" in out
    return failed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bindir", default="bin", help="where echo-<backend> are (default bin)")
    ap.add_argument("--backend", action="append", choices=BACKENDS,
                    help="run only this backend (repeatable; default all)")
    ap.add_argument("--case", action="append", default=[],
                    choices=[name for name, _ in CASES],
                    help="run only this case (repeatable; default all)")
    ap.add_argument("-j", "--jobs", type=int, default=4,
                    help="backends run in parallel (default 4)")
    ap.add_argument("--seed", type=int, default=None,
                    help="seed for the random data (default: new each run)")
    ap.add_argument("--times", action="store_true",
                    help="show how long each case took, after its line")
    ap.add_argument("--list", action="store_true", help="print the case names")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.list:
        print("\n".join(name for name, _ in CASES))
        return 0
    args.backend = args.backend or BACKENDS
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 31)
    # many_fds holds 1100 client sockets in this process.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.worker:
        run_backend(args, args.backend[0])
        return 0
    return 1 if run_all(args) else 0


if __name__ == "__main__":
    sys.exit(main())
