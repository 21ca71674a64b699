#!/usr/bin/env python3
"""tests/loadgen.py - black-box tests of bin/loadgen.

    python3 tests/loadgen.py --bindir bin            # every case
    python3 tests/loadgen.py --bindir bin stall dup  # only those cases

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
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

LOADGEN_TIMEOUT_S = 60      # a case whose loadgen runs longer than this hung
# CSV columns added after the first version: appended, in this order, so
# that scripts reading the first 28 columns by position still work.
CSV_ADDED = ["requested_rate", "kept_up", "lost", "loadgen_cpu_pct", "server_peak_pss_kib",
             "transport"]
# Every backend the Makefile builds (every backends/*.c but the core's).
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = subprocess.run(["make", "-s", "--no-print-directory", "-C", ROOT, "print-backends"],
                          capture_output=True, text=True, check=True).stdout.split()


# ---------------------------------------------------------------- servers

class TestServer:
    """A threaded stream server on 127.0.0.1 (or ::1, or a Unix socket).

    handle(server, conn) serves one connection; the server counts accepted
    connections and received bytes so that tests can check exact totals."""

    def __init__(self, handle, family=socket.AF_INET, backlog=128, accept=True):
        self.handle = handle
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
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
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
    (from 1) is a multiple of `every`; 'corrupt' changes byte 20 of the
    reply to datagram `at`; 'dup' sends that reply twice.  It counts the
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

class CaseFailed(Exception):
    pass


def check(cond, reason):
    if not cond:
        raise CaseFailed(reason)


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
    """Exit 1 with one line on stderr that mentions all of words."""
    check(run.rc == 1, "exit %d, wanted 1; stderr %r" % (run.rc, run.err[:300]))
    lines = run.err_lines()
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


class BinServer:
    """One of the project's echo servers, started on a free port; extra
    arguments (e.g. --udp) are passed on."""

    def __init__(self, path, *extra):
        self.tmp = tempfile.NamedTemporaryFile(prefix="loadgen-port-", delete=False)
        self.tmp.close()
        self.proc = subprocess.Popen([path, "--port", "0", "--port-file", self.tmp.name,
                                      "--quiet", *extra], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        port = ""
        while time.monotonic() < deadline and not port:
            with open(self.tmp.name) as f:
                port = f.read().strip()
            if not port:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.02)
        if not port:
            self.stop()
            raise CaseFailed("%s did not start" % path)
        self.target = "127.0.0.1:%s" % port
        self.pid = self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)      # by PID: ours only
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        os.unlink(self.tmp.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------- cases

def case_help():
    run = loadgen("--help")
    expect_ok(run)
    for opt in ["--conns", "--pipeline", "--size", "--rate", "--connect-per-request",
                "--idle", "--duration", "--warmup", "--requests", "--threads",
                "--server-pid", "--json", "--csv", "--csv-header", "--histogram",
                "--connect-timeout", "--timeout", "--udp", "unix:", "[ADDRESS]", "host name",
                "--save", "--merge"]:
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
        check(srv.bytes_in == 100000, "server received %d bytes, wanted 100000" % srv.bytes_in)
        check(got["latency_us"]["count"] == 1000, "histogram has %d" % got["latency_us"]["count"])


def case_threads_exact():
    with TestServer(echo()) as srv:
        run = loadgen("--requests", 2001, "--conns", 5, "--threads", 2, "--pipeline", 2,
                      "--idle", 3, "--json", srv.target)
        expect_ok(run)
        got = run.json()
        time.sleep(0.2)
        check(got["messages"] == 2001, "reported %d messages" % got["messages"])
        check(srv.bytes_in == 2001 * 64, "server received %d bytes" % srv.bytes_in)
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
    # server also saw the 1000 of warmup.
    check(got["messages"] == 2000, "measured %d messages, schedule has 2000" % got["messages"])
    check(srv.bytes_in == 3000 * 64, "server received %d bytes, wanted %d" % (srv.bytes_in, 3000 * 64))


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
    check("warning" not in fast.err, "warned although it kept up: %r" % fast.err)
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
    """Every echo server of the project, when built: exact counts, and the
    CPU accounting of threads and forked children."""
    found = 0
    for name in BACKENDS:
        path = os.path.join(BINDIR, "echo-" + name)
        check(os.path.exists(path), "%s missing: make builds every backend" % path)
        if name.startswith("uring") and not uring_allowed(path):
            continue            # the echo suite says so; nothing here to measure
        found += 1
        conns = 1 if name == "blocking" else 8       # blocking: one client at a time
        with BinServer(path) as srv:
            run = loadgen("--requests", 3000, "--conns", conns, "--pipeline", 2,
                          "--server-pid", srv.pid, "--json", srv.target)
            check(run.rc == 0, "%s: exit %d: %s" % (name, run.rc, run.err.strip()))
            got = run.json()
            check(got["messages"] == 3000, "%s: %d messages" % (name, got["messages"]))
            check(got["server_cpu"] is not None, "%s: no server CPU" % name)
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
    for name in ("epoll", "select"):
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
        check(srv.received == 500 and srv.dropped == 10, "%s: the server received %d "
              "datagrams, dropped %d; wanted 500, 10" % (what, srv.received, srv.dropped))
        expect_udp_counts(what, got, 490, lost=10)
        check(run.rc == 1 and len(run.err_lines()) == 1 and "10 of 500" in run.err,
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
        check(srv.received == 100, "%s: the server received %d datagrams"
              % (what, srv.received))
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
    check(lines[0] == "loadgen-save 1", "the save file starts with %r" % lines[0])
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
    "loadgen-own-rss": case_loadgen_own_rss,
    "server-pss-fork": case_server_pss_fork,
    "backends": case_backends,
    "udp-backends": case_udp_backends,
    "udp-lost": case_udp_lost,
    "udp-corrupt": case_udp_corrupt,
    "udp-dup": case_udp_dup,
    "udp-refusals": case_udp_refusals,
    "merge-replay": case_merge_replay,
    "merge-runs": case_merge_runs,
    "merge-refusals": case_merge_refusals,
}


def main():
    global LOADGEN, BINDIR
    ap = argparse.ArgumentParser(description="black-box tests of loadgen")
    ap.add_argument("--bindir", default="bin", help="directory holding loadgen and echo-*")
    ap.add_argument("cases", nargs="*", help="run only these cases (default: all)")
    args = ap.parse_args()
    BINDIR = args.bindir
    LOADGEN = os.path.join(BINDIR, "loadgen")
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        print("unknown case(s): %s; known: %s" % (" ".join(unknown), " ".join(CASES)))
        return 2
    failed = 0
    for name in args.cases or CASES:
        try:
            if not os.access(LOADGEN, os.X_OK):
                raise CaseFailed("%s is not built" % LOADGEN)
            CASES[name]()
            print("loadgen/%s: ok" % name, flush=True)
        except CaseFailed as e:
            failed += 1
            print("loadgen/%s: FAILED (%s)" % (name, e), flush=True)
        except Exception as e:          # a bug in the test itself still fails the case
            failed += 1
            print("loadgen/%s: FAILED (%s: %s)" % (name, type(e).__name__, e), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
