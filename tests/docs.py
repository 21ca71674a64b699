#!/usr/bin/env python3
"""docs.py - checks of what docs/ generates or quotes, so that it never goes
stale: docs/side-by-side.html is well-formed, offline and what `make docs`
writes now; every code block quoted by a LAB marker (docs/quote.py) is the
source as it is.

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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGE = os.path.join(ROOT, "docs", "side-by-side.html")
QUOTE = os.path.join(ROOT, "docs", "quote.py")
GENERATOR = os.path.join(ROOT, "docs", "side_by_side.py")
# The pairs the page must show (section ids), at the least.
PAIRS = ["spin-select", "select-poll", "poll-epoll", "epoll-epoll-et", "epoll-reactors",
         "epoll-uring", "uring-uring-multishot", "threads-fork", "threads-pool",
         "fork-prefork", "blocking-threads"]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr"}


class Failed(Exception):
    pass


def check(ok, why):
    if not ok:
        raise Failed(why)


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
    missing = [p for p in PAIRS if p not in page.ids]
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
        raise Failed("docs/side-by-side.html is stale (first difference at line %d): "
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


CASES = [("well-formed", well_formed), ("offline", offline), ("up-to-date", up_to_date),
         ("quotes", quotes), ("quote-drift", quote_drift)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", action="append", choices=[name for name, _ in CASES],
                    help="run only this case (repeatable)")
    args = ap.parse_args()
    failed = False
    for name, case in CASES:
        if args.case and name not in args.case:
            continue
        try:
            case()
            print("docs/%s: ok" % name, flush=True)
        except Failed as e:
            print("docs/%s: FAILED (%s)" % (name, e), flush=True)
            failed = True
        except Exception as e:  # a bug in a case is a failure, not a crash
            print("docs/%s: FAILED (%s: %s)" % (name, type(e).__name__, e), flush=True)
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
