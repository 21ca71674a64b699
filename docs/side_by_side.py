#!/usr/bin/env python3
"""side_by_side.py - docs/side-by-side.html: pairs of backends, whole, line
against line, with the lines that differ marked and a note on the one idea
each pair is about.  `make docs` runs it; tests/docs.py checks that the
committed page is what it writes.

    docs/side_by_side.py [--out FILE]      (default: docs/side-by-side.html)

The page is static and offline: inline CSS, no script, no remote font, no
link outside itself.  The C highlighter below knows comments, strings,
character constants, preprocessor directives, keywords, type names and
numbers, which is all a reader needs to tell code from prose.  The pairs
are the backends' own: each says what to read it beside and its one idea
(`bin/echo-NAME --describe`), and its file's header comment has the note
("Beside LEFT.c (IDEA): ...").  The output depends on nothing but
backends/ (built), so two runs give the same bytes.  Python 3 standard
library only.
"""

import argparse
import difflib
import html
import itertools
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "docs", "side-by-side.html")

sys.path.insert(0, os.path.join(ROOT, "bench"))
import muxbench  # noqa: E402

# A backend file's header comment carries the note of its pair: the
# paragraph "Beside LEFT.c (IDEA): NOTE", LEFT and IDEA being its
# --describe's beside and idea.
BESIDE = re.compile(r"^Beside (\S+)\.c \(([^)]*)\): (.*)$", re.S)


def header_note(backend):
    """(left, idea, note as HTML) from the "Beside" paragraph of the header
    comment of backends/BACKEND.c, or None."""
    with open(os.path.join(ROOT, "backends", backend + ".c")) as f:
        text = f.read()
    comment = text[text.index("/*") + 2:text.index("*/")]
    lines = [re.sub(r"^\s*\* ?", "", line) for line in comment.splitlines()]
    for para in " ".join(l if l else "\n" for l in lines).split("\n"):
        m = BESIDE.match(para.strip())
        if m:
            note = html.escape(" ".join(m.group(3).split()))
            return m.group(1), m.group(2), re.sub(r"`([^`]*)`", r"<code>\1</code>", note)
    return None


def pairs():
    """(left, right, idea, note) for every backend that says what to read
    it beside, in the teaching order of the right one."""
    out = []
    for right in muxbench.BACKENDS:
        facts = muxbench.describe(right)
        if not facts.get("beside"):
            continue
        found = header_note(right)
        if not found or found[0] != facts["beside"] or found[1] != facts["idea"]:
            raise SystemExit("side_by_side: backends/%s.c: its header comment needs a "
                             "paragraph 'Beside %s.c (%s): ...'" % (
                                 right, facts["beside"], facts["idea"]))
        out.append((facts["beside"], right, facts["idea"], found[2]))
    return out


MARK = re.compile(r"^\s*/\* LAB: \S+ \*/$")
LIKE = 0.6                # lines at least this alike face each other in a diff
ALIGN_MAX_CELLS = 200000  # larger regions are simply zipped

KEYWORDS = set("""auto break case char const continue default do double else enum
extern float for goto if inline int long register restrict return short signed
sizeof static struct switch typedef union unsigned void volatile while _Alignas
_Alignof _Atomic _Bool _Noreturn _Static_assert _Thread_local bool true false
NULL""".split())

TOKEN = re.compile(r"""
    (?P<comment>/\*.*?\*/|//[^\n]*)
  | (?P<pp>^[ \t]*\#[ \t]*\w+(?:[ \t]*<[^>\n]*>)?)
  | (?P<string>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
  | (?P<number>\b(?:0[xX][0-9a-fA-F]+|\d+(?:\.\d+)?)[uUlL]*\b)
  | (?P<word>\b[A-Za-z_]\w*\b)
  | (?P<other>\s+|.)
""", re.X | re.S | re.M)

CSS = """
:root { --text: #1b1b1b; --muted: #5f6368; --rule: #d0d7de; --old: #fbe3e4;
  --new: #e2f4e4; --oldmark: #b3261e; --newmark: #146c2e; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--text); background: #fff;
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
header, nav, section { padding: 0 10px; }
header { max-width: 62em; }
h1 { font-size: 1.45em; margin: 14px 0 6px; }
h2 { font-size: 1.15em; margin: 26px 0 6px; }
p { margin: 6px 0; max-width: 62em; }
code { font: 0.92em ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; }
a { color: #0b57d0; }
nav ol { margin: 4px 0 10px; padding-left: 1.6em; columns: 2; column-gap: 2.5em; max-width: 80em; }
nav li { break-inside: avoid; margin: 2px 0; }
.idea { color: var(--muted); }
.legend span { padding: 0 6px; border-radius: 3px; white-space: nowrap; }
.legend .old { background: var(--old); }
.legend .new { background: var(--new); }
.jump { font-size: 0.9em; color: var(--muted); }
.jump a { margin-right: 0.35em; }
table.diff { width: 100%; border-collapse: collapse; table-layout: fixed;
  font: 12px/1.4 ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace;
  margin: 8px 0 4px; border: 1px solid var(--rule); }
col.n { width: 2.9em; }
col.g { width: 1.1em; }
thead th { position: sticky; top: 0; z-index: 1; background: #f3f5f7;
  border-bottom: 1px solid var(--rule); text-align: left; padding: 4px 8px;
  font: 600 13px system-ui, "DejaVu Sans", sans-serif; }
td { vertical-align: top; padding: 0 4px; }
td.n { text-align: right; color: var(--muted); user-select: none; padding-right: 4px; }
td.s { white-space: pre-wrap; overflow-wrap: anywhere; tab-size: 8; -moz-tab-size: 8;
  padding-left: calc(4px + 8ch); text-indent: -8ch; }
td.s + td.n { border-left: 1px solid var(--rule); }
tr.d td.old { background: var(--old); }
tr.d td.new { background: var(--new); }
tr.d td.n.old { color: var(--oldmark); font-weight: 600; }
tr.d td.n.new { color: var(--newmark); font-weight: 600; }
td.g { padding: 0; text-align: center; user-select: none; font-weight: 700; }
td.g.old { color: var(--oldmark); }
td.g.new { color: var(--newmark); }
tr.d td.gap { background: #f6f8fa; }
.k { color: #7b1fa2; font-weight: 600; }
.t { color: #005a8c; }
.c { color: #5b6770; font-style: italic; }
.s { color: #0a6b2e; }
.p { color: #9a4a00; }
.m { color: #a0201a; }
mark { background: none; border-radius: 2px; }
td.old mark { background: #f4b4b8; }
td.new mark { background: #a8dcb0; }
.top { font-size: 0.9em; margin: 2px 0 18px; }
"""

CLASS = {"comment": "c", "pp": "p", "string": "s", "number": "m"}


def read_source(name):
    """(line numbers, lines) of backends/<name>.c without the LAB marker
    lines, which are there for docs/quote.py and say nothing about the model;
    the numbers are the file's own."""
    with open(os.path.join(ROOT, "backends", name + ".c")) as f:
        lines = f.read().rstrip("\n").split("\n")
    kept = [(i + 1, line) for i, line in enumerate(lines) if not MARK.match(line)]
    return [n for n, _ in kept], [line for _, line in kept]


def highlight(lines):
    """The lines as lists of (class, text) tokens, class None for plain
    text.  Tokens never cross a line end: a comment over three lines
    becomes three tokens."""
    out = [[]]
    for m in TOKEN.finditer("\n".join(lines)):
        kind = m.lastgroup
        text = m.group()
        if kind == "word":
            cls = "k" if text in KEYWORDS else "t" if text.endswith("_t") else None
        else:
            cls = CLASS.get(kind)
        for k, piece in enumerate(text.split("\n")):
            if k:
                out.append([])
            if piece:
                out[-1].append((cls, piece))
    return out


def render(tokens, marked=()):
    """One line's tokens as HTML; the character ranges in marked (what
    differs from the paired line) inside <mark>."""
    html_out, pos = [], 0
    for cls, text in tokens:
        cuts = sorted({0, len(text)} | {
            min(max(edge - pos, 0), len(text)) for a, b in marked for edge in (a, b)})
        pieces = []
        for a, b in zip(cuts, cuts[1:]):
            piece = html.escape(text[a:b], quote=False)
            if any(x <= pos + a and pos + b <= y for x, y in marked):
                piece = "<mark>%s</mark>" % piece
            pieces.append(piece)
        piece = "".join(pieces)
        html_out.append('<span class="%s">%s</span>' % (cls, piece) if cls else piece)
        pos += len(text)
    return "".join(html_out)


WORD = re.compile(r"\w+|\s+|[^\w\s]")


def intraline(old, new):
    """The character ranges that differ between two paired lines, compared
    word by word, when they are alike enough for that to help (else none:
    the whole line is new, and marking all of it says nothing)."""
    ow, nw = WORD.findall(old), WORD.findall(new)
    sm = difflib.SequenceMatcher(None, ow, nw, autojunk=False)
    if sm.ratio() < 0.6:
        return [], []

    def spans(words, i1, i2):
        start = sum(len(w) for w in words[:i1])
        return start, start + sum(len(w) for w in words[i1:i2])
    left, right = [], []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag != "equal":
            if i2 > i1:
                left.append(spans(ow, i1, i2))
            if j2 > j1:
                right.append(spans(nw, j1, j2))
    return left, right


def rows(a, b):
    """(kind, i, j) per table row, i and j indexes into a and b or None:
    kind "=" for a line in both, "!" for a row that differs; and the row
    index where each differing region starts."""
    sm = difflib.SequenceMatcher(None, [x.rstrip() for x in a], [x.rstrip() for x in b],
                                 autojunk=False)
    out, starts = [], []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            out += [("=", i, j) for i, j in zip(range(i1, i2), range(j1, j2))]
            continue
        starts.append(len(out))
        out += [("!", i, j) for i, j in align(a, b, i1, i2, j1, j2)]
    return out, starts


def similar(x, y):
    """How alike two lines are, 0 to 1; below LIKE counts as not alike."""
    sm = difflib.SequenceMatcher(None, x.strip(), y.strip(), autojunk=False)
    if sm.real_quick_ratio() < LIKE or sm.quick_ratio() < LIKE:
        return 0.0
    ratio = sm.ratio()
    return ratio if ratio >= LIKE else 0.0


def align(a, b, i1, i2, j1, j2):
    """The rows of a region that differs, a[i1:i2] against b[j1:j2]: lines
    that are alike face each other (so that a line changed by one word sits
    beside its new version, not beside whatever line happens to come first),
    found as the pairing in order with the most likeness; the lines between
    two such pairs are zipped, a gap on the shorter side."""
    n, m = i2 - i1, j2 - j1
    if n == 0 or m == 0 or n * m > ALIGN_MAX_CELLS:
        return list(itertools.zip_longest(range(i1, i2) if n else [], range(j1, j2) if m else []))
    sim = [[similar(a[i1 + i], b[j1 + j]) for j in range(m)] for i in range(n)]
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for i in range(n):
        for j in range(m):
            pair = best[i][j] + sim[i][j] if sim[i][j] else -1.0
            best[i + 1][j + 1] = max(best[i][j + 1], best[i + 1][j], pair)
    anchors, i, j = [], n, m
    while i > 0 and j > 0:
        if sim[i - 1][j - 1] and best[i][j] == best[i - 1][j - 1] + sim[i - 1][j - 1]:
            anchors.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif best[i][j] == best[i - 1][j]:
            i -= 1
        else:
            j -= 1
    out, pi, pj = [], 0, 0
    for ai, aj in list(reversed(anchors)) + [(n, m)]:
        out += itertools.zip_longest(range(i1 + pi, i1 + ai), range(j1 + pj, j1 + aj))
        if (ai, aj) != (n, m):
            out.append((i1 + ai, j1 + aj))
        pi, pj = ai + 1, aj + 1
    return out


def cells(side, number, code, differs):
    """The three cells of one side of a row: line number, a sign for a
    line that differs (so that colour is not the only clue), code."""
    if number is None:
        return '<td class="n gap"></td><td class="g gap"></td><td class="s gap"></td>'
    if not differs:
        return '<td class="n">%d</td><td class="g"></td><td class="s">%s</td>' % (number, code)
    sign = "&#8722;" if side == "old" else "+"
    return '<td class="n %s">%d</td><td class="g %s">%s</td><td class="s %s">%s</td>' % (
        side, number, side, sign, side, code)


def section(left, right, idea, note, following=None):
    anchor = "%s-%s" % (left, right)
    ln, la = read_source(left)
    rn, ra = read_source(right)
    lt, rt = highlight(la), highlight(ra)
    table, starts = rows(la, ra)
    changed = sum(1 for kind, _, _ in table if kind == "!")
    body = []
    for r, (kind, i, j) in enumerate(table):
        differs = kind == "!"
        lmarks, rmarks = intraline(la[i], ra[j]) if differs and None not in (i, j) else ([], [])
        rid = ' id="%s-%d"' % (anchor, starts.index(r) + 1) if r in starts else ""
        body.append('<tr%s%s>%s%s</tr>' % (
            rid, ' class="d"' if differs else "",
            cells("old", None if i is None else ln[i], i is not None and render(lt[i], lmarks), differs),
            cells("new", None if j is None else rn[j], j is not None and render(rt[j], rmarks), differs)))
    jumps = " ".join('<a href="#%s-%d">%d</a>' % (anchor, k, k)
                     for k in range(1, len(starts) + 1))
    return "\n".join([
        '<section id="%s">' % anchor,
        "<h2>%s &#8594; %s: %s</h2>" % (left, right, idea),
        "<p>%s</p>" % note,
        '<p class="jump">%d of %d rows differ, in %d places: %s</p>' % (
            changed, len(table), len(starts), jumps),
        '<table class="diff"><colgroup><col class="n"><col class="g"><col><col class="n">'
        '<col class="g"><col></colgroup>',
        "<thead><tr><th colspan=\"3\">backends/%s.c</th><th colspan=\"3\">backends/%s.c</th>"
        "</tr></thead>" % (left, right),
        "<tbody>",
    ] + body + [
        "</tbody></table>",
        '<p class="top"><a href="#contents">back to the contents</a>%s</p>' % (
            " &#183; next: <a href=\"#%s-%s\">%s &#8594; %s</a>" % (
                following[0], following[1], following[0], following[1]) if following else ""),
        "</section>",
    ])


def page():
    shown = pairs()
    contents = "\n".join(
        '<li><a href="#%s-%s">%s &#8594; %s</a>: <span class="idea">%s</span></li>' % (
            left, right, left, right, idea) for left, right, idea, _ in shown)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>muxlab: the backends side by side</title>",
        "<style>%s</style>" % CSS,
        "</head>",
        "<body>",
        "<header>",
        "<h1>muxlab: the backends side by side</h1>",
        "<p>Each section below is two backend files, whole, line against line. "
        "Rows on a tinted background differ: <span class=\"legend\"><span class=\"old\">"
        "&#8722; the left file</span> <span class=\"new\">+ the right file</span></span>; "
        "every other row is the same in both. The note above each pair says what the one "
        "idea is and where to look. The column headings stay on screen while you scroll "
        "a pair.</p>",
        "<p>Line numbers are the files' own. The <code>/* LAB: name */</code> comment "
        "lines that docs quote code by are left out. The core every backend is linked "
        "with is described in <code>docs/architecture.md</code>; what each model costs, "
        "in <code>docs/backends.md</code>. This page is generated by "
        "<code>docs/side_by_side.py</code> (<code>make docs</code>); do not edit it by "
        "hand.</p>",
        "</header>",
        '<nav id="contents">',
        "<h2>Contents</h2>",
        "<ol>",
        contents,
        "</ol>",
        "</nav>",
        "<main>",
    ]
    parts += [section(*pair, following=nxt) for pair, nxt in
              zip(shown, shown[1:] + [None])]
    parts += ["</main>", "</body>", "</html>", ""]
    return "\n".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=OUT, help="where to write the page (default: %(default)s)")
    args = ap.parse_args()
    with open(args.out, "w") as f:
        f.write(page())


if __name__ == "__main__":
    main()
