#!/usr/bin/env python3
"""quote.py - keep the code quoted in docs/*.md the same as the source.

A quote in a doc is an HTML comment naming a file and a marker, then a
fenced code block:

    <!-- quote: backends/epoll.c wait -->
    ```c
    ...
    ```

and the source marks the snippet with comment lines of their own:

    /* LAB: wait */
    ...
    /* LAB: end */

The block must be exactly the lines between the two markers (without
them), less the indentation of the opening marker.

    docs/quote.py --check    list every block that differs from its source;
                             exit 1 if any does (tests/docs.py runs this)
    docs/quote.py --write    rewrite those blocks from the source

Python 3 standard library only.
"""

import argparse
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUOTE = re.compile(r"^<!-- quote: (\S+) (\S+) -->$")
MARK = re.compile(r"^(\s*)/\* LAB: (\S+) \*/$")
FENCE = re.compile(r"^```")


class QuoteError(Exception):
    pass


def snippet(path, name):
    """The lines between /* LAB: name */ and the next /* LAB: end */."""
    full = os.path.join(ROOT, path)
    if not os.path.isfile(full):
        raise QuoteError("%s: no such file" % path)
    lines = open(full).read().split("\n")
    starts = [i for i, line in enumerate(lines)
              if MARK.match(line) and MARK.match(line).group(2) == name]
    if not starts:
        raise QuoteError("%s has no marker /* LAB: %s */" % (path, name))
    if len(starts) > 1:
        raise QuoteError("%s has /* LAB: %s */ %d times" % (path, name, len(starts)))
    start = starts[0]
    indent = MARK.match(lines[start]).group(1)
    for end in range(start + 1, len(lines)):
        m = MARK.match(lines[end])
        if m and m.group(2) == "end":
            break
        if m:
            raise QuoteError("%s: /* LAB: %s */ inside %s" % (path, m.group(2), name))
    else:
        raise QuoteError("%s: /* LAB: %s */ has no /* LAB: end */" % (path, name))
    body = lines[start + 1:end]
    return [line[len(indent):] if line.startswith(indent) else line for line in body]


def blocks(lines):
    """(comment line index, fence open index, fence close index, path, name)
    for every quote in a doc's lines."""
    found = []
    for i, line in enumerate(lines):
        m = QUOTE.match(line.strip())
        if not m:
            continue
        if i + 1 >= len(lines) or not FENCE.match(lines[i + 1]):
            raise QuoteError("line %d: a quote comment must be followed at once "
                             "by a ``` block" % (i + 1))
        close = next((k for k in range(i + 2, len(lines)) if lines[k].startswith("```")), None)
        if close is None:
            raise QuoteError("line %d: the ``` block is never closed" % (i + 2))
        found.append((i, i + 1, close, m.group(1), m.group(2)))
    return found


def process(doc, write):
    """Problems found in one doc (a list of strings); with write, fix the
    blocks that are stale and rewrite the doc."""
    rel = os.path.relpath(doc, ROOT)
    lines = open(doc).read().split("\n")
    problems = []
    try:
        found = blocks(lines)
    except QuoteError as e:
        return ["%s: %s" % (rel, e)]
    # From the last block up, so that earlier line numbers stay valid.
    for comment, open_, close, path, name in reversed(found):
        try:
            want = snippet(path, name)
        except QuoteError as e:
            problems.append("%s:%d: %s" % (rel, comment + 1, e))
            continue
        have = lines[open_ + 1:close]
        if have != want:
            problems.append("%s:%d: the quote of %s %s differs from the source%s" % (
                rel, comment + 1, path, name, " (rewritten)" if write else ""))
            if write:
                lines[open_ + 1:close] = want
    if write and any(p.endswith("(rewritten)") for p in problems):
        with open(doc, "w") as f:
            f.write("\n".join(lines))
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true", help="report stale quotes, exit 1 if any")
    mode.add_argument("--write", action="store_true", help="refresh the quotes from the source")
    ap.add_argument("docs", nargs="*", help="the docs to look at (default: docs/*.md)")
    args = ap.parse_args()
    docs = args.docs or sorted(glob.glob(os.path.join(ROOT, "docs", "*.md")))
    problems = []
    for doc in docs:
        problems += process(doc, args.write)
    for p in problems:
        print(p)
    unfixable = [p for p in problems if not p.endswith("(rewritten)")]
    if args.check and problems or unfixable:
        sys.exit(1)


if __name__ == "__main__":
    main()
