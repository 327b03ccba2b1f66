"""The audit report (``audit.py``) as one self-contained HTML page.

No network resource of any kind: styles are inline, there are no scripts, fonts or
images. Readable in a browser, printable (each issue avoids page breaks inside; links
print as text), and usable without colour (severities are written out, not only coloured).
Prose from the rule docs is Markdown, rendered with markdown-it-py (a dependency of rich),
with raw HTML disabled so nothing in a message or a doc reaches the page unescaped.
"""

from __future__ import annotations

from collections.abc import Iterator
from html import escape

from sightlint import __version__
from sightlint.models import FixSafety, Severity
from sightlint.reporting._common import one_line
from sightlint.reporting.audit import PRIORITIES, SEVERITY_TITLES, Group, Report, first_paragraph, where

_CSS = """
:root { --critical: #b00020; --high: #d9480f; --medium: #b8860b; --low: #5c6b73; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d232a;
       max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.9rem; margin-bottom: .2rem; }
h2 { border-bottom: 2px solid #d6dbe0; padding-bottom: .2rem; margin-top: 2.4rem; }
h2.sev-critical { border-color: var(--critical); } h2.sev-high { border-color: var(--high); }
h2.sev-medium { border-color: var(--medium); } h2.sev-low { border-color: var(--low); }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .88em; }
code { background: #f1f3f5; padding: 0 .25em; border-radius: 3px; overflow-wrap: anywhere; }
pre { background: #f8f9fa; border: 1px solid #e1e5e9; padding: .6rem .8rem; overflow-x: auto;
      white-space: pre-wrap; word-break: break-all; }
pre code { background: none; padding: 0; }
.badge { display: inline-block; font-weight: 700; font-size: .78rem; color: #fff; padding: .05rem .45rem;
         border-radius: 3px; letter-spacing: .03em; vertical-align: middle; }
.badge.critical { background: var(--critical); } .badge.high { background: var(--high); }
.badge.medium { background: var(--medium); } .badge.low { background: var(--low); }
.issue { border: 1px solid #e1e5e9; border-left: 5px solid var(--low); border-radius: 4px;
         padding: .4rem 1rem .8rem; margin: 1rem 0; break-inside: avoid-page; }
.issue.critical { border-left-color: var(--critical); } .issue.high { border-left-color: var(--high); }
.issue.medium { border-left-color: var(--medium); }
.issue h3 { margin: .5rem 0; font-size: 1.15rem; }
.meta { color: #4a545e; font-size: .9rem; }
.label { font-weight: 700; }
ul.where { padding-left: 1.2rem; } ul.where li { margin: .25rem 0; }
ul.chain { list-style: "\\2192  "; color: #4a545e; font-size: .92rem; }
.diff .add { color: #116329; background: #e6ffec; display: block; }
.diff .del { color: #82071e; background: #ffebe9; display: block; }
.diff .hunk { color: #0550ae; display: block; }
.diff .head { font-weight: 700; display: block; }
table.summary { border-collapse: collapse; margin: .6rem 0; }
table.summary th, table.summary td { text-align: left; padding: .2rem .8rem .2rem 0; }
.assessment { font-weight: 700; }
footer { margin-top: 3rem; color: #6b757f; font-size: .85rem; }
@media print {
  body { margin: 0; max-width: none; font-size: 11pt; }
  a { color: inherit; text-decoration: none; }
  h2 { break-after: avoid-page; }
  pre { white-space: pre-wrap; }
}
"""


def _md(text: str) -> str:
    from markdown_it import MarkdownIt

    return str(MarkdownIt("commonmark", {"html": False}).render(text))


def _inline(text: str) -> str:
    """A message or a title: its `code` spans as code, everything else escaped."""
    from markdown_it import MarkdownIt

    return str(MarkdownIt("commonmark", {"html": False}).renderInline(one_line(text)))


def render(report: Report) -> str:
    return "".join(_page(report))


def _page(r: Report) -> Iterator[str]:
    yield "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    yield "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    yield f"<title>Quality Assessment Report: {escape(r.scope)}</title>\n"
    yield f"<style>{_CSS}</style>\n</head>\n<body>\n"
    yield "<h1>Quality Assessment Report</h1>\n"
    yield (
        f"<p class=\"meta\">Scope: <code>{escape(r.scope)}</code>, checked by sightlint {escape(__version__)} "
        "(static analysis; nothing was imported or run).</p>\n"
    )
    yield "<h2 id=\"summary\">Summary</h2>\n<table class=\"summary\">\n"
    files = str(r.files)
    if r.not_parsed:
        files += f" ({r.not_parsed} could not be parsed: nothing in them was analysed and call chains through them are missing)"
    if r.excluded:
        files += f" ({r.excluded} folder(s)/file(s) left out by exclude patterns)"
    yield f"<tr><th>Files analysed</th><td>{escape(files)}</td></tr>\n"
    badges = " ".join(
        f"<span class=\"badge {s.label}\">{n} {s.name}</span>" for s, n in r.by_severity.items() if n
    )
    yield f"<tr><th>Findings</th><td>{r.findings} {badges}</td></tr>\n"
    if r.safe_fixes or r.unsafe_fixes:
        yield (
            f"<tr><th>Automatic fixes</th><td>{r.safe_fixes} safe (<code>sightlint fix</code>), "
            f"{r.unsafe_fixes} more with <code>--unsafe-fixes</code></td></tr>\n"
        )
    yield f"<tr><th>Overall assessment</th><td class=\"assessment\">{escape(r.assessment)}</td></tr>\n</table>\n"
    if r.errors:
        yield "<p><strong>The run met errors; the report may be incomplete:</strong></p>\n<ul>\n"
        for error in r.errors:
            yield f"<li>{escape(one_line(error))}</li>\n"
        yield "</ul>\n"
    if r.groups:
        yield "<p><strong>Main problems:</strong></p>\n<ol>\n"
        for g in r.groups[:8]:
            yield (
                f"<li><a href=\"#{g.anchor}\"><span class=\"badge {g.severity.label}\">{g.severity.name}</span> "
                f"{_inline(g.summary)}</a> ({escape(g.code)} {escape(g.name)}: {len(g.findings)} place"
                f"{'s' if len(g.findings) != 1 else ''})</li>\n"
            )
        yield "</ol>\n"
    if r.unparsed:
        yield (
            "<h2 id=\"not-analysed\">Not analysed</h2>\n<p>These files could not be read or parsed (SL000), so "
            "nothing in them was checked and call chains through them are missing. A syntax error here is a bug; "
            "newer syntax than the running Python means sightlint should run on the project's Python version.</p>\n<ul>\n"
        )
        for f in r.unparsed:
            yield f"<li><code>{escape(where(f))}</code>: {_inline(f.message)}</li>\n"
        yield "</ul>\n"
    for severity in sorted(Severity, reverse=True):
        groups = [g for g in r.groups if g.severity is severity]
        yield (
            f"<section class=\"severity\" id=\"{severity.label}\">\n"
            f"<h2 class=\"sev-{severity.label}\">{escape(SEVERITY_TITLES[severity])}</h2>\n"
        )
        if not groups:
            yield "<p>None.</p>\n"
        for g in groups:
            yield from _group(g)
        yield "</section>\n"
    yield "<h2 id=\"recommendations\">Recommendations (prioritised)</h2>\n"
    if not r.groups:
        yield "<p>Nothing to fix. Keep <code>sightlint check</code> in CI so it stays that way.</p>\n"
    for severity in sorted(Severity, reverse=True):
        groups = [g for g in r.groups if g.severity is severity]
        if not groups:
            continue
        yield f"<h3>{escape(PRIORITIES[severity])}</h3>\n<ol>\n"
        for g in groups:
            places = ", ".join(f"<code>{escape(where(f))}</code>" for f in g.findings[:4])
            if len(g.findings) > 4:
                places += f" and {len(g.findings) - 4} more"
            how = _md(first_paragraph(g.solution) or g.summary).strip().removeprefix("<p>").removesuffix("</p>")
            yield (
                f"<li><strong>{_inline(g.summary)}</strong> ({escape(g.code)}, "
                f"<a href=\"#{g.anchor}\">issue {g.number}</a>) at {places}. {how}</li>\n"
            )
        yield "</ol>\n"
    yield (
        "<footer>Generated by <code>sightlint check --format html</code>. Severities: CRITICAL and HIGH fail "
        "the default CI gate, as does MEDIUM; LOW is reported only.</footer>\n</body>\n</html>\n"
    )


def _group(g: Group) -> Iterator[str]:
    audit = f" <span class=\"meta\">(audit {escape(g.audit)})</span>" if g.audit else ""
    yield f"<article class=\"issue {g.severity.label}\" id=\"{g.anchor}\">\n"
    yield (
        f"<h3>{g.number}. <span class=\"badge {g.severity.label}\">{g.severity.name}</span> "
        f"{_inline(g.summary)}{audit}</h3>\n"
    )
    yield f"<p class=\"meta\">Rule {escape(g.code)} <code>{escape(g.name)}</code></p>\n"
    yield "<p class=\"label\">Where</p>\n<ul class=\"where\">\n"
    for f in g.findings:
        yield f"<li><code>{escape(where(f))}</code>: {_inline(f.message)}"
        if f.related:
            yield "\n<ul class=\"chain\">\n"
            for rel in f.related:
                yield f"<li><code>{escape(one_line(rel.path))}:{rel.line}</code> {_inline(rel.message)}</li>\n"
            yield "</ul>\n"
        yield "</li>\n"
    yield "</ul>\n"
    for label, body in (("Problem", g.problem), ("Impact in production", g.impact), ("Solution", g.solution)):
        if body:
            yield f"<p class=\"label\">{label}</p>\n{_md(body)}"
    for d in g.diffs:
        command = "sightlint fix --unsafe-fixes" if d.unsafe else "sightlint fix"
        yield f"<p class=\"label\">Fix (<code>{command}</code>) in <code>{escape(d.path)}</code></p>\n"
        yield "<pre class=\"diff\"><code>"
        for line in d.lines:
            text = escape(line.rstrip("\n"))
            kind = "head" if line.startswith(("+++", "---")) else "hunk" if line.startswith("@@") else (
                "add" if line.startswith("+") else "del" if line.startswith("-") else ""
            )
            yield f"<span class=\"{kind}\">{text}</span>" if kind else f"{text}\n"
        if d.truncated:
            yield f"... ({d.truncated} more lines)\n"
        yield "</code></pre>\n"
    if g.more_fixable_files:
        yield f"<p class=\"meta\">The same fix applies in {g.more_fixable_files} more file(s); <code>sightlint fix</code> makes all of them.</p>\n"
    if any(f.fixable for f in g.findings) and not g.diffs:
        safe = any(f.fix_safety is FixSafety.SAFE for f in g.findings)
        yield f"<p class=\"meta\">A fix is available: <code>sightlint fix{'' if safe else ' --unsafe-fixes'}</code>.</p>\n"
    yield "</article>\n"
