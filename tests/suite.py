"""suite.py - what every test suite here shares: a case fails with Fail
(or is skipped with Skipped), check() says why, cases are chosen with
--case, and the backends and their facts come from the Makefile and the
binaries themselves (`bin/echo-NAME --describe`), through the harness's
own module (bench/muxbench.py), so that the tests and the benchmarks can
never disagree about what a backend is.

    import suite
    suite.check(got == want, "what went wrong")
    suite.run(CASES, "loadgen", args.case)   # prints `loadgen/NAME: ok` ...

Python 3 standard library only.
"""

import os
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import muxbench  # noqa: E402

Server = muxbench.Server


class Fail(Exception):
    """A case found what it tests wrong."""


class Skipped(Exception):
    """A case cannot say anything here (it says why)."""


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def backends():
    """Every backend the Makefile builds, in the teaching order."""
    return list(muxbench.BACKENDS)


def describe(bindir, backend):
    """The facts of a backend's model as its binary in bindir states them
    (`--describe`): {"family": ..., "serves": ..., ...}."""
    return muxbench.describe(backend, os.path.abspath(os.path.join(ROOT, bindir))
                             if not os.path.isabs(bindir) else bindir)


def run(cases, label, chosen=None, times=False, tmpdir=False):
    """Run the cases named in chosen (all if none), in the order of cases
    (a list of (name, function) or a dict), one line each: `LABEL/NAME: ok`,
    `... skipped (why)` or `... FAILED (why)`; with tmpdir, each function
    gets a new temporary directory, removed after.  A timeout or an OS
    error fails the case as a Fail does.  Returns the number failed."""
    items = list(cases.items()) if isinstance(cases, dict) else list(cases)
    failed = 0
    for name, func in items:
        if chosen and name not in chosen:
            continue
        t0 = time.monotonic()
        try:
            if tmpdir:
                with tempfile.TemporaryDirectory() as tmp:
                    func(tmp)
            else:
                func()
            outcome = "ok"
        except Skipped as e:
            outcome = "skipped (%s)" % e
        except (Fail, subprocess.TimeoutExpired, OSError) as e:
            outcome = "FAILED (%s)" % e
        except Exception as e:     # a bug in the suite itself still fails the case
            where = traceback.extract_tb(e.__traceback__)[-1]
            outcome = "FAILED (suite error %s: %s, line %d)" % (type(e).__name__, e,
                                                                where.lineno)
        failed += outcome.startswith("FAILED")
        took = " [%.2f s]" % (time.monotonic() - t0) if times else ""
        print("%s/%s: %s%s" % (label, name, outcome, took), flush=True)
    return failed
