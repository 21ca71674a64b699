#!/usr/bin/env python3
"""docs.py - checks of what docs/ generates or quotes, so that it never goes
stale: docs/side-by-side.html is well-formed, offline, shows every pair
the backends ask for and is what `make docs` writes now; every code block
quoted by a LAB marker (docs/quote.py) is the source as it is; and a
backend that says it is another's loop, line for line (reactors of epoll),
is.

    python3 tests/docs.py [--case NAME]...

Prints `docs/<case>: ok|FAILED (why)`; exit status 1 if anything failed.
Python 3 standard library only.
"""

import argparse
import html.parser
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import suite  # noqa: E402
from suite import ROOT, Fail, check  # noqa: E402

PAGE = os.path.join(ROOT, "docs", "side-by-side.html")
QUOTE = os.path.join(ROOT, "docs", "quote.py")
GENERATOR = os.path.join(ROOT, "docs", "side_by_side.py")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr"}


def pairs():
    """The sections the page must show: LEFT-RIGHT for every backend whose
    --describe names a backend to read it beside."""
    return ["%s-%s" % (suite.describe("bin", b)["beside"], b) for b in suite.backends()
            if suite.describe("bin", b).get("beside")]

class Page(html.parser.HTMLParser):
    """Collects what the checks need: tag nesting problems, every id, every
    src and href, and whether the page has a doctype."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.open = []
        self.problems = []
        self.ids = set()
        self.links = []
        self.doctype = False

    def handle_decl(self, decl):
        self.doctype = self.doctype or decl.lower() == "doctype html"

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id":
                self.ids.add(value)
            if name in ("src", "href"):
                self.links.append((tag, name, value or ""))
        if tag not in VOID:
            self.open.append((tag, self.getpos()[0]))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.open.pop()

    def handle_endtag(self, tag):
        if tag in VOID:
            self.problems.append("line %d: </%s> closes a void element" % (self.getpos()[0], tag))
        elif not self.open or self.open[-1][0] != tag:
            top = "<%s> of line %d" % self.open[-1] if self.open else "nothing"
            self.problems.append("line %d: </%s> where %s is open" % (self.getpos()[0], tag, top))
        else:
            self.open.pop()


def parse(text):
    page = Page()
    page.feed(text)
    page.close()
    return page


def read_page():
    check(os.path.exists(PAGE), "no docs/side-by-side.html: run make docs")
    with open(PAGE) as f:
        return f.read()


def well_formed():
    """Every tag closed, in order; a doctype; every section this page
    promises; every #link lands on an id."""
    page = parse(read_page())
    check(page.doctype, "no <!DOCTYPE html>")
    check(not page.problems, "; ".join(page.problems[:3]))
    check(not page.open, "never closed: " + ", ".join("<%s> of line %d" % t for t in page.open[:3]))
    missing = [p for p in pairs() if p not in page.ids]
    check(not missing, "no section for " + ", ".join(missing))
    dangling = sorted({v for _, _, v in page.links if v.startswith("#") and v[1:] not in page.ids})
    check(not dangling, "links to no id: " + ", ".join(dangling[:5]))


def offline():
    """Nothing the page needs is elsewhere: every src and href is a #link,
    no script, no stylesheet link, no url() or @import in the CSS."""
    text = read_page()
    page = parse(text)
    outside = ["<%s %s=%r>" % link for link in page.links if not link[2].startswith("#")]
    check(not outside, "points outside the page: " + ", ".join(outside[:3]))
    check(not re.search(r"<script", text, re.I), "has a script")
    check(not re.search(r"<link\b", text, re.I), "has a <link>")
    css = "".join(re.findall(r"<style>(.*?)</style>", text, re.S | re.I))
    for pattern, what in ((r"url\(", "a CSS url()"), (r"@import", "a CSS @import"),
                          (r"@font-face", "a web font")):
        check(not re.search(pattern, css, re.I), "has %s" % what)


def up_to_date():
    """make docs now writes exactly the committed page."""
    committed = read_page()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "page.html")
        run = subprocess.run([sys.executable, GENERATOR, "--out", out],
                             capture_output=True, text=True, timeout=60)
        check(run.returncode == 0, "docs/side_by_side.py exit %d: %s" % (
            run.returncode, (run.stderr.strip().splitlines() or ["?"])[-1]))
        with open(out) as f:
            fresh = f.read()
    if fresh != committed:
        old, new = committed.split("\n"), fresh.split("\n")
        line = next((i + 1 for i, (a, b) in enumerate(zip(old, new)) if a != b),
                    min(len(old), len(new)) + 1)
        raise Fail("docs/side-by-side.html is stale (first difference at line %d): "
                     "run make docs and commit it" % line)


def quotes():
    """docs/quote.py --check: every quoted block is the source between its
    markers."""
    run = subprocess.run([sys.executable, QUOTE, "--check"], capture_output=True,
                         text=True, timeout=60)
    said = (run.stdout + run.stderr).strip().splitlines()
    check(run.returncode == 0, "docs/quote.py --check exit %d: %s" % (
        run.returncode, "; ".join(said[:3]) or "no output"))


def quote_drift():
    """docs/quote.py can fail: a block that differs from its source is
    reported and exits 1, --write repairs it, and a marker that is not in
    the source is reported too."""
    good = "<!-- quote: backends/epoll.c wait -->\n```c\n%s\n```\n"
    with tempfile.TemporaryDirectory() as tmp:
        doc = os.path.join(tmp, "drift.md")
        with open(doc, "w") as f:
            f.write("# drift\n\n" + good % "static int wait_ready(void) { return 0; }")

        def quote(mode):
            return subprocess.run([sys.executable, QUOTE, mode, doc], capture_output=True,
                                  text=True, timeout=60)
        run = quote("--check")
        check(run.returncode == 1 and "differs from the source" in run.stdout,
              "a stale quote: exit %d, %r" % (run.returncode, run.stdout.strip()))
        run = quote("--write")
        check(run.returncode == 0, "--write exit %d: %r" % (run.returncode, run.stdout.strip()))
        with open(doc) as f:
            check("epoll_wait(state.epfd" in f.read(), "--write did not put the source in")
        run = quote("--check")
        check(run.returncode == 0, "after --write, --check exit %d: %r" % (
            run.returncode, run.stdout.strip()))
        with open(doc, "w") as f:
            f.write("<!-- quote: backends/epoll.c no-such-marker -->\n```c\n```\n")
        run = quote("--check")
        check(run.returncode == 1 and "no marker" in run.stdout,
              "a missing marker: exit %d, %r" % (run.returncode, run.stdout.strip()))


# reactors.c says its loop is epoll.c's, line for line: these functions
# must stay equal but for the words that make its state per thread.
SAME_LOOP = ("events_for", "watch", "rewatch", "unwatch", "wait_ready", "state_init")


def c_function(text, name):
    """The definition of static function name in C source text, from its
    line to its closing brace at the start of a line."""
    m = re.search(r"^static [^\n(]*\b%s\(.*?^}" % re.escape(name), text, re.M | re.S)
    return m.group(0) if m else None


def reactors_loop():
    """reactors.c's epoll parts are epoll.c's, line for line: its state is
    _Thread_local and its comments may say "this loop's", nothing else."""
    def source(name):
        with open(os.path.join(ROOT, "backends", name + ".c")) as f:
            return f.read()
    epoll, reactors = source("epoll"), source("reactors")
    for name in SAME_LOOP:
        a, b = c_function(epoll, name), c_function(reactors, name)
        check(a and b, "no %s() in %s" % (name, "epoll.c" if not a else "reactors.c"))
        strip = lambda code: re.sub(r"/\*.*?\*/", "", code, flags=re.S).split()
        check(strip(a) == strip(b), "reactors.c's %s() is no longer epoll.c's: keep them "
              "equal (the side-by-side page says 'line for line')" % name)


CASES = [("well-formed", well_formed), ("offline", offline), ("up-to-date", up_to_date),
         ("quotes", quotes), ("quote-drift", quote_drift), ("reactors-loop", reactors_loop)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", choices=[name for name, _ in CASES],
                    help="run only this case (repeatable)")
    args = ap.parse_args()
    sys.exit(1 if suite.run(CASES, "docs", args.case) else 0)


if __name__ == "__main__":
    main()
