#!/usr/bin/env python3
"""tests/loadgen.py - black-box tests of bin/loadgen.

    python3 tests/loadgen.py --bindir bin                       # every case
    python3 tests/loadgen.py --case stall-open-loop --case dup  # only those
    python3 tests/loadgen.py --list                             # the case names

Prints one line per case, 'loadgen/<case>: ok' or 'loadgen/<case>: FAILED
(reason)', and exits 1 if any failed.  The test servers (fixed delay, a 1 s
stall, corrupting / dropping / duplicating / reordering a byte, closing
early, never accepting) are small threaded Python servers in this file, so
every misbehaviour is exact and repeatable.  No case asserts a speed: they
check counts, bytes, exit status, error lines, and that measured latencies
bracket delays that the test server itself inserts.
"""
import argparse
import csv
import json
import math
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

LOADGEN_TIMEOUT_S = 60      # a case whose loadgen runs longer than this hung
WARNING = "loadgen: warning: "
# CSV columns added after the first version: appended, in this order, so
# that scripts reading the first 28 columns by position still work.
CSV_ADDED = ["requested_rate", "kept_up", "lost", "loadgen_cpu_pct", "server_peak_pss_kib",
             "transport", "loadgen_runq_wait_s", "server_runq_wait_s", "steal_pct",
             "connect_phase_s", "held_conns", "served_conns", "waiting_conns", "warnings"]
# Every held connection (all but --connect-per-request's) starts its stream
# with the connect phase's probe: this many bytes (one datagram with --udp).
PROBE_BYTES = 1
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402
from suite import Fail as CaseFailed, Skipped as CaseSkipped, check  # noqa: E402

# Every backend the Makefile builds (every backends/*.c but the core's).
BACKENDS = suite.backends()


# ---------------------------------------------------------------- servers

class TestServer:
    """A threaded stream server on 127.0.0.1 (or ::1, or a Unix socket).

    handle(server, conn) serves one connection; the server counts accepted
    connections and received bytes so that tests can check exact totals."""

    def __init__(self, handle, family=socket.AF_INET, backlog=128, accept=True,
                 accept_every=0.0, accept_limit=None):
        """accept_every: sleep that long before each accept; accept_limit:
        accept that many connections, then leave the rest in the queue."""
        self.handle = handle
        self.accept_every, self.accept_limit = accept_every, accept_limit
        self.accept_times = []          # time.time() of each accept
        self.accepts = 0
        self.bytes_in = 0
        self.lock = threading.Lock()
        self.stopping = False
        self.conns = []
        self.first_conn_time = None
        self.last_reply_time = None     # set by echo(): when its last reply went
        self.tmpdir = None
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_UNIX:
            self.tmpdir = tempfile.mkdtemp(prefix="loadgen-test-")
            self.path = os.path.join(self.tmpdir, "echo.sock")
            self.sock.bind(self.path)
            self.target = "unix:" + self.path
        else:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
            self.sock.bind((host, 0))
            port = self.sock.getsockname()[1]
            self.target = "[::1]:%d" % port if family == socket.AF_INET6 else "127.0.0.1:%d" % port
        self.sock.listen(backlog)
        self.threads = []
        if accept:
            self._spawn(self._accept_loop)

    def _spawn(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self.threads.append(t)

    def _accept_loop(self):
        while not self.stopping and self.accepts != self.accept_limit:
            time.sleep(self.accept_every)
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.accept_times.append(time.time())
                self.accepts += 1
                self.conns.append(conn)
                if self.first_conn_time is None:
                    self.first_conn_time = time.monotonic()
            self._spawn(self._serve, conn)

    def _serve(self, conn):
        try:
            self.handle(self, conn)
        except OSError:
            pass
        finally:
            conn.close()

    def recv(self, conn):
        data = conn.recv(65536)
        with self.lock:
            self.bytes_in += len(data)
        return data

    def stop(self):
        self.stopping = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for t in self.threads:
            t.join(timeout=2)
        if self.tmpdir:
            os.unlink(self.path)
            os.rmdir(self.tmpdir)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def echo(delay_s=0.0):
    def handle(server, conn):
        while True:
            data = server.recv(conn)
            if not data:
                return
            if delay_s:
                time.sleep(delay_s)
            conn.sendall(data)
            server.last_reply_time = time.monotonic()
    return handle


def echo_then_speak(quiet_s):
    """Echo, and once a connection has been silent for quiet_s, send it
    one byte it did not send (once)."""
    def handle(server, conn):
        conn.settimeout(quiet_s)
        spoke = False
        while True:
            try:
                data = server.recv(conn)
            except socket.timeout:
                if not spoke:
                    conn.sendall(b"\x00")
                    spoke = True
                continue
            if not data:
                return
            conn.sendall(data)
    return handle


def stall_once(start_s=1.0, length_s=1.0):
    """Echo, but stop answering for length_s, start_s after the first
    connection arrived: every connection stalls in the same window."""
    def handle(server, conn):
        while True:
            data = server.recv(conn)
            if not data:
                return
            begin = server.first_conn_time + start_s
            now = time.monotonic()
            if begin <= now < begin + length_s:
                time.sleep(begin + length_s - now)
            conn.sendall(data)
    return handle


def faulty(fault, at=1000):
    """Echo with one fault at stream offset `at`: 'corrupt' changes the
    byte, 'drop' leaves it out, 'dup' sends it twice, 'swap' exchanges it
    with the next one, 'close' hangs up there, 'truncate' stops echoing
    there but keeps the connection open."""
    def handle(server, conn):
        offset = 0              # stream offset of the next byte received
        pending = b""           # held back: byte `at` arrived without at+1
        done = False
        while True:
            data = server.recv(conn)
            if not data:
                return
            buf, start = pending + data, offset - len(pending)
            offset += len(data)
            pending = b""
            if done or start + len(buf) <= at:
                if not (done and fault == "truncate"):
                    conn.sendall(buf)
                continue
            if start + len(buf) == at + 1:      # a swap needs the next byte too
                pending = buf
                continue
            i = at - start
            done = True
            if fault == "corrupt":
                buf = buf[:i] + bytes([buf[i] ^ 0x5A]) + buf[i + 1:]
            elif fault == "drop":
                buf = buf[:i] + buf[i + 1:]
            elif fault == "dup":
                buf = buf[:i + 1] + buf[i:]
            elif fault == "swap":
                buf = buf[:i] + bytes([buf[i + 1], buf[i]]) + buf[i + 2:]
            elif fault in ("close", "truncate"):
                buf = buf[:i]
            conn.sendall(buf)
            if fault == "close":
                return
    return handle


class UdpTestServer:
    """A UDP echo server on 127.0.0.1: one reply per datagram, to its
    sender, but for its one fault: 'drop' answers no datagram whose number
    (from 1) is a multiple of `every`; 'drop_first' answers none of the
    first `at`; 'corrupt' changes byte 20 of the reply to datagram `at`;
    'dup' sends that reply twice.  It counts the
    datagrams received and the replies dropped."""

    def __init__(self, fault=None, every=0, at=10):
        self.fault, self.every, self.at = fault, every, at
        self.received = self.dropped = 0
        self.stopping = False
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)      # to notice stop()
        self.target = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _replies(self, data):
        self.received += 1
        if self.fault == "drop_first" and self.received <= self.at:
            self.dropped += 1
            return []
        if self.fault == "drop" and self.received % self.every == 0:
            self.dropped += 1
            return []
        if self.fault == "corrupt" and self.received == self.at:
            return [data[:20] + bytes([data[20] ^ 0x5A]) + data[21:]]
        if self.fault == "dup" and self.received == self.at:
            return [data, data]
        return [data]

    def _serve(self):
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(65536)
                for reply in self._replies(data):
                    self.sock.sendto(reply, peer)
            except OSError:     # timeout: look at self.stopping again
                continue

    def stop(self):
        self.stopping = True
        self.thread.join(timeout=2)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# A fork-per-connection server whose children burn a known amount of CPU
# per message: a separate process, so that --server-pid sees it and its
# children only.  argv: message size, CPU seconds to burn per message.  It
# prints its port, and on SIGTERM stops its children (by PID) and exits.
FORK_BURN_SERVER = r"""
import os, signal, socket, sys, time
size, burn_s = int(sys.argv[1]), float(sys.argv[2])
lsock = socket.socket()
lsock.bind(("127.0.0.1", 0))
lsock.listen(128)
print(lsock.getsockname()[1], flush=True)
children = set()

def stop(sig, frame):
    for pid in children:
        os.kill(pid, signal.SIGTERM)
    os._exit(0)

def serve(conn):
    got = 0
    while True:
        data = conn.recv(65536)
        if not data:
            return
        for _ in range((got + len(data)) // size - got // size):
            end = time.process_time() + burn_s     # CPU time, not wall time
            while time.process_time() < end:
                pass
        got += len(data)
        conn.sendall(data)

signal.signal(signal.SIGTERM, stop)
while True:
    conn, _ = lsock.accept()
    pid = os.fork()
    if pid == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        lsock.close()
        try:
            serve(conn)
        finally:
            os._exit(0)
    conn.close()
    children.add(pid)
    while children:
        pid, _ = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            break
        children.discard(pid)
"""


# ---------------------------------------------------------------- helpers

class Run:
    def __init__(self, proc, start, end):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.elapsed = end - start
        self.end = end              # time.monotonic() when it had exited

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as e:
            raise CaseFailed("stdout is not JSON (%s): %r" % (e, self.out[:200]))

    def err_lines(self):
        return [l for l in self.err.splitlines() if l.strip()]

    def said(self):
        """stderr's lines but its warnings: a busy machine may add a
        'disturbed' warning to any run long enough to judge."""
        return [l for l in self.err_lines() if not l.startswith(WARNING)]

    def warnings(self):
        """The text of stderr's 'loadgen: warning: ' lines, in order."""
        return [l[len(WARNING):] for l in self.err_lines() if l.startswith(WARNING)]


def loadgen(*args, limit_fds=None, timeout=LOADGEN_TIMEOUT_S, preexec=None):
    """Run bin/loadgen; preexec runs in the child before exec."""
    cmd = [LOADGEN] + [str(a) for a in args]
    if limit_fds:
        preexec = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (limit_fds, limit_fds))
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=preexec)
    except subprocess.TimeoutExpired:
        raise CaseFailed("hung: %s did not finish in %d s" % (" ".join(cmd), timeout))
    return Run(proc, start, time.monotonic())


def expect_ok(run):
    check(run.rc == 0, "exit %d: %s" % (run.rc, run.err.strip()[:300]))


def expect_error(run, *words):
    """Exit 1 with one line on stderr (besides warnings) that mentions all
    of words."""
    check(run.rc == 1, "exit %d, wanted 1; stderr %r" % (run.rc, run.err[:300]))
    lines = run.said()
    check(len(lines) == 1, "wanted one error line, got %r" % lines)
    for w in words:
        check(w.lower() in lines[0].lower(), "error line lacks %r: %r" % (w, lines[0]))


def nearest_rank(sorted_values, pct):
    n = len(sorted_values)
    rank = max(1, math.ceil(round(pct / 100.0 * n, 6)))
    return sorted_values[rank - 1]


def close_enough(got, want, rel=0.01, abs_us=0.001):
    return abs(got - want) <= max(rel * abs(want), abs_us)


def each_format(target, *args):
    """The same run as --json, as --csv --csv-header and as the summary;
    each must succeed.  Returns the three Runs in that order."""
    runs = [loadgen(*args, *fmt, target) for fmt in (["--json"], ["--csv", "--csv-header"], [])]
    for run in runs:
        expect_ok(run)
    return runs


def csv_row(run):
    """The --csv --csv-header output as a dict of column -> text."""
    header, row = list(csv.reader(run.out.splitlines()))
    return dict(zip(header, row))


def median(values):
    values = sorted(values)
    n = len(values)
    return (values[(n - 1) // 2] + values[n // 2]) / 2


class BinServer(suite.Server):
    """One of the project's echo servers, started on a free port by the
    harness's own launcher (bench/muxbench.py: the ready line, SIGTERM by
    pid at the end); extra arguments (e.g. --udp) are passed on."""

    def __init__(self, path, *extra):
        try:
            super().__init__(os.path.basename(path), args=extra, path=path, plan=None)
        except RuntimeError as e:           # it did not start: say why
            raise CaseFailed(str(e))
        self.target = "127.0.0.1:%d" % self.port


# ---------------------------------------------------------------- cases

def case_help():
    run = loadgen("--help")
    expect_ok(run)
    for opt in ["--conns", "--pipeline", "--size", "--rate", "--connect-per-request",
                "--idle", "--duration", "--warmup", "--requests", "--threads",
                "--server-pid", "--json", "--csv", "--csv-header", "--histogram",
                "--connect-timeout", "--timeout", "--udp", "unix:", "[ADDRESS]", "host name",
                "--save", "--merge", "--probe-wait"]:
        check(opt in run.out, "--help does not mention %s" % opt)


def case_bad_options():
    bad = [
        ["--conns", "0", "127.0.0.1:9"], ["--conns", "many", "127.0.0.1:9"],
        ["--size", "0", "127.0.0.1:9"], ["--size", "99999999", "127.0.0.1:9"],
        ["--pipeline", "-1", "127.0.0.1:9"], ["--rate", "0", "127.0.0.1:9"],
        ["--rate", "fast", "127.0.0.1:9"], ["--duration", "0", "127.0.0.1:9"],
        ["--warmup", "x", "127.0.0.1:9"], ["--threads", "4", "--conns", "2", "127.0.0.1:9"],
        ["--no-such-option", "127.0.0.1:9"], ["--conns"], [],
        [":80"], ["[127.0.0.1:80"], ["127.0.0.1:70000"], ["127.0.0.1"],
        ["unix:"], ["--json", "--csv", "127.0.0.1:9"],
        ["--rate", "100", "--connect-per-request", "127.0.0.1:9"],
        ["127.0.0.1:9", "extra"],
    ]
    for args in bad:
        run = loadgen(*args)
        check(run.rc == 2, "%s: exit %d, wanted 2" % (args, run.rc))
        check(len(run.err_lines()) == 1, "%s: wanted one stderr line, got %r"
              % (args, run.err_lines()))
        check(run.out == "", "%s: printed on stdout" % args)


def replay(values_us, *extra):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join("%.3f" % v for v in values_us) + "\n")
    try:
        run = loadgen("--replay", f.name, "--json", *extra)
    finally:
        os.unlink(f.name)
    expect_ok(run)
    return run.json()


def case_histogram_accuracy():
    rng = random.Random(4)
    sets = {
        "uniform": [rng.uniform(1, 100000) for _ in range(20000)],
        "lognormal": [rng.lognormvariate(4, 1.5) + 1 for _ in range(20000)],
        "bimodal": [rng.gauss(60, 5) if rng.random() < 0.99 else rng.gauss(5000, 500)
                    for _ in range(50000)],
        "tiny": [rng.uniform(1, 3) for _ in range(5000)],
        "seconds": [rng.uniform(1e6, 60e6) for _ in range(3000)],
        "constant": [123.456] * 1000,
        "one": [77.0],
    }
    keys = [("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9), ("p9999", 99.99)]
    for name, values in sets.items():
        values = [max(v, 1.0) for v in values]
        exact = sorted(round(v, 3) for v in values)
        got = replay(exact)
        lat = got["latency_us"]
        check(lat["count"] == len(exact), "%s: count %d != %d" % (name, lat["count"], len(exact)))
        check(close_enough(lat["min"], exact[0], 1e-6), "%s: min %g != %g" % (name, lat["min"], exact[0]))
        check(close_enough(lat["max"], exact[-1], 1e-6), "%s: max %g != %g" % (name, lat["max"], exact[-1]))
        mean = sum(exact) / len(exact)
        check(close_enough(lat["mean"], mean, 1e-6), "%s: mean %g != %g" % (name, lat["mean"], mean))
        sd = math.sqrt(sum((v - mean) ** 2 for v in exact) / len(exact))
        check(close_enough(lat["stdev"], sd, 1e-3, 0.01), "%s: stdev %g != %g" % (name, lat["stdev"], sd))
        for key, pct in keys:
            want = nearest_rank(exact, pct)
            check(close_enough(lat[key], want), "%s: %s %g is not within 1%% of the exact %g"
                  % (name, key, lat[key], want))


def case_histogram_file():
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "hist.dat")
        values = [10 + i % 500 for i in range(10000)]
        with open(os.path.join(d, "v.txt"), "w") as f:
            f.write("\n".join(map(str, values)))
        expect_ok(loadgen("--replay", os.path.join(d, "v.txt"), "--histogram", path))
        rows = [l.split() for l in open(path) if l.strip() and not l.startswith("#")]
    check(len(rows) > 10, "only %d rows" % len(rows))
    check(all(len(r) == 4 for r in rows), "rows must have 4 columns")
    pcts = [float(r[1]) for r in rows]
    vals = [float(r[0]) for r in rows]
    check(pcts == sorted(pcts) and vals == sorted(vals), "not monotonic")
    check(abs(pcts[-1] - 1.0) < 1e-9 and int(rows[-1][2]) == len(values), "last row is not 100%")


def case_histogram_above_range():
    """A latency beyond the histogram's 2^36 ns (68.7 s) must be counted
    and reported, not silently capped into the last bucket."""
    values = [100.0, 2e6, 100e6]        # the last one is 100 s
    got = replay(values)
    lat = got["latency_us"]
    check(lat.get("above_range") == 1, "above_range is %r, wanted 1" % lat.get("above_range"))
    check(close_enough(lat["max"], 100e6, 1e-6), "max %g is not the exact 100 s" % lat["max"])
    check(got.get("latency_lower_bound") is True, "percentiles beyond the range are not "
          "marked as lower bounds")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join("%.3f" % v for v in values) + "\n")
    try:
        human = loadgen("--replay", f.name)
    finally:
        os.unlink(f.name)
    expect_ok(human)
    check("above" in human.out and "68.7 s" in human.out,
          "the summary does not say a sample was above the range: %r" % human.out)


def case_requests_exact():
    with TestServer(echo()) as srv:
        run = loadgen("--requests", 1000, "--conns", 4, "--pipeline", 3, "--size", 100,
                      "--json", srv.target)
        expect_ok(run)
        got = run.json()
        time.sleep(0.2)
        check(got["messages"] == 1000, "reported %d messages" % got["messages"])
        want = 100000 + 4 * PROBE_BYTES
        check(srv.bytes_in == want, "server received %d bytes, wanted %d" % (srv.bytes_in, want))
        check(got["latency_us"]["count"] == 1000, "histogram has %d" % got["latency_us"]["count"])


def case_threads_exact():
    with TestServer(echo()) as srv:
        run = loadgen("--requests", 2001, "--conns", 5, "--threads", 2, "--pipeline", 2,
                      "--idle", 3, "--json", srv.target)
        expect_ok(run)
        got = run.json()
        time.sleep(0.2)
        check(got["messages"] == 2001, "reported %d messages" % got["messages"])
        want = 2001 * 64 + 8 * PROBE_BYTES
        check(srv.bytes_in == want, "server received %d bytes, wanted %d" % (srv.bytes_in, want))
        check(srv.accepts == 8, "server accepted %d connections, wanted 5 + 3 idle" % srv.accepts)


def case_connect_per_request():
    with TestServer(echo()) as srv:
        run = loadgen("--connect-per-request", "--requests", 200, "--conns", 3, "--json",
                      srv.target)
        expect_ok(run)
        got = run.json()
        time.sleep(0.2)
        check(srv.accepts == 200, "server accepted %d connections, wanted 200" % srv.accepts)
        check(got["connections"] == 200 and got["messages"] == 200,
              "reported %d connections, %d messages" % (got["connections"], got["messages"]))
        check(got["connect_latency_us"]["count"] == 200, "connect histogram count")
        check(srv.bytes_in == 200 * 64, "server received %d bytes" % srv.bytes_in)


def case_idle():
    with TestServer(echo()) as srv:
        run = loadgen("--idle", 50, "--conns", 2, "--duration", 0.5, "--warmup", 0,
                      "--json", srv.target)
        expect_ok(run)
        check(srv.accepts == 52, "server accepted %d connections, wanted 52" % srv.accepts)
        check(run.json()["idle"] == 50, "idle not reported")


def case_idle_exact():
    """An idle connection gets its probe's echo and nothing else: a server
    that sends one byte more to a connection silent for 0.2 s (the idle
    ones, after their probe) is an error naming an idle connection."""
    with TestServer(echo_then_speak(0.2)) as srv:
        run = loadgen("--conns", 1, "--idle", 2, "--duration", 1, "--warmup", 0.1, srv.target)
    expect_error(run, "on idle connection")


def case_output_formats():
    with TestServer(echo()) as srv:
        run = loadgen("--requests", 300, "--json", srv.target)
        expect_ok(run)
        check(run.json().get("transport") == "tcp", "JSON transport %r, wanted \"tcp\""
              % run.json().get("transport"))
        tool = subprocess.run([sys.executable, "-m", "json.tool"], input=run.out,
                              capture_output=True, text=True)
        check(tool.returncode == 0, "json.tool rejects the output: %s" % tool.stderr)
        run = loadgen("--requests", 300, "--csv", "--csv-header", srv.target)
        expect_ok(run)
        lines = run.out.splitlines()
        check(len(lines) == 2, "wanted header + row, got %d lines" % len(lines))
        header, row = list(csv.reader(lines))
        check(len(header) == len(row), "header %d columns, row %d" % (len(header), len(row)))
        check(header[27] == "server_peak_rss_kib" and header[28:] == CSV_ADDED,
              "the added CSV columns must follow the first 28, in order: %s" % header[27:])
        check(dict(zip(header, row))["messages"] == "300", "messages column")
        check(dict(zip(header, row))["transport"] == "tcp", "transport column")
        alone = loadgen("--csv-header")
        expect_ok(alone)
        check(alone.out.splitlines() == [lines[0]], "--csv-header alone differs")
        human = loadgen("--requests", 300, srv.target)
        expect_ok(human)
        check("p99.9" in human.out and "round trip" in human.out, "summary lacks the latency table")


def case_delay_bracket():
    delay_ms = 20
    with TestServer(echo(delay_ms / 1000)) as srv:
        run = loadgen("--conns", 2, "--duration", 1, "--warmup", 0.2, "--json", srv.target)
        expect_ok(run)
        lat = run.json()["latency_us"]
    check(lat["count"] > 10, "only %d samples" % lat["count"])
    check(lat["min"] >= delay_ms * 1000, "min %.0f us is below the server's %d ms delay"
          % (lat["min"], delay_ms))
    # Upper side: generous, the test server is Python on a shared machine.
    check(lat["p50"] < 3 * delay_ms * 1000, "p50 %.0f us is far above the %d ms delay"
          % (lat["p50"], delay_ms))


def case_stall_open_loop():
    with TestServer(stall_once(1.0, 1.0)) as srv:
        run = loadgen("--rate", 1000, "--conns", 2, "--duration", 3, "--warmup", 0,
                      "--json", srv.target)
        expect_ok(run)
        got = run.json()
    corrected = got["latency_us"]["p99"]
    uncorrected = got["uncorrected_latency_us"]["p99"]
    check(got["messages"] == 3000, "sent %d messages on a 3000-message schedule" % got["messages"])
    check(corrected >= 500000, "corrected p99 %.0f us does not show the 1 s stall" % corrected)
    check(uncorrected < 500000, "uncorrected p99 %.0f us shows the stall" % uncorrected)


def case_rate_schedule():
    with TestServer(echo()) as srv:
        run = loadgen("--rate", 2000, "--conns", 2, "--threads", 2, "--duration", 1,
                      "--warmup", 0.5, "--json", srv.target)
        expect_ok(run)
        got = run.json()
        time.sleep(0.2)
    # Measured: the 2000 messages scheduled in the measured second; the
    # server also saw the 1000 of warmup, and the two probes.
    check(got["messages"] == 2000, "measured %d messages, schedule has 2000" % got["messages"])
    want = 3000 * 64 + 2 * PROBE_BYTES
    check(srv.bytes_in == want, "server received %d bytes, wanted %d" % (srv.bytes_in, want))


def case_exit_after_last_reply():
    """A fixed-work run must exit within a few ms of its last reply.  Main
    used to poll in 50 ms steps, so every --requests run ended up to 50 ms
    late (here 40-50 ms: the work takes a few ms of the first step).  Median of
    7 runs, so one slow start on a busy machine does not decide it."""
    gaps = []
    with TestServer(echo()) as srv:
        for _ in range(7):
            srv.last_reply_time = None
            run = loadgen("--requests", 100, "--json", srv.target)
            expect_ok(run)
            check(srv.last_reply_time is not None, "the server sent no reply")
            gaps.append(run.end - srv.last_reply_time)
    gap = median(gaps)
    check(gap < 0.025, "loadgen exited %.1f ms (median) after the last reply; runs: %s ms"
          % (gap * 1000, " ".join("%.1f" % (g * 1000) for g in gaps)))


def case_achieved_rate():
    """Open loop: msg/s is the rate achieved (messages over the time to the
    last reply), not the requested rate; a run that did not keep up says
    so.  One connection to a server that delays 5 ms: at most 200 msg/s."""
    with TestServer(echo(0.005)) as srv:
        run, csv_run, human = each_format(srv.target, "--rate", 400, "--conns", 1,
                                          "--duration", 0.25, "--warmup", 0)
    got = run.json()
    check(got.get("requested_rate") == 400, "requested_rate %r" % got.get("requested_rate"))
    check(got["msgs_per_s"] < 0.95 * 400, "msgs_per_s %.1f: the server can answer only "
          "200/s" % got["msgs_per_s"])
    want = got["messages"] / got["measured_s"]
    check(close_enough(got["msgs_per_s"], want), "msgs_per_s %.1f != messages / measured_s "
          "%.1f" % (got["msgs_per_s"], want))
    check(got.get("kept_up") is False, "kept_up %r" % got.get("kept_up"))
    check("below 95% of the requested 400 msg/s" in run.err, "no warning: %r" % run.err)
    row = csv_row(csv_run)
    check(row.get("requested_rate") == "400" and row.get("kept_up") == "0",
          "CSV requested_rate %r, kept_up %r" % (row.get("requested_rate"), row.get("kept_up")))
    check("requested 400" in human.out, "the summary does not show the requested rate")
    with TestServer(echo()) as srv:
        fast = loadgen("--rate", 200, "--conns", 2, "--duration", 1, "--warmup", 0,
                       "--json", srv.target)
        closed = loadgen("--requests", 100, "--json", srv.target)
    expect_ok(fast)
    expect_ok(closed)
    check(fast.json().get("kept_up") is True, "200 msg/s to a plain echo server: kept_up %r"
          % fast.json().get("kept_up"))
    check("keep up" not in fast.err, "warned although it kept up: %r" % fast.err)
    got = closed.json()
    check("requested_rate" in got and got["requested_rate"] is None and got["kept_up"] is None,
          "closed loop: requested_rate and kept_up must be null")


def fault_case(fault, *words):
    def case():
        with TestServer(faulty(fault)) as srv:
            run = loadgen("--duration", 3, "--warmup", 0, "--timeout", 1, srv.target)
        expect_error(run, *words)
    return case


def case_lost_in_tail():
    """A server that stops answering mid-run (at stream offset 1000): the
    messages that never got a reply are counted as lost and recorded at
    the time they were given up, so the tail shows the --timeout; closed
    loop (in flight) and open loop (in flight, and still on the schedule
    when every connection had failed)."""
    timeout_s = 0.3
    for mode in (["--pipeline", 4], ["--rate", 500]):
        with TestServer(faulty("truncate")) as srv:
            run = loadgen("--conns", 2, "--duration", 1, "--warmup", 0, "--timeout",
                          timeout_s, "--json", *mode, srv.target)
        check(run.rc == 1, "%s: exit %d, wanted 1" % (mode[0], run.rc))
        got = run.json()
        lat = got["latency_us"]
        check(got.get("lost", 0) > 0, "%s: lost %r" % (mode[0], got.get("lost")))
        check(lat["count"] == got["messages"] + got["lost"], "%s: histogram count %d != "
              "messages %d + lost %d" % (mode[0], lat["count"], got["messages"], got["lost"]))
        for key in ("p99", "max"):
            check(lat[key] >= timeout_s * 1e6, "%s: %s %.0f us is below the %g s timeout"
                  % (mode[0], key, lat[key], timeout_s))
        check(got.get("latency_lower_bound") is True, "%s: percentiles not marked as lower "
              "bounds" % mode[0])
        # The interval runs to the last loss, not the last reply (~1 ms in).
        check(got["measured_s"] >= timeout_s, "%s: measured %.3f s, less than the timeout "
              "that ended it" % (mode[0], got["measured_s"]))
    # A message sent in warmup and lost after it counts (blocking's unserved
    # clients send their one message at the start): a server that never
    # answers a connection, with a warmup shorter than the timeout.
    with TestServer(echo(), accept=False) as srv:
        run = loadgen("--conns", 1, "--duration", 0.2, "--warmup", 0.1, "--timeout",
                      timeout_s, "--json", srv.target)
    got = run.json()
    check(got.get("lost") == 1 and got["latency_us"]["max"] >= timeout_s * 1e6,
          "a message sent in warmup, never answered: lost %r, max %r us"
          % (got.get("lost"), got["latency_us"]["max"]))
    with TestServer(faulty("truncate")) as srv:
        human = loadgen("--duration", 1, "--warmup", 0, "--timeout", timeout_s, srv.target)
    check("lower bound" in human.out and " lost" in human.out,
          "the summary does not say the latencies are lower bounds: %r" % human.out)


def case_unix_and_ipv6():
    for family in (socket.AF_UNIX, socket.AF_INET6):
        try:
            srv = TestServer(echo(), family=family)
        except OSError as e:
            if family == socket.AF_INET6:
                continue        # no IPv6 loopback on this machine: nothing to test
            raise
        with srv:
            run = loadgen("--requests", 500, "--conns", 2, "--json", srv.target)
            expect_ok(run)
            run = loadgen("--requests", 100, "--connect-per-request", "--json", srv.target)
            expect_ok(run)
            time.sleep(0.1)
            check(srv.accepts == 102, "%s: %d accepts, wanted 102" % (srv.target, srv.accepts))


def case_any_address():
    """Any address a user gives is a target, not only loopback (the tools
    serve real networks; this suite sends load only to this machine):
    0.0.0.0 and an IPv4-mapped IPv6 address both reach a local server, and
    so does localhost.  Before, anything but 127.0.0.0/8 and ::1 was bad
    usage."""
    with TestServer(echo()) as srv:
        port = srv.target.rsplit(":", 1)[1]
        for target in ("0.0.0.0:" + port, "[::ffff:127.0.0.1]:" + port, "localhost:" + port):
            run = loadgen("--requests", 50, "--json", target)
            check(run.rc == 0, "%s: exit %d: %s" % (target, run.rc, run.err.strip()))
            check(run.json()["messages"] == 50, "%s: %d messages" % (target, run.json()["messages"]))


def case_refused():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                   # bound, never listened: nothing there now
    expect_error(loadgen("127.0.0.1:%d" % port), "refused")
    expect_error(loadgen("--connect-per-request", "127.0.0.1:%d" % port), "refused")
    expect_error(loadgen("unix:/nonexistent/loadgen.sock"), "no such socket")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                   # nothing receives there now: ICMP port unreachable
    expect_error(loadgen("--udp", "--requests", 10, "127.0.0.1:%d" % port), "refused")


def case_connect_timeout():
    # Never accepts and has a 1-entry queue: further SYNs are dropped.
    with TestServer(echo(), backlog=0, accept=False) as srv:
        run = loadgen("--conns", 20, "--connect-timeout", 1, srv.target, timeout=15)
    expect_error(run, "connect-timeout")


def case_open_files_limit():
    with TestServer(echo()) as srv:
        run = loadgen("--conns", 100, srv.target, limit_fds=64)
    expect_error(run, "ulimit -n")


def case_server_pid():
    with TestServer(echo()) as srv:
        run = loadgen("--duration", 1, "--warmup", 0.2, "--conns", 4, "--server-pid",
                      os.getpid(), "--json", srv.target)
        expect_ok(run)
        got = run.json()
    cpu = got["server_cpu"]
    check(cpu is not None, "no server_cpu with --server-pid")
    check(cpu["user_s"] + cpu["sys_s"] > 0, "server CPU time is zero")
    check(cpu["peak_rss_kib"] > 0, "server RSS is zero")
    check(got["loadgen_cpu"]["user_s"] + got["loadgen_cpu"]["sys_s"] > 0, "own CPU is zero")


def case_server_pid_fork():
    """The server's CPU time must count many children that each ran less
    than a clock tick: 50 children, each burning 0.2 ms of CPU per message
    for about 22 messages (~5 ms each, half a tick), 200 ms in all in the
    measured interval.  Counting whole ticks per child gives about 0."""
    conns, rate, burn_s, size = 50, 500, 0.0002, 64
    proc = subprocess.Popen([sys.executable, "-c", FORK_BURN_SERVER, str(size), str(burn_s)],
                            stdout=subprocess.PIPE, text=True)
    try:
        port = proc.stdout.readline().strip()
        check(port.isdigit(), "the forking test server did not start")
        run = loadgen("--conns", conns, "--rate", rate, "--warmup", 0.2, "--duration", 2,
                      "--size", size, "--server-pid", proc.pid, "--json", "127.0.0.1:" + port)
    finally:
        proc.send_signal(signal.SIGTERM)               # by PID: ours only
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    expect_ok(run)
    got = run.json()
    burned = got["messages"] * burn_s   # at least: children burn before they echo
    cpu = got["server_cpu"]["user_s"] + got["server_cpu"]["sys_s"]
    # A lower bound with a wide margin; no upper bound: the interpreter
    # costs what it costs.
    check(cpu >= burned / 2, "server CPU %.3f s, but its children burned at least %.3f s "
          "for the %d measured messages" % (cpu, burned, got["messages"]))


def case_own_wait_not_a_neighbour():
    """loadgen's run-queue wait is the wait its workers had behind other
    tasks, not behind its own sampling thread: against a fork server of
    1000 children, loadgen alone on one CPU and the server on the other,
    sampling their memory made the worker wait 48-52% of the window, and
    the run was called disturbed whatever the neighbours did."""
    if len(os.sched_getaffinity(0)) < 2:
        raise CaseSkipped("needs 2 CPUs: the server on one, loadgen alone on the other")
    server_cpu, loadgen_cpu = sorted(os.sched_getaffinity(0))[:2]
    path = os.path.join(BINDIR, "echo-fork")
    check(os.path.exists(path), "%s is not built" % path)
    with suite.Server("echo-fork", cpu=server_cpu, path=path, plan=None, nofile=4096,
                      args=("--backlog", 2048)) as srv:
        run = loadgen("--conns", 1000, "--duration", 1, "--warmup", 0.5, "--json",
                      "--server-pid", srv.pid, "127.0.0.1:%d" % srv.port,
                      preexec=lambda: os.sched_setaffinity(0, {loadgen_cpu}))
    expect_ok(run)
    got = run.json()
    wait = got["loadgen_cpu"]["runq_wait_s"] / got["measured_s"] * 100
    steal = (got.get("host") or {}).get("steal_pct") or 0
    if wait >= 10 and steal >= 5:
        raise CaseSkipped("the host lost %.0f%% of its CPU time to steal: rerun on a quieter "
                          "machine" % steal)
    check(wait < 10, "loadgen waited %.1f%% of the window for its CPU, with nothing else "
          "on it" % wait)


def case_loadgen_cpu_pct():
    """loadgen's own CPU as a share of the measured wall time, so that a
    client-bound run can be told from a server-bound one."""
    with TestServer(echo()) as srv:
        run, csv_run, human = each_format(srv.target, "--requests", 2000)
    got = run.json()
    cpu = got["loadgen_cpu"]
    check("cpu_pct" in cpu, "no loadgen_cpu.cpu_pct")
    want = (cpu["user_s"] + cpu["sys_s"]) / got["measured_s"] * 100
    slack = 0.2 / got["measured_s"] + 0.01      # user_s and sys_s are rounded to 1 ms
    check(0 < cpu["cpu_pct"] and abs(cpu["cpu_pct"] - want) <= slack,
          "cpu_pct %.3f, but (user + sys) / measured_s is %.3f %%" % (cpu["cpu_pct"], want))
    pct = csv_row(csv_run).get("loadgen_cpu_pct", "")
    check(pct != "" and float(pct) > 0, "CSV loadgen_cpu_pct %r" % pct)
    check("% CPU" in human.out, "the summary does not show loadgen's CPU %")


def case_loadgen_own_rss():
    """loadgen's peak RSS must be its own, not its parent's: getrusage's
    ru_maxrss survives exec, so a harness written in Python would see the
    interpreter's peak.  The child touches 200 MiB before it execs."""
    def touch_200_mib():
        global _ballast
        _ballast = bytearray(200 << 20)     # zero-filled: every page touched
    with TestServer(echo()) as srv:
        run = loadgen("--requests", 100, "--json", srv.target, preexec=touch_200_mib)
    expect_ok(run)
    kib = run.json()["loadgen_cpu"]["peak_rss_kib"]
    check(0 < kib < 100 * 1024, "loadgen's peak RSS %d KiB: the parent's 200 MiB before "
          "exec is not loadgen's" % kib)


def case_server_pss_fork():
    """A fork server's children share most of their pages: summed RSS
    counts them once per process, summed PSS divides them among the
    sharers.  With 20 connections PSS must be well below RSS, and not 0."""
    path = os.path.join(BINDIR, "echo-fork")
    check(os.path.exists(path), "%s is not built" % path)
    with BinServer(path) as srv:
        run, csv_run, human = each_format(srv.target, "--conns", 20, "--duration", 0.5,
                                          "--warmup", 0.1, "--server-pid", srv.pid)
    cpu = run.json()["server_cpu"]
    rss, pss = cpu["peak_rss_kib"], cpu.get("peak_pss_kib")
    check(pss is not None and 0 < pss < rss / 2, "server peak PSS %r KiB, RSS %d KiB: "
          "PSS must be above 0 and well below RSS" % (pss, rss))
    row = csv_row(csv_run)
    check(row.get("server_peak_pss_kib", "") not in ("", "0"),
          "CSV server_peak_pss_kib %r" % row.get("server_peak_pss_kib"))
    check("PSS" in human.out, "the summary does not show the server's PSS")


def case_server_syscalls():
    """--server-syscalls counts the server's calls over the window from the
    kernel's tracepoints: against echo-epoll on one connection each message
    is exactly one read, one write and at most one epoll_wait (what the
    model does, not how fast), every format says so, and 'other' is what
    the names leave.  Without --server-pid it is bad usage; where counting
    is not allowed (not root), loadgen says so in one line and exits 1."""
    path = os.path.join(BINDIR, "echo-epoll")
    run = loadgen("--server-syscalls", "--duration", 0.1, "127.0.0.1:1")
    check(run.rc == 2 and "--server-pid" in run.err, "--server-syscalls without "
          "--server-pid: exit %d, %r" % (run.rc, run.err.strip()))
    with BinServer(path) as srv:
        run, _, human = each_format(srv.target, "--conns", 1, "--duration", 0.5, "--warmup",
                                    0.1, "--server-pid", srv.pid, "--server-syscalls")
    if run.rc == 1 and "--server-syscalls" in run.err and os.geteuid() != 0:
        raise CaseSkipped(run.err.strip().splitlines()[-1])
    got = run.json()
    calls = got["server_syscalls"]
    # the counters are turned on a few ms into the window: the figures are
    # per message done while they counted (taken against the whole window,
    # epoll showed 0.88 reads a message on a machine losing a third of its
    # CPU to steal)
    n = calls.get("messages")
    check(n is not None and 0 < n <= got["messages"], "server_syscalls.messages %r of %d "
          "measured" % (n, got["messages"]))
    named = calls["calls"]
    edge = max(2, 0.03 * n)
    check(n > 0 and abs(named.get("read", 0) - n) <= edge and
          abs(named.get("write", 0) - n) <= edge,
          "echo-epoll, 1 connection, %d messages: %r" % (n, calls))
    check(named.get("epoll_wait", 0) <= n + edge and
          calls["total"] == sum(named.values()) + calls["other"],
          "the counts do not add up: %r" % calls)
    check(abs(calls["per_msg"] - calls["total"] / n) < 0.01, "per_msg %r" % calls["per_msg"])
    line = re.search(r"syscalls server [\d.]+ per message:.* read ([\d.]+)", human.out)
    check(line and abs(float(line.group(1)) - 1) <= 0.03,
          "the summary has no syscalls line with one read per message: %r" % human.out)


def case_monitor():
    """--monitor PID samples a process tree's CPU and memory with
    CLOCK_REALTIME: a header, then cpu lines every 20 ms whose CPU never
    falls and grows while it works, mem lines with RSS and PSS; it ends by
    itself when the process does.  Anything else beside --monitor is bad
    usage."""
    busy = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 0.6\n"
                             "while time.time() < end: pass"])
    try:
        mon = subprocess.run([LOADGEN, "--monitor", str(busy.pid)], capture_output=True,
                             text=True, timeout=10)
    finally:
        busy.wait()
    lines = mon.stdout.splitlines()
    check(mon.returncode == 0,
          "--monitor exit %d: %r" % (mon.returncode, mon.stderr))
    check(lines and lines[0].split()[:2] == ["monitor", str(busy.pid)],
          "no header: %r" % lines[:1])
    cpu = [tuple(map(int, l.split()[1:])) for l in lines if l.startswith("cpu ")]
    mem = [tuple(map(int, l.split()[1:])) for l in lines if l.startswith("mem ")]
    check(len(cpu) >= 10 and mem, "%d cpu and %d mem samples in 0.6 s" % (len(cpu), len(mem)))
    now_ns = time.time_ns()
    check(all(abs(t - now_ns) < 60e9 for t, _ in cpu), "the times are not CLOCK_REALTIME")
    check(all(b[0] >= a[0] and b[1] >= a[1] for a, b in zip(cpu, cpu[1:])),
          "time or CPU went backwards: %r" % cpu[:5])
    check(cpu[-1][1] - cpu[0][1] > 0.2e9, "a busy loop used %.3f s of CPU in 0.6 s"
          % ((cpu[-1][1] - cpu[0][1]) / 1e9))
    check(all(rss > 0 for _, rss, _ in mem), "RSS %r" % mem[:3])
    run = loadgen("--monitor", os.getpid(), "--conns", 2)
    check(run.rc == 2 and "--monitor" in run.err, "--monitor with --conns: exit %d, %r"
          % (run.rc, run.err.strip()))


def uring_allowed(path):
    """False where the kernel or a sandbox forbids io_uring: the uring
    server then says so in one line and exits 1."""
    proc = subprocess.Popen([path, "--port", "0", "--quiet"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=0.5)
    except subprocess.TimeoutExpired:   # still running: it started
        proc.send_signal(signal.SIGTERM)
        proc.communicate()
        return True
    return not (proc.returncode == 1 and "io_uring" in err)


def case_backends():
    """Every echo server of the project, when built: exact counts, every
    connection served in the connect phase, and the CPU accounting of
    threads and forked children."""
    found = 0
    for name in BACKENDS:
        path = os.path.join(BINDIR, "echo-" + name)
        check(os.path.exists(path), "%s missing: make builds every backend" % path)
        facts = suite.describe(BINDIR, name)
        if facts.get("family") == "completion" and not uring_allowed(path):
            continue            # the echo suite says so; nothing here to measure
        found += 1
        conns = 1 if facts.get("serves") == "one" else 8   # one client at a time
        with BinServer(path) as srv:
            run = loadgen("--requests", 3000, "--conns", conns, "--pipeline", 2,
                          "--server-pid", srv.pid, "--json", srv.target)
            check(run.rc == 0, "%s: exit %d: %s" % (name, run.rc, run.err.strip()))
            got = run.json()
            check(got["messages"] == 3000, "%s: %d messages" % (name, got["messages"]))
            check(got["server_cpu"] is not None, "%s: no server CPU" % name)
            expect_phase(name, got, conns, conns, 0)    # served all before warmup
            run = loadgen("--connect-per-request", "--requests", 100, "--conns", conns,
                          "--json", srv.target)
            check(run.rc == 0, "%s: connect-per-request exit %d: %s"
                  % (name, run.rc, run.err.strip()))
            check(run.json()["connections"] == 100, "%s: connections" % name)
    check(found > 0, "no bin/echo-* found in %s" % BINDIR)


def udp_run(target, *args):
    """A --udp --json run; returns the Run and its JSON."""
    run = loadgen("--udp", "--json", *args, target)
    return run, run.json()


def expect_udp_counts(what, got, messages, lost=0, errors=0):
    check(got.get("transport") == "udp", "%s: transport %r" % (what, got.get("transport")))
    for key, want in (("messages", messages), ("lost", lost), ("errors", errors)):
        check(got.get(key) == want, "%s: %s %r, wanted %d" % (what, key, got.get(key), want))
    check(got["latency_us"]["count"] == messages + lost, "%s: histogram count %d != messages "
          "%d + lost %d" % (what, got["latency_us"]["count"], messages, lost))


def case_udp_backends():
    """--udp against the project's event loops started with --udp: exact
    counts, nothing lost, closed and open loop, smallest and largest size."""
    udp = [b for b in BACKENDS if suite.describe(BINDIR, b).get("udp") == "yes"]
    check(udp, "no backend says udp=yes")
    for name in udp:
        path = os.path.join(BINDIR, "echo-" + name)
        check(os.path.exists(path), "%s is not built" % path)
        with BinServer(path, "--udp") as srv:
            runs = [("closed", 3000, ["--requests", 3000, "--conns", 4, "--pipeline", 2]),
                    ("open", 500, ["--rate", 2000, "--duration", 0.25, "--warmup", 0,
                                   "--conns", 2]),
                    ("--size 8", 200, ["--requests", 200, "--size", 8]),
                    ("--size 65507", 200, ["--requests", 200, "--size", 65507])]
            for what, want, args in runs:
                run, got = udp_run(srv.target, *args)
                expect_ok(run)
                expect_udp_counts("echo-%s, %s" % (name, what), got, want)
    with BinServer(os.path.join(BINDIR, "echo-epoll"), "--udp") as srv:
        human = loadgen("--udp", "--requests", 100, srv.target)
        csv_run = loadgen("--udp", "--requests", 100, "--csv", "--csv-header", srv.target)
    expect_ok(human)
    check("UDP" in human.out and "0 lost" in human.out, "the summary: %r" % human.out[:200])
    expect_ok(csv_run)
    check(csv_row(csv_run).get("transport") == "udp", "CSV transport %r"
          % csv_row(csv_run).get("transport"))


def case_udp_lost():
    """A server that drops every 50th datagram: exactly those are lost,
    counted in the tail at --timeout or more, the socket goes on, and the
    run exits 1 with one line; closed and open loop."""
    timeout_s = 0.2
    for what, args in (("closed", ["--requests", 500, "--conns", 2, "--pipeline", 4]),
                       ("open", ["--rate", 1000, "--duration", 0.5, "--warmup", 0,
                                 "--conns", 2, "--pipeline", 4])):
        with UdpTestServer("drop", every=50) as srv:
            run, got = udp_run(srv.target, "--timeout", timeout_s, *args)
        # 500 datagrams and the two sockets' probes, the first two it gets
        check(srv.received == 502 and srv.dropped == 10, "%s: the server received %d "
              "datagrams, dropped %d; wanted 502, 10" % (what, srv.received, srv.dropped))
        expect_udp_counts(what, got, 490, lost=10)
        check(run.rc == 1 and len(run.said()) == 1 and "10 of 500" in run.err,
              "%s: exit %d, stderr %r" % (what, run.rc, run.err))
        lat = got["latency_us"]
        for key in ("p99", "max"):          # 10 of 500 lost: 2% of the samples
            check(lat[key] >= timeout_s * 1e6, "%s: %s %.0f us is below the %g s timeout"
                  % (what, key, lat[key], timeout_s))
        check(lat["p50"] < timeout_s * 1e6 / 2, "%s: p50 %.0f us: the replies that came "
              "are not that slow" % (what, lat["p50"]))
        check(got.get("latency_lower_bound") is True, "%s: not marked as lower bounds" % what)
    with UdpTestServer("drop", every=50) as srv:
        human = loadgen("--udp", "--requests", 100, "--timeout", timeout_s, srv.target)
    check("0 errors, 2 lost" in human.out and "lower bound" in human.out,
          "the summary: %r" % human.out[:300])


def case_udp_corrupt():
    """A changed byte is a corruption error; the datagram has no correct
    reply, so it is lost too."""
    with UdpTestServer("corrupt", at=10) as srv:
        run, got = udp_run(srv.target, "--requests", 100, "--timeout", 0.2)
    expect_error(run, "wrong byte", "datagram")
    expect_udp_counts("corrupt", got, 99, lost=1, errors=1)


def case_udp_dup():
    """A reply sent twice is one reply and one error: counted once.  In
    closed loop the next datagram has its slot when the copy comes; in
    open loop, between due times, nothing has."""
    for what, args in (("closed", ["--requests", 100, "--pipeline", 2]),
                       ("open", ["--rate", 500, "--duration", 0.2, "--warmup", 0,
                                 "--pipeline", 2])):
        with UdpTestServer("dup", at=10) as srv:
            run, got = udp_run(srv.target, *args)
        check(srv.received == 101, "%s: the server received %d datagrams, wanted 100 "
              "and the probe" % (what, srv.received))
        expect_error(run, "not in flight")
        expect_udp_counts(what, got, 100, errors=1)


def case_udp_refusals():
    """What --udp cannot mean: exit 2 and one line that says why.  (Before
    --udp existed, each of these was exit 2 too, as an unknown option.)"""
    bad = [(["--connect-per-request"], "connect-per-request"), (["--idle", 2], "idle"),
           (["--size", 7], "65507"), (["--size", 65508], "65507")]
    for args, word in [(a + ["127.0.0.1:9"], w) for a, w in bad] + [
            (["unix:/tmp/loadgen-test.sock"], "unix:"), (["tcp://127.0.0.1:9"], "tcp://")]:
        run = loadgen("--udp", *args)
        lines = run.err_lines()
        check(run.rc == 2 and len(lines) == 1 and run.out == "", "%s: exit %d, stderr %r"
              % (args, run.rc, lines))
        check(word in lines[0] and "unknown option" not in lines[0],
              "%s: the error line does not say why: %r" % (args, lines[0]))


def saved_json(path):
    """The --json object inside a --save file (after its 'json BYTES' line)."""
    with open(path) as f:
        text = f.read()
    lines = text.split("\n")
    check(re.match(r"loadgen-save \d+$", lines[0]), "the save file starts with %r" % lines[0])
    at = text.index("\njson ") + 1
    head, rest = text[at:].split("\n", 1)
    size = int(head.split()[1])
    return json.loads(rest[:size])


def write_values(path, values_us):
    with open(path, "w") as f:
        f.write("\n".join("%.3f" % v for v in values_us) + "\n")


def case_merge_replay():
    """The acceptance check of merging: two saved --replay runs of different
    lists, merged, against a --replay of both lists together: count, min and
    max exact, every percentile within the histogram's 1% (and the same
    buckets, so equal to the joint replay's); the JSON in a save is --json's."""
    rng = random.Random(7)
    lists = [[rng.uniform(1, 2000) for _ in range(20000)],
             [rng.lognormvariate(6, 1.2) + 1 for _ in range(7000)]]
    keys = [("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9), ("p9999", 99.99)]
    with tempfile.TemporaryDirectory() as d:
        saves = []
        for i, values in enumerate(lists):
            txt, save = os.path.join(d, "%d.txt" % i), os.path.join(d, "%d.save" % i)
            write_values(txt, values)
            run = loadgen("--replay", txt, "--json", "--save", save)
            expect_ok(run)
            check(saved_json(save) == run.json(), "the save's JSON is not that of --json")
            saves.append(save)
        both = os.path.join(d, "both.txt")
        write_values(both, lists[0] + lists[1])
        joint = loadgen("--replay", both, "--json")
        expect_ok(joint)
        run = loadgen("--merge", *saves, "--json")
        expect_ok(run)
        merged, joint = run.json()["latency_us"], joint.json()["latency_us"]
        exact = sorted(round(v, 3) for v in lists[0] + lists[1])
        check(merged["count"] == len(exact), "count %d != %d" % (merged["count"], len(exact)))
        check(merged["min"] == round(exact[0], 3) and merged["max"] == round(exact[-1], 3),
              "min/max %g/%g, wanted %g/%g" % (merged["min"], merged["max"], exact[0], exact[-1]))
        for key, pct in keys:
            want = nearest_rank(exact, pct)
            check(close_enough(merged[key], want), "%s %g is not within 1%% of the exact %g"
                  % (key, merged[key], want))
            check(merged[key] == joint[key], "%s %g differs from the joint replay's %g"
                  % (key, merged[key], joint[key]))
        check(close_enough(merged["mean"], joint["mean"], 1e-9), "mean %g != %g"
              % (merged["mean"], joint["mean"]))
        # The other output formats of a merge.
        hist = os.path.join(d, "h.dat")
        expect_ok(loadgen("--merge", *saves, "--histogram", hist))
        rows = [l.split() for l in open(hist) if l.strip() and not l.startswith("#")]
        check(rows and int(rows[-1][2]) == len(exact), "the merged --histogram file lacks samples")
        row = csv_row(loadgen("--merge", *saves, "--csv", "--csv-header"))
        check(row["messages"] == str(len(exact)), "CSV messages %r" % row["messages"])


def case_merge_runs():
    """Two real runs started together against one server, saved and merged:
    messages and connections summed, msg/s close to the sum of the runs'."""
    with TestServer(echo()) as srv, tempfile.TemporaryDirectory() as d:
        saves = [os.path.join(d, "%d.save" % i) for i in range(2)]
        procs = [subprocess.Popen([LOADGEN, "--conns", str(conns), "--duration", "1",
                                   "--warmup", "0.2", "--json", "--save", save, srv.target],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for conns, save in zip((2, 3), saves)]
        outs = [p.communicate(timeout=LOADGEN_TIMEOUT_S) for p in procs]
        for p, (out, err) in zip(procs, outs):
            check(p.returncode == 0, "a run exited %d: %s" % (p.returncode, err.strip()[:300]))
        runs = [json.loads(out) for out, _ in outs]
        run = loadgen("--merge", *saves, "--json")
        expect_ok(run)
        got = run.json()
    for key in ("messages", "connections", "conns"):
        want = sum(r[key] for r in runs)
        check(got[key] == want, "%s %d, wanted the sum %d" % (key, got[key], want))
    check(got["latency_us"]["count"] == got["messages"], "latency count %d"
          % got["latency_us"]["count"])
    check(got["latency_us"]["min"] == min(r["latency_us"]["min"] for r in runs) and
          got["latency_us"]["max"] == max(r["latency_us"]["max"] for r in runs),
          "min/max are not the runs' extremes")
    rate = sum(r["msgs_per_s"] for r in runs)
    check(abs(got["msgs_per_s"] - rate) <= 0.2 * rate, "msg/s %.1f is not within 20%% of "
          "the summed %.1f" % (got["msgs_per_s"], rate))
    check(got["measured_s"] >= max(r["measured_s"] for r in runs) - 1e-6,
          "the merged window %.6f s is shorter than a run's" % got["measured_s"])
    # Each loadgen probed its own connections and waited on its own CPUs;
    # the host's steal is the worst any run saw.
    for key in ("held", "served", "waiting"):
        want = sum(r["connect_phase"][key] for r in runs)
        check(got["connect_phase"][key] == want, "connect_phase.%s %d, wanted the sum %d"
              % (key, got["connect_phase"][key], want))
    want = sum(r["loadgen_cpu"]["runq_wait_s"] for r in runs)
    check(abs(got["loadgen_cpu"]["runq_wait_s"] - want) < 2e-6, "loadgen runq_wait_s %r, "
          "wanted the sum %r" % (got["loadgen_cpu"]["runq_wait_s"], want))
    steals = [r["host"]["steal_pct"] for r in runs if r["host"]["steal_pct"] is not None]
    check(got["host"]["steal_pct"] == (max(steals) if steals else None), "steal_pct %r, "
          "wanted the most of %r" % (got["host"]["steal_pct"], steals))


def case_merge_refusals():
    """What --merge cannot take: one line, exit 2 (1 for a file it cannot
    open, as for --replay), nothing on stdout."""
    with tempfile.TemporaryDirectory() as d:
        txt, closed, opened, udp = (os.path.join(d, n) for n in
                                    ("v.txt", "closed.save", "open.save", "udp.save"))
        write_values(txt, [10, 20, 30])
        expect_ok(loadgen("--replay", txt, "--save", closed))
        loadgen("--replay", txt, "--rate", 100, "--save", opened)   # did not keep up: 0 msg/s
        expect_ok(loadgen("--replay", txt, "--udp", "--save", udp))
        layout = os.path.join(d, "layout.save")
        with open(closed) as f, open(layout, "w") as g:
            g.write(f.read().replace("\nlayout 7 36 3840\n", "\nlayout 8 36 7424\n", 1))
        truncated = os.path.join(d, "truncated.save")
        with open(closed) as f, open(truncated, "w") as g:
            g.write(f.read()[:-4])
        cases = [
            (["--merge", txt], 2, "not a file of loadgen --save"),
            (["--merge", closed, truncated], 2, "line"),
            (["--merge", closed, layout], 2, "layout"),
            (["--merge", os.path.join(d, "missing.save")], 1, "no such file"),
            (["--merge", closed, "127.0.0.1:9"], 2, "not a target"),
            (["--merge"], 2, "--save"),
            (["--merge", closed, opened], 2, "mode"),
            (["--merge", closed, udp], 2, "transport"),
            (["--merge", "--conns", 4, closed], 2, "--conns has no meaning"),
            (["--server-pid", 1, "--merge", closed], 2, "--server-pid has no meaning"),
        ]
        for args, rc, word in cases:
            run = loadgen(*args)
            check(run.rc == rc, "%s: exit %d, wanted %d (%r)" % (args[1:], run.rc, rc, run.err))
            lines = run.err_lines()
            check(len(lines) == 1, "%s: wanted one stderr line, got %r" % (args[1:], lines))
            check(word.lower() in lines[0].lower(), "%s: %r lacks %r" % (args[1:], lines[0], word))
            check(run.out == "", "%s: printed on stdout" % args[1:])


def strict_json(text):
    """json.loads, but NaN and Infinity (which Python accepts) are errors."""
    def refuse(name):
        raise ValueError("%s is not JSON" % name)
    try:
        return json.loads(text, parse_constant=refuse)
    except ValueError as e:
        raise CaseFailed("not strict JSON (%s): %r" % (e, text[:200]))


def tamper(src, dst, prefix, new, nth=1):
    """Copy the save src to dst with its nth line that starts with prefix
    replaced by new; returns that line's number (from 1)."""
    with open(src) as f:
        lines = f.read().split("\n")
    hits = [i for i, line in enumerate(lines) if line.startswith(prefix)]
    check(len(hits) >= nth, "%s has no line %r" % (src, prefix))
    lines[hits[nth - 1]] = new
    with open(dst, "w") as f:
        f.write("\n".join(lines))
    return hits[nth - 1] + 1


def case_merge_strict():
    """--merge accepts only what --save writes: a value out of range (nan,
    inf, a negative or 2^64 count, zero conns, size or pipeline) or fields
    that contradict each other (errors without their text, buckets that do
    not add up to the count unless they wrap, min above max) is exit 2 with
    'FILE line N: ...', and nothing printed.  Before, each was summed in,
    exit 0, and --json printed nan."""
    with TestServer(echo()) as srv, tempfile.TemporaryDirectory() as d:
        good = os.path.join(d, "good.save")
        expect_ok(loadgen("--requests", 50, "--server-pid", os.getpid(), "--save", good,
                          srv.target))
        txt, replayed = os.path.join(d, "v.txt"), os.path.join(d, "replay.save")
        write_values(txt, [10, 20, 30])     # three buckets: 924, 1052, 1130
        expect_ok(loadgen("--replay", txt, "--save", replayed))
        merged = loadgen("--merge", good, replayed, "--json")
        expect_ok(merged)
        strict_json(merged.out)
        with open(good) as f:
            fields = {line.split(" ", 1)[0]: line.split(" ") for line in f.read().split("\n")}

        def swap(key, index, value):
            words = list(fields[key])
            words[index] = value
            return (good, key + " ", " ".join(words))
        wrap = str(2 ** 64 - 1)
        # (what, (file, prefix of the line changed, the new line), the line
        # the message must name if not that one: where the contradiction shows)
        wrap = str(2 ** 64 - 1)
        bad = [
            ("nan measured_s", swap("measured_s", 1, "nan"), None),
            ("inf loadgen user", swap("loadgen_cpu", 1, "inf"), None),
            ("nan server sys", swap("server_cpu", 3, "nan"), None),
            ("negative time", swap("loadgen_cpu", 2, "-0x1p+0"), None),
            ("conns -5", swap("run", 3, "-5"), None),
            ("conns 0", swap("run", 3, "0"), None),
            ("pipeline 0", swap("run", 4, "0"), None),
            ("size 0", swap("run", 5, "0"), None),
            ("2^64 messages", swap("counts", 1, str(2 ** 64)), None),
            ("errors without text", swap("counts", 3, "1"), "error "),
            ("measured_s not the window", swap("measured_s", 1, "0x1p+0"), None),
            ("min above max", (replayed, "hist latency", "hist latency 3 30000 10000 "
                               "0x1.d4cp+15 0x1.4dc938p+30 0 3"), None),
            ("nan sum", (replayed, "hist latency", "hist latency 3 10000 30000 nan nan 0 3"),
             None),
            # 2^64 - 1 + 3 + 1 wraps to the count, 3
            ("buckets that wrap", (replayed, "924 ", "924 " + wrap), "hist latency"),
            ("served above held", swap("connect_phase", 4, "2"), None),
            ("steal 101%", swap("host", 1, "0x1.94p+6"), None),
            ("run-queue wait -2", swap("loadgen_cpu", 4, "-0x1p+1"), None),
            ("a warning missing", swap("warnings", 1, "1"), "json "),
        ]
        for what, (src, prefix, line), named in bad:
            path = os.path.join(d, "bad.save")
            lineno = tamper(src, path, prefix, line)
            if what == "buckets that wrap":
                tamper(path, path, "1052 ", "1052 3")
            if named:
                with open(path) as f:
                    lineno = 1 + [l.startswith(named) for l in f.read().split("\n")].index(True)
            for fmt in ([], ["--json"]):
                run = loadgen("--merge", good, path, *fmt)
                lines = run.err_lines()
                check(run.rc == 2 and len(lines) == 1 and run.out == "",
                      "%s: exit %d, stdout %r, stderr %r" % (what, run.rc, run.out[:80], lines))
                check("%s line %d: " % (path, lineno) in lines[0],
                      "%s: the line does not say '%s line %d: ': %r"
                      % (what, path, lineno, lines[0]))
        # Each file in range, but their sum is not: 2 x (2^32 - 1) conns.
        huge = [os.path.join(d, n) for n in ("huge1.save", "huge2.save")]
        for path in huge:
            tamper(good, path, "run ", " ".join(fields["run"][:3] + [str(2 ** 32 - 1)] +
                                                fields["run"][4:]))
            expect_ok(loadgen("--merge", path, "--json"))
        run = loadgen("--merge", *huge)
        check(run.rc == 2 and len(run.err_lines()) == 1 and "add up" in run.err,
              "conns that wrap when summed: exit %d, %r" % (run.rc, run.err_lines()))


def case_merge_same_file():
    """One file given twice would count its run twice (double msg/s):
    refused however it is named, a hard link included; exit 2, one line."""
    with tempfile.TemporaryDirectory() as d:
        txt, save = os.path.join(d, "v.txt"), os.path.join(d, "a.save")
        write_values(txt, [10, 20, 30])
        expect_ok(loadgen("--replay", txt, "--save", save))
        link = os.path.join(d, "b.save")
        os.link(save, link)
        dotted = os.path.join(d, ".", "a.save")
        for names in ([save, save], [save, dotted], [save, link]):
            run = loadgen("--merge", *names, "--json")
            lines = run.err_lines()
            check(run.rc == 2 and len(lines) == 1 and run.out == "",
                  "%s: exit %d, stdout %r, stderr %r" % (names, run.rc, run.out[:80], lines))
            check("same file" in lines[0], "%s: %r" % (names, lines[0]))


def case_histogram_write_error():
    """A --histogram file that cannot be written (a full disk: /dev/full
    opens, and fails at the write) is exit 1 with one line naming the file
    and why; before, exit 1 and nothing said.  --save too (it said only
    'write failed')."""
    with tempfile.TemporaryDirectory() as d:
        txt = os.path.join(d, "v.txt")
        write_values(txt, [10, 20, 30])
        with TestServer(echo()) as srv:
            runs = [loadgen("--replay", txt, "--histogram", "/dev/full"),
                    loadgen("--requests", 20, "--histogram", "/dev/full", srv.target)]
        save = loadgen("--replay", txt, "--save", "/dev/full")
    for run in runs:
        expect_error(run, "--histogram /dev/full", "no space")
    expect_error(save, "--save /dev/full", "no space")


def case_udp_all_lost():
    """A UDP server that answers nothing: every measured datagram is lost,
    and the one line says so (N of N); it does not blame --duration, which
    was not given."""
    with UdpTestServer("drop", every=1) as srv:
        # One datagram in flight: each lost one holds the next for --timeout,
        # so the 20 scheduled take 20 x 0.05 s.
        run = loadgen("--udp", "--rate", 100, "--duration", 0.2, "--warmup", 0, "--timeout",
                      0.05, "--json", srv.target)
    got = run.json()
    n = got["lost"]
    check(n > 0 and got["messages"] == 0, "messages %d, lost %d" % (got["messages"], n))
    lines = run.said()
    check(run.rc == 1 and len(lines) == 1, "exit %d, stderr %r" % (run.rc, lines))
    check("%d of %d" % (n, n) in lines[0] and "lost" in lines[0] and "--duration" not in lines[0],
          "the line does not say %d of %d were lost: %r" % (n, n, lines[0]))
    check(got["errors"] == 0 and got["error"] is None, "errors %d, error %r"
          % (got["errors"], got["error"]))
    with UdpTestServer("drop", every=1) as srv:
        run = loadgen("--udp", "--requests", 5, "--timeout", 0.05, srv.target)
    lines = run.said()
    check(run.rc == 1 and len(lines) == 1 and "5 of 5" in lines[0] and
          "--duration" not in lines[0], "--requests 5: exit %d, stderr %r" % (run.rc, lines))


def saved_field(path, key):
    """The words of a --save file's line KEY."""
    with open(path) as f:
        for line in f:
            if line.startswith(key + " "):
                return line.split()[1:]
    raise CaseFailed("%s has no %r line" % (path, key))


def expect_phase(what, got, held, served, waiting):
    phase = got.get("connect_phase")
    check(phase is not None, "%s: no connect_phase in the JSON" % what)
    want = {"held": held, "served": served, "waiting": waiting}
    check({k: phase.get(k) for k in want} == want, "%s: connect_phase %r, wanted %r"
          % (what, phase, want))
    return phase


def case_connect_phase_waits():
    """A server that accepts one connection every 0.1 s: the connect phase
    waits until the server has served all six held connections (idle ones
    too) with one echo round trip each, so the measured window starts after
    its last accept, and every format says 6 of 6 served.  Before, the
    window started once the kernel had completed the handshakes, with five
    of them still in the server's accept queue."""
    every = 0.1
    with TestServer(echo(), accept_every=every) as srv, tempfile.TemporaryDirectory() as d:
        save = os.path.join(d, "run.save")
        run = loadgen("--conns", 3, "--idle", 3, "--requests", 300, "--warmup", 0, "--json",
                      "--save", save, srv.target)
        expect_ok(run)
        start_ns = int(saved_field(save, "window_ns")[0])
        last_accept = max(srv.accept_times)
        check(last_accept * 1e9 <= start_ns, "the window started %.3f s before the "
              "server's last accept" % (last_accept - start_ns / 1e9))
        time.sleep(0.1)
        want = 300 * 64 + 6 * PROBE_BYTES
        check(srv.bytes_in == want, "the server received %d bytes, wanted %d (each "
              "connection's probe and the messages)" % (srv.bytes_in, want))
    got = run.json()
    phase = expect_phase("lazy accepts", got, 6, 6, 0)
    check(phase["duration_s"] >= 5 * every, "the phase took %.3f s, but the server took "
          "at least %.1f s to accept them all" % (phase["duration_s"], 5 * every))
    check(got.get("warnings") == [], "warnings %r" % got.get("warnings"))
    with TestServer(echo(), accept_every=0.02) as srv:
        _, csv_run, human = each_format(srv.target, "--conns", 2, "--idle", 2,
                                        "--requests", 100)
    row = csv_row(csv_run)
    check((row.get("held_conns"), row.get("served_conns"), row.get("waiting_conns")) ==
          ("4", "4", "0") and float(row.get("connect_phase_s") or -1) >= 0,
          "CSV connect phase columns %r" % {k: row.get(k) for k in row if "conn" in k})
    check("connect phase" in human.out and "4 of 4 held connections served" in human.out,
          "the summary does not show the connect phase: %r" % human.out[:400])


def case_connect_phase_unserved():
    """Servers that do not take every connection at once: the phase waits
    --probe-wait, the window starts with the rest waiting, loadgen says how
    many were served (a warning, also in JSON's warnings), and the waiting
    ones then fail by --timeout as before ('no reply on connection', which
    the harness expects of a server that serves one at a time): a Python
    server that accepts one connection only, and every backend that serves
    one client at a time, or --workers 2 at a time."""
    probe_wait = 0.3
    servers = [("accepts one", lambda: TestServer(echo(), accept_limit=1), 2, 1)]
    for b in BACKENDS:  # every one that serves one client, or --workers, at a time
        serves = suite.describe(BINDIR, b).get("serves")
        path = os.path.join(BINDIR, "echo-" + b)
        if serves == "one":
            servers.append((b, lambda path=path: BinServer(path), 3, 1))
        elif serves == "workers":
            servers.append((b, lambda path=path: BinServer(path, "--workers", 2), 3, 2))
    for what, start, conns, served in servers:
        with start() as srv:
            run = loadgen("--conns", conns, "--probe-wait", probe_wait, "--timeout", 0.5,
                          "--duration", 0.3, "--warmup", 0, "--json", srv.target)
        got = run.json()
        phase = expect_phase(what, got, conns, served, conns - served)
        check(phase["duration_s"] >= probe_wait and phase["probe_wait_s"] == probe_wait,
              "%s: the phase took %.3f s with --probe-wait %g" % (what, phase["duration_s"],
                                                                  probe_wait))
        expect_error(run, "no reply on connection")
        note = "served only %d of %d held connections" % (served, conns)
        check(any(note in w for w in got["warnings"]), "%s: JSON warnings %r lack %r"
              % (what, got["warnings"], note))
        check(got["warnings"] == run.warnings(), "%s: JSON warnings %r, stderr's %r"
              % (what, got["warnings"], run.warnings()))


def case_udp_probe():
    """--udp: each socket's probe is a datagram (number 0, before the
    messages' numbers); one the server drops is sent again, so the phase
    does not wait out --probe-wait for it, and its answer counts once."""
    with UdpTestServer("drop_first", at=1) as srv:
        run, got = udp_run(srv.target, "--requests", 50, "--probe-wait", 3)
        time.sleep(0.1)
    expect_ok(run)
    expect_udp_counts("probe dropped once", got, 50)
    expect_phase("probe dropped once", got, 1, 1, 0)
    check(srv.received == 52, "the server received %d datagrams, wanted 50 and the probe "
          "twice" % srv.received)
    with UdpTestServer("drop", every=1) as srv:
        run, got = udp_run(srv.target, "--requests", 5, "--conns", 2, "--timeout", 0.2)
    expect_phase("nothing answered", got, 2, 0, 2)


def cpu_hog(cpu, seconds):
    """A process that spins on one CPU for at most `seconds` (stop it by
    its PID sooner)."""
    return subprocess.Popen([sys.executable, "-c", "import os, time\n"
                             "os.sched_setaffinity(0, {%d})\n"
                             "end = time.monotonic() + %g\n"
                             "while time.monotonic() < end: pass\n" % (cpu, seconds)])


def stop(proc):
    proc.terminate()            # by PID: ours only
    proc.wait()


def case_disturbance():
    """How disturbed the window was, in every format: loadgen's and the
    server's run-queue wait (JSON loadgen_cpu.runq_wait_s and
    server_cpu.runq_wait_s, CSV's columns, the summary's 'run queue' line)
    and the host's steal.  The 'disturbed' warning follows its rule on the
    figures reported; and loadgen, at nice 19 on one CPU with a busy loop,
    waits for a CPU most of the window and says so."""
    with TestServer(echo()) as srv:
        run, csv_run, human = each_format(srv.target, "--conns", 2, "--duration", 0.3,
                                          "--warmup", 0.1, "--server-pid", os.getpid())
    got = run.json()
    window = got["measured_s"]
    for side in ("loadgen_cpu", "server_cpu"):
        wait = got[side].get("runq_wait_s")
        check(wait is not None and 0 <= wait <= 64 * window, "%s.runq_wait_s %r over a "
              "%.3f s window" % (side, wait, window))
    steal = got.get("host", {"steal_pct": "missing"})["steal_pct"]
    check(steal is None or 0 <= steal <= 100, "host.steal_pct %r" % steal)
    server = got["server_cpu"]
    check(isinstance(server.get("tasks_ran"), int) and server.get("cpus") ==
          len(os.sched_getaffinity(0)), "server_cpu.tasks_ran %r, cpus %r (this "
          "process may use %d)" % (server.get("tasks_ran"), server.get("cpus"),
                                   len(os.sched_getaffinity(0))))
    # a server that ran more tasks than CPUs waits for itself: not judged
    own = server["tasks_ran"] > server["cpus"]
    waits = [got["loadgen_cpu"]["runq_wait_s"], 0 if own else server["runq_wait_s"]]
    disturbed = window >= 0.1 and (max(waits) > 0.1 * window or (steal or 0) > 10)
    check(disturbed == any(w.startswith("disturbed") for w in got["warnings"]),
          "waits %r, steal %r over %.3f s, but the warnings are %r"
          % (waits, steal, window, got["warnings"]))
    row = csv_row(csv_run)
    for col in ("loadgen_runq_wait_s", "server_runq_wait_s"):
        check(row.get(col, "") != "" and float(row[col]) >= 0, "CSV %s %r" % (col, row.get(col)))
    check("run queue loadgen" in human.out and "host steal" in human.out,
          "the summary has no run-queue line: %r" % human.out)
    # echo-threads: a thread per connection, all on one CPU, wait for each
    # other; loadgen says so, and that wait alone makes no warning
    with BinServer(os.path.join(BINDIR, "echo-threads")) as srv:
        os.sched_setaffinity(srv.pid, {min(os.sched_getaffinity(0))})
        run = loadgen("--conns", 8, "--duration", 0.3, "--warmup", 0.1, "--json",
                      "--server-pid", srv.pid, srv.target)
    got = run.json()
    server, window = got["server_cpu"], got["measured_s"]
    check(server["cpus"] == 1 and server["tasks_ran"] >= 8, "echo-threads on one CPU with "
          "8 clients: tasks_ran %r, cpus %r" % (server["tasks_ran"], server["cpus"]))
    others = max(got["loadgen_cpu"]["runq_wait_s"] / window, (got["host"]["steal_pct"] or 0) / 100)
    check((others > 0.1) == any(w.startswith("disturbed") for w in got["warnings"]),
          "the server's own tasks' wait (%.3f s of %.3f s) decided the warning: loadgen "
          "waited %.3f s, steal %r, warnings %r" % (
              server["runq_wait_s"], window, got["loadgen_cpu"]["runq_wait_s"],
              got["host"]["steal_pct"], got["warnings"]))
    cpu = max(os.sched_getaffinity(0))
    hog = cpu_hog(cpu, 10)

    def niced():
        os.sched_setaffinity(0, {cpu})
        os.nice(19)
    try:
        with TestServer(echo()) as srv:
            run = loadgen("--conns", 1, "--duration", 0.5, "--warmup", 0.1, "--json",
                          srv.target, preexec=niced)
    finally:
        stop(hog)
    got = run.json()
    wait = got["loadgen_cpu"]["runq_wait_s"]
    check(wait > 0.1 * got["measured_s"], "loadgen at nice 19 beside a busy loop on its "
          "CPU waited only %.3f s of %.3f s" % (wait, got["measured_s"]))
    check(any(w.startswith("disturbed") for w in got["warnings"]) and
          got["warnings"] == run.warnings(), "no 'disturbed' warning: %r" % got["warnings"])


def case_warnings():
    """Every 'loadgen: warning:' line is also in JSON's "warnings", in
    order (here: did not keep up).  A merge lists each run's warnings under
    its file's name, then its own: runs that did not overlap make msg/s and
    server CPU-us/msg read low, and the warning says both (before, only
    msg/s, and nothing in the JSON)."""
    with TestServer(echo(0.005)) as srv, tempfile.TemporaryDirectory() as d:
        saves = [os.path.join(d, n) for n in ("a.save", "b.save")]
        runs = [loadgen("--rate", 400, "--conns", 1, "--duration", 0.25, "--warmup", 0,
                        "--server-pid", os.getpid(), "--json", "--save", save, srv.target)
                for save in saves]      # one after the other: no overlap
        merged = loadgen("--merge", *saves, "--json")
    for run in runs + [merged]:
        expect_ok(run)
        got = run.json()
        check(got["warnings"] == run.warnings(), "JSON warnings %r, stderr's %r"
              % (got["warnings"], run.warnings()))
        check(any("did not keep up" in w for w in got["warnings"]), "no kept-up warning "
              "in %r" % got["warnings"])
    merged = merged.json()["warnings"]
    for save, run in zip(saves, runs):
        for w in run.json()["warnings"]:
            check("%s: %s" % (save, w) in merged, "the merge lacks %r of %s: %r"
                  % (w, save, merged))
    overlap = [w for w in merged if "in common" in w]
    check(overlap and "server CPU" in overlap[0] and "msg/s" in overlap[0],
          "the overlap warning does not name msg/s and server CPU: %r" % overlap)


CASES = {
    "help": case_help,
    "bad-options": case_bad_options,
    "any-address": case_any_address,
    "histogram-accuracy": case_histogram_accuracy,
    "histogram-file": case_histogram_file,
    "histogram-above-range": case_histogram_above_range,
    "requests-exact": case_requests_exact,
    "threads-exact": case_threads_exact,
    "connect-per-request": case_connect_per_request,
    "idle": case_idle,
    "idle-exact": case_idle_exact,
    "output-formats": case_output_formats,
    "delay-bracket": case_delay_bracket,
    "stall-open-loop": case_stall_open_loop,
    "rate-schedule": case_rate_schedule,
    "exit-after-last-reply": case_exit_after_last_reply,
    "achieved-rate": case_achieved_rate,
    "corrupt": fault_case("corrupt", "wrong byte"),
    "drop": fault_case("drop", "wrong byte"),
    "dup": fault_case("dup", "wrong byte"),
    "reorder": fault_case("swap", "wrong byte"),
    "lost-connection": fault_case("close", "closed connection"),
    "short-reply": fault_case("truncate", "no reply"),
    "lost-in-tail": case_lost_in_tail,
    "unix-and-ipv6": case_unix_and_ipv6,
    "refused": case_refused,
    "connect-timeout": case_connect_timeout,
    "open-files-limit": case_open_files_limit,
    "server-pid": case_server_pid,
    "server-pid-fork": case_server_pid_fork,
    "loadgen-cpu-pct": case_loadgen_cpu_pct,
    "own-wait-not-a-neighbour": case_own_wait_not_a_neighbour,
    "loadgen-own-rss": case_loadgen_own_rss,
    "server-pss-fork": case_server_pss_fork,
    "server-syscalls": case_server_syscalls,
    "monitor": case_monitor,
    "backends": case_backends,
    "udp-backends": case_udp_backends,
    "udp-lost": case_udp_lost,
    "udp-corrupt": case_udp_corrupt,
    "udp-dup": case_udp_dup,
    "udp-refusals": case_udp_refusals,
    "merge-replay": case_merge_replay,
    "merge-runs": case_merge_runs,
    "merge-refusals": case_merge_refusals,
    "merge-strict": case_merge_strict,
    "merge-same-file": case_merge_same_file,
    "histogram-write-error": case_histogram_write_error,
    "udp-all-lost": case_udp_all_lost,
    "connect-phase-waits": case_connect_phase_waits,
    "connect-phase-unserved": case_connect_phase_unserved,
    "udp-probe": case_udp_probe,
    "disturbance": case_disturbance,
    "warnings": case_warnings,
}


def main():
    global LOADGEN, BINDIR
    ap = argparse.ArgumentParser(description="black-box tests of loadgen")
    ap.add_argument("--bindir", default="bin", help="directory holding loadgen and echo-*")
    ap.add_argument("--case", action="append", default=[], choices=list(CASES),
                    help="run only this case (repeatable; default all)")
    ap.add_argument("--list", action="store_true", help="print the case names")
    args = ap.parse_args()
    if args.list:
        print("\n".join(CASES))
        return 0
    BINDIR = args.bindir
    LOADGEN = os.path.join(BINDIR, "loadgen")

    def built(case):
        def run():
            check(os.access(LOADGEN, os.X_OK), "%s is not built" % LOADGEN)
            case()
        return run
    cases = [(name, built(case)) for name, case in CASES.items()]
    return 1 if suite.run(cases, "loadgen", args.case) else 0


if __name__ == "__main__":
    sys.exit(main())
