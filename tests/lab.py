#!/usr/bin/env python3
"""lab.py - every exercise in lab/, run and checked for its evidence, and
the parsers the exercises read strace, ss and /proc with, checked on
recorded output.

    python3 tests/lab.py                 the parsers, then every lab/NN-topic/run --quick
    python3 tests/lab.py --full          the full runs (make lab)
    python3 tests/lab.py --tries         also every variant (run --try NAME --quick)
    python3 tests/lab.py 03 06           only the labs whose names start so
    python3 tests/lab.py parse           only the parser cases

A lab passes when its run exits 0 and its last line is `EVIDENCE: ok ...`
(the effect its README promises showed on this machine) or `EVIDENCE:
BUSY ...` (the machine kept the figures from meaning anything; said in the
result line), its default output fits a screen (MAX_LINES rows of
MAX_COLUMNS, long lines wrapped), its README has
every section and names every variant its run offers, and its ANSWERS.md
answers every question.  One line per lab or parser case,
`lab/NN-topic: ok|FAILED (why)`, then the failing run's last lines.
Python 3 standard library only.
"""

import argparse
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = os.path.join(ROOT, "lab")
DATA = os.path.join(ROOT, "tests", "data", "lab")
sys.path.insert(0, LAB)
import labkit  # noqa: E402

QUICK_TIMEOUT_S = 60     # a quick run takes under 15 s; past this it hung
FULL_TIMEOUT_S = 600
SECTIONS = ["## The question", "## Predict", "## Run", "## What you should see",
            "## Why", "## Answer this", "## In the source"]


class Failed(Exception):
    pass


def check(ok, why):
    if not ok:
        raise Failed(why)


def data(name):
    with open(os.path.join(DATA, name)) as f:
        return f.read()


def step(lab, *args):
    """The output of `lab/LAB/run --step ...`: the lab's own code on
    recorded input."""
    done = subprocess.run([os.path.join(LAB, lab, "run"), "--step"] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    check(done.returncode == 0, "run --step %s: exit %d: %s" % (
        args[0], done.returncode, done.stderr.strip()[-200:]))
    return done.stdout


# ---- the parsers, on recorded output ----

def parse_strace_layouts():
    """strace -f pads a pid under 10000 ("44    read(") and not a longer one
    ("15080 read("): lab 06's counts must be the same from both, and from
    the lines strace splits."""
    want = {"epoll": "waits 10, polls 0, reads 10, again 0",
            "epoll-et": "waits 1, polls 0, reads 10, again 1"}
    for backend, counts in want.items():
        for name in ("strace-%s.txt" % backend, "strace-%s-pid%s.txt"
                     % (backend, "44" if backend == "epoll" else "48")):
            out = step("06-level-vs-edge", "count", "--trace", os.path.join(DATA, name))
            check(counts in out, "lab 06 counted %s as %r, not %r"
                  % (name, out.strip(), counts))
    calls = labkit.strace_calls(data("strace-epoll-pid44.txt"))
    check(all(c.pid == 44 for c in calls), "pids of the padded layout: %s"
          % sorted({c.pid for c in calls}))


def parse_strace_split_calls():
    """A call strace interrupts (`<unfinished ...>`, then `<... read
    resumed>`) is one call, with its result; signals and deaths are events."""
    text = ("912   read(6,  <unfinished ...>\n"
            "913   write(7, \"abc\", 3)          = 3\n"
            "912   <... read resumed>\"xy\", 16384) = 2\n"
            "[pid   914] write(8, \"\"..., 13616) = -1 EPIPE (Broken pipe)\n"
            "914   --- SIGPIPE {si_signo=SIGPIPE, si_code=SI_USER, si_pid=912, si_uid=0} ---\n"
            "914   +++ killed by SIGPIPE +++\n"
            "912   +++ exited with 0 +++\n"
            "read(3, \"q\", 1) = 1\n"
            "912   epoll_wait(4,  <detached ...>\n")
    calls = labkit.strace_calls(text)
    got = [(c.pid, c.name, c.ret, c.err, c.event) for c in calls]
    check(got == [(913, "write", 3, None, None), (912, "read", 2, None, None),
                  (914, "write", -1, "EPIPE", None), (914, "SIGPIPE", None, None, "signal"),
                  (914, "SIGPIPE", None, None, "killed"), (912, "exit", 0, None, "exited"),
                  (None, "read", 1, None, None)], "parsed %s" % got)


def parse_strace_summary():
    """`strace -c`'s table, with and without the errors column filled."""
    counts = labkit.strace_summary(data("strace-c-spin.txt"))
    check(counts == {"accept4": (11092, 11092), "rt_sigpending": (11093, 0)},
          "strace -c table read as %s" % counts)
    counts = labkit.strace_summary(data("strace-c-epoll.txt"))
    check(len(counts) == 8 and counts["read"] == (5100, 0) and counts["accept4"] == (101, 1)
          and counts["epoll_wait"] == (68, 0), "strace -c table read as %s" % counts)


def parse_strace_select():
    """A result with its own note after it (select's ready sets)."""
    calls = labkit.strace_calls(
        "27573 pselect6(7, [3 4 5 6], [], NULL, NULL, NULL) = 1 (in [6])\n"
        "27573 recvfrom(4, \"\"..., 65536, 0, {sa_family=AF_INET, sin_port=htons(54015), "
        "sin_addr=inet_addr(\"127.0.0.1\")}, [128 => 16]) = 5\n")
    got = [(c.name, c.ret) for c in calls]
    check(got == [("pselect6", 1), ("recvfrom", 5)], "parsed %s" % got)


def parse_ss_listener():
    """ss -ltn: a listener's Recv-Q is its accept queue, Send-Q its length."""
    rows = labkit.ss_sockets(data("ss-ltn.txt"))
    check(len(rows) == 1 and rows[0]["state"] == "LISTEN" and rows[0]["recv_q"] == 5
          and rows[0]["send_q"] == 4 and rows[0]["local_port"] == 36337, "read as %s" % rows)
    states = [r["state"] for r in labkit.ss_sockets(data("ss-tan.txt"))]
    check(states == ["ESTAB"] * 6 + ["SYN-SENT"], "ss -tan states read as %s" % states)


def parse_ss_info():
    """Lines under a socket (-i, -m) belong to it; a state filter drops the
    State column; key:value fields are found in the line and under it."""
    (row,) = labkit.ss_sockets(data("ss-tni.txt"))
    check(labkit.ss_value(row, "ato") == "40" and labkit.ss_value(row, "mss") == "32768",
          "ss -tni read as %s" % row)
    rows = labkit.ss_sockets(data("ss-tano-time-wait.txt"))
    check(len(rows) == 3 and all(r["peer_port"] == 34121 and r["state"] is None for r in rows)
          and labkit.ss_value(rows[0], "timer") == "(timewait,59sec,0)",
          "ss -tano state time-wait read as %s" % rows)
    rows = labkit.ss_sockets(data("ss-tnm.txt"))
    check([(r["recv_q"], r["send_q"], labkit.ss_skmem(r).get("rb")) for r in rows]
          == [(126976, 4199051, 131072), (333752, 4166656, 585524)], "ss -tnm read as %s" % rows)
    (row,) = labkit.ss_sockets(data("ss-uanm.txt"))
    check(labkit.ss_skmem(row).get("d") == 779, "ss -uanm drops read as %s" % row)
    rows = labkit.ss_sockets(data("ss-tuanp.txt"))
    check([(r["netid"], r["state"]) for r in rows] == [("udp", "UNCONN"), ("tcp", "LISTEN")]
          and all("pid=27910" in r["rest"] for r in rows), "ss -tuanp read as %s" % rows)


def parse_proc():
    """/proc/net/tcp (hex ports and queues), /proc/PID/status, schedstat,
    /proc/stat's steal, an io_uring's fdinfo, bin/herd's key=value lines."""
    rows = labkit.proc_net_tcp(data("proc-net-tcp.txt"))
    check([(r["local_port"], r["peer_port"], r["state"], r["send_q"], r["recv_q"]) for r in rows]
          == [(50294, 35783, "01", 0x40128B, 0x1F000), (35783, 50294, "01", 0x3F9400, 0x517B8)],
          "/proc/net/tcp read as %s" % rows)
    status = labkit.proc_status("Name:\techo-epoll\nVmRSS:\t    1672 kB\n"
                                "voluntary_ctxt_switches:\t42\n")
    check(status == {"Name": "echo-epoll", "VmRSS": "1672", "voluntary_ctxt_switches": "42"},
          "/proc/PID/status read as %s" % status)
    check(labkit.schedstat("1814213 2256798 2\n") == (0.001814213, 0.002256798),
          "schedstat read as %s" % (labkit.schedstat("1814213 2256798 2\n"),))
    stat = ("cpu  10877 0 14023 25272 1066 0 1563 166 0 0\n"
            "cpu0 5000 0 7000 12000 500 0 800 100 0 0\n"
            "cpu1 5877 0 7023 13272 566 0 763 66 0 0\nintr 1 2 3\n")
    steal = labkit.steal_jiffies(stat)
    check(steal == (166, 10877 + 14023 + 25272 + 1066 + 1563 + 166),
          "/proc/stat steal read as %s" % (steal,))
    steal = labkit.steal_jiffies(stat, {1})
    check(steal == (66, 5877 + 7023 + 13272 + 566 + 763 + 66),
          "/proc/stat's cpu1 steal read as %s" % (steal,))
    ring = labkit.io_uring_fdinfo(data("proc-fdinfo-io_uring.txt"))
    check(ring["SqHead"] == 2011 and ring["CqTail"] == 2012 and ring["SqMask"] == 0x3FF
          and ring["SqThread"] == -1 and "NAPI" not in ring and "CqOverflowList" not in ring,
          "io_uring fdinfo read as %s" % ring)
    kv = labkit.key_values("herd mode=epoll workers=4 conns=200 wakeups_per_conn=1.10")
    check(kv == {"mode": "epoll", "workers": "4", "conns": "200", "wakeups_per_conn": "1.10"},
          "herd's line read as %s" % kv)


def parse_let_go():
    """labkit.let_go waits for the server to close the connection it holds
    after an RST, not only for the RST: a child that answers a closed
    client (drawing the RST) and closes its socket 0.5 s later."""
    import socket
    child = subprocess.Popen([sys.executable, "-c", (
        "import socket, sys, time\n"
        "l = socket.create_server(('127.0.0.1', 0))\n"
        "print(l.getsockname()[1], flush=True)\n"
        "c, _ = l.accept()\n"
        "while c.recv(64): pass\n"
        "c.send(b'late')\n"
        "time.sleep(0.5)\n"
        "c.close()\n"
        "time.sleep(10)\n")], stdout=subprocess.PIPE, text=True)
    try:
        port = int(child.stdout.readline())
        held = labkit.tree_fds(child.pid)
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.send(b"request")
        start = time.monotonic()
        labkit.let_go(child.pid, port, held, timeout=3)
        waited = time.monotonic() - start
        check(0.4 < waited < 2.5 and labkit.tree_fds(child.pid) == held,
              "let_go returned after %.2f s with %d fds held (%d before the client)"
              % (waited, labkit.tree_fds(child.pid), held))
    finally:
        child.kill()
        child.wait()


PARSERS = [parse_let_go, parse_strace_layouts, parse_strace_split_calls, parse_strace_select,
           parse_strace_summary, parse_ss_listener, parse_ss_info, parse_proc]


def run_parsers(names):
    failed = 0
    for case in PARSERS:
        name = case.__name__[len("parse_"):].replace("_", "-")
        if names and not any(name.startswith(n) for n in names):
            continue
        try:
            case()
            print("lab/parse/%s: ok" % name, flush=True)
        except (Failed, OSError, subprocess.SubprocessError) as e:
            failed += 1
            print("lab/parse/%s: FAILED (%s)" % (name, e), flush=True)
    return failed


# ---- the labs ----

def labs(prefixes):
    names = sorted(d for d in os.listdir(LAB)
                   if os.path.isdir(os.path.join(LAB, d)) and d[:2].isdigit())
    return [n for n in names if not prefixes or any(n.startswith(p) for p in prefixes)]


def variants(name):
    """The --try variants `run --help` lists."""
    done = subprocess.run([os.path.join(LAB, name, "run"), "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    listed = done.stdout.split("variants (--try NAME)", 1)[-1] if "--try NAME)" in done.stdout else ""
    return re.findall(r"^  ([a-z0-9-]+)  ", listed.split("\n\n")[0], re.M)


def questions(readme):
    """The numbered questions of a README's "Answer this" section."""
    section = readme.split("## Answer this", 1)[-1].split("\n## ", 1)[0]
    return re.findall(r"^(\d+)\. ", section, re.M)


def check_readme(name):
    """The README's sections, its links to the glossary and the answer
    key, every variant named, and an answer for every question."""
    path = os.path.join(LAB, name, "README.md")
    if not os.path.exists(path):
        return "no README.md"
    text = open(path).read()
    missing = [s for s in SECTIONS if s not in text]
    if missing:
        return "README.md lacks %s" % ", ".join(missing)
    links = [ln for ln in ("docs/glossary.md", "ANSWERS.md") if ln not in text]
    if links:
        return "README.md does not point to %s" % ", ".join(links)
    offered = variants(name)
    unnamed = [v for v in offered if "--try %s" % v not in text]
    if unnamed:
        return "README.md does not say what --try %s is for" % ", --try ".join(unnamed)
    unknown = sorted(set(re.findall(r"--try ([a-z0-9-]+)", text)) - set(offered))
    if unknown:
        return "README.md names --try %s, which run does not offer" % ", --try ".join(unknown)
    if "(python)" in open(os.path.join(LAB, name, "run")).read():
        return "run prints a \"(python)\" step, which cannot be pasted: make it a lab.step"
    answers = os.path.join(LAB, name, "ANSWERS.md")
    if not os.path.exists(answers):
        return "no ANSWERS.md"
    asked = questions(text)
    answered = re.findall(r"^## (\d+)\. ", open(answers).read(), re.M)
    if asked != answered:
        return "ANSWERS.md answers questions %s, the README asks %s" % (
            ", ".join(answered) or "none", ", ".join(asked) or "none")
    return None


def run_lab(name, full, tried=None):
    script = os.path.join(LAB, name, "run")
    if not os.access(script, os.X_OK):
        return "no executable run", ""
    args = ([] if full else ["--quick"]) + (["--try", tried] if tried else [])
    t0 = time.monotonic()
    try:
        done = subprocess.run([script] + args, cwd=ROOT,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=FULL_TIMEOUT_S if full else QUICK_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return "still running after %d s" % e.timeout, out
    took = time.monotonic() - t0
    lines = done.stdout.strip().splitlines()
    last = lines[-1] if lines else ""
    if done.returncode != 0 or not last.startswith(("EVIDENCE: ok", "EVIDENCE: BUSY")):
        why = last if last.startswith("EVIDENCE:") else "exit %d" % done.returncode
        return why, done.stdout + done.stderr
    rows = sum(max(1, -(-len(line) // labkit.MAX_COLUMNS)) for line in lines)
    if rows > labkit.MAX_LINES:
        return "%d lines of output (at %d columns), more than a screen (%d)" % (
            rows, labkit.MAX_COLUMNS, labkit.MAX_LINES), done.stdout
    # The 15 s budget of --quick is a target, not a check: a loaded machine
    # is slower, and the evidence is what counts.
    notes = ["%.1f s" % took]
    if not full and took > 15:
        notes.append("over the 15 s budget")
    if last.startswith("EVIDENCE: BUSY"):
        notes.append(last[len("EVIDENCE: "):])
    return None, ", ".join(notes)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="the full runs, not --quick")
    ap.add_argument("--tries", action="store_true", help="also every --try variant, quick")
    ap.add_argument("--times", action="store_true", help="each lab's duration")
    ap.add_argument("prefix", nargs="*", help="only labs whose names start with these "
                    "('parse': only the parser cases)")
    args = ap.parse_args()
    parse_only = [p[len("parse"):].lstrip("/") for p in args.prefix if p.startswith("parse")]
    prefixes = [p for p in args.prefix if not p.startswith("parse")]
    failed = 0
    if parse_only or not prefixes:
        failed += run_parsers([p for p in parse_only if p])
    if parse_only and not prefixes:
        return 1 if failed else 0
    for name in labs(prefixes):
        problem = check_readme(name)
        detail = ""
        if not problem:
            problem, detail = run_lab(name, args.full)
        if problem:
            failed += 1
            print("lab/%s: FAILED (%s)" % (name, problem), flush=True)
            for line in detail.strip().splitlines()[-12:]:
                print("    " + line)
        else:
            loud = args.times or "over" in detail or "BUSY" in detail
            print("lab/%s: ok%s" % (name, " [%s]" % detail if loud else ""), flush=True)
        for tried in variants(name) if args.tries and not problem else []:
            why, detail = run_lab(name, args.full, tried)
            failed += bool(why)
            print("lab/%s/try-%s: %s" % (name, tried, "FAILED (%s)" % why if why else "ok%s" % (
                " [%s]" % detail if args.times or "BUSY" in detail else "")), flush=True)
            for line in (detail.strip().splitlines()[-12:] if why else []):
                print("    " + line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
