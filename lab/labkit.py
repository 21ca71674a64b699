"""labkit.py - what every lab/NN-topic/run shares: start a server, run the
load generator or a small client, print each command before its figures,
draw a small chart on the terminal, and end with the lab's evidence.

A run script reads like the exercise it is:

    import labkit
    lab = labkit.Lab(__doc__)               # parses --quick, prints the title
    with lab.server("epoll") as srv:        # bin/echo-epoll on a free port
        r = lab.loadgen(srv, "--conns", 10, "--duration", lab.pick(2, 0.5))
    lab.table(["backend", "msgs/s"], [["epoll", "%.0f" % r["msgs_per_s"]]])
    lab.expect(r["errors"] == 0, "epoll served every message")
    lab.done()                              # EVIDENCE line; exit 0 or 1

Every figure a lab prints comes after the command that made it ("$ ..."),
so a student can run that command alone.  lab.expect() states what the
exercise promises (the effect must show, or the lab fails): a lab whose
effect does not appear on this machine is a failing lab.  Its last line
is always

    EVIDENCE: ok (N checks)        or        EVIDENCE: FAILED: <what did not show>

Python 3 standard library only; servers and load on loopback only, each
stopped by its PID when the block ends.
"""

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "bin")
sys.path.insert(0, os.path.join(ROOT, "bench"))
import muxbench  # noqa: E402  (the harness's server starter and CPU pinning)


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


class Lab:
    def __init__(self, doc):
        ap = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
        ap.add_argument("--quick", action="store_true",
                        help="a short run (under 15 s) that still shows the effect")
        self.args = ap.parse_args()
        self.quick = self.args.quick
        self.failures, self.checks = [], 0
        self.server_cpu, self.client_cpu = muxbench.pin_plan()
        missing = [b for b in ("loadgen", "echo-epoll") if not os.access(os.path.join(BIN, b), os.X_OK)]
        if missing:
            sys.exit("lab: %s not built: run make" % ", ".join("bin/" + m for m in missing))
        print(doc.strip().splitlines()[0])
        print("(%s run; server on CPU %s, clients on CPU %s)\n" % (
            "quick" if self.quick else "full", self.server_cpu, self.client_cpu))

    def pick(self, full, quick):
        """One value for the full run, another for --quick."""
        return quick if self.quick else full

    # ---- servers and clients ----

    def server(self, backend, *args, pinned=True, nofile=None):
        """bin/echo-BACKEND on a free port (a context manager: stopped at the
        end of the block); prints its command."""
        srv = muxbench.Server(backend, cpu=self.server_cpu if pinned else None,
                              args=args, nofile=nofile)
        print("$ " + srv.command.replace("--port 0", "--port %d" % srv.port) + " &")
        return srv

    def loadgen(self, srv, *args, check=True):
        """bin/loadgen against srv, pinned to the client CPU; returns its JSON
        result (with "error" set if it failed) after printing the command.
        check=False: a failing run is part of the lesson, not a lab error."""
        result, cmd = muxbench.run_loadgen(srv.port, list(args), cpu=self.client_cpu,
                                           server_pid=srv.pid)
        print("$ " + cmd)
        if check and result.get("error"):
            self.expect(False, "loadgen failed: %s" % result["error"])
        return result

    def run(self, cmd, timeout=60, check=True, **kw):
        """Any other command (strace, ss, a tool in bin/): prints it, returns
        its CompletedProcess with text output."""
        print("$ " + shown(cmd))
        done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                              timeout=timeout, **kw)
        if check and done.returncode != 0:
            self.expect(False, "%s exited %d: %s" % (shown(cmd[:1]), done.returncode,
                                                     done.stderr.strip()[-200:]))
        return done

    # ---- showing ----

    def table(self, headers, rows):
        """A plain text table, columns as wide as their widest cell."""
        cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
        widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
        for n, r in enumerate(cells):
            print("  " + "  ".join(c.rjust(w) if n and i else c.ljust(w)
                                   for i, (c, w) in enumerate(zip(r, widths))))
            if n == 0:
                print("  " + "  ".join("-" * w for w in widths))
        print()

    def chart(self, title, xlabel, ylabel, series, logy=False):
        """A small chart drawn in the terminal by gnuplot's dumb terminal.
        series: {name: [(x, y), ...]}.  Skipped (with a note) without gnuplot."""
        if not shutil.which("gnuplot"):
            print("(no gnuplot: chart skipped; apt-get install gnuplot-nox)\n")
            return
        with tempfile.TemporaryDirectory() as tmp:
            plots = []
            for i, (name, points) in enumerate(series.items()):
                path = os.path.join(tmp, "%d.dat" % i)
                with open(path, "w") as f:
                    f.write("".join("%g %g\n" % p for p in points))
                plots.append("'%s' using 1:2 with linespoints title '%s'" % (path, name))
            script = ["set terminal dumb 78 22", 'set title "%s"' % title,
                      'set xlabel "%s"' % xlabel, 'set ylabel "%s"' % ylabel,
                      "set key top left"] + (["set logscale y"] if logy else []) + \
                ["plot " + ", ".join(plots)]
            out = subprocess.run(["gnuplot"], input="\n".join(script), capture_output=True,
                                 text=True)
            print(out.stdout)

    # ---- evidence ----

    def expect(self, ok, what):
        """One promise of the exercise.  Printed either way."""
        self.checks += 1
        print("  %s %s" % ("ok:  " if ok else "NOT:", what))
        if not ok:
            self.failures.append(what)
        return ok

    def done(self):
        if self.failures:
            print("\nEVIDENCE: FAILED: " + "; ".join(self.failures))
            sys.exit(1)
        print("\nEVIDENCE: ok (%d checks)" % self.checks)
        sys.exit(0)
