#!/usr/bin/env python3
"""lab.py - every exercise in lab/, run and checked for its evidence.

    python3 tests/lab.py                 every lab/NN-topic/run --quick
    python3 tests/lab.py --full          the full runs (make lab)
    python3 tests/lab.py 03 06           only the labs whose names start so

A lab passes when its run exits 0 and its last line is `EVIDENCE: ok ...`:
the effect its README promises showed on this machine.  Each lab also
needs a README.md with the sections every exercise has.  One line per lab,
`lab/NN-topic: ok|FAILED (why)`, then the failing run's last lines.
"""

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAB = os.path.join(ROOT, "lab")
QUICK_TIMEOUT_S = 60     # a quick run takes under 15 s; past this it hung
FULL_TIMEOUT_S = 600
SECTIONS = ["## The question", "## Predict", "## Run", "## What you should see",
            "## Why", "## Answer this", "## In the source"]


def labs(prefixes):
    names = sorted(d for d in os.listdir(LAB)
                   if os.path.isdir(os.path.join(LAB, d)) and d[:2].isdigit())
    return [n for n in names if not prefixes or any(n.startswith(p) for p in prefixes)]


def check_readme(name):
    path = os.path.join(LAB, name, "README.md")
    if not os.path.exists(path):
        return "no README.md"
    text = open(path).read()
    missing = [s for s in SECTIONS if s not in text]
    return "README.md lacks %s" % ", ".join(missing) if missing else None


def run_lab(name, full):
    script = os.path.join(LAB, name, "run")
    if not os.access(script, os.X_OK):
        return "no executable run", ""
    t0 = time.monotonic()
    try:
        done = subprocess.run([script] + ([] if full else ["--quick"]), cwd=ROOT,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=FULL_TIMEOUT_S if full else QUICK_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return "still running after %d s" % e.timeout, out
    took = time.monotonic() - t0
    lines = done.stdout.strip().splitlines()
    last = lines[-1] if lines else ""
    if done.returncode != 0 or not last.startswith("EVIDENCE: ok"):
        why = last if last.startswith("EVIDENCE:") else "exit %d" % done.returncode
        return why, done.stdout + done.stderr
    # The 15 s budget of --quick is a target, not a check: a loaded machine
    # is slower, and the evidence is what counts.
    return None, "%.1f s%s" % (took, ", over the 15 s budget" if not full and took > 15 else "")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="the full runs, not --quick")
    ap.add_argument("--times", action="store_true", help="each lab's duration")
    ap.add_argument("prefix", nargs="*", help="only labs whose names start with these")
    args = ap.parse_args()
    failed = 0
    for name in labs(args.prefix):
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
            slow = "over" in detail
            print("lab/%s: ok%s" % (name, " [%s]" % detail if args.times or slow else ""),
                  flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
